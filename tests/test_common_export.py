"""Export: versioned TF Serving layout, atomic, never overwriting; loads in a process that imports only TF."""
import json
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnn_layers import SimpleRNNCell
from tasks.common.config import TrainConfig
from tasks.common.export import KerasServingModule, export_saved_model, resolve_export, versions


class SequenceServing(KerasServingModule):
    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32, name="sequence")])
    def serve(self, sequence):
        return {"score": self.model(sequence, training=False)[:, 0]}


def make_run(tmp_path):
    config = types.SimpleNamespace(train=TrainConfig(export_dir=str(tmp_path / "exports")))
    return types.SimpleNamespace(task="toy", config=config, is_chief=True, worker_dir=tmp_path)


def export_toy(tmp_path):
    inputs = keras.Input((None, 3))
    hidden = keras.layers.RNN(SimpleRNNCell(4, dropout=0.3, recurrent_dropout=0.2))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    module = SequenceServing(model)
    path = export_saved_model(module, make_run(tmp_path), {"serving_default": module.serve.get_concrete_function()},
                              assets={"features.txt": "a\nb\nc\n"})
    return model, path


def test_versions_count_up_and_nothing_is_overwritten(tmp_path):
    model, first = export_toy(tmp_path)
    first_bytes = (first / "saved_model.pb").read_bytes()
    _, second = export_toy(tmp_path)
    root = tmp_path / "exports" / "toy"
    assert (first.name, second.name) == ("1", "2")
    assert versions(root) == [1, 2]
    assert (first / "saved_model.pb").read_bytes() == first_bytes
    assert resolve_export(root) == second and resolve_export(first) == first
    assert (first / "assets.extra" / "features.txt").read_text() == "a\nb\nc\n"
    assert not [p for p in root.iterdir() if p.name.startswith(".staging")]  # staging renamed away


def test_a_failed_export_leaves_no_version_behind(tmp_path):
    class Broken(KerasServingModule):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def serve(self, x):
            return {"y": x}

    module = Broken(keras.Sequential([keras.layers.Dense(1)]))
    with pytest.raises(Exception):
        export_saved_model(module, make_run(tmp_path), {"serving_default": "not a function"})
    assert list((tmp_path / "exports" / "toy").iterdir()) == []


def test_resolve_export_explains_an_empty_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="no SavedModel here"):
        resolve_export(tmp_path)


@pytest.mark.slow
def test_export_answers_the_same_in_a_process_that_imports_only_tensorflow(tmp_path, python_subprocess):
    model, path = export_toy(tmp_path)
    sequence = np.random.default_rng(0).normal(size=(5, 7, 3)).astype("float32")
    expected = model(sequence, training=False).numpy()[:, 0]
    np.save(tmp_path / "x.npy", sequence)
    code = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        f"serve = tf.saved_model.load({str(path)!r}).signatures['serving_default']\n"
        f"out = serve(sequence=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))\n"
        "assert not any(m.split('.')[0] in ('tasks', 'rnn_layers') for m in sys.modules), 'project imported'\n"
        "print(json.dumps(out['score'].numpy().tolist()))\n"
    )
    result = python_subprocess(code, cwd=tmp_path)
    np.testing.assert_allclose(json.loads(result.stdout.strip().splitlines()[-1]), expected, rtol=1e-6, atol=1e-6)


def test_a_stray_numbered_file_is_never_renamed_onto(tmp_path):
    root = tmp_path / "exports" / "toy"
    root.mkdir(parents=True)
    (root / "1").write_text("not a model")
    _, path = export_toy(tmp_path)
    assert path.name == "2" and (root / "1").read_text() == "not a model"
