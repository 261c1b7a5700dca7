"""heart_attack categorical columns: text codes -> 0/1 inputs fitted on training patients, unknown codes, export."""
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.common.errors import DataError
from tasks.heart_attack import data, data_builtin, predict
from tasks.heart_attack.config import DataConfig

VISITS = """pid,day,bp,sex,smoker,label
a,0,120,F,no,0
a,30,125,f ,,0
b,0,140,m,yes,1
b,30,,M,yes,1
c,0,130,f,NA,0
"""


def config(path, **overrides) -> DataConfig:
    values = dict(source="file", path=str(path), id_column="pid", time_column="day", time_format="number",
                  feature_columns=("bp",), categorical_columns=("sex", "smoker"), label_column="label",
                  max_visits=3)
    return DataConfig(**{**values, **overrides})


@pytest.fixture
def visits(tmp_path):
    path = tmp_path / "visits.csv"
    path.write_text(VISITS, encoding="utf-8")
    return path


def test_codes_become_one_feature_each_before_the_gap(visits):
    cohort, _ = data.load_cohort(config(visits))
    categories = data.fit_categories(cohort)
    assert categories == {"sex": ["f", "m"], "smoker": ["no", "yes"]}  # trimmed, lowercased, sorted
    encoded, unknown = data.encode_categories(cohort, categories, visits)
    assert unknown == 0
    assert encoded.feature_names == ("bp", "sex=f", "sex=m", "smoker=no", "smoker=yes", data.GAP_FEATURE)
    assert encoded.measurements == 5
    patient_a = encoded.exams[list(encoded.patient_ids).index("a")]  # right-aligned: padding first
    assert np.isnan(patient_a[0]).all()
    np.testing.assert_array_equal(patient_a[1], [120, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(patient_a[2, :3], [125, 1, 0])
    assert np.isnan(patient_a[2, 3:5]).all() and patient_a[2, 5] == 30  # an empty cell: NaN in its features
    assert data.feature_names(config(visits), categories) == encoded.feature_names


def test_mapping_comes_from_the_patients_it_is_fitted_on(visits):
    cohort, _ = data.load_cohort(config(visits))
    training = cohort.subset(np.flatnonzero(cohort.patient_ids != "b"))  # b is the only smoker and the only "m"
    categories = data.fit_categories(training)
    assert categories == {"sex": ["f"], "smoker": ["no"]}
    with pytest.raises(DataError, match=r"visits.csv:4: column 'sex': code 'm' was not in the training data "
                                        r"\(known: f\)"):
        data.encode_categories(cohort, categories, visits)
    encoded, unknown = data.encode_categories(cohort, categories, visits, on_unknown="missing")
    assert unknown == 4  # b's two visits, in both columns
    b = encoded.exams[list(encoded.patient_ids).index("b")]
    assert np.isnan(b[1:, 1:3]).all() and b[1, 0] == 140  # unknown codes are missing values, the rest is kept


def test_bad_categorical_input_is_named(visits, tmp_path):
    with pytest.raises(ValueError, match="distinct"):
        config(visits, feature_columns=("bp", "sex"))
    with pytest.raises(DataError, match=r"cannot parse 'F' as a number \(a text code\? list the column in "
                                        r"data.categorical_columns\)"):
        data.load_cohort(config(visits, feature_columns=("bp", "sex"), categorical_columns=("smoker",)))
    rows = ["pid,day,bp,sex,smoker,label"] + [f"p{i},0,120,code{i},no,{i % 2}" for i in range(data.MAX_CATEGORIES + 1)]
    many = tmp_path / "many.csv"
    many.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cohort, _ = data.load_cohort(config(many))
    with pytest.raises(ValueError, match="'sex' has 51 distinct codes"):
        data.fit_categories(cohort)


def _text_coded_cohort(path, patients=400):
    """The built-in simulator's visits with sex and smoking written as text, as real exports have them."""
    frame = data_builtin.simulate_cohort(n_patients=patients, n_months=4, positive_rate=0.2, seed=1)
    frame["sex"] = frame["sex"].map({1.0: "male", 2.0: "female"})
    frame["current_smoker"] = frame["current_smoker"].map({1.0: "yes", 0.0: "no"})
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.slow
def test_the_export_carries_the_mapping_and_predict_applies_it(tmp_path, capsys):
    from tasks.common.run import start_run
    from tasks.heart_attack.config import Config
    from tasks.heart_attack.model import predict_risk
    from tasks.common.task import run_task
    from tasks.heart_attack.train import HeartAttack

    frame = _text_coded_cohort(tmp_path / "visits.csv")
    numeric = [c for c in data_builtin.FEATURE_COLUMNS if c not in ("sex", "current_smoker")]
    settings = ["data.source=file", f"data.path={tmp_path / 'visits.csv'}",
                f"data.feature_columns=[{','.join(numeric)}]",
                "data.categorical_columns=[sex,current_smoker]", "data.max_visits=4", "train.epochs=2",
                "train.verbose=0", "train.histogram_freq=0", "model.visit_units=4", "model.rnn_units=4", "model.ensemble=1",
                f"train.runs_dir={tmp_path / 'runs'}", f"train.export_dir={tmp_path / 'exports'}"]
    run = start_run("heart_attack", Config, [a for s in settings for a in ("--set", s)])
    result = run_task(HeartAttack(), run)
    assert result.metrics["categories"] == {"sex": ["female", "male"], "current_smoker": ["no", "yes"]}
    assert result.metrics["feature_names"][-5:] == ["sex=female", "sex=male", "current_smoker=no",
                                                   "current_smoker=yes", data.GAP_FEATURE]
    export = str(result.metrics["export"])
    spec = json.loads((Path(export) / "assets.extra" / "input_spec.json").read_text())
    assert spec["categories"] == result.metrics["categories"]

    predict.main(["--model", export, "--features"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"feature_names": result.metrics["feature_names"], "categories": spec["categories"]}

    test = result.splits["test"]
    chosen = frame[frame["patient_id"].isin(test.patient_ids[:3])].drop(columns="heart_attack")
    chosen.to_csv(tmp_path / "three.csv", index=False)
    predict.main(["--model", export, "--csv", str(tmp_path / "three.csv")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose([line["risk"] for line in lines], predict_risk(result.model, test.exams[:3]),
                               atol=1e-5)

    chosen = chosen.assign(sex="other")
    chosen.to_csv(tmp_path / "unknown.csv", index=False)
    with pytest.raises(SystemExit):  # main_guard: one line on stderr, exit 2
        predict.main(["--model", export, "--csv", str(tmp_path / "unknown.csv")])
    assert re.search(r"unknown.csv:\d+: column 'sex': code 'other' was not in the training data "
                     r"\(known: female, male\)", capsys.readouterr().err)
    predict.main(["--model", export, "--csv", str(tmp_path / "unknown.csv"), "--on-bad-row", "skip"])
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3 and "treated as missing" in captured.err
