"""Where runs are tracked: the MLflow tracking URI and experiment a run is sent to,
resolved from the config, the flags and $MLFLOW_TRACKING_URI, and checked before
anything trains (docs/tracking.md)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from importlib import metadata
from urllib.parse import urlparse

from convcli.config import Tracking
from convcli.errors import ConfigError
from convcli.formats import redact

# The schemes of MLflow 3's tracking-store registry (tests/test_tracking.py compares this
# with mlflow's own, so a new MLflow that changes them fails a test): checking here costs
# nothing, where importing mlflow to ask it costs over a second of every tracked run.
KNOWN_SCHEMES = {"", "file", "http", "https", "databricks", "databricks-uc", "uc",
                 "postgresql", "mysql", "sqlite", "mssql"}
DATABASE_ENGINES = ("postgresql", "mysql", "sqlite", "mssql")  # postgresql+psycopg too
INSTALL = "pip install 'convcli[mlflow]'"
URI_HELP = ("use http://HOST:PORT, https://..., sqlite:///FILE, postgresql://USER@HOST/DB, "
            "mysql://..., databricks or file:PATH")


@dataclass(frozen=True)
class Target:
    """An MLflow tracking URI and experiment: where a run or sweep is sent."""

    uri: str
    experiment: str = "convcli"
    log_model: bool = False

    @property
    def shown(self) -> str:
        """The URI as printed and recorded: without a password."""
        return redact(self.uri)


def resolve_tracking(tracking: Tracking, asked: bool = False) -> Tracking:
    """The tracking section with its URI filled in: tracking.mlflow (or --mlflow), else
    $MLFLOW_TRACKING_URI when tracking is asked for (`asked`: --mlflow-experiment or
    --mlflow-model; or the section's own experiment or log_model set)."""
    wanted = asked or tracking.log_model or tracking.experiment != Tracking().experiment
    if tracking.mlflow is not None or not wanted:
        return tracking
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        raise ConfigError("tracking is asked for but no tracking URI is given: add --mlflow URI "
                          "(or tracking.mlflow), or set MLFLOW_TRACKING_URI")
    return tracking.model_copy(update={"mlflow": uri})


def target_of(tracking: Tracking) -> Target | None:
    """The checked target of a resolved tracking section; None when tracking is off."""
    if tracking.mlflow is None:
        return None
    check_uri(tracking.mlflow)
    return Target(tracking.mlflow, tracking.experiment, tracking.log_model)


def check_uri(uri: str) -> None:
    """Refuse a URI MLflow does not understand, and tracking without MLflow installed."""
    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError(f"tracking runs needs MLflow, which is not installed: {INSTALL}")
    scheme = uri_scheme(uri)
    if scheme not in KNOWN_SCHEMES | plugin_schemes():
        raise ConfigError(f"MLflow does not understand the tracking URI {redact(uri)!r} (scheme "
                          f"{scheme!r}); {URI_HELP}")
    if scheme in ("http", "https") and not urlparse(uri).hostname:
        raise ConfigError(f"the tracking URI {redact(uri)!r} names no host; {URI_HELP}")
    if scheme in ("", "file") and refuses_file_store():
        raise ConfigError(f"the installed MLflow refuses file stores such as {redact(uri)!r} (its file "
                          "backend is in maintenance mode): use sqlite:///FILE, or set "
                          "MLFLOW_ALLOW_FILE_STORE=true")


def refuses_file_store() -> bool:
    """Whether the installed MLflow raises on a file store (MLflow 3.17 does, unless
    MLFLOW_ALLOW_FILE_STORE is true), read from its source, not by importing it."""
    if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").strip().lower() in ("true", "1"):
        return False
    try:
        source = metadata.distribution("mlflow").locate_file("mlflow/environment_variables.py")
        return "MLFLOW_ALLOW_FILE_STORE" in Path(source).read_text()
    except (metadata.PackageNotFoundError, OSError):
        return False


def uri_scheme(uri: str) -> str:
    """The scheme MLflow picks a store by (as mlflow.utils.uri.get_uri_scheme does)."""
    if uri in ("databricks", "databricks-uc", "uc"):
        return uri
    scheme = urlparse(uri).scheme.lower()
    engine = next((name for name in DATABASE_ENGINES if scheme.startswith(name)), None)
    if engine:
        return engine
    return "" if len(scheme) == 1 else scheme  # C:\... is a Windows path


def plugin_schemes() -> set[str]:
    """Schemes that installed MLflow plugins register (entry point group mlflow.tracking_store)."""
    return {entry.name for entry in metadata.entry_points(group="mlflow.tracking_store")}
