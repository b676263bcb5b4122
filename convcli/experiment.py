"""The experiment: the fixed skeleton around every stage.

check the data -> build the model -> create the run -> config.yaml -> meta.json
(running) -> the stage's train() -> evaluate best.keras -> model.txt, curves.png,
summary.json -> meta.json (completed). Problems found before the run directory exists
(config, data folders, the model's base, weights and layers) leave nothing behind;
anything that goes wrong after it does marks meta.json `failed` (or `interrupted`)
with the reason, so no directory ever looks like a finished run.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from convcli.config import Config, to_yaml
from convcli.data import folders
from convcli.errors import TrainingError
from convcli.runs import Run, atomic_write_text, create_run, finish_meta, start_meta


def run_experiment(cfg: Config, runs_dir: str | Path) -> tuple[Run, dict]:
    """Train one config into a new run directory; return the run and its summary."""
    from convcli.pictures import check_layer
    from convcli.stages import stage_for
    from convcli.training import seed_everything

    stage = stage_for(cfg)
    files = folders.resolve(cfg.data, cfg.seed)
    seed_everything(cfg.seed, cfg.deterministic)
    model = stage.build_model(cfg, files.class_names)  # bad bases, weights, layers: no run yet
    if cfg.explain.gradcam_images and cfg.explain.layer:
        check_layer(model, cfg.explain.layer, "explain.layer")
    run = create_run(runs_dir, cfg.name)
    began = time.perf_counter()
    try:
        atomic_write_text(run.config, to_yaml(cfg))
        start_meta(run, cfg.seed)
        run.update_meta(stage=cfg.stage, class_names=files.class_names,
                        dataset={"fingerprint": files.fingerprint(), "counts": files.counts()})
        result = stage.train(cfg, run, files, model)
        summary = finish(cfg, run, files, result, began)
    except KeyboardInterrupt:
        finish_meta(run, "interrupted", reason="interrupted by the user (Ctrl-C)")
        raise
    except BaseException as error:
        finish_meta(run, "failed", reason=f"{type(error).__name__}: {error}")
        raise
    finally:
        shutil.rmtree(run.scratch, ignore_errors=True)
    finish_meta(run, "completed")
    return run, summary


def finish(cfg: Config, run: Run, files: folders.Files, result, began: float) -> dict:
    """Evaluate the best checkpoint and write model.txt, curves.png and summary.json."""
    import keras

    from convcli.data.pipeline import make_datasets
    from convcli.models.table import layer_rows
    from convcli.pictures import explain_validation
    from convcli.report import as_text, layer_table, write_curves
    from convcli.training import MONITOR

    if not run.best.exists():
        raise TrainingError(f"no epoch produced a finite {MONITOR}, so there is no best model; "
                            "lower train.learning_rate and check the data")
    model = keras.models.load_model(run.best)  # also proves the checkpoint reloads
    atomic_write_text(run.model_txt, as_text(layer_table(layer_rows(model), title=model.name)))
    write_curves(run.metrics, run.curves, title=f"{run.name} (stage {cfg.stage})")

    test = result.test
    if test is None and files.test:
        test = model.evaluate(make_datasets(cfg, files, run.scratch).test, verbose=0, return_dict=True)
        test = {key: float(value) for key, value in test.items()}
    gradcam = None
    if cfg.explain.gradcam_images:
        gradcam = explain_validation(model, files, cfg.data.image_size, run.gradcam,
                                     cfg.explain.gradcam_images, cfg.explain.layer, cfg.seed)
    summary = {
        "stage": cfg.stage,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "monitor": MONITOR,
        "best": result.best,
        "final": result.final,
        "test": test,
        "timings": {"total_seconds": round(time.perf_counter() - began, 2),
                    "seconds_per_epoch": round(sum(p["seconds"] for p in result.phases)
                                               / max(result.epochs, 1), 3)},
        "trainable_params": {p["phase"]: p["trainable_params"] for p in result.phases},
        "phases": result.phases,
        "class_names": files.class_names,
        "counts": files.counts(),
        "gradcam": gradcam,
        **result.details,
    }
    atomic_write_text(run.summary, json.dumps(summary, indent=2) + "\n")
    return summary
