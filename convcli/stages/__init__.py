"""The workflow's stages: STAGES maps a config's `stage` to its module.

Each stage module has `build_model(cfg, class_names, load_weights=True)`, which makes
the model (and raises every problem with the config's model before a run exists), and
a short `train(cfg, run, files, model) -> Result` that builds the datasets and trains
with a `Trainer`; `experiment.py` runs the fixed skeleton around them.
"""

from convcli.stages import augment, extract, fine_tune, scratch

STAGES = {
    "scratch": scratch,
    "augment": augment,
    "extract": extract,
    "fine-tune": fine_tune,
}


def stage_for(cfg):
    """The module that trains a config."""
    return STAGES[cfg.stage]
