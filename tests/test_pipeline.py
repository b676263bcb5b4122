"""data/pipeline.py: the book's augmentation arguments, converted to the layers' units."""

import math

import numpy as np
import pytest

from convcli.config import Augment, validate
from convcli.data.folders import resolve


@pytest.fixture(scope="module")
def pipeline():
    from convcli.tfenv import import_tensorflow

    import_tensorflow()
    from convcli.data import pipeline

    return pipeline


def test_augmenter_converts_units_and_keeps_fill_mode(pipeline):
    layers = {l.__class__.__name__: l for l in pipeline.make_augmenter(Augment(), seed=1).layers}
    assert layers["RandomRotation"].factor == pytest.approx((-40 / 360, 40 / 360))  # degrees -> turns
    assert layers["RandomShear"].x_factor == pytest.approx((-math.tan(math.radians(0.2)),
                                                            math.tan(math.radians(0.2))))
    assert layers["RandomTranslation"].width_factor == 0.2
    assert layers["RandomZoom"].height_factor == layers["RandomZoom"].width_factor == (-0.2, 0.2)
    assert layers["RandomFlip"].mode == "horizontal"
    assert {l.fill_mode for l in layers.values() if hasattr(l, "fill_mode")} == {"nearest"}
    off = Augment(rotation_range=0, width_shift_range=0, height_shift_range=0, shear_range=0,
                  zoom_range=0, horizontal_flip=False)
    assert pipeline.make_augmenter(off, seed=1) is None


def test_only_training_batches_are_augmented(pipeline, tiny_data, tmp_path):
    cfg = validate({"stage": "augment", "augment": {}, "seed": 3, "data": {
        "train_dir": str(tiny_data / "train"), "validation_dir": str(tiny_data / "validation"),
        "image_size": [32, 32], "batch_size": 48}, "model": {"conv_filters": [8]}})
    files = resolve(cfg.data, cfg.seed)
    plain = pipeline.make_datasets(cfg, files, tmp_path)
    augmented = pipeline.make_datasets(cfg, files, tmp_path, pipeline.make_augmenter(cfg.augment, 3))
    first, again = [next(iter(d.validation))[0].numpy() for d in (plain, augmented)]
    np.testing.assert_array_equal(first, again)  # validation images are never augmented
    train_plain, train_aug = [next(iter(d.train))[0].numpy() for d in (plain, augmented)]
    assert train_plain.shape == train_aug.shape == (24, 32, 32, 3)  # the whole split
    assert 0 <= train_aug.min() and train_aug.max() <= 255
    assert np.abs(np.sort(train_plain.ravel()) - np.sort(train_aug.ravel())).mean() > 1


def test_binary_labels_are_float_columns_multiclass_are_ints(pipeline):
    assert pipeline.make_labels([0, 1], 2).shape == (2, 1)
    assert pipeline.make_labels([0, 2], 3).dtype.name == "int32"


def test_images_are_whole_pixels_in_every_cache_and_on_every_path(pipeline, tiny_data, tmp_path):
    cfg = validate({"stage": "scratch", "seed": 3, "data": {
        "train_dir": str(tiny_data / "train"), "validation_dir": str(tiny_data / "validation"),
        "image_size": [20, 20], "batch_size": 100}, "model": {"conv_filters": [8]}})
    files = resolve(cfg.data, cfg.seed)
    batches = {}
    for cache in ("memory", "disk", "none"):
        dataset = pipeline.make_dataset(files.validation, 2, (20, 20), 100, cache=cache,
                                        cache_file=tmp_path / cache / "validation.cache")
        batches[cache] = next(iter(dataset))[0].numpy()
    assert batches["memory"].dtype == np.float32
    np.testing.assert_array_equal(batches["memory"], np.round(batches["memory"]))  # rounded once
    np.testing.assert_array_equal(batches["memory"], batches["disk"])
    np.testing.assert_array_equal(batches["memory"], batches["none"])
    one = pipeline.load_image(files.validation.paths[0], (20, 20)).numpy()  # predict/Grad-CAM path
    np.testing.assert_array_equal(one, batches["memory"][0])


def test_auto_cache_keeps_images_in_memory_only_when_they_fit(pipeline, tiny_data, monkeypatch):
    files = resolve(validate({"stage": "scratch", "data": {
        "train_dir": str(tiny_data / "train"), "validation_dir": str(tiny_data / "validation"),
        "test_dir": str(tiny_data / "test")}}).data, 0)
    needed = sum(files.counts().values()) * 64 * 64 * 3
    assert pipeline.decoded_bytes(files, (64, 64)) == needed
    monkeypatch.setattr(pipeline, "memory_cache_limit", lambda: needed)
    assert pipeline.choose_cache("auto", files, (64, 64)) == "memory"
    assert pipeline.choose_cache("auto", files, (65, 64)) == "none"  # a row more: streamed
    assert pipeline.choose_cache("memory", files, (650, 640)) == "memory"  # as the config says
    monkeypatch.undo()
    assert 0 < pipeline.memory_cache_limit() <= pipeline.MEMORY_CACHE_LIMIT
