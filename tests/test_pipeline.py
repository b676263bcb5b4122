"""data/pipeline.py: the book's augmentation arguments, converted to the layers' units."""


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


OFF = dict(rotation_range=0, width_shift_range=0, height_shift_range=0, shear_range=0,
           zoom_range=0, horizontal_flip=False)


def dot_image(size=33):
    """One bright pixel at the centre of a dark square, as a batch of 64."""
    image = np.zeros((size, size, 3), np.float32)
    image[size // 2, size // 2] = 255
    return np.repeat(image[None], 64, axis=0)


def bright_pixels(batch):
    return [tuple(np.argwhere(image[..., 0] == image[..., 0].max())[0]) for image in batch]


def test_nothing_to_augment_gives_no_augmenter(pipeline):
    assert pipeline.make_augmenter(Augment(**OFF), seed=1) is None


def test_flip_alone_mirrors_some_images_and_keeps_the_rest(pipeline):
    images = np.random.default_rng(0).uniform(0, 255, (64, 16, 16, 3)).astype(np.float32)
    out = np.asarray(pipeline.make_augmenter(Augment(**{**OFF, "horizontal_flip": True}), 1)(images))
    flipped = [np.allclose(o, i[:, ::-1], atol=1e-3) for o, i in zip(out, images)]
    kept = [np.allclose(o, i, atol=1e-3) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 54


def test_shifts_are_fractions_of_the_side_along_their_own_axis(pipeline):
    augment = Augment(**{**OFF, "width_shift_range": 0.25, "fill_mode": "constant"})
    moved = bright_pixels(np.asarray(pipeline.make_augmenter(augment, 1)(dot_image())))
    assert {row for row, _ in moved} == {16}  # a width shift never moves rows
    columns = [column - 16 for _, column in moved]
    assert max(map(abs, columns)) <= 0.25 * 33 and max(columns) > 4 and min(columns) < -4


def test_rotation_range_is_in_degrees(pipeline):
    image = np.zeros((1, 65, 65, 3), np.float32)
    image[0, 32, 32:] = 255  # a ray from the centre to the right edge
    augment = Augment(**{**OFF, "rotation_range": 30, "fill_mode": "constant"})
    out = np.asarray(pipeline.make_augmenter(augment, 1)(np.repeat(image, 64, axis=0)))
    angles = []
    for rotated in out:
        rows, columns = np.nonzero(rotated[..., 0] > 127)
        far = np.argmax(np.hypot(rows - 32, columns - 32))  # the ray's tip
        angles.append(np.degrees(np.arctan2(rows[far] - 32, columns[far] - 32)))
    assert max(map(abs, angles)) <= 31 and max(angles) > 15 and min(angles) < -15


def test_same_seed_same_augmentation_another_seed_another(pipeline):
    images = dot_image()
    augmenter = pipeline.make_augmenter(Augment(), seed=5)
    first = np.asarray(augmenter(images, np.array([5, 9])))
    np.testing.assert_array_equal(first, np.asarray(augmenter(images, np.array([5, 9]))))
    assert not np.array_equal(first, np.asarray(augmenter(images, np.array([5, 10]))))


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
    assert pipeline.choose_cache("auto", files, (65, 64)) == "disk"  # a row more: the disk cache
    assert pipeline.choose_cache("memory", files, (650, 640)) == "memory"  # as the config says
    monkeypatch.undo()
    assert 0 < pipeline.memory_cache_limit() <= pipeline.MEMORY_CACHE_LIMIT


def test_auto_disk_cache_lives_in_the_cache_folder_for_the_next_run(pipeline, tiny_data, tmp_path,
                                                                     monkeypatch):
    import gc

    monkeypatch.setenv("CONVCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "memory_cache_limit", lambda: 0)
    cfg = validate({"stage": "scratch", "data": {
        "train_dir": str(tiny_data / "train"), "validation_dir": str(tiny_data / "validation")}})
    files = resolve(cfg.data, cfg.seed)
    folder = tmp_path / "cache" / "images" / pipeline.image_cache_key(files, cfg.data.image_size, 3)
    folder.mkdir(parents=True)
    (folder / "train.cache.lockfile").write_text("")  # left by a killed run: tf.data refuses it
    first = pipeline.make_datasets(cfg, files, tmp_path / "scratch")
    first_epoch = [y.numpy() for _, y in first.train]
    assert (folder / "train.cache.index").exists() and not (tmp_path / "scratch").exists()
    # A second process (here: a second lock) while the first trains caches privately.
    second = pipeline.make_datasets(cfg, files, tmp_path / "scratch")
    assert len([y for _, y in second.train]) == len(first_epoch)
    assert (tmp_path / "scratch" / "train.cache.index").exists()
    del first, second
    gc.collect()
    again = pipeline.make_datasets(cfg, files, tmp_path / "scratch2")
    assert sum(len(y) for _, y in again.train) == len(files.train)
    assert not (tmp_path / "scratch2").exists()  # read from the shared cache


def test_available_memory_counts_what_linux_can_reclaim(pipeline, tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24684132 kB\nMemFree:          123456 kB\n"
                       "MemAvailable:   20000000 kB\nBuffers:            1000 kB\n")
    assert pipeline.available_memory(meminfo) == 20000000 * 1024  # not MemFree
    meminfo.write_text("MemTotal: 1 kB\n")  # no MemAvailable (an old kernel): free pages
    assert pipeline.available_memory(meminfo) == pipeline.available_memory(tmp_path / "missing")


def test_every_split_runs_without_the_autotune_thread(pipeline, tiny_data, tmp_path):
    """With tf.data autotuning on, deleting each epoch's spent iterator waited up to 5 s
    (docs/notes.md#tfdata-autotuning); the options must survive every stage added after them."""
    cfg = validate({"stage": "augment", "augment": {}, "data": {
        "train_dir": str(tiny_data / "train"), "validation_dir": str(tiny_data / "validation"),
        "test_dir": str(tiny_data / "test")}})
    files = resolve(cfg.data, cfg.seed)
    for cache in ("memory", "disk", "none"):
        datasets = pipeline.make_datasets(cfg.model_copy(update={"data": cfg.data.model_copy(
            update={"cache": cache})}), files, tmp_path, pipeline.make_augmenter(cfg.augment, 0))
        for dataset in (datasets.train, datasets.validation, datasets.test):
            assert dataset.options().autotune.enabled is False
            assert dataset.options().experimental_distribute.auto_shard_policy.name == "DATA"
