"""SavedModel export in the TF Serving layout: exports/<task>/<version>/, atomic and never overwriting.

The export is written into a hidden temporary directory beside the versions and renamed into place, so
TF Serving (which polls the directory) and `resolve_export` never see a half-written model.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

log = logging.getLogger(__name__)


class KerasServingModule(tf.Module):
    """Base class of every task's export: holds the trained Keras model and tracks all variables it reads.

    Subclasses add a `tf.function` with an `input_signature` on raw inputs. Keras keeps the seed generators of
    RNN cell dropout outside the TF object graph, and keras.layers.RNN draws (unused) dropout masks even at
    inference, so without this list tf.saved_model.save refuses the serving function ("untracked resource").
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        self._model_variables = [v.value for v in model.variables]


def versions(root: Path) -> list[int]:
    """Integer version directories under an export root, ascending."""
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def export_saved_model(module: tf.Module, run, signatures: dict, assets: dict | None = None) -> Path | None:
    """Saves `module` with `signatures` as a new version of exports/<task>/; returns its path (None off the chief).

    `assets` maps file names to text written into the version's `assets.extra/` (read by humans and by
    predict, e.g. the feature order); TF Serving ignores that folder.
    """
    root = Path(run.config.train.export_dir) / run.task
    root.mkdir(parents=True, exist_ok=True)
    if not run.is_chief:  # under MultiWorkerMirroredStrategy every worker must save; others save to scratch
        scratch = Path(tempfile.mkdtemp(prefix="export-", dir=run.worker_dir))
        tf.saved_model.save(module, str(scratch), signatures=signatures)
        shutil.rmtree(scratch, ignore_errors=True)
        return None
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        for name, text in (assets or {}).items():
            extra = staging / "assets.extra"
            extra.mkdir(exist_ok=True)
            (extra / name).write_text(text, encoding="utf-8")
        while True:
            taken = [int(p.name) for p in root.iterdir() if p.name.isdigit()]  # files too: never rename onto one
            target = root / str(max(taken, default=0) + 1)
            try:
                os.rename(staging, target)
                break
            except OSError:
                if not target.exists():
                    raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("exported %s", target)
    return target


def resolve_export(path: str | os.PathLike) -> Path:
    """A SavedModel directory: `path` itself, or the newest version under an export root like exports/<task>."""
    path = Path(path)
    if (path / "saved_model.pb").exists():
        return path
    found = versions(path)
    if not found:
        raise FileNotFoundError(f"{path}: no SavedModel here and no numbered versions under it; "
                                "train first (make train) or pass --model exports/<task>/<version>")
    return path / str(found[-1])
