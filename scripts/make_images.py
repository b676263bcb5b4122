"""Make the README's two pictures from real runs: docs/images/curves.png and gradcam.png.

    python scripts/make_images.py                       # ~2 min on 2 CPU cores
    python scripts/make_images.py --runs-dir runs       # keep the two runs

It trains configs/scratch.yaml (its curves show overfitting) and configs/finetune.yaml
(its Grad-CAM points at the objects) with `convcli train`, each in a fresh process, into
a temporary runs folder unless --runs-dir is given. It copies the scratch run's
`curves.png` and the fine-tune run's `gradcam/contact_sheet.png` into docs/images/,
scaled down and reduced to a palette so the repository stays small, and prints each
picture's source run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"
# picture in docs/images/ -> (the config whose run makes it, the file in that run)
PICTURES = {"curves.png": ("scratch.yaml", "curves.png"),
            "gradcam.png": ("finetune.yaml", "gradcam/contact_sheet.png")}


def train(config: Path, runs_dir: Path) -> Path:
    """Train `config` into `runs_dir` in a fresh process; the new run's directory."""
    before = set(runs_dir.iterdir()) if runs_dir.is_dir() else set()
    subprocess.run([sys.executable, "-m", "convcli", "train", str(config), "--runs-dir", str(runs_dir)],
                   check=True, cwd=ROOT)
    new = sorted(set(runs_dir.iterdir()) - before)
    if len(new) != 1:
        sys.exit(f"error: convcli train {config.name} wrote {len(new)} runs into {runs_dir}, not one")
    return new[0]


def shrink(source: Path, target: Path, width: int) -> None:
    """`source` scaled to at most `width` pixels wide, as a palette PNG at `target`."""
    with Image.open(source) as image:
        image = image.convert("RGB")
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, help="default: a temporary folder")
    parser.add_argument("--width", type=int, default=720, help="largest width in pixels")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runs_dir = args.runs_dir or Path(scratch)
        runs = {config: train(ROOT / "configs" / config, runs_dir.resolve())
                for config in sorted({config for config, _ in PICTURES.values()})}
        OUT.mkdir(parents=True, exist_ok=True)
        for name, (config, source) in PICTURES.items():
            run = runs[config]
            shrink(run / source, OUT / name, args.width)
            print(f"docs/images/{name}: {(OUT / name).stat().st_size / 1024:.0f} KB from "
                  f"{run.name}/{source}")


if __name__ == "__main__":
    main()
