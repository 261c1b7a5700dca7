"""video_actions data: timestamp sampling, padding and masks, bad files, the cache, split lists, features, TFDS."""
import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tasks.common.errors import DataError
from tasks.video_actions import data as data_module
from tasks.video_actions.cache import ArrayCache
from tasks.video_actions.config import DataConfig
from tasks.video_actions.data import (list_videos, load_data, load_features, load_folder, sample_frame_indices,
                                      split_by_group)
from tasks.video_actions.data_builtin import ACTIONS, action_poses, backward_source, generate_builtin
from tasks.video_actions.video_io import frame_mask, pad_frames, sample_frames, write_video


def numbered_frames(count, height=48, width=64):
    """Frames whose brightness pattern encodes their index, robust to lossy coding."""
    frames = np.zeros((count, height, width, 3), np.uint8)
    for i in range(count):
        frames[i, :, :, 0] = 40 + (200 * i) // count  # red ramps with the index
        frames[i, :, : width // 2, 1] = 255 * (i % 2)  # green flips every frame
    return frames


def matched_indices(sampled, source):
    """For each sampled frame, the index of the closest source frame (both resized to the same size)."""
    source_means = source.reshape(len(source), -1, 3).mean(1)
    means = sampled.reshape(len(sampled), -1, 3).mean(1)
    return [int(np.argmin(np.abs(source_means - m).sum(1))) for m in means]


@pytest.fixture(scope="module")
def clip_10s_5fps(tmp_path_factory):
    path = tmp_path_factory.mktemp("videos") / "ten_seconds.mp4"
    frames = numbered_frames(50)
    write_video(path, frames, fps=5, options={"crf": "10"})
    return path, frames


def test_samples_one_frame_per_second_by_timestamp(clip_10s_5fps):
    path, source = clip_10s_5fps
    sampled = sample_frames(path, fps=1.0, num_frames=30, size=32)
    assert sampled.shape == (10, 32, 32, 3) and sampled.dtype == np.uint8  # a 10 s clip gives 10 frames at 1 FPS
    assert matched_indices(sampled, source) == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]


def test_samples_other_rates_and_stops_at_num_frames(clip_10s_5fps):
    path, source = clip_10s_5fps
    assert matched_indices(sample_frames(path, fps=2.0, num_frames=30, size=32), source) == \
        [math.floor(k * 2.5 + 1e-9) for k in range(20)]
    assert matched_indices(sample_frames(path, fps=1.0, num_frames=4, size=32), source) == [0, 5, 10, 15]


def test_variable_frame_rate_is_sampled_by_presentation_time(tmp_path):
    """Frames at irregular times (0, 0.1, 0.9, 1.0, 1.5, 2.6, 2.7 s): at 1 FPS, the frames on screen at 0, 1, 2 s."""
    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt, stream.time_base = "yuv420p", Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        for index, milliseconds in enumerate([0, 100, 900, 1000, 1500, 2600, 2700]):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 30 * index + 20, np.uint8), format="rgb24")
            frame.pts, frame.time_base = milliseconds, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    sampled = sample_frames(path, fps=1.0, num_frames=30, size=16)
    assert np.round((sampled[:, 8, 8, 0].astype(float) - 20) / 30).astype(int).tolist() == [0, 3, 4]


def test_avi_with_odd_size_is_resized_keeping_aspect_and_center_cropped(tmp_path):
    frames = np.zeros((25, 36, 50, 3), np.uint8)  # a wide 25 fps AVI; left and right thirds differ
    frames[:, :, :17] = 250
    path = tmp_path / "wide.avi"
    write_video(path, frames, fps=25, codec="mpeg4", options={"qscale": "2"})
    sampled = sample_frames(path, fps=1.0, num_frames=30, size=24)
    assert sampled.shape == (1, 24, 24, 3)  # 1 s of video
    # Short side 36 -> 24, width 50 -> 33; the crop drops 4 columns left, so the bright band is ~7 px wide.
    bright = (sampled[0, 12, :, 0] > 128).sum()
    assert 5 <= bright <= 9


def test_pad_frames_and_mask():
    clip = np.full((3, 4, 4, 3), 7, np.uint8)
    padded = pad_frames(clip, 5)
    assert padded.shape == (5, 4, 4, 3)
    assert frame_mask(padded).tolist() == [True, True, True, False, False]
    with pytest.raises(ValueError, match="more than num_frames"):
        pad_frames(clip, 2)


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage" * 100])
def test_corrupt_or_empty_file_names_the_file(tmp_path, content):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(DataError, match="broken.mp4: cannot open video: "):
        sample_frames(path)


def make_folder(root, per_class=2, seconds=3, fps=4, names=("jump", "wave")):
    for c, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            frames = numbered_frames(seconds * fps, 32, 32)
            frames[..., 2] = 60 * c + 20 * i
            write_video(root / name / f"v_{name}_g{i + 1:02d}_c01.mp4", frames, fps=fps)
    return root


def folder_config(tmp_path, **overrides):
    values = dict(source="folder", path=str(tmp_path / "videos"), num_frames=5, frame_size=16,
                  cache_dir=str(tmp_path / "cache"), val_fraction=0.0, test_fraction=0.5)
    values.update(overrides)
    return DataConfig(**values)


def test_folder_loads_pads_and_skips_bad_files_when_told(tmp_path):
    make_folder(tmp_path / "videos")
    (tmp_path / "videos" / "wave" / "corrupt.avi").write_bytes(b"not a video")
    with pytest.raises(DataError, match=r"corrupt.avi: cannot open video"):
        load_data(folder_config(tmp_path))
    data = load_data(folder_config(tmp_path, on_bad_row="skip"))
    assert data.skipped == {str(tmp_path / "videos" / "wave"): 1}
    assert data.class_names == ["jump", "wave"]
    assert len(data.train) + len(data.test) == 4
    assert data.train.inputs.shape[1:] == (5, 16, 16, 3)
    assert data.train.lengths.tolist() == [3] * len(data.train)  # 3 s at 1 FPS, padded to 5 and masked


def test_cache_skips_decoding_the_second_time_and_is_keyed_by_content(tmp_path, monkeypatch):
    make_folder(tmp_path / "videos")
    config = folder_config(tmp_path)
    first = load_data(config)
    assert first.decode["decoded_clips"] == 4 and first.decode["cache_hits"] == 0

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(data_module, "sample_frames", no_decoding)
    (tmp_path / "videos" / "jump").rename(tmp_path / "videos" / "hop")  # same bytes, new name: still cached
    second = load_data(config)
    assert second.decode["cache_hits"] == 4
    np.testing.assert_array_equal(np.sort(second.train.inputs, axis=None), np.sort(first.train.inputs, axis=None))
    with pytest.raises(AssertionError, match="decoded although cached"):  # new sampling settings, new key
        load_data(folder_config(tmp_path, fps=2.0))


def test_cache_key_depends_on_file_content(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"one")
    b.write_bytes(b"one")
    cache = ArrayCache(tmp_path / "cache")
    assert cache.key(a, fps=1) == cache.key(b, fps=1) != cache.key(a, fps=2)
    b.write_bytes(b"two")
    assert cache.key(a, fps=1) != cache.key(b, fps=1)


def test_split_lists_are_honoured_and_bad_lines_named(tmp_path):
    make_folder(tmp_path / "videos")
    lists = tmp_path / "videos"
    (lists / "trainlist01.txt").write_text("jump/v_jump_g01_c01.mp4 1\nwave/v_wave_g01_c01.mp4 2\n")
    (lists / "testlist01.txt").write_text("jump/v_jump_g02_c01.mp4\nwave/v_wave_g02_c01.mp4\n")
    data = load_folder(folder_config(tmp_path, train_list="trainlist01.txt", test_list="testlist01.txt"),
                       tmp_path / "videos")
    assert sorted(n.split("/")[-1] for n in data.test.names) == ["v_jump_g02_c01.mp4", "v_wave_g02_c01.mp4"]
    (lists / "testlist01.txt").write_text("jump/v_jump_g02_c01.mp4\nwave/missing.avi\n")
    with pytest.raises(DataError, match=r"testlist01.txt:2: listed video 'wave/missing.avi' not found"):
        load_folder(folder_config(tmp_path, test_list="testlist01.txt"), tmp_path / "videos")


def test_group_split_keeps_clips_of_one_source_video_together(tmp_path):
    items = [(tmp_path / f"v_run_g{g:02d}_c{c:02d}.avi", "run") for g in range(1, 6) for c in range(1, 5)]
    kept, held_out = split_by_group(items, 0.4, np.random.default_rng(0))
    assert len(held_out) == 8
    assert not {p.stem[:9] for p, _ in kept} & {p.stem[:9] for p, _ in held_out}


def test_group_split_puts_a_derived_clip_where_its_source_went(tmp_path):
    sources = [(tmp_path / "sit" / f"sit_{i}.mp4", "sit") for i in range(10)]
    derived = [(tmp_path / "stand" / f"stand_{i}.mp4", "stand") for i in range(10)]
    source_of = lambda path: tmp_path / "sit" / path.name.replace("stand", "sit") if path.parent.name == "stand" else None  # noqa: E731
    kept, held_out = split_by_group(sources + derived, 0.3, np.random.default_rng(0), source_of)
    assert len(held_out) == 6 and len(kept) == 14
    for part in (kept, held_out):
        assert {p.name for p, label in part if label == "sit"} == {p.name.replace("stand", "sit")
                                                                    for p, label in part if label == "stand"}


def test_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        list_videos(tmp_path / "nothing")
    (tmp_path / "empty" / "jump").mkdir(parents=True)
    with pytest.raises(DataError, match="no video files"):
        list_videos(tmp_path / "empty")


def test_features_npz_round_trip_with_lengths_and_split(tmp_path):
    path = tmp_path / "features.npz"
    features = np.random.default_rng(0).normal(size=(6, 4, 3)).astype(np.float32) + 5
    np.savez(path, features=features, labels=np.array(["a", "b", "a", "b", "a", "b"]), lengths=[4, 2, 4, 4, 1, 4],
             split=["train", "train", "val", "test", "train", "test"])
    data = load_features(DataConfig(source="features", path=str(path)))
    assert data.kind == "features" and data.class_names == ["a", "b"]
    assert (len(data.train), len(data.val), len(data.test)) == (3, 1, 2)
    assert data.train.lengths.tolist() == [4, 2, 1]  # steps past `lengths` are zeroed, i.e. masked


@pytest.mark.parametrize("arrays, message", [
    (dict(features=np.zeros((2, 3, 4))), r"missing array 'labels'"),
    (dict(features=np.zeros((2, 3)), labels=[0, 1]), r"must be numbers of shape \(clips, frames, features\)"),
    (dict(features=np.stack([np.ones((3, 4)), np.full((3, 4), np.nan)]), labels=[0, 1]), r"features.npz:1: clip has NaN"),
    (dict(features=np.ones((2, 3, 4)), labels=[0, 5], class_names=["x", "y"]), r"features.npz:1: label 5 is not in 0..1"),
])
def test_features_npz_errors(tmp_path, arrays, message):
    path = tmp_path / "features.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        load_features(DataConfig(source="features", path=str(path)))


def test_reversal_partner_is_the_same_motion_backwards():
    times = np.arange(48) / 4
    for first, second in (("sit_down", "stand_up"), ("fall_down", "get_up"), ("walk_right", "walk_left")):
        forward = action_poses(first, times, np.random.default_rng(3), span=1.0)
        backward = action_poses(second, times, np.random.default_rng(3), span=1.0)
        assert backward == forward[::-1]
        assert forward[0] != forward[-1]  # the motion goes somewhere, so direction is visible


def test_builtin_generator_writes_class_folders_of_mp4_once(tmp_path, monkeypatch):
    config = DataConfig(builtin_dir=str(tmp_path), builtin_clips_per_class=1, builtin_seconds=(6.0, 7.0),
                        builtin_source_fps=(4,), builtin_frame_size=32)
    root = generate_builtin(config)
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == list(ACTIONS)
    clip = next((root / "sit_down").glob("*.mp4"))
    assert sample_frames(clip, 1.0, 30, 32).shape[0] in (6, 7)
    # A reversal partner is its source clip backwards, frame for frame (up to H.264's loss), and split with it.
    forward = sample_frames(clip, 4.0, 40, 32).astype(np.float32)
    backward = sample_frames(root / "stand_up" / clip.name.replace("sit_down", "stand_up"), 4.0, 40, 32)
    assert backward.shape == forward.shape
    assert np.abs(backward - forward[::-1]).mean() < 3 < np.abs(backward - forward).mean()
    assert backward_source(root / "stand_up" / "stand_up_000.mp4") == root / "sit_down" / "sit_down_000.mp4"
    assert backward_source(root / "sit_down" / "sit_down_000.mp4") is None
    monkeypatch.setattr("tasks.video_actions.data_builtin.write_video", None)  # a second call writes nothing
    assert generate_builtin(config) == root


def _generate_in_subprocess(builtin_dir, one_cpu: bool) -> dict:
    """Generates 3 default clips per class in a fresh process (pinned to one CPU if asked): file name -> bytes."""
    code = ("import sys; from tasks.video_actions.config import DataConfig; "
            "from tasks.video_actions.data_builtin import generate_builtin; "
            "print(generate_builtin(DataConfig(builtin_dir=sys.argv[1], builtin_clips_per_class=3)))")
    pin = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if one_cpu else None
    root = subprocess.run([sys.executable, "-c", code, str(builtin_dir)], check=True, capture_output=True,
                          text=True, preexec_fn=pin).stdout.strip()
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*.mp4"))}


def test_builtin_clips_are_the_same_bytes_on_one_cpu_and_on_all(tmp_path):
    # x264 picks its thread count from the CPUs it may use and its macroblock tree varied from run to run: the
    # same seed gave other clips on another machine, and the trained model scored differently on them.
    on_all = _generate_in_subprocess(tmp_path / "all", one_cpu=False)
    on_one = _generate_in_subprocess(tmp_path / "one", one_cpu=True)
    assert len(on_all) == 3 * len(ACTIONS)
    assert [name for name in on_all if on_all[name] != on_one.get(name)] == []


def test_frame_indices_for_frame_sequences():
    assert sample_frame_indices(100, 25.0, 1.0, 30).tolist() == [0, 25, 50, 75]
    assert sample_frame_indices(10, 4.0, 2.0, 3).tolist() == [0, 2, 4]


def test_tfds_ucf101_offline_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    config = DataConfig(source="tfds", num_frames=3, frame_size=16, tfds_max_clips=4, val_fraction=0.25)
    with tfds.testing.mock_data(num_examples=4):
        data = load_data(config)
    assert len(data.class_names) == 101
    assert (len(data.train), len(data.val), len(data.test)) == (3, 1, 4)
    assert data.test.inputs.shape[1:] == (3, 16, 16, 3) and data.test.inputs.dtype == np.uint8
