"""Export: size and batch-1 latency of every export format against best.keras, as ratios.

Two runs: the built-in fine-tune run (configs/finetune.yaml, the built-in base nested in
the model, 64x64) and the book convnet at 150x150 (configs/book/scratch.yaml: the book's
model, optimizer and batch, pointed at the built-in data), both trained here (--epochs
per fine-tune phase, --book-epochs) unless given with --finetune RUN / --book RUN. Each
run is exported to SavedModel, ONNX, LiteRT, LiteRT float16, dynamic-range int8 and
full-integer int8 by `convcli export`'s own code (with --force, so failed checks are
reported, not hidden), in one process. Every number is export.json's: the export against
best.keras on the test split (300 images), latency the median per image at batch 1 of 30
images, Keras timed in the same export as its model call compiled by tf.function.

Target for LiteRT int8: <= 0.33x latency, <= 0.3x size, top-1 agreement >= 99%.

    python benchmarks/export.py [--epochs 10] [--book-epochs 20] [--finetune RUN] [--book RUN]
                                [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

EXPORTS = [("saved_model", "none"), ("onnx", "none"), ("litert", "none"), ("litert", "float16"),
           ("litert", "dynamic-int8"), ("litert", "int8")]
# The book's setup (its 5.2 listing: 150x150, RMSprop 1e-4, batch 20) on the built-in
# data, whose three splits come with train_dir: builtin.
BOOK = ["--set", "data.train_dir=builtin", "--set", "data.validation_dir=null",
        "--set", "data.test_dir=null", "--set", "name=book-150"]


def train(config: str, runs: Path, epochs: int, *overrides: str) -> Path:
    """One `convcli train` process; the run directory it made."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "convcli", "train", config, "--runs-dir", str(runs),
                           "--set", f"train.epochs={epochs}", "--set", "explain.gradcam_images=0",
                           *overrides], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"convcli train {config} failed:\n{done.stderr[-3000:]}")
    return max(runs.iterdir(), key=lambda p: p.stat().st_mtime)


def measure(run: Path, out: Path) -> list[dict]:
    """Every export of one run: export.json's check, and the ratios to best.keras."""
    from convcli.exporting.exporter import export_run

    rows = []
    for format, quantize in EXPORTS:
        exported = export_run(str(run), run.parent, format, quantize,
                              out / f"{run.name}-{format}-{quantize}", force=True)
        check = exported.record.check
        rows.append({"format": format, "quantize": quantize, **check.model_dump(),
                     "size_ratio": check.size_bytes / check.size_bytes_keras,
                     "latency_ratio": check.latency_ms / check.latency_ms_keras})
    return rows


def show(name: str, rows: list[dict]) -> None:
    first = rows[0]
    print(f"\n{name}: best.keras {first['size_bytes_keras'] / 1e6:.2f} MB, test accuracy "
          f"{100 * first['accuracy_keras']:.2f}% ({first['images']} images)")
    print(f"{'export':<20} {'size':>9} {'x':>6} {'ms':>7} {'keras ms':>8} {'x':>6} {'agree':>7} "
          f"{'accuracy':>8} {'max |dp|':>8}  check")
    for row in rows:
        label = row["format"] + ("" if row["quantize"] == "none" else f" {row['quantize']}")
        print(f"{label:<20} {row['size_bytes'] / 1e6:>6.2f} MB {row['size_ratio']:>5.2f}x "
              f"{row['latency_ms']:>7.2f} {row['latency_ms_keras']:>8.2f} {row['latency_ratio']:>5.2f}x "
              f"{100 * row['top1_agreement']:>6.2f}% {100 * row['accuracy_export']:>7.2f}% "
              f"{row['max_abs_difference']:>8.2g}  {'passed' if row['passed'] else 'FAILED'}")
    int8 = next(row for row in rows if row["quantize"] == "int8")
    met = int8["latency_ratio"] <= 0.33 and int8["size_ratio"] <= 0.3 and int8["top1_agreement"] >= 0.99
    print(f"LiteRT int8 target (<= 0.33x latency, <= 0.3x size, >= 99% agreement): "
          f"{'met' if met else 'not met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="fine-tune epochs per phase, if trained here")
    parser.add_argument("--book-epochs", type=int, default=20, help="book convnet epochs, if trained here")
    parser.add_argument("--finetune", type=Path, help="an existing fine-tune run instead of training one")
    parser.add_argument("--book", type=Path, help="an existing book-convnet run instead of training one")
    parser.add_argument("--json", type=Path, help="write every number here too")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        runs = {"built-in fine-tune (64x64)": args.finetune or train(
                    "configs/finetune.yaml", folder / "runs", args.epochs,
                    "--set", f"fine_tune.head_epochs={args.epochs}"),
                "book convnet (150x150)": args.book or train(
                    "configs/book/scratch.yaml", folder / "runs", args.book_epochs, *BOOK)}
        from convcli.tfenv import import_tensorflow

        import_tensorflow()
        results = {name: measure(run, folder / "exports") for name, run in runs.items()}
    for name, rows in results.items():
        show(name, rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
