"""Heart-attack risk from an exported SavedModel (not the Python model).

    python -m tasks.heart_attack.predict --model exports/heart_attack --csv visits.csv
    python -m tasks.heart_attack.predict --model exports/heart_attack --exams patients.jsonl
    python -m tasks.heart_attack.predict --model exports/heart_attack --features

--csv: a long-format visits file with the columns the model was trained on (id, time, measurements; a
label column is ignored), one or more patients, rows in any order. Prints one JSON line per patient:
{"patient_id": ..., "risk": 0.123, "visits": 7}.

--exams: JSON lines, one patient per line, each a list of visits in time order, each visit a list of the
F feature values in the export's order, null for a value not measured (a visit of only nulls is a
missed visit). Prints {"line": n, "risk": ...} per patient.

The feature order is recorded in the export: `--features` prints it, the SavedModel's "feature_names"
signature returns it, and assets.extra/feature_names.txt lists it.

Categorical columns (data.categorical_columns, e.g. sex f/m): --csv reads their text codes and turns them
into the export's `column=code` 0/1 features with the mapping fitted on the training patients (stored in
assets.extra/input_spec.json, printed by --features as "categories"). A code the training data did not
have stops with file:line; with --on-bad-row skip it is treated as not measured (and counted). --exams
takes the 0/1 features themselves, in the feature order.
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap

import numpy as np
import tensorflow as tf

from tasks.common.errors import DataError
from tasks.common.predict import open_export, print_json_lines
from tasks.common.run import main_guard
from tasks.common.tables import iter_json_lines, read_text
from tasks.heart_attack import data
from tasks.heart_attack.config import DataConfig

BUILTIN_FEATURES = data.feature_names(DataConfig())
FEATURE_ORDER_HELP = textwrap.fill(
    f"Feature order of a model trained on the built-in data (F = {len(BUILTIN_FEATURES)}): "
    f"{', '.join(BUILTIN_FEATURES)}. {data.GAP_FEATURE} is the time since the patient's previous visit "
    "(days when the time column holds dates; 0 at the first visit).", 100)


def read_exams_lines(text: str, path: str, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """JSON lines of patients -> (line numbers (N,), exams (N, T, F) float32: NaN for null, shorter
    patients padded at the front with all-NaN visits, which the model masks)."""
    patients = []
    for number, visits in iter_json_lines(text, path):
        if not isinstance(visits, list) or not visits or not all(isinstance(v, list) for v in visits):
            raise DataError(path, number, "expected a list of visits, each a list of feature values")
        for index, visit in enumerate(visits, start=1):
            if len(visit) != n_features:
                raise DataError(path, number, f"visit {index} has {len(visit)} values; the model takes {n_features} "
                                              "(see --features for the order)")
            if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in visit):
                raise DataError(path, number, f"visit {index}: values must be numbers or null, "
                                              f"got {json.dumps(visit)}")
        with np.errstate(over="ignore"):
            values = np.array([[np.nan if v is None else v for v in visit] for visit in visits], dtype=np.float32)
        infinite = np.isinf(values)  # Infinity in the JSON, or a number beyond float32 such as 1e300
        if infinite.any():
            visit, feature = (int(i) for i in np.argwhere(infinite)[0])
            raise DataError(path, number, f"visit {visit + 1}: value {visits[visit][feature]!r} is not a finite "
                                          "float32 number")
        if np.isnan(values).all():
            raise DataError(path, number, "the patient has no measured value (every value is null)")
        patients.append((number, values))
    if not patients:
        raise DataError(path, None, "no patients")
    longest = max(len(visits) for _, visits in patients)
    exams = np.full((len(patients), longest, n_features), np.nan, dtype=np.float32)
    for row, (_, visits) in enumerate(patients):
        exams[row, longest - len(visits):] = visits
    return np.array([number for number, _ in patients]), exams


@main_guard
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.heart_attack.predict", description=__doc__,
                                     epilog=FEATURE_ORDER_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="exports/heart_attack", help="export root (newest version) or a version dir")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", help="long-format visits file (.csv/.tsv/.parquet/.jsonl), one or more patients")
    source.add_argument("--exams", help="JSON lines of patients' exams ('-' for stdin)")
    source.add_argument("--features", action="store_true", help="print the export's feature order and exit")
    parser.add_argument("--on-bad-row", choices=["error", "skip"], default="error",
                        help="--csv: stop at a bad row, or skip it and count it")
    args = parser.parse_args(argv)
    loaded, directory = open_export(args.model, inputs={"exams"}, outputs={"risk"}, signatures=("feature_names",))
    names = [name.decode() for name in loaded.signatures["feature_names"]()["feature_names"].numpy()]
    spec = json.loads((directory / "assets.extra" / "input_spec.json").read_text(encoding="utf-8"))
    if args.features:
        print(json.dumps({"feature_names": names, "categories": spec.get("categories", {})}))
        return 0
    if args.csv:
        cohort, report = data.load_cohort(data.data_config_for_prediction(spec, args.csv, args.on_bad_row),
                                          with_labels=False)
        cohort, unknown = data.encode_categories(cohort, spec.get("categories", {}), args.csv,
                                                 "error" if args.on_bad_row == "error" else "missing")
        if unknown:
            print(f"codes not seen in training, treated as missing: {unknown}", file=sys.stderr)
        keys = [{"patient_id": patient_id} for patient_id in cohort.patient_ids]
        exams = cohort.exams
        if report["skipped_rows"]:
            print(f"skipped rows: {report['skipped_rows']}", file=sys.stderr)
    else:
        text = sys.stdin.read() if args.exams == "-" else read_text(args.exams)
        lines, exams = read_exams_lines(text, args.exams, len(names))
        keys = [{"line": int(number)} for number in lines]
    measured = data.measurement_count(names)  # a visit with only a gap value is absent
    visits = (~np.isnan(exams[..., :measured])).any(axis=-1).sum(axis=1)
    if not visits.all():  # a risk computed from nothing would look like a real one
        key = keys[int(np.argmin(visits))]
        who = f"patient {key['patient_id']}" if "patient_id" in key else "the patient"
        raise DataError(args.csv or args.exams, key.get("line"), f"{who} has no measured value")
    if not np.isfinite(exams[~np.isnan(exams)]).all():
        raise DataError(args.csv or args.exams, None, "a value is not a finite float32 number")
    risk = loaded.signatures["serving_default"](exams=tf.constant(exams))["risk"].numpy()
    print_json_lines({**key, "risk": round(float(r), 6), "visits": int(v)} for key, r, v in zip(keys, risk, visits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
