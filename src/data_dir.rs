//! The data folder holds the SQLite directory, the assertion signing key, the CSRF secret and
//! the mail outbox (whose messages carry password links): nothing in it is for other local
//! users. Folders are created 0700 and files 0600 (see `Directory::connect`, `mail`,
//! `state::load_secret`, `proxy::assertion`); at start, existing ones that group or others can
//! read are tightened, with one log line each.

use crate::config::{Config, MailTransport};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the folders the gateway creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files the gateway creates.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` (and missing parents) with mode 0700.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Removes every group and other permission bit of `path` (0755 → 0700, 0644 → 0600, 0444 →
/// 0400: the owner's bits are kept). Returns the old mode when it changed anything, `None`
/// when the path is missing or already private. Symbolic links are not followed; a folder
/// that is sticky or writable by everyone (/tmp as data_dir) is refused, not closed.
pub fn tighten(path: &Path) -> std::io::Result<Option<u32>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Ok(None);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    if meta.is_dir() && mode & 0o1002 != 0 {
        // Sticky or world-writable: a folder shared on purpose (/tmp, ...), not ours to close.
        return Err(std::io::Error::other(
            "a shared folder (sticky or writable by everyone): give the gateway a folder of its own",
        ));
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
    Ok(Some(mode))
}

/// Tightens one path and logs it; a failure (a read-only mount, a file owned by someone else)
/// is logged and does not stop the start.
fn tighten_logged(path: &Path, what: &str) -> bool {
    match tighten(path) {
        Ok(Some(old)) => {
            tracing::warn!(
                path = %path.display(),
                old_mode = format!("{old:04o}"),
                new_mode = format!("{:04o}", old & 0o700),
                "{what} was readable by other local users: permissions tightened"
            );
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "{what}: cannot tighten its permissions");
            false
        }
    }
}

/// The SQLite database file of a `sqlite:` URL, if any.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Creates the data folder (0700) and tightens what already exists in it: the folder, the
/// SQLite database and its journal files, the CSRF secret, the assertion keys, the outbox and
/// its messages. Returns how many paths were tightened.
pub fn secure(config: &Config) -> usize {
    let mut n = 0;
    if let Err(e) = create_private_dir(&config.data_dir) {
        tracing::warn!(path = %config.data_dir.display(), error = %e, "cannot create the data folder");
    }
    n += usize::from(tighten_logged(&config.data_dir, "the data folder"));
    if let Some(db) = sqlite_path(&config.database_url) {
        n += usize::from(tighten_logged(&db, "the SQLite database"));
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut p = db.clone().into_os_string();
            p.push(suffix);
            n += usize::from(tighten_logged(Path::new(&p), "a SQLite journal file"));
        }
    }
    n += usize::from(tighten_logged(
        &config.data_dir.join("secret.key"),
        "the CSRF secret",
    ));
    n += usize::from(tighten_logged(
        &config.assertion_key_file,
        "the assertion signing key",
    ));
    for k in &config.assertion_previous_key_files {
        n += usize::from(tighten_logged(k, "a previous assertion signing key"));
    }
    n += usize::from(tighten_logged(
        &config.oidc.rsa_key_file,
        "the OpenID Connect RSA signing key",
    ));
    n += usize::from(tighten_logged(
        &config.oidc.eddsa_key_file,
        "the OpenID Connect Ed25519 signing key",
    ));
    for k in &config.oidc.previous_key_files {
        n += usize::from(tighten_logged(k, "a previous OpenID Connect signing key"));
    }
    if let MailTransport::Outbox { dir } = &config.mail.transport {
        n += usize::from(tighten_logged(dir, "the mail outbox"));
        let mut messages = 0;
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "eml") && matches!(tighten(&p), Ok(Some(_))) {
                    messages += 1;
                }
            }
        }
        if messages > 0 {
            tracing::warn!(
                path = %dir.display(),
                messages,
                "outbox messages were readable by other local users: permissions tightened to 0600"
            );
            n += messages;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn tighten_keeps_owner_bits_only() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(tighten(&f).unwrap(), Some(0o644));
        assert_eq!(mode(&f), 0o600);
        assert_eq!(tighten(&f).unwrap(), None, "already private");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o444)).unwrap();
        tighten(&f).unwrap();
        assert_eq!(mode(&f), 0o400, "a read-only file stays read-only");
        assert_eq!(tighten(&d.path().join("missing")).unwrap(), None);
        let shared = d.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(
            tighten(&shared).is_err(),
            "a /tmp-like folder is left alone"
        );
        assert_eq!(mode(&shared), 0o1777);
        let sub = d.path().join("a/b");
        create_private_dir(&sub).unwrap();
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&d.path().join("a")), 0o700);
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/c.db?mode=rwc"),
            Some(PathBuf::from("data/c.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }
}
