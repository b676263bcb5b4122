"""A draft config: the commented config `convcli init` writes for a dataset folder.

The folder is scanned as `data check` scans it. The draft takes its splits (a
validation_split when there is no validation folder), names the classes it found, picks
an image_size from the images' median size and the stage's model, takes what the scan
found about colour (all gray: color_mode grayscale) and balance (imbalanced training
classes: class_weight balanced), and fills the stage's sections with the book's values
(Chollet, Deep Learning with Python, 5.2-5.3).
It is validated as written before it is written, so it is a config `convcli train` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from convcli.bases import BASES, BUILTIN
from convcli.config import STAGE_SECTIONS, default_unfreeze_from, validate
from convcli.data.check import Report, check_dataset, find_splits
from convcli.data.folders import class_folders, list_images
from convcli.errors import ConfigError, DataError
from convcli.files import atomic_write_text

BOOK_SIDE = 150  # the book's image side for cats vs dogs, with every model
BUILTIN_SIDE = 64  # the built-in base is pretrained on 64x64 images
VALIDATION_SPLIT = 0.2
BOOK_FILTERS = [32, 64, 128, 128]
BOOK_AUGMENT = {"rotation_range": 40, "width_shift_range": 0.2, "height_shift_range": 0.2,
                "shear_range": 0.2, "zoom_range": 0.2, "horizontal_flip": True, "fill_mode": "nearest"}


@dataclass
class Draft:
    """What `write_draft` wrote, and the scan it was based on."""

    path: Path
    stage: str
    class_names: list[str]
    image_size: tuple[int, int]
    batch_size: int
    report: Report


def write_draft(data_dir: Path, stage: str = "fine-tune", out: Path = Path("config.yaml"),
                base: str | None = None) -> Draft:
    """Scan `data_dir`, write a commented config for `stage` to `out` (never over a file)."""
    if stage not in STAGE_SECTIONS:
        raise ConfigError(f"--stage {stage!r} is not a stage; stages: {', '.join(STAGE_SECTIONS)}")
    base = base or ("vgg16" if stage in ("extract", "fine-tune") else None)
    if base is not None and base != BUILTIN and base not in BASES:
        raise ConfigError(f"--base {base!r} is not a known base; known bases: {BUILTIN}, {', '.join(BASES)}")
    if out.exists():
        raise ConfigError(f"{out} already exists; init never overwrites a file: choose another --out")
    if data_dir.is_dir() and not class_folders(data_dir) and list_images(data_dir):
        raise DataError(f"{data_dir} holds images but no class folders; make train/, validation/ "
                        f"and test/ class folders of them with `convcli data split {data_dir} NEW_DIR`")
    report = check_dataset(data_dir)
    folders = data_folders(data_dir)
    class_names = sorted(next(iter(report.splits.values())))
    train_images = sum(report.splits[folders["split"]].values())
    size = image_side(report, stage, base)
    sections = stage_sections(stage, base, size)
    if imbalanced(report, folders["split"]):
        sections["train"]["class_weight"] = "balanced"
    batch_size = max(1, min(32 if stage in ("scratch", "augment") else 20, train_images))
    text = render(data_dir, folders, class_names, (size, size), batch_size, stage, sections, report)
    try:
        validate(yaml.safe_load(text), source=str(out))
    except ConfigError as error:  # the draft itself is wrong: say so rather than write it
        raise ConfigError(f"the config drafted for {data_dir} does not validate ({error}); "
                          "please report this") from None
    atomic_write_text(out, text)
    return Draft(out, stage, class_names, (size, size), batch_size, report)


def data_folders(data_dir: Path) -> dict:
    """{train_dir, validation_dir or None, test_dir or None, split: the train split's name}."""
    splits = find_splits(data_dir)
    if list(splits.values()) == [data_dir]:  # class folders right in DATA_DIR: one split
        return {"train_dir": data_dir, "validation_dir": None, "test_dir": None, "split": next(iter(splits))}
    if "train" not in splits:
        raise DataError(f"{data_dir} has {', '.join(splits)} folders but no train/ folder; "
                        "put the training images in train/<class>/")
    validation = next((name for name in ("validation", "val") if name in splits), None)
    return {"train_dir": splits["train"], "split": "train",
            "validation_dir": splits[validation] if validation else None,
            "test_dir": splits.get("test")}


def image_side(report: Report, stage: str, base: str | None) -> int:
    """The book's 150 (the built-in base's 64), but not above the images' median shorter
    side, and not below what the stage's model needs."""
    sizes = report.sizes
    median = min(sizes["width"]["median"], sizes["height"]["median"]) if sizes["images"] else BOOK_SIDE
    side = min(BUILTIN_SIDE if base == BUILTIN else BOOK_SIDE, median)
    smallest = {None: 16, BUILTIN: 16}.get(base) or BASES[base].min_size
    return max(side, smallest)


def stage_sections(stage: str, base: str | None, side: int) -> dict:
    """The model, augment, extract, fine_tune and train sections, with the book's values."""
    if stage in ("scratch", "augment"):
        model = {"conv_filters": conv_filters(side), "dense_units": 512,
                 "dropout": 0.5 if stage == "augment" else 0.0}
        train = {"epochs": 100 if stage == "augment" else 30, "optimizer": "rmsprop", "learning_rate": 1e-4}
        return {"model": model, "augment": dict(BOOK_AUGMENT) if stage == "augment" else None,
                "train": train}
    model = {"base": base, "weights": BUILTIN if base == BUILTIN else "imagenet", "dense_units": 256,
             "dropout": 0.5}
    if stage == "extract":
        return {"model": model, "extract": {"method": "features"},
                "train": {"epochs": 30, "optimizer": "rmsprop", "learning_rate": 2e-5}}
    unfreeze = default_unfreeze_from(base)
    fine_tune = {"head_epochs": 30, **({"unfreeze_from": unfreeze} if unfreeze else {"unfreeze_last": 10}),
                 "learning_rate": 1e-5}
    return {"model": model, "augment": dict(BOOK_AUGMENT), "fine_tune": fine_tune,
            "train": {"epochs": 100, "optimizer": "rmsprop", "learning_rate": 2e-5}}


def all_gray(report: Report) -> bool:
    """Every image the scan read is grayscale (none in colour)."""
    modes = report.modes.values()
    return sum(m["grayscale"] for m in modes) > 0 and sum(m["rgb"] for m in modes) == 0


def imbalanced(report: Report, train_split: str) -> bool:
    """data check found the training split's classes imbalanced (2:1 or more)."""
    return any(problem.kind == "imbalance" and problem.split == train_split for problem in report.problems)


def conv_filters(side: int) -> list[int]:
    """The book's four blocks, fewer when small images would shrink to nothing in them
    (each block: a 3x3 convolution without padding, then 2x2 pooling)."""
    filters = []
    for count in BOOK_FILTERS:
        side = (side - 2) // 2
        if side < 1:
            break
        filters.append(count)
    return filters or BOOK_FILTERS[:1]


COMMENTS = {
    "seed": "same seed, same split, shuffles and augmentations (add deterministic: true for "
            "bit-identical reruns)",
    "data.validation_split": "no validation folder: this share of each class, chosen by seed",
    "data.batch_size": "the book's",
    "data.color_mode": "every image is grayscale: one input channel (a pretrained base gets it "
                       "repeated to its 3 inside the model)",
    "model.conv_filters": "one 3x3 convolution + 2x2 max pooling block per entry (the book's "
                          "four, fewer for small images)",
    "model.dropout": "before the last layer",
    "model.weights": "Keras downloads them once, into ~/.keras/models/; base: builtin runs offline",
    "extract.method": "features: the base runs once over the images | frozen: inside the model, "
                      "with augmentation",
    "fine_tune.head_epochs": "phase 1: the frozen base, the head trained at train.learning_rate",
    "fine_tune.unfreeze_from": "phase 2: the base's last block trains too (BatchNorm stays frozen)",
    "fine_tune.unfreeze_last": "phase 2: the base's last layers train too",
    "fine_tune.learning_rate": "phase 2",
    "train.epochs": "the book's (phase 2 for fine-tune); add early_stopping: {patience: 10} to stop sooner",
    "train.class_weight": "data check finds the training classes imbalanced: weigh them evenly "
                          "(none: every image alike)",
}
SECTION_COMMENTS = {
    "augment": "the book's ImageDataGenerator values, in its units (degrees, fractions)",
}


def render(data_dir: Path, folders: dict, class_names: list[str], image_size: tuple[int, int],
           batch_size: int, stage: str, sections: dict, report: Report) -> str:
    """The config as YAML text, with a header saying what the scan found and why."""
    counts = ", ".join(f"{name} {sum(classes.values()):,}" for name, classes in report.splits.items())
    sizes = report.sizes
    lines = [f"# Drafted by `convcli init {data_dir} --stage {stage}` from a scan of "
             f"{report.files_checked:,} images ({counts}).",
             f"# Classes ({len(class_names)}), one per folder: {', '.join(class_names)}.",
             *([f"# Median image: {sizes['width']['median']}x{sizes['height']['median']} pixels; "
                f"image_size: the book's {BOOK_SIDE} (the built-in base's {BUILTIN_SIDE}), lowered to "
                "that median, raised to what the model needs."] if sizes["images"] else []),
             f"# {_verdict(report, data_dir)}",
             "# Relative paths are relative to the folder you run convcli from.",
             f"stage: {stage}", f"seed: 1337  # {COMMENTS['seed']}", "data:"]
    data = {"train_dir": str(folders["train_dir"])}
    if folders["validation_dir"] is not None:
        data["validation_dir"] = str(folders["validation_dir"])
    else:
        data["validation_split"] = VALIDATION_SPLIT
    if folders["test_dir"] is not None:
        data["test_dir"] = str(folders["test_dir"])
    data.update(image_size=list(image_size), batch_size=batch_size)
    if all_gray(report):
        data["color_mode"] = "grayscale"
    lines += _section("data", data)
    for name, values in sections.items():
        if values is not None:
            comment = f"  # {SECTION_COMMENTS[name]}" if name in SECTION_COMMENTS else ""
            lines += [f"{name}:{comment}", *_section(name, values)]
    return "\n".join(lines) + "\n"


def _section(name: str, values: dict) -> list[str]:
    lines = []
    for key, value in values.items():
        comment = COMMENTS.get(f"{name}.{key}")
        unusual = {"model.weights": value != "imagenet", "data.batch_size": value not in (20, 32)}
        if unusual.get(f"{name}.{key}"):
            comment = None  # the comment is true of the usual value only
        lines.append(f"  {key}: {_scalar(value)}" + (f"  # {comment}" if comment else ""))
    return lines


def _scalar(value) -> str:
    """One value as YAML, on one line (lists in flow style, strings quoted when needed)."""
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 16).strip().removesuffix("...").strip()


def _verdict(report: Report, data_dir: Path) -> str:
    errors = sum(problem.severity == "error" for problem in report.problems)
    if errors:
        return (f"data check finds {errors} error(s) that would break or mislead training: "
                f"`convcli data check {data_dir}` lists them.")
    warnings = len(report.problems)
    return "data check: ready to train" + (f", with {warnings} warning(s)." if warnings else ".")
