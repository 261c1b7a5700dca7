"""Seed ensembles: N members trained like one model, averaged inside one Keras model (and so one export).

Small real data sets make a single model's result depend on its training seed more than on any setting;
the mean of a few members trained with seeds seed, seed + 1, ... is steadier than any one of them.
"""
from __future__ import annotations

import dataclasses

import keras

from tasks.common.training import FitResult


def member_run(run, member: int, members: int):
    """The run a member trains in: the run itself for a single model (the usual layout), else its own
    `members/<k>/` (checkpoints, TensorBoard, history) under the run's worker dir, so a killed run resumes
    member by member."""
    if members == 1:
        return run
    return dataclasses.replace(run, worker_dir=run.worker_dir / "members" / str(member))


def member_name(run, name: str) -> str:
    """A member's model name, `<name>_member_<k>` inside `member_run`'s dir (members nested in one model need
    distinct names), else `name`."""
    folder = run.worker_dir
    return f"{name}_member_{folder.name}" if folder.parent.name == "members" else name


def train_members(run, count: int, train_member) -> tuple[list, list[FitResult], list]:
    """Trains `count` members, member k with seed train.seed + k (set globally first) in `member_run`'s dir.

    `train_member(member_run, seed)` returns (model, FitResult, what the task reports of it); the three
    lists come back in member order, for `average_models` and `combined_fit_result`."""
    models, fits, reports = [], [], []
    for member in range(count):
        seed = run.config.train.seed + member
        keras.utils.set_random_seed(seed)
        model, fit, report = train_member(member_run(run, member, count), seed)
        models.append(model)
        fits.append(fit)
        reports.append(report)
    return models, fits, reports


def average_models(members: list[keras.Model], name: str) -> keras.Model:
    """One model whose output is the mean of the members' outputs (the member itself when there is one).

    Members share their inputs' shapes and dtypes; averaging probabilities (not logits) keeps each member's
    calibration, and the mean of calibrated risks is calibrated."""
    if len(members) == 1:
        return members[0]
    inputs = [keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype, name=tensor.name.split(":")[0])
              for tensor in members[0].inputs]
    inputs = inputs[0] if len(inputs) == 1 else inputs
    output = keras.layers.Average(name="ensemble_mean")([member(inputs) for member in members])
    return keras.Model(inputs, output, name=name)


def combined_fit_result(results: list[FitResult]) -> FitResult:
    """The members' fits as one: seconds and epochs summed, each history key the members' epochs one after
    another (member 0's first), speed the median member's."""
    if len(results) == 1:
        return results[0]
    history = {key: [value for result in results for value in result.history.get(key, [])]
               for key in results[0].history}
    ends, offset = [], 0.0
    for result in results:
        ends += [offset + seconds for seconds in result.epoch_end_seconds]
        offset += result.train_seconds
    speeds = sorted(result.examples_per_second for result in results)
    return FitResult(history=history, train_seconds=sum(r.train_seconds for r in results),
                     examples_per_second=speeds[len(speeds) // 2], epoch_end_seconds=ends,
                     epochs_run=sum(r.epochs_run for r in results))
