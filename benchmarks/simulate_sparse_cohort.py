"""A simulated cohort shaped like real epidemiological ones, to test the heart_attack defaults off the built-in data.

    python -m benchmarks.simulate_sparse_cohort /tmp/sparse.csv [--patients 4000] [--seed 0]

Unlike the built-in simulator (12 monthly exams, risk in the trajectories), this one has what real
cohorts of this kind have: a few thousand patients, 1-3 exams about six years apart (time in days, a number),
HDL drawn at the last exam only, glucose and cholesterol often missing, sex written as text (M/F), about
6% positives, and a risk mostly explained by the latest values (true levels at the last exam), with a
small part from the change since the first exam. Exam noise makes one exam a noisy reading of the level.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.heart_attack.data_builtin import _sigmoid, _solve_intercept

FEATURES = ["SEX", "AGE", "SYSBP", "DIABP", "TOTCHOL", "HDLC", "HEARTRTE", "BMI", "GLUCOSE", "CURSMOKE",
            "CIGPDAY", "BPMEDS", "DIABETES"]


def simulate(n: int = 4000, positive_rate: float = 0.06, seed: int = 0) -> pd.DataFrame:
    """Long-format visits: RANDID, TIME (days), the FEATURES, ANYCHD (0/1 per patient)."""
    rng = np.random.default_rng(seed)
    exams = 3
    male = rng.random(n) < 0.45
    age0 = rng.uniform(32, 70, n)
    years = np.array([0.0, 6.0, 12.0])[None, :] + rng.normal(0, 0.4, (n, exams)) * [0, 1, 1]
    def walk(start, drift, step_sd):  # a level that drifts and wanders between exams
        steps = rng.normal(drift[:, None], step_sd, (n, exams - 1))
        return np.concatenate([start[:, None], start[:, None] + np.cumsum(steps, axis=1)], axis=1)
    true = {
        "SYSBP": walk(rng.normal(125 + 0.6 * (age0 - 50), 18), rng.normal(4, 3, n), 8),
        "TOTCHOL": walk(rng.normal(230, 40, n), rng.normal(3, 5, n), 20),
        "HDLC": walk(rng.normal(np.where(male, 44, 55), 12), rng.normal(0, 1, n), 4),
        "HEARTRTE": walk(rng.normal(75, 11, n), np.zeros(n), 6),
        "BMI": walk(rng.normal(25.8, 4, n), rng.normal(0.4, 0.5, n), 1.0),
        "GLUCOSE": walk(rng.normal(82, 12, n), rng.normal(2, 3, n), 8),
    }
    smoker = walk((rng.random(n) < 0.5).astype(float), np.zeros(n), 0.0)
    quits = rng.random((n, exams)) < 0.15
    smoker = np.where(np.cumsum(quits, axis=1) > 0, 0.0, smoker)
    diabetes = np.maximum.accumulate(rng.random((n, exams)) < 0.02 + 0.03 * (true["GLUCOSE"] > 110), axis=1)
    attended = np.ones((n, exams), bool)
    attended[:, 1] = rng.random(n) < 0.82
    attended[:, 2] = rng.random(n) < np.where(attended[:, 1], 0.8, 0.4)
    last = exams - 1 - np.argmax(attended[:, ::-1], axis=1)
    rows = np.arange(n)
    at_last = {name: values[rows, last] for name, values in true.items()}
    age_last = age0 + years[rows, last]
    change = true["SYSBP"][rows, last] - true["SYSBP"][:, 0]
    log_odds = (0.6 * (age_last - 55) / 10 + 0.7 * male + 0.4 * smoker[rows, last] + 0.8 * diabetes[rows, last]
                + 0.018 * (at_last["SYSBP"] - 135) + 0.005 * (at_last["TOTCHOL"] - 235)
                - 0.03 * (at_last["HDLC"] - 50) + 0.03 * (at_last["BMI"] - 26) + 0.01 * (at_last["GLUCOSE"] - 85)
                + 0.01 * change)  # the part only a sequence sees: the rise of pressure since the first exam
    label = (rng.random(n) < _sigmoid(_solve_intercept(log_odds, positive_rate) + log_odds)).astype(int)

    noise = {"SYSBP": 10, "TOTCHOL": 25, "HDLC": 5, "HEARTRTE": 8, "BMI": 0.8, "GLUCOSE": 12}
    observed = {name: np.round(v + rng.normal(0, noise[name], v.shape), 1 if name == "BMI" else 0)
                for name, v in true.items()}
    observed["DIABP"] = np.round(0.5 * observed["SYSBP"] + rng.normal(18, 6, (n, exams)))
    observed["HDLC"][:, :2] = np.nan  # HDL measured at the third exam only
    observed["AGE"] = np.floor(age0[:, None] + years)
    observed["CURSMOKE"] = smoker
    observed["CIGPDAY"] = np.where(smoker > 0, np.clip(np.round(rng.normal(18, 9, (n, exams))), 1, 60), 0.0)
    observed["BPMEDS"] = (true["SYSBP"] > 160) & (rng.random((n, exams)) < 0.5)
    observed["DIABETES"] = diabetes
    patient, exam = np.nonzero(attended)
    table = {"RANDID": patient + 1001, "TIME": np.round(years[patient, exam] * 365.25)}
    blanks = {"TOTCHOL": 0.12, "GLUCOSE": 0.15, "BMI": 0.01, "HEARTRTE": 0.005, "CIGPDAY": 0.01, "BPMEDS": 0.04}
    for name in FEATURES:
        if name == "SEX":
            table[name] = np.where(male, "M", "F")[patient]
            continue
        values = np.asarray(observed[name], dtype=np.float64)[patient, exam]
        values[rng.random(values.shape) < blanks.get(name, 0.0)] = np.nan
        table[name] = values
    table["ANYCHD"] = label[patient]
    return pd.DataFrame(table)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_csv")
    parser.add_argument("--patients", type=int, default=4000)
    parser.add_argument("--positive-rate", type=float, default=0.06)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    output = Path(args.output_csv)
    if output.exists():
        raise SystemExit(f"error: {output} exists; not overwriting it")
    frame = simulate(args.patients, args.positive_rate, args.seed)
    frame.to_csv(output, index=False, float_format="%.10g")
    per_patient = frame.groupby("RANDID")["ANYCHD"].first()
    print(f"{output}: {len(frame)} visits of {len(per_patient)} patients, {per_patient.mean():.1%} positive")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
