//! The real binary: configuration errors, start-up message, SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reference-server"));
    c.env_remove("HELIX_CONFIG");
    c
}

#[test]
fn bad_setting_stops_the_boot_and_names_it() {
    let out = bin()
        .env("HELIX__SERVER__ADDR", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.addr"), "{err}");

    let out = bin()
        .env("HELIX__DATABASE__URL", "mysql://root:hunter2@localhost/x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("database.url"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let out = bin()
        .env("HELIX__SERVER__NO_SUCH_KEY", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no_such_key"), "{err}");
}

#[test]
fn missing_config_file_is_named() {
    let out = bin()
        .args(["--config", "/nonexistent/helix.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/helix.toml"));
}

#[test]
fn starts_on_sqlite_prints_address_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("helix.toml");
    std::fs::write(&config, "[log]\nformat = \"json\"\nlevel = \"info\"\n").unwrap();
    let mut child = bin()
        .current_dir(dir.path())
        .args(["--config", config.to_str().unwrap()])
        .env("HELIX__SERVER__ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(
        line.starts_with("helix reference server listening on http://127.0.0.1:"),
        "{line}"
    );
    let addr = line.trim().rsplit("http://").next().unwrap().to_owned();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = reqwest::get(format!("http://{addr}/health/ready"))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    // The default database file was created in the working directory.
    assert!(dir.path().join("helix.db").exists());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut waited = Duration::ZERO;
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            waited < Duration::from_secs(20),
            "server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
    };
    assert!(exit.success());
    // JSON logs on stderr, with the route template, never the database URL.
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    assert!(
        logs.lines()
            .any(|l| l.starts_with('{') && l.contains("\"http.route\":\"/health/ready\"")),
        "{logs}"
    );
}

#[test]
fn a_bad_value_is_reported_without_credentials() {
    // A whole URL where a table is expected: figment echoes the value; it must be masked.
    let out = bin()
        .env("HELIX__DATABASE", "postgres://u:hunter2@localhost/db")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("database"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// The database password never reaches stdout or the logs, even at debug level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_password_never_reaches_the_output() {
    let Some(t) = helix_core::testing::TestDb::postgres().await else {
        return;
    };
    // Trust authentication ignores the password, so a made-up one connects.
    let url = t.url.replacen("postgres@", "postgres:Sup3r-s3cret-pw@", 1);
    assert_ne!(url, t.url);
    let dir = tempfile::tempdir().unwrap();
    let mut child = bin()
        .current_dir(dir.path())
        .env("HELIX__SERVER__ADDR", "127.0.0.1:0")
        .env("HELIX__DATABASE__URL", &url)
        .env("HELIX__AUTH__SIGNING_KEY__KID", "k1")
        .env(
            "HELIX__AUTH__SIGNING_KEY__PRIVATE_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .env("HELIX__AUTH__ENCRYPTION_KEY__ID", "e1")
        .env(
            "HELIX__AUTH__ENCRYPTION_KEY__KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .env(
            "HELIX__AUTH__API_KEYS__HASH_KEY",
            "S2V5LW9mLXRoZS1hcGkta2V5LWhhc2gtMzItYnl0ZXMh",
        )
        .env("HELIX__LOG__LEVEL", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_owned();
    let r = reqwest::get(format!("http://{addr}/health/ready"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let all = format!("{line}{}", String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("\"http.route\":\"/health/ready\""), "{all}");
    assert!(
        !all.contains("Sup3r-s3cret-pw"),
        "the password leaked:\n{all}"
    );
}

#[test]
fn postgres_without_a_signing_key_stops_the_boot() {
    let out = bin()
        .env("HELIX__SERVER__ADDR", "127.0.0.1:0")
        // A database that does not exist: the check must come before any connection.
        .env(
            "HELIX__DATABASE__URL",
            "postgres://postgres@127.0.0.1:5432/helix_must_not_exist",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.signing_key"), "{err}");
}
