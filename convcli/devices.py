"""Where a run computes: its tf.distribute strategy and its Keras dtype policy.

A model must be built and compiled inside the strategy's scope it is trained with, and
under the dtype policy it computes in, so `experiment.py` builds and trains inside
`training_scope`. The strategy is made once per process: a model built under one
MirroredStrategy cannot be fit under another.
"""

from __future__ import annotations

import contextlib
import functools

from convcli.tfenv import import_tensorflow


@contextlib.contextmanager
def training_scope(distribute: str, mixed_precision: str):
    """Build, compile and fit inside this: `distribute`'s strategy and the dtype policy."""
    with dtype_policy("float32" if mixed_precision == "none" else mixed_precision):
        if distribute == "mirrored":
            with mirrored_strategy().scope():
                yield
        else:
            yield


@contextlib.contextmanager
def dtype_policy(name: str):
    """Layers made inside compute in `name` (their variables stay float32 under mixed_*)."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@functools.cache
def mirrored_strategy():
    """MirroredStrategy over every local GPU; without one, over every logical CPU device.

    A batch of `data.batch_size` images is split between the devices (the global batch).
    """
    tf = import_tensorflow()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


def devices_of(distribute: str) -> list[str]:
    """The devices a run trains on, for meta.json."""
    if distribute == "mirrored":
        return list(mirrored_strategy().extended.worker_devices)
    tf = import_tensorflow()
    return [device.name for device in (tf.config.list_logical_devices("GPU")
                                       or tf.config.list_logical_devices("CPU"))[:1]]
