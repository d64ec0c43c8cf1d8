//! The password policy and the argon2id hasher (no database).

use std::time::Duration;

use helix_auth::{
    Argon2Config, AuthConfig, Password, PasswordHasher, PasswordPolicy, PasswordPolicyConfig,
    Verification,
};

use crate::support::{STRONG, fast_config, pw};

fn policy() -> PasswordPolicy {
    PasswordPolicy::new(PasswordPolicyConfig::default(), "Helix")
}

fn codes(p: &str) -> Vec<String> {
    match policy().validate(&pw(p), "ada.lovelace@example.com") {
        Ok(()) => vec![],
        Err(errs) => {
            assert!(errs.iter().all(|e| e.field == "password"));
            assert!(errs.iter().all(|e| !e.message.contains(p)), "{errs:?}");
            errs.into_iter().map(|e| e.code).collect()
        }
    }
}

#[test]
fn a_strong_password_passes() {
    assert_eq!(codes(STRONG), Vec::<String>::new());
    assert_eq!(codes("Gx7#qLm2!vRt9zPw"), Vec::<String>::new());
}

#[test]
fn length_is_bounded_both_ways() {
    assert!(codes("aB3$xY9!").contains(&"too_short".to_owned()));
    let long = format!("aB3$-{}", "kq8Zw".repeat(30));
    assert_eq!(codes(&long), vec!["too_long".to_owned()]);
    // 128 characters is still fine; length counts characters, not bytes.
    let edge: String = format!("Éé3-{}", "Gx7#qLm2".repeat(16))
        .chars()
        .take(128)
        .collect();
    assert!(!codes(&edge).contains(&"too_long".to_owned()));
}

#[test]
fn three_of_four_classes_are_required() {
    assert!(codes("plumtractoroasisninety").contains(&"too_few_classes".to_owned()));
    assert!(codes("plum tractor oasis ninety").contains(&"too_few_classes".to_owned()));
    assert!(!codes("plum tractor Oasis ninety").contains(&"too_few_classes".to_owned()));
}

#[test]
fn guessable_passwords_are_too_weak() {
    for weak in ["Password1234!", "Qwerty123456!"] {
        assert!(codes(weak).contains(&"too_weak".to_owned()), "{weak}");
    }
}

#[test]
fn the_email_and_product_name_are_known_words() {
    let other = PasswordPolicy::new(PasswordPolicyConfig::default(), "Nothing");
    let weak = |p: &PasswordPolicy, pass: &str, email: &str| {
        p.validate(&pw(pass), email)
            .is_err_and(|e| e.iter().any(|e| e.code == "too_weak"))
    };
    // Built on the email's local part: weak for Ada, fine for someone else.
    assert!(weak(
        &policy(),
        "Ada.Lovelace1815!",
        "ada.lovelace@example.com"
    ));
    assert!(!weak(&other, "Ada.Lovelace1815!", "zed@example.com"));
    // Built on the product name.
    assert!(weak(&policy(), "HelixHelix123!", "zed@example.com"));
    assert!(!weak(&other, "HelixHelix123!", "zed@example.com"));
}

#[test]
fn argon2_defaults_are_owasp() {
    let c = AuthConfig::default();
    assert_eq!(
        c.argon2,
        Argon2Config {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1
        }
    );
    assert_eq!(c.password.min_length, 12);
    assert_eq!(c.password.history, 5);
    assert_eq!(c.lockout.max_failures, 5);
    assert_eq!(c.lockout.lock_secs, 15 * 60);
    assert!(c.email_verification.required);
    assert_eq!(c.email_verification.token_ttl_secs, 24 * 3600);
}

#[tokio::test(flavor = "current_thread")]
async fn default_hasher_uses_owasp_argon2id_and_never_stalls_the_runtime() {
    let c = AuthConfig::default();
    let hasher = PasswordHasher::new(c.argon2, 2).unwrap();
    // A ticker on the same single-threaded runtime keeps running while hashes are computed.
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            t.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let hash = hasher.hash(&pw(STRONG)).await.unwrap();
    let again = hasher.hash(&pw(STRONG)).await.unwrap();
    ticker.abort();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert_ne!(hash, again, "fresh salt per hash");
    assert!(ticks.load(std::sync::atomic::Ordering::SeqCst) > 0);
    assert_eq!(
        hasher.verify(&pw(STRONG), &hash).await.unwrap(),
        Verification::Match {
            needs_rehash: false
        }
    );
}

#[tokio::test]
async fn verify_matches_and_detects_parameter_changes() {
    let cheap = PasswordHasher::new(fast_config().argon2, 2).unwrap();
    let mut stronger = fast_config().argon2;
    stronger.memory_kib = 2048;
    let stronger = PasswordHasher::new(stronger, 2).unwrap();

    let hash = cheap.hash(&pw(STRONG)).await.unwrap();
    assert_eq!(
        cheap.verify(&pw(STRONG), &hash).await.unwrap(),
        Verification::Match {
            needs_rehash: false
        }
    );
    assert_eq!(
        cheap.verify(&pw("wrong-Password-1"), &hash).await.unwrap(),
        Verification::Mismatch
    );
    // The stronger hasher still verifies the old hash, and asks for a rehash.
    assert_eq!(
        stronger.verify(&pw(STRONG), &hash).await.unwrap(),
        Verification::Match { needs_rehash: true }
    );
    assert!(stronger.needs_rehash(&hash));
    assert!(!cheap.needs_rehash(&hash));
    assert!(cheap.verify(&pw(STRONG), "not a phc string").await.is_err());
    cheap.dummy_verify(&pw(STRONG)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_concurrency_bound_is_respected() {
    let mut params = fast_config().argon2;
    params.memory_kib = 8192;
    let hasher = PasswordHasher::new(params, 2).unwrap();
    let jobs: Vec<_> = (0..12)
        .map(|i| {
            let h = hasher.clone();
            tokio::spawn(async move { h.hash(&Password::new(format!("{STRONG}{i}"))).await })
        })
        .collect();
    for j in jobs {
        j.await.unwrap().unwrap();
    }
    let stats = hasher.stats();
    assert_eq!(stats.max_concurrency, 2);
    assert_eq!(stats.in_flight, 0);
    assert!(
        (1..=2).contains(&stats.peak_in_flight),
        "peak {}",
        stats.peak_in_flight
    );
}
