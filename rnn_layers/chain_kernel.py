"""The chain ops (rnn_layers/kernels/rnn_chain.cc), loaded once; `None` where the library is not built.

`make install` builds the library (`python -m rnn_layers.kernels.build`). Without it, or when it was built
for another TensorFlow, `rnn_layers.SimpleRNN` trains with its TensorFlow-op BPTT instead (same values,
slower), and says so once.
"""
import functools
import os
import warnings

import tensorflow as tf

from rnn_layers.kernels import LIBRARY


@functools.cache
def chain_ops():
    """The module with `rnn_chain` and `rnn_chain_grad`, or None (with one warning) if it cannot load."""
    if not LIBRARY.exists():
        warnings.warn(f"{LIBRARY} is not built (run `make install`); rnn_layers.SimpleRNN uses TensorFlow ops")
        return None
    try:
        return tf.load_op_library(str(LIBRARY))
    except (tf.errors.NotFoundError, OSError) as error:
        warnings.warn(f"{LIBRARY} does not load ({error}); rebuild it with `python -m rnn_layers.kernels.build`")
        return None


def inter_op_helpers():
    """The ops' `inter_op_helpers` attr: whether their helper threads come from TensorFlow's inter-op pool.

    True when that pool has more than one thread (as configured, else TF_NUM_INTEROP_THREADS, else the
    usable cores): in a train step its spare thread is awake and starts a helper at once. With one
    inter-op thread (the op's own) the helpers must come from the intra-op pool.
    """
    threads = tf.config.threading.get_inter_op_parallelism_threads()
    threads = threads or int(os.environ.get("TF_NUM_INTEROP_THREADS") or 0) or len(os.sched_getaffinity(0))
    return threads > 1
