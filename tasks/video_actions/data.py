"""Loaders: the built-in clips, a UCF101-style folder of videos, TFDS `ucf101`, and precomputed features.

Every loader returns a `VideoData` of padded arrays: frames uint8 (clips, T, H, W, 3), or features float32
(clips, T, F), where padding steps are all zeros (the model masks all-zero steps). Videos are decoded with
PyAV and sampled by timestamp (see video_io); decoded clips are cached on disk by file content.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import time
import zipfile
from pathlib import Path

import numpy as np

from tasks.common.errors import DataError, SkipCounter
from tasks.video_actions.cache import ArrayCache
from tasks.video_actions.config import DataConfig
from tasks.video_actions.data_builtin import backward_source, generate_builtin
from tasks.video_actions.video_io import pad_frames, sample_frames

log = logging.getLogger(__name__)

_SAMPLER_VERSION = 1  # part of the cache key: bump when sampling or resizing changes


@dataclasses.dataclass
class Split:
    """One split: padded inputs, integer labels and where each clip came from."""

    inputs: np.ndarray  # (clips, T, H, W, 3) uint8 or (clips, T, F) float32; padding steps are all zeros
    labels: np.ndarray  # (clips,) int32 class indices
    names: list[str]  # file path (or TFDS / npz index) of each clip

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        """Valid (non-padding) steps per clip."""
        flat = self.inputs.reshape(self.inputs.shape[:2] + (-1,))
        return (flat != 0).any(axis=-1).sum(axis=1)


@dataclasses.dataclass
class VideoData:
    """Train/val/test splits plus what metrics.json and the export need to know about them."""

    train: Split
    val: Split
    test: Split
    class_names: list[str]
    dataset: str  # a one-line description for metrics.json
    kind: str  # "frames" or "features"
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)  # bad files skipped, by folder
    decode: dict[str, float] = dataclasses.field(default_factory=dict)  # clips, frames, seconds, cache hits


# --- folders of video files -------------------------------------------------------------------------------

def list_videos(root: str | Path, extensions=(".avi", ".mp4"), skips: SkipCounter | None = None
                ) -> list[tuple[Path, str]]:
    """(file, class) for every video in root/<class>/, sorted; raises DataError when there is none.

    An entry named like a video that is not a readable file (a directory "x.mp4", a dangling link, a link
    loop) is a DataError naming it, or is counted and left out when `skips` is in "skip" mode.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, None, "not a folder; expected one subfolder of videos per class (UCF101 layout)")
    skips = skips or SkipCounter("error")
    suffixes = {e.lower() for e in extensions}
    items = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in suffixes:
                continue
            if path.is_file():  # follows links; False for a directory, a dangling link and a loop (ELOOP)
                items.append((path, folder.name))
            else:
                kind = "a directory" if path.is_dir() else "a dangling or looping link" if path.is_symlink() \
                    else "not a regular file"
                skips.bad(path, None, f"not a video file: {kind}")
    if not items:
        raise DataError(root, None, f"no video files ({', '.join(sorted(suffixes))}) in its class subfolders")
    return items


def read_split_list(list_path: Path, root: Path) -> list[Path]:
    """UCF101 split list lines 'Class/file.avi [label]' -> paths under root; names file and line when bad."""
    if not list_path.is_file():
        raise DataError(list_path, None, "split list not found")
    paths = []
    for row, line in enumerate(list_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        relative = line.split()[0]
        path = root / relative
        if len(Path(relative).parts) != 2:
            raise DataError(list_path, row, f"expected 'Class/file.avi [label]', got {line.strip()!r}")
        if not path.is_file():
            raise DataError(list_path, row, f"listed video {relative!r} not found under {root}")
        paths.append(path)
    if not paths:
        raise DataError(list_path, None, "split list is empty")
    return paths


def _group(path: Path, label: str) -> str:
    """Clips cut from one source video must stay in one split: UCF101 names them v_<Class>_g<group>_c<clip>."""
    match = re.search(r"_g(\d+)_c\d+", path.stem)
    return f"{label}/g{match.group(1)}" if match else str(path)


def split_by_group(items: list[tuple[Path, str]], fraction: float, rng: np.random.Generator, source_of=None):
    """Per class, moves whole groups into the held-out part until it holds about `fraction` of the clips.

    `source_of(path)`, when given, names the clip a clip was made from (the built-in reversal partners); such
    a clip goes wherever its source goes, so a clip and its reversal never straddle train and test.
    """
    derived = {item[0]: source_of(item[0]) for item in items} if source_of else {}
    own = [item for item in items if derived.get(item[0]) is None]
    kept, held_out = [], []
    for label in sorted({label for _, label in own}):
        members = [item for item in own if item[1] == label]
        groups = sorted({_group(*item) for item in members})
        rng.shuffle(groups)
        target, chosen, count = round(fraction * len(members)), set(), 0
        for group in groups:
            if count >= target:
                break
            chosen.add(group)
            count += sum(_group(*item) == group for item in members)
        for item in members:
            (held_out if _group(*item) in chosen else kept).append(item)
    held = {path for path, _ in held_out}
    for item in items:
        if derived.get(item[0]) is not None:
            (held_out if derived[item[0]] in held else kept).append(item)
    return kept, held_out


def load_clips(items, config: DataConfig, cache: ArrayCache, skips: SkipCounter, stats: dict):
    """Decodes and samples each (file, class) item (or takes it from the cache); skips bad files if told to."""
    settings = dict(kind="frames", version=_SAMPLER_VERSION, fps=config.fps, num_frames=config.num_frames,
                    size=config.frame_size)
    clips, kept = [], []
    for path, label in items:
        started = time.perf_counter()
        try:
            key = cache.key(path, **settings)
            frames = cache.get("frames", key)
            if frames is None:
                frames = sample_frames(path, config.fps, config.num_frames, config.frame_size)
                cache.put("frames", key, frames)
                stats["decoded_clips"] += 1
                stats["decoded_frames"] += len(frames)
                stats["decode_seconds"] += time.perf_counter() - started
        except DataError as error:
            skips.bad(path, None, error.reason)
            continue
        clips.append(pad_frames(frames, config.num_frames))
        kept.append((path, label))
    return clips, kept


def _to_split(clips, items, class_index: dict[str, int], shape) -> Split:
    inputs = np.stack(clips) if clips else np.zeros((0,) + shape, np.uint8)
    labels = np.array([class_index[label] for _, label in items], np.int32)
    return Split(inputs, labels, [str(path) for path, _ in items])


def load_folder(config: DataConfig, root: str | Path, dataset: str | None = None, source_of=None) -> VideoData:
    """A UCF101-style folder: root/<class>/*.avi|mp4, with optional split lists, else a group split by split_seed
    (`source_of`: see split_by_group)."""
    root = Path(root)
    skips = SkipCounter(config.on_bad_row)
    items = list_videos(root, config.extensions, skips)
    class_names = sorted({label for _, label in items})
    rng = np.random.default_rng(config.split_seed)
    if config.train_list or config.test_list:
        as_item = {path.resolve(): (path, label) for path, label in items}
        listed = {}
        for which, name in (("train", config.train_list), ("test", config.test_list)):
            if name:
                paths = read_split_list(root / name if not Path(name).is_absolute() else Path(name), root)
                listed[which] = [as_item[p.resolve()] for p in paths if p.resolve() in as_item]
        in_lists = {path for part in listed.values() for path, _ in part}
        rest = [item for item in items if item[0] not in in_lists]
        train_items, test_items = listed.get("train", rest), listed.get("test", rest)
    else:
        train_items, test_items = split_by_group(items, config.test_fraction, rng, source_of)
    train_items, val_items = split_by_group(train_items, config.val_fraction, rng, source_of)
    cache = ArrayCache(config.cache_dir)
    stats = dict(decoded_clips=0, decoded_frames=0, decode_seconds=0.0)
    shape = (config.num_frames, config.frame_size, config.frame_size, 3)
    index = {name: i for i, name in enumerate(class_names)}
    splits = [_to_split(*load_clips(part, config, cache, skips, stats), index, shape)
              for part in (train_items, val_items, test_items)]
    if len(splits[0]) == 0:
        raise DataError(root, None, "no readable training clips")
    skipped = {}
    for path, count in skips.report().items():
        folder = str(Path(path).parent)
        skipped[folder] = skipped.get(folder, 0) + count
    stats.update(cache_hits=cache.hits)
    if stats["decode_seconds"]:
        stats["decode_frames_per_second"] = stats["decoded_frames"] / stats["decode_seconds"]
    log.info("%s: %d/%d/%d train/val/test clips, %d decoded (%.0f sampled frames/s), %d from the cache",
             root, *(len(s) for s in splits), stats["decoded_clips"], stats.get("decode_frames_per_second", 0),
             cache.hits)
    return VideoData(*splits, class_names=class_names, dataset=dataset or f"folder {root}", kind="frames",
                     skipped=skipped, decode=stats)


def load_builtin(config: DataConfig) -> VideoData:
    """Generates the built-in clips once (MP4 files), then reads them back like a user's folder."""
    root = generate_builtin(config)
    return load_folder(config, root, dataset=f"builtin stick-figure actions ({root})", source_of=backward_source)


# --- TFDS ---------------------------------------------------------------------------------------------------

def sample_frame_indices(count: int, source_fps: float, fps: float, num_frames: int) -> np.ndarray:
    """Indices of the frames on screen at 0, 1/fps, ... s in a sequence of `count` frames at `source_fps`."""
    times = np.arange(num_frames) / fps
    indices = np.floor(times * source_fps + 1e-6).astype(int)
    return indices[indices < count]


def _resize_crop_array(frames: np.ndarray, size: int) -> np.ndarray:
    """Resizes the short side of uint8 (n, H, W, 3) frames to `size` and crops the center square."""
    import tensorflow as tf

    height, width = frames.shape[1:3]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    resized = tf.image.resize(frames, (new_h, new_w), method="area", antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.clip(np.round(resized.numpy()[:, top:top + size, left:left + size]), 0, 255).astype(np.uint8)


def load_tfds(config: DataConfig) -> VideoData:
    """TFDS `ucf101` (or another video classification set with 'video' and 'label'), by name, from data_dir."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(config.tfds_name, data_dir=config.tfds_data_dir)
    class_names = list(builder.info.features["label"].names)
    parts = {}
    for split in ("train", "test"):
        dataset = builder.as_dataset(split=split, shuffle_files=False)
        if config.tfds_max_clips:
            dataset = dataset.take(config.tfds_max_clips)
        clips, labels = [], []
        for example in tfds.as_numpy(dataset):
            video = example["video"]
            frames = video[sample_frame_indices(len(video), config.tfds_source_fps, config.fps, config.num_frames)]
            if len(frames) == 0:
                raise DataError(f"tfds:{config.tfds_name}/{split}", len(labels), "video has no frames")
            clips.append(pad_frames(_resize_crop_array(frames, config.frame_size), config.num_frames))
            labels.append(int(example["label"]))
        parts[split] = Split(np.stack(clips), np.array(labels, np.int32),
                             [f"{config.tfds_name}/{split}[{i}]" for i in range(len(labels))])
    train, val = _holdout(parts["train"], config.val_fraction, config.split_seed)
    return VideoData(train, val, parts["test"], class_names, dataset=f"tfds {config.tfds_name}", kind="frames")


def _holdout(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """A seeded random hold-out of `fraction` of the clips (for TFDS and feature files, which have no groups)."""
    order = np.random.default_rng(seed).permutation(len(split))
    cut = round(fraction * len(split))
    return _subset(split, order[cut:]), _subset(split, order[:cut])


# --- precomputed features -----------------------------------------------------------------------------------

def load_features(config: DataConfig) -> VideoData:
    """A .npz with `features` (clips, frames, F) and `labels` (clips,), from a big CNN run elsewhere.

    Optional arrays: `class_names` (when labels are integers), `lengths` (valid frames per clip; later steps
    are zeroed, i.e. masked) and `split` ("train" | "val" | "test" per clip; else a random split by
    data.split_seed; with no "val" clips, data.val_fraction of the train clips are held out, also by split_seed).
    """
    path = Path(config.path)
    if not path.is_file():
        raise DataError(path, None, "features file not found")
    if not zipfile.is_zipfile(path):
        raise DataError(path, None, "not a .npz archive (save features with numpy.savez(path, features=..., "
                                    "labels=...))")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(path, None, f"not a readable .npz archive ({error})") from None
    with archive:
        missing = [k for k in ("features", "labels") if k not in archive.files]
        if missing:
            raise DataError(path, None, f"missing array {missing[0]!r}; found {sorted(archive.files)}")
        arrays = {k: archive[k] for k in archive.files}
    features, labels = arrays["features"], arrays["labels"]
    if features.ndim != 3 or not np.issubdtype(features.dtype, np.number):
        raise DataError(path, None, f"'features' must be numbers of shape (clips, frames, features), "
                                    f"got {features.dtype} {features.shape}")
    if labels.shape != (len(features),):
        raise DataError(path, None, f"'labels' must have shape ({len(features)},), got {labels.shape}")
    features = features.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(features).all(axis=(1, 2)))
    if len(bad):
        raise DataError(path, int(bad[0]), "clip has NaN or infinite features (row = clip index)")
    if "lengths" in arrays:
        lengths = arrays["lengths"]
        wrong = np.flatnonzero((lengths < 1) | (lengths > features.shape[1]))
        if lengths.shape != labels.shape or len(wrong):
            raise DataError(path, int(wrong[0]) if len(wrong) else None,
                            f"'lengths' must be 1..{features.shape[1]} per clip")
        features[np.arange(features.shape[1])[None, :] >= lengths[:, None]] = 0.0
    if np.issubdtype(labels.dtype, np.integer):
        class_names = [str(c) for c in arrays.get("class_names", np.arange(labels.max() + 1))]
        wrong = np.flatnonzero((labels < 0) | (labels >= len(class_names)))
        if len(wrong):
            raise DataError(path, int(wrong[0]), f"label {labels[wrong[0]]} is not in 0..{len(class_names) - 1}")
        label_ids = labels.astype(np.int32)
    else:
        class_names = sorted({str(v) for v in labels})
        label_ids = np.array([class_names.index(str(v)) for v in labels], np.int32)
    names = [f"{path.name}[{i}]" for i in range(len(labels))]
    everything = Split(features, label_ids, names)
    if "split" in arrays:
        which = np.array([str(s) for s in arrays["split"]])
        unknown = np.flatnonzero(~np.isin(which, ["train", "val", "test"]))
        if which.shape != labels.shape or len(unknown):
            raise DataError(path, int(unknown[0]) if len(unknown) else None, "'split' must be train, val or test")
        pick = lambda name: _subset(everything, np.flatnonzero(which == name))  # noqa: E731
        train, val, test = pick("train"), pick("val"), pick("test")
        if not len(val):  # a file with only train/test (the UEA/UCR habit): hold out val from train, seeded
            train, val = _holdout(train, config.val_fraction, config.split_seed + 1)
    else:
        rest, test = _holdout(everything, config.test_fraction, config.split_seed)
        train, val = _holdout(rest, config.val_fraction, config.split_seed + 1)
    return VideoData(train, val, test, class_names, dataset=f"features {path}", kind="features")


def _subset(split: Split, indices: np.ndarray) -> Split:
    return Split(split.inputs[indices], split.labels[indices], [split.names[i] for i in indices])


def load_data(config: DataConfig) -> VideoData:
    """The data the config names, split by config.split_seed."""
    if config.source == "builtin":
        return load_builtin(config)
    if config.source == "folder":
        return load_folder(config, config.path)
    if config.source == "tfds":
        return load_tfds(config)
    return load_features(config)


def make_dataset(split: Split, batch_size: int, shuffle_seed: int | None = None):
    """Batches of (inputs, labels), gathered from the NumPy arrays per batch (no 2 GB graph constant); shuffled
    anew each pass, by `shuffle_seed`, unless it is None."""
    import tensorflow as tf

    inputs, labels = split.inputs, split.labels
    indices = tf.data.Dataset.range(len(split))
    if shuffle_seed is not None:
        indices = indices.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)

    def gather(batch):
        x, y = tf.numpy_function(lambda i: (inputs[i], labels[i]), [batch], (tf.as_dtype(inputs.dtype), tf.int32))
        x.set_shape((None,) + inputs.shape[1:])
        y.set_shape((None,))
        return x, y

    return indices.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
