//! Writing the profile's files so that a crash or a full disk never leaves half a file: each
//! write goes to a temporary file beside the target, is synced, then renamed over it.

use crate::error::{EngineError, ErrorCode};
use std::io::Write;
use std::path::Path;

/// `settings.io` naming the file and what failed.
pub(crate) fn io_error(what: &str, path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::new(
        ErrorCode::SettingsIo,
        format!("could not {what} {}: {e}", path.display()),
    )
}

/// Who may read a file we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The umask decides (settings, preferences).
    Default,
    /// Only the user (0600 on Unix), set before any byte is written (a stored password).
    OwnerOnly,
}

/// Replaces `path` with `bytes` atomically; on error the old file stays as it was.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> Result<(), EngineError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let write = || -> std::io::Result<()> {
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if access == Access::OwnerOnly {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error("write", path, e)
    })
}

/// Removes `path`; a file that isn't there is fine.
pub(crate) fn remove(path: &Path) -> Result<(), EngineError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", path, e)),
    }
}

/// The file's text, or `None` when it doesn't exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, EngineError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, e)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    /// A directory removed when the test ends.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "wren-{name}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[cfg(unix)]
    #[test]
    fn owner_only_files_are_0600_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("files");
        let path = dir.0.join("secret");
        super::write_atomic(&path, b"one", super::Access::OwnerOnly).unwrap();
        super::write_atomic(&path, b"two", super::Access::OwnerOnly).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);
    }
}
