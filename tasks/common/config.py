"""Typed configs: YAML files and `--set a.b=value` overrides over dataclass defaults.

Each task's `config.py` defines a `Config` dataclass with nested sections (`data`, `model`, `train`).
Defaults live in the dataclasses; YAML files list only what differs. Loading is strict: an unknown key,
a value of the wrong type or a value a section's `__post_init__` rejects raises `ConfigError` naming the
key and the file (or `--set`), so a typo never silently trains the wrong model.

A section that renames a field lists the old name in a class attribute `RENAMED_KEYS = {"old": "new"}`
(typing.ClassVar, so it is not a field; `("new", "other")` when one key became several; a new name with a dot
is a full key, the field moved to another section); a config that still uses the old name gets an error
naming the new one(s) instead of the list of known keys.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from tasks.common.atomic import atomic_write
from tasks.common.errors import ConfigError  # noqa: F401  (imported from here by tasks and tests)


@dataclasses.dataclass
class TrainConfig:
    """How every task trains; shared so that every run dir and metrics.json look alike."""

    epochs: int = 20  # upper bound; early stopping usually ends sooner
    batch_size: int = 64  # small enough for 2 CPU cores, large enough for stable Adam steps
    learning_rate: float = 1e-3  # Adam default; RNN tasks here converge with it
    clipnorm: float | None = 1.0  # clip the global gradient norm: vanilla RNNs explode without it
    early_stopping_patience: int = 4  # epochs without val improvement before stopping; 0 disables
    seed: int = 42  # seeds Python, NumPy, TF and Keras for reproducible runs
    steps_per_execution: int = 8  # batches per tf.function call: less Python per step
    histogram_freq: int = 1  # epochs between weight histograms in TensorBoard; 0 disables
    strategy: Literal["default", "mirrored", "multi_worker"] = "default"  # tf.distribute strategy
    runs_dir: str = "runs"  # run dirs go to <runs_dir>/<task>/<timestamp>/
    export_dir: str = "exports"  # SavedModels go to <export_dir>/<task>/<version>/
    verbose: int = 2  # Keras fit verbosity: 1 progress bar, 2 one line per epoch, 0 silent

    def __post_init__(self):
        for name in ("epochs", "batch_size", "steps_per_execution"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.clipnorm is not None and self.clipnorm <= 0:
            raise ConfigError(f"clipnorm must be > 0 or null, got {self.clipnorm}")
        if self.early_stopping_patience < 0 or self.histogram_freq < 0:
            raise ConfigError("early_stopping_patience and histogram_freq must be >= 0")


@dataclasses.dataclass
class RNNConfig:
    """The lesson RNN's fields, the same in every task: each task's ModelConfig subclasses this."""

    rnn_implementation: Literal["auto", "cell", "fast"] = "auto"  # auto: fast unless an option needs the cell (docs/speed.md)
    activation: Literal["tanh", "relu"] = "tanh"  # the lesson's f


def check_bounds(section, *, positive=(), non_negative=(), fractions=(), above_zero=()) -> None:
    """Range checks for a config section's __post_init__: a ConfigError naming the first bad field.

    positive: >= 1 (sizes, counts); non_negative: >= 0; fractions: in [0, 1) (dropout); above_zero: > 0 (rates).
    """
    for names, bad, rule in ((positive, lambda v: v < 1, ">= 1"), (non_negative, lambda v: v < 0, ">= 0"),
                             (fractions, lambda v: not 0 <= v < 1, "in [0, 1)"),
                             (above_zero, lambda v: v <= 0, "> 0")):
        for name in names:
            if bad(getattr(section, name)):
                raise ConfigError(f"{name} must be {rule}, got {getattr(section, name)}")


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp, key: str, base=None) -> Any:
    """Checks `value` against the annotation `tp`, converting where it is lossless (int -> float, list -> tuple).

    A mapping for a dataclass section is built over `base`, the section's current value, when it is one.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key, base)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: must be one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key, base if isinstance(base, tp) else None)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        key_type, value_type = args or (Any, Any)
        return {_convert(k, key_type, f"{key}.{k}"): _convert(v, value_type, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 3e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp in (int, float, str, bool):
        if isinstance(value, bool) and tp is not bool:
            raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
        if not isinstance(value, tp):
            raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r} ({type(value).__name__})")
        return value
    raise ConfigError(f"{key}: unsupported annotation {tp!r}")  # a bug in a Config class, not in the YAML


def _build(cls, values: dict, prefix: str = "", base=None):
    """Builds dataclass `cls` from a (partial) mapping over `base` (default: `cls()`), recursing into sections.

    Starting from the default instance keeps a task's own section defaults (e.g. `train` built by a
    `default_factory` with more epochs) when a file or `--set` changes only some of its fields.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in values if k not in fields]
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        renamed = getattr(cls, "RENAMED_KEYS", {}).get(unknown[0])
        if renamed is not None:  # a name, or several when one key became several
            names = " and ".join(repr(name if "." in name or not prefix else f"{prefix}.{name}")
                                 for name in ((renamed,) if isinstance(renamed, str) else renamed))
            raise ConfigError(f"key {key!r} was renamed to {names}")
        raise ConfigError(f"unknown key {key!r}; known keys here: {sorted(fields)}")
    base = cls() if base is None else base
    kwargs = {}
    for name, value in values.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _convert(value, hints[name], key, getattr(base, name))
    try:
        return dataclasses.replace(base, **kwargs)
    except ConfigError as error:  # a section's __post_init__; any other error there is a bug and keeps its traceback
        raise ConfigError(f"{prefix or cls.__name__}: {error}") from None


def _merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _yaml_problem(error: yaml.YAMLError) -> tuple[int | None, str]:
    """(1-based line or None, one-line reason) of a YAML error; PyYAML's own message spans several lines."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).strip().splitlines()[0]
    if mark is None:
        return None, problem
    return mark.line + 1, f"{problem} (column {mark.column + 1})"


def parse_override(text: str) -> dict:
    """'train.epochs=3' -> {'train': {'epochs': 3}}; the value is parsed as YAML ('null', '[1, 2]', 'true')."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    dotted, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {text}: the value is not valid YAML: {_yaml_problem(error)[1]}") from None
    for part in reversed(dotted.strip().split(".")):
        if not part:
            raise ConfigError(f"--set has an empty key part in {text!r}")
        value = {part: value}
    return value


def load_config(config_cls, path: str | Path | None = None, overrides=()):
    """Returns `config_cls` built from its defaults, then the YAML file at `path`, then `--set` overrides."""
    values: dict = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, not a config file") from None
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the config file: {error.strerror or error}") from None
        except UnicodeDecodeError as error:
            line = error.object[:error.start].count(b"\n") + 1
            raise ConfigError(f"{path}:{line}: not UTF-8 (byte 0x{error.object[error.start]:02x} at offset "
                              f"{error.start}); re-save the file as UTF-8") from None
        except yaml.YAMLError as error:
            line, problem = _yaml_problem(error)
            raise ConfigError(f"{path}{f':{line}' if line else ''}: not valid YAML: {problem}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level, got {type(loaded).__name__}")
        values = loaded or {}
    merged = values
    for override in overrides:
        merged = _merge(merged, parse_override(override))
    try:
        return _build(config_cls, merged)
    except ConfigError as error:
        # Blame the file or the one --set that is wrong on its own; a combination that only the file and
        # all overrides together break (a check across fields) is reported against both.
        try:
            _build(config_cls, values)
        except ConfigError as in_file:
            raise ConfigError(f"{source}: {in_file}") from None
        for override in overrides:
            try:
                _build(config_cls, _merge(values, parse_override(override)))
            except ConfigError as single:
                raise ConfigError(f"--set {override}: {single}") from None
        raise ConfigError(f"{source}{' with --set overrides' if overrides else ''}: {error}") from None


def config_to_dict(config) -> dict:
    """Plain dict of a config (tuples become lists), ready for YAML or JSON."""
    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return plain(dataclasses.asdict(config))


def save_config(config, path: str | Path) -> None:
    """Writes the resolved config as YAML (a run dir's config.yaml, replaced whole); loading it back gives the
    same config."""
    atomic_write(path, yaml.safe_dump(config_to_dict(config), sort_keys=False, allow_unicode=True), replace=True)
