"""heart_attack model: in-graph imputation, masking of absent visits, class-weight correction, baselines."""
import numpy as np
import pytest

from tasks.heart_attack import evaluate
from tasks.heart_attack.config import ModelConfig
from tasks.heart_attack.model import (LatestVisit, RiskOutput, VisitImputer, VisitMean, build_model, carry_forward,
                                      class_weights, effective_l2, fit_log_floor, fit_normalization, log_transform,
                                      predict_risk, warm_start_linear_path)

NAN = np.nan


def random_exams(rng, patients=6, visits=5, features=4, missing=0.3):
    exams = rng.normal(100, 20, (patients, visits, features)).astype(np.float32)
    exams[rng.random(exams.shape) < missing] = NAN
    exams[:, :, 0] = np.where(np.isnan(exams[:, :, 0]), 50.0, exams[:, :, 0])  # every visit has a measurement
    return exams


def small_model(features=4, implementation="auto", **overrides):
    config = ModelConfig(visit_units=8, rnn_units=6, dropout=0.0, rnn_implementation=implementation, **overrides)
    model = build_model(config, features, mean=[100.0] * features, std=[20.0] * features,
                        class_weight={0: 0.6, 1: 2.4}, presence_features=features - 1)
    head = model.get_layer("logit")  # the RNN's head starts at zero beside the linear path; give it weights
    head.set_weights([np.linspace(-1, 1, head.kernel.shape[0])[:, None].astype(np.float32), np.zeros(1, np.float32)])
    return model


def test_carry_forward_uses_the_latest_earlier_value():
    values = np.array([[[NAN, 1.0], [2.0, NAN], [NAN, NAN], [5.0, 3.0], [NAN, NAN]]], np.float32)  # (1, 5, 2)
    carried = np.asarray(carry_forward(values, np.isnan(values)))
    np.testing.assert_array_equal(carried[0, :, 0], [NAN, 2, 2, 5, 5])
    np.testing.assert_array_equal(carried[0, :, 1], [1, 1, 1, 3, 3])


def test_imputer_standardizes_flags_missing_and_masks_absent_visits():
    layer = VisitImputer(mean=[10.0, 0.0], std=[2.0, 1.0], presence_features=1, carry_forward=False)
    exams = np.array([[[NAN, NAN], [12.0, NAN], [NAN, 7.0]]], np.float32)  # visit 3: only the gap column
    out = np.asarray(layer(exams))
    np.testing.assert_allclose(out[0, 1], [1.0, 0.0, 0.0, 1.0])  # (12 - 10) / 2, mean for the gap, flags
    np.testing.assert_allclose(out[0, 2], [0.0, 7.0, 1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(layer.compute_mask(exams)), [[False, True, False]])
    carrying = VisitImputer(mean=[10.0, 0.0], std=[2.0, 1.0], presence_features=1)
    np.testing.assert_allclose(np.asarray(carrying(exams))[0, 2], [1.0, 7.0, 1.0, 0.0])  # 12 carried forward
    assert not np.isnan(out).any()
    with pytest.raises(ValueError, match="std > 0"):
        VisitImputer(mean=[0.0], std=[0.0])


def test_normalization_ignores_missing_values_and_padding():
    exams = np.array([[[NAN, NAN], [1.0, 5.0]], [[3.0, NAN], [NAN, 5.0]]], np.float32)
    mean, std = fit_normalization(exams)
    np.testing.assert_allclose(mean, [2.0, 5.0])
    np.testing.assert_allclose(std, [1.0, 1.0])  # a constant feature gets std 1, not a division by zero


@pytest.mark.parametrize("implementation", ["cell", "fast"])
def test_padding_and_missed_visits_do_not_change_the_risk(implementation):
    rng = np.random.default_rng(0)
    model = small_model(implementation=implementation)
    exams = random_exams(rng)
    base = predict_risk(model, exams)
    absent = np.full((len(exams), 3, exams.shape[-1]), NAN, np.float32)
    front_padded = np.concatenate([absent, exams], axis=1)
    back_padded = np.concatenate([exams, absent], axis=1)
    missed_visit = np.concatenate([exams[:, :2], absent[:, :1], exams[:, 2:]], axis=1)
    for variant in (front_padded, back_padded, missed_visit):
        np.testing.assert_allclose(predict_risk(model, variant), base, atol=1e-6)
    # One patient alone (no batch-mates, no padding) gets the same risk as in the batch.
    np.testing.assert_allclose(predict_risk(model, exams[2:3]), base[2:3], atol=1e-6)
    # And the risk does depend on the visits: changing an old exam changes it.
    changed = exams.copy()
    changed[:, 1, 0] += 40
    assert np.abs(predict_risk(model, changed) - base).max() > 1e-4


def test_a_visit_with_only_the_gap_column_is_absent():
    model = small_model()
    exams = random_exams(np.random.default_rng(1))
    gap_only = np.full((len(exams), 1, exams.shape[-1]), NAN, np.float32)
    gap_only[..., -1] = 30.0
    np.testing.assert_allclose(predict_risk(model, np.concatenate([exams, gap_only], axis=1)),
                               predict_risk(model, exams), atol=1e-6)


def test_class_weights_and_the_inference_correction():
    labels = np.array([0] * 90 + [1] * 10)
    balanced = class_weights(labels, "balanced")
    assert balanced[1] / balanced[0] == pytest.approx(9.0)
    assert (balanced[0] * 90 + balanced[1] * 10) / 100 == pytest.approx(1.0)  # mean weight 1: same loss scale
    assert class_weights(labels, "sqrt")[1] / class_weights(labels, "sqrt")[0] == pytest.approx(3.0)
    assert class_weights(labels, "none") is None
    with pytest.raises(ValueError, match="both labels"):
        class_weights(np.zeros(5), "balanced")
    head = RiskOutput(log_odds_shift=np.log(9.0))
    logits = np.array([[np.log(9.0)]], np.float32)  # weighted odds 9 -> true odds 1
    assert float(np.asarray(head(logits, training=True))[0, 0]) == pytest.approx(0.9)
    assert float(np.asarray(head(logits, training=False))[0, 0]) == pytest.approx(0.5)


def test_model_shift_follows_the_class_weights():
    model = small_model()
    assert model.get_layer("risk").log_odds_shift == pytest.approx(np.log(2.4 / 0.6))
    unweighted = build_model(ModelConfig(), 3, [0.0] * 3, [1.0] * 3, class_weight=None)
    assert unweighted.get_layer("risk").log_odds_shift == 0.0


def test_baseline_rows_use_the_models_imputation():
    exams = np.array([[[NAN, NAN], [1.0, 5.0], [2.0, NAN]],
                      [[3.0, 4.0], [NAN, NAN], [NAN, NAN]]], np.float32)  # patient 2: last visit is the first
    last = evaluate.baseline_rows(exams)["last_visit_logistic"]
    np.testing.assert_array_equal(last, [[2.0, 5.0, 0, 1], [3.0, 4.0, 0, 0]])  # values, then missing flags
    flat = evaluate.baseline_rows(exams, imputation="mean")["all_visits_logistic"]
    assert flat.shape == (2, 12) and np.isnan(flat[0, :2]).all() and flat[0, 6] == flat[0, 11] == 1


def test_risk_metrics_match_hand_computed_values():
    labels = np.array([0, 0, 1, 1])
    metrics = evaluate.risk_metrics(labels, np.array([0.1, 0.4, 0.35, 0.8]))
    assert metrics["roc_auc"] == pytest.approx(0.75)
    assert metrics["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert metrics["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)


def test_latest_visit_skips_missed_visits_at_the_end():
    exams = np.array([[[1.0, 2.0], [3.0, NAN], [NAN, NAN]],  # last visit missed: the latest present is step 1
                      [[NAN, NAN], [NAN, NAN], [5.0, 6.0]]], np.float32)
    mask = ~np.isnan(exams).all(axis=-1)
    latest = np.asarray(LatestVisit()(np.nan_to_num(exams, nan=-9.0), mask=mask))
    np.testing.assert_array_equal(latest, [[3.0, -9.0], [5.0, 6.0]])


@pytest.mark.parametrize("linear_inputs", ["latest", "latest_and_mean"])
def test_the_model_starts_as_the_logistic_regression_on_its_linear_inputs(linear_inputs):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    exams = random_exams(rng, patients=200, visits=4, features=3)
    exams[:20, -1] = NAN  # some patients missed their last visit
    labels = (np.nan_to_num(exams[:, -1, 1], nan=100.0) + rng.normal(0, 20, 200) > 100).astype(np.int64)
    config = ModelConfig(visit_units=4, rnn_units=4, dropout=0.0)
    mean, std = fit_normalization(exams)
    model = build_model(config, 3, mean, std, class_weight=None, presence_features=3, positives=int(labels.sum()),
                        patients=len(labels), linear_inputs=linear_inputs, linear_c=0.3)
    warm_start_linear_path(model, exams, labels, None, c=0.3)
    # The reference: scikit-learn on the model's own features (imputed values and missing flags) of the
    # latest present visit, and of the mean over the present visits.
    imputed = np.asarray(VisitImputer(mean, std, 3)(exams))
    last = evaluate.last_present_visit_index(exams, 3)
    rows = imputed[np.arange(len(exams)), last]
    if linear_inputs == "latest_and_mean":
        present = ~np.isnan(exams).all(axis=-1)
        rows = np.concatenate([rows, (imputed * present[..., None]).sum(1) / present.sum(1, keepdims=True)], -1)
    expected = LogisticRegression(C=0.3, max_iter=5000).fit(rows, labels).predict_proba(rows)[:, 1]
    np.testing.assert_allclose(predict_risk(model, exams), expected, atol=1e-5)  # the RNN head starts at 0


def test_visit_mean_averages_the_present_visits_only():
    visits = np.array([[[1.0, 2.0], [3.0, 6.0], [-9.0, -9.0]]], np.float32)
    mask = np.array([[True, True, False]])
    np.testing.assert_allclose(np.asarray(VisitMean()(visits, mask=mask)), [[2.0, 4.0]])
    nothing = np.asarray(VisitMean()(visits, mask=np.zeros((1, 3), bool)))
    np.testing.assert_array_equal(nothing, [[0.0, 0.0]])  # no present visit: zeros, not NaN


def test_skewed_positive_measurements_are_logged_and_others_not():
    rng = np.random.default_rng(0)
    n = 400
    exams = np.stack([rng.lognormal(0.0, 1.0, n),  # a lab value: long right tail -> logged
                      rng.normal(120, 15, n),  # symmetric -> kept
                      (rng.random(n) < 0.1).astype(float),  # a rare 0/1 flag: skewed but has zeros -> kept
                      rng.exponential(30, n)], axis=-1)[:, None, :].astype(np.float32)  # the gap: not a measurement
    exams[:5, 0, 0] = NAN
    floor = fit_log_floor(exams, measurements=3, skewness=1.0)
    assert floor[0] == pytest.approx(np.nanmin(exams[..., 0])) and floor[1:] == [0.0, 0.0, 0.0]
    assert fit_log_floor(exams, measurements=3, skewness=0.0) == [0.0] * 4  # 0 turns it off
    logged = np.asarray(log_transform(exams, floor))
    np.testing.assert_allclose(logged[5:, 0, 0], np.log(exams[5:, 0, 0]), rtol=1e-6)
    assert np.isnan(logged[:5, 0, 0]).all()  # missing stays missing
    np.testing.assert_array_equal(logged[..., 1:], exams[..., 1:])
    # At predict time a value at or below zero is read as the floor, not as -inf or NaN.
    odd = np.array([[[0.0, 120.0, 0.0, 1.0], [-3.0, 120.0, 0.0, 1.0]]], np.float32)
    np.testing.assert_allclose(np.asarray(log_transform(odd, floor))[0, :, 0], np.log(floor[0]), rtol=1e-6)


def test_a_logged_feature_is_standardized_on_its_log_scale_inside_the_model():
    rng = np.random.default_rng(1)
    exams = random_exams(rng, patients=50, visits=3, features=3, missing=0.0)
    exams[..., 0] = rng.lognormal(3.0, 1.0, exams.shape[:2])
    floor = [float(exams[..., 0].min()), 0.0, 0.0]
    mean, std = fit_normalization(np.asarray(log_transform(exams, floor)))
    imputer = VisitImputer(mean, std, 3, log_floor=floor)
    out = np.asarray(imputer(exams))
    np.testing.assert_allclose(out[..., 0], (np.log(exams[..., 0]) - mean[0]) / std[0], rtol=1e-4, atol=1e-5)
    assert VisitImputer.from_config(imputer.get_config()).log_floor == floor  # saved with the model


def test_l2_grows_as_training_positives_get_fewer():
    config = ModelConfig(l2=1e-3, l2_reference_positives=800)
    assert effective_l2(config, 1600) == pytest.approx(1e-3)
    assert effective_l2(config, 200) == pytest.approx(4e-3)
    assert effective_l2(ModelConfig(l2=1e-3, l2_reference_positives=0), 200) == pytest.approx(1e-3)
