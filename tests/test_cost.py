"""Multiply-adds and receptive fields (models/cost.py): by hand, and against published figures."""

import keras
import pytest
from keras import layers

from convcli.config import validate
from convcli.models.convnet import build_convnet
from convcli.models.cost import layer_macs, model_macs, receptive_fields
from convcli.models.pretrained import build_builtin_base, transfer_model
from convcli.models.table import format_count, layer_rows, totals


def functional(input_shape, *stack):
    """A Functional model applying `stack`'s layers in a chain."""
    x = inputs = keras.Input(input_shape)
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("pixel_range", [(0, 1), (-1, 1)])
def test_the_convnets_rescaling_maps_raw_pixels_to_its_pixel_range(pixel_range):
    cfg = validate({"stage": "scratch", "model": {"pixel_range": list(pixel_range)}})
    model = build_convnet(cfg.model, (64, 64), num_classes=2)
    raw = keras.ops.convert_to_tensor([[[[0.0, 127.5, 255.0]]]])
    assert keras.ops.convert_to_numpy(model.get_layer("rescaling")(raw)).ravel().tolist() == \
        pytest.approx([pixel_range[0], sum(pixel_range) / 2, pixel_range[1]])


def test_book_convnet_at_150_by_hand():
    # The book's convnet: 3x3 Conv2D (valid) + 2x2 max pooling, 32-64-128-128, Dense 512.
    cfg = validate({"stage": "scratch", "data": {"image_size": 150}})
    model = build_convnet(cfg.model, (150, 150), num_classes=2)
    macs = {layer.name: layer_macs(layer) for layer in model.layers}
    # out_h * out_w * out_c * (k_h * k_w * in_c)
    assert macs["conv1"] == 148 * 148 * 32 * (3 * 3 * 3)
    assert macs["conv2"] == 72 * 72 * 64 * (3 * 3 * 32)
    assert macs["conv3"] == 34 * 34 * 128 * (3 * 3 * 64)
    assert macs["conv4"] == 15 * 15 * 128 * (3 * 3 * 128)
    assert macs["dense"] == 7 * 7 * 128 * 512                 # in * out
    assert macs["predictions"] == 512
    assert {macs[name] for name in ("rescaling", "pool1", "pool4", "flatten")} == {0}
    assert model_macs(model) == 236_095_488

    # r_out = r_in + (k - 1) * j_in, j_out = j_in * s:
    # 3, 4 (j 2), 8, 10 (j 4), 18, 22 (j 8), 38, 46.
    fields = receptive_fields(model)
    expected = {"image": 1, "rescaling": 1, "conv1": 3, "pool1": 4, "conv2": 8, "pool2": 10,
                "conv3": 18, "pool3": 22, "conv4": 38, "pool4": 46}
    assert {name: fields[name] for name in expected} == {n: (r, r) for n, r in expected.items()}
    assert fields["flatten"] is None and fields["dense"] is None and fields["predictions"] is None


def test_vgg16_conv_base_at_224():
    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=(224, 224, 3))
    # By hand: five blocks of 3x3 same convolutions at 224, 112, 56, 28, 14 pixels.
    expected, in_c = 0, 3
    blocks = ((224, 64, 2), (112, 128, 2), (56, 256, 3), (28, 512, 3), (14, 512, 3))
    for size, out_c, convs in blocks:
        for _ in range(convs):
            expected += size * size * out_c * 3 * 3 * in_c
            in_c = out_c
    assert model_macs(model) == expected == 15_346_630_656  # 15.35 GMACs
    fields = receptive_fields(model)
    # Published (Araujo et al., "Computing receptive fields of convolutional neural networks",
    # Distill 2019): VGG16's pool5 sees 212 pixels; conv5_3 (before that pooling) 196.
    assert fields["block5_conv3"] == (196, 196) and fields["block5_pool"] == (212, 212)
    assert fields["block1_conv1"] == (3, 3) and fields["block1_pool"] == (6, 6)


@pytest.mark.parametrize("application, published", [
    ("VGG16", 15.5e9),       # "15.5 GFLOPs", counted as multiply-adds, with its dense top
    ("ResNet50", 3.8e9),     # He et al. 2015, Table 1: 3.8e9 "FLOPs" (multiply-adds)
    ("MobileNetV2", 300e6),  # Sandler et al. 2018, Table 4: 300M multiply-adds
])
def test_published_multiply_adds_at_224(application, published):
    model = getattr(keras.applications, application)(weights=None, input_shape=(224, 224, 3))
    assert model_macs(model) == pytest.approx(published, rel=0.02)


@pytest.mark.parametrize("application, size, last_map, published", [
    # Araujo et al., "Computing receptive fields of convolutional neural networks", Distill 2019
    ("VGG16", 224, "block5_pool", 212),
    ("ResNet50", 224, "conv5_block3_out", 483),
    ("InceptionV3", 299, "mixed10", 1311),
    ("MobileNet", 224, "conv_pw_13_relu", 315),
])
def test_published_receptive_fields(application, size, last_map, published):
    model = getattr(keras.applications, application)(include_top=False, weights=None,
                                                     input_shape=(size, size, 3))
    assert receptive_fields(model)[last_map] == (published, published)


def test_resnet_branches_take_the_widest_path():
    model = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(224, 224, 3))
    fields = receptive_fields(model)
    # After pool1 (11 pixels), the shortcut is one 1x1 convolution, the main path has a 3x3.
    assert fields["conv2_block1_0_conv"] == (11, 11)
    assert fields["conv2_block1_3_conv"] == (19, 19)
    assert fields["conv2_block1_add"] == (19, 19)


def test_concatenated_branches_take_the_widest():
    inputs = keras.Input((16, 16, 3))
    narrow = layers.Conv2D(4, 1)(inputs)
    wide = layers.Conv2D(4, 5, padding="same")(layers.Conv2D(4, 3, padding="same")(inputs))
    merged = layers.Concatenate(name="merged")([narrow, wide])
    model = keras.Model(inputs, layers.Conv2D(2, 3, name="after")(merged))
    fields = receptive_fields(model)
    assert fields["merged"] == (7, 7) and fields["after"] == (9, 9)


def test_squeeze_and_excitation_sees_the_whole_image():
    inputs = keras.Input((16, 16, 8))
    x = layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    scale = layers.Reshape((1, 1, 8))(layers.GlobalAveragePooling2D(name="squeeze")(x))
    scale = layers.Conv2D(8, 1, activation="sigmoid", name="excite")(scale)
    model = keras.Model(inputs, layers.Multiply(name="scaled")([x, scale]))
    fields = receptive_fields(model)
    assert fields["conv"] == (3, 3)
    assert fields["squeeze"] is None and fields["excite"] is None and fields["scaled"] is None
    assert layer_macs(model.get_layer("excite")) == 8 * 8  # on a 1x1 map: one position


@pytest.mark.parametrize("layer, input_shape, macs, field", [
    # grouped: each output channel sees in_c / groups = 2 input channels
    (layers.Conv2D(6, 3, groups=2, padding="same"), (8, 8, 4), 8 * 8 * 6 * 3 * 3 * 2, (3, 3)),
    # depthwise: k_h * k_w * in_c * depth_multiplier per output position, strided to 4x4
    (layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same"), (8, 8, 4),
     4 * 4 * 3 * 3 * 4 * 2, (3, 3)),
    # separable: the depthwise 3x3 plus the 1x1 pointwise 4 -> 5, both at the 4x4 outputs
    (layers.SeparableConv2D(5, 3, strides=2, padding="same"), (8, 8, 4),
     4 * 4 * (3 * 3 * 4 + 4 * 5), (3, 3)),
    # dilation 2: a 3x3 kernel spans 5 pixels
    (layers.Conv2D(2, 3, dilation_rate=2), (12, 12, 3), 8 * 8 * 2 * 3 * 3 * 3, (5, 5)),
    # non-square kernel
    (layers.Conv2D(2, (3, 5)), (12, 12, 3), 10 * 8 * 2 * 3 * 5 * 3, (3, 5)),
    # Dense on a map works per pixel
    (layers.Dense(3), (8, 8, 4), 8 * 8 * 4 * 3, (1, 1)),
    # transposed: every input position spreads the kernel; its field is not traced
    (layers.Conv2DTranspose(2, 3, strides=2), (4, 4, 3), 4 * 4 * 3 * 3 * 3 * 2, None),
    (layers.BatchNormalization(), (8, 8, 4), 0, (1, 1)),
    (layers.AveragePooling2D(3, strides=2), (9, 9, 4), 0, (3, 3)),
    (layers.GlobalMaxPooling2D(), (8, 8, 4), 0, None),
])
def test_one_layer(layer, input_shape, macs, field):
    model = functional(input_shape, layer)
    assert layer_macs(layer) == macs
    assert receptive_fields(model)[layer.name] == field


def test_jumps_multiply_with_strides():
    model = functional((32, 32, 3), layers.Conv2D(4, 3, strides=2, name="a"),
                       layers.ZeroPadding2D(1, name="pad"), layers.Conv2D(4, (3, 1), name="b"),
                       layers.MaxPooling2D(2, name="pool"), layers.Conv2D(4, 3, name="c"))
    fields = receptive_fields(model)
    # a: 3 (jump 2); padding keeps it; b: 3 + 2*2 = 7 high, 3 wide; pool: +1*2 (jump 4); c: +2*4.
    assert fields["a"] == fields["pad"] == (3, 3)
    assert fields["b"] == (7, 3)
    assert fields["pool"] == (9, 5)
    assert fields["c"] == (17, 13)


def test_nested_model_sums_its_layers_and_continues_the_field():
    inner = functional((14, 14, 4), layers.Conv2D(8, 3, padding="same"), layers.MaxPooling2D(2),
                       layers.Conv2D(8, 3, padding="same"))
    inner_macs = 14 * 14 * 8 * 9 * 4 + 7 * 7 * 8 * 9 * 8
    assert model_macs(inner) == inner_macs
    assert receptive_fields(inner)[inner.layers[-1].name] == (8, 8)  # 3, 4 (jump 2), 8

    chain = keras.Sequential([layers.Conv2D(4, 1, name="seq_conv")], name="chain")
    outer = functional((16, 16, 3), layers.Conv2D(4, 3, name="first"), inner, chain,
                       layers.GlobalAveragePooling2D(name="gap"))
    fields, rows = receptive_fields(outer), {row.name: row for row in layer_rows(outer)}
    assert fields["first"] == (3, 3)
    # first 3; inner conv +2; pooling +1 (then jump 2); conv +2 * 2
    assert fields[inner.name] == (3 + 2 + 1 + 2 * 2,) * 2 == rows[inner.name].receptive_field
    assert fields["chain"] == fields[inner.name]  # a 1x1 convolution adds nothing
    assert rows[inner.name].macs == inner_macs
    assert totals(list(rows.values()))["macs"] == model_macs(outer) == (
        14 * 14 * 4 * 9 * 3 + inner_macs + 7 * 7 * 4 * 8)


def test_sequential_model():
    model = keras.Sequential([keras.Input((10, 10, 3)), layers.Conv2D(4, 3, name="conv"),
                              layers.MaxPooling2D(2, name="pool"), layers.Flatten(name="flat"),
                              layers.Dense(2, name="out")])
    assert receptive_fields(model) == {"conv": (3, 3), "pool": (4, 4), "flat": None, "out": None}
    assert model_macs(model) == 8 * 8 * 4 * 27 + 4 * 4 * 4 * 2


def test_builtin_base_at_64_nested_in_a_transfer_model():
    base = build_builtin_base((64, 64, 3))
    model = transfer_model(base, "builtin", (64, 64), dense_units=256, dropout=0.5, num_classes=2)
    rows = {row.name: row for row in layer_rows(model)}
    # Per block two 3x3 same convolutions (no bias), then 2x2 pooling: 64, 32, 16, 8 pixels.
    expected, in_c = 0, 3
    for size, width in ((64, 16), (32, 32), (16, 64), (8, 128)):
        expected += size * size * width * 9 * in_c + size * size * width * 9 * width
        in_c = width
    assert rows["builtin_base"].macs == expected == 53_673_984
    # Per block +2, +2 then pooling +1, at jumps 1, 2, 4, 8: 6, 16, 36, 76 (more than the image:
    # the field counts the zero padding too).
    assert rows["builtin_base"].receptive_field == (76, 76)
    assert rows["dense"].macs == 4 * 4 * 128 * 256 and rows["dense"].receptive_field is None


def test_model_without_images_has_no_fields():
    model = functional((4,), layers.Dense(3))
    assert receptive_fields(model) == {}
    assert model_macs(model) == 12


@pytest.mark.parametrize("count, text", [
    (0, "0"), (512, "512"), (999, "999"), (1000, "1K"), (340_000, "340K"), (999_600, "1M"),
    (1_234_567, "1.23M"), (15_346_630_656, "15.3G"), (236_095_488, "236M"),
])
def test_format_count(count, text):
    assert format_count(count) == text
