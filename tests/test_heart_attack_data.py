"""heart_attack data: the cohort simulator, the long-format loader (orders, formats, bad rows), the split."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from tasks.common.errors import DataError
from tasks.heart_attack import data, data_builtin
from tasks.heart_attack.config import DataConfig

FEATURES = ("age", "sex", "systolic_bp", "total_cholesterol")


def config(tmp_path, **overrides) -> DataConfig:
    values = dict(source="file", path=str(tmp_path / "visits.csv"), id_column="patient_id", time_column="visit_date",
                  feature_columns=FEATURES, label_column="heart_attack", max_visits=3)
    return DataConfig(**{**values, **overrides})


def write(tmp_path, text: str, name: str = "visits.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """patient_id,visit_date,age,sex,systolic_bp,total_cholesterol,heart_attack
007,2021-03-01,60,1,130,,0
007,2021-01-04,60,1,120,200,0
B,2021-02-01,55,2,140,220,1
007,2021-02-02,60,1,NA,210,0
B,2021-05-03,55,2,150,.,1
B,2021-04-01,55,2,145,230,1
B,2021-03-01,55,2,142,225,1
"""


def test_simulator_is_seeded_and_messy_like_a_real_export():
    first = data_builtin.simulate_cohort(n_patients=400, seed=3)
    assert first.equals(data_builtin.simulate_cohort(n_patients=400, seed=3))
    assert not first.equals(data_builtin.simulate_cohort(n_patients=400, seed=4))
    visits_per_patient = first.groupby("patient_id").size()
    assert visits_per_patient.max() == 12 and visits_per_patient.min() >= 2  # missed visits, never fewer than 2
    assert (visits_per_patient < 12).mean() > 0.5
    assert first["total_cholesterol"].isna().mean() > 0.3 and first["systolic_bp"].isna().mean() < 0.1
    assert set(first["sex"].dropna().unique()) <= {1.0, 2.0}
    assert not first["visit_date"].is_monotonic_increasing  # rows are shuffled
    dates = pd.to_datetime(first["visit_date"]).groupby(first["patient_id"]).apply(
        lambda d: d.sort_values().diff().dt.days.dropna())
    assert dates.nunique() > 10  # irregular gaps, not exactly 30 days
    assert first.groupby("patient_id")["heart_attack"].nunique().max() == 1


@pytest.mark.parametrize("months", [2, 3])
def test_simulator_with_few_scheduled_exams(months):
    frame = data_builtin.simulate_cohort(n_patients=200, n_months=months, seed=0)
    visits = frame.groupby("patient_id").size()
    assert visits.min() == 2 and visits.max() == months


def test_simulated_positive_rate_follows_the_config():
    frame = data_builtin.simulate_cohort(n_patients=6000, positive_rate=0.08, seed=1)
    rate = frame.groupby("patient_id")["heart_attack"].first().mean()
    assert 0.065 < rate < 0.095


def test_builtin_file_round_trips_through_the_user_loader(tmp_path):
    path = data_builtin.write_builtin_data(tmp_path, n_patients=50, seed=2)
    cohort, report = data.load_cohort(DataConfig(source="file", path=str(path)))
    frame = pd.read_csv(path)
    assert len(cohort) == 50 and report["rows_read"] == len(frame) == report["visits_used"]
    assert report["time_format"] == "date" and report["skipped_rows"] == {}
    assert cohort.exams.shape == (50, 12, len(data_builtin.FEATURE_COLUMNS) + 1)
    assert cohort.feature_names[-1] == data.GAP_FEATURE
    patient = frame[frame["patient_id"] == cohort.patient_ids[0]].sort_values("visit_date")
    present = ~np.isnan(cohort.exams[0]).all(axis=1)
    assert present.sum() == len(patient) and present[-len(patient):].all()  # right-aligned
    np.testing.assert_allclose(cohort.exams[0, present, 2], patient["systolic_bp"].to_numpy(dtype=np.float32))
    gaps = pd.to_datetime(patient["visit_date"]).diff().dt.days.fillna(0).to_numpy()
    np.testing.assert_allclose(cohort.exams[0, present, -1], gaps)
    assert cohort.labels[0] == patient["heart_attack"].iloc[0]


def test_visits_are_ordered_by_time_and_missing_values_kept(tmp_path):
    write(tmp_path, GOOD)
    cohort, report = data.load_cohort(config(tmp_path, max_visits=4))
    assert list(cohort.patient_ids) == ["007", "B"]  # ids stay text: the leading zeros survive
    assert list(cohort.labels) == [0, 1]
    first = cohort.exams[0]  # (4, 5): padding row, then Jan, Feb, Mar
    assert np.isnan(first[0]).all()
    np.testing.assert_array_equal(first[1:, 2], [120, np.nan, 130])  # "NA" is missing, not dropped
    np.testing.assert_array_equal(first[1:, 3], [200, 210, np.nan])
    np.testing.assert_array_equal(first[1:, 4], [0, 29, 27])  # days since the previous visit
    assert np.isnan(cohort.exams[1, 3, 3])  # "." (SAS) is missing too
    assert report["patients"] == 2 and report["positives"] == 1


def test_keeps_the_last_k_visits(tmp_path):
    write(tmp_path, GOOD)
    cohort, report = data.load_cohort(config(tmp_path, max_visits=2))
    np.testing.assert_array_equal(cohort.exams[1, :, 2], [145, 150])  # B's April and May
    assert cohort.exams[1, 0, 4] == 31  # the gap still counts from the dropped March visit
    assert report["visits_older_than_max_visits"] == 1 + 2


def test_file_order_does_not_matter(tmp_path):
    write(tmp_path, GOOD)
    lines = GOOD.strip().splitlines()
    write(tmp_path, "\n".join([lines[0], *reversed(lines[1:])]) + "\n", "reversed.csv")
    original, _ = data.load_cohort(config(tmp_path))
    reversed_, _ = data.load_cohort(config(tmp_path, path=str(tmp_path / "reversed.csv")))
    np.testing.assert_array_equal(original.exams, reversed_.exams)


def test_numeric_times_days_or_periods(tmp_path):
    write(tmp_path, "RANDID,TIME,PERIOD,SEX,SYSBP,ANYCHD\n"
                    "2448,0,1,1,106,1\n2448,4628,3,1,121,1\n6238,0,1,2,121,0\n6238,2156,2,2,127,0\n")
    days = DataConfig(source="file", path=str(tmp_path / "visits.csv"), id_column="RANDID", time_column="TIME",
                      feature_columns=("SEX", "SYSBP"), label_column="ANYCHD", max_visits=3)
    cohort, report = data.load_cohort(days)
    assert report["time_format"] == "number" and list(cohort.patient_ids) == ["2448", "6238"]
    np.testing.assert_array_equal(cohort.exams[0, 1:], [[1, 106, 0], [1, 121, 4628]])
    periods, _ = data.load_cohort(dataclasses.replace(days, time_column="PERIOD"))
    np.testing.assert_array_equal(periods.exams[0, 1:, -1], [0, 2])


def test_labels_from_a_separate_file_and_parquet_visits(tmp_path):
    frame = pd.read_csv(write(tmp_path, GOOD), dtype={"patient_id": str}).drop(columns="heart_attack")
    frame.to_parquet(tmp_path / "visits.parquet")
    write(tmp_path, "patient_id,heart_attack\nB,1\n007,0\nC,1\n", "labels.csv")
    cfg = config(tmp_path, path=str(tmp_path / "visits.parquet"), labels_path=str(tmp_path / "labels.csv"))
    cohort, report = data.load_cohort(cfg)
    assert list(cohort.labels) == [0, 1] and report["labelled_patients_without_visits"] == 1
    expected, _ = data.load_cohort(config(tmp_path))
    np.testing.assert_array_equal(cohort.exams, expected.exams)


def test_unlabeled_visits_for_prediction(tmp_path):
    write(tmp_path, GOOD.replace(",heart_attack", "").replace(",0\n", "\n").replace(",1\n", "\n"))
    cohort, _ = data.load_cohort(config(tmp_path), with_labels=False)
    assert cohort.labels is None and len(cohort) == 2


BAD_ROWS = [
    ("007,2021-03-01,60,1,13O,,0", "visits.csv:2: column 'systolic_bp': cannot parse '13O' as a number"),
    ("007,2021-03-01,60,M,130,,0", "visits.csv:2: column 'sex': cannot parse 'M' as a number"),
    ("007,2021-13-45,60,1,130,,0", "visits.csv:2: column 'visit_date': cannot parse '2021-13-45' as a date like "
                                   "2021-03-04"),
    ("007,,60,1,130,,0", "visits.csv:2: missing visit time in column 'visit_date'"),
    (",2021-03-01,60,1,130,,0", "visits.csv:2: missing patient id in column 'patient_id'"),
    ("007,2021-03-01,60,1,130,,yes", "visits.csv:2: column 'heart_attack': label must be 0 or 1, got 'yes'"),
    ("007,2021-03-01,60,1,130,,2", "visits.csv:2: column 'heart_attack': label must be 0 or 1, got '2'"),
    ("007,2021-01-04,60,1,130,,0", "visits.csv:3: duplicate visit: patient '007' already has a visit at "
                                   "'2021-01-04' (line 2)"),
    ("007,2021-03-01,60,1,130,,1", "visits.csv:3: 'heart_attack' of patient '007' is 0 here but 1 on line 2; "
                                   "the label must be constant within a patient"),
    ("007,2021-03-01,60,1,inf,,0", "visits.csv:2: column 'systolic_bp': cannot parse 'inf' as a number"),
]


@pytest.mark.parametrize("row, message", BAD_ROWS, ids=[m.split(": ", 1)[1][:30] for _, m in BAD_ROWS])
def test_bad_rows_name_file_line_and_problem(tmp_path, row, message):
    lines = GOOD.splitlines()
    write(tmp_path, "\n".join([lines[0], row, *lines[2:]]) + "\n")
    with pytest.raises(DataError) as error:
        data.load_cohort(config(tmp_path))
    assert str(error.value) == str(tmp_path / message)


def test_skip_mode_drops_and_counts_bad_rows(tmp_path):
    lines = GOOD.splitlines()
    write(tmp_path, "\n".join([*lines, "007,2021-04-01,60,1,13O,,0", "B,2021-04-01,55,2,146,230,1",
                               "C,2021-01-01,50,1,120,180,1", "C,2021-02-01,50,1,121,181,0"]) + "\n")
    with pytest.raises(DataError, match="visits.csv:9: column 'systolic_bp'"):
        data.load_cohort(config(tmp_path))
    cohort, report = data.load_cohort(config(tmp_path, on_bad_row="skip"))
    assert list(cohort.patient_ids) == ["007", "B"]  # C's label varies: the patient is dropped
    assert report["skipped_rows"] == {str(tmp_path / "visits.csv"): 3}
    assert report["patients_dropped_for_labels"] == 1
    np.testing.assert_array_equal(cohort.exams[1, :, 2], [142, 145, 150])  # the duplicate April row is gone


def test_label_file_errors(tmp_path):
    write(tmp_path, GOOD.replace(",heart_attack", "").replace(",0\n", "\n").replace(",1\n", "\n"))
    cfg = config(tmp_path, labels_path=str(tmp_path / "labels.csv"))
    write(tmp_path, "patient_id,heart_attack\n007,0\n", "labels.csv")
    with pytest.raises(DataError, match=r"visits.csv:4: patient 'B' has no label in .*labels.csv"):
        data.load_cohort(cfg)
    write(tmp_path, "patient_id,heart_attack\n007,0\nB,1\n007,1\n", "labels.csv")
    with pytest.raises(DataError, match=r"labels.csv:4: patient '007' is labelled 1 here but 0 on line 2"):
        data.load_cohort(cfg)
    write(tmp_path, "patient_id,outcome\n007,0\n", "labels.csv")
    with pytest.raises(DataError, match=r"labels.csv: missing column\(s\) \['heart_attack'\]"):
        data.load_cohort(cfg)


def test_file_level_errors(tmp_path):
    write(tmp_path, GOOD.replace("systolic_bp", "sbp"))
    with pytest.raises(DataError, match=r"visits.csv: missing column\(s\) \['systolic_bp'\]"):
        data.load_cohort(config(tmp_path))
    write(tmp_path, "")
    with pytest.raises(DataError, match="visits.csv: file is empty"):
        data.load_cohort(config(tmp_path))
    with pytest.raises(DataError, match="nowhere.csv: file not found"):
        data.load_cohort(config(tmp_path, path=str(tmp_path / "nowhere.csv")))


def test_visits_without_any_measurement_are_counted_not_used(tmp_path):
    write(tmp_path, GOOD + "B,2021-06-01,,,,,1\n")
    cohort, report = data.load_cohort(config(tmp_path))
    assert report["visits_without_measurements"] == 1
    np.testing.assert_array_equal(cohort.exams[1, :, 2], [142, 145, 150])


def test_split_is_by_patient_disjoint_and_stratified():
    rng = np.random.default_rng(0)
    labels = (rng.random(1000) < 0.1).astype(np.int64)
    cohort = data.Cohort(np.array([f"P{i}" for i in range(1000)]), np.zeros((1000, 2, 1), np.float32), labels,
                         ("x",))
    splits = data.split_by_patient(cohort, 0.15, 0.2, seed=0)
    ids = [set(split.patient_ids) for split in splits.values()]
    assert sum(map(len, ids)) == 1000 and len(set.union(*ids)) == 1000
    assert [len(splits[name]) for name in ("train", "val", "test")] == [650, 150, 200]
    for split in splits.values():
        assert abs(split.labels.mean() - labels.mean()) < 0.01
    again = data.split_by_patient(cohort, 0.15, 0.2, seed=0)
    assert list(again["test"].patient_ids) == list(splits["test"].patient_ids)
    with pytest.raises(ValueError, match="at least 3 patients of each label"):
        data.split_by_patient(cohort.subset(np.flatnonzero(labels == 0)[:50]), 0.15, 0.2, seed=0)


FRAMINGHAM_STYLE = """RANDID,SEX,TOTCHOL,AGE,SYSBP,DIABP,CURSMOKE,CIGPDAY,BMI,DIABETES,BPMEDS,HEARTRTE,GLUCOSE,HDLC,TIME,PERIOD,ANYCHD
2448,1,195,39,106,70,0,0,26.97,0,0,80,77,,0,1,1
2448,1,209,52,121,66,0,0,,0,0,69,92,31,4628,3,1
6238,2,250,46,121,81,0,0,28.73,0,0,95,76,,0,1,0
6238,2,260,52,105,69.5,0,0,29.43,0,0,80,86,,2156,2,0
6238,2,237,58,108,66,0,0,28.5,0,0,80,71,54,4344,3,0
9428,1,245,48,127.5,80,1,20,25.34,0,0,75,70,,0,1,0
"""
FRAMINGHAM_COLUMNS = ("SEX", "AGE", "SYSBP", "DIABP", "TOTCHOL", "HDLC", "HEARTRTE", "BMI", "GLUCOSE", "CURSMOKE",
                      "CIGPDAY", "BPMEDS", "DIABETES")


def test_a_framingham_style_cohort_loads_and_the_model_scores_it(tmp_path):
    from tasks.heart_attack.config import ModelConfig
    from tasks.heart_attack.model import build_model, fit_normalization, predict_risk

    path = write(tmp_path, FRAMINGHAM_STYLE, "frmgham.csv")
    cfg = DataConfig(source="file", path=str(path), id_column="RANDID", time_column="TIME",
                     feature_columns=FRAMINGHAM_COLUMNS, label_column="ANYCHD", max_visits=3)
    cohort, report = data.load_cohort(cfg)
    assert list(cohort.patient_ids) == ["2448", "6238", "9428"] and list(cohort.labels) == [1, 0, 0]
    assert cohort.exams.shape == (3, 3, 14) and report["time_format"] == "number"
    assert np.isnan(cohort.exams[2, :2]).all()  # one visit: two padded rows
    assert np.isnan(cohort.exams[0, 1, 5]) and cohort.exams[0, 2, 5] == 31  # HDLC measured at period 3 only
    mean, std = fit_normalization(cohort.exams)
    model = build_model(ModelConfig(), 14, mean, std, {0: 0.75, 1: 1.5}, presence_features=13)
    risk = predict_risk(model, cohort.exams)
    assert risk.shape == (3,) and np.isfinite(risk).all() and ((risk > 0) & (risk < 1)).all()
