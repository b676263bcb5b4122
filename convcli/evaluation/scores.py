"""The numbers of an evaluation: how a trained model does on images it was not trained on.

Predictions are computed once; the loss (the loss the model was trained with), the
accuracy, the per-class precision and recall and the confusion matrix all come from
them. The images go through the pipeline's one resize path (`make_dataset`), so the
numbers are the ones training reported for the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from convcli.errors import DataError
from convcli.models.heads import loss_for
from convcli.tfenv import import_tensorflow


@dataclass
class Evaluation:
    """A model's numbers on one set of labelled images."""

    class_names: list[str]
    loss: float
    confusion: list[list[int]]  # confusion[true][predicted]: image counts
    views: int = 1  # test-time augmentation: outputs averaged over this many views
    views_described: str = ""  # which views (tta.Views.described)
    without_tta: "Evaluation | None" = None  # with views > 1: the same images, one view each

    @property
    def images(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def correct(self) -> int:
        return sum(self.confusion[i][i] for i in range(len(self.class_names)))

    @property
    def accuracy(self) -> float:
        return self.correct / self.images

    @property
    def support(self) -> list[int]:
        """Images of each true class."""
        return [sum(row) for row in self.confusion]

    @property
    def precision(self) -> list[float | None]:
        """Per class: the share of images predicted as it that are it (None: none predicted)."""
        predicted = np.sum(self.confusion, axis=0)
        return [self.confusion[i][i] / n if n else None for i, n in enumerate(predicted)]

    @property
    def recall(self) -> list[float | None]:
        """Per class: the share of its images predicted as it (None: it has no images)."""
        return [self.confusion[i][i] / n if n else None for i, n in enumerate(self.support)]


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(n, num_classes) probabilities from a model's outputs.

    One sigmoid unit (the book's binary head) is class 1's probability p; class 0's is
    1 - p. Then argmax picks class 1 exactly when p > 0.5, Keras' binary accuracy rule.
    """
    outputs = np.asarray(outputs, dtype=np.float32)
    if outputs.shape[-1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=-1)
    return outputs


def evaluate(model, dataset, class_names: list[str], views=None) -> Evaluation:
    """Loss, accuracy and confusion matrix of `model` on batches of (images, labels).

    Labels are as `pipeline.make_labels` makes them: float (n, 1) for two classes, ints
    otherwise. Each batch is predicted once, without Keras' progress output. `views`
    (tta.Views): the outputs are averaged over each image's views, and the result keeps
    the one-view evaluation of the same pass as `without_tta`.
    """
    # The model's own call, compiled: not predict_on_batch, which under a
    # MirroredStrategy hands each replica the whole batch and returns every replica's
    # outputs, stacked; and not eager, which takes a third more CPU (docs/notes.md#compiled-calls).
    # Traced twice at most: the full batch, then any batch size.
    forward = import_tensorflow().function(lambda images: model(images, training=False),
                                           reduce_retracing=True)
    outputs, averaged, labels = [], [], []
    for images, batch_labels in dataset:
        each = [np.asarray(forward(view)) for view in (views(images) if views else [images])]
        outputs.append(each[0])
        if len(each) > 1:
            averaged.append(np.mean(each, axis=0))
        labels.append(batch_labels.numpy())
    if not outputs:
        raise DataError("there are no images to evaluate")
    labels = np.concatenate(labels)
    plain = score(np.concatenate(outputs), labels, class_names)
    if not averaged:  # one view of each image
        return plain
    tta = score(np.concatenate(averaged), labels, class_names)
    tta.views, tta.views_described, tta.without_tta = views.count, views.described, plain
    return tta


def score(outputs: np.ndarray, labels: np.ndarray, class_names: list[str]) -> Evaluation:
    """The Evaluation of a model's outputs against their labels."""
    truth = labels.reshape(-1).astype(int)
    # The loss the model trained with, as model.evaluate reports it: the mean over images.
    # One sigmoid unit: binary cross-entropy; otherwise (also two softmax units, as a
    # model made elsewhere may have) sparse categorical cross-entropy.
    if outputs.shape[-1] == 1:
        losses = keras.losses.get(loss_for(2))(labels, outputs)
    else:
        losses = keras.losses.get(loss_for(3))(truth, outputs)
    predicted = np.argmax(class_probabilities(outputs), axis=-1)
    confusion = np.zeros((len(class_names), len(class_names)), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    return Evaluation(class_names=list(class_names), loss=float(np.mean(losses)),
                      confusion=confusion.tolist())
