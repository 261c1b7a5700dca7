"""The built-in corpus as files: train.tsv, valid.tsv and test.tsv, the format a user's pairs come in."""
from __future__ import annotations

from pathlib import Path

from tasks.common.files import write_generated
from tasks.translation.grammar.sampler import generate_corpus

SPLIT_FILES = {"train": "train.tsv", "val": "valid.tsv", "test": "test.tsv"}


def write_corpus(directory, num_train: int, num_val: int, num_test: int, seed: int) -> dict[str, Path]:
    """Writes train.tsv, valid.tsv and test.tsv (english<TAB>vietnamese, no header); returns split -> path.

    The files depend only on the arguments; an existing file with the same content is left untouched,
    and a new one is written beside it and renamed into place, so readers never see half a file. A file
    the generator did not write (a user's train.tsv) is never replaced: that is a DataError.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, pairs in generate_corpus(num_train, num_val, num_test, seed).items():
        path = directory / SPLIT_FILES[split]
        text = "".join(f"{english}\t{vietnamese}\n" for english, vietnamese in pairs)
        paths[split] = write_generated(path, text)  # never replaces a train.tsv the user put there
    return paths
