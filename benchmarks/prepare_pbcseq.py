"""pbcseq (Mayo PBC trial, sequential labs) -> a leakage-free visits CSV for the heart_attack loader.

    python -m benchmarks.prepare_pbcseq ../shared/realdata/visits_pbcseq/pbcseq.csv /tmp/pbcseq_visits.csv

The question: from the visits of the first `--window-days` (default 730, two years) after enrolment, will
the patient die later? Only visits inside the window are written (later visits would leak survival: a
patient seen for ten years did not die in year three), and patients whose follow-up ends inside the window
(death, transplant or censoring) are dropped, as their outcome after the window is unknown or already
known. A transplant after the window counts as not dead (label 0); `--transplant-positive` makes it 1.
`sex` stays text (f/m) for `data.categorical_columns`. configs in docs/heart_attack.md ("A real cohort").
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

FEATURES = ["age", "sex", "trt", "ascites", "hepato", "spiders", "edema", "bili", "chol", "albumin",
            "alk_phos", "ast", "platelet", "protime", "stage"]


def prepare(frame: pd.DataFrame, window_days: float = 730, transplant_positive: bool = False) -> pd.DataFrame:
    """Visits of the window with the label `died_later`, patients followed past the window only."""
    missing = sorted({"id", "futime", "status", "day", *FEATURES} - set(frame.columns))
    if missing:
        raise ValueError(f"pbcseq table lacks columns {missing}")
    followed = frame[frame["futime"] > window_days]
    visits = followed[followed["day"] <= window_days].copy()
    bad = {2, 1} if transplant_positive else {2}
    visits["died_later"] = visits["status"].isin(bad).astype(int)
    return visits[["id", "day", *FEATURES, "died_later"]].sort_values(["id", "day"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pbcseq_csv", help="pbcseq.csv as in ../shared/realdata/visits_pbcseq/")
    parser.add_argument("output_csv", help="visits CSV to write (must not exist)")
    parser.add_argument("--window-days", type=float, default=730, help="visits used: day <= this (default 730)")
    parser.add_argument("--transplant-positive", action="store_true", help="count a later transplant as positive")
    args = parser.parse_args(argv)
    output = Path(args.output_csv)
    if output.exists():
        raise SystemExit(f"error: {output} exists; not overwriting it")
    visits = prepare(pd.read_csv(args.pbcseq_csv), args.window_days, args.transplant_positive)
    visits.to_csv(output, index=False)
    patients = visits.groupby("id")["died_later"].first()
    print(f"{output}: {len(visits)} visits of {len(patients)} patients, {int(patients.sum())} positive "
          f"({patients.mean():.1%}), {visits.groupby('id').size().mean():.1f} visits each")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
