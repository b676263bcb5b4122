"""The workflow's stages: STAGES maps a config's `stage` to its module.

Each stage module has `build_model(cfg, num_classes)` and a short
`train(cfg, run, files) -> Result` that builds its datasets and model and trains them
with a `Trainer`; `experiment.py` runs the fixed skeleton around it.
"""

from convcli.errors import ConfigError
from convcli.stages import augment, scratch

STAGES = {
    "scratch": scratch,
    "augment": augment,
}


def stage_for(cfg):
    """The module that trains a config, or a ConfigError if this version cannot."""
    if cfg.stage not in STAGES:
        raise ConfigError(f"stage {cfg.stage} is not available in this version of convcli; "
                          f"available: {', '.join(STAGES)}")
    if cfg.distribute != "none":
        raise ConfigError(f"distribute: {cfg.distribute} is not available in this version of "
                          "convcli; use distribute: none")
    return STAGES[cfg.stage]
