"""Translate English to Vietnamese with an exported SavedModel (not the Python model).

    python -m tasks.translation.predict --model exports/translation "I love Vietnam"
    python -m tasks.translation.predict --model exports/translation --greedy --file sentences.txt   # one per line
    python -m tasks.translation.predict --model exports/translation --beam-width 8 --json "Do you like tea?"

Prints one translation per line, in input order; with --json, one JSON line per sentence:
{"text": ..., "translation": ..., "log_probability": ...}.
"""
from __future__ import annotations

import argparse
import sys

import tensorflow as tf

from tasks.common.predict import open_export, print_json_lines
from tasks.common.run import main_guard
from tasks.common.tables import read_text

BATCH = 128


@main_guard
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.translation.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="exports/translation", help="export root (newest version) or a version dir")
    parser.add_argument("--file", help="UTF-8 text file, one sentence per line ('-' for stdin)")
    decoder = parser.add_mutually_exclusive_group()
    decoder.add_argument("--greedy", action="store_true", help="greedy decoding instead of beam search")
    decoder.add_argument("--beam-width", type=int, help="beam width (default: the width the model was exported with)")
    parser.add_argument("--json", action="store_true", help="JSON lines with the log-probability")
    parser.add_argument("texts", nargs="*", help="English sentences")
    args = parser.parse_args(argv)
    if args.beam_width is not None and args.beam_width < 1:
        parser.error(f"--beam-width must be >= 1, got {args.beam_width}")
    texts = list(args.texts)
    if args.file:
        content = sys.stdin.read() if args.file == "-" else read_text(args.file)
        texts += [line for line in content.splitlines() if line.strip()]
    if not texts:
        parser.error("give English sentences as arguments or --file")

    loaded, _ = open_export(args.model, inputs={"text"}, outputs={"translation", "log_probability"},
                            signatures=("greedy", "beam"))
    if args.greedy:
        translate = loaded.signatures["greedy"]
    elif args.beam_width is not None:
        beam, width = loaded.signatures["beam"], tf.constant(args.beam_width, tf.int32)
        translate = lambda text: beam(text=text, beam_width=width)  # noqa: E731
    else:
        translate = loaded.signatures["serving_default"]
    for start in range(0, len(texts), BATCH):
        chunk = texts[start:start + BATCH]
        outputs = translate(text=tf.constant(chunk, tf.string))
        translations = [value.decode("utf-8") for value in outputs["translation"].numpy()]
        if args.json:
            print_json_lines(({"text": text, "translation": translation, "log_probability": round(float(score), 4)}
                              for text, translation, score in zip(chunk, translations,
                                                                  outputs["log_probability"].numpy())),
                             stream=sys.stdout)  # the stdout of now, not of import time
        else:
            print("\n".join(translations), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
