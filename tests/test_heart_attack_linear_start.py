"""heart_attack's linear start: the inputs and C chosen by cross-validation on the training patients."""
import numpy as np
import pytest

from tasks.common.config import load_config
from tasks.common.errors import ConfigError
from tasks.heart_attack.config import Config, ModelConfig
from tasks.heart_attack.linear_start import candidates, choose_linear_start
from tasks.heart_attack.model import fit_normalization


def cohort(label_from: str, patients=600, visits=4, seed=0):
    """Exams whose true level is read with heavy noise at each visit; the label follows either the true level
    (so the mean of the visits reads it better than the latest one) or the latest reading alone."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0, 1, patients)
    exams = (level[:, None] + rng.normal(0, 1.5, (patients, visits)))[..., None]  # one measurement
    exams = np.concatenate([exams, rng.normal(0, 1, (patients, visits, 1))], -1).astype(np.float32)  # + noise
    signal = level if label_from == "level" else exams[:, -1, 0]
    labels = (signal + rng.normal(0, 0.5, patients) > 0.5).astype(np.int64)
    return exams, labels


def choose(config, exams, labels):
    mean, std = fit_normalization(exams)
    return choose_linear_start(config, exams.shape[-1], mean, std, exams.shape[-1], exams, labels, None)


def test_a_label_of_the_history_gets_the_mean_of_the_visits():
    exams, labels = cohort("level")
    start = choose(ModelConfig(), exams, labels)
    assert start.inputs == "latest_and_mean"
    assert set(start.cv_roc_auc) == {f"{inputs} C={c}" for inputs in ("latest", "latest_and_mean")
                                     for c in ("0.1", "0.3", "1")}
    assert start.cv_roc_auc[f"latest_and_mean C={start.c:g}"] == max(start.cv_roc_auc.values())


def test_a_label_of_the_latest_exam_keeps_the_latest_visit():
    exams, labels = cohort("latest")
    start = choose(ModelConfig(), exams, labels)
    assert start.inputs == "latest"


def test_one_candidate_is_used_without_cross_validation():
    exams, labels = cohort("level", patients=100)
    start = choose(ModelConfig(linear_inputs="latest", linear_c=(2.0,)), exams, labels)
    assert (start.inputs, start.c, start.cv_roc_auc) == ("latest", 2.0, {})


def test_too_few_positives_to_cross_validate_take_the_simplest_candidate():
    exams, labels = cohort("level", patients=60)
    labels[:] = 0
    labels[:1] = 1  # one positive: no fold could score it
    start = choose(ModelConfig(), exams, labels)
    assert (start.inputs, start.c, start.cv_roc_auc) == ("latest", 0.1, {})
    assert candidates(ModelConfig())[0] == ("latest", 0.1)


def test_linear_c_and_the_renamed_baseline_key_are_checked():
    with pytest.raises(ConfigError, match=r"key 'model.logistic_c' was renamed to 'model.baseline_c'"):
        load_config(Config, None, ["model.logistic_c=2"])
    with pytest.raises(ConfigError, match=r"linear_c must list at least one value, each > 0"):
        load_config(Config, None, ["model.linear_c=[0.1, 0]"])
    assert load_config(Config, None, ["model.baseline_c=2"]).model.baseline_c == 2.0
