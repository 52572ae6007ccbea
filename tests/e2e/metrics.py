#!/usr/bin/env python3
"""Whole-app figures for the desktop app, side by side with the lab's baresip and linphonec.

Run by `tests/e2e/run.sh --metrics`, which provides Xvfb, PulseAudio (default source "mic"),
a D-Bus session with gnome-keyring, and the lab. Standard library only.

Measures, for a ready profile (alice, the lab certificate pinned, the password in a 0600 file):
  - launch to registered: from spawning the app to alice's contact in Kamailio's ul.dump;
  - RSS idle (the app process, and the app with its WebKit processes), 10 s after registering;
  - CPU over 60 s idle while registered, for Wren (process tree, and the app process alone:
    the rest is WebKit drawing the UI), baresip and linphonec (both
    also registered and idle in the same 60 s), with the ratios;
  - during a call to bob (placed through a `sip:` link handed to a second launch, which the
    running instance dials): RSS, and CPU over 20 s for Wren and for baresip, which is the far
    end of the same call (same codec, same packet rate), with the ratio.
Prints one JSON line (the last line of stdout); exits 1 if a step fails.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CTL = os.path.join(ROOT, "tests", "lab", "ctl.sh")
sys.path.insert(0, HERE)
from procs import TICK, cpu_ticks, rss_kb, stop, thread_ticks, tree  # noqa: E402

IDLE_CPU_S = 60
CALL_CPU_S = 20


def log(msg):
    print("metrics: %s" % msg, file=sys.stderr, flush=True)


def cpu_percent(groups, seconds):
    """CPU use (% of one core) of each group of pids over the same `seconds`."""
    before = {k: sum(cpu_ticks(p) for p in pids) for k, pids in groups.items()}
    time.sleep(seconds)
    after = {k: sum(cpu_ticks(p) for p in pids) for k, pids in groups.items()}
    return {k: round(100.0 * (after[k] - before[k]) / TICK / seconds, 2) for k in groups}


def ratio(a, b):
    return round(a / b, 2) if b else None


def lab_pids(lab):
    pids = {}
    with open(os.path.join(lab, "pids")) as f:
        for line in f:
            name, pid = line.split()
            pids[name] = int(pid)
    return pids


def registered(lab, user):
    return subprocess.run([CTL, lab, "registered", user], capture_output=True).returncode == 0


def wait(what, predicate, timeout, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(step)
    raise RuntimeError("timed out after %ss waiting for %s" % (timeout, what))


def write_profile(profile, lab_env, fingerprint):
    os.makedirs(profile)
    settings = {
        "display_name": "Alice",
        "sip_address": "alice@%s" % lab_env["WREN_LAB_DOMAIN"],
        "auth_user": "",
        "server": lab_env["WREN_LAB_WSS"],
        "register_expires": 600,
        "password_storage": "file",
        "trusted_certificate": fingerprint,
    }
    with open(os.path.join(profile, "settings.json"), "w") as f:
        json.dump(settings, f)
    fd = os.open(os.path.join(profile, "password"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"alice-secret")
    os.close(fd)
    # Links dial at once (no confirmation), so a second launch can place the call.
    prefs = {
        "audio": {"microphone": None, "speaker": None, "ringer": None, "ringtone": "classic"},
        "codecs": [{"name": n, "enabled": True} for n in ("opus", "pcmu", "pcma")],
        "app": {"start_at_login": False, "close_to_tray": False, "notifications": False,
                "theme": "system", "confirm_links": False, "do_not_disturb": False},
    }
    with open(os.path.join(profile, "preferences.json"), "w") as f:
        json.dump(prefs, f)


def read_env(lab):
    env = {}
    with open(os.path.join(lab, "lab.env")) as f:
        for line in f:
            if "=" in line:
                k, v = line.strip().split("=", 1)
                env[k] = v.strip("'\"")
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", required=True)
    ap.add_argument("--lab", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    lab_env = read_env(args.lab)
    fp = subprocess.run(["openssl", "x509", "-in", os.path.join(args.lab, "server.pem"),
                         "-noout", "-fingerprint", "-sha256"], capture_output=True, text=True,
                        check=True).stdout.strip().split("=", 1)[1]
    profile = os.path.join(args.workdir, "metrics-profile")
    write_profile(profile, lab_env, fp)
    env = dict(os.environ, WREN_PROFILE_DIR=profile)
    peers = lab_pids(args.lab)
    for name in ("baresip", "linphonec"):
        if name not in peers:
            raise RuntimeError("the lab has no %s pid (%s)" % (name, sorted(peers)))
    if registered(args.lab, "alice"):
        raise RuntimeError("alice is already registered: another client is using the lab")

    out = {}
    t0 = time.monotonic()
    app = subprocess.Popen([args.app], env=env, stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(args.workdir, "metrics-app.err"), "w"))
    try:
        wait("alice registered in Kamailio", lambda: registered(args.lab, "alice"), 60)
        out["launch_to_registered_s"] = round(time.monotonic() - t0, 2)
        log("registered %.2f s after launch" % out["launch_to_registered_s"])
        time.sleep(10)
        wren = tree(app.pid)
        out["rss_idle_mb"] = {"app": round(rss_kb(app.pid) / 1024, 1),
                              "app_and_webkit": round(sum(rss_kb(p) for p in wren) / 1024, 1),
                              "baresip": round(rss_kb(peers["baresip"]) / 1024, 1),
                              "linphonec": round(rss_kb(peers["linphonec"]) / 1024, 1)}
        log("idle RSS %s; measuring idle CPU over %d s" % (out["rss_idle_mb"], IDLE_CPU_S))
        cpu = cpu_percent({"wren": wren, "wren_app_only": [app.pid],
                           "baresip": [peers["baresip"]],
                           "linphonec": [peers["linphonec"]]}, IDLE_CPU_S)
        cpu["wren_vs_linphonec"] = ratio(cpu["wren"], cpu["linphonec"])
        cpu["wren_vs_baresip"] = ratio(cpu["wren"], cpu["baresip"])
        out["cpu_idle_percent_of_core"] = cpu
        log("idle CPU %s" % cpu)

        recdir = lab_env.get("BARESIP_REC_DIR", os.path.join(args.lab, "baresip-rec"))
        before = set(os.listdir(recdir)) if os.path.isdir(recdir) else set()
        link = "sip:bob@%s" % lab_env["WREN_LAB_DOMAIN"]
        second = subprocess.run([args.app, link], env=env, capture_output=True, timeout=30)
        log("second launch with %s exited %d" % (link, second.returncode))
        wait("bob's recording of the call", lambda: os.path.isdir(recdir)
             and len(set(os.listdir(recdir)) - before) > 0, 30, step=0.1)
        time.sleep(5)
        wren = tree(app.pid)
        out["rss_call_mb"] = {"app": round(rss_kb(app.pid) / 1024, 1),
                              "app_and_webkit": round(sum(rss_kb(p) for p in wren) / 1024, 1)}
        threads_before = thread_ticks(app.pid)
        cpu = cpu_percent({"wren": wren, "wren_app_only": [app.pid],
                           "baresip": [peers["baresip"]]}, CALL_CPU_S)
        threads = {k: round(100.0 * (v - threads_before.get(k, 0)) / TICK / CALL_CPU_S, 2)
                   for k, v in thread_ticks(app.pid).items()}
        out["cpu_call_app_threads"] = dict(sorted(threads.items(), key=lambda kv: -kv[1])[:6])
        cpu["wren_vs_baresip"] = ratio(cpu["wren"], cpu["baresip"])
        out["cpu_call_percent_of_core"] = cpu
        log("in call: RSS %s, CPU %s" % (out["rss_call_mb"], cpu))
        subprocess.run([CTL, args.lab, "baresip-hangup"], capture_output=True)
    finally:
        stop(app, 15)
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - one clear line, then a failing exit
        log("FAILED: %s" % e)
        sys.exit(1)
