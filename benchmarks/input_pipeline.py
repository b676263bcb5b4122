"""Input pipeline speed: convcli's tf.data pipeline against the book's ImageDataGenerator.

What it measures, on one book-like folder (`convcli data synth`: two classes of JPEGs,
by default 500 training images per class at 150x150, read at the book's 150x150 with
the book's batch of 20):

1. Images per second reading the training split for E whole epochs (default 3):
     baseline  tf_keras ImageDataGenerator(rescale=1./255).flow_from_directory(
               target_size, batch_size, class_mode='binary'), iterated directly with
               next(), len(generator) batches per epoch, as fit() would draw them
     convcli   convcli.data.pipeline.make_dataset on the same files (listed by
               convcli.data.folders.resolve), shuffled, with the cache the default config
               picks (data.cache: auto, memory here) and the default prefetch
   each plain and with the book's augmentation (rotation 40, shifts 0.2, shear 0.2, zoom
   0.2, horizontal flip, fill nearest; convcli: make_augmenter(Augment(...), seed)).
   The first epoch decodes every file and later ones may read convcli's cache, so the
   first epoch is reported on its own too. Both sides read the same files (checked)
   from the page cache (every file is read once before timing), and take turns epoch
   by epoch, so a busy spell of the shared machine falls on both.
2. How long training waits on data, in two figures.
   (a) The wait itself, the target's figure: convcli's augment-stage model (the
       stage's own build_model and compile_model) trains one epoch step by step on the
       real augmented training dataset of make_datasets: each batch is taken from the
       dataset's iterator (timed: the step waiting for its data) and then trained on
       with the compiled train step (train_on_batch). A warm-up epoch first fills the
       decode cache and traces the train step (both batch shapes). Then
           wait share = seconds blocked in next(iterator) / seconds of the epoch
   (b) What the input costs training in all, waiting or not: on 2 cores the
       augmentation that runs while the step runs takes CPU from it. The same model is
       fit for one whole epoch, as convcli's Trainer fits it, fed by the real dataset
       and by the same batches already in memory (the real dataset's next epoch,
       augmented once and held by .cache(), then prefetched):
           input share = max(0, t_real - t_memory) / t_real
       Wall times swing by tens of percent when other processes (or, on a virtual
       machine, other guests) share the cores, so the same difference is also taken in
       process CPU seconds (time.process_time).
   Each is repeated --repeats times; (a) keeps the epoch that waited most, (b) the
   fastest epoch of each feed (they alternate, so a busy spell falls on both).
   This is the steady state of every epoch but the first (the first decodes files).
3. What augmentation costs on its own: convcli's augmenter on one batch in a compiled
   function, as tf.data runs it, in images per second and CPU milliseconds per image,
   next to the training step's CPU milliseconds per image.

Targets (the issue): convcli / baseline >= 2x plain and >= 1.5x augmented, over all E
epochs; data-wait share < 5%. Prints a table and, with --json, writes every number.

    python benchmarks/input_pipeline.py [--data DIR] [--per-class 500] [--size 150]
        [--batch-size 20] [--epochs 3] [--repeats 3] [--json out.json]

About 4 minutes on 2 cores with the defaults, half of it drawing the folder
(`--data DIR` reuses a folder made by `convcli data synth DIR --image-size 150`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from convcli.tfenv import import_tensorflow  # noqa: E402

tf = import_tensorflow()  # TF 2.21's start-up lines bypass TF_CPP_MIN_LOG_LEVEL; this hides them

from convcli.config import Config, validate  # noqa: E402
from convcli.data import synthetic  # noqa: E402
from convcli.data.folders import Files, resolve  # noqa: E402
from convcli.data.pipeline import choose_cache, make_augmenter, make_dataset, make_datasets  # noqa: E402
from convcli.errors import ConfigError, DataError  # noqa: E402
from convcli.stages import augment as augment_stage  # noqa: E402
from convcli.training import compile_model, seed_everything  # noqa: E402

# The book's ImageDataGenerator arguments (Deep Learning with Python, 5.2.5); convcli's
# Augment section takes the same names in the same units.
BOOK_AUGMENT = dict(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
                    shear_range=0.2, zoom_range=0.2, horizontal_flip=True, fill_mode="nearest")
TARGETS = {"plain": 2.0, "augmented": 1.5, "data_wait_share": 0.05}  # the wait: 2(a)


def make_folder(directory: Path, per_class: int, size: int) -> Path:
    """A new book-like folder (train/, validation/, test/ of two classes), as `convcli data synth`."""
    print(f"drawing {6 * per_class} images of {size}x{size} into {directory} ...", file=sys.stderr)
    return synthetic.generate(directory, per_class=per_class, image_size=size)


def benchmark_config(root: Path, size: int, batch_size: int, seed: int) -> Config:
    """An augment-stage config on the folder, with the book's augmentation and convcli's defaults."""
    return validate({"stage": "augment", "seed": seed, "augment": BOOK_AUGMENT,
                     "data": {"train_dir": str(root / "train"), "validation_dir": str(root / "validation"),
                              "image_size": [size, size], "batch_size": batch_size}},
                    source="benchmark config")


def warm_page_cache(paths: list[str]) -> None:
    """Read every file once, so neither side pays the disk for the other."""
    for path in paths:
        Path(path).read_bytes()


def book_generator(cfg: Config, augmented: bool):
    """The book's flow_from_directory iterator over the training folder."""
    from tf_keras.preprocessing.image import ImageDataGenerator

    options = BOOK_AUGMENT if augmented else {}
    with contextlib.redirect_stdout(io.StringIO()):  # its "Found N images" line
        return ImageDataGenerator(rescale=1.0 / 255, **options).flow_from_directory(
            cfg.data.train_dir, target_size=cfg.data.image_size, batch_size=cfg.data.batch_size,
            class_mode="binary", seed=cfg.seed)


def convcli_dataset(cfg: Config, files: Files, augmented: bool) -> tf.data.Dataset:
    """convcli's training dataset: shuffled, cached as configured, augmented or not."""
    augmenter = make_augmenter(cfg.augment, cfg.seed) if augmented else None
    return make_dataset(files.train, files.num_classes, cfg.data.image_size, cfg.data.batch_size,
                        shuffle_seed=cfg.seed, augmenter=augmenter, cache=train_cache(cfg, files))


def train_cache(cfg: Config, files: Files) -> str:
    """The cache a run of this config uses (`auto` resolved as make_datasets resolves it)."""
    return choose_cache(cfg.data.cache, files, cfg.data.image_size)


def read_generator_epoch(generator) -> None:
    """One epoch of the baseline: len(generator) batches drawn with next(), as fit() draws them."""
    for _ in range(len(generator)):
        next(generator)


def read_dataset_epoch(dataset: tf.data.Dataset) -> None:
    """One epoch of convcli: the whole dataset through a new iterator, as fit() does each epoch."""
    for _ in dataset:
        pass


def paired_epoch_seconds(generator, dataset: tf.data.Dataset, epochs: int) -> tuple[list, list]:
    """Seconds per epoch of the baseline and of convcli, taking turns epoch by epoch,
    so a busy spell of the shared machine falls on both sides."""
    baseline, convcli = [], []
    for _ in range(epochs):
        baseline.append(seconds_of(read_generator_epoch, generator))
        convcli.append(seconds_of(read_dataset_epoch, dataset))
    return baseline, convcli


def seconds_of(function, *args) -> float:
    """Wall seconds of one call."""
    began = time.perf_counter()
    function(*args)
    return time.perf_counter() - began


def reading_rates(seconds: list[float], images: int) -> dict:
    """Images per second over all epochs, in the first epoch, and in the later ones."""
    later = images * (len(seconds) - 1) / sum(seconds[1:]) if len(seconds) > 1 else None
    return {"images_per_second": images * len(seconds) / sum(seconds),
            "first_epoch": images / seconds[0], "later_epochs": later,
            "epoch_seconds": [round(s, 3) for s in seconds]}


def all_reading_rates(cfg: Config, files: Files, epochs: int) -> dict:
    """Images per second of the baseline and convcli, plain and augmented."""
    images = len(files.train)
    rates = {}
    for augmented, suffix in ((False, "plain"), (True, "augmented")):
        generator = book_generator(cfg, augmented)
        check_same_files(generator.filepaths, files.train.paths, cfg.data.train_dir)
        baseline, convcli = paired_epoch_seconds(generator, convcli_dataset(cfg, files, augmented), epochs)
        rates[f"baseline_{suffix}"] = reading_rates(baseline, images)
        rates[f"convcli_{suffix}"] = reading_rates(convcli, images)
    return rates


def check_same_files(baseline: list[str], convcli: list[str], folder: str) -> None:
    """Both sides must read the same images; each skips some formats the other reads."""
    if sorted(map(os.path.realpath, baseline)) != sorted(map(os.path.realpath, convcli)):
        raise DataError(f"ImageDataGenerator lists {len(baseline)} files in {folder}, convcli "
                        f"{len(convcli)}, or other ones; use a folder of JPEG and PNG images only")


def fit_seconds(model, dataset: tf.data.Dataset) -> tuple[float, float]:
    """Wall and CPU seconds of one epoch of model.fit over the dataset, as convcli's Trainer fits."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - wall, time.process_time() - cpu


def data_wait(cfg: Config, files: Files, scratch: Path, repeats: int) -> dict:
    """Share of a training epoch spent on input: real augmented pipeline against batches in memory."""
    seed_everything(cfg.seed, cfg.deterministic)
    model = augment_stage.build_model(cfg, files.class_names)
    compile_model(model, cfg.train, files.num_classes)
    # The augment stage's own training dataset: make_datasets with the stage's augmenter.
    real = make_datasets(cfg, files, scratch, augmenter=make_augmenter(cfg.augment, cfg.seed)).train
    warm_up, _ = fit_seconds(model, real)  # fills the decode cache, traces the train step
    # One augmented epoch of the same pipeline, held in memory; a full pass fills the cache.
    memory = real.cache().prefetch(tf.data.AUTOTUNE)
    read_dataset_epoch(memory)
    timings = {"real": [], "memory": []}
    for _ in range(repeats):  # alternate, so a busy spell of the shared machine falls on both
        timings["real"].append(fit_seconds(model, real))
        timings["memory"].append(fit_seconds(model, memory))
    waits = [step_waits(model, real) for _ in range(repeats)]
    t_real, cpu_real = (min(column) for column in zip(*timings["real"]))
    t_memory, cpu_memory = (min(column) for column in zip(*timings["memory"]))
    worst = max(waits, key=lambda w: w["waiting"] / w["seconds"])  # "never waits more than"
    return {"steps": int(real.cardinality()), "waiting": worst["waiting"],
            "waiting_share": worst["waiting"] / worst["seconds"], "step_by_step": waits,
            "t_real": t_real, "t_memory": t_memory, "t_warm_up": warm_up,
            "cpu_real": cpu_real, "cpu_memory": cpu_memory,
            "wall_seconds": {k: [round(wall, 3) for wall, _ in v] for k, v in timings.items()},
            "cpu_seconds": {k: [round(cpu, 3) for _, cpu in v] for k, v in timings.items()},
            "training_images_per_second": len(files.train) / t_real,
            "share": max(0.0, t_real - t_memory) / t_real,
            # The same difference in CPU seconds: what the input costs the two cores, which
            # other processes on the machine barely change (wall times they do).
            "cpu_share": max(0.0, cpu_real - cpu_memory) / cpu_real}


def step_waits(model, dataset: tf.data.Dataset) -> dict:
    """One epoch trained step by step: seconds blocked waiting for each batch, and in all."""
    waiting, began = 0.0, time.perf_counter()
    iterator = iter(dataset)
    while True:
        asked = time.perf_counter()
        try:
            images, labels = next(iterator)
        except StopIteration:
            break
        waiting += time.perf_counter() - asked
        model.train_on_batch(images, labels)
    return {"seconds": round(time.perf_counter() - began, 3), "waiting": round(waiting, 4)}


def augmenter_cost(cfg: Config, files: Files, repeats: int = 10) -> dict:
    """convcli's augmenter alone on one batch, in a compiled function as tf.data runs it."""
    augmenter = make_augmenter(cfg.augment, cfg.seed)
    images, _ = next(iter(convcli_dataset(cfg, files, augmented=False)))
    step = tf.function(augmenter.__call__)
    step(images)  # trace outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        step(images)
    count = repeats * len(images)
    return {"images_per_second": count / (time.perf_counter() - wall),
            "cpu_ms_per_image": 1000 * (time.process_time() - cpu) / count}


def verdicts(rates: dict, wait: dict) -> dict:
    """Each target: its measured value, the target, and whether it holds."""
    checks = {}
    for suffix in ("plain", "augmented"):
        convcli, baseline = rates[f"convcli_{suffix}"], rates[f"baseline_{suffix}"]
        ratio = convcli["images_per_second"] / baseline["images_per_second"]
        first = convcli["first_epoch"] / baseline["first_epoch"]
        checks[f"ratio_{suffix}"] = {"value": ratio, "first_epoch": first, "target": TARGETS[suffix],
                                     "holds": ratio >= TARGETS[suffix]}
    checks["data_wait_share"] = {"value": wait["waiting_share"], "target": TARGETS["data_wait_share"],
                                 "holds": wait["waiting_share"] < TARGETS["data_wait_share"]}
    return checks


def print_report(result: dict) -> None:
    """The table: rates per variant, then each target with PASS or MISS."""
    setup, rates, wait = result["setup"], result["reading"], result["data_wait"]
    epochs = f"{setup['epochs']} epoch{'s' if setup['epochs'] > 1 else ''}"
    print(f"{setup['train_images']} training images ({setup['classes']} classes), read at "
          f"{setup['size']}x{setup['size']}, batch {setup['batch_size']}, {epochs}")
    print(f"{'images/s':<34}{'all epochs':>11}{'first':>9}{'later':>9}")
    for key, label in (("baseline_plain", "ImageDataGenerator"), ("convcli_plain", "convcli"),
                       ("baseline_augmented", "ImageDataGenerator + augmentation"),
                       ("convcli_augmented", "convcli + augmentation")):
        r = rates[key]
        later = f"{r['later_epochs']:9.0f}" if r["later_epochs"] else f"{'-':>9}"
        print(f"{label:<34}{r['images_per_second']:11.0f}{r['first_epoch']:9.0f}{later}")
    print(f"training, augment-stage model, one epoch of {wait['steps']} steps (fastest of {setup['repeats']}): "
          f"{wait['t_real']:.2f} s fed by the pipeline, {wait['t_memory']:.2f} s from memory "
          f"({wait['training_images_per_second']:.0f} images/s)")
    print(f"input's whole cost to training (waiting + CPU taken from the step): {wait['share']:.1%} "
          f"of wall time, {wait['cpu_share']:.1%} of CPU time")
    augmenter, step_cpu = result["augmenter"], 1000 * wait["cpu_memory"] / setup["train_images"]
    print(f"augmenter alone, one batch: {augmenter['images_per_second']:.0f} images/s, "
          f"{augmenter['cpu_ms_per_image']:.2f} ms of CPU per image (the training step: {step_cpu:.1f})")
    print(f"{'target':<34}{'measured':>11}{'first':>9}{'target':>9}")
    for key, label in (("ratio_plain", "convcli / baseline, plain"),
                       ("ratio_augmented", "convcli / baseline, augmented")):
        c = result["targets"][key]
        target, mark = f">= {c['target']:g}x", "PASS" if c["holds"] else "MISS"
        print(f"{label:<34}{c['value']:10.2f}x{c['first_epoch']:8.2f}x{target:>9}  {mark}")
    c = result["targets"]["data_wait_share"]
    target, mark = f"< {c['target']:.0%}", "PASS" if c["holds"] else "MISS"
    print(f"{'step waiting on data':<34}{c['value']:10.1%}{'':>9}{target:>9}  {mark}")


def disk_cache_rates(cfg: Config, files: Files, tmp: Path, epochs: int) -> dict:
    """4. `data.cache: auto` past the memory cap (its disk cache in the cache folder) against
    `none` (decoding every epoch), reading the plain training split, taking turns epoch by
    epoch; the first epoch writes the disk cache, the later ones read it."""
    from convcli.data import pipeline

    os.environ["CONVCLI_CACHE"] = str(tmp / "cache")  # not the user's cache folder
    limit = pipeline.memory_cache_limit
    pipeline.memory_cache_limit = lambda: 0  # as if the decoded images did not fit in memory
    try:
        auto = make_datasets(cfg, files, tmp / "scratch-auto")
    finally:
        pipeline.memory_cache_limit = limit
    none = make_datasets(cfg.model_copy(update={"data": cfg.data.model_copy(update={"cache": "none"})}),
                         files, tmp / "scratch-none")
    seconds = {"none": [], "auto_disk": []}
    for _ in range(epochs):
        seconds["none"].append(seconds_of(read_dataset_epoch, none.train))
        seconds["auto_disk"].append(seconds_of(read_dataset_epoch, auto.train))
    rates = {name: reading_rates(values, len(files.train)) for name, values in seconds.items()}
    rates["later_epochs_ratio"] = rates["auto_disk"]["later_epochs"] / rates["none"]["later_epochs"]
    rates["in_cache_folder"] = any((tmp / "cache" / "images").rglob("train.cache.index"))
    return rates


def print_disk_cache(rates: dict) -> None:
    auto, none = rates["auto_disk"], rates["none"]
    print(f"data.cache auto past the memory cap (disk cache{'' if rates['in_cache_folder'] else ' NOT'} "
          "in the cache folder) against none, images/s:")
    print(f"  first epoch {auto['first_epoch']:.0f} against {none['first_epoch']:.0f}; later epochs "
          f"{auto['later_epochs']:.0f} against {none['later_epochs']:.0f}: "
          f"{rates['later_epochs_ratio']:.2f}x")


def run(args: argparse.Namespace, tmp: Path) -> dict:
    """Every measurement, as one JSON-ready dict."""
    began, load = time.perf_counter(), os.getloadavg()[0]
    root = Path(args.data) if args.data else make_folder(tmp / "data", args.per_class, args.size)
    cfg = benchmark_config(root, args.size, args.batch_size, args.seed)
    files = resolve(cfg.data, cfg.seed)
    warm_page_cache(files.train.paths)
    if args.disk_cache_only:
        return {"disk_cache": disk_cache_rates(cfg, files, tmp, args.epochs),
                "seconds": round(time.perf_counter() - began, 1),
                "setup": {"load_average": {"start": load, "end": os.getloadavg()[0]}}}
    print("reading ...", file=sys.stderr)
    rates = all_reading_rates(cfg, files, args.epochs)
    print("training ...", file=sys.stderr)
    wait = data_wait(cfg, files, tmp / "scratch", args.repeats)
    result = {"setup": {"data": str(root), "train_images": len(files.train), "classes": files.num_classes,
                        "size": args.size, "batch_size": args.batch_size, "epochs": args.epochs,
                        "cache": train_cache(cfg, files), "seed": args.seed, "repeats": args.repeats},
              "reading": rates, "data_wait": wait, "augmenter": augmenter_cost(cfg, files),
              "targets": verdicts(rates, wait),
              "disk_cache": disk_cache_rates(cfg, files, tmp, args.epochs)}
    result["seconds"] = round(time.perf_counter() - began, 1)
    # How busy the shared machine was: wall times (and so the verdicts) depend on it.
    result["setup"]["load_average"] = {"start": load, "end": os.getloadavg()[0]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="reuse this folder (train/, validation/) instead of drawing one")
    parser.add_argument("--per-class", type=int, default=500, help="images per class and split to draw")
    parser.add_argument("--size", type=int, default=150, help="image side drawn and read, in pixels")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3, help="epochs read per variant")
    parser.add_argument("--repeats", type=int, default=3, help="timed training epochs per feed")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--json", help="write every number here")
    parser.add_argument("--disk-cache-only", action="store_true",
                        help="measure only 4: data.cache auto's disk cache against none")
    args = parser.parse_args()
    try:
        with tempfile.TemporaryDirectory(prefix="input_pipeline.") as tmp:
            result = run(args, Path(tmp))
    except (ConfigError, DataError) as error:
        sys.exit(f"error: {error}")
    if not args.disk_cache_only:
        print_report(result)
    print_disk_cache(result["disk_cache"])
    load = result["setup"]["load_average"]
    print(f"({result['seconds']:.0f} s; load average {load['start']:.1f} at the start, "
          f"{load['end']:.1f} at the end)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
