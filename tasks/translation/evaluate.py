"""Test metrics (sacrebleu BLEU and chrF, greedy and beam) and what TensorBoard shows during training."""
from __future__ import annotations

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

from tasks.common.tensorboard import figure_to_image
from tasks.translation.tokens import END_ID, PAD_ID
from tasks.translation.translator import Translator, translate_all


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus BLEU (sacrebleu's 13a tokenization) and chrF, both 0..100, and the share of exact matches."""
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
            "exact_match": float(np.mean([h == r for h, r in zip(hypotheses, references)]))}


def evaluate_translator(translator: Translator, sources: list[str], references: list[str], beam_width: int) -> dict:
    """{bleu,chrf,exact_match}_{greedy,beam} on a test split, and how often beam beat greedy's log-probability."""
    greedy, greedy_scores = translate_all(translator.greedy, sources)
    beam, beam_scores = translate_all(translator.beam, sources, beam_width=tf.constant(beam_width, tf.int32))
    metrics = {f"{name}_greedy": value for name, value in corpus_scores(greedy, references).items()}
    metrics |= {f"{name}_beam": value for name, value in corpus_scores(beam, references).items()}
    metrics["beam_width"] = beam_width
    metrics["beam_log_probability_gain"] = float(np.mean(np.array(beam_scores) - np.array(greedy_scores)))
    return metrics


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
