//! Multi-factor authentication at the service level, on both backends: RFC 6238 vectors,
//! enrolment, challenges with a manual clock driving the time steps, replay, skew, backup
//! codes, re-authentication, sealing at rest and key rotation.

use std::sync::Arc;

use chrono::Duration;
use helix_auth::crypto::{EncryptionKeyConfig, KeyRing};
use helix_auth::mfa::entity::totp;
use helix_auth::mfa::totp::{TotpSecret, hotp, step_at};
use helix_auth::mfa::{BACKUP_CODE_COUNT, MfaChallenge};
use helix_auth::{AuthService, MfaProof};
use helix_core::testing::TestDb;
use helix_core::{Clock, ManualClock, PlatformContext, backend_test};
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::support::{STRONG, fast_config, kernel, meta, pw, verified_account};

#[test]
fn rfc6238_sha1_vectors() {
    // RFC 6238 appendix B, SHA-1, 8 digits, key "12345678901234567890".
    let key = b"12345678901234567890";
    for (time, code) in [
        (59_i64, 94_287_082_u32),
        (1_111_111_109, 7_081_804),
        (1_111_111_111, 14_050_471),
        (1_234_567_890, 89_005_924),
        (2_000_000_000, 69_279_037),
        (20_000_000_000, 65_353_130),
    ] {
        let at = chrono::DateTime::from_timestamp(time, 0).unwrap();
        assert_eq!(hotp(key, step_at(at), 8), code, "T = {time}");
    }
    // The 6-digit code is the same value modulo 10^6, zero-padded.
    let secret = TotpSecret::from_bytes(key);
    let at = chrono::DateTime::from_timestamp(1_111_111_109, 0).unwrap();
    assert_eq!(secret.code_at(at), "081804");
    // RFC 4226 appendix D (HOTP, 6 digits).
    assert_eq!(hotp(key, 0, 6), 755_224);
    assert_eq!(hotp(key, 9, 6), 520_489);
}

fn ring(active: &EncryptionKeyConfig, retired: &[EncryptionKeyConfig]) -> Arc<KeyRing> {
    Arc::new(KeyRing::from_config(active, retired).unwrap())
}

async fn setup(t: &TestDb, keys: Arc<KeyRing>) -> (AuthService, ManualClock) {
    let (kernel, clock) = kernel(t).await;
    let auth = AuthService::builder(kernel, fast_config())
        .key_ring(keys)
        .build()
        .unwrap();
    (auth, clock)
}

async fn stored_totp(auth: &AuthService, account: Uuid) -> totp::Model {
    let tx = auth
        .kernel()
        .db()
        .platform_read(&PlatformContext::system("test"))
        .await
        .unwrap();
    let row = totp::Entity::find_by_id(account)
        .one(tx.raw())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    row.unwrap()
}

/// Enrols and confirms TOTP for a new account; returns it, its secret and backup codes.
async fn enrolled(
    auth: &AuthService,
    clock: &ManualClock,
    email: &str,
) -> (Uuid, TotpSecret, Vec<String>) {
    let account = verified_account(auth, email).await;
    let enrolment = auth.enrol_totp(&meta(), account).await.unwrap();
    let secret = TotpSecret::from_base32(&enrolment.secret).unwrap();
    let codes = auth
        .confirm_totp(&meta(), account, &pw(STRONG), &secret.code_at(clock.now()))
        .await
        .unwrap();
    let codes = codes.iter().map(|c| c.expose().to_owned()).collect();
    (account, secret, codes)
}

async fn challenge(auth: &AuthService, account: Uuid) -> MfaChallenge {
    auth.begin_mfa_challenge(&meta(), account)
        .await
        .unwrap()
        .expect("MFA is on: a challenge")
}

async fn enrolment_and_challenge(t: TestDb) {
    let k1 = EncryptionKeyConfig::generate("k1");
    let (auth, clock) = setup(&t, ring(&k1, &[])).await;
    let account = verified_account(&auth, "mfa@example.com").await;
    assert!(
        auth.begin_mfa_challenge(&meta(), account)
            .await
            .unwrap()
            .is_none()
    );

    // Confirming without an enrolment is refused.
    let err = auth
        .confirm_totp(&meta(), account, &pw(STRONG), "123456")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "MFA_NOT_PENDING");

    let first = auth.enrol_totp(&meta(), account).await.unwrap();
    // Re-enrolling replaces the pending secret.
    let enrolment = auth.enrol_totp(&meta(), account).await.unwrap();
    assert_ne!(first.secret.as_str(), enrolment.secret.as_str());
    assert_eq!(enrolment.secret.len(), 32); // 160 bits of base32
    assert!(
        enrolment
            .otpauth_uri
            .starts_with("otpauth://totp/Helix:mfa%40example.com?secret=")
    );
    assert!(
        enrolment
            .otpauth_uri
            .ends_with("&issuer=Helix&algorithm=SHA1&digits=6&period=30")
    );
    assert!(enrolment.qr_svg.contains("<svg"));
    assert!(!format!("{enrolment:?}").contains(enrolment.secret.as_str()));

    // Sealed at rest: the raw column is not the secret, and names the key.
    let row = stored_totp(&auth, account).await;
    assert!(row.secret_sealed.starts_with("v1.k1."));
    assert!(!row.secret_sealed.contains(enrolment.secret.as_str()));
    assert_eq!(row.key_id, "k1");
    assert!(row.confirmed_at.is_none());

    let secret = TotpSecret::from_base32(&enrolment.secret).unwrap();
    let old = TotpSecret::from_base32(&first.secret).unwrap();
    let err = auth
        .confirm_totp(&meta(), account, &pw(STRONG), &old.code_at(clock.now()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");
    let codes = auth
        .confirm_totp(&meta(), account, &pw(STRONG), &secret.code_at(clock.now()))
        .await
        .unwrap();
    assert_eq!(codes.len(), BACKUP_CODE_COUNT);
    let mut distinct: Vec<&str> = codes.iter().map(|c| c.expose()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    let status = auth.mfa_status(account).await.unwrap();
    assert!(status.totp);
    assert_eq!(status.backup_codes_remaining, 10);
    let err = auth.enrol_totp(&meta(), account).await.unwrap_err();
    assert_eq!(err.code(), "MFA_ALREADY_ENABLED");

    // The code that confirmed cannot be used again within its window.
    let c = challenge(&auth, account).await;
    assert!(!format!("{c:?}").contains(c.token.expose()));
    let now_code = secret.code_at(clock.now());
    let err = auth
        .complete_mfa_challenge(&meta(), &c.token, &MfaProof::totp(now_code.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MFA_CODE");

    // Next step: accepted once.
    clock.advance(Duration::seconds(30));
    let code = secret.code_at(clock.now());
    let done = auth
        .complete_mfa_challenge(&meta(), &c.token, &MfaProof::totp(code.clone()))
        .await
        .unwrap();
    assert_eq!(done.account_id, account);
    assert!(!done.used_backup_code);
    // The token is single use.
    let err = auth
        .complete_mfa_challenge(&meta(), &c.token, &MfaProof::totp(code.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MFA_TOKEN");
    // The same code with a fresh token: replay refused.
    let c = challenge(&auth, account).await;
    let err = auth
        .complete_mfa_challenge(&meta(), &c.token, &MfaProof::totp(code))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MFA_CODE");

    // Skew: one step ahead is accepted; the previous step (already used) is not; two
    // steps away is not.
    clock.advance(Duration::seconds(30));
    let two_ahead = secret.code_at(clock.now() + Duration::seconds(60));
    let err = auth
        .complete_mfa_challenge(&meta(), &c.token, &MfaProof::totp(two_ahead))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MFA_CODE");
    let ahead = secret.code_at(clock.now() + Duration::seconds(30));
    auth.complete_mfa_challenge(&meta(), &c.token, &MfaProof::totp(ahead))
        .await
        .unwrap();
    // Behind the last accepted step now, although within the skew window.
    let c = challenge(&auth, account).await;
    let behind = secret.code_at(clock.now());
    let err = auth
        .complete_mfa_challenge(&meta(), &c.token, &MfaProof::totp(behind))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MFA_CODE");

    // An expired token dies.
    let c = challenge(&auth, account).await;
    clock.advance(Duration::seconds(301));
    let err = auth
        .complete_mfa_challenge(
            &meta(),
            &c.token,
            &MfaProof::totp(secret.code_at(clock.now())),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MFA_TOKEN");
    // A token that was never issued, or malformed.
    let err = auth
        .complete_mfa_challenge(
            &meta(),
            &helix_auth::MfaToken::new("x".repeat(43)),
            &MfaProof::totp("123456"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MFA_TOKEN");

    let events = auth.security_events(account, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "mfa_enrolment_started",
        "mfa_enrolled",
        "mfa_challenge_failed",
        "mfa_challenge_succeeded",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    for e in &events {
        let data = e.data.to_string();
        assert!(!data.contains(enrolment.secret.as_str()));
    }
}
backend_test!(mfa_enrolment_and_challenge, enrolment_and_challenge);

async fn backup_codes(t: TestDb) {
    let (auth, clock) = setup(&t, ring(&EncryptionKeyConfig::generate("k1"), &[])).await;
    let (account, _secret, codes) = enrolled(&auth, &clock, "backup@example.com").await;

    // Typed loosely (upper case, spaces): accepted once.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let c = challenge(&auth, account).await;
    let done = auth
        .complete_mfa_challenge(&meta(), &c.token, &MfaProof::backup_code(typed))
        .await
        .unwrap();
    assert!(done.used_backup_code);
    assert_eq!(done.backup_codes_remaining, 9);
    let c = challenge(&auth, account).await;
    let err = auth
        .complete_mfa_challenge(&meta(), &c.token, &MfaProof::backup_code(codes[0].clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MFA_CODE");
    assert_eq!(
        auth.mfa_status(account)
            .await
            .unwrap()
            .backup_codes_remaining,
        9
    );

    // Regenerating needs the password; the old codes die.
    let err = auth
        .regenerate_backup_codes(&meta(), account, &pw("wrong-Password-123"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");
    let fresh = auth
        .regenerate_backup_codes(&meta(), account, &pw(STRONG))
        .await
        .unwrap();
    assert_eq!(fresh.len(), 10);
    assert_eq!(
        auth.mfa_status(account)
            .await
            .unwrap()
            .backup_codes_remaining,
        10
    );
    let err = auth
        .complete_mfa_challenge(&meta(), &c.token, &MfaProof::backup_code(codes[1].clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MFA_CODE");
    auth.complete_mfa_challenge(
        &meta(),
        &c.token,
        &MfaProof::backup_code(fresh[0].expose().to_owned()),
    )
    .await
    .unwrap();

    let kinds: Vec<String> = auth
        .security_events(account, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "backup_code_used"));
    assert!(kinds.iter().any(|k| k == "backup_codes_regenerated"));
}
backend_test!(mfa_backup_codes, backup_codes);

async fn wrong_codes_kill_the_token_and_lock_the_account(t: TestDb) {
    let (auth, clock) = setup(&t, ring(&EncryptionKeyConfig::generate("k1"), &[])).await;
    let (account, secret, _) = enrolled(&auth, &clock, "brute@example.com").await;
    clock.advance(Duration::seconds(30));
    let c = challenge(&auth, account).await;
    let right = secret.code_at(clock.now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let err = auth
            .complete_mfa_challenge(&meta(), &c.token, &MfaProof::totp(wrong))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_MFA_CODE");
    }
    // Dead after 5 wrong codes, even with the right one.
    let err = auth
        .complete_mfa_challenge(&meta(), &c.token, &MfaProof::totp(right))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MFA_TOKEN");
    // The wrong codes counted toward the login lockout: the right password is refused.
    let err = auth
        .login(&meta(), "brute@example.com", &pw(STRONG))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_CREDENTIALS");
    // After the lock, login works again and asks for the second factor.
    clock.advance(Duration::minutes(16));
    auth.login(&meta(), "brute@example.com", &pw(STRONG))
        .await
        .unwrap();
    assert!(
        auth.begin_mfa_challenge(&meta(), account)
            .await
            .unwrap()
            .is_some()
    );
}
backend_test!(
    mfa_wrong_codes_kill_token_and_lock,
    wrong_codes_kill_the_token_and_lock_the_account
);

async fn disable_requires_reauthentication(t: TestDb) {
    let (auth, clock) = setup(&t, ring(&EncryptionKeyConfig::generate("k1"), &[])).await;
    let (account, secret, codes) = enrolled(&auth, &clock, "off@example.com").await;
    clock.advance(Duration::seconds(30));
    let code = MfaProof::totp(secret.code_at(clock.now()));

    let err = auth
        .disable_mfa(&meta(), account, &pw("wrong-Password-123"), &code)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");
    let helix_auth::AuthError::Validation(details) = &err else {
        panic!("validation expected")
    };
    assert_eq!(details[0].field, "password");
    let err = auth
        .disable_mfa(
            &meta(),
            account,
            &pw(STRONG),
            &MfaProof::backup_code("nope"),
        )
        .await
        .unwrap_err();
    let helix_auth::AuthError::Validation(details) = &err else {
        panic!("validation expected")
    };
    assert_eq!(details[0].field, "code");
    assert!(auth.mfa_status(account).await.unwrap().totp);

    auth.disable_mfa(
        &meta(),
        account,
        &pw(STRONG),
        &MfaProof::backup_code(codes[3].clone()),
    )
    .await
    .unwrap();
    let status = auth.mfa_status(account).await.unwrap();
    assert!(!status.totp);
    assert_eq!(status.backup_codes_remaining, 0);
    assert!(
        auth.begin_mfa_challenge(&meta(), account)
            .await
            .unwrap()
            .is_none()
    );
    let err = auth
        .disable_mfa(&meta(), account, &pw(STRONG), &code)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "MFA_NOT_ENABLED");
    let err = auth
        .regenerate_backup_codes(&meta(), account, &pw(STRONG))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "MFA_NOT_ENABLED");
    let events = auth.security_events(account, 100).await.unwrap();
    let disabled = events.iter().find(|e| e.kind == "mfa_disabled").unwrap();
    assert_eq!(disabled.account_id, Some(account));
    assert!(events.iter().any(|e| e.kind == "mfa_reauth_failed"));
}
backend_test!(
    mfa_disable_requires_reauth,
    disable_requires_reauthentication
);

async fn key_rotation(t: TestDb) {
    let old = EncryptionKeyConfig::generate("k-old");
    let new = EncryptionKeyConfig::generate("k-new");
    let (auth, clock) = setup(&t, ring(&old, &[])).await;
    let (account, secret, _) = enrolled(&auth, &clock, "rotate@example.com").await;
    assert_eq!(stored_totp(&auth, account).await.key_id, "k-old");

    // Without the old key the secret does not open: the challenge fails closed.
    let only_new = AuthService::builder(auth.kernel().clone(), fast_config())
        .key_ring(ring(&new, &[]))
        .build()
        .unwrap();
    clock.advance(Duration::seconds(30));
    let c = challenge(&only_new, account).await;
    let err = only_new
        .complete_mfa_challenge(
            &meta(),
            &c.token,
            &MfaProof::totp(secret.code_at(clock.now())),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INTERNAL_ERROR");

    // New active key, old key retired: it still works, and is re-sealed under the new key.
    let rotated = AuthService::builder(auth.kernel().clone(), fast_config())
        .key_ring(ring(&new, &[old]))
        .build()
        .unwrap();
    rotated
        .complete_mfa_challenge(
            &meta(),
            &c.token,
            &MfaProof::totp(secret.code_at(clock.now())),
        )
        .await
        .unwrap();
    let row = stored_totp(&rotated, account).await;
    assert_eq!(row.key_id, "k-new");
    assert!(row.secret_sealed.starts_with("v1.k-new."));
    // The re-sealed secret opens with the new key alone.
    clock.advance(Duration::seconds(30));
    let c = challenge(&only_new, account).await;
    only_new
        .complete_mfa_challenge(
            &meta(),
            &c.token,
            &MfaProof::totp(secret.code_at(clock.now())),
        )
        .await
        .unwrap();
}
backend_test!(mfa_key_rotation, key_rotation);
