"""Train the English -> Vietnamese encoder-decoder: `python -m tasks.translation.train --config configs/translation.yaml`."""
from __future__ import annotations

import dataclasses
import json
import logging

import keras

from tasks.common.export import export_saved_model
from tasks.common.metrics import write_metrics
from tasks.common.run import main_guard, start_run
from tasks.common.training import compile_model, fit
from tasks.translation import SUMMARY, data, evaluate
from tasks.translation.config import Config
from tasks.translation.grammar import LESSON_EXAMPLE
from tasks.translation.model import build_model
from tasks.translation.tokens import fit_vocabularies
from tasks.translation.translator import Translator, translate_all

log = logging.getLogger(__name__)


def train_model(run, corpus, vocabularies, train_ds, val_ds, attention: str, cell: str):
    """Builds, trains and wraps one model (a baseline trains in its own sub-directory of the run).

    The beam's length penalty, unless configured, is then chosen on the validation split.
    """
    config = run.config
    with run.strategy.scope():
        model = build_model(config.model, vocabularies.source.size, vocabularies.target.size, attention, cell)
        compile_model(model, config.train, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=["accuracy"])
    penalty = config.model.length_penalty
    translator = Translator(model, vocabularies.source, vocabularies.target, vocabularies.truecasing,
                            config.model.beam_width, config.model.max_decode_length, penalty or 0.0)
    samples = corpus.val.head(config.train.sample_translations)
    val_english, val_vietnamese = corpus.val.english.tolist(), corpus.val.vietnamese.tolist()
    callbacks = [evaluate.TranslationSamples(translator, samples.english.tolist(), samples.vietnamese.tolist(),
                                             run.tensorboard_dir, attention=attention == "luong")]
    monitor = {"monitor": "val_loss", "mode": "min"}
    if config.model.checkpoint_metric == "bleu":
        monitor = {"monitor": "val_bleu", "mode": "max",
                   "metric_callbacks": [evaluate.ValidationBleu(translator, val_english, val_vietnamese)]}
    result = fit(model, train_ds, val_ds, run, num_examples=len(corpus.train), callbacks=callbacks, **monitor)
    tuning = None
    if penalty is None:
        tuning = evaluate.tune_length_penalty(translator, val_english, val_vietnamese, config.model.beam_width,
                                              config.model.length_penalty_candidates)
    return translator, result, tuning


def baselines_to_train(config) -> dict[str, tuple[str, str]]:
    """{name: (attention, cell)} of the baselines this run trains beside the model (see ModelConfig)."""
    user_data = config.data.source != "builtin"
    wanted = {"no_attention": (config.model.no_attention_baseline, not user_data, ("none", config.model.cell)),
              "gru": (config.model.gru_baseline, user_data, (config.model.attention, "gru"))}
    chosen = {}
    for name, (setting, default, spec) in wanted.items():
        if (default if setting is None else setting) and spec != (config.model.attention, config.model.cell):
            chosen[name] = spec
    return chosen


@main_guard
def main(argv=None):
    run = start_run("translation", Config, argv, __doc__)
    config = run.config
    corpus = data.load_corpus(config.data)
    vocabularies = fit_vocabularies(corpus.train.english.tolist(), corpus.train.vietnamese.tolist(),
                                    config.model.source_vocab_size, config.model.target_vocab_size)
    batch, seed = config.train.batch_size, config.train.seed
    train_ds = data.to_dataset(corpus.train, vocabularies.source, vocabularies.target, batch, True, seed)
    val_ds = data.to_dataset(corpus.val, vocabularies.source, vocabularies.target, batch, False, seed)
    sources, references = corpus.test.english.tolist(), corpus.test.vietnamese.tolist()

    translator, result, tuning = train_model(run, corpus, vocabularies, train_ds, val_ds, config.model.attention,
                                             config.model.cell)
    test = evaluate.evaluate_translator(translator, sources, references, config.model.beam_width)
    baselines, tunings = {}, {"model": tuning}
    for name, (attention, cell) in baselines_to_train(config).items():
        baseline_run = dataclasses.replace(run, worker_dir=run.worker_dir / name)
        baseline, _, tunings[name] = train_model(baseline_run, corpus, vocabularies, train_ds, val_ds, attention,
                                                 cell)
        baselines[name] = evaluate.evaluate_translator(baseline, sources, references, config.model.beam_width)

    example = {"english": LESSON_EXAMPLE[0],
               "greedy": translate_all(translator.greedy, [LESSON_EXAMPLE[0]])[0][0],
               "beam": translate_all(translator.translate, [LESSON_EXAMPLE[0]])[0][0]}
    export_path = export_saved_model(translator, run, translator.signatures(), assets={
        "source_vocabulary.txt": "\n".join(vocabularies.source.tokens) + "\n",
        "target_vocabulary.txt": "\n".join(vocabularies.target.tokens) + "\n",
        "truecasing.json": json.dumps(vocabularies.truecasing, ensure_ascii=False, indent=1) + "\n"})
    metrics = write_metrics(
        run, dataset=corpus.name, test=test, baselines=baselines, fit_result=result, export_path=export_path,
        quality_bar=SUMMARY["quality_bar"], split_sizes={"train": len(corpus.train), "validation": len(corpus.val), "test": len(corpus.test)},
        cleaning=corpus.cleaning, vocabulary_sizes={"source": vocabularies.source.size,
                                                    "target": vocabularies.target.size},
        lesson_example=example, length_penalty_tuning=tunings,
        samples=[{"english": e, "reference": r, "translation": t}
                 for e, r, t in zip(sources[:8], references[:8], translate_all(translator.translate, sources[:8])[0])])
    log.info("test %s | baselines %s | %s | export %s", metrics["test"], metrics["baselines"], example, export_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
