//! What the interop suites share: the running lab (its directory and `lab.env`) and its
//! `ctl.sh`. Without a lab every test fails, loudly, by design.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// The far ends are shared: one test at a time in a test binary (cargo runs the binaries one
/// after another).
static LAB_LOCK: Mutex<()> = Mutex::new(());

/// The lab, this test's alone until dropped.
pub struct Lab {
    lab: LabDir,
    _guard: MutexGuard<'static, ()>,
}

impl std::ops::Deref for Lab {
    type Target = LabDir;
    fn deref(&self) -> &LabDir {
        &self.lab
    }
}

/// Waits for the lab to be free, then takes it.
pub fn lab() -> Lab {
    let guard = LAB_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    Lab {
        lab: LabDir::from_env(),
        _guard: guard,
    }
}

/// The lab `tests/lab/start.sh` started, from `WREN_LAB_DIR`.
pub struct LabDir {
    pub dir: PathBuf,
    pub env: HashMap<String, String>,
}

impl LabDir {
    /// Reads `WREN_LAB_DIR/lab.env`; panics with what to do when there is no lab.
    pub fn from_env() -> Self {
        let dir = PathBuf::from(std::env::var("WREN_LAB_DIR").expect(
            "WREN_LAB_DIR is not set: these tests need the lab (run tests/run.sh, or \
             tests/lab/start.sh DIR and export WREN_LAB_DIR=DIR WREN_BIN=target/debug/wren)",
        ));
        let text = std::fs::read_to_string(dir.join("lab.env")).unwrap_or_else(|e| {
            panic!("no lab.env in {}: {e} (is the lab running?)", dir.display())
        });
        let env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        Self { dir, env }
    }

    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from lab.env"))
    }

    /// Runs `tests/lab/ctl.sh DIR ARGS...`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/ctl.sh");
        Command::new(script)
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("run ctl.sh")
    }

    /// Whether `user` has a binding at Kamailio.
    pub fn registered(&self, user: &str) -> bool {
        self.ctl(&["registered", user]).status.success()
    }
}
