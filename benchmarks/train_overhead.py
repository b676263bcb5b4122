"""Training overhead: the whole `convcli train` process against a plain Keras script.

Both train the same model (configs/scratch.yaml's convnet, sigmoid output) on the same
book-like folder of JPEGs (`convcli data synth`, 150x150, batch 20) for the same
epochs, each as a whole process timed by its wall clock:

  convcli  `convcli train CONFIG --runs-dir TMP` (stage scratch, the folder's three splits)
  plain    this file with --plain: what a Keras user writes from the book / keras-io:
           image_dataset_from_directory (bilinear, binary labels) for the three splits,
           .cache().prefetch(AUTOTUNE), the same layers, optimizer and learning rate,
           model.fit, model.save(.keras), model.evaluate(test)
  plain, autotune off   the same script with tf.data autotuning turned off, as convcli
           turns it off (convcli.data.pipeline.pipeline_options): tf.data then skips a
           wait when each epoch's spent iterator is deleted, which the plain script
           pays. Against it, the ratio is what convcli's own extras cost.

The three alternate for --repeats rounds; the figure is the median of the rounds'
convcli/plain ratios, against the target of at most 1.05x. Each process's CPU seconds
are reported too: this machine has spells where the same work takes up to twice the
wall time (docs/notes.md#timing-on-a-shared-machine). Where convcli's extra time
goes comes from its run directory (metrics.csv `seconds` per epoch, summary.json's
timings and phase seconds) next to the plain script's own epoch times.

The folder: `--per-class N` images per class in each split (the default 300 gives 600
training, 600 validation and 600 test images, where the book has 2000/1000/1000, so the
whole benchmark takes about 13 minutes on 2 cores). `data synth` also writes boxes.csv,
the objects' boxes, which no folder of a user's own images has; it is removed, so convcli
does at the end of the run what it does on such a folder (test metrics, confusion
matrix, 8 Grad-CAM pictures, curves, report page) and not the built-in data's extra,
Grad-CAM's pointing game (`--keep-boxes` keeps it, to see its cost).

CONVCLI_CACHE points at a fresh temporary folder, warmed once before timing by the same
data scan `convcli train` runs: the benchmark neither reads nor changes the user's
cache, and it measures the steady state of retraining on a folder, where the scan is a
cache hit. The cold scan (paid once per new or changed folder) is reported separately.

    python benchmarks/train_overhead.py [--per-class 300] [--size 150] [--epochs 5]
        [--batch-size 20] [--repeats 3] [--data DIR] [--set KEY=VALUE]... [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.05  # convcli's wall time / the plain script's, at most


# --- the data and the config ------------------------------------------------------------


def synthetic_folder(directory: Path, per_class: int, size: int, keep_boxes: bool) -> Path:
    """A new folder of train/validation/test class folders, written by `convcli data synth`."""
    subprocess.run([sys.executable, "-m", "convcli", "data", "synth", str(directory),
                    "--per-class", str(per_class), "--image-size", str(size)],
                   check=True, capture_output=True, env=_env())
    if not keep_boxes:
        (directory / "boxes.csv").unlink()  # a user's folder has no object boxes
    return directory


def convcli_config(data: Path, args) -> dict:
    """configs/scratch.yaml's model and optimizer, on `data` at the benchmark's sizes."""
    cfg = yaml.safe_load((ROOT / "configs" / "scratch.yaml").read_text())
    cfg["name"] = "train-overhead"
    cfg["data"] = {"train_dir": str(data / "train"), "validation_dir": str(data / "validation"),
                   "test_dir": str(data / "test"), "image_size": [args.size, args.size],
                   "batch_size": args.batch_size}
    cfg["train"]["epochs"] = args.epochs
    cfg["train"]["learning_rate"] = float(cfg["train"]["learning_rate"])  # YAML reads 1e-3 as text
    return cfg


def cold_scan_seconds(config: Path) -> float:
    """Seconds of convcli's scan of the folder's images, which fills CONVCLI_CACHE.

    The same calls `convcli train` makes before training, so its runs then hit the cache.
    """
    from convcli.config import load_config
    from convcli.data import folders
    from convcli.data.check import screen
    from convcli.tfenv import import_tensorflow

    import_tensorflow()  # the scan decodes with TensorFlow; its import is not the scan's cost
    cfg = load_config(config)
    began = time.perf_counter()
    screen(folders.resolve(cfg.data, cfg.seed), cfg.data.on_bad_file)
    return time.perf_counter() - began


def _env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


# --- the two processes ------------------------------------------------------------------


def convcli_timing(config: Path, work: Path, sets: list[str]) -> dict:
    """Wall seconds of one whole `convcli train` process and where they went."""
    runs = Path(tempfile.mkdtemp(prefix="runs-", dir=work))
    command = [sys.executable, "-m", "convcli", "train", str(config), "--runs-dir", str(runs)]
    command += [arg for key_value in sets for arg in ("--set", key_value)]
    done, wall, cpu = timed_process(command)
    if done.returncode != 0:
        sys.exit(f"convcli train failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    [run] = list(runs.iterdir())
    return convcli_breakdown(run, wall) | {"cpu": cpu}


def timed_process(command: list[str]):
    """Run a child process to its end: (its CompletedProcess, wall seconds, CPU seconds).

    CPU seconds (user + system, all its threads) are the second figure: the wall clock
    also counts time the process sat idle or other processes had the cores.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=_env())
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, wall, cpu


def convcli_breakdown(run: Path, wall: float) -> dict:
    """The run directory's own timings, split into the parts the plain script also has."""
    summary = json.loads((run / "summary.json").read_text())
    with open(run / "metrics.csv", newline="") as handle:
        epochs = [float(row["seconds"]) for row in csv.DictReader(handle)]  # training + validation
    fit = sum(phase["seconds"] for phase in summary["phases"])
    run_seconds = summary["timings"]["total_seconds"]
    return {"wall": wall, "epochs": epochs, "fit": fit, "params": summary["trainable_params"]["train"],
            # Outside the run: imports, config, data listing and scan, model build, the table.
            "outside_run": wall - run_seconds,
            # In the run, around fit: datasets, compile, reload best.keras, test, Grad-CAM, curves.
            "run_not_fit": run_seconds - fit}


def plain_timing(cfg: dict, work: Path, autotune: bool = True) -> dict:
    """Wall seconds of one whole plain Keras process and the times it reports itself.

    autotune=False: its datasets get convcli's fix, tf.data autotuning off (see
    convcli.data.pipeline.pipeline_options), to show what convcli's extras cost alone.
    """
    spec = {"data": str(Path(cfg["data"]["train_dir"]).parent), "size": cfg["data"]["image_size"][0],
            "batch_size": cfg["data"]["batch_size"], "epochs": cfg["train"]["epochs"],
            "filters": cfg["model"]["conv_filters"], "dense": cfg["model"]["dense_units"],
            "pixel_range": cfg["model"].get("pixel_range", [0, 1]),
            "optimizer": cfg["train"]["optimizer"], "learning_rate": cfg["train"]["learning_rate"],
            "seed": cfg["seed"], "autotune": autotune, "save": str(Path(tempfile.mkdtemp(dir=work)) / "model.keras")}
    launched = time.time()
    done, wall, cpu = timed_process([sys.executable, __file__, "--plain", json.dumps(spec)])
    if done.returncode != 0:
        sys.exit(f"the plain Keras script failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall": wall, "cpu": cpu, "epochs": report["epochs"],
            "fit": report["fit_end"] - report["fit_start"],
            "params": report["params"], "before_fit": report["fit_start"] - launched,
            "after_fit": wall - (report["fit_end"] - launched)}


# --- the plain Keras script (runs in its own process, with --plain) ----------------------


def plain_keras(spec: dict) -> None:
    """Train, save and evaluate as the book / keras-io do; print times as one JSON line."""
    import keras

    keras.utils.set_random_seed(spec["seed"])
    train, validation, test = (plain_dataset(Path(spec["data"]) / split, spec)
                               for split in ("train", "validation", "test"))
    model = plain_model(spec)
    optimizer = keras.optimizers.get({"class_name": spec["optimizer"],
                                      "config": {"learning_rate": spec["learning_rate"]}})
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    timer = epoch_timer()
    fit_start = time.time()
    model.fit(train, validation_data=validation, epochs=spec["epochs"], callbacks=[timer], verbose=2)
    fit_end = time.time()
    model.save(spec["save"])
    model.evaluate(test, verbose=2)
    print(json.dumps({"params": model.count_params(), "epochs": timer.seconds,
                      "fit_start": fit_start, "fit_end": fit_end}), flush=True)


def plain_dataset(directory: Path, spec: dict):
    """One split, as keras-io's image_classification_from_scratch loads it."""
    import keras
    import tensorflow as tf

    dataset = keras.utils.image_dataset_from_directory(
        directory, label_mode="binary", image_size=(spec["size"], spec["size"]),
        batch_size=spec["batch_size"], interpolation="bilinear", seed=spec["seed"])
    dataset = dataset.cache().prefetch(tf.data.AUTOTUNE)
    if not spec["autotune"]:
        options = tf.data.Options()
        options.autotune.enabled = False
        dataset = dataset.with_options(options)
    return dataset


def plain_model(spec: dict):
    """The book's convnet (2nd edition, chapter 8), with the config's filters and units."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(spec["size"], spec["size"], 3))
    low, high = spec["pixel_range"]
    x = layers.Rescaling((high - low) / 255, offset=low)(inputs)
    for filters in spec["filters"]:
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(spec["dense"], activation="relu")(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def epoch_timer():
    """A callback that keeps each epoch's seconds (training and validation), like metrics.csv."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.began)

    return EpochTimer()


# --- rounds, figures, output ------------------------------------------------------------


def rounds_result(rounds: list[dict]) -> dict:
    """Medians over the rounds, the ratio against the target, and the time split."""

    def ratios(baseline: str, unit: str) -> list[float]:  # convcli / baseline, round by round
        return [r["convcli"][unit] / r[baseline][unit] for r in rounds]

    ratio = statistics.median(ratios("plain", "wall"))
    tuned = {unit: round(statistics.median(ratios("plain_tuned", unit)), 3) for unit in ("wall", "cpu")}

    def median(side, part):
        return round(statistics.median(part(r[side]) for r in rounds), 2)

    parts = {"wall": lambda t: t["wall"], "cpu": lambda t: t["cpu"], "not_fit": lambda t: t["wall"] - t["fit"],
             "fit_between_epochs": lambda t: t["fit"] - sum(t["epochs"]),
             "epochs": lambda t: sum(t["epochs"]), "first_epoch": lambda t: t["epochs"][0],
             "later_epochs_mean": lambda t: statistics.mean(t["epochs"][1:])}
    split = {side: {name: median(side, part) for name, part in parts.items()}
             for side in ("convcli", "plain")}
    split["convcli"] |= {"outside_run": median("convcli", lambda t: t["outside_run"]),
                         "run_not_fit": median("convcli", lambda t: t["run_not_fit"])}
    split["plain"] |= {"before_fit": median("plain", lambda t: t["before_fit"]),
                       "after_fit": median("plain", lambda t: t["after_fit"])}
    return {"ratio": round(ratio, 3), "target": TARGET, "passed": ratio <= TARGET,
            "ratios": [round(x, 3) for x in ratios("plain", "wall")],
            "cpu_ratio": round(statistics.median(ratios("plain", "cpu")), 3),
            "cpu_ratios": [round(x, 3) for x in ratios("plain", "cpu")],
            "against_plain_without_autotune": tuned,
            "plain_without_autotune_wall": [round(r["plain_tuned"]["wall"], 1) for r in rounds],
            "seconds": split}


def print_table(result: dict) -> None:
    """The figure against its target, then where each process spent its seconds (medians)."""
    print(f"{'figure':<34}{'value':>10}{'target':>10}  result")
    print(f"{'convcli / plain wall time':<34}{result['ratio']:>9.3f}x{'<= ' + str(TARGET) + 'x':>10}  "
          f"{'PASS' if result['passed'] else 'MISS'}")
    print(f"{'convcli / plain CPU time':<34}{result['cpu_ratio']:>9.3f}x")
    tuned = result["against_plain_without_autotune"]
    print(f"{'against plain, autotune off (wall)':<34}{tuned['wall']:>9.3f}x   (CPU {tuned['cpu']:.3f}x)")
    print(f"\nper-round ratios: wall {result['ratios']}, CPU {result['cpu_ratios']}")
    rows = [("whole process (wall)", "wall"), ("whole process (CPU)", "cpu"), ("  outside fit", "not_fit"),
            ("    convcli: outside the run", "outside_run"), ("    convcli: run, not fit", "run_not_fit"),
            ("    plain: before fit", "before_fit"), ("    plain: after fit", "after_fit"),
            ("  fit, between epochs", "fit_between_epochs"), ("  epochs (train + validation)", "epochs"),
            ("    first epoch", "first_epoch"), ("    later epochs, mean", "later_epochs_mean")]
    seconds = result["seconds"]
    print(f"\n{'median seconds':<34}{'convcli':>10}{'plain':>10}{'extra':>10}")
    for label, key in rows:
        a, b = seconds["convcli"].get(key), seconds["plain"].get(key)
        extra = f"{a - b:>+10.2f}" if a is not None and b is not None else ""
        print(f"{label:<34}{_cell(a)}{_cell(b)}{extra}")


def _cell(value) -> str:
    return f"{value:>10.2f}" if value is not None else f"{'':>10}"


def same_model(convcli: dict, plain: dict) -> None:
    """Stop unless both processes trained a model with the same number of parameters."""
    print(f"parameters: convcli {convcli['params']:,}, plain Keras {plain['params']:,}")
    if convcli["params"] != plain["params"]:
        sys.exit(f"error: the two models differ ({convcli['params']:,} against {plain['params']:,} "
                 "parameters), so their times cannot be compared; make plain_model match "
                 "convcli.models.convnet.build_convnet")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=300,
                        help="images per class and split written by convcli data synth (default 300)")
    parser.add_argument("--size", type=int, default=150, help="image side in pixels (the book's 150)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run, at least 5")
    parser.add_argument("--batch-size", type=int, default=20, help="the book's 20")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of convcli then plain")
    parser.add_argument("--keep-boxes", action="store_true", help="keep data synth's boxes.csv, "
                        "so convcli also plays Grad-CAM's pointing game at the end")
    parser.add_argument("--data", type=Path, help="an existing folder with train/validation/test "
                        "(default: a new synthetic one in a temporary folder)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra convcli override, e.g. explain.gradcam_images=0")
    parser.add_argument("--json", type=Path, help="write the result here")
    parser.add_argument("--plain", help=argparse.SUPPRESS)  # the child process: a JSON spec
    args = parser.parse_args()
    if args.epochs < 5:
        parser.error(f"--epochs must be at least 5 (the issue's minimum). Received: {args.epochs}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1. Received: {args.repeats}")
    return args


def benchmark(args, work: Path) -> dict:
    """Make the folder and config, warm the scan cache, then alternate the two processes."""
    os.environ["CONVCLI_CACHE"] = str(work / "cache")  # inherited by every child process
    began = time.perf_counter()
    data = args.data or synthetic_folder(work / "data", args.per_class, args.size, args.keep_boxes)
    print(f"data: {data} ({time.perf_counter() - began:.0f} s)", flush=True)
    cfg = convcli_config(data.resolve(), args)
    config = work / "train-overhead.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cold_scan = cold_scan_seconds(config)
    rounds = []
    for repeat in range(args.repeats):
        rounds.append({"convcli": convcli_timing(config, work, args.sets), "plain": plain_timing(cfg, work),
                       "plain_tuned": plain_timing(cfg, work, autotune=False)})
        print(f"round {repeat + 1}: convcli {rounds[-1]['convcli']['wall']:.1f} s, "
              f"plain {rounds[-1]['plain']['wall']:.1f} s, "
              f"plain with autotune off {rounds[-1]['plain_tuned']['wall']:.1f} s", flush=True)
        if repeat == 0:  # before spending the other rounds on models that may differ
            same_model(rounds[0]["convcli"], rounds[0]["plain"])
    counts = {split: sum(1 for path in (data / split).rglob("*") if path.is_file())
              for split in ("train", "validation", "test")}
    return {"config": cfg, "sets": args.sets, "images": counts, "repeats": args.repeats,
            "cold_scan_seconds": round(cold_scan, 2), **rounds_result(rounds), "rounds": rounds}


def main() -> None:
    args = parse_args()
    if args.plain:
        plain_keras(json.loads(args.plain))
        return
    with tempfile.TemporaryDirectory(prefix="train-overhead-") as work:
        result = benchmark(args, Path(work))
    print()
    print_table(result)
    print(f"\ncold data scan, once per new folder (not in the times above): "
          f"{result['cold_scan_seconds']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
