"""Typed config of the translation task; defaults are the full `make train` settings."""
from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from tasks.common.config import RNNConfig, TrainConfig
from tasks.common.errors import ConfigError


@dataclasses.dataclass
class DataConfig:
    """Where the sentence pairs come from, how they are cleaned and how they are split."""

    source: Literal["builtin", "tsv", "parallel", "tfds"] = "builtin"  # builtin: the grammar's corpus
    path: str | None = None  # tsv: pairs file (.tsv/.txt); parallel: prefix of <path>.en + <path>.vi, or either file
    test_path: str | None = None  # optional test pairs in the same format; else test_fraction of `path` is held out
    source_column: int = 0  # tsv: 0-based column of the English sentence (Anki files: 0; Tatoeba exports: 1)
    target_column: int = 1  # tsv: 0-based column of the Vietnamese sentence (Anki files: 1; Tatoeba exports: 3)
    parallel_suffixes: tuple[str, str] = (".en", ".vi")  # parallel: file suffixes of the English and Vietnamese sides
    decode_html_entities: bool = True  # "&apos;" -> "'", "&amp;" -> "&" (IWSLT / Moses-escaped files)
    drop_duplicates: bool = True  # keep one of identical pairs; drop training pairs whose English is in the test split
    max_source_tokens: int = 50  # training pairs with a longer English side are dropped (counted); test keeps all
    max_target_tokens: int = 60  # same for the Vietnamese side, in syllables and punctuation marks
    max_train_pairs: int | None = None  # keep at most this many training pairs (random, fixed by split_seed)
    on_bad_row: Literal["error", "skip"] = "error"  # a missing column or an empty side: stop at file:row, or skip
    val_fraction: float = 0.1  # share of the training pairs held out for early stopping (not for builtin / tfds)
    test_fraction: float = 0.1  # share of the pairs held out for the test metrics when there is no test_path
    split_seed: int = 0  # the random splits are fixed by this seed, not by train.seed
    tfds_name: str = "ted_multi_translate"  # TFDS dataset for source=tfds; its train/validation/test splits are used
    tfds_data_dir: str | None = None  # TFDS data_dir; None uses TFDS's default (~/tensorflow_datasets)
    builtin_dir: str = "data/translation/builtin"  # the grammar writes train.tsv, valid.tsv and test.tsv here
    builtin_train_pairs: int = 6000  # generated training pairs: every word is seen in many combinations
    builtin_val_pairs: int = 500  # generated validation pairs, from the training distribution
    builtin_test_pairs: int = 500  # generated test pairs, each with a combination never seen in training
    builtin_seed: int = 0  # the generated corpus is fixed by this seed

    def __post_init__(self):
        if min(self.source_column, self.target_column) < 0 or self.source_column == self.target_column:
            raise ConfigError(f"source_column and target_column must be distinct and >= 0, "
                              f"got {self.source_column} and {self.target_column}")
        suffixes = self.parallel_suffixes
        if suffixes[0] == suffixes[1] or not all(s.startswith(".") for s in suffixes):
            raise ConfigError(f"parallel_suffixes must be two different suffixes like ['.en', '.vi'], got {list(suffixes)}")
        for name in ("max_source_tokens", "max_target_tokens", "builtin_train_pairs", "builtin_val_pairs",
                     "builtin_test_pairs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_train_pairs is not None and self.max_train_pairs < 1:
            raise ConfigError(f"max_train_pairs must be >= 1 or null, got {self.max_train_pairs}")
        for name in ("val_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if self.source in ("tsv", "parallel") and not self.path:  # load_config checks after every --set
            raise ConfigError(f"data.path must name the {'pairs file' if self.source == 'tsv' else 'parallel files'} "
                              f"when data.source is {self.source!r}")


@dataclasses.dataclass
class ModelConfig(RNNConfig):
    """Encoder RNN -> state -> decoder RNN [+ Luong attention] -> syllables (the lesson's RNN, both)."""

    RENAMED_KEYS: ClassVar[dict[str, str]] = {"units": "rnn_units"}  # docs/conventions.md

    source_vocab_size: int = 8000  # most frequent English tokens kept; the rest read as [UNK]
    target_vocab_size: int = 8000  # most frequent Vietnamese syllables kept; the rest are written as [UNK]
    min_frequency: int = 2  # tokens seen fewer times in training read as [UNK]: the model learns to copy names
    cell: Literal["simple", "gru"] = "simple"  # simple: the lesson's RNN; gru: keras.layers.GRU (the reference)
    bidirectional: bool = True  # encoder reads both ways: early words are not only in the faded first states
    embedding_dim: int = 256  # size of the token vectors x_t both RNNs read (and, tied, the output vectors)
    rnn_units: int = 256  # size of the states s_t of the encoder and the decoder
    # Encoder and decoder; not RNNConfig's "auto": keras.layers.RNN(SimpleRNNCell), 3% faster here than the fast layer
    # (rnn_layers.SimpleRNN, "auto"/"fast"): sentences are short and at 256 units the products dominate.
    rnn_implementation: Literal["auto", "cell", "fast"] = "cell"
    attention: Literal["luong", "none"] = "luong"  # luong: global attention, general score, over encoder states
    # Luong's input feeding: the previous attentional vector joins the decoder's input. Off: on real pairs it learned
    # slower (seed 0, val BLEU 5.09 vs 6.23 at epoch 18; docs/translation.md's lever table).
    input_feeding: bool = False
    # On the embeddings and before the output layer. 0.1 was no better on real pairs (3 seeds: BLEU 8.87 against 8.72
    # at 0.3, seed to seed -4.3 to +2.9); the GRU reference at 0.1: 19.7 (3 seeds), at 0.3: 22.2 (seed 0).
    dropout: float = 0.3
    tie_embeddings: bool = True  # the output layer reuses the target embedding (the attentional layer gets its size)
    label_smoothing: float = 0.1  # share of the target probability spread over the vocabulary in the loss
    # Baselines trained in the same run; null = builtin data only (no_attention), user data only (gru).
    no_attention_baseline: bool | None = None  # the attention-free model of the same cell (baselines.no_attention)
    gru_baseline: bool | None = None  # the same encoder-decoder with keras.layers.GRU (baselines.gru)
    # Models trained with seeds seed, seed + 1, ..., each checkpointed on its own val BLEU; the decoders average their
    # next-syllable probabilities (one export); baselines stay single models. null: 3 on your own data (Tatoeba, 40
    # epochs: 2 members +1.7 BLEU over the better one; docs/translation.md), 1 on the built-in grammar (one model
    # already scores BLEU 98 there, and make train stays as fast). Each member costs a model's training time.
    ensemble: int | None = None
    checkpoint_metric: Literal["bleu", "loss"] = "bleu"  # keep and stop on validation BLEU (greedy) or val loss
    beam_width: int = 4  # beam of the serving_default signature; the `beam` signature takes any width
    length_penalty: float | None = None  # beam ranks by log p / ((5 + length) / 6) ** this; null: tuned on validation
    # Tried on validation (beam BLEU) when length_penalty is null. Up to 2.5: the 3-model ensembles on Tatoeba translate
    # 14 % short of the references at 1.2 (BLEU's brevity penalty, and chrF weighs recall twice) and chose 1.6 or 2.0:
    # chrF 29.3 -> 30.1, BLEU 15.6 -> 16.1 (3 ensembles, docs/translation.md). Each candidate is one beam pass over val.
    length_penalty_candidates: tuple[float, ...] = (0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.5)
    max_decode_length: int = 80  # decoding stops at [END] or after this many syllables

    def __post_init__(self):
        for name in ("source_vocab_size", "target_vocab_size"):
            if getattr(self, name) < 8:
                raise ConfigError(f"{name} must be >= 8, got {getattr(self, name)}")
        for name in ("embedding_dim", "rnn_units", "beam_width", "max_decode_length", "ensemble"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_frequency < 1:
            raise ConfigError(f"min_frequency must be >= 1, got {self.min_frequency}")
        for name in ("dropout", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name, values in (("length_penalty", (self.length_penalty,)),
                             ("length_penalty_candidates", self.length_penalty_candidates)):
            for value in values:
                if value is not None and not 0 <= value <= 3:
                    raise ConfigError(f"{name} must be in [0, 3], got {value}")
        if self.bidirectional and self.cell == "simple" and self.rnn_implementation != "cell":
            raise ConfigError(f"bidirectional needs rnn_implementation 'cell' (keras.layers.Bidirectional wraps "
                              f"keras.layers.RNN, not the fast layer), got {self.rnn_implementation!r}")
        if not self.length_penalty_candidates:
            raise ConfigError("length_penalty_candidates must hold at least one value")


@dataclasses.dataclass
class TranslationTrainConfig(TrainConfig):
    """TrainConfig with this task's defaults and its own sample_translations."""

    # Upper bound (early stopping: patience below). On 5k real pairs the lesson's RNN still gains after 20 epochs: val
    # BLEU 5.9 at 20, 8.5 at 31 (seed 0); test BLEU 3 seeds 8.72 at 20, 12.22 at 40 (docs/translation.md).
    epochs: int = 40
    batch_size: int = 32  # 4x the Adam steps of batch 128: at 128, 5k real pairs left even the GRU untrained
    learning_rate: float = 1e-3  # 3e-3 at batch 32 unsettles the vanilla RNN on real pairs (val BLEU 0.1 at epoch 5)
    early_stopping_patience: int = 10  # epochs without a better validation score; 5 stopped at a noisy bump
    sample_translations: int = 4  # validation sentences translated into TensorBoard's text tab after each epoch

    def __post_init__(self):
        super().__post_init__()
        if self.sample_translations < 0:
            raise ConfigError(f"sample_translations must be >= 0, got {self.sample_translations}")


@dataclasses.dataclass
class Config:
    """The translation task: English sentence -> Vietnamese sentence (many to many)."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TranslationTrainConfig = dataclasses.field(default_factory=TranslationTrainConfig)
