"""The cost of a convnet per image: multiply-adds (MACs) and receptive fields, per layer.

**MACs** count the multiply-adds of the weight products only, one per weight per
position the layer applies it at, as the published figures do (VGG16's "15.5 GFLOPs",
ResNet-50's "3.8 billion FLOPs" and MobileNetV2's "300M multiply-adds" are all counted
this way):

- Conv1D/2D/3D (any `groups`), DepthwiseConv1D/2D: output positions x kernel size,
  i.e. out_h * out_w * k_h * k_w * in_c / groups * out_c, and for a depthwise
  convolution out_h * out_w * k_h * k_w * in_c * depth_multiplier;
- SeparableConv1D/2D: its depthwise part plus its 1x1 pointwise part, both at the
  output positions;
- Conv1D/2D/3DTranspose: input positions x kernel size;
- Dense: in * out, times the positions when it is applied to a map (per pixel);
- a nested model (a pretrained base shown as one row): the sum over its layers;
- everything else counts 0: biases, BatchNormalization, activations, pooling,
  Rescaling, Add, Concatenate, Dropout, ... (a few elementwise operations per value,
  small next to the convolutions), and layers this module does not model (EinsumDense,
  attention, recurrent layers).

**Receptive field**: how many input pixels (height, width) one unit of a layer's output
depends on. From one pixel (r = 1, jump j = 1), each convolution or pooling window of
size k, stride s and dilation d gives r_out = r_in + (d * (k - 1)) * j_in and
j_out = j_in * s, per axis. Padding and cropping do not change it. In a branched graph
(ResNet's Add, Inception's Concatenate) layers are taken in topological order and each
starts from the largest field among its inputs. Any other layer that keeps the map's
height and width is taken to work pixel by pixel (BatchNormalization, activations,
Dense on a map, preprocessing ops). Fields are not clipped to the image: they include
the padding, so a deep layer's field can be larger than the image.

`None` means the unit sees the whole image: the output of Flatten, global pooling and
everything after them, and of a layer fed by one (a squeeze-and-excitation block's
scaling). A layer that changes height and width in another way (UpSampling, Resizing,
transposed convolutions), or a nested subclassed model (no graph to read), is not
traced and gets `None` too.
Maps are assumed channels-last, as keras.applications builds them.
"""

from __future__ import annotations

import math

import keras
from keras import layers

CONVOLUTIONS = (layers.Conv1D, layers.Conv2D, layers.Conv3D, layers.DepthwiseConv1D,
                layers.DepthwiseConv2D)
SEPARABLE = (layers.SeparableConv1D, layers.SeparableConv2D)
TRANSPOSED = (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
POOLING = (layers.MaxPooling1D, layers.MaxPooling2D, layers.MaxPooling3D,
           layers.AveragePooling1D, layers.AveragePooling2D, layers.AveragePooling3D)
BORDERS = (layers.ZeroPadding1D, layers.ZeroPadding2D, layers.ZeroPadding3D,
             layers.Cropping1D, layers.Cropping2D, layers.Cropping3D)
WHOLE_IMAGE = (layers.Flatten, layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D,
               layers.GlobalAveragePooling3D, layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D,
               layers.GlobalMaxPooling3D)


# --- multiply-adds ----------------------------------------------------------------------


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-adds per image of one call of `layer` (the rule in the module docstring)."""
    if isinstance(layer, keras.Model):
        return model_macs(layer)
    if isinstance(layer, SEPARABLE):
        kernels, shape = (layer.depthwise_kernel, layer.pointwise_kernel), _output_shape(layer)
    elif isinstance(layer, (*CONVOLUTIONS, layers.Dense)):
        kernels, shape = (layer.kernel,), _output_shape(layer)
    elif isinstance(layer, TRANSPOSED):
        kernels, shape = (layer.kernel,), _input_shape(layer)
    else:
        return 0
    positions = _positions(shape)
    return positions * sum(math.prod(kernel.shape) for kernel in kernels)


def model_macs(model: keras.Model) -> int:
    """Multiply-adds per image of a whole model, nested models included."""
    return sum(layer_macs(layer) for layer in model.layers)


def _positions(shape) -> int:
    """The number of places a kernel is applied: the product of the dimensions between
    the batch and the channels (1 for a flat vector; 0 when a size is not fixed)."""
    inner = shape[1:-1]
    return 0 if any(size is None for size in inner) else math.prod(inner)


def _output_shape(layer) -> tuple:
    return tuple(layer.output.shape)


def _input_shape(layer) -> tuple:
    return tuple(layer.input.shape)


# --- receptive fields -------------------------------------------------------------------

# A traced field: ((r_h, r_w), (j_h, j_w)), the field and the jump between neighbouring
# units, in input pixels; None: the whole image.
Field = tuple[tuple[int, ...], tuple[int, ...]] | None


def receptive_fields(model: keras.Model) -> dict[str, tuple[int, int] | None]:
    """{top-level layer name: (rf_h, rf_w) of its output, or None for the whole image}.

    Empty when the model's input is not an image (a batch of height x width x channels).
    A nested model's entry is the field of its output.
    """
    if not has_image_input(model):
        return {}
    fields, _ = _walk(model, _one_pixel(model))
    return {name: None if field is None else field[0] for name, field in fields.items()}


def has_image_input(model: keras.Model) -> bool:
    """Whether every input of the model is a batch of images (height x width x channels)."""
    try:
        shapes = [tuple(tensor.shape) for tensor in model.inputs]
    except (AttributeError, ValueError):  # a subclassed model never called
        return False
    return bool(shapes) and all(len(shape) == 4 for shape in shapes)


def _one_pixel(model: keras.Model) -> Field:
    rank = len(model.inputs[0].shape) - 2
    return (1,) * rank, (1,) * rank


def _walk(model: keras.Model, start: Field) -> tuple[dict[str, Field], Field]:
    """({layer name: field of its output}, field of the model's output) when the model's
    inputs have the field `start`."""
    if isinstance(model, keras.Sequential):
        return _walk_chain(model, start)
    if not hasattr(model, "_nodes_by_depth"):  # a subclassed model: no graph to read
        return {}, None
    fields, by_tensor = {}, {id(tensor): start for tensor in model.inputs}
    # Deepest first is the graph's topological order: inputs before the layers they feed.
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            inputs = node.input_tensors
            if not inputs:  # an InputLayer: its tensor is one of the model's inputs
                fields[node.operation.name] = by_tensor.get(id(node.output_tensors[0]))
                continue
            field = _through(node.operation, [by_tensor.get(id(t)) for t in inputs],
                             tuple(inputs[0].shape), tuple(node.output_tensors[0].shape))
            by_tensor.update({id(tensor): field for tensor in node.output_tensors})
            if isinstance(node.operation, keras.layers.Layer):
                fields[node.operation.name] = field
    return fields, _widest([by_tensor.get(id(tensor)) for tensor in model.outputs])


def _walk_chain(model: keras.Sequential, start: Field) -> tuple[dict[str, Field], Field]:
    fields, field = {}, start
    for layer in model.layers:
        field = fields[layer.name] = _through(layer, [field], _input_shape(layer),
                                              _output_shape(layer))
    return fields, field


def _through(operation, inputs: list[Field], in_shape: tuple, out_shape: tuple) -> Field:
    """The field of an operation's output, from the fields of its inputs."""
    field = _widest(inputs)
    if field is None or isinstance(operation, WHOLE_IMAGE):
        return None
    if isinstance(operation, keras.Model):
        return _walk(operation, field)[1]
    (r, j), rank = field, len(field[0])
    if isinstance(operation, (*CONVOLUTIONS, *SEPARABLE)) and len(operation.kernel_size) == rank:
        return _window(r, j, operation.kernel_size, operation.strides, operation.dilation_rate)
    if isinstance(operation, POOLING) and len(operation.pool_size) == rank:
        return _window(r, j, operation.pool_size, operation.strides, (1,) * rank)
    if isinstance(operation, BORDERS):
        return field
    # Any other operation that keeps the map's height and width works pixel by pixel.
    same_grid = len(in_shape) > rank and in_shape[1:1 + rank] == out_shape[1:1 + rank]
    return field if same_grid else None


def _window(r, j, kernel_size, strides, dilation_rate) -> Field:
    """Sliding windows: each adds (its dilated size - 1) jumps to the field."""
    r_out = tuple(r_ + dilation * (size - 1) * j_
                  for r_, j_, size, dilation in zip(r, j, kernel_size, dilation_rate))
    return r_out, tuple(j_ * stride for j_, stride in zip(j, strides))


def _widest(fields: list[Field]) -> Field:
    """The field of several inputs: the largest per axis; the whole image if any is."""
    if not fields or any(field is None for field in fields):
        return None
    return (tuple(max(axis) for axis in zip(*(field[0] for field in fields))),
            tuple(max(axis) for axis in zip(*(field[1] for field in fields))))
