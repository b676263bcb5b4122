"""Tracking: runs and sweeps sent to an MLflow tracking server (target.py, params.py,
mlflow_client.py, rest.py, rest_transport.py, run_sync.py, live.py, parent.py; the
sweep's side in sweeps/tracked.py, `runs push` in push.py) and a sweep's TensorBoard
HParams (hparams.py). An http(s) server is spoken to through MLflow's REST API; mlflow
is imported only inside functions, for the other stores. The names below are the
package's interface."""

from convcli.tracking.live import LiveTracking
from convcli.tracking.target import Target, check_uri, resolve_tracking, target_of

__all__ = ["LiveTracking", "Target", "check_uri", "resolve_tracking", "target_of"]
