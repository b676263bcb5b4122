"""The experiment config: its sections (sections.py), the rules across them (rules.py), the
`Config` they make (schema.py), and reading, overriding and validating a file (loading.py,
the only YAML reader). The names below are the package's interface."""

from convcli.bases import BUILTIN
from convcli.config.loading import (
    UPGRADES, apply_override, flatten, load_config, read_yaml, to_yaml, upgrade, validate,
)
from convcli.config.rules import STAGE_SECTIONS, default_unfreeze_from
from convcli.config.schema import CONFIG_VERSION, Config, json_schema, key_paths
from convcli.config.sections import (
    MAX_EPOCHS, MAX_SIZE, MAX_UNITS, Augment, Data, EarlyStopping, Explain, Extract, FineTune,
    Model, Section, Tracking, Train, closest,
)

__all__ = [
    "BUILTIN", "CONFIG_VERSION", "MAX_EPOCHS", "MAX_SIZE", "MAX_UNITS", "STAGE_SECTIONS",
    "UPGRADES", "Augment", "Config", "Data", "EarlyStopping", "Explain", "Extract", "FineTune",
    "Model", "Section", "Tracking", "Train", "apply_override", "closest", "default_unfreeze_from",
    "flatten", "json_schema", "key_paths", "load_config", "read_yaml", "to_yaml", "upgrade",
    "validate",
]
