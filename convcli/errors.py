"""ConvcliError: the one exception type a user ever sees, and its few kinds.

Domain code raises these with a message that says what happened and how to fix it;
`convcli.cli` alone turns them into one red line on stderr and exit code 1 (as it does
a full disk, found by `disk_full`, wherever the write happened). Ctrl-C and SIGTERM
(through `interrupts_raised`) stop a command as KeyboardInterrupt, so its `finally`
blocks clean up.
"""

import contextlib
import errno
import signal
import threading

DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class ConvcliError(Exception):
    """A problem the user can fix: bad input, a missing file, a run that is not there."""


class ConfigError(ConvcliError):
    """The config file or a --set override is not valid."""


class DataError(ConvcliError):
    """The images or their folders cannot be used."""


class RunError(ConvcliError):
    """A run directory cannot be found, created or read."""


class RecordError(RunError):
    """A record convcli wrote (meta.json, summary.json, a checkpoint's state, sweep.yaml) is
    missing, damaged, or written by a newer convcli."""


class ModelError(ConvcliError):
    """A model file or model description cannot be used."""


class TrainingError(ConvcliError):
    """Training ran but produced no usable model (e.g. the loss was never finite)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM during a run (Slurm preemption, Kubernetes, `docker stop`), handled as Ctrl-C is."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a run: the run directory is marked `interrupted` and can be
    resumed; the process exits 128 + the signal's number (130, 143), as a shell reports it."""

    def __init__(self, run_name: str, epoch: int, signal_name: str = "SIGINT"):
        super().__init__(run_name, epoch)
        self.run_name, self.epoch, self.signal_name = run_name, epoch, signal_name

    @property
    def exit_code(self) -> int:
        return 143 if self.signal_name == "SIGTERM" else 130


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: its trials are marked interrupted and resume on a rerun."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.message, self.exit_code, self.command = message, exit_code, ""


def disk_full(error: BaseException | None) -> OSError | None:
    """The out-of-space OSError behind an exception, if any (libraries may wrap it)."""
    return next((cause for cause in _chain(error)
                 if isinstance(cause, OSError) and cause.errno in DISK_FULL), None)


def _chain(error: BaseException | None):
    """The exception, then what it was raised from or while handling, and so on."""
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


# The signals that have stopped this command (set inside `interrupts_raised` only): a
# library may swallow the KeyboardInterrupt a handler raised and raise an error of its own.
_RECEIVED: list[int] = []


def raise_if_interrupted() -> None:
    """Raise the Ctrl-C or SIGTERM that came, if one did, even if a library swallowed it:
    for the moment before a result is committed (a staged folder renamed into place)."""
    if _RECEIVED:
        raise Terminated() if signal.SIGTERM in _RECEIVED else KeyboardInterrupt()


@contextlib.contextmanager
def interruptions_unwrapped():
    """Inside the block, an error that stands for a Ctrl-C or SIGTERM is raised as the
    interruption: TensorFlow's C++ code, interrupted, raises a SystemError or a TypeError,
    with or without the KeyboardInterrupt as its context, or goes on as if nothing came."""
    try:
        yield
    except Exception as error:
        interruption = next((cause for cause in _chain(error) if isinstance(cause, KeyboardInterrupt)), None)
        if interruption is not None:
            raise interruption from None
        raise_if_interrupted()
        raise


@contextlib.contextmanager
def interrupts_raised():
    """Inside the block Ctrl-C raises KeyboardInterrupt and SIGTERM raises Terminated (a
    KeyboardInterrupt), each remembered for `interruptions_unwrapped`.

    Python's default for SIGTERM ends the process at once, with no `finally`: no word in
    meta.json, a staged folder left behind. Schedulers (Slurm preemption, Kubernetes,
    `docker stop`) send it first, and SIGKILL only after a grace period.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def stop(number, frame):
        _RECEIVED.append(number)
        raise Terminated() if number == signal.SIGTERM else KeyboardInterrupt()

    _RECEIVED.clear()
    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _RECEIVED.clear()
