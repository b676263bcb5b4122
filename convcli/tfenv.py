"""TensorFlow, imported once and quietly: only what matters reaches the user.

`TF_CPP_MIN_LOG_LEVEL=2` hides TensorFlow's C++ info and warnings, but TF 2.21 writes
its first lines (oneDNN, CUDA drivers, cuInit) to file descriptor 2 before its logging
is set up, where no setting reaches them. So stderr is captured while TensorFlow loads
and looks for devices, and shown only if loading fails.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings


def import_tensorflow():
    """Import TensorFlow and initialise its devices with the start-up noise discarded.

    Keras' own Python warnings are discarded too: they speak of its internals (the
    input structure of a nested model, an optimizer argument of a file saved by Keras
    2), not of anything the user can change.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", module=r"keras(\.|$)")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe speaks here, if at all
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tf
