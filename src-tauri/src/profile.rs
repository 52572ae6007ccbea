//! Where a profile lives: `--profile DIR`, else `WREN_PROFILE_DIR`, else the app's config dir.
//! Config, data and logs of one profile all go under that one directory.

use std::ffi::OsString;
use std::path::PathBuf;

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
}
