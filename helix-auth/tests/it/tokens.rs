//! Access tokens: issue, verify, and every way a forged or stale token is refused.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, TimeZone, Utc};
use helix_auth::tokens::{
    AccessGrant, AccessTokenConfig, AccessTokens, SigningKeyConfig, SigningKeys, TokenError,
};
use helix_core::ManualClock;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const ISS: &str = "https://id.example.test";
const AUD: &str = "example-api";

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap())
}

fn tokens(keys: SigningKeys, clock: &ManualClock) -> AccessTokens {
    AccessTokens::new(
        keys,
        AccessTokenConfig::new(ISS, AUD),
        Arc::new(clock.clone()),
    )
    .unwrap()
}

fn keys(kid: &str) -> (SigningKeyConfig, SigningKeys) {
    let config = SigningKeyConfig::generate(kid);
    let keys = SigningKeys::from_config(&config, &[]).unwrap();
    (config, keys)
}

fn grant() -> AccessGrant {
    AccessGrant::new(Uuid::now_v7(), Uuid::now_v7())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// HMAC-SHA256, to forge an HS256 token keyed with the public key.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

#[test]
fn issued_tokens_verify_with_their_claims() {
    let c = clock();
    let t = tokens(keys("k1").1, &c);
    let (account, session, org, actor) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let issued = t
        .issue_access(&AccessGrant::new(account, session).org(org).actor(actor))
        .unwrap();
    assert!(!format!("{issued:?}").contains(issued.token()));
    let claims = t.verify_access(issued.token()).unwrap();
    assert_eq!(
        (claims.sub, claims.sid, claims.org),
        (account, session, Some(org))
    );
    assert_eq!(claims.act.map(|a| a.sub), Some(actor));
    assert_eq!((claims.iss.as_str(), claims.aud.as_str()), (ISS, AUD));
    assert_eq!(claims.exp - claims.iat, 600, "default TTL is 10 minutes");
    let header = URL_SAFE_NO_PAD.decode(&parts(issued.token())[0]).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    assert_eq!(
        header,
        serde_json::json!({"alg": "EdDSA", "kid": "k1", "typ": "JWT"})
    );
}

#[test]
fn tampered_payload_is_rejected() {
    let c = clock();
    let t = tokens(keys("k1").1, &c);
    let token = t.issue_access(&grant()).unwrap();
    let p = parts(token.token());
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&p[1]).unwrap()).unwrap();
    claims["sub"] = serde_json::json!(Uuid::now_v7());
    let forged = format!(
        "{}.{}.{}",
        p[0],
        b64(&serde_json::to_vec(&claims).unwrap()),
        p[2]
    );
    assert_eq!(t.verify_access(&forged), Err(TokenError::BadSignature));
    // A flipped signature byte, and a signature from another key under the same kid.
    let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
    sig[0] ^= 1;
    let flipped = format!("{}.{}.{}", p[0], p[1], b64(&sig));
    assert_eq!(t.verify_access(&flipped), Err(TokenError::BadSignature));
    let other = tokens(keys("k1").1, &c).issue_access(&grant()).unwrap();
    assert_eq!(
        t.verify_access(other.token()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn expiry_is_checked_with_a_small_leeway() {
    let c = clock();
    let t = tokens(keys("k1").1, &c);
    let token = t.issue_access(&grant()).unwrap();
    c.advance(Duration::seconds(600 + 29));
    assert!(
        t.verify_access(token.token()).is_ok(),
        "within the 30 s leeway"
    );
    c.advance(Duration::seconds(1));
    assert_eq!(t.verify_access(token.token()), Err(TokenError::Expired));
    // A token from the future (issued by a clock far ahead) is not yet valid.
    let ahead = clock();
    ahead.advance(Duration::minutes(5));
    let keys = keys("k2").1;
    let future = tokens(keys.clone(), &ahead).issue_access(&grant()).unwrap();
    assert_eq!(
        tokens(keys, &clock()).verify_access(future.token()),
        Err(TokenError::NotYetValid)
    );
}

#[test]
fn unknown_or_missing_kid_is_rejected() {
    let c = clock();
    let t = tokens(keys("k1").1, &c);
    let token = t.issue_access(&grant()).unwrap();
    let p = parts(token.token());
    let unknown = b64(br#"{"alg":"EdDSA","kid":"nope","typ":"JWT"}"#);
    assert_eq!(
        t.verify_access(&format!("{unknown}.{}.{}", p[1], p[2])),
        Err(TokenError::UnknownKeyId)
    );
    let missing = b64(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    assert_eq!(
        t.verify_access(&format!("{missing}.{}.{}", p[1], p[2])),
        Err(TokenError::MissingKeyId)
    );
    // A token of a key this verifier does not know.
    let stranger = tokens(keys("k9").1, &c).issue_access(&grant()).unwrap();
    assert_eq!(
        t.verify_access(stranger.token()),
        Err(TokenError::UnknownKeyId)
    );
}

#[test]
fn alg_none_and_other_algorithms_are_rejected() {
    let c = clock();
    let t = tokens(keys("k1").1, &c);
    let token = t.issue_access(&grant()).unwrap();
    let p = parts(token.token());
    for header in [
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"none","kid":"k1","typ":"JWT"}"#,
        r#"{"alg":"None","kid":"k1"}"#,
        r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
        r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#,
        r#"{"alg":"Ed25519","kid":"k1","typ":"JWT"}"#,
        r#"{"alg":"EdDSA","kid":"k1","typ":"JWT","jku":"https://evil.test/jwks"}"#,
        r#"{"alg":"EdDSA","kid":"k1","typ":"JWT","crit":["exp"]}"#,
        r#"{"alg":null,"kid":"k1"}"#,
    ] {
        let h = b64(header.as_bytes());
        for sig in ["", p[2].as_str()] {
            let forged = format!("{h}.{}.{sig}", p[1]);
            assert_eq!(
                t.verify_access(&forged),
                Err(TokenError::UnsupportedAlgorithm),
                "{header} with signature {sig:?}"
            );
        }
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    let c = clock();
    let t = tokens(keys("k1").1, &c);
    let token = t.issue_access(&grant()).unwrap();
    let p = parts(token.token());
    let jwk = &t.jwks().keys[0];
    let public_raw = URL_SAFE_NO_PAD.decode(&jwk.x).unwrap();
    let jwks_json = serde_json::to_vec(&t.jwks()).unwrap();
    let header = b64(br#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#);
    let input = format!("{header}.{}", p[1]);
    for key in [&public_raw[..], jwk.x.as_bytes(), &jwks_json[..]] {
        let forged = format!("{input}.{}", b64(&hmac_sha256(key, input.as_bytes())));
        assert_eq!(
            t.verify_access(&forged),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }
}

#[test]
fn wrong_issuer_or_audience_is_rejected() {
    let c = clock();
    let keys = keys("k1").1;
    let t = tokens(keys.clone(), &c);
    let token = t.issue_access(&grant()).unwrap();
    let other_iss = AccessTokens::new(
        keys.clone(),
        AccessTokenConfig::new("https://other.test", AUD),
        Arc::new(c.clone()),
    )
    .unwrap();
    assert_eq!(
        other_iss.verify_access(token.token()),
        Err(TokenError::WrongIssuer)
    );
    let other_aud = AccessTokens::new(
        keys,
        AccessTokenConfig::new(ISS, "billing-api"),
        Arc::new(c.clone()),
    )
    .unwrap();
    assert_eq!(
        other_aud.verify_access(token.token()),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn malformed_tokens_are_rejected() {
    let c = clock();
    let t = tokens(keys("k1").1, &c);
    let token = t.issue_access(&grant()).unwrap();
    let p = parts(token.token());
    for bad in [
        String::new(),
        "a.b".into(),
        format!("{}.{}.{}.x", p[0], p[1], p[2]),
        format!("{}=.{}.{}", p[0], p[1], p[2]),
        format!("{}.{}.{}", p[0], p[1], &p[2][..10]),
        format!("{}.{}+.{}", p[0], p[1], p[2]),
        "x".repeat(10_000),
    ] {
        // A bad character in the claims already breaks the signature, checked first.
        assert!(
            matches!(
                t.verify_access(&bad),
                Err(TokenError::Malformed | TokenError::BadSignature)
            ),
            "{bad:.40}"
        );
    }
}

#[test]
fn rotation_keeps_previous_keys_valid_during_the_overlap() {
    let c = clock();
    let (old_config, old_keys) = keys("2030-01");
    let old = tokens(old_keys, &c);
    let before = old.issue_access(&grant()).unwrap();

    let new_config = SigningKeyConfig::generate("2030-02");
    let rotated = tokens(
        SigningKeys::from_config(&new_config, std::slice::from_ref(&old_config)).unwrap(),
        &c,
    );
    assert!(rotated.verify_access(before.token()).is_ok(), "overlap");
    let after = rotated.issue_access(&grant()).unwrap();
    assert!(
        after
            .token()
            .starts_with(&b64(br#"{"alg":"EdDSA","kid":"2030-02""#)[..20])
    );
    assert!(rotated.verify_access(after.token()).is_ok());
    let kids: Vec<String> = rotated.jwks().keys.iter().map(|k| k.kid.clone()).collect();
    assert_eq!(kids, ["2030-02", "2030-01"]);
    let jwks = serde_json::to_value(rotated.jwks()).unwrap();
    assert_eq!(jwks["keys"][1]["kty"], "OKP");
    assert_eq!(jwks["keys"][1]["crv"], "Ed25519");
    assert_eq!(jwks["keys"][1]["use"], "sig");
    assert_eq!(
        jwks["keys"][1],
        serde_json::to_value(&old.jwks().keys[0]).unwrap()
    );
    assert!(!jwks.to_string().contains(&old_config.private_key));

    // Once the old key is dropped, its tokens are refused.
    let done = tokens(SigningKeys::from_config(&new_config, &[]).unwrap(), &c);
    assert_eq!(
        done.verify_access(before.token()),
        Err(TokenError::UnknownKeyId)
    );
    // Duplicate key ids are a configuration error.
    assert!(SigningKeys::from_config(&new_config, std::slice::from_ref(&new_config)).is_err());
}

#[test]
fn refusals_are_a_plain_401_and_config_errors_name_no_secret() {
    for e in [
        TokenError::Expired,
        TokenError::BadSignature,
        TokenError::UnknownKeyId,
        TokenError::UnsupportedAlgorithm,
    ] {
        let core: helix_core::Error = e.into();
        assert_eq!((core.status(), core.code()), (401, "UNAUTHORIZED"));
        assert_eq!(core.public_message(), "authentication required");
    }
    let weak = SigningKeyConfig::new("k1", URL_SAFE_NO_PAD.encode([1u8; 32]));
    let err: helix_core::Error = SigningKeys::from_config(&weak, &[]).unwrap_err().into();
    let text = err.to_string();
    assert!(text.contains("k1") && text.contains("weak"), "{text}");
    assert!(!text.contains(&weak.private_key));
    let bad_ttl = AccessTokenConfig {
        ttl_secs: 86_400,
        ..AccessTokenConfig::new(ISS, AUD)
    };
    assert!(AccessTokens::new(keys("k").1, bad_ttl, Arc::new(clock())).is_err());
}

/// Verified tokens are remembered (the signature is not checked again), which must change
/// nothing about what is accepted: a copy differing in any byte is checked in full, the
/// time checks run on every call, and the memo belongs to one key set.
#[test]
fn remembered_tokens_change_nothing_about_what_is_accepted() {
    let c = clock();
    let (config, keys) = keys("k1");
    let t = tokens(keys, &c);
    let token = t.issue_access(&grant()).unwrap();
    let first = t.verify_access(token.token()).unwrap();
    assert_eq!(t.verify_access(token.token()).unwrap(), first);

    // The same token with its signature's last character changed (a different signature, or
    // a non-canonical encoding of it) is refused, after the original was remembered.
    let mut forged = token.token().to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'Q' } else { 'A' });
    assert!(t.verify_access(&forged).is_err());
    // A trailing byte makes another token too.
    assert!(t.verify_access(&format!("{}.", token.token())).is_err());

    // Another verifier with other keys does not share what this one remembered.
    let other = tokens(keys_other(), &c);
    assert_eq!(
        other.verify_access(token.token()),
        Err(TokenError::UnknownKeyId)
    );
    // Same key id, another key: the signature fails.
    let same_kid = tokens(
        SigningKeys::from_config(&SigningKeyConfig::generate("k1"), &[]).unwrap(),
        &c,
    );
    assert_eq!(
        same_kid.verify_access(token.token()),
        Err(TokenError::BadSignature)
    );
    // The original verifier still accepts it, until it expires.
    assert!(
        tokens(SigningKeys::from_config(&config, &[]).unwrap(), &c)
            .verify_access(token.token())
            .is_ok()
    );
    c.advance(Duration::seconds(600 + 30));
    assert_eq!(t.verify_access(token.token()), Err(TokenError::Expired));
}

fn keys_other() -> SigningKeys {
    keys("k-other").1
}
