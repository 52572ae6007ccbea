//! `wren` against real software nobody here wrote: Kamailio (WSS registrar and proxy),
//! baresip and linphonec (UDP far ends), and a second `wren`. Audio is checked by frequency
//! and level in both directions.
//!
//! Needs a running lab: `tests/run.sh` starts one and sets `WREN_LAB_DIR` and `WREN_BIN`.
//! Without them every test fails, loudly, by design.

mod common;

use common::LabDir;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use wren_testkit::tone::{analyse_wav, ToneReport};

const WREN_TONE: f32 = 1000.0;
const ANSWER_TONE: f32 = 1200.0;

struct Lab {
    lab: common::Lab,
    bin: PathBuf,
}

impl std::ops::Deref for Lab {
    type Target = LabDir;
    fn deref(&self) -> &LabDir {
        &self.lab
    }
}

fn lab() -> Lab {
    let lab = common::lab();
    let bin = PathBuf::from(std::env::var("WREN_BIN").expect("WREN_BIN is not set"));
    assert!(bin.is_file(), "WREN_BIN {} does not exist", bin.display());
    Lab { lab, bin }
}

/// A finished `wren` run: exit status, the JSON last line, stderr.
struct Run {
    ok: bool,
    json: Value,
    stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let last = stdout.lines().last().unwrap_or_default();
        let json = serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("last stdout line is not JSON ({e}): {stdout}\n{stderr}"));
        Self {
            ok: out.status.success(),
            json,
            stderr,
        }
    }

    fn s(&self, key: &str) -> &str {
        self.json[key].as_str().unwrap_or_default()
    }

    fn n(&self, key: &str) -> f64 {
        self.json[key].as_f64().unwrap_or(-1.0)
    }

    fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }

    /// Asserts a failure (exit status and JSON) with this error code.
    fn fails_with(&self, code: &str) {
        assert!(!self.ok, "exit status 0 for a failure: {}", self.json);
        assert_eq!(self.s("result"), "failed", "{}", self.json);
        assert_eq!(self.error_code(), code, "{}\n{}", self.json, self.stderr);
    }

    fn expect(&self, result: &str) -> &Self {
        assert_eq!(
            self.s("result"),
            result,
            "json {}\nstderr:\n{}",
            self.json,
            self.stderr
        );
        self
    }
}

impl Lab {
    fn wren(&self, user: &str, password: &str) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("WREN_SERVER", self.get("WREN_LAB_WSS"))
            .env("WREN_USER", user)
            .env("WREN_PASSWORD", password)
            .env("WREN_CA", self.get("WREN_LAB_CA"))
            .env("WREN_LOG", "warn");
        cmd
    }

    fn account(&self, user: &str) -> Command {
        self.wren(user, &format!("{user}-secret"))
    }

    fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.dir.join("interop");
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    /// Waits until `user` has a binding at Kamailio (a background `wren answer` registered).
    fn wait_registered(&self, user: &str, child: &mut Child) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.registered(user) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("wren answer for {user} exited early: {status}");
            }
            assert!(Instant::now() < deadline, "{user} never registered");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn newest_recording(&self, which: &str, newer_than: std::time::SystemTime) -> PathBuf {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.ctl(&[which]);
            let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            let fresh = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= newer_than);
            // The far end may still be finishing the file (linphonec's is moved after the
            // call): only a readable WAV counts.
            if out.status.success() && fresh && analyse_wav(&path).is_ok() {
                return path;
            }
            assert!(Instant::now() < deadline, "no fresh {which} recording");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Asserts that a recording carries `hz` as its dominant tone, loud enough, for long enough.
fn assert_tone(path: &Path, hz: f32, min_seconds: f64) -> ToneReport {
    let report = analyse_wav(path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let tolerance = (hz * 0.02).max(15.0);
    assert!(
        (report.dominant_hz - hz).abs() <= tolerance,
        "{}: dominant {} Hz, expected {hz} Hz ({report:?})",
        path.display(),
        report.dominant_hz
    );
    assert!(
        report.dominant_dbfs > -40.0,
        "{}: tone too quiet ({report:?})",
        path.display()
    );
    assert!(
        report.active_s >= min_seconds,
        "{}: only {} s of audio ({report:?})",
        path.display(),
        report.active_s
    );
    report
}

fn run(cmd: &mut Command) -> Run {
    Run::from(cmd.output().expect("run wren"))
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wren")
}

fn finish(child: Child) -> Run {
    Run::from(child.wait_with_output().expect("wait for wren"))
}

fn tone(hz: f32) -> String {
    hz.to_string()
}

#[test]
fn wss_register_with_digest() {
    let lab = lab();
    let r = run(lab.account("alice").args(["register", "--expires", "300"]));
    r.expect("registered");
    assert!(r.ok);
    assert_eq!(r.n("status"), 200.0);
    assert!(
        r.n("expires") > 0.0 && r.n("expires") <= 300.0,
        "{}",
        r.json
    );
    // `register` unregisters on exit.
    assert!(
        !lab.registered("alice"),
        "alice still registered after exit"
    );
}

#[test]
fn ws_registers_but_warns_that_nothing_is_encrypted() {
    let lab = lab();
    let r = run(lab
        .account("alice")
        .env("WREN_SERVER", lab.get("WREN_LAB_WS"))
        .arg("register"));
    r.expect("registered");
    assert!(
        r.stderr.contains("is not encrypted (ws://)"),
        "no warning on stderr: {}",
        r.stderr
    );
    // wss:// says nothing of the kind.
    let r = run(lab.account("alice").arg("register"));
    r.expect("registered");
    assert!(!r.stderr.contains("not encrypted"), "{}", r.stderr);
}

#[test]
fn wrong_password_fails_with_auth_code() {
    let lab = lab();
    let r = run(lab.wren("alice", "not-the-password").arg("register"));
    r.fails_with("sip.auth_failed");
    assert_eq!(r.n("status"), 401.0, "{}", r.json);
}

#[test]
fn untrusted_certificate_is_refused() {
    let lab = lab();
    // Pinned to a CA that did not sign the server's certificate.
    let r = run(lab
        .account("alice")
        .env("WREN_CA", lab.get("WREN_LAB_OTHER_CA"))
        .arg("register"));
    r.expect("failed");
    r.fails_with("tls.unknown_issuer");
    // No pinned CA: the system store doesn't know the lab CA either.
    let r = run(lab.account("alice").env_remove("WREN_CA").arg("register"));
    r.fails_with("tls.unknown_issuer");
}

#[test]
fn bad_input_gets_distinct_codes() {
    let lab = lab();
    let r = run(lab
        .account("alice")
        .env("WREN_SERVER", "wss://127.0.0.1:1")
        .arg("register"));
    r.fails_with("net.unreachable");
    let r = run(lab
        .account("alice")
        .env("WREN_SERVER", "https://127.0.0.1")
        .arg("register"));
    r.fails_with("config.invalid_server");
    let r = run(lab.account("alice").args(["call", "sip:bad uri@x"]));
    r.fails_with("sip.invalid_uri");
    let r = run(lab
        .account("alice")
        .args(["call", "bob", "--play", "/nonexistent/file.wav"]));
    r.fails_with("audio.file_not_found");
    let not_wav = lab.scratch("not-a.wav");
    std::fs::write(&not_wav, b"RIFF garbage").unwrap();
    let r = run(lab
        .account("alice")
        .args(["call", "bob", "--play"])
        .arg(&not_wav));
    assert!(!r.ok);
    assert!(r.error_code().starts_with("audio."), "{}", r.json);
    assert_ne!(r.error_code(), "audio.file_not_found");
}

fn call_baresip(codec: &str) {
    let lab = lab();
    let rec = lab.scratch(&format!("alice-from-bob-{codec}.wav"));
    let since = std::time::SystemTime::now();
    let r = run(lab
        .account("alice")
        .args(["call", "sip:bob@127.0.0.1", "--codec", codec, "--tone"])
        .arg(tone(WREN_TONE))
        .arg("--record")
        .arg(&rec)
        .args(["--duration", "4"]));
    r.expect("completed");
    assert!(r.ok);
    assert_eq!(r.s("codec"), codec);
    assert_eq!(r.n("status"), 200.0, "{}", r.json);
    assert!(
        r.n("rtp_tx") >= 150.0 && r.n("rtp_rx") >= 150.0,
        "{}",
        r.json
    );
    assert!(r.n("rx_lost") <= 2.0, "{}", r.json);
    let bob_hz: f32 = lab.get("BOB_TONE_HZ").parse().unwrap();
    assert_tone(&rec, bob_hz, 3.0);
    let theirs = lab.newest_recording("latest-baresip-rec", since);
    assert_tone(&theirs, WREN_TONE, 3.0);
}

#[test]
fn call_baresip_with_opus() {
    call_baresip("opus");
}

#[test]
fn call_baresip_with_pcmu() {
    call_baresip("pcmu");
}

#[test]
fn call_linphonec() {
    let lab = lab();
    let rec = lab.scratch("alice-from-carol.wav");
    let since = std::time::SystemTime::now();
    let r = run(lab
        .account("alice")
        .args(["call", "carol", "--tone"])
        .arg(tone(WREN_TONE))
        .arg("--record")
        .arg(&rec)
        .args(["--duration", "4"]));
    r.expect("completed");
    let carol_hz: f32 = lab.get("CAROL_TONE_HZ").parse().unwrap();
    assert_tone(&rec, carol_hz, 2.5);
    let theirs = lab.newest_recording("latest-linphone-rec", since);
    assert_tone(&theirs, WREN_TONE, 2.5);
}

fn answering(lab: &Lab, user: &str, rec: &Path, extra: &[&str]) -> Child {
    let mut child = spawn(
        lab.account(user)
            .args(["answer", "--timeout", "30", "--duration", "4", "--tone"])
            .arg(tone(ANSWER_TONE))
            .arg("--record")
            .arg(rec)
            .args(extra),
    );
    lab.wait_registered(user, &mut child);
    child
}

#[test]
fn baresip_calls_wren_answer() {
    let lab = lab();
    let rec = lab.scratch("dave-from-bob.wav");
    let since = std::time::SystemTime::now();
    let child = answering(&lab, "dave", &rec, &[]);
    let dial = lab.ctl(&["baresip-dial", "sip:dave@127.0.0.1"]);
    assert!(dial.status.success(), "{dial:?}");
    let r = finish(child);
    r.expect("completed");
    assert!(r.ok);
    let bob_hz: f32 = lab.get("BOB_TONE_HZ").parse().unwrap();
    assert_tone(&rec, bob_hz, 3.0);
    let theirs = lab.newest_recording("latest-baresip-rec", since);
    assert_tone(&theirs, ANSWER_TONE, 3.0);
}

#[test]
fn linphonec_calls_wren_answer() {
    let lab = lab();
    let rec = lab.scratch("dave-from-carol.wav");
    let since = std::time::SystemTime::now();
    let child = answering(&lab, "dave", &rec, &[]);
    let dial = lab.ctl(&["linphone", "call", "sip:dave@127.0.0.1"]);
    assert!(dial.status.success(), "{dial:?}");
    let r = finish(child);
    r.expect("completed");
    let carol_hz: f32 = lab.get("CAROL_TONE_HZ").parse().unwrap();
    assert_tone(&rec, carol_hz, 2.5);
    let theirs = lab.newest_recording("latest-linphone-rec", since);
    assert_tone(&theirs, ANSWER_TONE, 2.5);
}

#[test]
fn wren_calls_wren_over_wss() {
    let lab = lab();
    let dave_rec = lab.scratch("dave-from-alice.wav");
    let alice_rec = lab.scratch("alice-from-dave.wav");
    let child = answering(&lab, "dave", &dave_rec, &[]);
    let r = run(lab
        .account("alice")
        .args(["call", "dave", "--tone"])
        .arg(tone(WREN_TONE))
        .arg("--record")
        .arg(&alice_rec)
        .args(["--duration", "6"]));
    r.expect("completed");
    let answered = finish(child);
    answered.expect("completed");
    assert_eq!(r.s("codec"), "opus", "{}", r.json);
    assert_tone(&alice_rec, ANSWER_TONE, 3.0);
    assert_tone(&dave_rec, WREN_TONE, 3.0);
}

/// DTMF digits go out as RFC 4733 telephone-events through Kamailio and come back as digits.
#[test]
fn dtmf_crosses_wren_to_wren_as_rfc4733_events() {
    let lab = lab();
    let dave_rec = lab.scratch("dave-dtmf.wav");
    let child = answering(&lab, "dave", &dave_rec, &[]);
    let r = run(lab
        .account("alice")
        .args(["call", "dave", "--dtmf", "1234*#", "--duration", "4"]));
    r.expect("completed");
    let answered = finish(child);
    answered.expect("completed");
    assert_eq!(answered.s("dtmf_rx"), "1234*#", "{}", answered.json);
    assert_eq!(r.s("dtmf_rx"), "", "{}", r.json);
}

/// Hold is a re-INVITE with `a=sendonly`; real far ends must accept it.
fn hold_is_accepted(target: &str) {
    let lab = lab();
    let r =
        run(lab
            .account("alice")
            .args(["call", target, "--hold-after", "1", "--duration", "4"]));
    r.expect("completed");
    assert_eq!(r.json["held"], serde_json::json!(true), "{}", r.json);
    assert_eq!(
        r.json["remote_held"],
        serde_json::json!(false),
        "{}",
        r.json
    );
}

#[test]
fn baresip_accepts_hold() {
    hold_is_accepted("sip:bob@127.0.0.1");
}

#[test]
fn linphonec_accepts_hold() {
    hold_is_accepted("carol");
}

#[test]
fn call_cancelled_while_ringing_ends_487() {
    let lab = lab();
    let rec = lab.scratch("erin-unanswered.wav");
    let child = answering(&lab, "erin", &rec, &["--answer-after", "20"]);
    let r = run(lab
        .account("alice")
        .args(["call", "erin", "--ring-timeout", "2"]));
    r.expect("cancelled");
    assert!(!r.ok);
    assert_eq!(r.n("status"), 487.0, "{}", r.json);
    let callee = finish(child);
    callee.expect("cancelled");
}

#[test]
fn rejected_call_reports_486() {
    let lab = lab();
    let rec = lab.scratch("erin-busy.wav");
    let child = answering(&lab, "erin", &rec, &["--reject", "486"]);
    let r = run(lab.account("alice").args(["call", "erin"]));
    r.expect("rejected");
    assert_eq!(r.n("status"), 486.0, "{}", r.json);
    let _ = finish(child);
}

/// Logs at the most verbose level never carry SIP identities, passwords or digests.
#[test]
fn trace_logs_are_redacted() {
    let lab = lab();
    let r = run(lab.account("alice").env("WREN_LOG", "trace").args([
        "call",
        "sip:bob@127.0.0.1",
        "--duration",
        "1",
    ]));
    r.expect("completed");
    assert!(
        r.stderr.lines().count() > 20,
        "expected trace logs:\n{}",
        r.stderr
    );
    for secret in [
        "alice",
        "bob@",
        "sip:bob",
        "alice-secret",
        "Digest username",
        "response=\"",
    ] {
        assert!(
            !r.stderr.contains(secret),
            "{secret:?} reached the log:\n{}",
            r.stderr
        );
    }
}
