"""The built-in corpus as files: train.tsv, valid.tsv and test.tsv, the format a user's pairs come in."""
from __future__ import annotations

from pathlib import Path

from tasks.common.materialize import materialize
from tasks.translation.grammar.sampler import generate_corpus

SPLIT_FILES = {"train": "train.tsv", "val": "valid.tsv", "test": "test.tsv"}
GENERATOR = "translation.grammar/1"  # a new version when the grammar changes what it writes


def write_corpus(directory, num_train: int, num_val: int, num_test: int, seed: int) -> dict[str, Path]:
    """Writes train.tsv, valid.tsv and test.tsv (english<TAB>vietnamese, no header); returns split -> path.

    They go to a folder under `directory` named by these arguments, written once and reused
    (tasks/common/materialize.py); nothing already there is replaced.
    """
    def write(folder: Path) -> None:
        for split, pairs in generate_corpus(num_train, num_val, num_test, seed).items():
            text = "".join(f"{english}\t{vietnamese}\n" for english, vietnamese in pairs)
            (folder / SPLIT_FILES[split]).write_text(text, encoding="utf-8")

    settings = {"generator": GENERATOR, "pairs": [num_train, num_val, num_test], "seed": seed}
    folder = materialize(directory, settings, write)
    return {split: folder / name for split, name in SPLIT_FILES.items()}
