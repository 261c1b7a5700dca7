"""Built-in data: a seeded simulator of a cardiology cohort followed by monthly exams.

Each simulated patient is enrolled on a random date, is scheduled for one exam a month for
`n_months` months and then followed for a heart attack (the label). The file it writes is the
long format a clinic would export, one row per attended visit:

    patient_id, visit_date, age, sex, systolic_bp, diastolic_bp, total_cholesterol,
    hdl_cholesterol, heart_rate, bmi, glucose, current_smoker, cigarettes_per_day,
    bp_medication, diabetes, heart_attack

Units: mmHg, mg/dL, beats/min, kg/m^2, sex coded 1 = male, 2 = female (Framingham's coding),
0/1 flags. `heart_attack` is the per-patient outcome, repeated on every row of the patient.

How risk is made (so that the sequence matters, not only the last exam):
- every measurement follows a latent linear trajectory (baseline level + monthly slope); about a
  quarter of patients have a deteriorating trajectory (blood pressure, cholesterol, heart rate or
  weight rising, HDL falling), and the log-odds of the outcome grow with how fast each one
  *changes over the follow-up*, on top of the classic static factors (age, sex, smoking,
  diabetes, levels);
- the baseline levels vary between patients much more than the year's change, so one exam
  cannot tell a patient who has always had a blood pressure of 150 from one who rose from 125 to
  150; the exam-to-exam noise hides slopes from a single pair of exams;
- the intercept is solved so that the cohort's expected positive rate is `positive_rate`.

Realistic mess: visits missed at a patient-specific rate (and some patients leave the study
early), visit dates scattered around the schedule, lab values drawn at only some visits,
occasional blank cells, rows written in shuffled order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tasks.common.errors import ConfigError
from tasks.common.materialize import materialize

GENERATOR = "heart_attack.simulate_cohort/1"  # a new version when the simulator changes what it writes
ID_COLUMN = "patient_id"
TIME_COLUMN = "visit_date"
LABEL_COLUMN = "heart_attack"
FEATURE_COLUMNS = (
    "age", "sex", "systolic_bp", "diastolic_bp", "total_cholesterol", "hdl_cholesterol",
    "heart_rate", "bmi", "glucose", "current_smoker", "cigarettes_per_day", "bp_medication",
    "diabetes",
)

# Probability that a measurement is absent from an attended visit: labs are drawn at some visits
# only, the rest is the odd blank cell.
MISSING_PROBABILITY = {
    "systolic_bp": 0.02, "diastolic_bp": 0.02, "total_cholesterol": 0.45, "hdl_cholesterol": 0.5,
    "heart_rate": 0.05, "bmi": 0.15, "glucose": 0.45, "current_smoker": 0.03,
    "cigarettes_per_day": 0.1, "bp_medication": 0.03, "diabetes": 0.03,
}

# Log-odds per unit of change over the whole follow-up (last scheduled month minus first),
# the part of the risk that only a sequence can see.
TRAJECTORY_LOG_ODDS = {
    "systolic_bp": 0.07,        # per mmHg of rise
    "total_cholesterol": 0.03,  # per mg/dL of rise
    "hdl_cholesterol": -0.12,   # per mg/dL of rise (a falling HDL raises risk)
    "heart_rate": 0.08,         # per beat/min of rise
    "bmi": 0.5,                 # per kg/m^2 gained
}


# Log-odds per mmHg of a patient's visit-to-visit SD of systolic pressure: nonlinear in the exams
# (a spread, not a sum), so no linear model over the visits can use it.
BP_VARIABILITY_LOG_ODDS = 0.15


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _solve_intercept(log_odds: np.ndarray, positive_rate: float) -> float:
    """The intercept b such that mean(sigmoid(b + log_odds)) == positive_rate (bisection)."""
    low, high = -30.0, 30.0
    for _ in range(100):
        middle = (low + high) / 2
        if _sigmoid(middle + log_odds).mean() < positive_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def simulate_cohort(n_patients: int = 6000, n_months: int = 12, positive_rate: float = 0.1,
                    seed: int = 0) -> pd.DataFrame:
    """Simulates the cohort and returns its long-format visits table (rows in shuffled order)."""
    if n_patients < 1:
        raise ConfigError(f"n_patients must be >= 1, got {n_patients}")
    if n_months < 2:
        raise ConfigError(f"n_months must be >= 2, got {n_months}")
    if not 0.0 < positive_rate < 1.0:
        raise ConfigError(f"positive_rate must be in (0, 1), got {positive_rate}")
    rng = np.random.default_rng(seed)
    n = n_patients
    months = np.arange(n_months, dtype=np.float64)  # month 0 is enrolment

    # Static factors.
    age0 = rng.uniform(40, 75, n)
    male = rng.random(n) < 0.5
    smoker = rng.random(n) < 0.3
    cigarettes = np.where(smoker, np.clip(np.round(rng.normal(15, 8, n)), 1, 60), 0.0)
    diabetes = rng.random(n) < 0.05 + 0.004 * (age0 - 40)

    # A quarter of the patients deteriorate: each of their trajectories drifts the harmful way.
    deteriorating = rng.random(n) < 0.25

    def slopes(healthy_sd: float, drift_mean: float, drift_sd: float) -> np.ndarray:
        """Monthly slopes: near zero for most, drifting for the deteriorating patients."""
        drift = rng.normal(drift_mean, drift_sd, n) * (rng.random(n) < 0.7)
        return rng.normal(0.0, healthy_sd, n) + np.where(deteriorating, drift, 0.0)

    # (typical level, monthly slope). Trajectories are centred on the middle of the follow-up: a
    # deteriorating patient starts below their typical level and ends above it.
    trajectories = {
        "systolic_bp": (rng.normal(127 + 0.5 * (age0 - 55) + 4 * male, 15), slopes(0.3, 1.6, 0.6)),
        "total_cholesterol": (rng.normal(205, 35, n), slopes(0.6, 3.0, 1.0)),
        "hdl_cholesterol": (rng.normal(np.where(male, 46, 56), 11), slopes(0.1, -0.6, 0.2)),
        "heart_rate": (rng.normal(72, 9, n), slopes(0.15, 1.0, 0.4)),
        "bmi": (rng.normal(27, 4.5, n), slopes(0.03, 0.25, 0.1)),
        "glucose": (rng.normal(np.where(diabetes, 140, 95), np.where(diabetes, 25, 10)),
                    rng.normal(0.0, 0.3, n) + diabetes * rng.normal(1.0, 0.5, n)),
    }
    centred_months = months - months.mean()
    true = {name: level[:, None] + slope[:, None] * centred_months
            for name, (level, slope) in trajectories.items()}
    true["diastolic_bp"] = 0.5 * true["systolic_bp"] + rng.normal(16, 5, n)[:, None]
    # Medication is started at enrolment for the hypertensive and lowers the pressure it is given for.
    on_medication = rng.random(n) < _sigmoid((trajectories["systolic_bp"][0] - 150) / 6) * 0.7
    true["systolic_bp"] -= 8 * on_medication[:, None]

    log_odds = (
        0.55 * (age0 - 55) / 10 + 0.45 * male + 0.5 * smoker + 0.015 * cigarettes + 0.6 * diabetes
        + 0.012 * (true["systolic_bp"].mean(1) - 130) + 0.004 * (true["total_cholesterol"].mean(1) - 205)
        - 0.02 * (true["hdl_cholesterol"].mean(1) - 50) + 0.05 * (true["bmi"].mean(1) - 27)
    )
    # Visit-to-visit variability of systolic pressure (Rothwell et al., Lancet 2010): a per-patient SD.
    bp_variability = np.exp(rng.normal(np.log(7.0), 0.35, n))
    log_odds = log_odds + BP_VARIABILITY_LOG_ODDS * (bp_variability - 7.0)
    span = n_months - 1
    for name, per_unit in TRAJECTORY_LOG_ODDS.items():
        log_odds = log_odds + per_unit * trajectories[name][1] * span
    probability = _sigmoid(_solve_intercept(log_odds, positive_rate) + log_odds)
    heart_attack = (rng.random(n) < probability).astype(np.int64)

    # Exam-to-exam noise, rounded the way a chart records it. Blood pressure is more labile in some
    # patients than in others (per-patient SD), and that lability is itself a risk factor.
    noise_sd = {"systolic_bp": bp_variability[:, None], "diastolic_bp": 5, "total_cholesterol": 9,
                "hdl_cholesterol": 3, "heart_rate": 5, "bmi": 0.3, "glucose": 7}
    decimals = {"bmi": 1}
    observed = {name: np.round(values + rng.normal(0, noise_sd[name], values.shape), decimals.get(name, 0))
                for name, values in true.items()}
    observed["age"] = np.floor(age0[:, None] + months / 12)
    observed["sex"] = np.broadcast_to(np.where(male, 1.0, 2.0)[:, None], (n, n_months))
    observed["current_smoker"] = np.broadcast_to(smoker[:, None].astype(float), (n, n_months))
    observed["cigarettes_per_day"] = np.clip(
        cigarettes[:, None] + np.where(smoker[:, None], np.round(rng.normal(0, 2, (n, n_months))), 0), 0, None)
    observed["bp_medication"] = np.broadcast_to(on_medication[:, None].astype(float), (n, n_months))
    observed["diabetes"] = np.broadcast_to(diabetes[:, None].astype(float), (n, n_months))

    # Which scheduled visits happen: a patient-specific miss rate, some leave early, and every
    # patient keeps at least the enrolment visit and one more.
    miss_rate = rng.beta(1.5, 8, n)
    attended = rng.random((n, n_months)) >= miss_rate[:, None]
    leaves_at = np.where(rng.random(n) < 0.1, rng.integers(min(3, n_months), n_months + 1, n), n_months)
    attended &= months[None, :] < leaves_at[:, None]
    attended[:, 0] = True
    attended[np.arange(n), rng.integers(1, leaves_at)] = True

    enrolment = pd.Timestamp("2021-01-04") + pd.to_timedelta(rng.integers(0, 540, n), unit="D")
    jitter_days = np.clip(np.round(rng.normal(0, 5, (n, n_months))), -12, 12)
    jitter_days[:, 0] = 0
    offset_days = np.round(months * 30.44) + jitter_days

    patient, month = np.nonzero(attended)
    table = {ID_COLUMN: np.char.add("P", np.char.zfill((patient + 1).astype(str), 5)),
             TIME_COLUMN: (enrolment[patient] + pd.to_timedelta(offset_days[patient, month], unit="D"))
             .strftime("%Y-%m-%d")}
    for name in FEATURE_COLUMNS:
        values = np.array(observed[name], dtype=np.float64)[patient, month]
        values[rng.random(values.shape) < MISSING_PROBABILITY.get(name, 0.0)] = np.nan
        table[name] = values
    table[LABEL_COLUMN] = heart_attack[patient]
    frame = pd.DataFrame(table)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def write_builtin_data(directory: str | Path, n_patients: int = 6000, n_months: int = 12,
                       positive_rate: float = 0.1, seed: int = 0) -> Path:
    """The simulated cohort's `visits.csv`, written once into a folder under `directory` named by these
    arguments (tasks/common/materialize.py); returns its path."""
    def write(folder: Path) -> None:
        frame = simulate_cohort(n_patients, n_months, positive_rate, seed)
        # Integer-valued columns are written without ".0"; blank cells are missing values.
        frame.to_csv(folder / "visits.csv", index=False, float_format="%.10g")

    settings = {"generator": GENERATOR, "patients": n_patients, "months": n_months,
                "positive_rate": positive_rate, "seed": seed}
    return materialize(directory, settings, write) / "visits.csv"
