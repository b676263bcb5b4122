"""The experiment: the fixed skeleton around every stage, for a new run or a resumed one.

check the data -> build the model -> create the run -> config.yaml -> meta.json
(running) -> the stage's train() -> evaluate best.keras -> model.txt, curves.png,
summary.json -> meta.json (completed) -> report.html (also after a failure). Problems found before the run directory exists
(config, data folders, the model's base, weights and layers) leave nothing behind;
anything that goes wrong after it does marks meta.json `failed` (or `interrupted`)
with the reason, so no directory ever looks like a finished run.

Resuming (`--resume RUN`) runs the same skeleton in the existing directory once the
run is found resumable: not completed, not still running, trained with the same
config and data (or `force`). The Trainer continues from the last checkpoint.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from convcli.config import Config, flatten, load_config, to_yaml
from convcli.data import folders
from convcli.devices import devices_of, training_scope
from convcli.errors import (ConvcliError, Interrupted, RecordError, RunError, Terminated, TrainingError,
                            interruptions_unwrapped)
from convcli.files import atomic_write_text
from convcli.records import Meta, Summary
from convcli.pages.run import write_page
from convcli.runs import Run, create_run, find_run, finish_meta, now, process_alive, start_meta


def run_experiment(cfg: Config, runs_dir: str | Path) -> tuple[Run, Summary]:
    """Train one config into a new run directory; return the run and its summary."""
    with training_scope(cfg.distribute, cfg.train.mixed_precision):
        stage, files, model = prepare(cfg)
        run = create_run(runs_dir, cfg.name)
        return run, _execute(cfg, run, stage, files, model, resumed=None)


def resume_experiment(cfg: Config, ref: str, runs_dir: str | Path,
                      force: bool = False) -> tuple[Run, Summary]:
    """Continue an interrupted, killed or failed run from its last completed epoch."""
    from convcli.data.check import listing
    from convcli.training import checkpoint_epoch

    run = find_run(ref, runs_dir)
    meta = _resumable_meta(run, force)
    epoch = checkpoint_epoch(run)
    earlier = load_config(run.config)
    if cfg.tracking.mlflow is None:  # a tracked run stays tracked, into the same MLflow run
        cfg = cfg.model_copy(update={"tracking": earlier.tracking})
    changed = _config_changes(earlier, cfg)
    if changed and not force:
        raise RunError(f"the config differs from run {run.name}'s in {listing(changed, 6)}; resume "
                       "with the config it was started with, or add --force to continue with this one")
    with training_scope(cfg.distribute, cfg.train.mixed_precision):
        return run, _resume(cfg, run, meta, epoch, changed, force)


def _resume(cfg: Config, run: Run, meta: Meta, epoch: int, changed: list[str], force: bool) -> Summary:
    stage, files, model = prepare(cfg)
    if files.fingerprint() != (meta.dataset and meta.dataset.fingerprint) and not force:
        raise RunError(f"the data changed since run {run.name} started (files added, removed or "
                       "modified); resume with the same data, or add --force")
    for leftover in run.checkpoints.glob(".*"):  # temp files of a save that was killed
        leftover.unlink()
    shutil.rmtree(run.scratch, ignore_errors=True)  # a disk cache a kill left half-written
    resumed = {"from_epoch": epoch, "at": now(),
               "previous_status": meta.status, "changed": changed}
    return _execute(cfg, run, stage, files, model, resumed=resumed)


def prepare(cfg: Config):
    """Everything that can fail before a run directory is touched: stage, data, model."""
    from convcli.data.check import listing, screen
    from convcli.image_files import check_layer
    from convcli.stages import stage_for
    from convcli.training import class_weights, seed_everything

    stage = stage_for(cfg)
    files = screen(folders.resolve(cfg.data, cfg.seed), cfg.data.on_bad_file)
    class_weights(cfg.train, files)  # class names it gives that the data does not have: no run yet
    if files.left_out:
        from rich.console import Console

        Console(stderr=True).print(f"[yellow]warning:[/] leaving out {len(files.left_out)} image "
                                   f"file(s) that cannot be decoded (data.on_bad_file: skip): "
                                   f"{listing(files.left_out)}", highlight=False, soft_wrap=True)
    if cfg.tracking.mlflow is not None:  # a URI MLflow does not understand: no run yet
        from convcli.tracking import check_uri

        check_uri(cfg.tracking.mlflow)
    seed_everything(cfg.seed, cfg.deterministic)
    model = stage.build_model(cfg, files.class_names)  # bad bases, weights, layers: no run yet
    if cfg.explain.gradcam_images and cfg.explain.layer:
        check_layer(model, cfg.explain.layer, "explain.layer")
    return stage, files, model


def _execute(cfg: Config, run: Run, stage, files: folders.Files, model, resumed: dict | None) -> Summary:
    """Train and finish in the run directory, keeping meta.json's status true throughout."""
    began, tracking = time.perf_counter(), None
    try:
        atomic_write_text(run.config, to_yaml(cfg))
        if resumed is None:
            start_meta(run, cfg.seed)
        else:
            run.update_meta(status="running", ended=None, reason=None,
                            resumed=[*run.read_meta().resumed, resumed])
        run.update_meta(stage=cfg.stage, class_names=files.class_names, pid=os.getpid(),
                        host=os.uname().nodename, devices=devices_of(cfg.distribute),
                        dataset={"fingerprint": files.fingerprint(), "counts": files.counts(),
                                 "left_out": files.left_out, "cache": _cache(cfg, files)})
        tracking = _start_tracking(cfg, run)
        with interruptions_unwrapped():  # the CLI turns SIGTERM into Terminated
            result = stage.train(cfg, run, files, model)
            summary = finish(cfg, run, files, result, began)
    except KeyboardInterrupt as stop:
        epoch = _last_epoch(run)
        name = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
        cause = "by SIGTERM" if name == "SIGTERM" else "by the user (Ctrl-C)"
        finish_meta(run, "interrupted", reason=f"interrupted {cause} after epoch {epoch}", signal=name)
        _try_page(run)
        _finish_tracking(tracking, "interrupted")
        raise Interrupted(run.name, epoch, name) from None
    except BaseException as error:
        try:
            finish_meta(run, "failed", reason=f"{type(error).__name__}: {error}")
        except OSError:  # the disk is full: meta.json keeps "running", which --resume accepts
            pass
        _try_page(run)
        _finish_tracking(tracking, "failed")
        raise
    finally:
        shutil.rmtree(run.scratch, ignore_errors=True)
    finish_meta(run, "completed")
    write_page(run)
    _finish_tracking(tracking, "completed")
    return summary


def _start_tracking(cfg: Config, run: Run):
    """The run's MLflow tracking (a thread of its own: docs/tracking.md), or None."""
    if cfg.tracking.mlflow is None:
        return None
    from convcli.tracking import LiveTracking, target_of

    return LiveTracking(run, target_of(cfg.tracking)).start()


def _finish_tracking(tracking, status: str) -> None:
    """Send the run's end; a tracking problem is a warning already, never the run's error."""
    if tracking is not None:
        try:
            tracking.finish(status)
        except (OSError, ConvcliError):  # meta.json cannot be written: the run's own error shows
            pass


def _try_page(run: Run) -> None:
    """report.html of a run that did not complete: helpful, but never the error shown."""
    try:
        write_page(run)
    except OSError:
        pass


def _cache(cfg: Config, files: folders.Files) -> str:
    """Where the decoded images live during this run (data.cache: auto decides here)."""
    from convcli.data.pipeline import choose_cache

    return choose_cache(cfg.data.cache, files, cfg.data.image_size, cfg.data.channels)


def _resumable_meta(run: Run, force: bool) -> Meta:
    """The run's meta.json, when the run is one --resume can continue."""
    try:
        meta = run.read_meta() if run.meta.exists() else None
    except RecordError as error:
        raise RunError(f"run {run.name} cannot be resumed: {error}") from None
    status = meta and meta.status
    if status is None or not run.config.is_file():
        raise RunError(f"{run.path} is not a run directory convcli can resume (no meta.json or "
                       "config.yaml)")
    if status == "completed":
        raise RunError(f"run {run.name} is completed; there is nothing to resume (train a new run, "
                       "or start one from it with fine_tune.init_from)")
    if status == "running" and not force and meta.host == os.uname().nodename \
            and process_alive(meta.pid):
        raise RunError(f"run {run.name} is still running (pid {meta.pid}); wait for it or stop "
                       "it first (add --force if that process is not convcli)")
    return meta


def _config_changes(earlier: Config, now: Config) -> list[str]:
    """The key paths whose values differ (the run's name aside)."""
    before, after = flatten(earlier.model_dump(mode="json")), flatten(now.model_dump(mode="json"))
    # where a run is tracked does not change what it trains
    return sorted(key for key in before.keys() | after.keys() if key != "name"
                  and not key.startswith("tracking.") and before.get(key) != after.get(key))


def _last_epoch(run: Run) -> int:
    """The epoch of the run's last checkpoint, 0 when there is none or it does not read."""
    from convcli.training import checkpoint_epoch

    try:
        return checkpoint_epoch(run)
    except ConvcliError:
        return 0


def _named(weights: dict[int, float] | None, class_names: list[str]) -> dict[str, float] | None:
    return weights and {class_names[label]: weight for label, weight in weights.items()}


def finish(cfg: Config, run: Run, files: folders.Files, result, began: float) -> Summary:
    """Evaluate the best checkpoint and write model.txt, curves.png and summary.json."""
    import keras

    from convcli.data.pipeline import make_datasets
    from convcli.evaluation import evaluate, write_confusion_png
    from convcli.models.table import layer_rows
    from convcli.image_files import explain_validation
    from convcli.pages.plots import write_curves
    from convcli.tables import as_text, layer_table
    from convcli.training import class_weights

    if not run.best.exists():
        raise TrainingError(f"no epoch produced a finite {cfg.train.monitor}, so there is no best model; "
                            "lower train.learning_rate and check the data")
    model = keras.models.load_model(run.best)  # also proves the checkpoint reloads
    atomic_write_text(run.model_txt, as_text(layer_table(layer_rows(model), title=model.name)))
    write_curves(run.metrics, run.curves, title=f"{run.name} (stage {cfg.stage})", monitor=cfg.train.monitor)

    evaluation = result.evaluation
    if evaluation is None and files.test:
        evaluation = evaluate(model, make_datasets(cfg, files, run.scratch).test, files.class_names)
    if evaluation is not None:
        write_confusion_png(evaluation, run.path / "confusion.png", title=f"{run.name}, test split")
    gradcam = None
    if cfg.explain.gradcam_images:
        gradcam = explain_validation(model, files, cfg.data.image_size, run.gradcam,
                                     cfg.explain.gradcam_images, cfg.explain.layer, cfg.seed)
    summary = Summary.model_validate({
        "stage": cfg.stage,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "monitor": cfg.train.monitor,
        "best": result.best,
        "final": result.final,
        "test": evaluation and {"loss": evaluation.loss, "accuracy": evaluation.accuracy},
        "per_class": evaluation and {
            name: {"precision": p, "recall": r, "support": n} for name, p, r, n in zip(
                evaluation.class_names, evaluation.precision, evaluation.recall, evaluation.support)},
        "confusion": evaluation and evaluation.confusion,
        "timings": {"total_seconds": round(time.perf_counter() - began, 2),
                    "seconds_per_epoch": round(sum(p["seconds"] for p in result.phases)
                                               / max(result.epochs, 1), 3)},
        "trainable_params": {p["phase"]: p["trainable_params"] for p in result.phases},
        "phases": result.phases,
        "class_names": files.class_names,
        "counts": files.counts(),
        "class_weight": _named(class_weights(cfg.train, files), files.class_names),
        "gradcam": gradcam,
        "mixed_labels": cfg.augment.label_mixers if cfg.augment else [],
        **result.details,
    })
    atomic_write_text(run.summary, summary.to_json())
    return summary
