"""SavedModel export in the TF Serving layout: exports/<task>/<version>/, atomic and never overwriting.

The export is written into a hidden temporary directory beside the versions and renamed into place, so
TF Serving (which polls the directory) and `resolve_export` never see a half-written model.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

from tasks.common.atomic import atomic_dir, remove_stale_staging
from tasks.common.errors import ExportNotFoundError

log = logging.getLogger(__name__)


class KerasServingModule(tf.Module):
    """Base class of the exports that wrap one Keras model (heart_attack, sentiment_stars, video_actions; the
    translation export is its own tf.Module, the Translator): holds the model and tracks all variables it reads.

    Subclasses add a `tf.function` with an `input_signature` on raw inputs. Keras keeps the seed generators of
    RNN cell dropout outside the TF object graph, and keras.layers.RNN draws (unused) dropout masks even at
    inference, so without this list tf.saved_model.save refuses the serving function ("untracked resource").
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        self._model_variables = [v.value for v in model.variables]


def versions(root: Path) -> list[int]:
    """Complete integer version directories (holding saved_model.pb) under an export root, ascending."""
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir()
                  if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").is_file())


def _next_version(root: Path) -> str:
    taken = [int(p.name) for p in root.iterdir() if p.name.isdigit()]  # files too: never rename onto one
    return str(max(taken, default=0) + 1)


RUN_ASSET = "run.json"  # assets.extra/run.json: the run dir that produced this version


def _version_of_run(root: Path, run_dir) -> Path | None:
    wanted = str(Path(run_dir).resolve())
    for version in versions(root):
        record = root / str(version) / "assets.extra" / RUN_ASSET
        try:
            if json.loads(record.read_text(encoding="utf-8")).get("run_dir") == wanted:
                return root / str(version)
        except (OSError, ValueError):
            continue
    return None


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
    remove_stale_staging(root)
    run_dir = getattr(run, "run_dir", None)  # None: an export not tied to a run dir (tools, tests)
    earlier = _version_of_run(root, run_dir) if run_dir is not None else None
    if earlier is not None:  # killed after the rename and before metrics.json: the rerun keeps that version
        log.info("this run was already exported to %s", earlier)
        return earlier
    version = atomic_dir(root, lambda: _next_version(root))  # the number is taken at the rename
    with version as staging:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        # The run's own record goes in before the rename, so "exported" and "knows its run" happen at once.
        if run_dir is not None:
            assets = {**(assets or {}), RUN_ASSET: json.dumps({"run_dir": str(Path(run_dir).resolve())}) + "\n"}
        for name, text in (assets or {}).items():
            extra = staging / "assets.extra"
            extra.mkdir(exist_ok=True)
            (extra / name).write_text(text, encoding="utf-8")
    target = version.path
    log.info("exported %s", target)
    return target


def resolve_export(path: str | os.PathLike) -> Path:
    """A SavedModel directory: `path` itself, or the newest version under an export root like exports/<task>."""
    path = Path(path)
    if (path / "saved_model.pb").exists():
        return path
    found = versions(path)  # complete versions only: a numbered directory without saved_model.pb is skipped
    if not found:
        raise ExportNotFoundError(f"{path}: no SavedModel here and no numbered versions with a saved_model.pb under "
                                "it; train first (make train) or pass --model exports/<task>/<version>")
    return path / str(found[-1])
