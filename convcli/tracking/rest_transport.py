"""A tracking server's HTTP transport: one bounded request (timeout, retries, credentials,
TLS as MLflow's own environment variables set them), with the standard library only."""

from __future__ import annotations

import base64
import contextlib
import json
import mimetypes
import os
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

# The statuses MLflow's client retries (mlflow.utils.request_utils): the server or a proxy
# in front of it was busy or restarting, so the same request may well succeed.
TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})


class RestError(Exception):
    """A request the tracking server refused or never answered."""

    def __init__(self, message: str, status: int | None = None, error_code: str | None = None):
        super().__init__(message)
        self.status, self.error_code = status, error_code


class Transport:
    """Requests to one tracking server: its base URL, credentials and request limits,
    read from the environment once (connect() has set convcli's limits by then)."""

    def __init__(self, uri: str):
        parts = urlsplit(uri.rstrip("/"))
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.base = urlunsplit((parts.scheme, host, parts.path, "", ""))
        self.timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "10"))
        self.retries = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1"))
        self.backoff = float(os.environ.get("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"))
        self.headers = {"User-Agent": "convcli", **_authorization(parts.username, parts.password)}
        self.context = _tls_context() if parts.scheme == "https" else None

    def call(self, method: str, path: str, body: dict | None = None, query: dict | None = None,
             upload: Path | None = None) -> dict:
        """The JSON answer to METHOD base+path (a JSON `body`, or the file `upload`);
        retried as MLflow's client retries; RestError for a refusal or no answer."""
        url = self.base + path + (f"?{urlencode(query)}" if query else "")
        attempt = 0
        while True:
            try:
                return self._once(method, url, body, upload)
            except RestError as error:
                if attempt >= self.retries or not _transient(error):
                    raise
            time.sleep(self.backoff * 2 ** attempt)
            attempt += 1

    def _once(self, method: str, url: str, body: dict | None, upload: Path | None) -> dict:
        headers = dict(self.headers)
        if upload is not None:
            headers |= {"Content-Type": mimetypes.guess_type(upload.name)[0] or "application/octet-stream",
                        "Content-Length": str(upload.stat().st_size)}
        elif body is not None:
            headers["Content-Type"] = "application/json"
        where = f"{method} {url.removeprefix(self.base).split('?')[0]}"
        try:
            with contextlib.ExitStack() as files:
                # a file is opened for each attempt: a retry sends it from its start again
                data = files.enter_context(open(upload, "rb")) if upload is not None else (
                    None if body is None else json.dumps(body, allow_nan=False).encode())
                request = urllib.request.Request(url, data=data, headers=headers, method=method)
                with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as answer:
                    text = answer.read()
        except urllib.error.HTTPError as error:
            raise _refusal(where, error) from None
        except OSError as error:  # refused, unreachable, timed out (URLError is an OSError)
            reason = getattr(error, "reason", None) or error
            raise RestError(f"{where}: {reason}") from None
        return json.loads(text) if text.strip() else {}


def _refusal(where: str, error: urllib.error.HTTPError) -> RestError:
    """The server's own error (MLflow answers {"error_code", "message"}) as one RestError."""
    try:
        answer = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        answer = {}
    code = answer.get("error_code") if isinstance(answer, dict) else None
    message = (answer.get("message") if isinstance(answer, dict) else None) or error.reason
    return RestError(f"{where}: HTTP {error.code}{f' {code}' if code else ''}: {message}",
                     status=error.code, error_code=code)


def _transient(error: RestError) -> bool:
    """Worth one more try: no answer at all, or a status MLflow's client retries."""
    return error.status is None or error.status in TRANSIENT


def _authorization(username: str | None, password: str | None) -> dict:
    """MLflow's credentials: MLFLOW_TRACKING_USERNAME and _PASSWORD (else those in the
    URI) as basic auth, or MLFLOW_TRACKING_TOKEN as a bearer token."""
    username = os.environ.get("MLFLOW_TRACKING_USERNAME") or username
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or password
    if username and password:
        pair = base64.b64encode(f"{username}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _tls_context() -> ssl.SSLContext:
    """TLS as MLflow's client sets it: MLFLOW_TRACKING_INSECURE_TLS=true skips checking
    the server, MLFLOW_TRACKING_SERVER_CERT_PATH trusts a CA file, and
    MLFLOW_TRACKING_CLIENT_CERT_PATH presents a client certificate."""
    context = ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None)
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").strip().lower() == "true":
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH"):
        context.load_cert_chain(os.environ["MLFLOW_TRACKING_CLIENT_CERT_PATH"])
    return context
