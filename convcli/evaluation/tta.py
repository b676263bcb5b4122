"""Test-time augmentation (`--tta N`): a model's outputs averaged over N views of each
image: the image itself, then warps drawn from the run's own augmentation (the book's
transforms, augment section), or, for a run trained without augmentation and for a
model file, the image's mirror. The warps come from fixed seeds, so the same command
gives the same numbers."""

from __future__ import annotations

from convcli.config import Augment
from convcli.data.augmentation import Augmenter
from convcli.errors import ConfigError
from convcli.tfenv import import_tensorflow


class Views:
    """The N views of a batch of images that test-time augmentation averages over."""

    def __init__(self, count: int, augment: Augment | None = None, seed: int = 0):
        augmenter = Augmenter(augment, seed) if augment is not None else None
        self.augmenter = None if augmenter is None or augmenter.is_identity() else augmenter
        if count < 1 or (self.augmenter is None and count > 2):
            raise ConfigError(f"--tta takes 1 or 2 views here (the image and its mirror): the "
                              f"model has no augmentation of its own to draw more from. "
                              f"Received: --tta {count}")
        self.count, self.seed = count, seed

    def __call__(self, images) -> list:
        """The views of a float (batch, height, width, channels) batch, the image first."""
        tf = import_tensorflow()
        if self.augmenter is None:
            return [images, tf.image.flip_left_right(images)][:self.count]
        return [images] + [self.augmenter(images, tf.constant([self.seed, view], tf.int64))
                           for view in range(1, self.count)]

    @property
    def described(self) -> str:
        if self.augmenter is None:
            return "the image and its mirror" if self.count == 2 else "the image alone"
        warps = self.count - 1
        return f"the image and {warps} warp{'s' if warps > 1 else ''} of the run's augmentation"
