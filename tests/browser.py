"""A page opened in headless Chromium, as a reader opens it, at a desktop's and a phone's width.

Chromium is driven through the DevTools protocol over --remote-debugging-pipe (it reads
commands on fd 3 and answers on fd 4, one JSON message per NUL). A phone is emulated with
Emulation.setDeviceMetricsOverride(mobile: true): --window-size alone lays a page out at
no less than 500 px and ignores the viewport tag (measured with Debian's chromium 150:
the flag is not enough for a phone).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

# The binary itself: Debian's /usr/bin/chromium is a shell script that sources /etc/chromium.d.
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium")) if p and os.path.exists(p)),
                "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-pipe"]

# What the page itself reports: images that did not load, elements wider than the window
# outside a scrolling box (a table's .scroll, a <pre>), every link.
CHECK = """(() => {
  const width = document.documentElement.clientWidth;  // the layout viewport, not the zoomed-out window
  const images = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                   .map(i => i.alt || i.src.slice(0, 60));
  const scrolls = e => e.closest('.scroll, pre, input.zoom:checked + label');
  const wide = [...document.body.querySelectorAll('*')].filter(e => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.right > width + 1 && !scrolls(e);
  }).map(e => e.tagName.toLowerCase() + (e.getAttribute('class') ? '.' + e.getAttribute('class') : '')
                + ' right=' + Math.round(e.getBoundingClientRect().right));
  return JSON.stringify({width, layout: document.documentElement.clientWidth,
      scroll: document.documentElement.scrollWidth, images, wide: wide.slice(0, 10),
      links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
      anchors: [...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute('href'))
                 .filter(h => !document.getElementById(h.slice(1))),
      font: parseFloat(getComputedStyle(document.body).fontSize)});
})()"""


class Chromium:
    """One headless Chromium, a fresh profile, spoken to over the DevTools pipe."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="convcli-chromium-")
        to_child, self._writer = os.pipe()
        self._reader, from_child = os.pipe()
        # Chromium wants the pipe on fds 3 and 4: put the child's ends there for the moment
        # of the spawn (moved above 4 first, so dup2 never clobbers one of them), keeping what
        # this process had on 3 and 4 aside.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_child, from_child)]
        saved = {fd: _duplicate(fd) for fd in (3, 4)}
        try:
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)
            self.process = subprocess.Popen(
                [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=_log(),
                pass_fds=(3, 4))
        finally:
            for fd, copy in saved.items():
                if copy is None:
                    os.close(fd)
                else:
                    os.dup2(copy, fd, inheritable=os.get_inheritable(copy))
                    os.close(copy)
        for fd in (to_child, from_child, *high):
            os.close(fd)
        self._next, self._buffer, self.events = 0, b"", []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 120) -> dict:
        """Call a DevTools method and wait for its answer; events that arrive are kept."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._writer, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive(timeout)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 120) -> dict:
        """The first event `method` (already received or still to come)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            self.events.append(self._receive(max(0.1, deadline - time.monotonic())))

    def _receive(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._reader], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._reader, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._writer)
        os.close(self._reader)
        shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, page: Path, width: int, height: int, mobile: bool, screenshot: Path | None = None,
             action: str = "") -> dict:
        """Load `page` in a new tab of `width` x `height` CSS pixels; what CHECK reports, plus
        the console's errors and the page's exceptions. `action`, a script expression, runs
        first (a reader's clicks); its value is the report's "action"."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                  "deviceScaleFactor": 2 if mobile else 1, "mobile": mobile}, session=session)
        self.events.clear()
        self.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        self.wait_for("Page.loadEventFired")
        done = self.send("Runtime.evaluate", {"expression": action, "returnByValue": True},
                         session=session)["result"].get("value") if action else None
        report = json.loads(self.send("Runtime.evaluate", {"expression": CHECK, "returnByValue": True},
                                      session=session)["result"]["value"])
        report["errors"] = [text for event in self.events if (text := _error(event))]
        report["action"] = done
        if screenshot:
            shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                             session=session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        self.send("Target.closeTarget", {"targetId": target})
        return report


def _duplicate(fd: int) -> int | None:
    """A copy of `fd` above 10, or None when it is not open."""
    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    except OSError:
        return None


def _error(event: dict) -> str | None:
    """A console error, an uncaught exception or a failed load, as one line; else None."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        return params["exceptionDetails"].get("text", "exception")
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
    if method == "Log.entryAdded" and params["entry"].get("level") == "error":
        return params["entry"].get("text", "error")
    return None


def problems(report: dict, page: Path, root: Path, width: int) -> list[str]:
    """What a reader of `page` would run into at `width` px; [] when nothing."""
    found = [f"image not loaded: {name}" for name in report["images"]]
    found += [f"console: {text}" for text in report["errors"]]
    if not width - 20 <= report["layout"] <= width:  # a desktop's scroll bar takes ~15 px
        found.append(f"laid out at {report['layout']} px, not the window's {width} (viewport tag?)")
    if report["scroll"] > width:
        found.append(f"the page scrolls sideways: {report['scroll']} px wide")
    found += [f"wider than the window: {element}" for element in report["wide"]]
    found += [f"link leads nowhere: {href}" for href in report["links"] if not resolves(href, page, root)]
    found += [f"no section {anchor} on the page" for anchor in report["anchors"]]
    return found


def resolves(href: str, page: Path, root: Path) -> bool:
    """An in-page anchor, or a relative link to a file or folder inside `root`."""
    if href.startswith("#"):
        return True
    url = urlparse(href)
    if url.scheme or url.netloc:
        return False  # pages must work without a network, and without absolute paths
    target = (page.parent / unquote(url.path)).resolve()
    return target.exists() and target.is_relative_to(root.resolve())


def _log():
    path = os.environ.get("CONVCLI_CHROMIUM_LOG")
    return open(path, "w") if path else subprocess.DEVNULL
