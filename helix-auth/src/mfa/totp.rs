//! TOTP (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1, 6 digits, 30-second steps, base32
//! secrets of 160 bits, `otpauth://` URIs and their QR code as SVG.

use std::fmt;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use zeroize::Zeroizing;

/// Length of a step, in seconds.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Secret length in bytes (160 bits, RFC 4226's recommendation for HMAC-SHA-1).
pub const SECRET_LEN: usize = 20;

/// The RFC 4648 base32 alphabet (authenticator apps expect it, unpadded).
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// HOTP (RFC 4226 §5.3): the `digits`-digit code of `counter` under `key`.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The RFC 6238 time step of `at` (Unix time / 30; times before 1970 are step 0).
pub fn step_at(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp().div_euclid(STEP_SECS)).unwrap_or(0)
}

/// A TOTP secret. `Debug` redacts it; it is wiped on drop.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    /// A fresh random 160-bit secret.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
        rand::rng().fill_bytes(bytes.as_mut_slice());
        Self(bytes)
    }

    /// A secret from raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// A secret from its base32 form (case-insensitive; spaces and padding ignored).
    /// `None` when it is not base32.
    pub fn from_base32(text: &str) -> Option<Self> {
        let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8));
        let (mut buffer, mut bits) = (0u64, 0u32);
        for c in text.bytes().filter(|c| !matches!(c, b' ' | b'=' | b'-')) {
            let value = BASE32.iter().position(|a| *a == c.to_ascii_uppercase())?;
            buffer = (buffer << 5) | value as u64;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push(((buffer >> bits) & 0xff) as u8);
            }
        }
        Some(Self(out))
    }

    /// The raw bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The unpadded base32 form that authenticator apps take.
    pub fn to_base32(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.0.len().div_ceil(5) * 8));
        let (mut buffer, mut bits) = (0u64, 0u32);
        for byte in self.0.iter() {
            buffer = (buffer << 8) | u64::from(*byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
        }
        out
    }

    /// The 6-digit code of step `step`, zero-padded.
    pub fn code_for_step(&self, step: u64) -> String {
        format!("{:06}", hotp(&self.0, step, DIGITS))
    }

    /// The 6-digit code valid at `at`.
    pub fn code_at(&self, at: DateTime<Utc>) -> String {
        self.code_for_step(step_at(at))
    }

    /// The steps within `skew` of `now` whose code is `code` (compared in constant time per
    /// step), newest first.
    pub(crate) fn matching_steps(&self, code: &str, now: DateTime<Utc>, skew: u8) -> Vec<u64> {
        let current = step_at(now);
        let skew = u64::from(skew);
        let mut steps: Vec<u64> = (current.saturating_sub(skew)..=current.saturating_add(skew))
            .filter(|step| constant_time_eq(self.code_for_step(*step).as_bytes(), code.as_bytes()))
            .collect();
        steps.sort_unstable_by(|a, b| b.cmp(a));
        steps
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// Whether `code` has the shape of a TOTP code (6 ASCII digits).
pub(crate) fn well_formed_code(code: &str) -> bool {
    code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit())
}

/// Equality whose time does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `otpauth://totp/` URI of `secret` for `account` (the e-mail) at `issuer`, as the
/// Key Uri Format of Google Authenticator describes it: the label `<issuer>:<account>` and
/// the `issuer` parameter percent-encoded (RFC 3986 unreserved characters kept).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &TotpSecret) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(issuer),
        percent_encode(account),
        secret.to_base32().as_str(),
        percent_encode(issuer),
    ))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The QR code of `uri` as a standalone SVG document. `None` if the text does not fit a
/// QR code (URIs built here always do).
pub fn qr_svg(uri: &str) -> Option<Zeroizing<String>> {
    let code =
        qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(Zeroizing::new(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trips() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890");
        let text = secret.to_base32();
        assert_eq!(text.as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let back = TotpSecret::from_base32(&text.to_lowercase()).unwrap_or_else(|| panic!());
        assert_eq!(back.expose_bytes(), b"12345678901234567890");
        assert!(TotpSecret::from_base32("not base32!").is_none());
        assert_eq!(TotpSecret::generate().to_base32().len(), 32);
    }

    #[test]
    fn uri_is_percent_encoded() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890");
        let uri = otpauth_uri("Acme Corp", "ada+1@example.com", &secret);
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Acme%20Corp:ada%2B1%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).unwrap_or_else(|| panic!());
        assert!(svg.contains("<svg"));
    }
}
