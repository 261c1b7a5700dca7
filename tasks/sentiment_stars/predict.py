"""Stars for reviews from an exported SavedModel (not the Python model).

    python -m tasks.sentiment_stars.predict --model exports/sentiment_stars "ứng dụng tốt" "giao hàng chậm"
    python -m tasks.sentiment_stars.predict --model exports/sentiment_stars --file reviews.txt   # one per line

Prints one JSON line per review: {"text": ..., "stars": 4, "probabilities": [...]}.
"""
from __future__ import annotations

import argparse
import sys

import tensorflow as tf

from tasks.common.predict import load_export, print_json_lines
from tasks.common.run import main_guard
from tasks.common.tables import read_text


@main_guard
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.sentiment_stars.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="exports/sentiment_stars", help="export root (newest version) or a version dir")
    parser.add_argument("--file", help="UTF-8 text file, one review per line ('-' for stdin)")
    parser.add_argument("texts", nargs="*", help="reviews")
    args = parser.parse_args(argv)
    texts = list(args.texts)
    if args.file:
        content = sys.stdin.read() if args.file == "-" else read_text(args.file)
        texts += [line for line in content.splitlines() if line.strip()]
    if not texts:
        parser.error("give reviews as arguments or --file")
    serve, _ = load_export(args.model, inputs={"text"}, outputs={"stars", "probabilities"})
    for start in range(0, len(texts), 256):
        chunk = texts[start:start + 256]
        outputs = serve(text=tf.constant(chunk))
        print_json_lines({"text": text, "stars": stars, "probabilities": [round(float(p), 4) for p in probs]}
                         for text, stars, probs in zip(chunk, outputs["stars"].numpy(),
                                                       outputs["probabilities"].numpy()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
