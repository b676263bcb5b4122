"""ConvcliError: the one exception type a user ever sees, and its few kinds.

Domain code raises these with a message that says what happened and how to fix it;
`convcli.cli` alone turns them into one red line on stderr and exit code 1 (as it does
a full disk, found by `disk_full`, wherever the write happened).
"""

import errno

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
    while error is not None:
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            return error
        error = error.__cause__ or error.__context__
    return None
