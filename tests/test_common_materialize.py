"""The built-in data materializer: written once per settings, reused, never over files it did not write."""
import json
import signal
import subprocess
import sys

import pytest

from tasks.common.errors import DataError
from tasks.common.materialize import RECORD, materialize, settings_folder
from tests.conftest import REPO

SETTINGS = {"generator": "toy/1", "rows": 3, "seed": 0}


def write_rows(calls):
    def write(folder):
        calls.append(folder)
        (folder / "rows.csv").write_text("a\n1\n2\n3\n", encoding="utf-8")
        (folder / "class").mkdir()
        (folder / "class" / "clip.bin").write_bytes(b"\x00" * 10)
    return write


def test_written_once_then_reused_without_writing(tmp_path):
    calls = []
    folder = materialize(tmp_path, SETTINGS, write_rows(calls))
    assert folder == settings_folder(tmp_path, SETTINGS) and folder.parent == tmp_path
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [
        RECORD, "class", "class/clip.bin", "rows.csv"]
    record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    assert record == {"settings": SETTINGS, "files": {"class/clip.bin": 10, "rows.csv": 8}}
    stamp = (folder / "rows.csv").stat()
    assert materialize(tmp_path, dict(SETTINGS), write_rows(calls)) == folder
    again = (folder / "rows.csv").stat()
    assert len(calls) == 1 and (again.st_ino, again.st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # no staging left


def test_other_settings_get_another_folder(tmp_path):
    first = materialize(tmp_path, SETTINGS, write_rows([]))
    second = materialize(tmp_path, {**SETTINGS, "seed": 1}, write_rows([]))
    assert second != first and second.parent == first.parent
    assert json.loads((first / RECORD).read_text())["settings"]["seed"] == 0  # the first is untouched


def test_a_folder_it_did_not_write_is_left_alone(tmp_path):
    folder = settings_folder(tmp_path, SETTINGS)
    folder.mkdir()
    (folder / "rows.csv").write_text("mine\n")
    calls = []
    with pytest.raises(DataError) as error:
        materialize(tmp_path, SETTINGS, write_rows(calls))
    assert str(error.value) == (f"{folder}: exists without a readable {RECORD}, so the built-in generator did not "
                                "write it; it is left untouched: move it away, or set data.builtin_dir to another "
                                "folder")
    assert calls == [] and (folder / "rows.csv").read_text() == "mine\n" and not (folder / RECORD).exists()


def test_a_foreign_or_changed_file_in_a_written_folder_is_reported(tmp_path):
    folder = materialize(tmp_path, SETTINGS, write_rows([]))
    (folder / "class" / "extra.bin").write_bytes(b"mine")
    with pytest.raises(DataError, match=r"class/extra.bin: was not written by the built-in generator; it is left "
                                        r"untouched"):
        materialize(tmp_path, SETTINGS, write_rows([]))
    assert (folder / "class" / "extra.bin").read_bytes() == b"mine"
    (folder / "class" / "extra.bin").unlink()
    (folder / "rows.csv").write_text("a\n1\n")
    with pytest.raises(DataError, match=r"rows.csv: is missing or changed since the built-in generator wrote it; "
                                        r"delete .* to generate it again"):
        materialize(tmp_path, SETTINGS, write_rows([]))
    assert (folder / "rows.csv").read_text() == "a\n1\n"


def test_a_failing_generator_leaves_nothing(tmp_path):
    def fail(folder):
        (folder / "rows.csv").write_text("half")
        raise RuntimeError("generator bug")

    with pytest.raises(RuntimeError, match="generator bug"):
        materialize(tmp_path, SETTINGS, fail)
    assert list(tmp_path.iterdir()) == []


KILLED_WRITE = """
import sys, time
from tasks.common.materialize import materialize

def write(folder):
    (folder / "rows.csv").write_text("a\\n1\\n")
    print("writing", flush=True)
    time.sleep(120)  # killed here, half written

materialize(sys.argv[1], {"generator": "toy/1", "rows": 3, "seed": 0}, write)
"""


def test_a_killed_write_is_never_taken_for_complete(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", KILLED_WRITE, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"writing"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert not settings_folder(tmp_path, SETTINGS).exists()  # only a hidden staging folder
    assert [p.name.startswith(".staging-") for p in tmp_path.iterdir()] == [True]
    calls = []
    folder = materialize(tmp_path, SETTINGS, write_rows(calls))
    assert len(calls) == 1 and (folder / "rows.csv").read_text() == "a\n1\n2\n3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # the killed one's staging removed
