"""atomic_write and atomic_dir: whole or nothing, the umask's modes, nothing replaced unless asked."""
import os
import stat

import numpy as np
import pytest

from tasks.common import atomic
from tasks.common.atomic import atomic_dir, atomic_write, rename_no_replace


def hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_write_writes_text_bytes_or_through_a_function(tmp_path):
    assert atomic_write(tmp_path / "a.txt", "Việt\n").read_text(encoding="utf-8") == "Việt\n"
    assert atomic_write(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    array = np.arange(6.0).reshape(2, 3)
    atomic_write(tmp_path / "c.npy", lambda path: np.save(path, array))  # np.save keeps a name ending in .npy
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), array)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.npy"]  # no temporary left


def test_atomic_write_replaces_only_when_asked(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("the user's\n")
    with pytest.raises(FileExistsError):
        atomic_write(path, "new\n")
    assert path.read_text() == "the user's\n" and hidden(tmp_path) == []
    atomic_write(path, "new\n", replace=True)
    assert path.read_text() == "new\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old\n")

    def half_then_fail(temporary):
        temporary.write_text("half")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        atomic_write(path, half_then_fail, replace=True)
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_and_folders_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / "a.txt", "x")
        folder = atomic_dir(tmp_path, "data")
        with folder as staging:
            (staging / "sub").mkdir()
            (staging / "sub" / "b.txt").write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    for directory in (folder.path, folder.path / "sub"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o777 & ~umask


def test_rename_no_replace_keeps_an_existing_file_or_empty_folder(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (tmp_path / "empty").mkdir()  # os.rename would silently replace an empty folder
    (tmp_path / "file").write_text("kept")
    for target in ("empty", "file"):
        with pytest.raises(FileExistsError):
            rename_no_replace(source, tmp_path / target)
    assert source.is_dir() and (tmp_path / "empty").is_dir() and (tmp_path / "file").read_text() == "kept"


def test_rename_no_replace_without_renameat2(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_RENAMEAT2", None)  # another OS, or a file system without it
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    with pytest.raises(FileExistsError):
        rename_no_replace(tmp_path / "a", tmp_path / "b")
    rename_no_replace(tmp_path / "a", tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "c"] and (tmp_path / "b").read_text() == "b"


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path):
    folder = atomic_dir(tmp_path, "data")
    with folder as staging:
        assert staging.parent == tmp_path and staging.name.startswith(atomic.STAGING_PREFIX)
        (staging / "a.txt").write_text("a")
        assert not (tmp_path / "data").exists()  # nothing under the name while it is written
    assert folder.path == tmp_path / "data" and (folder.path / "a.txt").read_text() == "a"
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path, "other") as staging:
            (staging / "a.txt").write_text("half")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_atomic_dir_never_replaces_a_folder_and_retries_a_chosen_name(tmp_path):
    (tmp_path / "1").mkdir()
    with pytest.raises(FileExistsError):
        with atomic_dir(tmp_path, "1") as staging:
            (staging / "x").write_text("x")
    assert list((tmp_path / "1").iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["1"]
    names = iter(["1", "2"])  # "1" is taken at the rename: the next name is asked for
    folder = atomic_dir(tmp_path, lambda: next(names))
    with folder as staging:
        (staging / "x").write_text("x")
    assert folder.path == tmp_path / "2" and (tmp_path / "2" / "x").read_text() == "x"


def test_the_temporary_file_being_written_is_recognised_as_that_path_s_own(tmp_path):
    target, seen = tmp_path / "config.yaml", []
    atomic_write(target, lambda temporary: (seen.append(temporary), temporary.write_text("a: 1\n")))
    assert atomic.is_temporary_of(seen[0], target) and seen[0] != target
    assert not atomic.is_temporary_of(tmp_path / "notes.yaml", target)
    assert not atomic.is_temporary_of(tmp_path / ".history.1-abcdef12.tmp.csv", target)  # another file's temporary
