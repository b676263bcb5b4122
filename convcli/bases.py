"""The catalogue of pretrained convolutional bases, by the names configs give `model.base`.

Plain data, importing nothing: the config checks names against it and `--help` lists
it without loading TensorFlow. `models/pretrained.py` builds what it names.
"""

from __future__ import annotations

from dataclasses import dataclass

BUILTIN = "builtin"  # the small VGG-style base pretrained on the built-in source task


@dataclass(frozen=True)
class BaseInfo:
    """One keras.applications convnet, used without its top (the classifier)."""

    application: str  # the keras.applications constructor, e.g. "VGG16"
    module: str  # the keras.applications module whose preprocess_input it needs
    min_size: int = 32  # the smallest image side it accepts without its top
    unfreeze_from: str | None = None  # fine-tune default: the first layer of its last block


def _family(names: dict[str, str], module: str, **info) -> dict[str, BaseInfo]:
    return {name: BaseInfo(application, module, **info) for name, application in names.items()}


BASES: dict[str, BaseInfo] = {
    **_family({"vgg16": "VGG16"}, "vgg16", unfreeze_from="block5_conv1"),
    **_family({"vgg19": "VGG19"}, "vgg19", unfreeze_from="block5_conv1"),
    **_family({"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152"},
              "resnet", unfreeze_from="conv5_block1_1_conv"),
    **_family({"resnet50_v2": "ResNet50V2", "resnet101_v2": "ResNet101V2",
               "resnet152_v2": "ResNet152V2"}, "resnet_v2", unfreeze_from="conv5_block1_preact_bn"),
    **_family({"xception": "Xception"}, "xception", min_size=71, unfreeze_from="block14_sepconv1"),
    **_family({"inception_v3": "InceptionV3"}, "inception_v3", min_size=75),
    **_family({"inception_resnet_v2": "InceptionResNetV2"}, "inception_resnet_v2", min_size=75),
    **_family({"mobilenet": "MobileNet"}, "mobilenet"),
    **_family({"mobilenet_v2": "MobileNetV2"}, "mobilenet_v2", unfreeze_from="block_16_expand"),
    **_family({"mobilenet_v3_small": "MobileNetV3Small", "mobilenet_v3_large": "MobileNetV3Large"},
              "mobilenet_v3"),
    **_family({f"efficientnet_b{i}": f"EfficientNetB{i}" for i in range(8)}, "efficientnet",
              unfreeze_from="block7a_expand_conv"),
    **_family({f"efficientnet_v2_{s}": f"EfficientNetV2{s.upper()}"
               for s in ("b0", "b1", "b2", "b3", "s", "m", "l")}, "efficientnet_v2"),
    **_family({"densenet121": "DenseNet121", "densenet169": "DenseNet169",
               "densenet201": "DenseNet201"}, "densenet"),
    **_family({"nasnet_mobile": "NASNetMobile", "nasnet_large": "NASNetLarge"}, "nasnet"),
    **_family({f"convnext_{s}": f"ConvNeXt{s.capitalize()}"
               for s in ("tiny", "small", "base", "large", "xlarge")}, "convnext"),
}

BASE_NAMES = (BUILTIN, *BASES)

# The built-in base: VGG-style blocks of two 3x3 convolutions (with batch normalization)
# and 2x2 max pooling, one block per entry, pretrained once on the built-in source task.
BUILTIN_FILTERS = (16, 32, 64, 128)
