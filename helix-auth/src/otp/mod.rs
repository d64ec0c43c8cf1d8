//! One-time codes over channels: e-mail, SMS and WhatsApp.
//!
//! [`OtpService::send`] issues a 6–8 digit code for an account and a purpose
//! (`verify_phone`, `step_up`, ...), stores only its salted SHA-256 (a random 16-byte salt
//! per code) and queues it through the outbox in the same transaction, sealed with the key
//! ring: by e-mail (the [`crate::mail::ONE_TIME_CODE`] template) or as a text message
//! ([`MESSAGE_TOPIC`], sent by a [`MessageSubscriber`] through a [`MessageProvider`] such as
//! [`TwilioProvider`]). [`OtpService::verify`] checks the newest unused code of the purpose
//! in constant time and uses it up.
//!
//! Limits, per account (defaults of [`OtpConfig`], the product's requirements): a code is
//! valid 30 minutes and works once; at most 3 sends per hour (a fourth is `429` with
//! `Retry-After`); at most 5 verification attempts per hour: the fifth failed attempt in an
//! hour locks codes for the account for 30 minutes (sends and verifications answer `429`
//! until then). Every outcome leaves a security event (`otp_sent`, `otp_verified`,
//! `otp_failed`, `otp_locked`, `phone_changed`).
//!
//! A phone number is set with [`OtpService::set_phone`] (E.164, unverified); a
//! `verify_phone` code sent to it by SMS or WhatsApp verifies it. Other purposes over SMS or
//! WhatsApp need a verified number.

mod entity;
mod phone;
mod provider;
mod service;

pub use phone::validate_e164;
pub use provider::{
    MESSAGE_TOPIC, MessageProvider, MessageSubscriber, TwilioConfig, TwilioProvider,
};
pub use service::{OtpSent, OtpService, PhoneStatus};

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The purpose that verifies the account's phone number.
pub const VERIFY_PHONE: &str = "verify_phone";

/// Where a code goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The account's e-mail address.
    Email,
    /// SMS to the account's phone number.
    Sms,
    /// WhatsApp to the account's phone number.
    #[serde(rename = "whatsapp")]
    WhatsApp,
}

impl Channel {
    /// `email`, `sms` or `whatsapp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::WhatsApp => "whatsapp",
        }
    }
}

/// One-time-code limits (`auth.otp` in the reference server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtpConfig {
    /// Digits per code, 6 to 8.
    pub code_length: u32,
    /// How long a code stays valid, in seconds (30 minutes).
    pub ttl_secs: u64,
    /// Codes sent per account per hour (3).
    pub max_sends_per_hour: u32,
    /// Verification attempts per account per hour (5); the last failed one locks.
    pub max_verifies_per_hour: u32,
    /// How long the lock lasts, in seconds (30 minutes).
    pub lock_secs: u64,
}

impl Default for OtpConfig {
    fn default() -> Self {
        Self {
            code_length: 6,
            ttl_secs: 30 * 60,
            max_sends_per_hour: 3,
            max_verifies_per_hour: 5,
            lock_secs: 30 * 60,
        }
    }
}

/// A one-time code. `Debug` redacts it; wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(Zeroizing<String>);

impl OneTimeCode {
    /// Wraps a code received from a client.
    pub fn new(code: impl Into<String>) -> Self {
        Self(Zeroizing::new(code.into()))
    }

    /// The code, to deliver or compare. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeCode(***)")
    }
}
