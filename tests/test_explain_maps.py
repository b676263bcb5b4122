"""Activation maps and filter patterns match what Keras computes directly, on tiny models."""

from __future__ import annotations

import numpy as np
import pytest

SIZE = (32, 32)
VGG16_FEATURES = [f"block{block}_{kind}" for block, convs in enumerate((2, 2, 3, 3, 3), start=1)
                  for kind in [f"conv{i}" for i in range(1, convs + 1)] + ["pool"]]


@pytest.fixture(scope="module")
def keras():
    import keras

    keras.utils.set_random_seed(3)
    return keras


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(1).uniform(0, 255, (*SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def convnet(keras):
    from convcli.config import Model
    from convcli.models.convnet import build_convnet

    return build_convnet(Model(conv_filters=[8, 16], dense_units=16), SIZE, num_classes=2)


def transfer(name):
    """(base, the transfer model holding it as one layer), random weights."""
    from convcli.models.pretrained import build_base, transfer_model

    base = build_base(name, "none", SIZE)
    return base, transfer_model(base, name, SIZE, dense_units=16, dropout=0.0, num_classes=2)


@pytest.fixture(scope="module")
def vgg16(keras):
    return transfer("vgg16")


@pytest.fixture(scope="module")
def builtin(keras):
    return transfer("builtin")


# --- activations ----------------------------------------------------------------------


def test_feature_layers_list_a_nested_bases_convs_and_pools_in_order(vgg16, builtin, convnet):
    from convcli.explain.activations import feature_layers

    assert feature_layers(vgg16[1]) == VGG16_FEATURES
    assert feature_layers(builtin[1]) == [f"block{b}_{kind}" for b in range(1, 5)
                                          for kind in ("conv1", "conv2", "pool")]
    assert feature_layers(convnet) == ["conv1", "pool1", "conv2", "pool2"]


def test_top_level_activations_equal_a_keras_sub_model(keras, convnet, image):
    from convcli.explain.activations import layer_activations

    found = layer_activations(convnet, image)
    assert list(found) == ["conv1", "pool1", "conv2", "pool2"]
    for name in found:
        expected = keras.Model(convnet.input, convnet.get_layer(name).output)(image[None])[0]
        np.testing.assert_allclose(found[name], expected, rtol=1e-5, atol=1e-6)
    assert found["conv2"].shape == (13, 13, 16)


@pytest.mark.parametrize("name, preprocess", [
    ("vgg16", lambda x: __import__("keras").applications.vgg16.preprocess_input(x.copy())),
    ("builtin", lambda x: x / 255),
])
def test_activations_inside_a_nested_base_equal_the_base_on_preprocessed_input(
        name, preprocess, vgg16, builtin, keras, image):
    from convcli.explain.activations import layer_activations

    base, model = {"vgg16": vgg16, "builtin": builtin}[name]
    names = ["block1_conv2", "block2_pool"]
    found = layer_activations(model, image, names)
    direct = keras.Model(base.input, [base.get_layer(n).output for n in names])(preprocess(image[None]))
    assert list(found) == names
    for layer, expected in zip(names, direct):
        assert found[layer].shape == tuple(expected.shape[1:])
        np.testing.assert_allclose(found[layer], expected[0], rtol=1e-4, atol=1e-4)


def test_sequential_model(keras, image):
    from convcli.explain.activations import feature_layers, layer_activations

    layers = keras.layers
    model = keras.Sequential([keras.Input((*SIZE, 3)), layers.Rescaling(1 / 255),
                              layers.Conv2D(4, 3, activation="relu", name="c1"),
                              layers.AveragePooling2D(2, name="p1"), layers.Flatten(), layers.Dense(2)])
    found = layer_activations(model, image)
    c1 = model.get_layer("c1")(image[None] / 255)
    assert feature_layers(model) == ["c1", "p1"]
    np.testing.assert_allclose(found["c1"], c1[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(found["p1"], model.get_layer("p1")(c1)[0], rtol=1e-5, atol=1e-6)


def test_taps_at_the_top_and_inside_a_base_in_one_call(keras, image):
    from convcli.explain.activations import layer_activations

    layers = keras.layers
    inner = keras.Input((15, 15, 4))
    base = keras.Model(inner, layers.Conv2D(3, 3, name="inner_conv")(inner), name="base")
    outer = keras.Input((*SIZE, 3))
    stem = layers.MaxPooling2D(name="stem_pool")(layers.Conv2D(4, 3, name="stem")(outer))
    model = keras.Model(outer, layers.Dense(2)(layers.Flatten()(base(stem))))
    found = layer_activations(model, image)
    stem_out = keras.Model(outer, stem)(image[None])
    assert list(found) == ["stem", "stem_pool", "inner_conv"]
    np.testing.assert_allclose(found["stem_pool"], stem_out[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(found["inner_conv"], base(stem_out)[0], rtol=1e-5, atol=1e-5)
    names = ["stem", "inner_conv", "stem_pool"]  # interleaved: run per place, returned in order
    assert list(layer_activations(model, image, names)) == names


def test_an_unknown_layer_is_a_key_error(convnet, image):
    from convcli.explain.activations import layer_activations

    with pytest.raises(KeyError, match="block9_conv9"):
        layer_activations(convnet, image, ["conv1", "block9_conv9"])


def test_channel_grid_tiles_every_channel_coloured_and_blown_up():
    from convcli.explain.activations import channel_grid
    from convcli.explain.overlay import colorize

    activation = np.random.default_rng(2).normal(size=(5, 7, 20)).astype(np.float32)
    activation[..., 1] = 3.0  # a constant channel
    grid = channel_grid(activation, columns=8, min_cell=32)
    # Whole factor 7 (5 * 7 >= 32); 8 columns x 3 rows of 35 x 49 tiles, 2 pixels apart.
    assert grid.dtype == np.uint8 and grid.shape == (3 * 35 + 2 * 2, 8 * 49 + 7 * 2, 3)
    first = activation[..., 0]
    values = np.clip((first - first.mean()) / (first.std() + 1e-5) * 64 + 128, 0, 255) / 255
    expected = np.repeat(np.repeat(colorize(values, "viridis"), 7, axis=0), 7, axis=1)
    np.testing.assert_array_equal(grid[:35, :49], expected)
    assert (grid[:35, 51:100] == 128).all()  # the constant channel: flat mid-grey
    assert (grid[2 * 37:, 4 * 51:] == 255).all()  # 20 tiles: the last row's right half is empty


# --- filter patterns ------------------------------------------------------------------


def test_filter_patterns_shape_and_count_capped_at_the_channels(convnet, builtin):
    from convcli.explain.filters import filter_patterns, pattern_grid

    patterns = filter_patterns(convnet, "conv1", count=50, steps=2)
    assert patterns.shape == (8, *SIZE, 3) and patterns.dtype == np.uint8
    assert patterns.std() > 10  # deprocessed to a visible spread, not flat grey
    nested = filter_patterns(builtin[1], "block1_conv2", count=3, steps=2)
    assert nested.shape == (3, *SIZE, 3) and nested.dtype == np.uint8
    assert pattern_grid(patterns, columns=4).shape == (2 * 32 + 2, 4 * 32 + 3 * 2, 3)


def test_a_model_taking_any_size_needs_image_size():
    from convcli.explain.filters import filter_patterns
    from convcli.models.pretrained import build_builtin_base

    base = build_builtin_base()  # input (None, None, 3)
    with pytest.raises(ValueError, match="image_size"):
        filter_patterns(base, "block1_conv1", count=2, steps=1)
    assert filter_patterns(base, "block1_conv1", count=2, steps=1, image_size=(16, 24)).shape == (2, 16, 24, 3)


def filter_means_before_and_after(model, layer, count):
    """(n,) mean activation of filter i on its starting noise, (n,) on its ascended image."""
    from convcli.explain.filters import ascended_images, layer_model, starting_noise

    final = ascended_images(model, layer, count=count, steps=10, seed=4)
    extractor = layer_model(model, layer)
    before = np.asarray(extractor(starting_noise(len(final), SIZE, seed=4))).mean(axis=(1, 2))
    after = np.asarray(extractor(final)).mean(axis=(1, 2))  # (n, channels)
    return np.diag(before), np.diag(after)


@pytest.fixture(scope="module")
def linear_conv(keras):
    """A top-level convolution without ReLU: no filter can be dead on the noise."""
    inputs = keras.Input((*SIZE, 3))
    x = keras.layers.Conv2D(12, 3, name="linear_conv")(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))


@pytest.mark.parametrize("which, layer", [("linear_conv", "linear_conv"), ("builtin", "block1_conv2")])
def test_ascent_raises_every_filters_mean_activation(which, layer, linear_conv, builtin):
    model = {"linear_conv": linear_conv, "builtin": builtin[1]}[which]
    before, after = filter_means_before_and_after(model, layer, count=16)
    assert len(before) == {"linear_conv": 12, "builtin": 16}[which]
    assert (after > before + 1e-3).all(), (before, after)


def test_ascent_raises_every_relu_filter_alive_on_the_noise(convnet):
    # A ReLU filter that is 0 everywhere on the grey noise has no gradient to climb;
    # with random weights about half are, so only the live ones can rise.
    before, after = filter_means_before_and_after(convnet, "conv2", count=16)
    alive = before > 0
    assert alive.sum() >= 4
    assert (after[alive] > before[alive] + 1e-3).all(), (before, after)


def test_a_batch_of_filters_equals_one_filter_at_a_time(vgg16):
    from convcli.explain.filters import gradient_ascent, layer_model, starting_noise

    extractor = layer_model(vgg16[1], "block2_conv1")
    start = starting_noise(4, SIZE, seed=5)
    filters = [0, 3, 7, 9]
    batched = gradient_ascent(extractor, start, filters, steps=5, step_size=10.0)
    for i, index in enumerate(filters):
        alone = gradient_ascent(extractor, start[i:i + 1], [index], steps=5, step_size=10.0)
        np.testing.assert_allclose(batched[i], alone[0], rtol=1e-4, atol=1e-2)
    assert np.abs(batched - start).max() > 1  # the images did move
