"""A sweep's TensorBoard HParams: every trial as a session with its swept keys, seed and
status, and its metric, written with the HParams plugin's own summary API (no
TensorFlow needed), so `tensorboard --logdir runs/sweeps/<sweep>` lists the trials in the
HParams dashboard.

<sweep>/tensorboard/ holds the experiment (which hparams and metrics there are);
<sweep>/tensorboard/<trial>/ one session: its hparams, the sweep's metric as judged
(`sweep/<metric>`, at the best epoch) and its validation curve from metrics.csv.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

FOLDER = "tensorboard"
CURVES = ("val_accuracy", "val_loss")


def _write(logdir: Path, summaries: list[tuple[object, int]]) -> None:
    """Append (summary, step) pairs to a new event file in logdir.

    Written through a plain file: tensorboard's EventFileWriter opens files with
    tf.io.gfile, which imports all of TensorFlow into the sweep process (3 s, and its
    start-up lines on the terminal) for what is a few records.
    """
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter

    logdir.mkdir(parents=True, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{time.time_ns()}"
    with open(logdir / name, "wb") as handle:
        records = RecordWriter(handle)
        records.write(Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        for summary, step in summaries:
            records.write(Event(wall_time=time.time(), step=step, summary=summary).SerializeToString())


def write_experiment(sweep_dir: Path, keys: list[str], metric: str) -> None:
    """The HParams experiment: the swept keys, point, seed and status; the metrics."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    folder = Path(sweep_dir) / FOLDER
    if any(folder.glob("events.out.tfevents.*")):
        return  # a continued sweep: written when it started
    folder.mkdir(parents=True, exist_ok=True)
    hparams = [hp.HParam(key) for key in [*keys, "point", "seed", "status"]]
    metrics = [hp.Metric(f"sweep/{metric}", display_name=f"{metric} (as the sweep judges it)"),
               *(hp.Metric(name, display_name=f"last {name}") for name in CURVES)]
    _write(folder, [(hp.hparams_config_pb(hparams, metrics), 0)])


def write_session(sweep_dir: Path, trial: str, hparams: dict, metric: str, value: float | None,
                  best_epoch: int | None, curve: list[dict]) -> Path:
    """One trial's session: its hparams, its judged metric and its validation curve."""
    from tensorboard.plugins.hparams import summary_v2 as hp
    from tensorboard.plugins.scalar import summary_v2 as scalar

    folder = Path(sweep_dir) / FOLDER / trial
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events.out.tfevents.*"):  # a trial run again: its last outcome only
        old.unlink()
    values = {key: _plain(value) for key, value in hparams.items()}
    summaries = [(hp.hparams_pb(values, trial_id=trial), 0)]
    summaries += [(scalar.scalar_pb(name, row[name]), row["epoch"])
                  for row in curve for name in CURVES if row.get(name) is not None]
    if value is not None:
        summaries.append((scalar.scalar_pb(f"sweep/{metric}", value), best_epoch or 0))
    _write(folder, summaries)
    return folder


def _plain(value):
    """An hparam value TensorBoard takes (bool, int, float or str); others as JSON."""
    return value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
