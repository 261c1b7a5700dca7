"""sentiment_stars end to end on a tiny built-in corpus: run dir, metrics.json, TensorBoard, export, predict."""
import json
import unicodedata
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tasks.common.config import load_config
from tasks.common.task import train_task
from tasks.sentiment_stars import train
from tasks.sentiment_stars.config import Config
from tasks.sentiment_stars.decision import decide
from tasks.common.ensemble import average_models
from tasks.sentiment_stars.model import build_models


def tiny_args(root: Path) -> list[str]:
    settings = {
        "data.builtin_dir": root / "data", "data.builtin_train_size": 400, "data.builtin_val_size": 100,
        "data.builtin_test_size": 150, "model.rnn_units": 8, "model.embedding_dim": 8, "model.max_tokens": 2000,
        "train.epochs": 2, "train.batch_size": 32, "train.runs_dir": root / "runs",
        "train.export_dir": root / "exports", "train.verbose": 0, "model.ensemble": 1, "model.wide_min_df": 1,
    }
    return [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("sentiment")
    result = train_task(train.SentimentStars(), tiny_args(root))
    (run_dir,) = (root / "runs" / "sentiment_stars").iterdir()
    assert result.run.run_dir == run_dir
    assert json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")) == result.metrics
    return root, result


def test_metrics_json_has_the_contract_keys(trained):
    metrics = trained[1].metrics
    assert metrics["task"] == "sentiment_stars" and metrics["dataset"].startswith("builtin")
    keys = {"accuracy", "macro_f1", "mae_stars", "order_dependent_accuracy"}
    assert keys <= set(metrics["test"]) and keys <= set(metrics["baselines"]["bag_of_words"])
    assert keys <= set(metrics["baselines"]["tfidf_logistic"])
    assert 0 <= metrics["test"]["accuracy"] <= 1 and 0 <= metrics["test"]["mae_stars"] <= 4
    assert metrics["train_seconds"] > 0 and metrics["examples_per_second"] > 0
    assert Path(metrics["export"]).name == "1"
    assert metrics["split_sizes"] == {"train": 400, "val": 100, "test": 150}
    assert metrics["selected_weights"] in (["trained"], ["linear_start"]) and metrics["member_epochs"] == [2]


def test_run_dir_holds_config_checkpoints_and_tensorboard_images(trained):
    root, result = trained
    run_dir = result.run.run_dir
    saved = load_config(Config, run_dir / "config.yaml")
    assert saved.model.rnn_units == 8 and saved.train.export_dir == str(root / "exports")
    assert (run_dir / "checkpoints" / "best.weights.h5").exists()
    assert (run_dir / "checkpoints" / "backup" / "training_metadata.json").exists()
    tags = set()
    for folder in ("images", "gradients", "train"):
        accumulator = EventAccumulator(str(run_dir / "tensorboard" / folder), size_guidance={"images": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()["images"]) | set(accumulator.Tags()["histograms"])
        tags |= set(accumulator.Tags()["tensors"])
    assert {"val_confusion_matrix", "test_confusion_matrix", "state_gradient_norm/plot"} <= tags


@pytest.mark.slow
def test_export_in_a_fresh_process_equals_the_model_and_ignores_unicode_form(trained, python_subprocess):
    _, result = trained
    config, metrics = result.run.config, result.metrics
    reviews = ["ứng dụng tốt", "Giao hàng RẤT chậm nhưng pin trâu 😍", "không tốt lắm", ""]
    expected = result.model.predict(tf.constant(reviews), verbose=0)
    nfd = [unicodedata.normalize("NFD", r) for r in reviews]
    code = (
        "import json, sys, tensorflow as tf\n"
        f"serve = tf.saved_model.load({metrics['export']!r}).signatures['serving_default']\n"
        f"a, b = serve(text=tf.constant({reviews!r})), serve(text=tf.constant({nfd!r}))\n"
        "assert a['stars'].dtype == tf.int32 and a['probabilities'].dtype == tf.float32\n"
        "assert not any(m.split('.')[0] in ('tasks', 'rnn_layers') for m in sys.modules)\n"
        "print(json.dumps([a['probabilities'].numpy().tolist(), b['probabilities'].numpy().tolist(),"
        " a['stars'].numpy().tolist()]))\n")
    nfc_out, nfd_out, stars = json.loads(python_subprocess(code).stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(nfc_out, expected, atol=1e-5)
    np.testing.assert_allclose(nfd_out, nfc_out, atol=1e-6)
    assert stars == decide(expected, config.model.decision).numpy().tolist()


@pytest.mark.slow
def test_predict_prints_json_lines_from_the_export(trained, python_subprocess, tmp_path):
    root, _ = trained
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("pin trâu\n\nmàn hình đẹp nhưng hơi chậm\n", encoding="utf-8")
    result = python_subprocess(["-m", "tasks.sentiment_stars.predict", "--model", str(root / "exports" /
                                "sentiment_stars"), "--file", str(reviews), "ứng dụng tốt"])
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["text"] for line in lines] == ["ứng dụng tốt", "pin trâu", "màn hình đẹp nhưng hơi chậm"]
    assert all(1 <= line["stars"] <= 5 and abs(sum(line["probabilities"]) - 1) < 1e-3 for line in lines)


def test_a_finished_run_dir_is_never_reused(trained, capsys):
    root, result = trained
    with pytest.raises(SystemExit):
        train.main(tiny_args(root) + ["--run-dir", str(result.run.run_dir)])
    assert "holds a finished run (metrics.json exists)" in capsys.readouterr().err


def test_bad_config_value_is_one_line_naming_the_key(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--set", "model.rnn_units=0", "--set", f"train.runs_dir={tmp_path}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "rnn_units must be >= 1" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("old, new", [("model.units=8", "'model.rnn_units'"),
                                      ("data.seed=1", "'data.builtin_seed' and 'data.split_seed'")])
def test_a_renamed_key_names_its_new_name(tmp_path, capsys, old, new):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--set", old, "--set", f"train.runs_dir={tmp_path}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert f"error: --set {old}: key '{old.split('=')[0]}' was renamed to {new}" in err and len(err.splitlines()) == 1


def test_a_data_error_leaves_no_empty_run_dir(tmp_path, capsys):
    (tmp_path / "reviews.csv").write_text("text,stars\nrất tốt,5\n,3\n", encoding="utf-8")
    args = ["--set", "data.source=files", "--set", f"data.path={tmp_path / 'reviews.csv'}",
            "--set", f"train.runs_dir={tmp_path / 'runs'}"]
    with pytest.raises(SystemExit) as exit_info:
        train.main(args)
    assert exit_info.value.code == 2
    assert "reviews.csv:3: empty text" in capsys.readouterr().err
    assert not any((tmp_path / "runs" / "sentiment_stars").iterdir())  # the failed attempt's dir is gone
    # A run dir given explicitly that already holds someone's files is refused and left as it was.
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SystemExit):
        train.main(args + ["--run-dir", str(kept)])
    assert "is not empty and is not a run dir (no config.yaml)" in capsys.readouterr().err
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_an_ensemble_run_trains_each_member_and_its_residual_phase_and_exports_their_average(tmp_path):
    args = tiny_args(tmp_path) + ["--set", "model.ensemble=2", "--set", "train.epochs=1",
                                  "--set", "model.residual_epochs=1"]
    result = train_task(train.SentimentStars(), args)
    metrics, run_dir = result.metrics, result.run.run_dir
    members = [layer for layer in result.model.layers if isinstance(layer, keras.Model)]
    assert [member.name for member in members] == ["sentiment_stars_member_0", "sentiment_stars_member_1"]
    # one vocabulary and one wide path, shared by the members (fitted once)
    assert members[0].get_layer("wide_logits") is members[1].get_layer("wide_logits")
    reviews = tf.constant(["ứng dụng tốt", "đẹp nhưng chậm", "không tốt lắm"])
    expected = average_models(members, "ensemble").predict(reviews, verbose=0)
    serve = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    np.testing.assert_allclose(serve(text=reviews)["probabilities"].numpy(), expected, atol=1e-5)
    # each member's checkpoint holds the weights it was exported with, after its residual phase too (a resumed
    # run rebuilds the same model); the residual phase trains in its own folder of the member's dir
    for member, model in enumerate(members):
        member_dir = run_dir / "members" / str(member)
        assert (member_dir / "residual" / "checkpoints" / "fit_done.json").exists()
        rebuilt, trainer = build_models(result.run.config.model, result.loaded.features, f"check_{member}")
        trainer.load_weights(member_dir / "checkpoints" / "best.weights.h5")
        np.testing.assert_allclose(rebuilt.predict(reviews, verbose=0), model.predict(reviews, verbose=0), atol=1e-6)
    # the members' RNNs differ (own seeds), even when both kept the linear start
    assert not np.allclose(members[0].get_layer("embedding").get_weights()[0],
                           members[1].get_layer("embedding").get_weights()[0])
    assert all(kept in ("trained", "linear_start", "trained+residual", "linear_start+residual")
               for kept in metrics["selected_weights"]) and len(metrics["selected_weights"]) == 2
    assert metrics["member_epochs"] == [2, 2] and metrics["epochs_run"] == 4  # one epoch per phase and member


def test_trained_weights_are_kept_only_if_better_on_the_monitor_and_no_worse_on_the_stars():
    start = {"val_loss": 0.956, "val_mae_stars": 0.52, "val_stars": 0.58}
    keep = lambda trained, monitor="val_loss": train.keep_trained(start, trained, monitor, "min")
    # UIT-ViSFD seed 1: a lower val loss with worse stars on validation -> the start is kept
    assert not keep({"val_loss": 0.945, "val_mae_stars": 0.54, "val_stars": 0.54})
    assert keep({"val_loss": 0.945, "val_mae_stars": 0.50, "val_stars": 0.60})
    assert not keep({"val_loss": 0.970, "val_mae_stars": 0.50, "val_stars": 0.60})
    assert keep({"val_loss": 0.9, "val_mae_stars": 0.51, "val_stars": 0.58}, "val_mae_stars")
    assert not train.keep_trained({"val_accuracy": 0.6, "val_stars": 0.5}, {"val_accuracy": 0.6, "val_stars": 0.7},
                                  "val_accuracy", "max")  # a tie on the monitor is no gain
