"""Requests per second of the exported sentiment_stars SavedModel at batch 1 and batch 256.

    python -m benchmarks.serving [--model exports/sentiment_stars] [--json PATH]

Loads the export with `tf.saved_model.load` (as a serving process would: no project model
code) and calls its `serving_default` signature with raw review strings, the way
`tasks.sentiment_stars.predict` and TF Serving do. A request is one call: 1 review at
batch 1, 256 reviews at batch 256. Reviews come from the built-in corpus's test split
when it exists (else `--texts FILE`, one review per line), so lengths are realistic.
Batch sizes are timed in interleaved repetitions; the table shows medians.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path


def builtin_test() -> Path:
    """test.csv of the built-in corpus a default `python -m tasks.sentiment_stars.train` wrote."""
    from tasks.common.materialize import settings_folder
    from tasks.sentiment_stars.data import DataConfig, builtin_manifest

    return settings_folder(DataConfig().builtin_dir, builtin_manifest(DataConfig())) / "test.csv"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="exports/sentiment_stars",
                        help="export root (newest version) or a version dir")
    parser.add_argument("--texts", help="UTF-8 file of reviews, one per line "
                                        "(default: the text column of the built-in corpus's test.csv)")
    parser.add_argument("--batch", type=int, action="append",
                        help="batch sizes (repeatable; default 1 and 256)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repetitions")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per repetition")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="TensorFlow intra- and inter-op threads")
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args(argv)
    args.batch = args.batch or [1, 256]
    if min(args.batch) < 1 or args.repeats < 1 or args.seconds <= 0 or args.threads < 1:
        parser.error("--batch, --repeats and --threads must be >= 1 and --seconds > 0")
    return args


def load_reviews(path):
    """Review texts: one per line of a text file, or the `text` column of the built-in CSV."""
    import pandas as pd

    if path:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        reviews = [line for line in lines if line.strip()]
    elif (builtin := builtin_test()).is_file():
        reviews = pd.read_csv(builtin)["text"].astype(str).tolist()
    else:
        raise SystemExit(f"no reviews: {builtin} does not exist (run "
                         "`python -m tasks.sentiment_stars.train` once) and --texts was not given")
    if not reviews:
        raise SystemExit(f"no reviews in {path or 'the built-in test.csv'}")
    return reviews


class Requests:
    """Calls of the signature with `batch` reviews each, cycling through the reviews."""

    def __init__(self, serve, reviews, batch, seconds):
        import tensorflow as tf

        repeated = (reviews * (batch // len(reviews) + 2))
        self.batches = [tf.constant(repeated[start:start + batch])
                        for start in range(0, len(reviews), batch)[:64]]
        self.serve, self.batch, self.samples, self.next = serve, batch, [], 0
        self.call()  # first call: trace and warm caches
        start, calls = time.perf_counter(), 0
        while calls < 3 or time.perf_counter() - start < seconds / 4:
            self.call()
            calls += 1
        self.calls = max(3, round(seconds / ((time.perf_counter() - start) / calls)))

    def call(self):
        text = self.batches[self.next % len(self.batches)]
        self.next += 1
        return self.serve(text=text)["stars"].numpy()

    def run(self):
        start = time.perf_counter()
        for _ in range(self.calls):
            self.call()
        self.samples.append(self.calls / (time.perf_counter() - start))


def main(argv=None):
    args = parse_args(argv)
    import tensorflow as tf

    from tasks.common.export import resolve_export

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    try:
        directory = resolve_export(args.model)
    except FileNotFoundError as error:
        raise SystemExit(f"error: {error}") from None
    serve = tf.saved_model.load(str(directory)).signatures["serving_default"]
    reviews = load_reviews(args.texts)
    requests = {batch: Requests(serve, reviews, batch, args.seconds) for batch in args.batch}
    for _ in range(args.repeats):
        for request in requests.values():
            request.run()
    rows = []
    for batch, request in requests.items():
        rate = statistics.median(request.samples)
        rows.append({"batch": batch, "requests_per_s": round(rate, 1),
                     "reviews_per_s": round(rate * batch, 1),
                     "ms_per_request": round(1000 / rate, 3)})
    print(f"export {directory}, {args.threads} threads, median of {args.repeats}")
    print(f"{'batch':>6}{'requests/s':>14}{'reviews/s':>14}{'ms/request':>13}")
    for row in rows:
        print(f"{row['batch']:>6}{row['requests_per_s']:>14}{row['reviews_per_s']:>14}"
              f"{row['ms_per_request']:>13}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"export": str(directory), "threads": args.threads, "rows": rows}, file, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
