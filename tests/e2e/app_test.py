#!/usr/bin/env python3
"""End-to-end test of the real Wren desktop app against the interop lab (standard library only).

Run by tests/e2e/run.sh, which provides Xvfb (DISPLAY), a PulseAudio daemon with the null sinks
"speaker" and "micfeed" and the default source "mic" (PULSE_SERVER), a D-Bus session with an
unlocked gnome-keyring (the OS secret store), and the lab (--lab). The app is launched and driven
by WebKitWebDriver directly, with TAURI_WEBVIEW_AUTOMATION=true.

Elements are found by their accessible role and name as the web view's accessibility tree
computes them (WebDriver's computedrole/computedlabel), so the names the issue mandates are
what is tested.

Scenarios, in order, each depending on the previous ones:
  1. settings: fill the account for alice, Save, see the untrusted certificate with the lab
     server's SHA-256 fingerprint, Trust certificate, see "Registered" (and Kamailio agrees);
     the password is in the keyring and in no file of the profile.
  2. call bob: dial, see "Connected" with a running timer; bob's 440 Hz is recorded from the
     speaker sink's monitor; a 1 kHz tone played into the microphone is in bob's recording;
     hang up; the History screen lists the outgoing call to bob.
  3. incoming from carol: linphonec calls alice, Answer, "Connected" (carol's 880 Hz on the
     speaker), carol hangs up, the UI returns to the dialpad.
  8. a second account: Add account erin in Settings, trust the certificate for erin, both
     accounts "Registered" (and both contacts in Kamailio); erin's password in the keyring.
  7. with both accounts: call bob, carol calls alice (call waiting), answer (bob held),
     switch, merge (the speaker carries both tones), hang up one leg, then the other.
  9. make erin the default, disable her (Kamailio drops her contact, alice stays), remove
     her (her keyring password is gone).
  10. phone, history and settings at 360 and 1100 px wide, light and dark (screenshots).
  4. wrong password (Edit alice): "Authentication failed", the app stays usable, the right password
     registers again.
  5. a sip: link given to a second launch of the same profile: the running app asks "Call
     sip:bob@...?", Call, "Connected", hang up.
  6. relaunch: quitting (SIGTERM) unregisters; the same profile registers on its own at
     launch (settings, pinned certificate and the password from the keyring).
"""
import argparse
import hashlib
import json
import math
import os
import re
import signal
import ssl
import struct
import subprocess
import sys
import time
import traceback
import wave

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from webdriver import ELEMENT, Driver, WebDriverError  # noqa: E402
import procs  # noqa: E402

CTL = os.path.join(ROOT, "tests", "lab", "ctl.sh")
TONE = os.path.join(ROOT, "tests", "lab", "tone.py")

PASSWORD = "alice-secret"
ERIN_PASSWORD = "erin-secret"
WRONG_PASSWORD = "not-alice-secret"
MIC_TONE_HZ = 1000
BOB_TONE_HZ = 440
CAROL_TONE_HZ = 880

# Bounds of every wait, in seconds.
T_UI = 20          # the window shows its first controls
T_REGISTER = 20    # a save or a trust leads to the expected registration status
T_CALL = 20        # a call reaches "Connected"
T_INCOMING = 20    # carol's INVITE reaches the incoming screen
T_IDLE = 15        # after a hang-up the dialpad is back (the ended text stays 5 s)
T_RECORDING = 10   # baresip writes its recording
T_EXIT = 15        # the app exits after its session ends

# Accessible roles mapped to the elements that may carry them (narrowing before asking the
# accessibility tree, which costs two requests per element).
ROLE_SELECTORS = {
    "button": "button, [role=button]",
    "textbox": "input:not([type]), input[type=text], input[type=password], input[type=search],"
               " input[type=url], input[type=email], input[type=tel], textarea",
    "status": "[role=status]",
    "any": "[aria-label], [aria-labelledby], [role]",
}

# A DOM-side approximation of the accessible name, only to pick candidates quickly.
FIND_JS = r"""
const [selector, name] = arguments;
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const text = (el) => {
  const c = el.cloneNode(true);
  c.querySelectorAll('input, select, textarea').forEach((x) => x.remove());
  return norm(c.textContent);
};
const label = (el) => {
  const a = el.getAttribute('aria-label');
  if (a !== null) return norm(a);
  const by = el.getAttribute('aria-labelledby');
  if (by) return norm(by.split(/\s+/).map((id) => {
    const t = document.getElementById(id);
    return t ? text(t) : '';
  }).join(' '));
  if (el.labels && el.labels.length) return norm(Array.from(el.labels).map(text).join(' '));
  return text(el);
};
const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
return Array.from(document.querySelectorAll(selector))
  .filter((el) => visible(el) && (name === null || label(el) === name));
"""

# Every visible control with a name, for failure reports.
CONTROLS_JS = r"""
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
return Array.from(document.querySelectorAll('button, input, select, textarea, [role], output, [aria-label]'))
  .filter((el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length))
  .map((el) => el.tagName.toLowerCase() + (el.getAttribute('role') ? '[role=' + el.getAttribute('role') + ']' : '')
       + ' "' + norm(el.getAttribute('aria-label') || el.textContent || el.value).slice(0, 80) + '"');
"""


class Failure(Exception):
    """A check that did not hold: the message says what was expected and what was seen."""


def norm(s):
    return re.sub(r"\s+", " ", s or "").strip()


def log(msg):
    print("e2e: %s" % msg, flush=True)


class AppTest:
    def __init__(self, args):
        self.args = args
        self.app = args.app
        self.lab = args.lab
        self.work = args.workdir
        self.art = args.artifacts
        self.profile = os.path.join(self.work, "profile")
        self.audio = os.path.join(self.work, "audio")
        os.makedirs(self.art, exist_ok=True)
        # Only what an earlier run of this test wrote there, so nothing stale is taken as new.
        for f in os.listdir(self.art):
            if re.fullmatch(r"\d\d-[a-z-]+\.png|failure\.png|failure-page\.html|results\.json", f):
                os.remove(os.path.join(self.art, f))
        os.makedirs(self.audio, exist_ok=True)
        if os.path.exists(self.profile):
            raise Failure("the profile %s must not exist yet (a fresh profile is the point)"
                          % self.profile)
        self.driver = None
        self.results = {"scenarios": [], "screenshots": [], "tones": {}}
        self.current = None
        self.shot_no = 0
        self.launch_ui_s = None

    # ------------------------------------------------------------------ app and driver
    def env(self):
        env = dict(os.environ)
        env["TAURI_WEBVIEW_AUTOMATION"] = "true"
        return env

    def launch(self):
        """Starts the driver (if needed) and the app with a session on it; returns the time
        the session was asked for."""
        if self.driver is None:
            self.driver = Driver(port=self.args.driver_port or None,
                                 log_path=os.path.join(self.work, "webdriver.log"), env=self.env())
            log("WebKitWebDriver on 127.0.0.1:%d (pid %d)" % (self.driver.port, self.driver.proc.pid))
        t0 = time.monotonic()
        self.driver.start_session(self.app, ["--profile", self.profile])
        log("app started (session %s, %.2f s)" % (self.driver.session, time.monotonic() - t0))
        self.wait("the window to show its navigation (button \"Settings\")",
                  lambda: self.find("button", "Settings"), T_UI)
        self.launch_ui_s = round(time.monotonic() - t0, 2)
        real = self.driver.execute(
            "return ('__TAURI_INTERNALS__' in window) && !('wrenMock' in window)")
        if not real:
            raise Failure("the UI runs on its mock backend, not on the Tauri shell")
        return t0

    def quit_app(self):
        """Quits the app with SIGTERM, waits for it to exit (so a relaunch is not taken for a
        second instance), then ends the WebDriver session."""
        kids = self.driver.children()
        # As a desktop session logging out does: SIGTERM, and the app quits cleanly.
        for pid in kids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + T_EXIT
        while any(alive(p) for p in kids):
            if time.monotonic() > deadline:
                raise Failure("the app (pids %s) did not exit within %d s of SIGTERM"
                              % (kids, T_EXIT))
            time.sleep(0.1)
        try:
            self.driver.end_session()
        except WebDriverError:
            pass  # the browser it drove has gone, as it should

    # ------------------------------------------------------------------ finding and waiting
    def find_all(self, role, name=None):
        """Visible elements with this accessible role and name (checked against the
        accessibility tree)."""
        d = self.driver
        found = []
        for el in d.execute(FIND_JS, ROLE_SELECTORS[role], name) or []:
            try:
                if name is not None:
                    # Exactly the name: a textbox wrapped in its <label> would be named with
                    # its value too ("Number or SIP address bob"), which screen readers read.
                    if norm(d.computed_label(el)) != name:
                        continue
                if role in ("button", "textbox", "status") and d.computed_role(el) != role:
                    continue
            except WebDriverError as e:
                if e.error in ("stale element reference", "no such element"):
                    continue
                raise
            found.append(el)
        return found

    def find(self, role, name=None):
        els = self.find_all(role, name)
        return els[0] if els else None

    def wait(self, what, predicate, timeout):
        """Polls `predicate` until it returns something true, at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                value = predicate()
                if value:
                    return value
            except WebDriverError as e:
                if e.error not in ("stale element reference", "no such element",
                                   "element not interactable"):
                    raise
                last = e
            if time.monotonic() > deadline:
                extra = "; last error: %s" % last if last else ""
                raise Failure("timed out after %g s waiting for %s (status: %s, alerts: %s)%s"
                              % (timeout, what, self.status_texts(), self.alert_texts(), extra))
            time.sleep(0.2)

    def element(self, role, name, timeout=T_UI):
        return self.wait('%s "%s"' % (role, name), lambda: self.find(role, name), timeout)

    def click(self, name, timeout=T_UI):
        self.driver.click(self.element("button", name, timeout))

    def fill(self, label, value):
        el = self.element("textbox", label)
        self.driver.clear(el)
        self.driver.send_keys(el, value)
        got = self.driver.execute("return arguments[0].value", el)
        if got != value:
            raise Failure('textbox "%s" holds %r after typing %r' % (label, got, value))

    def text_of(self, el):
        return norm(self.driver.execute("return arguments[0].textContent", el))

    def status_texts(self):
        try:
            return [self.text_of(el) for el in self.find_all("status")]
        except Exception as e:  # noqa: BLE001 - only for messages
            return ["<unreadable: %s>" % e]

    def wait_status(self, what, match, timeout=T_REGISTER):
        """Waits for a role="status" element whose text satisfies `match`; returns the text."""
        def check():
            for t in self.status_texts():
                if match(t):
                    return t
            return None
        return self.wait('the status to show %s' % what, check, timeout)

    def call_state(self):
        el = self.find("any", "Call state")
        return self.text_of(el) if el else None

    def screenshot(self, name):
        self.shot_no += 1
        path = os.path.join(self.art, "%02d-%s.png" % (self.shot_no, name))
        png = self.driver.screenshot()
        if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 1000:
            raise Failure("window screenshot %s is not a PNG image (%d bytes)" % (name, len(png)))
        with open(path, "wb") as f:
            f.write(png)
        self.results["screenshots"].append(path)
        log("screenshot %s" % path)

    def rss_mb(self):
        """Resident memory of the app and its web view processes, {process name: MiB}."""
        out = {}
        for root in self.driver.children():
            for pid in procs.tree(root):
                kb = procs.rss_kb(pid)
                if kb:
                    n = procs.name(pid)
                    out[n] = round(out.get(n, 0) + kb / 1024, 1)
        out["total"] = round(sum(out.values()), 1)
        return out

    # ------------------------------------------------------------------ lab and audio
    def ctl(self, *args, check=True):
        p = subprocess.run([CTL, self.lab, *args], capture_output=True, text=True, timeout=20)
        if check and p.returncode != 0:
            raise Failure("ctl.sh %s failed (%d): %s%s" % (" ".join(args), p.returncode,
                                                          p.stdout, p.stderr))
        return p

    def tone(self, path, expect, skip=0.5):
        p = subprocess.run([sys.executable, TONE, path, "--expect", str(expect),
                            "--skip", str(skip)], capture_output=True, text=True, timeout=120)
        try:
            res = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise Failure("tone.py %s gave no result: %s %s" % (path, p.stdout, p.stderr))
        if p.returncode != 0:
            raise Failure("%s: expected %d Hz, measured %s" % (path, expect, json.dumps(res)))
        return res

    def record_speaker(self, seconds, path):
        """Records the speaker sink's monitor (what the app plays) to a 48 kHz mono WAV."""
        cmd = ["parec", "--device=speaker.monitor", "--rate=48000", "--channels=1",
               "--format=s16le", "--latency-msec=20", "--raw"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        want = int(seconds * 48000) * 2
        data = bytearray()
        deadline = time.monotonic() + seconds + 5
        try:
            fd = proc.stdout.fileno()
            os.set_blocking(fd, False)
            while len(data) < want and time.monotonic() < deadline:
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    chunk = None
                if chunk == b"":
                    break
                if chunk:
                    data += chunk
                else:
                    time.sleep(0.02)
        finally:
            procs.stop(proc)
        if len(data) < want:
            raise Failure("parec recorded %d of %d bytes from speaker.monitor in %g s: %s"
                          % (len(data), want, seconds + 5, proc.stderr.read().decode(errors="replace")))
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(48000)
            w.writeframes(bytes(data[:want]))
        return path

    def make_mic_tone(self, seconds=30):
        path = os.path.join(self.audio, "mic-%d.wav" % MIC_TONE_HZ)
        amp = 0.5 * 32767  # -6 dBFS
        frames = b"".join(struct.pack("<h", int(amp * math.sin(2 * math.pi * MIC_TONE_HZ * i / 48000)))
                          for i in range(48000))
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(48000)
            for _ in range(seconds):
                w.writeframes(frames)
        return path

    def play_mic(self, path):
        return subprocess.Popen(["paplay", "--device=micfeed", "--latency-msec=20", path],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def bob_recordings(self):
        d = os.path.join(self.lab, "baresip-rec")
        return {f for f in os.listdir(d) if f.endswith("-dec.wav")}

    # ------------------------------------------------------------------ checks on the profile
    def check_password_not_in_files(self, password):
        hits = []
        for base, _dirs, files in os.walk(self.profile):
            for f in files:
                p = os.path.join(base, f)
                try:
                    with open(p, "rb") as fh:
                        if password.encode() in fh.read():
                            hits.append(p)
                except OSError:
                    pass
        if hits:
            raise Failure("the password is in plain text in %s (it belongs in the keyring)" % hits)

    def check_password_in_keyring(self, password):
        p = subprocess.run(["secret-tool", "search", "--all", "--unlock", "service",
                            "org.wren.softphone"], capture_output=True, text=True, timeout=20)
        out = p.stdout + p.stderr
        if ("secret = %s" % password) not in out:
            items = subprocess.run(
                ["gdbus", "call", "--session", "--dest", "org.freedesktop.secrets",
                 "--object-path", "/org/freedesktop/secrets/aliases/default",
                 "--method", "org.freedesktop.DBus.Properties.Get",
                 "org.freedesktop.Secret.Collection", "Items"],
                capture_output=True, text=True, timeout=20)
            raise Failure("the keyring has no item service=org.wren.softphone holding the "
                          "password; secret-tool said: %r; the default collection holds: %s %s"
                          % (re.sub(r"secret = .*", "secret = <hidden>", out), items.stdout,
                             items.stderr))
        attrs = re.findall(r"attribute\.(\S+) = (.*)", out)  # secret-tool prints these on stderr
        return dict(attrs)

    # ------------------------------------------------------------------ scenarios
    def scenario(self, name, fn):
        self.current = name
        log("---- scenario: %s" % name)
        t0 = time.monotonic()
        info = fn() or {}
        dt = round(time.monotonic() - t0, 2)
        self.results["scenarios"].append({"name": name, "seconds": dt, **info})
        log("PASS %s (%.1f s) %s" % (name, dt, json.dumps(info) if info else ""))

    def s1_settings_trust_registered(self):
        self.launch()
        self.click("Settings")
        self.fill("Display name", "Alice E2E")
        self.fill("SIP address", "alice@127.0.0.1")
        self.fill("Authentication username", "alice")
        self.fill("Password", PASSWORD)
        self.fill("WebSocket server", "wss://127.0.0.1:18443")
        self.screenshot("settings")
        self.click("Save")
        trust = self.element("button", "Trust certificate", T_REGISTER)
        status = self.wait_status('"Certificate not trusted"', lambda t: "Certificate not trusted" in t)
        fp_el = self.element("any", "Certificate fingerprint")
        shown = re.sub(r"[^0-9a-f]", "", self.text_of(fp_el).lower())
        want = lab_fingerprint(os.path.join(self.lab, "server.pem"))
        if shown != want:
            raise Failure("the fingerprint shown (%s) is not the lab server's SHA-256 (%s)"
                          % (shown, want))
        self.screenshot("untrusted-certificate")
        self.driver.click(trust)
        t_trust = time.monotonic()
        self.wait_status('"Registered"', lambda t: t == "Registered")
        registered_s = time.monotonic() - t_trust
        if self.ctl("registered", "alice", check=False).returncode != 0:
            raise Failure('the UI says "Registered" but Kamailio has no contact for alice')
        self.click("Phone")
        self.element("textbox", "Number or SIP address")
        self.no_alerts("registered")
        self.screenshot("registered")
        self.results["rss_mb_registered_idle"] = self.rss_mb()
        self.check_password_not_in_files(PASSWORD)
        attrs = self.check_password_in_keyring(PASSWORD)
        return {"status_before_trust": status, "fingerprint": want,
                "trust_to_registered_s": round(registered_s, 2),
                "launch_to_ui_s": self.launch_ui_s,
                "keyring_attributes": attrs}

    def s2_call_bob(self):
        self.click("Phone")
        before = self.bob_recordings()
        self.fill("Number or SIP address", "bob")
        mic_wav = self.make_mic_tone()
        t0 = time.monotonic()
        self.click("Call")
        self.wait('"Call state" to be "Connected" (calling bob)',
                  lambda: self.call_state() == "Connected", T_CALL)
        setup_s = time.monotonic() - t0
        mic = self.play_mic(mic_wav)
        try:
            timer = self.element("any", "Call duration", 5)
            first = self.text_of(timer)
            speaker = self.record_speaker(3.0, os.path.join(self.audio, "speaker-bob.wav"))
            second = self.text_of(self.element("any", "Call duration", 5))
            if duration_s(second) <= duration_s(first):
                raise Failure("the call timer does not run: %r, then %r 3 s later" % (first, second))
            self.screenshot("active-call")
            self.results["rss_mb_in_call"] = self.rss_mb()
            heard = self.tone(speaker, BOB_TONE_HZ)
            self.results["tones"]["speaker_from_bob"] = heard
            meters = self.wait("the level meters to show the microphone's and bob's tones"
                               " (above -50 dBFS)", self.levels_up, 5)
            time.sleep(1.0)  # some more microphone tone for bob's recording
            state = self.call_state()
            if state != "Connected":
                raise Failure('"Call state" became %r during the call' % state)
            self.click("Hang up")
        finally:
            mic.terminate()
            mic.wait(5)
        self.wait("the dialpad to come back after hanging up (\"Number or SIP address\")",
                  lambda: self.find("textbox", "Number or SIP address") and self.call_state() is None,
                  T_IDLE)
        self.no_alerts("after hanging up")
        rec = self.wait("bob's recording of this call (a new baresip-rec/*-dec.wav)",
                        lambda: self.bob_recordings() - before, T_RECORDING)
        if len(rec) != 1:
            raise Failure("expected one new recording from bob, found %s" % sorted(rec))
        rec_path = os.path.join(self.lab, "baresip-rec", rec.pop())
        wait_stable(rec_path, T_RECORDING)
        sent = self.tone(rec_path, MIC_TONE_HZ, skip=1.0)
        self.results["tones"]["bob_heard_mic"] = sent
        self.click("History")
        entry = self.wait('a "Past calls" entry "Outgoing" to bob in History',
                          lambda: self.history_entry("Outgoing", "bob"), T_UI)
        self.screenshot("history")
        return {"setup_s": round(setup_s, 2), "timer": [first, second],
                "speaker_hz": heard["peak_hz"], "speaker_dbfs": heard["rms_dbfs"],
                "bob_recording": rec_path, "bob_heard_hz": sent["peak_hz"],
                "bob_heard_dbfs": sent["rms_dbfs"], "meters_dbfs": meters, "history_entry": entry}

    def levels_up(self):
        """The call screen's meters as {name: dBFS} once both show more than silence."""
        levels = {}
        for name in ("Microphone level", "Speaker level"):
            el = self.find("any", name)
            if el is None:
                return None
            now = self.driver.execute("return arguments[0].getAttribute('aria-valuenow')", el)
            levels[name] = float(now) if now is not None else None
        return levels if all(v is not None and v > -50 for v in levels.values()) else None

    def alert_texts(self):
        try:
            return [self.text_of(el) for el in self.driver.execute(
                "return Array.from(document.querySelectorAll('[role=alert]'))"
                ".filter((el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length))")]
        except Exception as e:  # noqa: BLE001 - only for messages
            return ["<unreadable: %s>" % e]

    def no_alerts(self, where):
        alerts = self.alert_texts()
        if alerts:
            raise Failure("%s, the app shows an error: %s" % (where, alerts))

    def history_entry(self, kind, who):
        lists = self.find_all("any", "Past calls")
        if not lists:
            return None
        entries = self.driver.execute(
            "return Array.from(arguments[0].querySelectorAll('li'))"
            ".map((li) => li.textContent.replace(/\\s+/g, ' ').trim())", lists[0])
        for e in entries:
            if e.startswith(kind) and who in e and "Failed" not in e:
                return e
        return None

    def s3_incoming_from_carol(self):
        self.click("Phone")
        self.element("textbox", "Number or SIP address")
        self.ctl("linphone", "call sip:alice@127.0.0.1")
        answer = self.element("button", "Answer", T_INCOMING)
        incoming = [norm(self.driver.computed_label(el)) for el in self.driver.execute(
            "return Array.from(document.querySelectorAll('[aria-label^=\\'Incoming call from\\']'))")]
        if not any("carol" in s for s in incoming):
            raise Failure("the incoming screen does not name carol: %s" % incoming)
        self.element("button", "Decline", 2)
        self.screenshot("incoming")
        self.driver.click(answer)
        self.wait('"Call state" to be "Connected" (carol\'s call answered)',
                  lambda: self.call_state() == "Connected", T_CALL)
        self.element("any", "Call duration", 5)
        speaker = self.record_speaker(2.0, os.path.join(self.audio, "speaker-carol.wav"))
        heard = self.tone(speaker, CAROL_TONE_HZ)
        self.results["tones"]["speaker_from_carol"] = heard
        self.screenshot("incoming-answered")
        self.ctl("linphone", "terminate")
        ended = self.wait('"Call state" to be "Call ended" (carol hung up)',
                          lambda: self.call_state() == "Call ended" and self.call_state(), T_IDLE)
        self.wait("the dialpad to come back after carol hung up",
                  lambda: self.find("textbox", "Number or SIP address") and self.call_state() is None,
                  T_IDLE)
        self.no_alerts("after carol's call")
        self.click("History")
        entry = self.wait('a "Past calls" entry "Incoming" from carol in History',
                          lambda: self.history_entry("Incoming", "carol"), T_UI)
        self.click("Phone")
        return {"incoming": incoming, "ended": ended, "speaker_hz": heard["peak_hz"],
                "speaker_dbfs": heard["rms_dbfs"], "history_entry": entry}

    def buttons_starting(self, prefix):
        """Visible buttons whose accessible name starts with `prefix` (names say whose call
        they act on when there are several: "Hang up Bob")."""
        d = self.driver
        out = []
        for el in d.execute(FIND_JS, ROLE_SELECTORS["button"], None) or []:
            try:
                if norm(d.computed_label(el)).startswith(prefix):
                    out.append(el)
            except WebDriverError as e:
                if e.error in ("stale element reference", "no such element"):
                    continue
                raise
        return out

    def call_states(self):
        return sorted(self.text_of(el) for el in self.find_all("any", "Call state"))

    def s7_call_waiting_switch_merge(self):
        self.click("Phone")
        self.fill("Number or SIP address", "bob")
        self.click("Call")
        self.wait('"Call state" to be "Connected" (calling bob)',
                  lambda: self.call_states() == ["Connected"], T_CALL)
        self.ctl("linphone", "call sip:alice@127.0.0.1")
        answer = self.wait("an Answer button for carol's waiting call",
                           lambda: self.buttons_starting("Answer"), T_INCOMING)[0]
        waiting = self.wait('the incoming call shown as "Call waiting from" carol',
                            lambda: [t for t in (self.text_of(el) for el in self.driver.execute(
                                "return Array.from(document.querySelectorAll("
                                "'[aria-label^=\\'Incoming call from\\']'))"))
                                if t.startswith("Call waiting from")], T_UI)
        self.screenshot("call-waiting")
        self.driver.click(answer)
        self.wait("carol connected and bob on hold",
                  lambda: self.call_states() == ["Connected", "On hold"], T_CALL)
        self.screenshot("waiting-answered-bob-held")
        switch = self.wait('a "Switch to" button', lambda: self.buttons_starting("Switch to"), T_UI)
        held_before = self.driver.computed_label(switch[0])
        self.driver.click(switch[0])
        self.wait("the other call on hold after switching",
                  lambda: self.call_states() == ["Connected", "On hold"]
                  and all(norm(self.driver.computed_label(b)) != norm(held_before)
                          for b in self.buttons_starting("Switch to")), T_CALL)
        self.screenshot("switched")
        self.click("Merge")
        self.wait("both calls in the conference",
                  lambda: self.call_states() == ["In conference", "In conference"], T_CALL)
        # The app's cost in a two-call conference: CPU of the app process (not WebKit) over 5 s,
        # and memory.
        apps = [pid for root in self.driver.children() for pid in procs.tree(root)
                if procs.name(pid).startswith("wren")]
        t0, c0 = time.monotonic(), sum(procs.cpu_ticks(p) for p in apps)
        time.sleep(3.0)
        speaker = self.record_speaker(2.0, os.path.join(self.audio, "speaker-conference.wav"))
        dt, dc = time.monotonic() - t0, sum(procs.cpu_ticks(p) for p in apps) - c0
        self.results["conference_cpu_percent_app"] = round(
            100.0 * dc / os.sysconf("SC_CLK_TCK") / dt, 1)
        self.results["rss_mb_in_conference"] = self.rss_mb()
        shares = {}
        for hz in (BOB_TONE_HZ, CAROL_TONE_HZ):
            p = subprocess.run([sys.executable, TONE, speaker, "--expect", str(hz), "--skip", "0.2"],
                               capture_output=True, text=True, timeout=120)
            shares[hz] = json.loads(p.stdout.strip().splitlines()[-1]).get("power_share_at_expect", 0.0)
        if not all(share > 0.2 for share in shares.values()):
            raise Failure("the conference's speaker should carry bob's and carol's tones: %s"
                          % shares)
        self.screenshot("conference")
        # Each leg's timer kept running through hold, switch and merge: both calls have been
        # up for at least the 5 s measured above, bob (called first) no less than carol.
        timers = [duration_s(self.text_of(el)) for el in self.find_all("any", "Call duration")]
        if len(timers) != 2 or min(timers) < 5:
            raise Failure("each conference leg should show a timer of 5 s or more, found %s"
                          % timers)
        legs = self.buttons_starting("Hang up")
        names = [norm(self.driver.computed_label(b)) for b in legs]
        carol = [b for b, n in zip(legs, names) if "bob" not in n.lower()]
        if len(legs) != 2 or len(carol) != 1:
            raise Failure("expected a named Hang up button per leg, found %s" % names)
        self.driver.click(carol[0])
        self.wait("bob alone, connected, after carol's leg was hung up",
                  lambda: self.call_states() == ["Connected"], T_CALL)
        self.screenshot("one-leg-left")
        self.click("Hang up")
        self.wait("the dialpad to come back", lambda: self.find("textbox", "Number or SIP address")
                  and not self.call_states(), T_IDLE)
        self.no_alerts("after the conference")
        return {"waiting": waiting, "hang_up_buttons": names, "speaker_shares": shares,
                "leg_timers_s": timers}

    def s8_second_account(self):
        """Add erin beside alice in Settings: her own certificate trust and keyring password;
        both registered at once (Kamailio has both contacts)."""
        self.click("Settings")
        self.click("Add account")
        self.fill("Display name", "Erin E2E")
        self.fill("SIP address", "erin@%s" % self.domain())
        self.fill("Authentication username", "erin")
        self.fill("Password", ERIN_PASSWORD)
        self.fill("WebSocket server", "wss://127.0.0.1:18443")
        self.click("Save")
        # The pin is per account: erin's connection asks for its own trust.
        self.click("Trust certificate for erin@%s" % self.domain(), T_REGISTER)
        self.wait("both accounts to show \"Registered\"",
                  lambda: self.status_texts().count("Registered") >= 2, T_REGISTER)
        for user in ("alice", "erin"):
            if self.ctl("registered", user, check=False).returncode != 0:
                raise Failure("the UI says both are registered but Kamailio has no contact "
                              "for %s" % user)
        self.element("any", "Enable erin@%s" % self.domain())
        self.screenshot("settings-two-accounts")
        self.click("Phone")
        self.element("textbox", "Number or SIP address")
        self.screenshot("phone-two-accounts")
        self.check_password_not_in_files(ERIN_PASSWORD)
        self.check_password_in_keyring(ERIN_PASSWORD)
        return {"registered": ["alice", "erin"]}

    def s9_default_disable_remove(self):
        """Make erin the default, disable her (she unregisters, alice stays), then remove her
        (her keyring password goes too)."""
        erin = "erin@%s" % self.domain()
        self.click("Settings")
        self.click("Make %s the default" % erin)
        self.wait("alice to offer being made the default instead",
                  lambda: self.find("button", "Make alice@%s the default" % self.domain()),
                  T_UI)
        toggle = self.element("any", "Enable %s" % erin)
        self.driver.click(toggle)
        self.wait("Kamailio to drop erin's contact once she is disabled",
                  lambda: self.ctl("registered", "erin", check=False).returncode != 0,
                  T_REGISTER)
        if self.ctl("registered", "alice", check=False).returncode != 0:
            raise Failure("disabling erin unregistered alice too")
        self.screenshot("erin-disabled")
        self.click("Remove %s" % erin)
        dialog_button = self.wait("the confirmation's Remove button",
                                  lambda: [b for b in self.find_all("button", "Remove")], T_UI)[0]
        self.driver.click(dialog_button)
        self.wait("erin to leave the list",
                  lambda: not self.find("button", "Edit %s" % erin), T_UI)
        p = subprocess.run(["secret-tool", "search", "--all", "--unlock", "service",
                            "org.wren.softphone"], capture_output=True, text=True, timeout=20)
        if ("secret = %s" % ERIN_PASSWORD) in p.stdout + p.stderr:
            raise Failure("erin's password is still in the keyring after removing her account")
        self.wait_status('"Registered" for alice alone', lambda t: t == "Registered")
        return {}

    def s10_gallery(self):
        """Screenshots of the phone, history and settings screens at a narrow and a wide window,
        light and dark, for a person to judge (the checks: the window really took each size
        and the theme each colour scheme)."""
        shots = []
        for theme in ("light", "dark"):
            self.click("Settings")
            self.set_theme(theme)
            self.wait("the %s theme to apply" % theme, lambda: self.driver.execute(
                "return document.documentElement.dataset.theme") == theme, T_UI)
            for name, (w, h) in (("narrow", (360, 680)), ("wide", (1100, 720))):
                self.driver.set_window_size(w, h)
                self.wait("the window to be %d px wide" % w, lambda: abs(self.driver.execute(
                    "return window.innerWidth") - w) <= 40, T_UI)
                for screen in ("Phone", "History", "Settings"):
                    self.click(screen)
                    self.screenshot("%s-%s-%s" % (screen.lower(), name, theme))
                    shots.append("%s-%s-%s" % (screen.lower(), name, theme))
        # Back to how the other scenarios found it.
        self.click("Settings")
        self.set_theme("system")
        self.driver.set_window_size(420, 680)
        self.click("Phone")
        return {"screenshots": len(shots)}

    def set_theme(self, theme):
        """Picks `theme` in the Settings screen's "Theme" select (its label is a <label for>)."""
        ok = self.wait('the "Theme" select', lambda: self.driver.execute(
            "const s = [...document.querySelectorAll('select')].find(e =>"
            " e.labels && [...e.labels].some(l => l.textContent.trim() === 'Theme'));"
            "if (!s) return false;"
            "s.value = arguments[0]; s.dispatchEvent(new Event('change', {bubbles: true}));"
            "return true;", theme), T_UI)
        return ok

    def s4_wrong_password(self):
        self.click("Settings")
        self.click("Edit alice@%s" % self.domain())
        self.fill("Password", WRONG_PASSWORD)
        self.click("Save")
        failed = self.wait_status('"Authentication failed"', lambda t: "Authentication failed" in t)
        self.screenshot("auth-failed")
        # Still usable: the phone screen and the settings open, and the right password works.
        self.click("Phone")
        self.element("textbox", "Number or SIP address")
        self.click("Settings")
        self.click("Edit alice@%s" % self.domain())
        self.fill("Password", PASSWORD)
        self.click("Save")
        self.wait_status('"Registered" again after fixing the password', lambda t: t == "Registered")
        self.no_alerts("registered again")
        self.check_password_not_in_files(WRONG_PASSWORD)
        self.check_password_not_in_files(PASSWORD)
        self.check_password_in_keyring(PASSWORD)
        return {"status": failed}

    def s5_dial_link(self):
        """A sip: link handed to a second launch (as the desktop entry's `%u` does): the
        running app comes forward, asks, and dials on "Call"."""
        self.click("Phone")
        link = "sip:bob@%s" % self.domain()
        p = subprocess.run([self.app, "--profile", self.profile, link], env=self.env(),
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise Failure("the second launch with %s exited %d: %s" % (link, p.returncode,
                                                                      p.stderr[-2000:]))
        dialog = self.element("any", "Call %s?" % link, T_UI)
        self.screenshot("dial-link-confirm")
        confirm = self.driver.execute("return arguments[0].querySelector('button')", dialog)
        if norm(self.text_of(confirm)) != "Call":
            raise Failure("the link's question has no \"Call\" button first: %r"
                          % self.text_of(confirm))
        self.driver.click(confirm)
        self.wait('"Call state" to be "Connected" (bob, from the link)',
                  lambda: self.call_state() == "Connected", T_CALL)
        self.click("Hang up")
        self.wait("the dialpad to come back after hanging up the linked call",
                  lambda: self.find("textbox", "Number or SIP address") and self.call_state() is None,
                  T_IDLE)
        return {"link": link}

    def domain(self):
        with open(os.path.join(self.lab, "lab.env")) as f:
            for line in f:
                if line.startswith("WREN_LAB_DOMAIN="):
                    return line.strip().split("=", 1)[1]
        raise Failure("lab.env has no WREN_LAB_DOMAIN")

    def s6_relaunch(self):
        self.quit_app()
        # Quitting unregisters: Kamailio no longer has a contact for alice.
        if self.ctl("registered", "alice", check=False).returncode == 0:
            raise Failure("alice is still registered after the app quit (no REGISTER with "
                          "Expires: 0)")
        t0 = self.launch()
        self.wait_status('"Registered" after a relaunch with the saved profile (no input)',
                         lambda t: t == "Registered", T_REGISTER)
        return {"launch_to_registered_s": round(time.monotonic() - t0, 2)}

    # ------------------------------------------------------------------ failure report
    def report_failure(self, err):
        print("\ne2e: FAIL in scenario %r: %s" % (self.current, err), file=sys.stderr, flush=True)
        if not isinstance(err, Failure):
            traceback.print_exception(type(err), err, err.__traceback__)
        xvfb = os.environ.get("WREN_E2E_XVFB_PID")
        if xvfb and not alive(int(xvfb)):
            print("e2e: Xvfb (pid %s) is gone" % xvfb, file=sys.stderr)
        if self.driver and self.driver.session:
            try:
                src = self.driver.source()
                path = os.path.join(self.art, "failure-page.html")
                with open(path, "w") as f:
                    f.write(src)
                print("e2e: page source (%s):\n%s" % (path, src), file=sys.stderr)
                print("e2e: visible controls: %s" % json.dumps(self.driver.execute(CONTROLS_JS), indent=1),
                      file=sys.stderr)
                png = self.driver.screenshot()
                with open(os.path.join(self.art, "failure.png"), "wb") as f:
                    f.write(png)
                print("e2e: failure screenshot %s" % os.path.join(self.art, "failure.png"), file=sys.stderr)
            except Exception as e:  # noqa: BLE001
                print("e2e: could not read the page: %s" % e, file=sys.stderr)
        tail("app log", os.path.join(self.profile, "logs", "wren.log"), 80)
        tail("WebKitWebDriver log", os.path.join(self.work, "webdriver.log"), 30)
        for name in ("kamailio.log", "baresip.log", "linphone.log"):
            tail("lab " + name, os.path.join(self.lab, name), 25)

    def run(self):
        ok = False
        t0 = time.monotonic()
        try:
            self.scenario("1 settings, trust certificate, registered", self.s1_settings_trust_registered)
            self.scenario("2 call bob, audio both ways, history", self.s2_call_bob)
            self.scenario("3 incoming call from carol", self.s3_incoming_from_carol)
            self.scenario("8 a second account in settings, both registered",
                          self.s8_second_account)
            self.scenario("7 call waiting, answer, switch, merge, hang up one leg (two accounts)",
                          self.s7_call_waiting_switch_merge)
            self.scenario("9 default account, disable, remove", self.s9_default_disable_remove)
            self.scenario("10 screens at narrow and wide sizes, light and dark", self.s10_gallery)
            self.scenario("4 wrong password, then fixed", self.s4_wrong_password)
            self.scenario("5 a sip: link opened while running dials", self.s5_dial_link)
            self.scenario("6 relaunch registers from the saved profile", self.s6_relaunch)
            ok = True
        except Exception as e:  # noqa: BLE001 - reported, then the run fails
            self.report_failure(e)
        finally:
            if self.driver:
                self.driver.stop()
            self.results["ok"] = ok
            self.results["seconds"] = round(time.monotonic() - t0, 1)
            with open(os.path.join(self.art, "results.json"), "w") as f:
                json.dump(self.results, f, indent=1)
        for key in ("rss_mb_registered_idle", "rss_mb_in_call"):
            if key in self.results:
                log("%s: %s" % (key, json.dumps(self.results[key])))
        log("screenshots and results in %s" % self.art)
        log("%s in %.1f s" % ("ALL SCENARIOS PASSED" if ok else "FAILED", time.monotonic() - t0))
        return 0 if ok else 1


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def lab_fingerprint(pem_path):
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def duration_s(text):
    """Seconds of a "m:ss" or "h:mm:ss" timer text."""
    parts = text.strip().split(":")
    if not parts or not all(p.isdigit() for p in parts):
        raise Failure("the call timer shows %r, not a duration" % text)
    s = 0
    for p in parts:
        s = s * 60 + int(p)
    return s


def wait_stable(path, timeout):
    """Waits until a file stops growing (the recorder closed it or idles)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        size = os.path.getsize(path)
        if size == last and size > 44:
            return
        last = size
        time.sleep(0.5)
    raise Failure("%s still growing after %d s (bob still in the call?)" % (path, timeout))


def tail(title, path, n):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()[-n:]
    except OSError as e:
        print("e2e: no %s (%s)" % (title, e), file=sys.stderr)
        return
    print("e2e: ---- %s, last %d lines (%s)" % (title, n, path), file=sys.stderr)
    sys.stderr.write("".join(lines))
    sys.stderr.flush()


def on_sigterm(signum, _frame):
    raise Failure("interrupted by signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--app", required=True, help="the wren-desktop binary (UI embedded)")
    ap.add_argument("--lab", required=True, help="the running lab's RUNDIR")
    ap.add_argument("--workdir", required=True, help="scratch dir (profile, audio, logs)")
    ap.add_argument("--artifacts", required=True, help="where screenshots go")
    ap.add_argument("--driver-port", type=int, default=0, help="WebKitWebDriver port (0: pick)")
    args = ap.parse_args()
    for var in ("DISPLAY", "PULSE_SERVER", "DBUS_SESSION_BUS_ADDRESS"):
        if not os.environ.get(var):
            sys.exit("e2e: %s is not set: run tests/e2e/run.sh" % var)
    if not os.access(args.app, os.X_OK):
        sys.exit("e2e: app binary %s is not executable" % args.app)
    if not os.path.exists(os.path.join(args.lab, "lab.env")):
        sys.exit("e2e: %s is not a running lab (no lab.env)" % args.lab)
    try:
        test = AppTest(args)
    except Failure as e:
        sys.exit("e2e: %s" % e)
    return test.run()


if __name__ == "__main__":
    sys.exit(main())
