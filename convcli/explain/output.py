"""Output: what a model's last layer gives, class probabilities or logits, and the scores
before its final activation.

The activation is read where the model applies it: a Dense's (or convolution's) own
`activation`, or a separate Activation or Softmax layer at the end (Keras' MobileNet
classifiers, many user models). softmax and sigmoid outputs are probabilities; a linear
output is logits (a model trained with `from_logits=True`), which `with_probabilities`
turns into probabilities with a softmax (a sigmoid for one unit) appended to the model,
so every command sees probabilities and Grad-CAM still finds the scores before them.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from convcli.explain.taps import as_functional, own_node

PROBABILITIES = ("softmax", "sigmoid")


@dataclass(frozen=True)
class Final:
    """The last layer of a model, the activation it ends with, and where the scores are."""

    layer: keras.layers.Layer
    activation: str | None  # softmax, sigmoid, linear, another name, or None: not known
    scores: str  # "input": of the last layer, a separate Activation/Softmax layer; "dense":
    # the last Dense's own, before its activation; "output": the output itself
    scores_layer: str  # the layer whose output (for "dense": before its activation) is the scores

    @property
    def explained(self) -> str:
        """Which tensor Grad-CAM differentiates, for a person."""
        if self.activation not in PROBABILITIES:
            return f"the output of layer '{self.scores_layer}' (the class scores)"
        if self.scores == "input":
            return f"the output of layer '{self.scores_layer}', before the {self.activation} after it"
        if self.scores == "dense":
            return f"layer '{self.scores_layer}' before its {self.activation}"
        return (f"the class probabilities, after the {self.activation} of layer "
                f"'{self.scores_layer}' (convcli cannot take the scores before it there)")


def final_activation(model: keras.Model) -> Final:
    """The layer that ends the model, and what activation ends its class scores."""
    functional = as_functional(model)[0]
    layer = functional.outputs[0]._keras_history[0]
    if isinstance(layer, keras.Model):  # a head nested as one model: read, not re-applied
        inner = final_activation(layer)
        return Final(inner.layer, inner.activation, "output", layer.name)
    if isinstance(layer, keras.layers.Softmax) or type(layer) is keras.layers.Activation:
        name = "softmax" if isinstance(layer, keras.layers.Softmax) else _name(layer.activation)
        before = own_node(functional, layer).input_tensors[0]._keras_history[0]
        return Final(layer, name, "input", before.name)
    activation = getattr(layer, "activation", None)
    name = _name(activation) if callable(activation) else None
    scores = "dense" if isinstance(layer, keras.layers.Dense) and name in PROBABILITIES else "output"
    return Final(layer, name, scores, layer.name)


def with_probabilities(model: keras.Model) -> tuple[keras.Model, str | None]:
    """(a model that outputs probabilities, the activation appended to logits, or None).

    A ValueError for an output that is neither probabilities nor logits.
    """
    final = final_activation(model)
    if final.activation in PROBABILITIES:
        return model, None
    if final.activation != "linear":
        raise ValueError(f"its last layer '{final.layer.name}' ({type(final.layer).__name__}, "
                         f"activation {final.activation or 'unknown'})")
    functional = as_functional(model)[0]
    name = "sigmoid" if functional.outputs[0].shape[-1] == 1 else "softmax"
    # float32, as convcli's own output layers, so probabilities are exact under mixed precision
    probabilities = keras.layers.Activation(name, dtype="float32", name=f"logits_{name}")(
        functional.outputs[0])
    return keras.Model(functional.inputs, probabilities, name=model.name), name


def _name(activation) -> str:
    return getattr(activation, "__name__", type(activation).__name__)
