"""Gradient check: hand-written BPTT vs tf.GradientTape on the Keras cell vs finite differences.

    python -m rnn_layers.gradcheck [--json]

For tanh and ReLU, many to one and many to many, short and long sequences (T up to 30),
with and without padding masks, it computes dL/d{U, W, b, V, c} three ways, all in float64:

- `bptt`: `rnn_layers.bptt.loss_and_gradients`, the lesson's derivation written by hand;
- `tape`: `tf.GradientTape` through `keras.layers.RNN(SimpleRNNCell)` and the same loss;
- `fd`: central finite differences (L(p + h) - L(p - h)) / 2h of the NumPy forward pass,

and prints the relative error of every pair per parameter, ||a - b|| / max(eps, ||a|| + ||b||)
over the whole parameter array (an element-wise ratio would divide the finite-difference
round-off, ~1e-11, by gradients that have legitimately vanished to ~1e-12 after 30 steps).
It exits with status 1 if any error exceeds TOLERANCE = 1e-7, the usual float64 bar.
"""

import argparse
import dataclasses
import json
import sys

import numpy as np

from rnn_layers import bptt

TOLERANCE = 1e-7  # float64 central differences with h = 1e-5 land around 1e-10 .. 1e-9
FINITE_DIFFERENCE_STEP = 1e-5
EPS = 1e-12  # floor of the relative error's denominator: guards 0 / 0 only
RELU_MARGIN = 1e-3  # reject ReLU draws with a pre-activation this close to the kink
SIZES = {"batch": 3, "features": 3, "units": 5, "classes": 4}
PAIRS = (("bptt", "tape"), ("bptt", "fd"), ("tape", "fd"))


@dataclasses.dataclass(frozen=True)
class Case:
    """One configuration to check."""

    activation: str  # "tanh" or "relu"
    many_to_many: bool
    steps: int
    masked: bool  # variable-length sequences (right padding) if True
    seed: int

    @property
    def name(self):
        shape = "many_to_many" if self.many_to_many else "many_to_one"
        padding = "masked" if self.masked else "full"
        return f"{self.activation}/{shape}/T={self.steps}/{padding}"


def default_cases():
    """2 activations x 2 shapes x T in {3, 30} x with/without masks: 16 cases."""
    cases = []
    for activation in ("tanh", "relu"):
        for many_to_many in (False, True):
            for steps in (3, 30):
                for masked in (False, True):
                    cases.append(Case(activation, many_to_many, steps, masked, seed=len(cases)))
    return cases


def make_problem(case, max_draws=1000):
    """Random float64 (params, x, labels, mask) for a case.

    For ReLU, finite differences are only valid away from the kink at 0: if a step of
    h = 1e-5 moves a pre-activation across 0, (L(p+h) - L(p-h)) / 2h mixes the two
    one-sided slopes and disagrees with any analytic gradient. Draws with some unpadded
    |pre-activation| < RELU_MARGIN (100x the step) are rejected and redrawn.
    """
    rng = np.random.default_rng(case.seed)
    batch, steps = SIZES["batch"], case.steps
    for _ in range(max_draws):
        # Recurrent scale 0.9 keeps ReLU states bounded over 30 steps.
        params = bptt.random_parameters(
            SIZES["features"], SIZES["units"], SIZES["classes"], rng, recurrent_scale=0.9
        )
        x = rng.normal(size=(batch, steps, SIZES["features"]))
        label_shape = (batch, steps) if case.many_to_many else (batch,)
        labels = rng.integers(0, SIZES["classes"], size=label_shape)
        mask = np.ones((batch, steps), dtype=bool)
        if case.masked:
            # The first sequence keeps full length; the others are padded on the right.
            lengths = np.concatenate([[steps], rng.integers(1, steps + 1, size=batch - 1)])
            mask = np.arange(steps)[None, :] < lengths[:, None]
        if case.activation == "tanh":
            return params, x, labels, mask
        forward_pass = bptt.forward(params, x, labels, "relu", case.many_to_many, mask)
        if np.all(np.abs(forward_pass.pre_activations[mask]) >= RELU_MARGIN):
            return params, x, labels, mask
    raise RuntimeError(f"{case.name}: no draw kept pre-activations {RELU_MARGIN} away from 0")


def tape_gradients(params, x, labels, activation, many_to_many, mask):
    """Loss and dL/d{U,W,b,V,c} from tf.GradientTape through keras.layers.RNN(SimpleRNNCell)."""
    import keras
    import tensorflow as tf

    from rnn_layers import SimpleRNNCell

    cell = SimpleRNNCell(params["W"].shape[0], activation=activation, dtype="float64")
    rnn = keras.layers.RNN(cell, return_sequences=many_to_many, dtype="float64")
    rnn.build(x.shape)
    cell.U.assign(params["U"])
    cell.W.assign(params["W"])
    cell.b.assign(params["b"])
    V = tf.Variable(params["V"])
    c = tf.Variable(params["c"])
    mask_tensor = tf.constant(mask)
    with tf.GradientTape() as tape:
        states = rnn(tf.constant(x), mask=mask_tensor)  # (B, m) or (B, T, m)
        log_probabilities = tf.nn.log_softmax(tf.matmul(states, V) + c)
        picked = tf.gather(log_probabilities, labels, axis=-1, batch_dims=labels.ndim)
        if many_to_many:
            picked = tf.where(mask_tensor, picked, tf.zeros_like(picked))
        loss = -tf.reduce_sum(picked)
    variables = [cell.U, cell.W, cell.b, V, c]
    grads = tape.gradient(loss, variables)
    return float(loss), {name: g.numpy() for name, g in zip(bptt.PARAMETER_NAMES, grads)}


def finite_difference_gradients(params, x, labels, activation, many_to_many, mask):
    """Central differences of the NumPy forward loss, one parameter entry at a time."""
    h = FINITE_DIFFERENCE_STEP
    grads = {}
    for name in bptt.PARAMETER_NAMES:
        grad = np.zeros_like(params[name])
        for index in np.ndindex(params[name].shape):
            shifted = {key: value.copy() for key, value in params.items()}
            shifted[name][index] = params[name][index] + h
            loss_plus = bptt.forward(shifted, x, labels, activation, many_to_many, mask).loss
            shifted[name][index] = params[name][index] - h
            loss_minus = bptt.forward(shifted, x, labels, activation, many_to_many, mask).loss
            grad[index] = (loss_plus - loss_minus) / (2 * h)
        grads[name] = grad
    return grads


def relative_error(a, b):
    """||a - b|| / max(EPS, ||a|| + ||b||): 0 when equal, 1 when unrelated or opposite."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(EPS, np.linalg.norm(a) + np.linalg.norm(b)))


def check_case(case, gradient_fn=None):
    """Runs one case; returns {"name", "max_rel_error", "loss_rel_error", "errors"}.

    `gradient_fn(params, x, labels, activation, many_to_many, mask)` -> `bptt.Gradients` is
    the hand-written gradient under test (default `bptt.loss_and_gradients`); tests pass a
    deliberately wrong one to prove the check can fail.
    """
    gradient_fn = gradient_fn or bptt.loss_and_gradients
    params, x, labels, mask = make_problem(case)
    problem = (params, x, labels, case.activation, case.many_to_many, mask)
    by_method = {}
    hand_written = gradient_fn(*problem)
    by_method["bptt"] = hand_written.grads
    tape_loss, by_method["tape"] = tape_gradients(*problem)
    by_method["fd"] = finite_difference_gradients(*problem)
    errors = {
        name: {
            f"{a}_vs_{b}": relative_error(by_method[a][name], by_method[b][name])
            for a, b in PAIRS
        }
        for name in bptt.PARAMETER_NAMES
    }
    # The NumPy and Keras forward passes must agree too, or the gradients check nothing.
    loss_error = relative_error(hand_written.loss, tape_loss)
    worst = max([loss_error] + [e for row in errors.values() for e in row.values()])
    return {"name": case.name, "max_rel_error": worst, "loss_rel_error": loss_error, "errors": errors}


def run_checks(cases=None, gradient_fn=None):
    """Checks every case; returns {"max_rel_error", "tolerance", "cases": [...]}."""
    results = [check_case(case, gradient_fn) for case in (cases or default_cases())]
    return {
        "max_rel_error": max(result["max_rel_error"] for result in results),
        "tolerance": TOLERANCE,
        "cases": results,
    }


def format_table(report):
    """The report as a fixed-width text table, one row per case and parameter."""
    header = f"{'case':<32} {'param':<5} " + " ".join(f"{a + ' vs ' + b:>13}" for a, b in PAIRS)
    lines = [header, "-" * len(header)]
    for result in report["cases"]:
        for name, row in result["errors"].items():
            cells = " ".join(f"{row[f'{a}_vs_{b}']:>13.2e}" for a, b in PAIRS)
            lines.append(f"{result['name']:<32} {name:<5} {cells}")
        lines.append(f"{result['name']:<32} {'loss':<5} {result['loss_rel_error']:>13.2e}")
    verdict = "OK" if report["max_rel_error"] <= TOLERANCE else "FAILED"
    lines.append(f"max relative error {report['max_rel_error']:.2e} (tolerance {TOLERANCE:.0e}): {verdict}")
    return "\n".join(lines)


def main(argv=None):
    """Command line entry point; returns the exit status (0 when every case passes)."""
    parser = argparse.ArgumentParser(
        prog="python -m rnn_layers.gradcheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = run_checks()
    print(json.dumps(report, indent=1) if args.json else format_table(report))
    return 0 if report["max_rel_error"] <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
