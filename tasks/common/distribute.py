"""Workarounds that let Keras 3.15's model.fit run under MultiWorkerMirroredStrategy.

Keras bugs stop multi-worker training of these tasks; two are patched here, narrowly (the third, its
multi-step loop, is avoided by `compile_model` using steps_per_execution=1 under multi_worker):

1. fit builds the model by reducing the first *distributed* batch with MEAN, which fails for string
   inputs ("Attempt to convert a value (PerReplica...)"). `build_before_fit` builds on a local batch
   instead and turns that step into a no-op for the model.
2. Each train step reduces its logs across workers with `strategy.reduce("MEAN", v, axis=0)`, which
   fails for scalar metrics ("Invalid reduction dimension 0 for input with 0 dimensions").
   `patch_multi_worker_reduce` reduces scalars with axis=None and leaves everything else to Keras.
"""
from __future__ import annotations

import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer

_keras_reduce_per_replica = tf_trainer.reduce_per_replica


def _rank(value) -> int | None:
    if isinstance(value, tf.distribute.DistributedValues):
        value = value.values[0]
    return value.shape.rank if hasattr(value, "shape") else None


def _reduce_per_replica(values, strategy, reduction):
    if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
        def reduce(value):
            if not isinstance(value, (tf.distribute.DistributedValues, tf.Tensor)):
                return value
            return strategy.reduce("MEAN", value, axis=0 if _rank(value) else None)
        return tf.nest.map_structure(reduce, values)
    return _keras_reduce_per_replica(values, strategy, reduction)


def patch_multi_worker_reduce() -> None:
    """Installs the scalar-aware reduction (idempotent)."""
    tf_trainer.reduce_per_replica = _reduce_per_replica


def build_before_fit(model, train_ds, strategy) -> None:
    """Builds model, loss and metrics on one local batch so fit skips its distributed-batch build."""
    with strategy.scope():
        model._symbolic_build(data_batch=next(iter(train_ds)))
    object.__setattr__(model, "_maybe_symbolic_build", lambda iterator=None, data_batch=None: None)
