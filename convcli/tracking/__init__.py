"""Tracking: runs and sweeps sent to an MLflow tracking server (target.py, params.py,
mlflow_client.py, run_sync.py, live.py, sweep_runs.py, push.py) and a sweep's TensorBoard
HParams (hparams.py). mlflow is imported only inside these functions, when tracking is
asked for. The names below are the package's interface."""

from convcli.tracking.live import LiveTracking
from convcli.tracking.target import Target, check_uri, resolve_tracking, target_of

__all__ = ["LiveTracking", "Target", "check_uri", "resolve_tracking", "target_of"]
