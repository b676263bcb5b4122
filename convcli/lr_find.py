"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates"; fastai's lr_find):
train a throwaway model for a few hundred steps while the learning rate grows
exponentially, and read a good rate off the loss curve (docs/recipes.md#lr-find).

The model is the config's own, built in this process and never saved, with the stage's
data and augmentation; fine-tune's phase fine-tune first trains the head as the run
would (unless fine_tune.init_from supplies it), so the test starts where that phase
starts. Its folder, <runs-dir>/lr-find/<date>_<name>/, holds config.yaml, lr-find.csv,
lr-find.json and lr-find.png.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from convcli.config import Config, to_yaml
from convcli.devices import training_scope
from convcli.errors import ConfigError, TrainingError
from convcli.files import atomic_write_text
from convcli.runs import Run, create_run

FOLDER = "lr-find"  # under the runs folder; its entries are not runs
SMOOTHING = 0.98  # the loss's exponential moving average, bias-corrected (fastai's)
DIVERGED = 4.0  # stop once the smoothed loss is this many times its lowest
FALL = 0.05  # a loss that falls less than this fraction along the ramp gives no suggestion
RISEN = 1.1  # the loss has clearly risen once its smoothed value is this many times its lowest
SKIP = 10  # the first steps' average rests on too few losses to judge by (fastai's skip_start)


@dataclass
class Finding:
    """What a range test found; lr-find.json."""

    stage: str
    phase: str | None
    key: str  # the config key the suggestion is for
    suggestion: float | None  # the rate where the smoothed loss falls fastest
    lowest_loss_rate: float | None
    rises_at: float | None  # the first rate past the lowest loss where it is RISEN above it
    steps: int
    stopped: str  # why the ramp ended
    start_rate: float
    end_rate: float


def default_phase(cfg: Config, phase: str | None) -> str | None:
    """The phase tested: fine-tune's `fine-tune` unless asked otherwise; None elsewhere."""
    if phase not in (None, "head", "fine-tune"):
        raise ConfigError(f"--phase is head or fine-tune. Received: {phase!r}")
    if cfg.stage != "fine-tune":
        if phase is not None:
            raise ConfigError(f"--phase applies to stage fine-tune only; this config's stage is {cfg.stage}")
        return None
    return phase or "fine-tune"


def find_learning_rate(cfg: Config, runs_dir: Path, phase: str | None = None, steps: int = 200,
                       start: float = 1e-7, end: float = 10.0) -> tuple[Run, Finding]:
    """Run the range test for a config; (its folder, what it found)."""
    from convcli.experiment import prepare

    if not 0 < start < end:
        raise ConfigError(f"the ramp must rise: --start {start:g} must be below --end {end:g}, both above 0")
    phase = default_phase(cfg, phase)
    with training_scope(cfg.distribute, cfg.train.mixed_precision):  # the model the run trains
        stage, files, model = prepare(cfg)
        folder = create_run(Path(runs_dir) / FOLDER, cfg.name)
        try:
            atomic_write_text(folder.config, to_yaml(cfg))
            model, data, class_weight = _subject(cfg, folder, files, model, phase)
            ramp = RangeTest(start, end, steps)
            model.fit(data.repeat(), steps_per_epoch=1, epochs=steps, callbacks=[ramp], verbose=0,
                      class_weight=class_weight)
        finally:
            shutil.rmtree(folder.scratch, ignore_errors=True)
    if len(ramp.rates) < 2 * SKIP:
        raise TrainingError(f"the loss diverged within {len(ramp.rates)} steps of the ramp from "
                            f"{start:g}; start it lower (--start)")
    finding = _finding(cfg, phase, ramp, start, end)
    _write(folder, ramp, finding)
    return folder, finding


def _subject(cfg: Config, folder: Run, files, model: keras.Model, phase: str | None):
    """(the model compiled for the test, its training batches, the class weights)."""
    from convcli.models.pretrained import find_base
    from convcli.stages import extract, fine_tune
    from convcli.stages.recipe import one_hot_labels
    from convcli.training import class_weights, compile_model

    one_hot = one_hot_labels(cfg, files)
    weights = class_weights(cfg.train, files)
    if cfg.stage == "extract" and cfg.extract.method == "features":
        head, batches, _ = extract.feature_head(cfg, files, model)
        compile_model(head, cfg.train, files.num_classes, one_hot=one_hot)
        return head, batches("train", True, one_hot), weights
    train = extract.image_datasets(cfg, folder, files).train
    if cfg.stage == "fine-tune":
        base = find_base(model)
        base.trainable = False
        if phase == "fine-tune":
            if not cfg.fine_tune.init_from and cfg.fine_tune.head_epochs:
                compile_model(model, cfg.train, files.num_classes, one_hot=one_hot)
                model.fit(train, epochs=cfg.fine_tune.head_epochs, verbose=0, class_weight=weights)
            fine_tune.unfreeze(base, cfg.fine_tune)
    compile_model(model, cfg.train, files.num_classes, one_hot=one_hot)
    return model, train, weights


class RangeTest(keras.callbacks.Callback):
    """Raises the learning rate exponentially from `start` to `end`, one step per Keras
    epoch (so each epoch's logged loss is that one batch's), records each step's loss,
    and stops when the smoothed loss diverges."""

    def __init__(self, start: float, end: float, steps: int):
        super().__init__()
        self.start, self.end, self.steps = start, end, steps
        self.rates, self.losses, self.smoothed = [], [], []
        self.stopped = "the ramp's end"

    def rate(self, step: int) -> float:
        return self.start * (self.end / self.start) ** (step / max(1, self.steps - 1))

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = self.rate(epoch)

    def on_epoch_end(self, epoch, logs=None):
        loss = float(logs["loss"])
        if not math.isfinite(loss):
            self.stopped, self.model.stop_training = f"a loss of {loss} at step {epoch + 1}", True
            return
        # The exponential moving average, bias-corrected: its raw value is the corrected
        # one times (1 - SMOOTHING ** epoch).
        raw = self.smoothed[-1] * (1 - SMOOTHING ** epoch) if epoch else 0.0
        average = (SMOOTHING * raw + (1 - SMOOTHING) * loss) / (1 - SMOOTHING ** (epoch + 1))
        self.rates.append(self.rate(epoch))
        self.losses.append(loss)
        self.smoothed.append(average)
        if epoch >= SKIP and average > DIVERGED * min(self.smoothed[SKIP:]):
            self.stopped = f"divergence at step {epoch + 1} (loss {DIVERGED:g}x its lowest)"
            self.model.stop_training = True


def suggest(rates: list[float], smoothed: list[float]) -> tuple[float | None, float]:
    """(the rate where the smoothed loss falls fastest, before its lowest point, or None
    when it does not fall by FALL; the rate of the lowest smoothed loss). The first SKIP steps
    are left out, and the fall is measured across a tenth of the ramp (at least 5
    steps), so that one noisy dip is not taken for it."""
    rates, smoothed = np.asarray(rates[SKIP:]), np.asarray(smoothed[SKIP:])
    lowest = int(np.argmin(smoothed))
    width = max(5, len(rates) // 10)
    if lowest < width or smoothed[lowest] > (1 - FALL) * smoothed[:lowest + 1].max():
        return None, float(rates[lowest])  # no fall, or one within the noise
    logs = np.log10(rates[:lowest + 1])
    slopes = (smoothed[width:lowest + 1] - smoothed[:lowest + 1 - width]) / (logs[width:] - logs[:-width])
    steepest = int(np.argmin(slopes))
    if slopes[steepest] >= 0:
        return None, float(rates[lowest])
    return float(10 ** ((logs[steepest] + logs[steepest + width]) / 2)), float(rates[lowest])


def rises_at(rates: list[float], smoothed: list[float]) -> float | None:
    """The first rate after the lowest smoothed loss (the first SKIP steps left out) where
    the loss is RISEN times that lowest: above it, training gets worse."""
    rates, smoothed = rates[SKIP:], smoothed[SKIP:]
    lowest = int(np.argmin(smoothed))
    risen = [rate for rate, loss in zip(rates[lowest:], smoothed[lowest:]) if loss > RISEN * smoothed[lowest]]
    return float(risen[0]) if risen else None


def _finding(cfg: Config, phase: str | None, ramp: RangeTest, start: float, end: float) -> Finding:
    suggestion, lowest = suggest(ramp.rates, ramp.smoothed)
    key = "fine_tune.learning_rate" if phase == "fine-tune" else "train.learning_rate"
    return Finding(stage=cfg.stage, phase=phase, key=key, suggestion=suggestion,
                   lowest_loss_rate=lowest, rises_at=rises_at(ramp.rates, ramp.smoothed),
                   steps=len(ramp.rates), stopped=ramp.stopped,
                   start_rate=start, end_rate=end)


def _write(folder: Run, ramp: RangeTest, finding: Finding) -> None:
    from convcli.pages.lr_plot import write_lr_plot

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["step", "learning_rate", "loss", "smoothed_loss"])
    for step, row in enumerate(zip(ramp.rates, ramp.losses, ramp.smoothed), start=1):
        writer.writerow([step, *(f"{value:.6g}" for value in row)])
    atomic_write_text(folder.path / "lr-find.csv", text.getvalue())
    atomic_write_text(folder.path / "lr-find.json", json.dumps(asdict(finding), indent=2) + "\n")
    write_lr_plot(folder.path / "lr-find.png", ramp.rates, ramp.smoothed, finding.suggestion,
                  f"{folder.name}: {finding.stage}" + (f", phase {finding.phase}" if finding.phase else ""))
