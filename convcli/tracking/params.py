"""A run's MLflow params: the resolved config flattened to dotted keys, within MLflow's
limits on a param's key and value length, in batches of the size a request may carry."""

from __future__ import annotations

import json

from convcli.config import flatten

# MLflow 3's limits (mlflow.utils.validation): a longer value or key is refused, and one
# log_batch request carries at most 100 params and tags, 1000 metrics.
MAX_VALUE_LENGTH = 6000
MAX_KEY_LENGTH = 250
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000


def config_params(config: dict) -> tuple[dict[str, str], list[str]]:
    """({dotted key: value as text}, the keys too long to send): lists and null as JSON,
    so `model.conv_filters` reads [32, 64]. Nothing is cut: a key or value over MLflow's
    length is left out and named (config.yaml, an artifact, holds it whole)."""
    params, too_long = {}, []
    for key, value in flatten(config).items():
        text = value if isinstance(value, str) else json.dumps(value)
        if len(key) > MAX_KEY_LENGTH or len(text) > MAX_VALUE_LENGTH:
            too_long.append(key)
        else:
            params[key] = text
    return params, too_long


def batches(items: list, size: int) -> list[list]:
    """`items` in consecutive slices of at most `size` (one log_batch request each)."""
    return [items[start:start + size] for start in range(0, len(items), size)]
