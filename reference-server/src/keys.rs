//! The encryption key ring for secrets at rest (TOTP secrets, queued one-time secrets).
//!
//! On PostgreSQL `auth.encryption_key` is required (settings validation refuses to boot
//! without it). The SQLite development default generates a key once and keeps it in
//! `auth.dev_encryption_key_file`, so that what it sealed still opens after a restart; the
//! file is created with owner-only permissions and a warning is logged.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use helix_auth::crypto::{EncryptionKeyConfig, KeyRing};

use crate::settings::AuthSettings;

/// The key id of a generated development key.
const DEV_KEY_ID: &str = "dev-local";

/// The key ring the settings describe; on SQLite without a configured key, the development
/// key from (or newly written to) `auth.dev_encryption_key_file`.
pub fn key_ring(auth: &AuthSettings, backend: helix_core::Backend) -> anyhow::Result<KeyRing> {
    let active = match &auth.encryption_key {
        Some(key) => key.clone(),
        None if backend == helix_core::Backend::Sqlite => {
            let path = Path::new(&auth.dev_encryption_key_file);
            tracing::warn!(
                key.file = %path.display(),
                "auth.encryption_key is not configured: using a development key kept in a local \
                 file (configure auth.encryption_key in production)"
            );
            dev_key(path)?
        }
        // Settings::validate refuses this before any connection is made.
        None => anyhow::bail!("invalid setting `auth.encryption_key`: required on PostgreSQL"),
    };
    Ok(KeyRing::from_config(
        &active,
        &auth.retired_encryption_keys,
    )?)
}

/// Reads the development key file, or creates it (mode 0600 on Unix) with a fresh key.
fn dev_key(path: &Path) -> anyhow::Result<EncryptionKeyConfig> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(EncryptionKeyConfig::new(DEV_KEY_ID, text.trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = EncryptionKeyConfig::generate(DEV_KEY_ID);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            file.write_all(key.key.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut auth = AuthSettings {
            dev_encryption_key_file: dir.path().join("dev.key").display().to_string(),
            ..AuthSettings::default()
        };
        let first = key_ring(&auth, helix_core::Backend::Sqlite).unwrap();
        let sealed = first.seal(b"secret", b"ctx").unwrap();
        let second = key_ring(&auth, helix_core::Backend::Sqlite).unwrap();
        assert_eq!(&second.open(&sealed, b"ctx").unwrap()[..], b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&auth.dev_encryption_key_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // A configured key wins, and PostgreSQL never falls back to the file.
        auth.encryption_key = Some(EncryptionKeyConfig::generate("configured"));
        let configured = key_ring(&auth, helix_core::Backend::Postgres).unwrap();
        assert_eq!(configured.active_key_id(), "configured");
        auth.encryption_key = None;
        assert!(key_ring(&auth, helix_core::Backend::Postgres).is_err());
    }
}
