"""A minimal W3C WebDriver client for WebKitWebDriver (standard library only).

WebKitWebDriver is driven directly (not through tauri-driver, which loses requests on reused
connections): one HTTP connection per request, explicit port, the app started by the driver
through the `webkitgtk:browserOptions` capability.
"""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

# The W3C key of an element reference.
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    """An error answer from the driver: `error` is the W3C error code."""

    def __init__(self, error, message, status):
        super().__init__("%s (HTTP %s): %s" % (error, status, message))
        self.error = error
        self.status = status


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Driver:
    """A WebKitWebDriver process this test started, and at most one session on it."""

    def __init__(self, binary="WebKitWebDriver", port=None, log_path=None, env=None):
        self.port = port or free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.session = None
        self.log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [binary, "--port=%d" % self.port, "--host=local"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("WebKitWebDriver exited with %s before listening on port %d"
                                   % (self.proc.returncode, self.port))
            try:
                status = self.request("GET", "/status", timeout=2)
                if status.get("ready", True):
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("WebKitWebDriver not ready on port %d after 15 s" % self.port)
            time.sleep(0.1)

    # ------------------------------------------------------------------ transport
    def request(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8",
                                              "Connection": "close"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                payload = resp.read()
                status = resp.status
        except urllib.error.HTTPError as e:
            payload = e.read()
            status = e.code
        try:
            value = json.loads(payload.decode() or "{}").get("value")
        except ValueError:
            raise WebDriverError("invalid response", payload[:200], status)
        if status >= 400 or (isinstance(value, dict) and "error" in value and status != 200):
            v = value if isinstance(value, dict) else {}
            raise WebDriverError(v.get("error", "unknown"), v.get("message", payload[:200]), status)
        return value

    def cmd(self, method, path, body=None, timeout=60):
        if self.session is None:
            raise RuntimeError("no WebDriver session")
        return self.request(method, "/session/%s%s" % (self.session, path), body, timeout)

    # ------------------------------------------------------------------ session
    def start_session(self, app, args, timeout=60):
        caps = {"capabilities": {"alwaysMatch": {
            "webkitgtk:browserOptions": {"binary": app, "args": list(args)}}}}
        value = self.request("POST", "/session", caps, timeout=timeout)
        self.session = value["sessionId"]
        return value

    def end_session(self, timeout=20):
        if self.session is None:
            return
        try:
            self.request("DELETE", "/session/%s" % self.session, timeout=timeout)
        finally:
            self.session = None

    def children(self):
        """PIDs of the driver's child processes (the app it launched)."""
        pids = []
        try:
            for task in os.listdir("/proc/%d/task" % self.proc.pid):
                with open("/proc/%d/task/%s/children" % (self.proc.pid, task)) as f:
                    pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
        return pids

    def stop(self):
        """Ends the session, then the driver, then whatever it launched that is still alive:
        only processes this driver started, by PID."""
        kids = self.children()
        try:
            self.end_session()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        kids = sorted(set(kids + self.children()))
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in kids:
            _stop_pid(pid)
        if self.log is not subprocess.DEVNULL:
            self.log.close()

    # ------------------------------------------------------------------ commands
    def execute(self, script, *args, timeout=30):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)}, timeout)

    def execute_async(self, script, *args, timeout=30):
        return self.cmd("POST", "/execute/async", {"script": script, "args": list(args)}, timeout)

    def click(self, el):
        self.cmd("POST", "/element/%s/click" % el[ELEMENT], {})

    def clear(self, el):
        self.cmd("POST", "/element/%s/clear" % el[ELEMENT], {})

    def send_keys(self, el, text):
        self.cmd("POST", "/element/%s/value" % el[ELEMENT], {"text": text})

    def text(self, el):
        return self.cmd("GET", "/element/%s/text" % el[ELEMENT])

    def computed_label(self, el):
        return self.cmd("GET", "/element/%s/computedlabel" % el[ELEMENT])

    def computed_role(self, el):
        return self.cmd("GET", "/element/%s/computedrole" % el[ELEMENT])

    def source(self):
        return self.cmd("GET", "/source")

    def set_window_size(self, width, height):
        """Resizes the window (WebDriver's Set Window Rect); returns the rect it got."""
        return self.cmd("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self):
        """PNG bytes of the window, after two animation frames so the last change is painted."""
        import base64
        self.execute_async(
            "const done = arguments[arguments.length - 1];"
            "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")
        return base64.b64decode(self.cmd("GET", "/screenshot"))


def _stop_pid(pid):
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
