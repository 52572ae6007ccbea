//! Where a profile lives: `--profile DIR`, else `WREN_PROFILE_DIR`, else the app's config dir.
//! Config, data and logs of one profile all go under that one directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The profile directory asked for on the command line or in the environment (the command
/// line wins); `None` means the app's default config dir.
pub fn requested_profile(
    args: impl IntoIterator<Item = OsString>,
    env: Option<OsString>,
) -> Option<PathBuf> {
    let mut args = args.into_iter().skip(1);
    let mut from_args = None;
    while let Some(arg) = args.next() {
        if arg == "--profile" {
            from_args = args.next();
        } else if let Some(dir) = arg.to_str().and_then(|a| a.strip_prefix("--profile=")) {
            from_args = Some(dir.into());
        }
    }
    from_args
        .or(env)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// The D-Bus name the single-instance lock takes: the app's own for the default profile, one
/// per directory otherwise, so a second launch of the same profile focuses the first while a
/// test profile runs beside the user's.
pub fn instance_id(identifier: &str, profile: Option<&Path>) -> String {
    match profile {
        None => identifier.to_owned(),
        Some(dir) => {
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
            // FNV-1a: stable across runs and builds (std's hasher is not).
            let mut h: u64 = 0xcbf29ce484222325;
            for b in dir.as_os_str().as_encoded_bytes() {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x100000001b3);
            }
            format!("{identifier}.profile_{h:016x}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &[&str], env: Option<&str>) -> Option<PathBuf> {
        let args = std::iter::once("wren-desktop")
            .chain(args.iter().copied())
            .map(OsString::from);
        requested_profile(args, env.map(OsString::from))
    }

    #[test]
    fn profile_comes_from_args_then_env_then_default() {
        assert_eq!(resolve(&[], None), None);
        assert_eq!(resolve(&[], Some("/e")), Some("/e".into()));
        assert_eq!(resolve(&["--profile", "/a"], Some("/e")), Some("/a".into()));
        assert_eq!(resolve(&["--profile=/b"], None), Some("/b".into()));
        assert_eq!(
            resolve(&["x", "--profile", "/a", "y"], None),
            Some("/a".into())
        );
        // A dangling flag or empty value falls back to the environment, then the default.
        assert_eq!(resolve(&["--profile"], Some("/e")), Some("/e".into()));
        assert_eq!(resolve(&["--profile="], None), None);
        assert_eq!(resolve(&[], Some("")), None);
    }

    #[test]
    fn each_profile_is_its_own_instance() {
        let id = "org.wren.softphone";
        assert_eq!(instance_id(id, None), id);
        let a = instance_id(id, Some(Path::new("/nonexistent/a")));
        let b = instance_id(id, Some(Path::new("/nonexistent/b")));
        assert_ne!(a, b);
        assert_eq!(a, instance_id(id, Some(Path::new("/nonexistent/a"))));
        // A valid D-Bus name: dot-separated elements of [A-Za-z0-9_], none starting with a digit.
        assert!(a.split('.').all(|e| !e.is_empty()
            && !e.starts_with(|c: char| c.is_ascii_digit())
            && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
    }
}
