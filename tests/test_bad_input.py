"""A corpus of bad input: every way a user can hand convcli something wrong, one case each.

Five families: config files, data folders, images, model files and command-line
arguments. Each case runs one `convcli ...` invocation in process, from its own
tmp_path (so default output folders would land there), and checks that convcli
  1. exits 1 for a user error (2 for bad usage click rejects, naming the option),
  2. says so in exactly one `error: ` line on stderr that names the problem,
  3. prints no traceback,
  4. writes nothing, except at most one new run directory whose meta.json says failed,
  5. leaves the earlier, completed run in the runs directory byte for byte as it was.

Every case's runs directory starts as a copy of one real completed run, trained once
per session. Almost every case fails before a run directory would be created.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import sys
import traceback
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import pytest
import yaml

from tests.conftest import invoke, tiny_config

SMALL = 4 << 20  # files up to this size are compared by content too
RUN_STEM = "tiny"  # the completed run is <timestamp>_tiny
ASSETS: dict[str, Path] = {}  # the completed run and model files, made once by `shared`


# --- the corpus ---------------------------------------------------------------------------


@dataclass
class Case:
    """One bad invocation.

    setup(tmp_path) prepares the inputs and returns a dict of named paths (or strings);
    `args` (format strings, or a function of that dict) and `expected` may reference them
    and the standard names as `{name}`:
    tmp, runs (the runs directory), run (the completed run's directory), run_name, data
    (a copy of the tiny dataset with train/validation/test). `expected` is the substring
    (or a tuple of substrings) the one error line must contain (exit 1), or the option or
    argument the usage message must name (exit 2). `xfail` marks a case that shows a bug,
    with what it does instead.
    """

    id: str
    what: str
    setup: Callable[[Path], dict]
    args: Union[list, Callable[[dict], list]]
    exit_code: int
    expected: Union[str, tuple]
    xfail: Optional[str] = None
    check: Optional[Callable[[dict], None]] = None
    usage: bool = True  # exit 2: click prints a Usage: line (not for an option missing its value)
    trains: bool = False  # training starts, so its progress lines may come before the error line
    hidden: tuple = ()  # modules made unimportable, as if their package were not installed

    @property
    def family(self) -> str:
        return self.id.split("-", 1)[0]


def nothing(tmp: Path) -> dict:
    return {}


def put(name: str, content: Union[str, bytes, Callable[[Path], None]]) -> Callable[[Path], dict]:
    """A setup writing one file (text, bytes, or via a function) at tmp/name."""
    def setup(tmp: Path) -> dict:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return {"file": path}
    return setup


def config(*, stage: str = "scratch", drop: tuple = (), prepare: Optional[Callable[[Path], dict]] = None,
           name: str = "bad.yaml", **sections) -> Callable[[Path], dict]:
    """A setup writing tiny_config on the case's copy of the data, changed by `sections`
    (merged into a section, or set at the top level; a function of tmp_path gives the value),
    without the dotted keys in `drop`. `prepare(tmp)` runs first; its paths are returned too."""
    def setup(tmp: Path) -> dict:
        found = prepare(tmp) if prepare else {}
        resolved = {key: value(tmp) if callable(value) else value for key, value in sections.items()}
        cfg = tiny_config(tmp / "data", stage, **resolved)
        for dotted in drop:
            *parents, last = dotted.split(".")
            node = cfg
            for part in parents:
                node = node[part]
            del node[last]
        path = tmp / name
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return {**found, "config": path}
    return setup


def data_section(**changes) -> Callable[[Path], dict]:
    """A `data` section for config(): folders given relative to tmp_path (None for null)."""
    def make(tmp: Path) -> dict:
        return {key: (str(tmp / value) if isinstance(value, str) else value) for key, value in changes.items()}
    return make


def both(*setups: Callable[[Path], dict]) -> Callable[[Path], dict]:
    def setup(tmp: Path) -> dict:
        found = {}
        for one in setups:
            found.update(one(tmp))
        return found
    return setup


def class_folders(root: str, classes: dict) -> Callable[[Path], dict]:
    """Folders tmp/root/<class>/ with n images copied from the data copy (or given files)."""
    def setup(tmp: Path) -> dict:
        source = sorted((tmp / "data" / "train" / "star4").glob("*.jpg"))
        for name, content in classes.items():
            folder = tmp / root / name
            folder.mkdir(parents=True, exist_ok=True)
            if isinstance(content, int):
                for image in source[:content]:
                    shutil.copy2(image, folder / image.name)
            else:
                for file_name, data in content.items():
                    (folder / file_name).write_bytes(data)
        return {root: tmp / root}
    return setup


def asset(name: str) -> Callable[[Path], dict]:
    """A setup copying one session-wide model file into tmp."""
    def setup(tmp: Path) -> dict:
        target = tmp / name
        shutil.copy2(ASSETS[name], target)
        return {"file": target}
    return setup


def flat_folder(root: str, names: list, bad: tuple = ()) -> Callable[[Path], dict]:
    """A flat folder tmp/root of copies of one image under the given names (and text files
    named as images, for `bad`)."""
    def setup(tmp: Path) -> dict:
        folder = tmp / root
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy2(jpeg(tmp), folder / name)
        for name in bad:
            (folder / name).write_text("not an image\n")
        return {root: folder}
    return setup


CATS_AND_DOGS = [f"{kind}.{i}.jpg" for kind in ("cat", "dog") for i in range(6)]


# --- image bytes ------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG claiming width x height 1-bit pixels (a decompression bomb
    when opened for decoding: Pillow reads the size from the header alone)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\0" * (1 + (width + 7) // 8), 9)  # one row; the rest is missing
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def pillow_file(format: str, size=(32, 32)) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        from PIL import Image

        Image.new("RGB", size, (200, 40, 40)).save(path, format=format)
    return write


def truncated_jpeg(path: Path) -> None:
    source = sorted((path.parent / "data" / "test" / "star4").glob("*.jpg"))[0]
    data = source.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def zip_without_model(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "no config.json, no weights\n")


def keras2_h5(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """An H5 model file whose layer config `change` edits (its one DepthwiseConv2D layer's),
    standing for what Keras 2 wrote and Keras 3 cannot read."""
    def write(path: Path) -> None:
        import h5py
        import keras

        inputs = keras.Input((32, 32, 3))
        x = keras.layers.DepthwiseConv2D(3, name="depthwise")(inputs)
        x = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x))
        keras.Model(inputs, x).save(path)
        with h5py.File(path, "r+") as handle:
            config = json.loads(handle.attrs["model_config"])
            [layer] = [layer for layer in config["config"]["layers"] if layer["name"] == "depthwise"]
            change(layer)
            handle.attrs["model_config"] = json.dumps(config)
    return write


def tanh_model(path: Path) -> None:
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    keras.Model(inputs, keras.layers.Dense(2, activation="tanh", name="ends")(x)).save(path)


def shaped_model(kind: str) -> Callable[[Path], None]:
    """A model file whose outputs are not one row of class scores (issue 28)."""
    def write(path: Path) -> None:
        import keras

        if kind == "unbuilt":
            keras.Sequential([keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")]).save(path)
            return
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
        if kind == "per_pixel":
            outputs = keras.layers.Conv2D(2, 1, activation="softmax", name="mask")(x)
        else:
            x = keras.layers.GlobalAveragePooling2D()(x)
            outputs = {"probs": keras.layers.Dense(2, activation="softmax")(x),
                       "box": keras.layers.Dense(4)(x)}
        keras.Model(inputs, outputs).save(path)
    return write


def flat_model(path: Path) -> None:
    """A classifier of images with no feature map at all: Flatten, then Dense (issue 28)."""
    import keras

    inputs = keras.Input((32, 32, 3))
    flat = keras.layers.Flatten(name="flat")(inputs)
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="probs")(flat)).save(path)


def jpeg(tmp: Path) -> Path:
    """One good image of the data copy."""
    return sorted((tmp / "data" / "test" / "star6").glob("*.jpg"))[0]


def good_and_bad_folder(tmp: Path) -> dict:
    folder = tmp / "mixed"
    folder.mkdir()
    shutil.copy2(jpeg(tmp), folder / "a_good.jpg")
    (folder / "b_bad.jpg").write_text("not a jpeg at all\n")
    return {"folder": folder}


# --- model files and runs -----------------------------------------------------------------


def failed_run(tmp: Path) -> dict:
    """A run directory that failed before its first checkpoint."""
    run = tmp / "runs" / "2001-01-01_00-00-00_failed"
    run.mkdir()
    shutil.copy2(ASSETS["run"] / "config.yaml", run / "config.yaml")
    (run / "meta.json").write_text(json.dumps({"status": "failed", "reason": "RuntimeError: boom"}))
    return {"failed": run}


def second_copy_of_the_run(tmp: Path) -> dict:
    """Another run whose name starts with the completed run's name."""
    run = next((tmp / "runs").glob(f"*_{RUN_STEM}"))
    shutil.copytree(run, run.with_name(run.name + "-2"))
    return {}


def a_file_in_the_way(tmp: Path) -> dict:
    (tmp / "blocker").write_text("a file, not a folder\n")
    return {"blocker": tmp / "blocker"}


def moved_run(tmp: Path) -> dict:
    """A copy of the completed run whose training folder is gone (test and validation stay)."""
    run = tmp / "runs" / "2001-01-01_00-00-00_moved"
    shutil.copytree(ASSETS["run"], run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["data"].update(train_dir=str(tmp / "gone" / "train"), validation_dir=str(tmp / "data" / "validation"),
                       test_dir=str(tmp / "data" / "test"))
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return {"moved": run}


def old_run(change: Callable[[Path], None]) -> Callable[[Path], dict]:
    """A setup copying the completed run to runs/2001-01-01_00-00-00_old, changed by `change`."""
    def setup(tmp: Path) -> dict:
        run = tmp / "runs" / "2001-01-01_00-00-00_old"
        shutil.copytree(ASSETS["run"], run)
        change(run)
        return {"old": run}
    return setup


def edit_meta(**fields) -> Callable[[Path], None]:
    def change(run: Path) -> None:
        meta = run / "meta.json"
        meta.write_text(json.dumps({**json.loads(meta.read_text()), **fields}))
    return change


def set_state(text: str) -> Callable[[Path], None]:
    """An interrupted run whose last.keras holds `text` as its checkpoint state."""
    def change(run: Path) -> None:
        edit_meta(status="interrupted")(run)
        last = run / "checkpoints" / "last.keras"
        with zipfile.ZipFile(last) as archive:
            entries = {name: archive.read(name) for name in archive.namelist()}
        with zipfile.ZipFile(last, "w") as archive:
            for name, data in entries.items():
                archive.writestr(name, text if name == "convcli/state.json" else data)
    return change


def newer_sweep(tmp: Path) -> dict:
    sweep = tmp / "runs" / "sweeps" / "2001-01-01_00-00-00_lr"
    sweep.mkdir(parents=True)
    (sweep / "sweep.yaml").write_text("name: lr\nbase: base.yaml\nstudy: lr\ntrials: 2\nschema_version: 3\n")
    return {"sweep": sweep}


def full_folder(tmp: Path) -> dict:
    (tmp / "full").mkdir()
    (tmp / "full" / "keep.txt").write_text("mine\n")
    return {"full": tmp / "full"}


# The "billion laughs": nine levels of nine aliases, 9**9 values in under 350 bytes.
LAUGHS = "stage: scratch\na: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{level}: &{level} [{','.join([f'*{previous}'] * 9)}]\n" for previous, level in zip("abcdefgh", "bcdefghi")
) + "name: *i\n"  # a known key: before the bound, its error message alone ran out of memory


def pwned_absent(found: dict) -> None:
    assert not (found["tmp"] / "PWNED").exists() and not Path("PWNED").exists()


def features_args(layer: str) -> list:
    return ["filters", "--base", "builtin", "--size", "32", "--count", "1", "--layer", layer]


def sweep_file(text: str) -> Callable[[Path], dict]:
    """A sweep file (with `text` added) over a base config beside it, base.yaml."""
    def setup(tmp: Path) -> dict:
        found = config(name="base.yaml")(tmp)
        return found | put("sweep.yaml", f"base: base.yaml\n{text}\n")(tmp)
    return setup


def other_study(tmp: Path) -> dict:
    """A study named `shared` in a sqlite file, made from another sweep (other params)."""
    from convcli.sweeps.spec import load_sweep
    from convcli.sweeps.study import open_storage, open_study

    other = tmp / "other.yaml"
    other.write_text("base: base.yaml\nparams: {train.learning_rate: [0.01, 0.1]}\n")
    storage = f"sqlite:///{tmp / 'shared.db'}"
    open_study(open_storage(storage), "shared", load_sweep(other))
    return {"storage": storage}


C = Case
CASES = [
    # --- config files -------------------------------------------------------------------
    C("config-missing-file", "the config file does not exist",
      nothing, ["train", "nosuch.yaml"], 1, "config file nosuch.yaml does not exist"),
    C("config-unknown-shipped-name", "train NAME where NAME is neither a file nor a shipped config",
      nothing, ["train", "finetunes"], 1,
      "config file finetunes does not exist, nor is it the name of a shipped config: augment, extract, "
      "extract-frozen, finetune, scratch, book/augment, book/extract, book/extract-frozen, book/finetune, "
      "book/scratch, recipes/chosen, recipes/modern (convcli configs lists them)"),
    C("config-sweep-name-to-train", "train NAME of a shipped sweep (train takes configs only)",
      nothing, ["train", "sweeps/lr"], 1, "config file sweeps/lr does not exist, nor is it the name of a shipped config"),
    C("config-is-a-directory", "a directory given as the config",
      lambda tmp: (tmp / "configs").mkdir() or {}, ["train", "configs"], 1,
      "cannot read config file configs: IsADirectoryError"),
    C("config-empty", "an empty file",
      put("empty.yaml", ""), ["train", "{file}"], 1, "{file} is empty; a config needs at least `stage:`"),
    C("config-a-list", "a YAML list instead of a mapping",
      put("list.yaml", "- stage: scratch\n- seed: 1\n"), ["train", "{file}"], 1,
      "{file} must hold a mapping of config keys, not a list"),
    C("config-yaml-syntax", "invalid YAML syntax (an unclosed flow sequence)",
      put("broken.yaml", "stage: scratch\ntrain:\n  epochs: [3\n"), ["train", "{file}"], 1,
      "{file}:4:1: YAML error"),
    C("config-yaml-tab", "a tab character indenting a key",
      put("tab.yaml", "stage: scratch\ntrain:\n\tepochs: 3\n"), ["train", "{file}"], 1,
      "{file}:3:1: YAML error: found character '\\t' that cannot start any token"),
    C("config-python-tag", "a !!python/object/apply tag that would run a shell command",
      put("evil.yaml", 'stage: scratch\nname: !!python/object/apply:os.system ["touch PWNED"]\n'),
      ["train", "{file}"], 1,
      "{file}:2:7: YAML error: could not determine a constructor for the tag "
      "'tag:yaml.org,2002:python/object/apply:os.system'",
      check=pwned_absent),
    C("config-not-utf8", "bytes that are not UTF-8",
      put("latin1.yaml", "stage: scratch\nname: caf\xe9\n".encode("latin-1")), ["train", "{file}"], 1,
      "cannot read config file {file}: UnicodeDecodeError"),
    # untrusted files (issue 17): bounded expansion, refused at once (convcli/safeyaml.py)
    C("config-billion-laughs", "a 348-byte config whose aliases expand to 9**9 values",
      put("lol.yaml", LAUGHS), ["train", "{file}"], 1,
      ("{file}:", "stands for more than 10,000 values once its aliases are expanded")),
    C("config-recursive-alias", "an alias inside the node it names",
      put("loop.yaml", "stage: scratch\nname: &a [1, *a]\n"), ["train", "{file}"], 1,
      "{file}:2:14: YAML error: alias *a refers to a node that contains it"),
    C("config-deep-nesting", "100,000 nested lists",
      put("deep.yaml", "stage: scratch\nname: " + "[" * 100_000 + "]" * 100_000 + "\n"), ["train", "{file}"],
      1, "YAML error: lists and mappings nest more than 32 deep"),
    C("config-long-list", "a list of 5,000 numbers",
      put("long.yaml", "stage: scratch\nmodel:\n  conv_filters: [" + ", ".join(["8"] * 5000) + "]\n"),
      ["train", "{file}"], 1, "{file}:3:17: YAML error: a list or mapping of 5,000 entries; at most 1,000"),
    C("config-huge-number", "an integer of 5,000 digits",
      put("number.yaml", "stage: scratch\nseed: " + "9" * 5000 + "\n"), ["train", "{file}"], 1,
      "{file}:2:7: YAML error: a number of 5,000 characters; numbers have at most 40"),
    C("config-huge-file", "a 1 MB config file",
      put("huge.yaml", "stage: scratch\n" + "#" * (1 << 20) + "\n"), ["train", "{file}"], 1,
      "{file} is larger than 256 KiB"),
    C("config-key-written-twice", "a train: section pasted twice",
      put("twice.yaml", "stage: scratch\ntrain:\n  epochs: 3\nseed: 1\ntrain:\n  epochs: 50\n"),
      ["train", "{file}"], 1,
      "{file}:5:1: YAML error: key 'train' is written twice in one mapping, at lines 2 and 5"),
    C("config-image-size-huge", "data.image_size [100000, 100000] (memory no machine has)",
      config(data={"image_size": [100_000, 100_000]}), ["train", "{config}"], 1,
      "data.image_size: each side must be at most 4096 pixels. Received: [100000, 100000]"),
    C("config-set-long-list", "a --set value of 5,000 entries",
      config(), ["train", "{config}", "--set", "model.conv_filters=[" + ",".join(["8"] * 5000) + "]"], 1,
      "--set model.conv_filters: the value is not valid YAML"),
    C("config-class-weight-unknown-class", "train.class_weight names a class the data lacks",
      config(train={"class_weight": {"star4": 2, "circle": 1}}), ["train", "{config}"], 1,
      "train.class_weight names class(es) the data does not have: circle; its classes are star4, star6"),
    C("config-class-weight-negative", "train.class_weight with a negative weight",
      config(train={"class_weight": {"star4": -1}}), ["train", "{config}"], 1,
      "train.class_weight: use none, balanced or {{class_name: weight}} with weights from 0 to 1e6"),
    C("config-class-weight-unknown-word", "train.class_weight: auto",
      config(train={"class_weight": "auto"}), ["train", "{config}"], 1,
      "train.class_weight: use none, balanced or {{class_name: weight}} with weights from 0 to 1e6. Received: 'auto'"),
    C("config-monitor-train-loss", "train.monitor: loss (only validation metrics pick a best epoch)",
      config(train={"monitor": "loss"}), ["train", "{config}"], 1,
      "train.monitor: Input should be 'val_loss' or 'val_accuracy'. Received: 'loss'"),
    C("config-unknown-top-key", "a misspelt top-level key (stagee)",
      config(stagee="augment"), ["train", "{config}"], 1, "unknown key stagee; did you mean stage?"),
    C("config-misspelt-stage-only", "the only stage key is misspelt (stagee, no stage)",
      config(drop=("stage",), stagee="scratch"), ["train", "{config}"], 1,
      ("unknown key stagee", "did you mean stage?")),
    C("config-unknown-nested-key", "a misspelt nested key (train.epoch)",
      config(train={"epoch": 3}), ["train", "{config}"], 1, "unknown key train.epoch; did you mean epochs?"),
    C("config-unknown-key-no-hint", "an unknown nested key with no close match",
      config(model={"wibble": 1}), ["train", "{config}"], 1,
      "unknown key model.wibble; known keys: conv_filters, kernel_size"),
    C("config-wrong-type", "train.epochs: ten",
      config(train={"epochs": "ten"}), ["train", "{config}"], 1,
      "train.epochs: Input should be a valid integer, unable to parse string as an integer. Received: 'ten'"),
    C("config-negative-learning-rate", "train.learning_rate: -1",
      config(train={"learning_rate": -1}), ["train", "{config}"], 1,
      "train.learning_rate: Input should be greater than 0. Received: -1"),
    C("config-batch-size-zero", "data.batch_size: 0",
      config(data={"batch_size": 0}), ["train", "{config}"], 1,
      "data.batch_size: Input should be greater than or equal to 1. Received: 0"),
    C("config-dropout-one", "model.dropout: 1 (must be below 1)",
      config(model={"dropout": 1}), ["train", "{config}"], 1, "model.dropout: Input should be less than 1"),
    C("config-pixel-range-reversed", "model.pixel_range: [1, -1] (low must be below high)",
      config(model={"pixel_range": [1, -1]}), ["train", "{config}"], 1,
      "model.pixel_range: must be [low, high] with low < high, e.g. [0, 1] or [-1, 1]. Received: [1, -1]"),
    C("config-image-size-three", "data.image_size with three numbers",
      config(data={"image_size": [32, 32, 3]}), ["train", "{config}"], 1,
      ("data.image_size: Tuple should have at most 2 items", "Received: [32, 32, 3]")),
    C("config-unknown-stage", "stage: transfer",
      config(stage="transfer"), ["train", "{config}"], 1,
      "stage: Input should be 'scratch', 'augment', 'extract' or 'fine-tune'. Received: 'transfer'"),
    C("config-image-too-small", "image_size too small for the conv blocks",
      config(data={"image_size": [16, 16]}, model={"conv_filters": [8, 8, 8]}), ["train", "{config}"], 1,
      "image_size [16, 16] is too small for 3 conv blocks"),
    C("config-both-validation-sources", "both validation_dir and validation_split",
      config(data={"validation_split": 0.25}), ["train", "{config}"], 1,
      "set exactly one of validation_dir or validation_split"),
    C("config-no-validation-source", "neither validation_dir nor validation_split",
      config(drop=("data.validation_dir",)), ["train", "{config}"], 1,
      "set exactly one of validation_dir or validation_split"),
    C("config-builtin-with-own-splits", "train_dir: builtin with a validation_dir",
      config(data={"train_dir": "builtin"}, drop=("data.test_dir",)), ["train", "{config}"], 1,
      "train_dir: builtin brings its own validation and test splits; remove validation_dir"),
    C("config-section-unused-by-stage", "a fine_tune section with stage scratch",
      config(fine_tune={"head_epochs": 1}), ["train", "{config}"], 1,
      "stage scratch does not use the fine_tune section"),
    C("config-augment-stage-without-section", "stage augment without an augment section",
      config(stage="augment"), ["train", "{config}"], 1, "stage augment needs an augment section"),
    C("config-features-cannot-augment", "extract method features with an augment section",
      config(stage="extract", augment={"rotation_range": 10}, model={"weights": "none"}),
      ["train", "{config}"], 1, "extract method features precomputes the base's outputs once, so it cannot augment"),
    C("config-unknown-base", "model.base: vgg61",
      config(stage="extract", model={"base": "vgg61"}), ["train", "{config}"], 1,
      ("model.base: unknown base; did you mean vgg", "Received: 'vgg61'")),
    C("config-unknown-base-transposed-hint", "model.base: vgg61 hints both vgg16 and vgg19 (a tie)",
      config(stage="extract", model={"base": "vgg61"}), ["train", "{config}"], 1,
      "model.base: unknown base; did you mean vgg16 or vgg19?"),
    C("config-imagenet-for-builtin", "imagenet weights for the builtin base",
      config(stage="extract", model={"base": "builtin", "weights": "imagenet"}), ["train", "{config}"], 1,
      "the builtin base has no ImageNet weights"),
    C("config-builtin-weights-for-vgg16", "weights: builtin for base vgg16",
      config(stage="extract", model={"base": "vgg16", "weights": "builtin"}), ["train", "{config}"], 1,
      "weights: builtin exist only for base: builtin, not vgg16"),
    C("config-image-too-small-for-base", "image_size 16 for vgg16 (needs 32)",
      config(stage="extract", model={"base": "vgg16", "weights": "none"}, data={"image_size": [16, 16]}),
      ["train", "{config}"], 1, "base vgg16 needs images of at least 32x32 pixels"),
    C("config-weights-file-missing", "model.weights names a file that does not exist",
      config(stage="extract", model={"base": "builtin", "weights": "nosuch.weights.h5"}),
      ["train", "{config}"], 1, "model.weights file nosuch.weights.h5 does not exist"),
    C("config-weights-file-is-text", "model.weights is a text file named .weights.h5",
      config(stage="extract", model={"base": "builtin", "weights": "text.weights.h5"},
             prepare=put("text.weights.h5", "not HDF5\n")),
      ["train", "{config}"], 1, "weights file text.weights.h5 does not fit base builtin"),
    C("config-grayscale-base-weights-for-one-channel", "color_mode grayscale with model.weights of "
      "a base built for 1 channel (gray images are repeated to the base's 3)",
      config(stage="extract", data={"color_mode": "grayscale"},
             model={"base": "builtin", "weights": "gray_base.weights.h5"}, prepare=asset("gray_base.weights.h5")),
      ["train", "{config}"], 1,
      ("weights file gray_base.weights.h5 does not fit base builtin: layer block1_conv1 needs (3, 3, 3, 16), "
       "the file has (3, 3, 1, 16); data.color_mode: grayscale repeats each gray image to the 3 channels")),
    C("config-color-mode-unknown", "data.color_mode: greyscale (Keras spells it grayscale)",
      config(data={"color_mode": "greyscale"}), ["train", "{config}"], 1,
      "data.color_mode: Input should be 'rgb' or 'grayscale'. Received: 'greyscale'"),
    C("config-unfreeze-from-no-layer", "fine_tune.unfreeze_from names no layer of the base",
      config(stage="fine-tune", model={"base": "builtin", "weights": "none"},
             fine_tune={"unfreeze_from": "block9_conv1", "head_epochs": 1}),
      ["train", "{config}"], 1, ("fine_tune.unfreeze_from names no layer of base builtin_base",
                                 "Received: 'block9_conv1'")),
    C("config-init-from-not-a-run", "fine_tune.init_from is a folder that is not a run",
      config(stage="fine-tune", model={"base": "builtin", "weights": "none"},
             fine_tune={"init_from": "data"}),
      ["train", "{config}"], 1, "fine_tune.init_from data is not a run directory (no meta.json)"),
    C("config-init-from-wrong-stage", "fine_tune.init_from is a scratch run",
      config(stage="fine-tune", model={"base": "builtin", "weights": "none"},
             fine_tune=lambda tmp: {"init_from": str(next((tmp / "runs").iterdir()))}),
      ["train", "{config}"], 1, "fine_tune.init_from {run} trained stage scratch with base builtin"),
    C("config-explain-layer-unknown", "explain.layer names no feature map",
      config(explain={"gradcam_images": 2, "layer": "nosuch"}), ["train", "{config}"], 1,
      "explain.layer 'nosuch' names no layer with a 4-D feature map"),
    C("config-learning-rate-diverges", "train.learning_rate 1e12 with sgd: the loss becomes NaN (a failed run)",
      config(train={"optimizer": "sgd", "learning_rate": 1e12, "epochs": 1}), ["train", "{config}"], 1,
      "the loss became nan at epoch 1", trains=True),
    C("config-set-without-equals", "--set without =",
      config(), ["train", "{config}", "--set", "train.epochs"], 1,
      "--set expects key.path=value, e.g. train.epochs=3. Received: 'train.epochs'"),
    C("config-set-empty-key", "--set =3",
      config(), ["train", "{config}", "--set", "=3"], 1, "--set expects key.path=value"),
    C("config-set-into-a-value", "--set train.epochs.x=1 (epochs is a value)",
      config(), ["train", "{config}", "--set", "train.epochs.x=1"], 1,
      "--set train.epochs.x: train.epochs is a value, not a section"),
    C("config-set-invalid-yaml", "--set with a value that is not YAML",
      config(), ["train", "{config}", "--set", "data.image_size=[32, 32"], 1,
      "--set data.image_size: the value is not valid YAML. Received: '[32, 32'"),
    C("config-set-out-of-range", "--set train.epochs=0",
      config(), ["train", "{config}", "--set", "train.epochs=0"], 1,
      "train.epochs: Input should be greater than or equal to 1. Received: 0"),
    C("config-set-unknown-key", "--set traim.epochs=3",
      config(), ["train", "{config}", "--set", "traim.epochs=3"], 1, "unknown key traim; did you mean train?"),
    C("config-distribute-unknown", "distribute: tpu",
      config(distribute="tpu"), ["train", "{config}"], 1,
      "distribute: Input should be 'none', 'mirrored' or 'multi_worker'. Received: 'tpu'"),
    C("config-distribute-multi-worker", "distribute: multi_worker (refused: Keras 3.15 cannot fit)",
      config(distribute="multi_worker"), ["train", "{config}"], 1,
      "distribute: multi_worker is refused: Keras 3.15's fit fails under MultiWorkerMirroredStrategy"),
    C("config-mixed-precision-unknown", "train.mixed_precision: float16",
      config(train={"mixed_precision": "float16"}), ["train", "{config}"], 1, "train.mixed_precision"),
    C("config-steps-per-execution-zero", "train.steps_per_execution: 0",
      config(train={"steps_per_execution": 0}), ["train", "{config}"], 1, "train.steps_per_execution"),
    C("config-seed-negative", "seed: -1",
      config(seed=-1), ["train", "{config}"], 1, ("seed", "-1")),
    C("config-seed-too-large", "seed: 2**40",
      config(seed=2 ** 40), ["train", "{config}"], 1, ("seed", str(2 ** 40))),
    C("config-early-stopping-monitor", "train.early_stopping.monitor: val_los",
      config(train={"early_stopping": {"monitor": "val_los"}}), ["train", "{config}"], 1,
      "train.early_stopping.monitor: Input should be 'val_loss', 'val_accuracy', 'loss' or 'accuracy'. "
      "Received: 'val_los'"),
    C("config-no-conv-blocks", "model.conv_filters: []",
      config(model={"conv_filters": []}), ["train", "{config}"], 1,
      "model.conv_filters: List should have at least 1 item after validation"),
    C("config-summary-of-bad-config", "summary CONFIG with an unknown key",
      config(trian={"epochs": 3}), ["summary", "{config}"], 1, "unknown key trian; did you mean train?"),
    C("config-augment-without-section", "augment CONFIG for a config with no augment section",
      config(), lambda p: ["augment", p["config"], jpeg(p["tmp"])], 1, "{config} has no augment section"),

    # --- data folders ---------------------------------------------------------------------
    C("data-train-dir-missing", "train_dir does not exist",
      config(data=data_section(train_dir="nosuch")), ["train", "{config}"], 1,
      "data.train_dir {tmp}/nosuch does not exist"),
    C("data-train-dir-is-a-file", "train_dir is a file",
      config(data=data_section(train_dir="data/boxes.csv")), ["train", "{config}"], 1,
      "data.train_dir {tmp}/data/boxes.csv is not a directory"),
    C("data-no-class-subfolders", "train_dir holds images but no class subfolders",
      config(data=data_section(train_dir="data/train/star4")), ["train", "{config}"], 1,
      "data.train_dir {tmp}/data/train/star4 has no class subfolders"),
    C("data-single-class", "train_dir has one class subfolder",
      config(prepare=class_folders("one", {"star4": 3}), data=data_section(train_dir="one")),
      ["train", "{config}"], 1, "data.train_dir {tmp}/one has a single class (star4)"),
    C("data-empty-class-folder", "a class folder with no images",
      config(prepare=class_folders("gap", {"star4": 3, "star6": 0}), data=data_section(train_dir="gap")),
      ["train", "{config}"], 1, "class folder {tmp}/gap/star6 holds no images"),
    C("data-class-folder-of-other-files", "a class folder of .txt and hidden ._x.jpg files only",
      config(prepare=class_folders("junk", {"star4": 3, "star6": {"notes.txt": b"x", "._x.jpg": b"x"}}),
             data=data_section(train_dir="junk")),
      ["train", "{config}"], 1, "class folder {tmp}/junk/star6 holds no images"),
    C("data-validation-classes-differ", "validation classes differ from train's",
      config(prepare=class_folders("val", {"star4": 2, "square": 2}), data=data_section(validation_dir="val")),
      ["train", "{config}"], 1,
      "data.validation_dir {tmp}/val has classes ['square', 'star4'] but train_dir has ['star4', 'star6']"),
    C("data-validation-dir-missing", "validation_dir does not exist",
      config(data=data_section(validation_dir="nosuch")), ["train", "{config}"], 1,
      "data.validation_dir {tmp}/nosuch does not exist"),
    C("data-test-dir-missing", "test_dir does not exist",
      config(data=data_section(test_dir="nosuch")), ["train", "{config}"], 1,
      "data.test_dir {tmp}/nosuch does not exist"),
    C("data-split-leaves-no-validation", "validation_split 0.01 of 12 images per class",
      config(data={"validation_dir": None, "validation_split": 0.01}), ["train", "{config}"], 1,
      "validation_split 0.01 leaves class star4 with no validation images (12 images)"),
    C("data-split-leaves-no-training", "validation_split 0.99 of 12 images per class",
      config(data={"validation_dir": None, "validation_split": 0.99}), ["train", "{config}"], 1,
      "validation_split 0.99 leaves class star4 with no training images (12 images)"),
    C("data-damaged-image-in-train", "a text file named .jpg among the training images",
      config(prepare=class_folders("dirty", {"star4": 4, "star6": {"broken.jpg": b"not a jpeg\n"}}),
             data=data_section(train_dir="dirty", validation_dir="data/validation")),
      ["train", "{config}"], 1, "cannot be decoded: {tmp}/dirty/star6/broken.jpg (corrupt)"),
    C("data-huge-file-in-train", "a 513 MiB (sparse) .jpg among the training images: refused unread",
      config(prepare=both(class_folders("dirty", {"star4": 4, "star6": 4}),
                          put("dirty/star6/huge.jpg", lambda path: path.open("wb").truncate((513 << 20)))),
             data=data_section(train_dir="dirty", validation_dir="data/validation")),
      ["train", "{config}"], 1, "cannot be decoded: {tmp}/dirty/star6/huge.jpg (too_large)"),

    # --- images ----------------------------------------------------------------------------
    C("image-missing", "the image does not exist (activations)",
      nothing, ["activations", "nosuch.jpg"], 1, "image nosuch.jpg does not exist"),
    C("image-missing-gradcam", "one of the images does not exist (gradcam)",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "nosuch.png"], 1, "image nosuch.png does not exist"),
    C("image-text-named-jpg", "a text file named .jpg",
      put("text.jpg", "hello, I am not a picture\n"), ["activations", "{file}"], 1,
      "{file} is not an image convcli can read"),
    C("image-zero-byte-png", "a zero-byte .png",
      put("zero.png", b""), ["gradcam", "{file}"], 1, "{file} is not an image convcli can read"),
    C("image-truncated-jpeg", "a JPEG cut in half",
      put("half.jpg", truncated_jpeg), ["activations", "{file}"], 1,
      "{file} is damaged and cannot be decoded ("),
    C("image-webp", "a WebP image",
      put("photo.webp", pillow_file("WEBP")), ["gradcam", "{file}"], 1, "{file} is a WEBP image; convcli reads"),
    C("image-tiff", "a TIFF image",
      put("scan.tiff", pillow_file("TIFF")), ["activations", "{file}"], 1, "{file} is a TIFF image; convcli reads"),
    C("image-tiff-named-jpg", "a TIFF image named .jpg",
      put("scan.jpg", pillow_file("TIFF")), ["gradcam", "{file}"], 1, "{file} is a TIFF image; convcli reads"),
    C("image-bomb", "a 75-byte PNG claiming 10000x10000 pixels (over 89,478,485)",
      put("bomb.png", png_header(10000, 10000)), ["gradcam", "{file}"], 1,
      "{file} is too large to decode safely (10000x10000 pixels; the limit is 89,478,485)"),
    C("image-bomb-pillow-refuses", "an 82-byte PNG claiming 20000x20000 pixels (Pillow's own limit)",
      put("bigger.png", png_header(20000, 20000)), ["activations", "{file}"], 1,
      "{file} is too large to decode safely (Image size (400000000 pixels) exceeds limit"),
    C("image-bomb-augment", "a decompression bomb given to augment",
      both(config(stage="augment", augment={}), put("bomb.png", png_header(10000, 10000))),
      ["augment", "{config}", "{file}"], 1, "{file} is too large to decode safely"),
    C("image-empty-folder", "an empty folder as the images argument",
      lambda tmp: (tmp / "empty").mkdir() or {}, ["gradcam", "empty"], 1,
      "folder empty holds no images"),
    C("image-folder-with-one-bad-image", "a folder of one good and one damaged image: nothing written",
      good_and_bad_folder, ["gradcam", "{folder}"], 1, "{folder}/b_bad.jpg is not an image convcli can read"),
    C("image-augment-text-png", "augment of a text file named .png",
      both(config(stage="augment", augment={}), put("text.png", "hello\n")),
      ["augment", "{config}", "{file}"], 1, "{file} is not an image convcli can read"),
    C("image-folder-for-activations", "activations of a folder of 12 images (one image expected)",
      nothing, lambda p: ["activations", p["data"] / "test" / "star4"], 1, "{data}/test/star4"),
    C("image-folder-for-augment", "augment of a folder of 12 images (one image expected)",
      config(stage="augment", augment={}), lambda p: ["augment", p["config"], p["data"] / "test" / "star4"], 1,
      "{data}/test/star4"),

    # --- model files ------------------------------------------------------------------------
    C("model-missing", "summary of a model file that does not exist",
      nothing, ["summary", "missing.keras"], 1, "model file missing.keras does not exist"),
    C("model-missing-gradcam", "gradcam --model of a file that does not exist",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "--model", "missing.keras"], 1,
      "model file missing.keras does not exist"),
    C("model-random-bytes", "a .keras file of random bytes",
      put("random.keras", bytes(range(256)) * 4), ["summary", "{file}"], 1,
      "{file} is not a .keras model: a .keras file is a zip archive"),
    C("model-zip-without-config", "a .keras zip archive with no model inside",
      put("empty.keras", zip_without_model),
      ["summary", "{file}"], 1, "cannot load model {file}"),
    C("model-lambda-summary", "summary of a .keras holding a Lambda layer",
      asset("lambda.keras"), ["summary", "{file}"], 1, "model {file} contains a Lambda layer"),
    C("model-lambda-gradcam", "gradcam --model of a .keras holding a Lambda layer",
      asset("lambda.keras"), lambda p: ["gradcam", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "model {file} contains a Lambda layer"),
    C("model-unsupported-suffix", "gradcam --model of a .pt file",
      put("model.pt", b"PK\x03\x04 torch"), lambda p: ["gradcam", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "{file} is not a Keras model file: convcli reads .keras, .h5 and .hdf5 files, not .pt"),
    C("model-unsupported-suffix-summary", "summary of a .pt file (taken for a run name)",
      put("model.pt", b"PK\x03\x04 torch"), ["summary", "{file}"], 1, ("{file}", ".keras")),
    C("model-text-named-h5", "a text file named .h5",
      put("model.h5", "I am not HDF5\n"), ["summary", "{file}"], 1, "{file} is not an .h5 model"),
    C("model-text-named-h5-activations", "activations --model of a text file named .h5",
      put("model.h5", "I am not HDF5\n"), lambda p: ["activations", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "{file} is not an .h5 model"),
    C("model-no-feature-map", "gradcam --model of a model with no 4-D layer",
      asset("dense.keras"), lambda p: ["gradcam", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "has no layer with a 2-D feature map"),
    C("model-any-input-size", "gradcam --model of a model taking images of any size",
      asset("anysize.keras"), lambda p: ["gradcam", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "takes images of any size; convcli needs a fixed input size"),
    C("model-not-an-image-model", "gradcam --model of a model whose input is a vector",
      asset("vector.keras"), lambda p: ["gradcam", jpeg(p["tmp"]), "--model", p["file"]], 1, "vector.keras"),
    C("model-two-channel-input", "gradcam --model of a model taking 2-channel images (1 and 3 work)",
      asset("two_channels.keras"), lambda p: ["gradcam", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "takes 1 input of shape (None, 32, 32, 2), not images (batch, height, width, 1 or 3 channels)"),
    C("model-input-not-an-image-predict", "predict --model of a model whose input is a vector",
      asset("vector.keras"), lambda p: ["predict", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "model {file} takes 1 input of shape (None, 10), not images"),
    C("model-text-named-hdf5", "a text file named .hdf5",
      put("model.hdf5", "I am not HDF5\n"), ["summary", "{file}"], 1,
      "{file} is not an .hdf5 model: it lacks the HDF5 signature"),
    C("model-text-named-hdf5-predict", "predict --model of a text file named .hdf5",
      put("model.hdf5", "I am not HDF5\n"), lambda p: ["predict", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "{file} is not an .hdf5 model"),
    C("model-classes-wrong-count", "predict --model --classes with 3 names for a 2-class model",
      asset("dense.keras"), lambda p: ["predict", jpeg(p["tmp"]), "--model", p["file"], "--classes", "a,b,c"],
      1, "--classes a,b,c names 3, but model {file} has 2 classes"),
    C("model-evaluate-without-data", "evaluate --model without --data",
      asset("dense.keras"), ["evaluate", "--model", "{file}"], 2, "--model FILE takes --data DIR"),
    C("model-evaluate-classes-miss-a-folder", "evaluate --model --data with a folder not in --classes",
      asset("dense.keras"), ["evaluate", "--model", "{file}", "--data", "data/test", "--classes", "star4,square"],
      1, "--data data/test has class folders star6 that are not in --classes star4,square"),
    C("model-weights-file-as-model", "summary of a .weights.h5 file (weights, not a model)",
      asset("base.weights.h5"), ["summary", "{file}"], 1, "cannot load model {file}"),
    C("model-folder-named-keras", "summary of a folder named x.keras",
      lambda tmp: (tmp / "x.keras").mkdir() or {}, ["summary", "x.keras"], 1,
      "x.keras is a folder, not a model file"),
    C("model-folder-named-keras-predict", "predict --model of a folder named x.keras (not an export)",
      lambda tmp: (tmp / "x.keras").mkdir() or {}, lambda p: ["predict", jpeg(p["tmp"]), "--model", "x.keras"],
      1, "x.keras is a folder, not a model file"),
    C("model-keras2-tf-operations", "a Keras 2 H5 holding a TFOpLambda layer (x * 2 on a Keras tensor)",
      put("tfop.h5", keras2_h5(lambda layer: layer.update(class_name="TFOpLambda"))), ["summary", "{file}"], 1,
      ("model {file} holds TFOpLambda layers", "load its weights")),
    C("model-keras2-custom-layer", "a Keras 2 H5 holding a layer class of its own program",
      put("custom.h5", keras2_h5(lambda layer: layer.update(class_name="Doubling"))), ["summary", "{file}"], 1,
      ("model {file} uses layer class 'Doubling', which is not one of Keras' own", "load its weights")),
    C("model-keras2-argument-refused", "a Keras 2 H5 whose DepthwiseConv2D says groups: 2 (the cause, no config dump)",
      put("groups.h5", keras2_h5(lambda layer: layer["config"].update(groups=2))), ["summary", "{file}"], 1,
      "cannot load model {file}: layer class DepthwiseConv2D: Unrecognized keyword arguments passed to "
      "DepthwiseConv2D: {{'groups': 2}}"),
    C("model-output-not-probabilities", "predict --model of a model ending in tanh (neither probabilities nor logits)",
      put("tanh.keras", tanh_model), lambda p: ["predict", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "ends in neither class probabilities (a softmax or sigmoid) nor logits (no activation): its last "
      "layer 'ends' (Dense, activation tanh)"),
    C("model-two-outputs", "gradcam --model of a model with two outputs (a dict: probs and box)",
      put("two.keras", shaped_model("two")), lambda p: ["gradcam", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "has 2 outputs (probs, box); convcli reads one output of class scores"),
    C("model-per-pixel-output", "predict --model of a per-pixel classifier (a 4-D output)",
      put("mask.keras", shaped_model("per_pixel")), lambda p: ["predict", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "outputs shape (None, 30, 30, 2), not one score per class for each image"),
    C("model-never-built", "gradcam --model of a Sequential model saved before it was built",
      put("unbuilt.keras", shaped_model("unbuilt")), lambda p: ["gradcam", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "was saved before it was built"),
    C("model-output-unknown", "predict --model of a two-output model with --output naming neither",
      put("two.keras", shaped_model("two")),
      lambda p: ["predict", jpeg(p["tmp"]), "--model", p["file"], "--output", "nope"], 1,
      "--output nope is not an output of model {file}; its outputs are probs, box"),
    C("model-two-outputs-export", "export --model of a model with two outputs, without --output",
      put("two.keras", shaped_model("two")),
      lambda p: ["export", "--model", p["file"], "--data", p["data"] / "test", "--out", p["tmp"] / "out"], 1,
      "has 2 outputs (probs, box); convcli reads one output of class scores: name it with --output "
      "(e.g. --output probs)"),
    C("model-two-outputs-filters", "filters --model of a model with two outputs, without --output",
      put("two.keras", shaped_model("two")),
      lambda p: ["filters", "--model", p["file"], "--layer", "conv", "--out", p["tmp"] / "out"], 1,
      "name it with --output (e.g. --output probs)"),
    C("model-never-built-summary", "summary of a Sequential model saved before it was built",
      put("unbuilt.keras", shaped_model("unbuilt")), ["summary", "{file}"], 1,
      "was saved before it was built"),
    C("model-no-feature-map", "gradcam --model of a classifier with no 2-D feature map (Flatten, Dense)",
      put("flat.keras", flat_model), lambda p: ["gradcam", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "so none to pass as --layer NAME; its layers: flat (None, 3072), probs (None, 2)"),
    C("cli-output-without-model", "evaluate a run with --output (it names an output of a --model file)",
      nothing, ["evaluate", "{run_name}", "--output", "probs"], 2, "--output goes with a --model file"),
    C("cli-export-run-output", "export a run with --output", nothing,
      ["export", "{run_name}", "--output", "probs"], 2, "--output names an output of a --model file"),

    # --- run records (meta.json, summary.json, the checkpoint state, sweep.yaml) and versions ---
    C("record-meta-truncated", "evaluate a run whose meta.json was cut short",
      old_run(lambda run: (run / "meta.json").write_text((run / "meta.json").read_text()[:40])),
      ["evaluate", "{old}"], 1, ("{old}/meta.json is not valid JSON at line", "the file is damaged")),
    C("record-meta-nested-deep", "evaluate a run whose meta.json nests 100,000 lists (Python's "
      "parser: RecursionError)", old_run(lambda run: (run / "meta.json").write_text("[" * 100_000 + "]" * 100_000)),
      ["evaluate", "{old}"], 1, ("{old}/meta.json is not valid JSON", "the file is damaged")),
    C("record-meta-newer", "predict with a run whose meta.json a newer convcli wrote",
      old_run(edit_meta(schema_version=2)), lambda p: ["predict", jpeg(p["tmp"]), "--run", p["old"]], 1,
      "{old}/meta.json was written by a newer convcli (schema_version 2; this convcli reads up to 1)"),
    C("record-meta-wrong-type", "export a run whose meta.json names its classes as one string",
      old_run(edit_meta(class_names="star4")), ["export", "{old}"], 1,
      "{old}/meta.json is not a valid meta.json record: class_names: Input should be a valid list"),
    C("record-meta-not-a-mapping", "gradcam with a run whose meta.json holds a list",
      old_run(lambda run: (run / "meta.json").write_text("[]")),
      lambda p: ["gradcam", jpeg(p["tmp"]), "--run", p["old"]], 1,
      "{old}/meta.json holds a list, not a meta.json record"),
    C("record-meta-newer-resume", "resume a run whose meta.json a newer convcli wrote",
      old_run(edit_meta(schema_version=5, status="interrupted")),
      ["train", "{old}/config.yaml", "--resume", "{old}"], 1,
      "run 2001-01-01_00-00-00_old cannot be resumed: {old}/meta.json was written by a newer convcli"),
    C("record-state-newer", "resume from a last.keras whose checkpoint state a newer convcli wrote",
      old_run(set_state('{"schema_version": 9, "epoch": 1}')), ["train", "{old}/config.yaml", "--resume", "{old}"],
      1, "{old}/checkpoints/last.keras (convcli/state.json) was written by a newer convcli (schema_version 9"),
    C("record-state-damaged", "resume from a last.keras whose checkpoint state is cut short",
      old_run(set_state('{"epoch": 1, "pha')), ["train", "{old}/config.yaml", "--resume", "{old}"], 1,
      "{old}/checkpoints/last.keras (convcli/state.json) is not valid JSON: the checkpoint is damaged"),
    C("record-sweep-newer", "runs show of a sweep whose sweep.yaml a newer convcli wrote",
      newer_sweep, ["runs", "show", "{sweep}"], 1,
      "{sweep}/sweep.yaml was written by a newer convcli (schema_version 3; this convcli reads up to 1)"),
    C("config-version-newer", "a config written for a newer convcli (version: 2)",
      config(version=2), ["train", "{config}"], 1,
      "{config} was written by a newer convcli (version 2; this convcli reads configs up to version 1)"),
    C("config-version-not-a-number", "a config whose version is a word",
      config(version="two"), ["train", "{config}"], 1,
      "{config}: version must be a whole number from 1 (the config format's version"),

    # --- data split and init ------------------------------------------------------------------
    C("split-csv-missing-files", "data split of a CSV naming files that do not exist",
      put("labels.csv", "file,label\nmissing1.jpg,cat\nmissing2.jpg,dog\n"), ["data", "split", "{file}", "out"], 1,
      "{file} names 2 file(s) that do not exist: missing1.jpg, missing2.jpg (paths are relative to the CSV's folder"),
    C("split-csv-no-label-column", "data split of a CSV whose header has no label column",
      put("labels.csv", "file,size\ndata/test/star4/star4_0000.jpg,3\n"), ["data", "split", "{file}", "out"], 1,
      "{file} has no label column: its header names file, size"),
    C("split-csv-one-column", "data split of a CSV of file names only",
      put("labels.csv", "data/test/star4/star4_0000.jpg\ndata/test/star4/star4_0001.jpg\n"),
      ["data", "split", "{file}", "out"], 1, "{file} has no label column: its rows have one column"),
    C("split-csv-row-without-label", "data split of a CSV with a row that has no label",
      put("labels.csv", "file,label\ndata/test/star4/star4_0000.jpg,\n"), ["data", "split", "{file}", "out"], 1,
      "{file} row 1 (data/test/star4/star4_0000.jpg,) has no label"),
    C("split-csv-labels-without-csv", "data split --labels-from csv without --csv",
      nothing, ["data", "split", "data/test", "out", "--labels-from", "csv"], 1, "--labels-from csv needs --csv FILE"),
    C("split-label-no-images", "data split of class folders, one of them empty",
      class_folders("src", {"star4": 3, "star6": 0}), ["data", "split", "src", "out"], 1,
      "class folder src/star6 holds no images"),
    C("split-pattern-matches-nothing", "data split --pattern that matches no file name (a few are named)",
      flat_folder("flat", CATS_AND_DOGS), ["data", "split", "flat", "out", "--pattern", "^(bird|fish)_"], 1,
      "--pattern '^(bird|fish)_' finds no label in no file name: cat.0.jpg, cat.1.jpg, cat.2.jpg and 9 more"),
    C("split-default-pattern-numbered-files", "data split of files named by number only (no label in the name)",
      flat_folder("flat", ["1.jpg", "2.jpg", "3.jpg"]), ["data", "split", "flat", "out"], 1,
      "finds no label in no file name: 1.jpg, 2.jpg, 3.jpg"),
    C("split-pattern-not-a-regex", "data split --pattern '('",
      flat_folder("flat", CATS_AND_DOGS), ["data", "split", "flat", "out", "--pattern", "("], 1,
      "--pattern '(' is not a valid regular expression"),
    C("split-validation-above-one", "data split --validation 1.5",
      flat_folder("flat", CATS_AND_DOGS), ["data", "split", "flat", "out", "--validation", "1.5"], 1,
      "--validation 1.5 is not a fraction between 0 and 1"),
    C("split-validation-zero", "data split --validation 0",
      flat_folder("flat", CATS_AND_DOGS), ["data", "split", "flat", "out", "--validation", "0"], 1,
      "--validation 0.0 is not a fraction between 0 and 1"),
    C("split-test-negative", "data split --test -0.1",
      flat_folder("flat", CATS_AND_DOGS), ["data", "split", "flat", "out", "--test", "-0.1"], 1,
      "--test -0.1 is not a fraction between 0 and 1"),
    C("split-fractions-sum-to-one", "data split --validation 0.6 --test 0.4",
      flat_folder("flat", CATS_AND_DOGS), ["data", "split", "flat", "out", "--validation", "0.6", "--test", "0.4"],
      1, "--validation 0.6 and --test 0.4 add up to 1, leaving no training images"),
    C("split-per-class-too-large", "data split --per-class 5 of classes of 3 images",
      class_folders("src", {"star4": 3, "star6": 3}), ["data", "split", "src", "out", "--per-class", "5"], 1,
      "--per-class 5 is more than 2 class(es) have: star4 (3), star6 (3)"),
    C("split-class-too-small-for-fractions", "data split of 2 images per class into three splits",
      class_folders("src", {"star4": 2, "star6": 2}), ["data", "split", "src", "out"], 1,
      "class star4 has 2 image(s): --validation 0.2 and --test 0.2 leave it no validation images"),
    C("split-dst-inside-src", "data split with DST inside SRC",
      flat_folder("flat", CATS_AND_DOGS), ["data", "split", "flat", "flat/split"], 1,
      "flat/split is inside flat, whose images it splits"),
    C("split-dst-not-empty", "data split into a folder that holds files",
      flat_folder("flat", CATS_AND_DOGS), ["data", "split", "flat", "data"], 1,
      "data already exists and is not an empty folder"),
    C("split-undecodable-image", "data split of a flat folder with a text file named .jpg",
      flat_folder("flat", CATS_AND_DOGS, bad=("dog.99.jpg",)), ["data", "split", "flat", "out"], 1,
      "1 image file(s) cannot be decoded: flat/dog.99.jpg (corrupt)"),
    C("split-source-missing", "data split of a folder that does not exist",
      nothing, ["data", "split", "nosuch", "out"], 1, "nosuch does not exist"),
    C("init-out-exists", "init --out names an existing file",
      a_file_in_the_way, ["init", "data", "--out", "blocker"], 1, "blocker already exists; init never overwrites"),
    C("init-flat-folder", "init of a folder of images without class folders",
      flat_folder("flat", CATS_AND_DOGS), ["init", "flat", "--out", "c.yaml"], 1,
      "flat holds images but no class folders; make train/, validation/ and test/ class folders of them "
      "with `convcli data split flat NEW_DIR`"),
    C("init-no-train-folder", "init of a dataset with validation/ and test/ but no train/",
      both(class_folders("ds/validation", {"a": 1, "b": 1}), class_folders("ds/test", {"a": 1, "b": 1})),
      ["init", "ds", "--out", "c.yaml"], 1, "ds has validation, test folders but no train/ folder"),
    C("init-unknown-base", "init --base vgg61",
      nothing, ["init", "data", "--stage", "extract", "--base", "vgg61", "--out", "c.yaml"], 1,
      "--base 'vgg61' is not a known base"),
    C("init-unknown-stage", "init --stage transfer",
      nothing, ["init", "data", "--stage", "transfer"], 2, "Invalid value for '--stage'"),

    # --- command-line arguments ---------------------------------------------------------------
    C("cli-unknown-command", "an unknown command",
      nothing, ["trian", "x.yaml"], 2, "No such command 'trian'"),
    C("cli-unknown-option", "an unknown option",
      config(), ["train", "{config}", "--epochs", "3"], 2, "No such option: --epochs"),
    C("cli-train-without-config", "train without its CONFIG argument",
      nothing, ["train"], 2, "Missing argument 'config'"),
    C("cli-gradcam-no-images", "gradcam with no images",
      nothing, ["gradcam"], 2, "Missing argument 'images'"),
    C("cli-alpha-out-of-range", "gradcam --alpha 2",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "--alpha", "2"], 2, "Invalid value for '--alpha'"),
    C("cli-count-zero", "filters --count 0",
      nothing, ["filters", "--layer", "conv1", "--count", "0"], 2, "Invalid value for '--count'"),
    C("cli-filters-size-too-small", "filters --size 8",
      nothing, ["filters", "--base", "builtin", "--layer", "block1_conv1", "--size", "8"], 2, "Invalid value for '--size'"),
    C("cli-filters-no-layer", "filters without --layer",
      nothing, ["filters", "--base", "builtin"], 2, "Missing option '--layer'"),
    C("cli-augment-count-not-a-number", "augment --count many",
      nothing, ["augment", "x.yaml", "x.jpg", "--count", "many"], 2, "Invalid value for '--count'"),
    C("cli-synth-per-class-not-a-number", "data synth --per-class many",
      nothing, ["data", "synth", "new", "--per-class", "many"], 2, "Invalid value for '--per-class'"),
    C("cli-force-without-resume", "train --force without --resume",
      config(), ["train", "{config}", "--force"], 2, "--force only applies with --resume"),
    C("cli-run-no-match", "gradcam --run nope",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "--run", "nope"], 1,
      "no run matches 'nope' in runs (1 runs there; `convcli runs` lists them)"),
    C("cli-run-ambiguous", "--run prefix shared by two runs",
      second_copy_of_the_run, lambda p: ["activations", jpeg(p["tmp"]), "--run", p["run_name"]], 1,
      "'{run_name}' matches 2 runs in runs"),
    C("cli-run-and-model", "gradcam with both --run and --model",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "--run", p["run_name"], "--model", "x.keras"], 1,
      "give --run or --model, not both"),
    C("cli-run-and-base", "filters with both --run and --base",
      nothing, ["filters", "--layer", "conv1", "--run", "{run_name}", "--base", "builtin"], 1,
      "give --run or --base, not both"),
    C("cli-summary-failed-run", "summary of a failed run without checkpoints",
      failed_run, ["summary", "{failed}"], 1, "run 2001-01-01_00-00-00_failed has no checkpoint (status: failed)"),
    C("cli-gradcam-run-not-a-run", "gradcam --run of a folder that is not a run",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "--run", "data"], 1, "run data has no checkpoint"),
    C("cli-summary-no-runs", "summary with an empty runs directory",
      lambda tmp: (tmp / "none").mkdir() or {}, ["summary", "--runs-dir", "none"], 1,
      "no runs in none; train one with `convcli train CONFIG`"),
    C("cli-filters-unknown-layer", "filters --layer nosuch --base builtin",
      nothing, features_args("nosuch"), 1,
      "--layer: nosuch is no convolution or pooling layer of model builtin_base_features"),
    C("cli-filters-unknown-base", "filters --base vgg_16",
      nothing, ["filters", "--base", "vgg_16", "--layer", "block1_conv1"], 1, "--base 'vgg_16' is not a known base"),
    C("cli-activations-unknown-layer", "activations --layers nosuch",
      nothing, lambda p: ["activations", jpeg(p["tmp"]), "--layers", "conv1,nosuch"], 1,
      "--layers: nosuch is no convolution or pooling layer of model"),
    C("cli-gradcam-unknown-layer", "gradcam --layer nosuch",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "--layer", "nosuch"], 1,
      "--layer 'nosuch' names no layer with a 4-D feature map"),
    C("cli-gradcam-layer-not-a-map", "gradcam --layer dense (not a 4-D feature map)",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "--layer", "dense"], 1,
      "--layer 'dense' names no layer with a 4-D feature map"),
    C("cli-gradcam-unknown-class", "gradcam --class nosuch",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "--class", "nosuch"], 1,
      "--class 'nosuch' is not a class of this model; classes: 0 star4, 1 star6"),
    C("cli-gradcam-class-index-out-of-range", "gradcam --class 2 of two classes",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "--class", "2"], 1, "--class '2' is not a class of this model"),
    C("cli-resume-no-match", "train CONFIG --resume nope",
      config(), ["train", "{config}", "--resume", "nope"], 1, "no run matches 'nope' in runs"),
    C("cli-resume-completed", "train CONFIG --resume of the completed run",
      config(), ["train", "{config}", "--resume", "{run_name}"], 1,
      "run {run_name} is completed; there is nothing to resume"),
    C("cli-resume-not-a-run", "train CONFIG --resume of a folder that is not a run",
      config(), ["train", "{config}", "--resume", "data"], 1, "data is not a run directory convcli can resume"),
    C("cli-synth-existing-folder", "data synth into an existing folder",
      nothing, ["data", "synth", "data"], 1, "data already exists; choose a new directory"),
    C("cli-synth-unknown-task", "data synth --task cats",
      nothing, ["data", "synth", "new", "--task", "cats"], 1, "unknown task 'cats'"),
    C("cli-synth-tiny-images", "data synth --image-size 4",
      nothing, ["data", "synth", "new", "--image-size", "4"], 1, "need image_size >= 16 and per_class >= 1"),
    C("cli-synth-zero-per-class", "data synth --per-class 0",
      nothing, ["data", "synth", "new", "--per-class", "0"], 1,
      ("need image_size >= 16 and per_class >= 1", "per_class=0")),
    C("cli-set-without-value", "train --set with no value after it",
      config(), ["train", "{config}", "--set"], 2, "Option '--set' requires an argument", usage=False),
    C("cli-configs-copy-onto-a-file", "configs copy where a file of that name is already there",
      put("finetune.yaml", "stage: scratch  # mine, edited\n"), ["configs", "copy", "finetune"], 1,
      "finetune.yaml already exists; convcli configs copy never overwrites a file"),
    C("cli-configs-copy-sweep-base-in-the-way", "configs copy of a sweep whose base's name is taken by another file",
      put("augment.yaml", "stage: scratch  # mine, edited\n"), ["configs", "copy", "lr"], 1,
      "augment.yaml already exists; convcli configs copy never overwrites a file"),
    C("cli-configs-copy-unknown-name", "configs copy of a name convcli does not ship",
      nothing, ["configs", "copy", "finetunes"], 1,
      "finetunes is not the name of a shipped config or sweep; choose one of augment, extract, "
      "extract-frozen, finetune, scratch, book/augment"),
    C("cli-configs-copy-into-a-file", "configs copy DIR where DIR is a file",
      a_file_in_the_way, ["configs", "copy", "finetune", "blocker"], 1,
      "blocker is a file; give a folder to copy finetune into"),
    C("cli-extra-argument", "summary with two targets",
      nothing, ["summary", "a", "b"], 2, "Got unexpected extra argument(s) (b)"),
    C("cli-empty-argument", "predict \"$IMAGE\" with IMAGE unset (an empty path is the current folder)",
      nothing, ["predict", ""], 2, "argument 2 is empty (an unset shell variable?)"),
    C("cli-gradcam-negative-class", "gradcam --class -1",
      nothing, lambda p: ["gradcam", jpeg(p["tmp"]), "--class", "-1"], 1, "--class '-1' is not a class of this model"),
    C("cli-summary-set-ignored", "summary RUN --set train.epochs=3 (--set applies to a CONFIG only)",
      nothing, ["summary", "{run_name}", "--set", "train.epochs=3"], 1, "--set"),
    C("cli-gradcam-out-is-a-file", "gradcam --out names a file",
      a_file_in_the_way, lambda p: ["gradcam", jpeg(p["tmp"]), "--out", "blocker"], 1, "blocker"),
    C("cli-activations-out-is-a-file", "activations --out names a file",
      a_file_in_the_way, lambda p: ["activations", jpeg(p["tmp"]), "--out", "blocker"], 1, "blocker"),
    C("cli-filters-out-is-a-file", "filters --out names a file",
      a_file_in_the_way, ["filters", "--layer", "conv1", "--count", "1", "--out", "blocker"], 1, "blocker"),
    C("cli-augment-out-is-a-file", "augment --out names a file",
      both(config(stage="augment", augment={}), a_file_in_the_way),
      lambda p: ["augment", p["config"], jpeg(p["tmp"]), "--count", "1", "--out", "blocker"], 1, "blocker"),
    C("cli-synth-under-a-file", "data synth into a folder inside a file",
      a_file_in_the_way, ["data", "synth", "blocker/new", "--per-class", "1"], 1, "blocker"),
    C("cli-runs-dir-is-a-file", "--runs-dir is a file",
      both(config(), a_file_in_the_way), ["train", "{config}", "--runs-dir", "blocker"], 1,
      "cannot create a run in blocker"),
    C("cli-runs-dir-under-a-file", "--runs-dir inside a file",
      both(config(), a_file_in_the_way), ["train", "{config}", "--runs-dir", "blocker/runs"], 1,
      "cannot create a run in blocker/runs"),

    # --- sweep files and the sweep command ----------------------------------------------
    C("sweep-param-not-a-key", "a param key that is no config key",
      sweep_file("params: {train.learning_rat: [0.001]}"), ["sweep", "{file}"], 1,
      "train.learning_rat is no config key; did you mean train.learning_rate?"),
    C("sweep-value-refused", "a value the config refuses, named with its point",
      sweep_file("params: {train.learning_rate: [0.001, -1]}"), ["sweep", "{file}"], 1,
      ("point 2 (train.learning_rate=-1)", "train.learning_rate: Input should be greater than 0")),
    C("sweep-empty-grid", "an empty list of values",
      sweep_file("params: {train.learning_rate: []}"), ["sweep", "{file}"], 1,
      "an empty list of values makes an empty grid"),
    C("sweep-samples-with-grid", "samples with search: grid",
      sweep_file("params: {train.learning_rate: [0.001]}\nsamples: 5"), ["sweep", "{file}"], 1,
      "samples applies to search: random or tpe"),
    C("sweep-seeds-zero", "seeds below 1",
      sweep_file("seeds: 0"), ["sweep", "{file}"], 1, "seeds: Input should be greater than or equal to 1"),
    C("sweep-low-not-below-high", "a distribution with low >= high",
      sweep_file("search: random\nsamples: 2\nparams: {model.dropout: {uniform: [0.6, 0.2]}}"),
      ["sweep", "{file}"], 1, "model.dropout: uniform needs low < high. Received: [0.6, 0.2]"),
    C("sweep-unknown-key", "a misspelt sweep key",
      sweep_file("seed: 3"), ["sweep", "{file}"], 1, "unknown key seed; did you mean seeds?"),
    C("sweep-base-missing", "a base config path that is not there",
      put("sweep.yaml", "base: nosuch.yaml\n"), ["sweep", "{file}"], 1, "base nosuch.yaml is not a file"),
    C("sweep-storage-unreachable", "a storage URL nothing answers at (a closed loopback port)",
      sweep_file(""), ["sweep", "{file}", "--storage", "postgresql://convcli@127.0.0.1:9/none"], 1,
      "cannot reach the study storage postgresql://convcli@127.0.0.1:9/none"),
    C("sweep-study-of-another-file", "a study made from a different sweep file",
      both(sweep_file("params: {train.learning_rate: [0.001]}"), other_study),
      ["sweep", "{file}", "--storage", "{storage}", "--study", "shared"], 1,
      "study shared was made from a different sweep file"),
    C("sweep-runs-dir-is-a-file", "an unwritable --runs-dir (a file in the way)",
      both(sweep_file(""), a_file_in_the_way), ["sweep", "{file}", "--runs-dir", "blocker"], 1,
      "cannot create a run in blocker/sweeps"),
    C("sweep-unknown-shipped-name", "sweep NAME where NAME is neither a file nor a shipped sweep",
      nothing, ["sweep", "lrs"], 1,
      "sweep file lrs does not exist, nor is it the name of a shipped sweep: sweeps/augment-epochs, sweeps/chosen, sweeps/ingredients, sweeps/lr, sweeps/recipe, sweeps/seeds, sweeps/unfreeze"),
    C("sweep-status-of-nothing", "--status of a sweep never started",
      sweep_file(""), ["sweep", "{file}", "--status"], 1, "no sweep named sweep in runs/sweeps"),

    # --- export and exported models ---------------------------------------------------------
    C("export-run-without-best", "export of a run that failed before its first checkpoint",
      failed_run, ["export", "{failed}"], 1,
      "run 2001-01-01_00-00-00_failed has no best checkpoint (checkpoints/best.keras; status: failed)"),
    C("export-unknown-format", "export --format tflite",
      nothing, ["export", "--format", "tflite"], 1,
      "--format 'tflite' is not a format convcli exports; choose saved_model, litert or onnx (LiteRT is"),
    C("export-unknown-quantize", "export --format litert --quantize int4",
      nothing, ["export", "--format", "litert", "--quantize", "int4"], 1,
      "--quantize 'int4' is not a quantization convcli knows"),
    C("export-quantize-onnx", "export --format onnx --quantize int8 (ONNX exports are float32)",
      nothing, ["export", "--format", "onnx", "--quantize", "int8"], 1,
      "--quantize int8 cannot be applied to --format onnx, which exports float32 only"),
    C("export-quantize-saved-model", "export --quantize float16 (the default format is saved_model)",
      nothing, ["export", "--quantize", "float16"], 1,
      "--quantize float16 cannot be applied to --format saved_model"),
    C("export-out-not-empty", "export --out of a folder that holds a file",
      full_folder, ["export", "--out", "full"], 1, "full already exists and is not empty"),
    C("export-out-is-a-file", "export --out names a file",
      a_file_in_the_way, ["export", "--out", "blocker"], 1, "blocker is a file; give --out a new or empty"),
    C("export-int8-training-images-gone", "export --quantize int8 of a run whose training folder is gone",
      moved_run, ["export", "{moved}", "--format", "litert", "--quantize", "int8"], 1,
      ("calibrates on run 2001-01-01_00-00-00_moved's training images, which cannot be read",
       "{tmp}/gone/train does not exist", "or pass --quantize dynamic-int8")),
    C("export-onnx-not-installed", "export --format onnx without tf2onnx installed",
      nothing, ["export", "--format", "onnx"], 1,
      "onnx models need the tf2onnx package, which is not installed; install the export extra: "
      "pip install 'convcli[export]'", hidden=("tf2onnx",)),
    C("export-model-file-as-run", "export FILE (export takes runs, or --model FILE)",
      asset("dense.keras"), ["export", "{file}"], 2,
      ("export takes a run; to export the model file", "--model")),
    C("export-model-without-data", "export --model FILE without --data (nothing to check it on)",
      asset("dense.keras"), ["export", "--model", "{file}"], 2, ("--model FILE takes --data DIR", "--model")),
    C("export-data-without-model", "export --data DIR of a run (a run is checked on its own split)",
      nothing, ["export", "--data", "data/test"], 2, ("--data goes with --model FILE", "--data")),
    C("export-model-classes-wrong-count", "export --model --classes with 3 names for a 2-class model",
      asset("dense.keras"), ["export", "--model", "{file}", "--data", "data/test", "--classes", "a,b,c"], 1,
      "--classes a,b,c names 3, but model {file} has 2 classes"),
    C("export-no-runs", "export with an empty runs directory",
      lambda tmp: (tmp / "none").mkdir() or {}, ["export", "--runs-dir", "none"], 1, "no runs in none"),
    C("predict-model-missing", "predict --model of a path that does not exist",
      nothing, lambda p: ["predict", jpeg(p["tmp"]), "--model", "nosuch.tflite"], 1,
      "model nosuch.tflite does not exist"),
    C("predict-model-without-record", "predict --model of a .tflite with no export.json beside it",
      put("alone/model.tflite", b"TFL3 not really"), lambda p: ["predict", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "no export.json at {tmp}/alone/export.json"),
    C("predict-model-record-nested-deep", "predict --model of a .tflite whose export.json nests 100,000 lists",
      both(put("deep/model.tflite", b"TFL3 not really"), put("deep/export.json", "[" * 100_000 + "]" * 100_000)),
      lambda p: ["predict", jpeg(p["tmp"]), "--model", p["tmp"] / "deep" / "model.tflite"], 1,
      "{tmp}/deep/export.json is not an export record convcli can read (lists and objects nest too deep"),
    C("predict-model-unknown-suffix", "predict --model of a .pt file (neither Keras nor an export)",
      put("model.pt", b"PK\x03\x04 torch"), lambda p: ["predict", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "{file} is not a Keras model file: convcli reads .keras, .h5 and .hdf5 files, not .pt"),
    C("gradcam-model-exported", "gradcam --model of an exported .tflite (Grad-CAM needs the Keras model)",
      put("export/model.tflite", b"TFL3 not really"), lambda p: ["gradcam", jpeg(p["tmp"]), "--model", p["file"]], 1,
      "{file} is an exported model (LiteRT): `convcli predict --model` runs it; this command needs a Keras"),
    C("summary-of-a-saved-model-folder", "summary of an exported SavedModel folder (not a run)",
      put("export/saved_model/saved_model.pb", b"not really"), ["summary", "export/saved_model"], 1,
      "export/saved_model is an exported SavedModel, not a run: `convcli predict --model export/saved_model`"),
    C("predict-model-and-run", "predict with both --run and --model",
      nothing, lambda p: ["predict", jpeg(p["tmp"]), "--run", p["run_name"], "--model", "x.onnx"], 1,
      "give --run or --model, not both"),
    # tracking (docs/tracking.md): refused before anything trains or is sent
    C("tracking-uri-unknown-scheme", "train --mlflow with a URI MLflow has no store for",
      config(), ["train", "{config}", "--mlflow", "htp://127.0.0.1:5000"], 1,
      "MLflow does not understand the tracking URI 'htp://127.0.0.1:5000' (scheme 'htp')"),
    C("tracking-uri-no-host", "train --mlflow http:// without a host",
      config(), ["train", "{config}", "--mlflow", "http:///x"], 1, "the tracking URI 'http:///x' names no host"),
    C("tracking-uri-in-config", "a config whose tracking.mlflow MLflow does not understand",
      config(tracking={"mlflow": "s3://bucket/mlruns"}), ["train", "{config}"], 1,
      "MLflow does not understand the tracking URI 's3://bucket/mlruns'"),
    C("tracking-experiment-without-uri", "train --mlflow-experiment with no URI and no MLFLOW_TRACKING_URI",
      config(), ["train", "{config}", "--mlflow-experiment", "mine"], 1,
      "tracking is asked for but no tracking URI is given"),
    C("tracking-without-mlflow", "train --mlflow without mlflow installed",
      config(), ["train", "{config}", "--mlflow", "http://127.0.0.1:5000"], 1,
      "tracking runs needs MLflow, which is not installed: pip install 'convcli[mlflow]'", hidden=("mlflow",)),
    C("tracking-sweep-bad-uri", "sweep --mlflow with a URI MLflow has no store for",
      sweep_file("seeds: 2"), ["sweep", "{file}", "--mlflow", "ftp://x/y"], 1,
      "MLflow does not understand the tracking URI 'ftp://x/y'"),
    C("push-not-a-run", "runs push of a folder that is neither a run nor a sweep",
      lambda tmp: (tmp / "photos").mkdir() or {}, ["runs", "push", "photos", "--mlflow", "http://127.0.0.1:9"], 1,
      "photos is not a run or sweep directory"),
    C("push-unknown-name", "runs push of a name no run or sweep has",
      nothing, ["runs", "push", "nosuchrun", "--mlflow", "http://127.0.0.1:9"], 1, "no run matches 'nosuchrun'"),
    C("push-untracked-without-uri", "runs push of a run never tracked, without --mlflow",
      nothing, ["runs", "push", "{run_name}"], 1,
      "was not tracked, so there is no server to push it to: give --mlflow URI"),
    C("push-bad-uri", "runs push --mlflow with a URI MLflow has no store for",
      nothing, ["runs", "push", "{run_name}", "--mlflow", "gopher://x"], 1,
      "MLflow does not understand the tracking URI 'gopher://x'"),
    # --- training recipes and the range test (issue 25) ------------------------------------
    C("recipe-stray-schedule-key", "a cosine schedule given step_epochs, which only step reads",
      config(train={"schedule": "cosine", "step_epochs": [2]}), ["train", "{config}"], 1,
      "step_epochs applies to schedule step only, but schedule is cosine"),
    C("recipe-unknown-schedule", "train.schedule: linear (not one Keras has here)",
      config(train={"schedule": "linear"}), ["train", "{config}"], 1, "train.schedule"),
    C("recipe-warmup-too-long", "warmup as long as the phase",
      config(train={"epochs": 2, "warmup_epochs": 2}), ["train", "{config}"], 1,
      "train.warmup_epochs (2) must be fewer than the epochs of each phase"),
    C("recipe-momentum-on-adam", "momentum with an optimizer that has none",
      config(train={"optimizer": "adam", "momentum": 0.9}), ["train", "{config}"], 1,
      "momentum is an argument of sgd and rmsprop, not adam"),
    C("recipe-ema-of-one", "train.ema: 1 (a moving average that never moves)",
      config(train={"ema": 1}), ["train", "{config}"], 1, "train.ema"),
    C("recipe-mixup-in-scratch", "augment.mixup set on stage scratch, which does not augment",
      config(), ["train", "{config}", "--set", "augment.mixup=0.2"], 1, "augment"),
    C("recipe-randaugment-typo", "a misspelt key of augment.randaugment",
      config(stage="augment", augment={}), ["train", "{config}", "--set", "augment.randaugment.num_op=2"], 1,
      "augment.randaugment.num_op"),
    C("recipe-erasing-scale", "random_erasing.scale with its ends reversed",
      config(stage="augment", augment={"random_erasing": {"scale": [0.5, 0.1]}}), ["train", "{config}"], 1,
      "0 < low <= high <= 1"),
    C("lr-find-phase-off-fine-tune", "lr-find --phase on a stage with one phase",
      config(), ["lr-find", "{config}", "--phase", "head"], 1,
      "--phase applies to stage fine-tune only; this config's stage is scratch"),
    C("lr-find-unknown-phase", "lr-find --phase tail",
      config(stage="fine-tune"), ["lr-find", "{config}", "--phase", "tail"], 1,
      "--phase is head or fine-tune. Received: 'tail'"),
    C("lr-find-falling-ramp", "lr-find --start above --end",
      config(), ["lr-find", "{config}", "--start", "1", "--end", "0.1"], 1, "the ramp must rise"),
    C("lr-find-few-steps", "lr-find --steps 5 (too few to smooth)",
      config(), ["lr-find", "{config}", "--steps", "5"], 2, "--steps"),
    C("lr-find-missing-config", "lr-find of a config that does not exist",
      nothing, ["lr-find", "nosuch.yaml"], 1, "config file nosuch.yaml does not exist"),
    C("tta-zero-views", "evaluate --tta 0",
      nothing, ["evaluate", "{run_name}", "--tta", "0"], 2, "--tta"),
    C("tta-more-views-than-the-run-has", "evaluate --tta 3 of a run trained without augmentation",
      nothing, ["evaluate", "{run_name}", "--tta", "3"], 1,
      "--tta takes 1 or 2 views here (the image and its mirror)", usage=False),
    C("tta-predict-file-views", "predict --tta 5 with a model file (no augmentation of its own)",
      asset("dense.keras"), lambda p: ["predict", jpeg(p["tmp"]), "--model", p["file"], "--tta", "5"], 1,
      "--tta takes 1 or 2 views here"),
]


# --- the session's completed run and model files ------------------------------------------


@pytest.fixture(scope="session")
def shared(tmp_path_factory, tiny_data, builtin_base):
    """One real completed run (1 epoch, 32x32, conv_filters [8, 16]) and a few model files."""
    import keras

    from convcli.models.pretrained import build_builtin_base

    root = tmp_path_factory.mktemp("bad_input_shared")
    cfg = tiny_config(tiny_data, train={"epochs": 1})
    (root / f"{RUN_STEM}.yaml").write_text(yaml.safe_dump(cfg))
    result = invoke("train", root / f"{RUN_STEM}.yaml", "--runs-dir", root / "runs")
    assert result.exit_code == 0, result.output
    [run] = list((root / "runs").iterdir())
    assert json.loads((run / "meta.json").read_text())["status"] == "completed"
    ASSETS["run"] = run

    inputs = keras.Input((32, 32, 3))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(root / "lambda.keras")
    dense = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    keras.Model(inputs, dense).save(root / "dense.keras")
    anywhere = keras.Input((None, None, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(anywhere))
    keras.Model(anywhere, keras.layers.Dense(1, activation="sigmoid")(pooled)).save(root / "anysize.keras")
    build_builtin_base().save_weights(root / "base.weights.h5")
    vector = keras.Input((10,))
    keras.Model(vector, keras.layers.Dense(1, activation="sigmoid")(vector)).save(root / "vector.keras")
    two = keras.Input((32, 32, 2))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(two))
    keras.Model(two, keras.layers.Dense(1, activation="sigmoid")(pooled)).save(root / "two_channels.keras")
    for name in ("lambda.keras", "dense.keras", "anysize.keras", "base.weights.h5", "vector.keras",
                 "two_channels.keras"):
        ASSETS[name] = root / name
    build_builtin_base((None, None, 1)).save_weights(root / "gray_base.weights.h5")  # 1-channel conv1
    ASSETS["gray_base.weights.h5"] = root / "gray_base.weights.h5"
    return {"run": run, "data": tiny_data, "contents": contents(run)}


def snapshot(root: Path) -> dict:
    """Every path under root: kind, size, mtime_ns and (small files) sha256."""
    found = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = ("link", os.readlink(path))
        elif path.is_dir():
            found[name] = ("dir",)
        else:
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.st_size <= SMALL else None
            found[name] = ("file", stat.st_size, stat.st_mtime_ns, digest)
    return found


def contents(root: Path) -> dict:
    """Relative path -> sha256 of every file under root."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def params(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [params(case) for case in CASES])
def test_bad_input(case: Case, shared, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    run = runs / shared["run"].name
    shutil.copytree(shared["run"], run)
    shutil.copytree(shared["data"], tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    found = {"tmp": tmp_path, "runs": runs, "run": run, "run_name": run.name, "data": tmp_path / "data"}
    found.update(case.setup(tmp_path))
    args = case.args(found) if callable(case.args) else [str(a).format(**found) for a in case.args]
    expected = [text.format(**found) for text in
                (case.expected if isinstance(case.expected, tuple) else (case.expected,))]
    for module in case.hidden:
        monkeypatch.setitem(sys.modules, module, None)
    cache = Path(os.environ["CONVCLI_CACHE"])
    before, cache_before = snapshot(tmp_path), snapshot(cache)

    result = invoke(*args)

    # 3. no traceback, whatever happened (CliRunner catches an exception that escapes the
    # CLI, which a real process would print as a traceback)
    escaped = result.exception is not None and not isinstance(result.exception, SystemExit)
    shown = result.output + ("".join(traceback.format_exception(*result.exc_info)) if escaped else "")
    assert "Traceback" not in shown, shown
    # 1. the exit code
    assert result.exit_code == case.exit_code, (result.exit_code, result.output, result.exception)
    if case.exit_code == 2:
        assert all(text in result.stderr for text in expected), result.stderr
        assert "Usage:" in result.stderr or not case.usage, result.stderr
    else:
        # 2. one line, `error: `, naming the problem
        lines = result.stderr.strip().splitlines()
        if case.trains:
            lines = [line for line in lines if not line.startswith("epoch ")]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert all(text in lines[0] for text in expected), (expected, lines[0])
    # 4. nothing written, but for one new run directory that says it failed
    after = snapshot(tmp_path)
    new_runs = sorted({name.split(os.sep)[1] for name in after if name.startswith("runs" + os.sep)}
                      - {name.split(os.sep)[1] for name in before if name.startswith("runs" + os.sep)})
    assert len(new_runs) <= 1, new_runs
    for name in new_runs:
        assert json.loads((runs / name / "meta.json").read_text())["status"] == "failed"
        after = {path: info for path, info in after.items()
                 if path != f"runs{os.sep}{name}" and not path.startswith(f"runs{os.sep}{name}{os.sep}")}
    assert after == before, {path: (before.get(path), after.get(path)) for path in before.keys() | after.keys()
                             if before.get(path) != after.get(path)}
    # convcli's cache may gain entries (e.g. records of checked images), never lose or change one
    cache_after = snapshot(cache)
    assert {path: cache_after.get(path) for path in cache_before} == cache_before
    # 5. the earlier, completed run is byte for byte what training wrote
    assert contents(run) == shared["contents"]
    if case.check:
        case.check(found)
