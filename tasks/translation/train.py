"""Train the English -> Vietnamese encoder-decoder: `python -m tasks.translation.train --config configs/translation.yaml`."""
from __future__ import annotations

import dataclasses
import json
import logging

import keras

from tasks.common.ensemble import combined_fit_result, train_members
from tasks.common.task import FitSettings, Serving, Task, TaskData, Trained, task_main
from tasks.common.training import compile_model
from tasks.translation import SUMMARY, data, evaluate
from tasks.translation.config import Config
from tasks.translation.grammar import LESSON_EXAMPLE
from tasks.translation.model import build_model, training_loss
from tasks.translation.tokens import Vocabularies, fit_vocabularies
from tasks.translation.translator import Translator, translate_all

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TranslationData(TaskData):
    """The cleaned corpus and the vocabularies fitted on its training pairs."""

    corpus: data.Corpus
    vocabularies: Vocabularies


@dataclasses.dataclass
class TrainedTranslator(Trained):
    """The model with its Translator (greedy and beam search around it) and the tuned length penalty."""

    translator: Translator | None = None
    tuning: dict | None = None  # the length penalty's validation BLEUs, when it was tuned
    members: list = dataclasses.field(default_factory=list)  # the ensemble's models (one: the model)


class Translation(Task):
    """English sentence -> Vietnamese sentence; see tasks/translation/__init__.py."""

    name = "translation"
    config_class = Config
    summary = SUMMARY

    def __init__(self, attention: str | None = None, cell: str | None = None):
        # A baseline is this task with another attention or cell (see baselines_to_train).
        self.attention, self.cell = attention, cell

    def load_data(self, run) -> TranslationData:
        config = run.config
        corpus = data.load_data(config.data)
        vocabularies = fit_vocabularies(corpus.train.english.tolist(), corpus.train.vietnamese.tolist(),
                                        config.model.source_vocab_size, config.model.target_vocab_size,
                                        config.model.min_frequency)
        batch, seed = config.train.batch_size, config.train.seed
        return TranslationData(
            dataset=corpus.name, splits={"train": corpus.train, "val": corpus.val, "test": corpus.test},
            train_ds=data.make_dataset(corpus.train, vocabularies.source, vocabularies.target, batch, True, seed),
            val_ds=data.make_dataset(corpus.val, vocabularies.source, vocabularies.target, batch, False, seed),
            num_train=len(corpus.train), corpus=corpus, vocabularies=vocabularies)

    def build_model(self, run, loaded: TranslationData) -> keras.Model:
        config, vocabularies = run.config, loaded.vocabularies
        model = build_model(config.model, vocabularies.source.size, vocabularies.target.size,
                            self.attention or config.model.attention, self.cell or config.model.cell)
        return compile_model(model, config.train, loss=training_loss(config.model),
                             weighted_metrics=["accuracy"])

    def train(self, run, loaded: TranslationData) -> TrainedTranslator:
        """`model.ensemble` models (seeds seed, seed + 1, ...; a baseline is one), served together by one Translator;
        the beam's length penalty, unless configured, is then tuned on validation for the translator served."""
        config, val = run.config, loaded.corpus.val
        count = 1 if self.is_baseline else ensemble_size(config)
        members, fits, _ = train_members(run, count, lambda member, seed: self._train_member(member, loaded, seed))
        translator = self.translator(run, loaded, members)
        tuning = None
        if config.model.length_penalty is None:
            tuning = evaluate.tune_length_penalty(translator, val.english.tolist(), val.vietnamese.tolist(),
                                                  config.model.beam_width, config.model.length_penalty_candidates)
        report = {"length_penalty_tuning": {"model": tuning}}
        if count > 1:
            report["ensemble_members"] = count
        return TrainedTranslator(members[0], combined_fit_result(fits), report, translator, tuning, members)

    @property
    def is_baseline(self) -> bool:
        return self.attention is not None or self.cell is not None

    def translator(self, run, loaded: TranslationData, models) -> Translator:
        """Greedy and beam search around one model or an ensemble's list of models."""
        config, vocabularies = run.config.model, loaded.vocabularies
        return Translator(models, vocabularies.source, vocabularies.target, vocabularies.truecasing, config.beam_width,
                          config.max_decode_length, config.length_penalty or 0.0)

    def _train_member(self, run, loaded: TranslationData, seed: int):
        """Builds and fits one model in `run`'s dir (checkpoints on its own validation BLEU): (model, FitResult, None)."""
        config, vocabularies, val = run.config, loaded.vocabularies, loaded.corpus.val
        model = self.build(run, loaded)
        translator = self.translator(run, loaded, model)
        samples = val.head(config.train.sample_translations)
        callbacks = [evaluate.TranslationSamples(translator, samples.english.tolist(), samples.vietnamese.tolist(),
                                                 run.tensorboard_dir,
                                                 attention=(self.attention or config.model.attention) == "luong")]
        settings = FitSettings()  # val_loss
        if config.model.checkpoint_metric == "bleu":
            settings = FitSettings(monitor="val_bleu", mode="max", metric_callbacks=(
                evaluate.ValidationBleu(translator, val.english.tolist(), val.vietnamese.tolist()),))
        train_ds = (loaded.train_ds if seed == config.train.seed  # the first member shuffles as load_data did
                    else data.make_dataset(loaded.corpus.train, vocabularies.source, vocabularies.target,
                                           config.train.batch_size, True, seed))
        return model, self.fit(run, loaded, model, callbacks, settings, train_ds=train_ds), None

    def evaluate(self, run, loaded: TranslationData, trained: TrainedTranslator) -> dict:
        test = loaded.corpus.test
        return evaluate.evaluate_translator(trained.translator, test.english.tolist(), test.vietnamese.tolist(),
                                            run.config.model.beam_width)

    def baselines(self, run, loaded: TranslationData, trained: TrainedTranslator) -> dict:
        """Each baseline is the same encoder-decoder with another attention or cell, in a sub-directory."""
        baselines = {}
        for name, (attention, cell) in baselines_to_train(run.config).items():
            baseline_run = dataclasses.replace(run, worker_dir=run.worker_dir / name)
            baseline = Translation(attention, cell)
            fitted = baseline.train(baseline_run, loaded)
            trained.report["length_penalty_tuning"][name] = fitted.tuning
            baselines[name] = baseline.evaluate(baseline_run, loaded, fitted)
        return baselines

    def serving(self, run, loaded: TranslationData, trained: TrainedTranslator) -> Serving:
        translator, vocabularies = trained.translator, loaded.vocabularies
        return Serving(translator, translator.signatures(), {
            "source_vocabulary.txt": "\n".join(vocabularies.source.tokens) + "\n",
            "target_vocabulary.txt": "\n".join(vocabularies.target.tokens) + "\n",
            "truecasing.json": json.dumps(vocabularies.truecasing, ensure_ascii=False, indent=1) + "\n"})

    def report(self, run, loaded: TranslationData, trained: TrainedTranslator, test, baselines, serving) -> dict:
        corpus, translator = loaded.corpus, trained.translator
        sources, references = corpus.test.english.tolist()[:8], corpus.test.vietnamese.tolist()[:8]
        example = {"english": LESSON_EXAMPLE[0],
                   "greedy": translate_all(translator.greedy, [LESSON_EXAMPLE[0]])[0][0],
                   "beam": translate_all(translator.translate, [LESSON_EXAMPLE[0]])[0][0]}
        log.info("the lesson's example: %s", example)
        extra = {}
        if len(trained.members) > 1:  # what the ensemble adds: each member alone, greedy, on the same test split
            extra["ensemble_member_test"] = {
                str(k): evaluate.greedy_scores(self.translator(run, loaded, member), corpus.test.english.tolist(),
                                               corpus.test.vietnamese.tolist())
                for k, member in enumerate(trained.members)}
        return dict(**extra,
            split_sizes={name: len(split) for name, split in loaded.splits.items()}, cleaning=corpus.cleaning,
            vocabulary_sizes={"source": loaded.vocabularies.source.size, "target": loaded.vocabularies.target.size},
            lesson_example=example,
            samples=[{"english": e, "reference": r, "translation": t}
                     for e, r, t in zip(sources, references, translate_all(translator.translate, sources)[0])])


def ensemble_size(config) -> int:
    """model.ensemble, or when null: 1 on the built-in grammar, 3 on user data (see ModelConfig)."""
    if config.model.ensemble is not None:
        return config.model.ensemble
    return 1 if config.data.source == "builtin" else 3


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


main = task_main(Translation, __doc__)

if __name__ == "__main__":
    raise SystemExit(main())
