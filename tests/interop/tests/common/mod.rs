//! What the interop suites share: the running lab (its directory and `lab.env`) and its
//! `ctl.sh`. Without a lab every test fails, loudly, by design.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
