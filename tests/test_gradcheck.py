"""`python -m rnn_layers.gradcheck`: BPTT, GradientTape and finite differences agree; the check can fail."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rnn_layers import bptt, gradcheck

SHORT_CASE = gradcheck.Case("tanh", many_to_many=False, steps=4, masked=True, seed=7)


def sum_from_step_two(params, x, labels, activation, many_to_many, mask):
    """A wrong BPTT: the lesson's sum over i starts at 2, dropping step 1's term of dL/dU."""
    forward = bptt.forward(params, x, labels, activation, many_to_many, mask)
    without_first = x.copy()
    without_first[:, 0] = 0.0  # x_1 is the only factor step 1 adds to dL/dU
    return bptt.backward(params, without_first, labels, forward, activation, many_to_many, mask)


def slightly_scaled_w(params, x, labels, activation, many_to_many, mask):
    """A gradient off by one part in a million, to show the tolerance is tight."""
    result = bptt.loss_and_gradients(params, x, labels, activation, many_to_many, mask)
    result.grads["W"] = result.grads["W"] * (1 + 1e-6)
    return result


@pytest.mark.slow
def test_command_line_json_passes_every_case():
    completed = subprocess.run(
        [sys.executable, "-m", "rnn_layers.gradcheck", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    assert report["max_rel_error"] <= 1e-7
    names = [case["name"] for case in report["cases"]]
    for part in ("tanh/", "relu/", "many_to_one", "many_to_many", "T=30", "masked", "full"):
        assert any(part in name for name in names), part
    assert all(case["max_rel_error"] <= 1e-7 for case in report["cases"])
    assert set(report["cases"][0]["errors"]) == {"U", "W", "b", "V", "c"}


def test_correct_bptt_passes_a_single_case():
    result = gradcheck.check_case(SHORT_CASE)
    assert result["max_rel_error"] <= gradcheck.TOLERANCE
    assert result["loss_rel_error"] <= 1e-12


@pytest.mark.parametrize(
    "broken, wrong_parameter", [(sum_from_step_two, "U"), (slightly_scaled_w, "W")]
)
def test_a_broken_gradient_is_caught(broken, wrong_parameter):
    result = gradcheck.check_case(SHORT_CASE, gradient_fn=broken)
    assert result["max_rel_error"] > gradcheck.TOLERANCE
    assert result["errors"][wrong_parameter]["bptt_vs_fd"] > gradcheck.TOLERANCE
    assert result["errors"][wrong_parameter]["bptt_vs_tape"] > gradcheck.TOLERANCE
    # The independent pair still agrees, so the blame falls on the hand-written gradient.
    assert result["errors"][wrong_parameter]["tape_vs_fd"] <= gradcheck.TOLERANCE
    assert result["errors"]["V"]["bptt_vs_fd"] <= gradcheck.TOLERANCE


def test_main_exits_nonzero_when_bptt_is_wrong(monkeypatch, capsys):
    monkeypatch.setattr(gradcheck, "default_cases", lambda: [SHORT_CASE])
    monkeypatch.setattr(bptt, "loss_and_gradients", sum_from_step_two)
    assert gradcheck.main(["--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["max_rel_error"] > 1e-7
    assert gradcheck.main([]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_relu_draws_keep_pre_activations_away_from_the_kink():
    case = gradcheck.Case("relu", many_to_many=True, steps=30, masked=True, seed=3)
    params, x, labels, mask = gradcheck.make_problem(case)
    forward = bptt.forward(params, x, labels, "relu", True, mask)
    assert np.all(np.abs(forward.pre_activations[mask]) >= gradcheck.RELU_MARGIN)
    assert not mask.all()  # some sequences are padded


def test_relative_error():
    assert gradcheck.relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert gradcheck.relative_error([1.0, 2.0], [-1.0, -2.0]) == 1.0
    assert gradcheck.relative_error([0.0], [0.0]) == 0.0
    assert gradcheck.relative_error([1.0], [1.0 + 2e-7]) == pytest.approx(1e-7)
