"""video_actions end to end on tiny settings: train, metrics.json, export reloaded in a TF-only process, predict."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tasks.common.task import train_task
from tasks.video_actions import predict
from tasks.video_actions.train import VideoActions
from tasks.video_actions.video_io import pad_frames, sample_frames

pytestmark = pytest.mark.slow

# The small test config: a few 32x32 clips of 6-8 s, 8 frames, 2 epochs. It checks the plumbing, not accuracy.
TINY = ["data.builtin_clips_per_class=4", "data.builtin_seconds=[6, 8]", "data.builtin_frame_size=32",
        "data.frame_size=32", "data.num_frames=8", "data.val_fraction=0.25", "data.test_fraction=0.25",
        "model.cnn_filters=[4, 8]", "model.cnn_grid=2", "model.feature_units=8", "model.rnn_units=8",
        "train.epochs=2", "train.batch_size=8", "train.histogram_freq=0", "train.steps_per_execution=1"]


def run_training(tmp_path, *extra):
    overrides = TINY + [f"data.builtin_dir={tmp_path / 'data'}", f"data.cache_dir={tmp_path / 'cache'}",
                        f"train.runs_dir={tmp_path / 'runs'}", f"train.export_dir={tmp_path / 'exports'}", *extra]
    result = train_task(VideoActions(), ["--run-dir", str(tmp_path / "run")] + [a for o in overrides for a in ("--set", o)])
    return result, result.metrics


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("video_actions")
    return (tmp_path,) + run_training(tmp_path)


def test_metrics_json_has_the_issue_keys(trained):
    _, _, metrics = trained
    for key in ("accuracy", "reversal_pairs_accuracy", "shuffled_frames_accuracy", "per_class_accuracy"):
        assert key in metrics["test"]
    assert set(metrics["baselines"]["order_blind"]) >= {"accuracy", "reversal_pairs_accuracy"}
    assert metrics["reversal_pairs"] == [["sit_down", "stand_up"], ["fall_down", "get_up"], ["walk_left", "walk_right"]]
    assert 0 <= metrics["test"]["accuracy"] <= 1 and metrics["speed"]["decode"]["decoded_frames"] > 0


def test_export_reloads_in_a_tensorflow_only_process_and_matches(trained, tmp_path):
    tmp, result, metrics = trained
    clips = sorted((tmp / "data").glob("*/sit_down/*.mp4"))[:2]
    frames = np.stack([pad_frames(sample_frames(c, 1.0, 8, 32), 8) for c in clips])
    np.save(tmp_path / "frames.npy", frames)
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        model = tf.saved_model.load({metrics['export']!r})
        out = model.signatures["serving_default"](frames=tf.constant(np.load({str(tmp_path / 'frames.npy')!r})))
        np.save({str(tmp_path / 'probabilities.npy')!r}, out["probabilities"].numpy())
        print(",".join(a.decode() for a in out["action"].numpy()))
        assert not any(name.startswith(("tasks", "rnn_layers", "keras_")) for name in sys.modules if "." not in name)
    """)
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-2000:]
    model = result.model  # the trained model the run evaluated and exported
    expected = model.predict(frames, verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "probabilities.npy"), expected, atol=1e-5)
    names = [metrics["class_names"][i] for i in expected.argmax(-1)]
    assert process.stdout.strip().splitlines()[-1] == ",".join(names)
    # The same clip, cut to its real frames, gets the same answer: padding is masked in the export too.
    short = sample_frames(clips[0], 1.0, 8, 32)
    np.testing.assert_allclose(model.predict(short[None], verbose=0)[0], expected[0], atol=1e-5)


def test_predict_prints_one_json_line_per_video(trained, capsys):
    tmp, _, metrics = trained
    clip = sorted((tmp / "data").glob("*/wave/*.mp4"))[0]
    assert predict.main(["--model", str(tmp / "exports" / "video_actions"), str(clip)]) == 0
    record = json.loads(capsys.readouterr().out.strip())
    assert record["file"] == str(clip) and record["action"] in metrics["class_names"]
    assert record["frames"] in (6, 7, 8) and abs(sum(record["probabilities"].values()) - 1) < 1e-3


def test_predict_names_a_corrupt_video(trained, tmp_path, capsys):
    tmp, _, _ = trained
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    with pytest.raises(SystemExit) as error:
        predict.main(["--model", str(tmp / "exports" / "video_actions"), str(broken)])
    assert error.value.code == 2
    assert f"{broken}: cannot open video" in capsys.readouterr().err


def test_frozen_backbone_trains_on_cached_features(trained, tmp_path):
    """A keras.applications backbone (random weights, offline) -> features cached by content -> RNN head."""
    tmp, _, _ = trained
    common = [f"data.builtin_dir={tmp / 'data'}", "model.backbone=MobileNetV3Small", "train.epochs=1"]
    _, first = run_training(tmp_path / "a", *common, f"data.cache_dir={tmp_path / 'cache'}")
    assert first["speed"]["feature_extraction"]["frames"] > 0
    _, second = run_training(tmp_path / "b", *common, f"data.cache_dir={tmp_path / 'cache'}")
    extraction = second["speed"]["feature_extraction"]
    assert extraction["frames"] == 0 and extraction["cache_hits"] == sum(first["split_sizes"].values())
    assert second["speed"]["decode"]["decoded_frames"] == 0  # nothing decoded either
    assert first["export"] and (tmp_path / "a" / "exports" / "video_actions" / "1" / "saved_model.pb").exists()
