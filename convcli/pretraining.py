"""The built-in base's weights: pretrained once on the built-in source task, then cached.

What makes `extract` and `fine-tune` run on a fresh offline machine. The source task's
ten shape classes are disjoint from the target task's two stars, so the base arrives at
the target task the way an ImageNet base arrives at cats and dogs: knowing edges,
corners, outlines and the ways shapes are drawn, never having seen the classes. The weights are cached under a fingerprint
of everything that makes them (this recipe, the architecture, the source data); a
cached file that does not load is rebuilt. `convcli pretrain` builds it ahead of time.

convcli ships the file this recipe makes (convcli/assets/, made by `convcli pretrain`
and copied there, with its record), so a first run uses it instead of pretraining for
minutes; a shipped file whose fingerprint is not the recipe's is never used.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
from rich.console import Console

from convcli import cache as cache_entries
from convcli.bases import BUILTIN_FILTERS
from convcli.config import Augment
from convcli.data import folders, synthetic
from convcli.data.pipeline import make_augmenter, make_dataset
from convcli.devices import dtype_policy
from convcli.errors import ModelError
from convcli.models.pretrained import build_builtin_base, load_weights_file
from convcli.files import atomic_path, cache_dir
from convcli.formats import percent
from convcli.training import ProgressDisplay


@dataclass(frozen=True)
class Pretraining:
    """How the built-in base is trained on the source task."""

    image_size: int = 64
    batch_size: int = 64
    epochs: int = 12
    learning_rate: float = 2e-3  # Adam, decayed to 0 along a cosine over all steps
    seed: int = 0
    augment: dict = field(default_factory=lambda: dict(  # config.Augment's keys
        rotation_range=40, width_shift_range=0.15, height_shift_range=0.15, shear_range=0,
        zoom_range=0.15, horizontal_flip=True))


PRETRAINING = Pretraining()


def weights_path(recipe: Pretraining | None = None) -> Path:
    """Where the built-in base's weights are cached (they may not exist yet)."""
    recipe = recipe or PRETRAINING
    key = json.dumps([asdict(recipe), BUILTIN_FILTERS, synthetic.SOURCE_GENERATOR_VERSION,
                      asdict(synthetic.TASKS["source"])], sort_keys=True)
    return cache_dir() / "bases" / f"builtin-{hashlib.sha256(key.encode()).hexdigest()[:12]}.weights.h5"


SHIPPED = Path(__file__).resolve().parent / "assets"  # package data


def shipped_weights() -> Path | None:
    """The shipped weights file of this recipe, if convcli ships it."""
    path = SHIPPED / weights_path().name
    return path if path.is_file() else None


def builtin_weights(console: Console | None = None, force: bool = False) -> Path:
    """The built-in base's weights: cached, else shipped, else pretrained now (cached)."""
    console = console or Console(stderr=True)
    path = weights_path()
    if not path.is_file() and not force and shipped_weights() is not None:
        path = shipped_weights()  # package data: no cache entry to hold, nothing written
    else:
        _hold(path)
    if path.is_file() and not force:
        try:
            load_weights_file(build_builtin_base(), path, "builtin")
            return path
        except ModelError as error:
            console.print(f"the built-in base at {path} does not load ({error}); rebuilding it",
                          style="yellow", highlight=False)
    path = weights_path()  # pretraining always writes the cache, never the package
    _hold(path)
    pretrain(path, console)
    return path


def _hold(path: Path) -> None:
    """Keep the cached weights and their record from `convcli cache prune` while this
    process may read them."""
    for entry in (path, _record_path(path)):
        cache_entries.hold(entry)


def pretrain(path: Path, console: Console, recipe: Pretraining | None = None) -> dict:
    """Train the built-in base on the source task; write its weights and a record beside them.

    Always in float32, whatever policy the run that needs the base asked for.
    """
    with dtype_policy("float32"):
        return _pretrain(path, console, recipe or PRETRAINING)


def _pretrain(path: Path, console: Console, recipe: Pretraining) -> dict:
    console.print(f"pretraining the built-in base on the source task (once; cached in {path.parent})",
                  highlight=False)
    began = time.perf_counter()
    keras.utils.set_random_seed(recipe.seed)
    root = synthetic.builtin_dataset(cache_dir(), task="source")
    class_names, train = folders.scan(root / "train", "train_dir")
    validation = folders.scan(root / "validation", "validation_dir")[1]
    size = (recipe.image_size, recipe.image_size)
    train_data = make_dataset(train, len(class_names), size, recipe.batch_size,
                              shuffle_seed=recipe.seed,
                              augmenter=make_augmenter(Augment(**recipe.augment), recipe.seed))
    validation_data = make_dataset(validation, len(class_names), size, recipe.batch_size)

    # Pixels in [0, 1] for the base; global average pooling and a softmax on top.
    base = build_builtin_base()
    inputs = keras.Input((*size, 3))
    x = base(keras.layers.Rescaling(1.0 / 255)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(class_names), activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    steps = recipe.epochs * math.ceil(len(train) / recipe.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train_data, validation_data=validation_data, epochs=recipe.epochs, verbose=0,
                        shuffle=False,  # the dataset shuffles itself
                        callbacks=[ProgressDisplay(console, "pretraining")])

    record = {"source_classes": class_names, "recipe": asdict(recipe),
              "val_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
              "seconds": round(time.perf_counter() - began, 1)}
    with atomic_path(_record_path(path)) as temp:
        temp.write_text(json.dumps(record, indent=2) + "\n")
    with atomic_path(path) as temp:  # written last: its presence means the base is complete
        base.save_weights(temp)
    console.print(f"built-in base ready: {percent(record['val_accuracy'])} validation accuracy "
                  f"on the {len(class_names)} source classes, {record['seconds']:.0f} s", highlight=False)
    return record


def _record_path(path: Path) -> Path:
    """The record beside a weights file: how it was pretrained."""
    return path.with_name(path.name.removesuffix(".weights.h5") + ".json")
