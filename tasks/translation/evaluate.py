"""Test metrics (sacrebleu BLEU and chrF, greedy and beam) and what TensorBoard shows during training.

Scoring protocol (the one real-data results are reported in): hypotheses and references are lowercased
and split into words and punctuation marks by the regex `\\w+|[^\\w\\s]`, joined by spaces, then scored by
sacrebleu's corpus BLEU and chrF. A test split that repeats an English sentence gives it several
references (Tatoeba has several translations of many sentences): each distinct sentence is translated
once and scored against all of its references.
"""
from __future__ import annotations

import re

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

from tasks.common.tensorboard import figure_to_image
from tasks.translation.tokens import END_ID, PAD_ID
from tasks.translation.translator import Translator, translate_all


_WORDS = re.compile(r"\w+|[^\w\s]")


def normalize_for_scoring(text: str) -> str:
    """"Tôi yêu Việt Nam." -> "tôi yêu việt nam .": lowercase, words and punctuation marks split apart."""
    return " ".join(_WORDS.findall(text.lower()))


def group_references(sources: list[str], references: list[str]) -> tuple[list[str], list[list[str]]]:
    """Distinct source sentences (first-seen order) and, for each, every reference it has in the split."""
    grouped: dict[str, list[str]] = {}
    for source, reference in zip(sources, references):
        grouped.setdefault(source.strip(), []).append(reference)
    return list(grouped), list(grouped.values())


def corpus_scores(hypotheses: list[str], references: list[list[str]] | list[str]) -> dict:
    """Corpus BLEU and chrF (0..100) under the module's protocol, and the share of exact matches.

    `references[i]` is one reference string or a list of references of hypothesis i (any number each).
    """
    references = [[r] if isinstance(r, str) else list(r) for r in references]
    streams = [[normalize_for_scoring(refs[k]) if k < len(refs) else None for refs in references]
               for k in range(max(map(len, references)))]  # sacrebleu: None = this sentence has fewer
    hypotheses_normalized = [normalize_for_scoring(h) for h in hypotheses]
    # force: the text is tokenized on purpose (the protocol), which sacrebleu would otherwise warn about.
    return {"bleu": sacrebleu.corpus_bleu(hypotheses_normalized, streams, force=True).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses_normalized, streams).score,
            "exact_match": float(np.mean([normalize_for_scoring(h) in map(normalize_for_scoring, refs)
                                          for h, refs in zip(hypotheses, references)]))}


def evaluate_translator(translator: Translator, sources: list[str], references: list[str], beam_width: int) -> dict:
    """{bleu,chrf,exact_match}_{greedy,beam} on a test split (multi-reference), and beam's log-probability gain."""
    sources, references = group_references(sources, references)
    greedy, greedy_scores = translate_all(translator.greedy, sources)
    beam, beam_scores = translate_all(translator.beam, sources, beam_width=tf.constant(beam_width, tf.int32))
    metrics = {f"{name}_greedy": value for name, value in corpus_scores(greedy, references).items()}
    metrics |= {f"{name}_beam": value for name, value in corpus_scores(beam, references).items()}
    metrics["beam_width"] = beam_width
    metrics["length_penalty"] = float(translator.length_penalty.numpy())
    metrics["sentences"] = len(sources)
    metrics["beam_log_probability_gain"] = float(np.mean(np.array(beam_scores) - np.array(greedy_scores)))
    return metrics


def greedy_scores(translator: Translator, sources: list[str], references: list[str]) -> dict:
    """{bleu,chrf}_greedy on a split (multi-reference): one ensemble member's own scores, beside the ensemble's."""
    sources, references = group_references(sources, references)
    scores = corpus_scores(translate_all(translator.greedy, sources)[0], references)
    return {"bleu_greedy": scores["bleu"], "chrf_greedy": scores["chrf"]}


def tune_length_penalty(translator: Translator, sources: list[str], references: list[str], beam_width: int,
                        candidates) -> dict:
    """Sets the translator's length penalty to the candidate with the best validation BLEU (beam); returns all."""
    sources, references = group_references(sources, references)
    width = tf.constant(beam_width, tf.int32)
    results = {}
    for candidate in candidates:
        translator.length_penalty.assign(candidate)
        results[float(candidate)] = corpus_scores(translate_all(translator.beam, sources, beam_width=width)[0],
                                                  references)["bleu"]
    best = max(results, key=lambda c: (results[c], -abs(c - 0.6)))  # ties: the usual value for real text
    translator.length_penalty.assign(best)
    return {"chosen": best, "validation_bleu_beam": results}


class ValidationBleu(keras.callbacks.Callback):
    """Adds `val_bleu` (greedy, on the validation split) to each epoch's logs, for checkpointing and early stopping.

    Pass it to `fit` as a metric callback: it must run before ModelCheckpoint and EarlyStopping read the logs.
    """

    def __init__(self, translator: Translator, sources: list[str], references: list[str]):
        super().__init__()
        self.translator = translator
        self.sources, self.references = group_references(sources, references)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            hypotheses = translate_all(self.translator.greedy, self.sources)[0]
            logs["val_bleu"] = corpus_scores(hypotheses, self.references)["bleu"]


def attention_figure(source_tokens, target_tokens, weights, title: str):
    """Heatmap of attention weights: one row per produced syllable, one column per English token."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(1.0 + 0.45 * len(source_tokens), 1.0 + 0.4 * len(target_tokens)))
    axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source_tokens)), source_tokens, rotation=60, ha="right")
    axes.set_yticks(range(len(target_tokens)), target_tokens)
    axes.set(xlabel="English", ylabel="Vietnamese (greedy)", title=title)
    return figure


def attention_figures(outputs: dict, texts: list[str]) -> dict:
    """{name: figure} per text from `Translator.greedy_with_attention` outputs: attention over the source tokens."""
    figures = {}
    for index, text in enumerate(texts):
        source = [t.decode("utf-8") for t in outputs["source_tokens"][index].numpy() if t]
        ids = outputs["target_ids"][index].numpy()
        length = int(np.argmax(ids == END_ID)) + 1 if (ids == END_ID).any() else int((ids != PAD_ID).sum())
        target = [t.decode("utf-8") for t in outputs["target_tokens"][index].numpy()[:length]]
        weights = outputs["attention"][index].numpy()[:length, :len(source)]
        figures[f"attention_{index}"] = attention_figure(source, target, weights, text)
    return figures


class TranslationSamples(keras.callbacks.Callback):
    """After each epoch: a table of sample translations in TensorBoard's text tab, attention heatmaps as images."""

    def __init__(self, translator: Translator, sources: list[str], references: list[str], log_dir,
                 attention: bool):
        super().__init__()
        self.translator, self.sources, self.references = translator, list(sources), list(references)
        self.writer = tf.summary.create_file_writer(str(log_dir) + "/samples")
        self.attention = attention

    def on_epoch_end(self, epoch, logs=None):
        if not self.sources:
            return
        outputs = self.translator.greedy_with_attention(tf.constant(self.sources, tf.string))
        translations = [t.decode("utf-8") for t in outputs["translation"].numpy()]
        table = [["English", "reference", "greedy translation", "log p"]]
        table += [[s, r, t, f"{p:.2f}"] for s, r, t, p in zip(self.sources, self.references, translations,
                                                              outputs["log_probability"].numpy())]
        with self.writer.as_default(step=epoch):
            tf.summary.text("sample_translations", tf.constant(table))
            if self.attention:
                for name, figure in attention_figures(outputs, self.sources).items():
                    tf.summary.image(name, figure_to_image(figure))
        self.writer.flush()
