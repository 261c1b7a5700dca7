"""translation end to end on a tiny built-in corpus: metrics.json, run dir, TensorBoard, export, predict."""
import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tasks.common.config import load_config
from tasks.common.task import train_task
from tasks.translation import predict, train
from tasks.translation.config import Config
from tasks.translation.evaluate import corpus_scores
from tasks.translation.translator import Translator, translate_all

SENTENCES = ["I love Vietnam", "Do you like cats?", "She will not eat rice tomorrow.", ""]


def tiny_args(root: Path) -> list[str]:
    settings = {
        "data.builtin_dir": root / "data", "data.builtin_train_pairs": 300, "data.builtin_val_pairs": 40,
        "data.builtin_test_pairs": 40, "model.rnn_units": 24, "model.embedding_dim": 16, "model.beam_width": 2,
        "model.max_decode_length": 20, "train.epochs": 2, "train.batch_size": 64, "train.sample_translations": 2,
        "model.length_penalty_candidates": "[0.0]",  # beam then ranks by plain log p, comparable with greedy's
        "train.runs_dir": root / "runs", "train.export_dir": root / "exports", "train.verbose": 0,
    }
    return [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("translation")
    result = train_task(train.Translation(), tiny_args(root))
    assert json.loads((result.run.run_dir / "metrics.json").read_text(encoding="utf-8")) == result.metrics
    return root, result.run.run_dir, result.metrics, result


@pytest.fixture(scope="module")
def loaded(trained):
    return tf.saved_model.load(trained[2]["export"])


def _translate(signature, texts, **kwargs):
    outputs = signature(text=tf.constant(texts, tf.string), **kwargs)
    return [t.decode("utf-8") for t in outputs["translation"].numpy()], outputs["log_probability"].numpy().tolist()


@pytest.mark.slow
def test_metrics_json_has_the_contract_keys(trained):
    _, _, metrics, _ = trained
    assert metrics["task"] == "translation" and metrics["dataset"] == "builtin_grammar"
    keys = {"bleu_greedy", "bleu_beam", "chrf_greedy", "chrf_beam"}
    assert keys <= set(metrics["test"]) and keys <= set(metrics["baselines"]["no_attention"])
    assert all(0 <= metrics["test"][key] <= 100 for key in keys)
    assert metrics["split_sizes"] == {"train": 300, "val": 40, "test": 40}
    assert metrics["lesson_example"]["english"] == "I love Vietnam"
    assert Path(metrics["export"]).name == "1" and metrics["train_seconds"] > 0
    tuning = metrics["length_penalty_tuning"]["model"]  # the beam's length penalty, chosen on validation
    assert tuning["chosen"] == 0.0 and list(tuning["validation_bleu_beam"]) == ["0.0"]
    assert metrics["test"]["length_penalty"] == pytest.approx(tuning["chosen"])
    assert set(metrics["baselines"]) == {"no_attention"}  # builtin data: no GRU reference by default


@pytest.mark.slow
def test_checkpoints_follow_validation_bleu(trained):
    _, run_dir, _, result = trained
    assert result.trained.fit.history["val_bleu"] and "val_accuracy" in result.trained.fit.history
    history = (run_dir / "history.csv").read_text(encoding="utf-8").splitlines()
    assert "val_bleu" in history[0].split(",") and len(history) == 3  # header + 2 epochs, a BLEU each


@pytest.mark.slow
def test_run_dir_holds_both_models_and_tensorboard_samples(trained):
    root, run_dir, _, _ = trained
    assert load_config(Config, run_dir / "config.yaml").model.rnn_units == 24
    for model_dir in (run_dir, run_dir / "no_attention"):
        assert (model_dir / "checkpoints" / "best.weights.h5").exists()
    samples = EventAccumulator(str(run_dir / "tensorboard" / "samples"), size_guidance={"tensors": 0})
    samples.Reload()
    assert {"sample_translations", "attention_0", "attention_1"} <= set(samples.Tags()["tensors"])
    table = tf.make_ndarray(samples.Tensors("sample_translations")[-1].tensor_proto)
    assert table.shape == (3, 4) and table[0, 0] == b"English"
    baseline = EventAccumulator(str(run_dir / "no_attention" / "tensorboard" / "samples"), size_guidance={"tensors": 0})
    baseline.Reload()
    assert set(baseline.Tags()["tensors"]) == {"sample_translations"}  # no attention, no heatmaps


@pytest.mark.slow
def test_export_in_a_fresh_process_equals_this_process(trained, loaded, python_subprocess):
    _, _, metrics, result = trained
    nfd = [unicodedata.normalize("NFD", text.upper()) for text in SENTENCES]
    code = (
        "import json, sys, tensorflow as tf\n"
        f"model = tf.saved_model.load({metrics['export']!r})\n"
        "run = lambda name, texts, **kw: model.signatures[name](text=tf.constant(texts), **kw)\n"
        f"outputs = [run('serving_default', {SENTENCES!r}), run('greedy', {nfd!r}),"
        " run('beam', ['I love Vietnam'], beam_width=tf.constant(3))]\n"
        "assert not any(m.split('.')[0] in ('tasks', 'rnn_layers') for m in sys.modules)\n"
        "print(json.dumps([[t.decode() for t in o['translation'].numpy()] + o['log_probability'].numpy().tolist()"
        " for o in outputs]))\n")
    fresh = json.loads(python_subprocess(code).stdout.strip().splitlines()[-1])
    served, served_scores = _translate(loaded.signatures["serving_default"], SENTENCES)
    greedy, greedy_scores = _translate(loaded.signatures["greedy"], SENTENCES)
    assert fresh[0][:4] == served and fresh[0][4:] == pytest.approx(served_scores, abs=1e-5)
    assert fresh[1][:4] == greedy and fresh[1][4:] == pytest.approx(greedy_scores, abs=1e-5)  # NFD, upper case
    assert served[0] == metrics["lesson_example"]["beam"] and greedy[0] == metrics["lesson_example"]["greedy"]
    assert served[3] == "" and served_scores[3] == 0.0
    assert translate_all(result.serving.module.translate, SENTENCES)[0] == served  # the exported object itself
    assert all(b >= g - 1e-5 for b, g in zip(served_scores, greedy_scores))


@pytest.mark.slow
def test_predict_prints_translations_from_the_export(trained, capsys, tmp_path):
    root, _, metrics, _ = trained
    assert predict.main(["--model", str(root / "exports" / "translation"), "I love Vietnam"]) == 0
    assert capsys.readouterr().out == metrics["lesson_example"]["beam"] + "\n"
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("I love Vietnam\n\nDo you like cats?\n", encoding="utf-8")
    assert predict.main(["--model", metrics["export"], "--greedy", "--json", "--file", str(sentences)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["I love Vietnam", "Do you like cats?"]
    assert lines[0]["translation"] == metrics["lesson_example"]["greedy"] and lines[0]["log_probability"] < 0


@pytest.mark.slow
def test_user_pairs_train_the_gru_reference_and_score_repeated_lines_as_references(tmp_path):
    pairs = [("I love Vietnam.", "Tôi yêu Việt Nam."), ("I love cats.", "Tôi yêu mèo."),
             ("You love dogs.", "Bạn yêu chó."), ("We eat rice.", "Chúng tôi ăn cơm.")] * 15
    train_file, test_file = tmp_path / "train.tsv", tmp_path / "test.tsv"
    train_file.write_text("".join(f"{e} {i}\t{v} {i}\n" for i, (e, v) in enumerate(pairs)), encoding="utf-8")
    test_file.write_text("I love Vietnam.\tTôi yêu Việt Nam.\nI love Vietnam.\tTôi thương Việt Nam.\n"
                         "We eat rice.\tChúng tôi ăn cơm.\n", encoding="utf-8")
    args = tiny_args(tmp_path)[:-2] + ["--set", "train.verbose=0", "--set", "train.epochs=1",
                                       "--set", "data.source=tsv", "--set", f"data.path={train_file}",
                                       "--set", f"data.test_path={test_file}",
                                       "--set", "model.ensemble=1"]  # one model (user data's default is 3): fast
    result = train_task(train.Translation(), args)
    run_dir, metrics = result.run.run_dir, result.metrics
    assert set(metrics["baselines"]) == {"gru"} and (run_dir / "gru" / "checkpoints" / "best.weights.h5").exists()
    assert metrics["test"]["sentences"] == metrics["baselines"]["gru"]["sentences"] == 2  # 3 lines, 2 sentences
    assert [sample["english"] for sample in metrics["samples"]] == ["I love Vietnam.", "I love Vietnam.",
                                                                    "We eat rice."]
    # The reported scores are multi-reference: both translations of "I love Vietnam." count (the samples are beam
    # translations, the served decoder, of every test line here).
    hypotheses = [metrics["samples"][0]["translation"], metrics["samples"][2]["translation"]]
    expected = corpus_scores(hypotheses, [["Tôi yêu Việt Nam.", "Tôi thương Việt Nam."], ["Chúng tôi ăn cơm."]])
    assert metrics["test"]["bleu_beam"] == pytest.approx(expected["bleu"])
    assert metrics["test"]["chrf_beam"] == pytest.approx(expected["chrf"])


def test_predict_and_train_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        predict.main(["--model", str(tmp_path / "nothing"), "I love Vietnam"])
    assert exit_info.value.code == 2 and "no SavedModel here" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--set", "data.source=tsv", "--set", f"data.path={tmp_path / 'missing.tsv'}",
                    "--set", f"train.runs_dir={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: ") and "missing.tsv: file not found" in err


@pytest.mark.slow
def test_an_ensemble_trains_its_members_in_their_own_dirs_and_exports_one_translator(tmp_path, python_subprocess):
    args = tiny_args(tmp_path) + ["--set", "train.epochs=1", "--set", "model.ensemble=2",
                                  "--set", "model.no_attention_baseline=false"]
    result = train_task(train.Translation(), args)
    run_dir, metrics = result.run.run_dir, result.metrics
    assert metrics["ensemble_members"] == 2 and result.trained.fit.epochs_run == 2  # one epoch each
    for member in ("0", "1"):
        assert (run_dir / "members" / member / "checkpoints" / "best.weights.h5").exists()
        assert set(metrics["ensemble_member_test"][member]) == {"bleu_greedy", "chrf_greedy"}
    weights = [member.get_layer("logits").get_weights()[0] for member in result.trained.members]
    assert not np.allclose(*weights)  # two seeds, two models
    # the export answers in a process without this project what the ensemble answers here, greedy and beam
    code = (
        "import json, sys, tensorflow as tf\n"
        f"model = tf.saved_model.load({metrics['export']!r})\n"
        f"outputs = [model.signatures[name](text=tf.constant({SENTENCES!r})) for name in ('serving_default', 'greedy')]\n"
        "assert not any(m.split('.')[0] in ('tasks', 'rnn_layers') for m in sys.modules)\n"
        "print(json.dumps([[t.decode() for t in o['translation'].numpy()] + o['log_probability'].numpy().tolist()"
        " for o in outputs]))\n")
    fresh = json.loads(python_subprocess(code).stdout.strip().splitlines()[-1])
    for outputs, method in zip(fresh, (result.serving.module.translate, result.serving.module.greedy)):
        translations, scores = translate_all(method, SENTENCES)
        assert outputs[:4] == translations and outputs[4:] == pytest.approx(scores, abs=1e-5)
    module = result.serving.module  # both members count: the first member alone scores otherwise
    single = Translator(module.members[0], module.source_vocabulary, module.target_vocabulary,
                        module.detokenizer.truecasing, 2, 20)
    assert translate_all(single.greedy, SENTENCES)[1] != pytest.approx(fresh[1][4:], abs=1e-5)
