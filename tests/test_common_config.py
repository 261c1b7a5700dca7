"""Strict typed config: YAML over dataclass defaults, --set overrides, errors naming key and file."""
import dataclasses
import typing
from typing import Literal

import pytest

from tasks.common.config import ConfigError, RNNConfig, TrainConfig, load_config, parse_override, save_config


@dataclasses.dataclass
class ModelSection:
    units: int = 8
    activation: Literal["tanh", "relu"] = "tanh"
    dropout: float = 0.0
    sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    name: str | None = None

    def __post_init__(self):
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclasses.dataclass
class ExampleConfig:
    model: ModelSection = dataclasses.field(default_factory=ModelSection)
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=30, learning_rate=3e-3))


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_yaml_and_overrides_layer_in_order(tmp_path):
    path = write(tmp_path, "model:\n  units: 32\n  dropout: 0\ntrain:\n  epochs: 5\n")
    config = load_config(ExampleConfig, path, ["train.epochs=7", "model.sizes=[3, 4]", "model.name=null"])
    assert config.model.units == 32
    assert config.model.dropout == 0.0 and isinstance(config.model.dropout, float)  # int widened to float
    assert config.train.epochs == 7
    assert config.model.sizes == [3, 4]
    assert config.train.batch_size == TrainConfig().batch_size


@pytest.mark.parametrize("text, expected", [
    ("model:\n  unts: 3\n", "unknown key 'model.unts'"),
    ("model:\n  units: three\n", "model.units: expected int, got 'three'"),
    ("model:\n  units: true\n", "model.units: expected int, got True"),
    ("model:\n  activation: sigmoid\n", "model.activation: must be one of ['tanh', 'relu']"),
    ("model:\n  dropout: 1.5\n", "dropout must be in [0, 1), got 1.5"),
    ("train:\n  epochs: 0\n", "epochs must be >= 1"),
    ("model: [1, 2]\n", "model: expected a mapping"),
    ("- a\n- b\n", "expected a mapping at the top level"),
    ("model: {units: 3\n", "c.yaml:2: not valid YAML: expected ',' or '}', but got '<stream end>' (column 1)"),
])
def test_bad_values_name_the_key_and_the_file(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(ExampleConfig, path)
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_bad_override_names_the_override(tmp_path):
    with pytest.raises(ConfigError, match=r"--set train\.epochz=3: unknown key 'train\.epochz'"):
        load_config(ExampleConfig, None, ["train.epochz=3"])
    with pytest.raises(ConfigError, match="expects key=value"):
        parse_override("train.epochs")
    with pytest.raises(ConfigError) as error:
        load_config(ExampleConfig, None, ["model.sizes=[1, 2"])
    assert str(error.value) == ("--set model.sizes=[1, 2: the value is not valid YAML: expected ',' or ']', but got "
                                "'<stream end>' (column 6)")


def test_unreadable_config_files_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(ExampleConfig, tmp_path)
    assert str(error.value) == f"{tmp_path}: is a directory, not a config file"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("model:\n  name: café\n".encode("latin-1"))
    with pytest.raises(ConfigError) as error:
        load_config(ExampleConfig, latin)
    assert str(error.value) == f"{latin}:2: not UTF-8 (byte 0xe9 at offset 18); re-save the file as UTF-8"
    assert "\n" not in str(error.value)


@dataclasses.dataclass
class BuggySection:
    units: int = 8

    def __post_init__(self):
        if self.units > 8:
            int("not a number")  # a bug in a validation, not a bad value: must not read as a config error


def test_a_bug_in_a_sections_validation_is_not_reported_as_a_config_error():
    @dataclasses.dataclass
    class BuggyConfig:
        model: BuggySection = dataclasses.field(default_factory=BuggySection)

    with pytest.raises(ValueError) as error:
        load_config(BuggyConfig, None, ["model.units=9"])
    assert not isinstance(error.value, ConfigError)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(ExampleConfig, tmp_path / "nope.yaml")


def test_saved_config_loads_back_identical(tmp_path):
    config = load_config(ExampleConfig, None, ["model.units=5", "train.clipnorm=null"])
    save_config(config, tmp_path / "resolved.yaml")
    assert load_config(ExampleConfig, tmp_path / "resolved.yaml") == config


def test_a_partial_section_keeps_the_task_defaults_of_the_other_fields(tmp_path):
    config = load_config(ExampleConfig, write(tmp_path, "train:\n  batch_size: 8\n"), ["train.verbose=0"])
    assert (config.train.epochs, config.train.learning_rate, config.train.batch_size) == (30, 3e-3, 8)


@dataclasses.dataclass
class OptionalSectionConfig:
    train: TrainConfig | None = dataclasses.field(default_factory=lambda: TrainConfig(epochs=30))


def test_an_optional_section_also_keeps_the_task_defaults():
    config = load_config(OptionalSectionConfig, None, ["train.batch_size=8"])
    assert (config.train.epochs, config.train.batch_size) == (30, 8)
    assert load_config(OptionalSectionConfig, None, ["train=null"]).train is None


def test_exponent_floats_that_yaml_reads_as_strings_are_accepted():
    assert load_config(ExampleConfig, None, ["train.learning_rate=5e-4"]).train.learning_rate == 5e-4


@dataclasses.dataclass
class Source:
    kind: str = "builtin"
    path: str | None = None

    def __post_init__(self):
        if self.kind == "files" and not self.path:
            raise ConfigError("kind 'files' needs a path")


@dataclasses.dataclass
class CrossFieldConfig:
    data: Source = dataclasses.field(default_factory=Source)


def test_cross_field_checks_see_all_overrides_together():
    config = load_config(CrossFieldConfig, None, ["data.kind=files", "data.path=x.csv"])
    assert (config.data.kind, config.data.path) == ("files", "x.csv")
    with pytest.raises(ConfigError, match=r"--set data\.kind=files: data: kind 'files' needs a path"):
        load_config(CrossFieldConfig, None, ["data.kind=files"])


@dataclasses.dataclass
class RenamedSection:
    RENAMED_KEYS: typing.ClassVar[dict[str, str]] = {"units": "rnn_units"}

    rnn_units: int = 8


@dataclasses.dataclass
class RenamedConfig:
    model: RenamedSection = dataclasses.field(default_factory=RenamedSection)


def test_a_renamed_key_names_its_new_name(tmp_path):
    with pytest.raises(ConfigError, match=r"^--set model.units=4: key 'model.units' was renamed to 'model.rnn_units'$"):
        load_config(RenamedConfig, None, ["model.units=4"])
    path = write(tmp_path, "model:\n  units: 4\n")
    with pytest.raises(ConfigError, match=r"c.yaml: key 'model.units' was renamed to 'model.rnn_units'$"):
        load_config(RenamedConfig, path)
    assert load_config(RenamedConfig, None, ["model.rnn_units=4"]).model.rnn_units == 4
    with pytest.raises(ConfigError, match="unknown key 'model.unit'; known keys here: \\['rnn_units'\\]"):
        load_config(RenamedConfig, None, ["model.unit=4"])  # RENAMED_KEYS is not a field


@pytest.mark.parametrize("task", ["heart_attack", "sentiment_stars", "translation", "video_actions"])
def test_every_model_config_takes_the_rnn_fields_from_rnnconfig(task):
    import importlib

    config_class = importlib.import_module(f"tasks.{task}.config").Config
    model_class = typing.get_type_hints(config_class)["model"]
    assert issubclass(model_class, RNNConfig)
    own = {name for name in ("rnn_implementation", "activation") if name in vars(model_class)}
    assert own <= {"rnn_implementation"}  # a task may change a default (translation: "cell"), not redeclare f
    config = load_config(config_class, None, ["model.activation=relu", "model.rnn_implementation=cell"])
    assert (config.model.activation, config.model.rnn_implementation) == ("relu", "cell")
    with pytest.raises(ConfigError, match=r"model.activation: must be one of \['tanh', 'relu'\], got 'sigmoid'"):
        load_config(config_class, None, ["model.activation=sigmoid"])
    with pytest.raises(ConfigError, match=r"unknown key 'model.activaton'; known keys here: \['activation', "):
        load_config(config_class, None, ["model.activaton=relu"])
