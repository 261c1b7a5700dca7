"""Faults and bad inputs a new user hit, each driven as the user met it, with the exact message."""
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks.common.config import TrainConfig
from tasks.common.errors import DataError, SkipCounter
from tasks.common.export import export_saved_model, resolve_export
from tasks.common.run import LOCK_NAME, RunDirError, _choose_run_dir, acquire_run_dir, main_guard, release_run_dir
from tasks.common.tables import read_table
from tasks.common.text import normalize_nfc, standardize_text
from tasks.common.training import _EpochTimer
from tasks.sentiment_stars.config import Config as SentimentConfig, ModelConfig
from tasks.sentiment_stars.model import ServingModule, build_model
from tests.conftest import REPO, run_python


def _run(task, export_dir, run_dir=None):
    config = types.SimpleNamespace(train=TrainConfig(export_dir=str(export_dir)))
    return types.SimpleNamespace(task=task, config=config, is_chief=True, worker_dir=run_dir, run_dir=run_dir)


@pytest.fixture(scope="module")
def sentiment_export(tmp_path_factory):
    """An untrained tiny sentiment export: enough to test what predict and the export do with odd requests."""
    root = tmp_path_factory.mktemp("faults")
    old = os.umask(0o022)
    try:
        model = build_model(ModelConfig(rnn_units=4, embedding_dim=4, max_tokens=50),
                            np.array(["rất tốt", "tệ quá", "ứng dụng tốt"]))
        serving = ServingModule(model)
        path = export_saved_model(serving, _run("sentiment_stars", root / "exports", root / "run"),
                                  {"serving_default": serving.serve.get_concrete_function()})
    finally:
        os.umask(old)
    return root, path


def predict(task, *args):
    return run_python(["-m", f"tasks.{task}.predict", *map(str, args)], check=False, timeout=300)


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


# 1. an all-empty batch of strings
def test_normalization_and_the_export_answer_an_all_empty_batch(sentiment_export):
    assert normalize_nfc(tf.constant(["", ""])).numpy().tolist() == [b"", b""]
    assert standardize_text(tf.constant([""])).numpy().tolist() == [b""]
    assert normalize_nfc(tf.constant(["Vie\u0323\u0302t", ""])).numpy()[0].decode() == "Việt"
    serve = tf.saved_model.load(str(sentiment_export[1])).signatures["serving_default"]
    for batch in ([""], ["", ""], ["", "rất tốt"]):
        assert serve(text=tf.constant(batch))["stars"].shape == (len(batch),)


def test_predict_of_an_empty_review_prints_a_line(sentiment_export):
    result = predict("sentiment_stars", "--model", sentiment_export[1], "")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["text"] == ""


# 2. the built-in generator never replaces a user's file
def test_translation_generator_leaves_a_users_train_tsv_alone(tmp_path):
    from tasks.translation import grammar

    first = grammar.write_corpus(tmp_path, 20, 5, 5, seed=1)["train"]
    assert grammar.write_corpus(tmp_path, 30, 5, 5, seed=1)["train"].parent != first.parent  # its own folder
    first.write_text("my\tcủa tôi\n", encoding="utf-8")  # the user edits a generated file
    with pytest.raises(DataError) as error:
        grammar.write_corpus(tmp_path, 20, 5, 5, seed=1)
    assert str(error.value) == (f"{first}: is missing or changed since the built-in generator wrote it; "
                                f"delete {first.parent} to generate it again")
    assert first.read_text(encoding="utf-8") == "my\tcủa tôi\n"


# 3. exports readable like the files around them
def test_export_version_directories_follow_the_umask(sentiment_export):
    path = sentiment_export[1]
    for directory in [path, *(p for p in path.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o755, directory


def toy_module():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda x: {"y": model(x)}, input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    return module, {"serving_default": module.serve.get_concrete_function()}


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_export_folder_and_file_follows_the_umask(tmp_path, umask):
    module, signatures = toy_module()
    old = os.umask(umask)
    try:
        path = export_saved_model(module, _run("toy", tmp_path / "exports", tmp_path / "run"), signatures,
                                  assets={"note.txt": "x"})
    finally:
        os.umask(old)
    modes = {p.relative_to(path.parent).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [path, *path.rglob("*")]}
    assert {"1", "1/variables", "1/assets.extra", "1/saved_model.pb", "1/assets.extra/note.txt"} <= set(modes)
    for name, mode in modes.items():
        assert mode == (0o777 if (path.parent / name).is_dir() else 0o666) & ~umask, (name, oct(mode))


# 4. heart exams: non-finite values and patients with nothing measured
@pytest.mark.parametrize("visits, message", [
    ("[[Infinity, 1]]", "p.jsonl:1: visit 1: value inf is not a finite float32 number"),
    ("[[1e300, 1]]", "p.jsonl:1: visit 1: value 1e+300 is not a finite float32 number"),
    ("[[null, null], [null, null]]", "p.jsonl:1: the patient has no measured value (every value is null)"),
])
def test_heart_exams_reject_non_finite_values_and_empty_patients(visits, message):
    from tasks.heart_attack.predict import read_exams_lines

    with pytest.raises(DataError) as error:
        read_exams_lines(visits + "\n", "p.jsonl", 2)
    assert str(error.value) == message


# 5. a CSV field longer than Python's csv limit
def test_a_field_over_131072_characters_loads(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,stars\n\"" + "tốt " * 40000 + "\",5\nok,4\n", encoding="utf-8")
    frame = read_table(path)
    assert frame.index.tolist() == [2, 3] and len(frame.text.iloc[0]) == 160000


# 9. a repeated column in the header
def test_a_repeated_header_column_is_an_error(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,text,stars\na,b,5\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        read_table(path)
    assert str(error.value) == f"{path}:1: column 'text' appears more than once in the header"


# 6. a run dir is owned by one live process
HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tasks.common.run import acquire_run_dir

    acquire_run_dir(Path(sys.argv[1]))
    print("locked", flush=True)
    time.sleep(120)
""")


def hold_lock(run_dir):
    """Another real process that owns run_dir (its flock), until killed."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], cwd=REPO, stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"locked"
    return holder


def kill(process):
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


def test_a_live_owner_blocks_the_run_dir_and_its_lock_dies_with_it(tmp_path):
    holder = hold_lock(tmp_path)
    try:
        with pytest.raises(RunDirError) as error:
            acquire_run_dir(tmp_path)
        assert str(error.value) == (f"{tmp_path} is in use by process {holder.pid} (its {LOCK_NAME}); wait for it "
                                    "to finish or choose another --run-dir")
    finally:
        kill(holder)  # SIGKILL: no cleanup ran, the .lock file with its pid is still there
    assert (tmp_path / LOCK_NAME).read_text().split() == [str(holder.pid)]
    try:
        acquire_run_dir(tmp_path)  # the kernel dropped the dead owner's flock: taken over, no stale check needed
        assert (tmp_path / LOCK_NAME).read_text().split() == [str(os.getpid())]
        second = run_python(["-c", HOLD_LOCK, str(tmp_path)], check=False, timeout=60)
        assert second.returncode == 1 and f"is in use by process {os.getpid()}" in second.stderr
    finally:
        release_run_dir(tmp_path)
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_pid_file_without_a_lock_does_not_block(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # a live pid in the file is not ownership: only the flock is (pids are reused)
        (tmp_path / LOCK_NAME).write_text(f"{sleeper.pid}\n")
        acquire_run_dir(tmp_path)
        release_run_dir(tmp_path)
    finally:
        kill(sleeper)


def test_a_second_train_command_on_a_live_run_dir_gets_one_line(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = hold_lock(run_dir)
    try:
        result = run_python(["-m", "tasks.sentiment_stars.train", "--run-dir", run_dir, "--set",
                             f"train.runs_dir={tmp_path / 'runs'}"], check=False, timeout=300)
        assert error_line(result) == (f"error: {run_dir} is in use by process {holder.pid} (its {LOCK_NAME}); wait "
                                      "for it to finish or choose another --run-dir "
                                      "(set RNN_TASKS_DEBUG=1 for a traceback)")
        assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_NAME]  # nothing written into the live run
    finally:
        kill(holder)


def test_the_same_command_beside_a_live_run_starts_a_new_run_dir(tmp_path):
    from tasks.common.config import save_config

    config = SentimentConfig(train=TrainConfig(runs_dir=str(tmp_path)))
    live = tmp_path / "sentiment_stars" / "20260101-000000"
    live.mkdir(parents=True)
    save_config(config, live / "config.yaml")
    holder = hold_lock(live)
    try:
        run_dir, resumed, created = _choose_run_dir("sentiment_stars", config, None, False)
        assert run_dir != live and not resumed and created
    finally:
        kill(holder)
    assert _choose_run_dir("sentiment_stars", config, None, False)[:2] == (live, True)


def test_a_worker_joining_while_the_chief_writes_config_yaml_is_not_refused(tmp_path):
    config = SentimentConfig(train=TrainConfig(runs_dir=str(tmp_path)))
    shared = tmp_path / "shared"
    (shared / "workers").mkdir(parents=True)
    (shared / LOCK_NAME).write_text("")
    (shared / ".config.4242-0123abcd.tmp.yaml").write_text("train:\n")  # atomic_write's temporary, mid-write
    assert _choose_run_dir("sentiment_stars", config, str(shared), True)[:2] == (shared, False)
    (shared / "notes.txt").write_text("someone else's")
    with pytest.raises(RunDirError, match="is not empty and is not a run dir"):
        _choose_run_dir("sentiment_stars", config, str(shared), True)


# the one guard: the project's own errors and users' file errors are one line, a bug keeps its traceback
def test_main_guard_prints_task_errors_and_file_errors_and_lets_bugs_through(capsys):
    def failing(error):
        @main_guard
        def main(argv=None):
            raise error
        return main

    for error, line in [(DataError("r.csv", 3, "empty text"), "error: r.csv:3: empty text"),
                        (PermissionError(13, "Permission denied", "/srv/exports"),
                         "error: /srv/exports: Permission denied")]:
        with pytest.raises(SystemExit) as exit_info:
            failing(error)([])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err == f"{line} (set RNN_TASKS_DEBUG=1 for a traceback)\n"
    for bug in [ValueError("shapes (3,) and (4,) not aligned"), KeyError("probabilities"),
                OSError(5, "Input/output error"), FileNotFoundError("no filename: from inside the code")]:
        with pytest.raises(type(bug)) as raised:
            failing(bug)([])
        assert raised.value is bug and capsys.readouterr().err == ""


PLAIN_VALUE_ERROR = textwrap.dedent("""
    import sys
    from tasks.sentiment_stars import predict

    def broken(*args, **kwargs):  # a bug deep in the code, not a bad input
        raise ValueError("operands could not be broadcast together")

    predict.load_export = broken
    sys.exit(predict.main(["--model", "anywhere", "rất tốt"]))
""")


def test_a_plain_value_error_in_an_entry_point_keeps_its_traceback():
    result = run_python(PLAIN_VALUE_ERROR, check=False, timeout=300)
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "ValueError: operands could not be broadcast together"
    assert "error: " not in result.stderr


# 10. --run-dir at a directory the project did not make
def test_a_foreign_run_dir_is_refused_and_an_empty_one_is_kept(tmp_path):
    foreign = tmp_path / "theirs"
    foreign.mkdir()
    (foreign / "history.csv").write_text("epoch,val_accuracy\n0,0.99\n")
    args = ["-m", "tasks.sentiment_stars.train", "--set", f"train.runs_dir={tmp_path / 'runs'}",
            "--set", "data.source=files", "--set", f"data.path={tmp_path / 'missing.csv'}"]
    result = run_python(args + ["--run-dir", str(foreign)], check=False)
    assert error_line(result) == (f"error: --run-dir {foreign} is not empty and is not a run dir (no config.yaml); "
                                  "choose a new or empty directory (set RNN_TASKS_DEBUG=1 for a traceback)")
    assert (foreign / "history.csv").read_text() == "epoch,val_accuracy\n0,0.99\n"
    empty = tmp_path / "mine"
    empty.mkdir()
    result = run_python(args + ["--run-dir", str(empty)], check=False)
    assert "missing.csv" in error_line(result)
    assert empty.is_dir()  # the user's directory: never deleted


# 7. predict's bad --model and --file, through the command line
def test_predict_errors_are_one_line(sentiment_export, tmp_path):
    root, export = sentiment_export
    utf16 = tmp_path / "reviews.txt"
    utf16.write_text("rất tốt\n", encoding="utf-16")
    result = predict("sentiment_stars", "--model", tmp_path, "rất tốt")
    assert error_line(result).startswith(f"error: {tmp_path}: no SavedModel here and no numbered versions")
    result = predict("sentiment_stars", "--model", export, "--file", utf16)
    assert error_line(result).startswith(f"error: {utf16}:1: line is not valid utf-8 (byte 0xff at offset 0)")
    result = predict("sentiment_stars", "--model", export, "--file", tmp_path)
    assert error_line(result) == f"error: {tmp_path}: is a directory, not a file (set RNN_TASKS_DEBUG=1 for a traceback)"
    result = predict("heart_attack", "--model", export, "--exams", utf16)
    assert error_line(result).startswith(f"error: {export}: no 'feature_names' signature")
    result = predict("translation", "--model", export, "hello")
    assert error_line(result).startswith(f"error: {export}: no 'greedy' signature")
    result = predict("video_actions", "--model", export, utf16)
    assert error_line(result).startswith(f"error: {export}: its serving signature takes ['text'] and returns "
                                         "['probabilities', 'stars']; this task needs ['features', 'frames']")


# 8. video folders with entries that are not files
def test_video_entries_that_are_not_files_are_named_or_skipped(tmp_path):
    from tasks.video_actions.data import list_videos

    (tmp_path / "wave").mkdir()
    (tmp_path / "wave" / "good.mp4").write_bytes(b"x")
    (tmp_path / "wave" / "x.mp4").mkdir()
    (tmp_path / "wave" / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (tmp_path / "wave" / "loop.mp4").symlink_to(tmp_path / "wave" / "loop.mp4")
    with pytest.raises(DataError) as error:
        list_videos(tmp_path)
    assert str(error.value) == f"{tmp_path / 'wave' / 'dangling.mp4'}: not a video file: a dangling or looping link"
    skips = SkipCounter("skip")
    assert [p.name for p, _ in list_videos(tmp_path, skips=skips)] == ["good.mp4"]
    assert skips.total == 3


@pytest.fixture(scope="module")
def video_features_export(tmp_path_factory):
    """An untrained features export of video_actions: (clips, frames, 3) float32 in, action out."""
    from tasks.video_actions.model import ServingModule as VideoServing

    root = tmp_path_factory.mktemp("faults-video")
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.Masking(), keras.layers.SimpleRNN(4),
                              keras.layers.Dense(2, activation="softmax")])
    serving = VideoServing(model, ["wave", "walk"], "features", (3,), tf.float32)
    settings = {"fps": 1.0, "num_frames": 5, "frame_size": 32, "class_names": ["wave", "walk"]}
    return export_saved_model(serving, _run("video_actions", root / "exports", root / "run"),
                              {"serving_default": serving.serve.get_concrete_function()},
                              assets={"video_actions.json": json.dumps(settings)})


def test_video_predict_answers_the_good_files_and_names_the_bad_ones(video_features_export, tmp_path):
    good = [tmp_path / "a.npy", tmp_path / "c.npy"]
    for index, path in enumerate(good):
        np.save(path, np.full((5, 3), index + 1, np.float32))
    bad, worse = tmp_path / "b.npy", tmp_path / "d.npy"
    bad.write_bytes(b"not numpy")
    np.save(worse, np.zeros(4, np.float32))  # one axis: not (frames, features)
    result = predict("video_actions", "--model", video_features_export, good[0], bad, good[1])
    assert [json.loads(line)["file"] for line in result.stdout.splitlines()] == [str(p) for p in good]
    assert error_line(result).startswith(f"error: {bad}: not a readable .npy of features (")
    result = predict("video_actions", "--model", video_features_export, bad, good[0], worse)
    assert [json.loads(line)["file"] for line in result.stdout.splitlines()] == [str(good[0])]
    line = error_line(result)
    assert line.startswith(f"error: {bad}: not a readable .npy of features (") and line.endswith(
        f"; and 1 more unreadable file(s): {worse} (set RNN_TASKS_DEBUG=1 for a traceback)")


# 11. TensorBoard on localhost unless asked
def test_make_tensorboard_serves_localhost_unless_asked():
    default = subprocess.run(["make", "-n", "tensorboard", "STAMP=.dry-run-stamp"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout
    assert "--host localhost" in default and "--bind_all" not in default
    everyone = subprocess.run(["make", "-n", "tensorboard", "STAMP=.dry-run-stamp", "HOST=0.0.0.0"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout
    assert "--host 0.0.0.0" in everyone


# 12. kills during export, incomplete versions, a rerun after the rename, epochs across resumes
KILLED_EXPORT = textwrap.dedent("""
    import sys, time, types
    import tensorflow as tf
    from tasks.common.config import TrainConfig
    from tasks.common import export

    def slow_save(*args, **kwargs):  # the process dies while the staging directory is being written
        print("saving", flush=True)
        time.sleep(120)

    tf.saved_model.save = slow_save
    run = types.SimpleNamespace(task="toy", config=types.SimpleNamespace(train=TrainConfig(export_dir=sys.argv[1])),
                                is_chief=True, worker_dir=None, run_dir=None)
    export.export_saved_model(tf.Module(), run, {})
""")


def test_a_kill_during_export_leaves_nothing_the_next_export_keeps(sentiment_export, tmp_path):
    exports = tmp_path / "exports"
    process = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(exports)], cwd=REPO, stdout=subprocess.PIPE,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert process.stdout.readline().strip() == b"saving"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert [p.name.startswith(".staging-") for p in (exports / "toy").iterdir()] == [True]
    (exports / "toy" / "7").mkdir()  # a numbered directory without saved_model.pb is not a version
    with pytest.raises(FileNotFoundError):
        resolve_export(exports / "toy")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda x: {"y": model(x)}, input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    signatures = {"serving_default": module.serve.get_concrete_function()}
    run = _run("toy", exports, tmp_path / "run")
    first = export_saved_model(module, run, signatures)
    assert sorted(p.name for p in (exports / "toy").iterdir()) == ["7", "8"]  # stale staging removed
    assert resolve_export(exports / "toy") == first
    assert export_saved_model(module, run, signatures) == first  # a rerun of the same run: no second version


def test_epochs_and_seconds_count_every_process_of_a_run(tmp_path):
    record = tmp_path / "epoch_seconds.json"
    first = _EpochTimer(record)
    first.on_train_begin()
    for epoch in range(2):
        first.on_epoch_begin(epoch)
        first.on_epoch_end(epoch)
    second = _EpochTimer(record)  # the rerun after a kill
    second.on_train_begin()
    second.on_epoch_begin(2)
    time.sleep(0.01)
    second.on_epoch_end(2)
    assert len(second.ends) == 3 and second.ends[-1] >= 0.01 and second.ends[:2] == first.ends


# 13. text of only zero-width characters
def test_zero_width_only_text_is_empty(tmp_path):
    from tasks.sentiment_stars import data as sentiment_data
    from tasks.translation.data import read_tsv_pairs

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("Hello.\tXin chào.\nI run.\t\u200b\u200d\u2060\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        read_tsv_pairs(pairs)
    assert str(error.value) == f"{pairs}:2: empty Vietnamese side"
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text,stars\nrất tốt,5\n\u200b\u200d\u2060,4\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        sentiment_data.read_reviews(reviews, SentimentConfig().data, SkipCounter("error"))
    assert str(error.value) == f"{reviews}:3: empty text in column 'text' (data row 2)"


ZERO_WIDTH = "\u200b\u200d\u2060"


def test_sentiment_predict_answers_zero_width_only_text_as_the_empty_review(sentiment_export, tmp_path):
    reviews = tmp_path / "reviews.txt"
    reviews.write_text(f"{ZERO_WIDTH}\nrất\u200btốt\n", encoding="utf-8")
    result = predict("sentiment_stars", "--model", sentiment_export[1], "", "rất tốt", "--file", reviews)
    assert result.returncode == 0, result.stderr[-2000:]
    empty, words, zero_width, joined = [json.loads(line) for line in result.stdout.splitlines()]
    assert zero_width["text"] == ZERO_WIDTH  # answered, as documented: no words, like ""
    assert (zero_width["stars"], zero_width["probabilities"]) == (empty["stars"], empty["probabilities"])
    assert joined["probabilities"] == words["probabilities"]  # a zero-width space separates words, no token


@pytest.fixture(scope="module")
def translation_export(tmp_path_factory):
    """An untrained tiny translation export (greedy, beam and serving signatures)."""
    from tasks.translation.config import ModelConfig as TranslationModelConfig
    from tasks.translation.model import build_model as build_translation
    from tasks.translation.tokens import fit_vocabularies
    from tasks.translation.translator import Translator

    root = tmp_path_factory.mktemp("faults-translation")
    keras.utils.set_random_seed(2)
    vocabularies = fit_vocabularies(["I love Vietnam", "Do you like tea?"], ["Tôi yêu Việt Nam", "Bạn có thích trà không?"],
                                    50, 50)
    model = build_translation(TranslationModelConfig(rnn_units=8, embedding_dim=4), vocabularies.source.size,
                              vocabularies.target.size)
    translator = Translator(model, vocabularies.source, vocabularies.target, vocabularies.truecasing, 2, 8)
    return export_saved_model(translator, _run("translation", root / "exports", root / "run"), translator.signatures())


def test_translation_predict_answers_zero_width_only_text_as_the_empty_sentence(translation_export):
    for decoding in ([], ["--greedy"]):
        result = predict("translation", "--model", translation_export, "--json", *decoding, "", ZERO_WIDTH)
        assert result.returncode == 0, result.stderr[-2000:]
        answers = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(a["translation"], a["log_probability"]) for a in answers] == [("", 0.0), ("", 0.0)]
        assert answers[1]["text"] == ZERO_WIDTH


# 4. (through the command line) heart --exams on a real, untrained export
@pytest.fixture(scope="module")
def heart_export(tmp_path_factory):
    from tasks.heart_attack import data as heart_data
    from tasks.heart_attack.config import DataConfig as HeartDataConfig, ModelConfig as HeartModelConfig
    from tasks.heart_attack.model import ServingModule as HeartServing, build_model as build_heart

    root = tmp_path_factory.mktemp("faults-heart")
    model = build_heart(HeartModelConfig(visit_units=4, rnn_units=4), 2, np.zeros(2), np.ones(2),
                        presence_features=2, positives=5, patients=50, linear_inputs="latest_and_mean",
                        log_floor=[1.0, 0.0])  # chol enters as its log: the export must keep a 0 finite
    serving = HeartServing(model, ["chol", "bp"])
    spec = heart_data.input_spec(HeartDataConfig(source="file", path="visits.csv", feature_columns=("chol", "bp")),
                                 "number")
    return export_saved_model(serving, _run("heart_attack", root / "exports", root / "run"), serving.signatures(),
                              assets={"input_spec.json": json.dumps(spec)})


@pytest.mark.parametrize("visits, message", [
    ("[[1, 2]]\n[[Infinity, 1]]", "exams.jsonl:2: visit 1: value inf is not a finite float32 number"),
    ("[[1, 2]]\n[[1e300, 1]]", "exams.jsonl:2: visit 1: value 1e+300 is not a finite float32 number"),
    ("[[null, null]]", "exams.jsonl:1: the patient has no measured value (every value is null)"),
])
def test_heart_predict_exams_refuses_non_finite_values_through_the_cli(heart_export, tmp_path, visits, message):
    exams = tmp_path / "exams.jsonl"
    exams.write_text(visits + "\n", encoding="utf-8")
    line = error_line(predict("heart_attack", "--model", heart_export, "--exams", exams))
    assert line == f"error: {tmp_path / message} (set RNN_TASKS_DEBUG=1 for a traceback)"


def test_heart_predict_exams_answers_finite_values(heart_export, tmp_path):
    exams = tmp_path / "exams.jsonl"
    exams.write_text("[[1, 2], [null, 3]]\n[[0, 2]]\n", encoding="utf-8")  # chol 0: below the log floor
    result = predict("heart_attack", "--model", heart_export, "--exams", exams)
    assert result.returncode == 0, result.stderr[-2000:]
    answer, floored = [json.loads(line) for line in result.stdout.splitlines()]
    assert answer["line"] == 1 and 0 <= answer["risk"] <= 1 and answer["visits"] == 2
    assert floored["line"] == 2 and 0 <= floored["risk"] <= 1
