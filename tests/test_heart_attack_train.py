"""heart_attack end to end on a small built-in cohort: metrics.json, TensorBoard images, the export in a fresh
TensorFlow-only process, and predict on a CSV of visits and on JSON exams."""
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tasks.common.errors import DataError
from tasks.common.run import start_run
from tasks.common.task import run_task
from tasks.heart_attack import predict
from tasks.heart_attack.config import Config
from tasks.heart_attack.model import predict_risk
from tasks.heart_attack.train import HeartAttack

SMALL = ["data.builtin_patients=400", "train.epochs=2", "train.histogram_freq=0", "train.verbose=0",
         "model.visit_units=8", "model.rnn_units=8", "model.ensemble=2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("heart_attack")
    paths = [f"data.builtin_dir={root / 'data'}", f"train.runs_dir={root / 'runs'}", f"train.export_dir={root / 'exports'}"]
    argv = [arg for setting in SMALL + paths for arg in ("--set", setting)]
    run = start_run("heart_attack", Config, argv + ["--run-dir", str(root / "run")])
    return run, run_task(HeartAttack(), run)


@pytest.mark.slow
def test_metrics_json_has_the_contract_keys_and_equals_the_result(trained):
    run, result = trained
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    assert metrics == result.metrics and str(result.export_path) == metrics["export"]
    assert {"task", "dataset", "test", "baselines", "train_seconds", "examples_per_second", "export",
            "quality_bar", "seconds_to_quality_bar", "roc_auc_gain_over_last_visit", "class_weight"} <= set(metrics)
    assert set(metrics["baselines"]) == {"last_visit_logistic", "all_visits_logistic"}
    gain = metrics["test"]["roc_auc"] - metrics["baselines"]["last_visit_logistic"]["roc_auc"]
    assert metrics["roc_auc_gain_over_last_visit"] == pytest.approx(gain)
    assert metrics["split_patients"] == {"train": 260, "val": 60, "test": 80}
    assert metrics["data"]["patients"] == 400 and metrics["data"]["skipped_rows"] == {}
    assert metrics["feature_names"][-1] == "time_since_previous_visit"
    assert metrics["ensemble_members"] == 2 and len(metrics["selected_weights"]) == 2
    start = metrics["linear_start"]  # chosen once by 5-fold CV on the training patients, shared by the members
    assert start["inputs"] in ("latest", "latest_and_mean") and len(start["cv_roc_auc"]) == 6
    assert start["cv_roc_auc"][f"{start['inputs']} C={start['c']:g}"] == max(start["cv_roc_auc"].values())
    assert set(metrics["log_features"]) <= set(metrics["feature_names"][:-1])  # never the visit gap
    for member in ("0", "1"):  # each member trained as a run of its own, resumable member by member
        assert (run.run_dir / "members" / member / "history.csv").read_text().count("\n") == 1 + 2  # 2 epochs


@pytest.mark.slow
def test_roc_and_calibration_images_in_tensorboard(trained):
    run, _ = trained
    tags = set()
    for events in (run.tensorboard_dir / "images").glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            tags.update(value.tag for value in event.summary.value)
    assert {"test/roc", "test/calibration"} <= tags


@pytest.mark.slow
def test_export_reloads_in_a_fresh_tensorflow_only_process(trained, tmp_path, python_subprocess):
    run, result = trained
    exams = result.splits["test"].exams[:16]
    np.save(tmp_path / "exams.npy", exams)
    code = f"""
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load({str(result.metrics['export'])!r})
exams = np.load({str(tmp_path / 'exams.npy')!r})
serve = loaded.signatures["serving_default"]
padded = np.concatenate([np.full((len(exams), 4, exams.shape[-1]), np.nan, np.float32), exams], axis=1)
names = loaded.signatures["feature_names"]()["feature_names"].numpy()
print(json.dumps({{"risk": serve(exams=tf.constant(exams))["risk"].numpy().tolist(),
                  "padded": serve(exams=tf.constant(padded))["risk"].numpy().tolist(),
                  "names": [n.decode() for n in names],
                  "project_imported": any(m.split(".")[0] in ("tasks", "rnn_layers") for m in sys.modules)}}))
"""
    output = json.loads(python_subprocess(code).stdout.strip().splitlines()[-1])
    assert not output["project_imported"]
    np.testing.assert_allclose(output["risk"], predict_risk(result.model, exams), atol=1e-6)
    np.testing.assert_allclose(output["padded"], output["risk"], atol=1e-6)
    assert output["names"] == result.metrics["feature_names"]


@pytest.mark.slow
def test_predict_on_a_visits_csv_and_on_json_exams(trained, tmp_path, capsys):
    run, result = trained
    test = result.splits["test"]
    visits = pd.read_csv(next((run.run_dir.parent / "data").glob("*/visits.csv")), dtype={"patient_id": str})
    chosen = list(test.patient_ids[:3])
    (visits[visits["patient_id"].isin(chosen)].drop(columns="heart_attack")
     .to_csv(tmp_path / "three.csv", index=False))
    export = str(result.metrics["export"])
    predict.main(["--model", export, "--csv", str(tmp_path / "three.csv")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["patient_id"] for line in lines] == chosen
    np.testing.assert_allclose([line["risk"] for line in lines], predict_risk(result.model, test.exams[:3]),
                               atol=1e-5)

    exams = test.exams[0]
    visits_json = [[None if np.isnan(v) else float(v) for v in visit] for visit in exams]
    (tmp_path / "one.jsonl").write_text(json.dumps(visits_json) + "\n")
    predict.main(["--model", export, "--exams", str(tmp_path / "one.jsonl")])
    line = json.loads(capsys.readouterr().out)
    assert line["line"] == 1 and line["risk"] == pytest.approx(lines[0]["risk"], abs=1e-5)
    assert line["visits"] == lines[0]["visits"] == int((~np.isnan(exams[:, :-1])).any(axis=-1).sum())
    # A row holding only the gap value is no visit, for the model (masked) and in the count alike.
    gap_only = [[None] * (len(visits_json[0]) - 1) + [30.0]]
    (tmp_path / "gap.jsonl").write_text(json.dumps(visits_json + gap_only) + "\n")
    predict.main(["--model", export, "--exams", str(tmp_path / "gap.jsonl")])
    assert json.loads(capsys.readouterr().out)["visits"] == line["visits"]

    predict.main(["--model", export, "--features"])
    assert json.loads(capsys.readouterr().out)["feature_names"] == result.metrics["feature_names"]

    (tmp_path / "bad.jsonl").write_text(json.dumps([[1.0, 2.0]]) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: visit 1 has 2 values; the model takes 14"):
        predict.read_exams_lines((tmp_path / "bad.jsonl").read_text(), str(tmp_path / "bad.jsonl"), 14)


def test_a_small_cohort_gets_smaller_batches_not_fewer_steps():
    from tasks.heart_attack.config import HeartAttackTrainConfig
    from tasks.heart_attack.train import batch_size

    config = HeartAttackTrainConfig(batch_size=64, min_steps_per_epoch=12)
    assert batch_size(config, 7800) == 64  # large cohorts keep the configured size
    assert batch_size(config, 190) == 15  # 190 patients: 12 steps an epoch instead of 3
    assert batch_size(config, 40) == 8  # never below 8
    assert batch_size(HeartAttackTrainConfig(batch_size=4), 190) == 4
