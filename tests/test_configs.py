"""Every shipped config is valid, and the book's configs are the book's setups."""

from pathlib import Path

import pytest

from convcli.config import load_config

SHIPPED = Path(__file__).parent.parent / "configs"
CONFIGS = sorted(p for p in SHIPPED.rglob("*.yaml") if p.parent.name != "sweeps")
SWEEPS = sorted((SHIPPED / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_shipped_configs_validate(path):
    load_config(path)


def test_book_setups():
    root = Path(__file__).parent.parent / "configs" / "book"
    scratch, augment = load_config(root / "scratch.yaml"), load_config(root / "augment.yaml")
    for cfg in (scratch, augment):
        assert cfg.data.image_size == (150, 150) and cfg.model.conv_filters == [32, 64, 128, 128]
        assert (cfg.train.optimizer, cfg.train.learning_rate) == ("rmsprop", 1e-4)
    assert (scratch.train.epochs, augment.train.epochs) == (30, 100)
    assert scratch.model.dropout == 0 and augment.model.dropout == 0.5
    a = augment.augment
    assert (a.rotation_range, a.width_shift_range, a.height_shift_range, a.shear_range, a.zoom_range,
            a.horizontal_flip, a.fill_mode) == (40, 0.2, 0.2, 0.2, 0.2, True, "nearest")


def test_book_transfer_setups():
    root = Path(__file__).parent.parent / "configs" / "book"
    extract, frozen, finetune = (load_config(root / f"{name}.yaml")
                                 for name in ("extract", "extract-frozen", "finetune"))
    for cfg in (extract, frozen, finetune):
        assert (cfg.model.base, cfg.model.weights, cfg.data.image_size) == ("vgg16", "imagenet", (150, 150))
        assert (cfg.model.dense_units, cfg.model.dropout) == (256, 0.5)
        assert (cfg.train.optimizer, cfg.train.learning_rate) == ("rmsprop", 2e-5)
    assert (extract.extract.method, frozen.extract.method) == ("features", "frozen")
    assert extract.augment is None and frozen.augment is not None and finetune.augment is not None
    tune = finetune.fine_tune
    assert (tune.unfreeze_from, tune.learning_rate, tune.head_epochs, finetune.train.epochs) == (
        "block5_conv1", 1e-5, 30, 100)


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_shipped_sweeps_load_with_every_point_valid(path):
    from convcli.sweeps.spec import load_sweep

    sweep = load_sweep(path)  # every point's config is validated here
    assert sweep.trial_count >= 5

