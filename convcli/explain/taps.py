"""Taps: a model that also returns the outputs of inner layers, nested bases included.

`keras.Model(model.input, [layer.output, model.output])` only works for a layer at the
top of a Functional model. A pretrained base nested as one layer hides its layers,
and a Sequential model has no graph to cut (docs/notes.md#tapping-inner-layers). `tap_model` handles
both: a Sequential model is replayed as a Functional one; a layer inside a nested
base is reached by splitting the outer model into the part before the base, the base
(tapped the same way, so through any depth of nesting), and the part after it, then
chaining the three. A sub-classed model nested inside is code, not a graph: it is one
layer here.
"""

from __future__ import annotations

import keras


def as_functional(model: keras.Model) -> tuple[keras.Model, dict]:
    """(the model as a Functional graph, {top-level layer name: its output tensor there}).

    A Sequential model is replayed layer by layer on a new input; a Functional model's
    layers are read from their call in its graph (own_node).
    """
    if isinstance(model, keras.Sequential):
        x = inputs = keras.Input(shape=model.inputs[0].shape[1:], name="image")
        outputs = {}
        for layer in model.layers:
            x = outputs[layer.name] = layer(x)
        return keras.Model(inputs, x, name=model.name), outputs
    return model, {layer.name: own_node(model, layer).output_tensors[0] for layer in model.layers}


def own_node(model: keras.Model, layer: keras.layers.Layer):
    """The call of `layer` in `model`'s graph (a layer shared by several models has several).

    For a nested model this is its call in the outer graph: its own `.output` is an
    inner tensor, not connected to the outer input.
    """
    nodes = {id(node) for level in model._nodes_by_depth.values() for node in level}
    return next(node for node in layer._inbound_nodes if id(node) in nodes)


def find_layer(model: keras.Model, name: str) -> tuple[keras.Model | None, keras.layers.Layer]:
    """(the top-level nested model holding it or None, the layer) for a layer name, at any depth."""
    path = layer_path(model, name)
    return (path[0] if len(path) > 1 else None), path[-1]


def layer_path(model: keras.Model, name: str) -> list:
    """[the nested models from `model` down to the layer..., the layer]; KeyError(name) if none.

    A top-level layer wins over a nested one of the same name."""
    for layer in model.layers:
        if layer.name == name:
            return [layer]
    for nested in nested_models(model):
        try:
            return [nested, *layer_path(nested, name)]
        except KeyError:
            pass
    raise KeyError(name)


def nested_models(model: keras.Model) -> list[keras.Model]:
    """The Functional and Sequential models nested in `model` as layers (their graphs can be cut)."""
    return [layer for layer in model.layers if is_graph(layer)]


def is_graph(layer) -> bool:
    from keras.src.models.functional import Functional

    return isinstance(layer, (Functional, keras.Sequential))


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer in graph order, a nested model's layers in place of it, at any depth."""
    found = []
    for layer in model.layers:
        found.extend(all_layers(layer) if is_graph(layer) else [layer])
    return found


def tap_model(model: keras.Model, names: list[str], input_of: str | None = None) -> keras.Model:
    """A model: images -> [output of each named layer..., (input of layer `input_of`,) output].

    `input_of` is a top-level layer, the last one, whose input Grad-CAM turns into class
    logits. Taps must be all top-level or all inside the same nested base.
    """
    model, outputs = as_functional(model)
    located = [find_layer(model, name) for name in names]
    last = [own_node(model, model.get_layer(input_of)).input_tensors[0]] if input_of else []
    holders = {id(holder): holder for holder, _ in located}
    if any(holder is None for holder, _ in located):
        if len(holders) > 1:
            raise ValueError("taps both inside and outside a nested model")
        return keras.Model(model.inputs[0], [*(outputs[n] for n in names), *last, model.output])
    if len(holders) > 1:
        raise ValueError("taps in more than one nested model")
    [base] = holders.values()

    # Before the base -> the base, tapped -> after the base, chained into one model.
    node = own_node(model, base)
    # The base tapped on its own graph (a nested Sequential replayed as one: its layers'
    # `.output` may belong to another call of them, issue 28), nested models in it too.
    inner = tap_model(base, names)
    x = images = keras.Input(shape=model.inputs[0].shape[1:], name="image")
    if node.input_tensors[0] is not model.inputs[0]:  # preprocessing before the base
        x = keras.Model(model.inputs[0], node.input_tensors[0])(x, training=False)
    *taps, base_output = inner(x, training=False)
    if node.output_tensors[0] is model.output:  # the base is the whole rest of the model
        return keras.Model(images, [*taps, base_output])
    rest = keras.Model(node.output_tensors[0], [*last, model.output])(base_output, training=False)
    return keras.Model(images, [*taps, *(rest if isinstance(rest, list) else [rest])])
