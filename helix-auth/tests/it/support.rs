//! Shared set-up: a migrated database, a cheap argon2 configuration, a manual clock.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use helix_auth::{Argon2Config, AuthConfig, AuthModule, AuthService, Password};
use helix_core::testing::TestDb;
use helix_core::{Helix, Kernel, ManualClock, RequestMeta};

/// A password that passes the default policy.
pub const STRONG: &str = "plum-Tractor-91-oasis";

/// Cheap argon2 (tests only), no progressive delay, two hashing slots.
pub fn fast_config() -> AuthConfig {
    let mut c = AuthConfig {
        argon2: Argon2Config {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        hashing_concurrency: Some(2),
        ..AuthConfig::default()
    };
    c.lockout.delay_base_ms = 0;
    c
}

/// Runs the migrations and returns the kernel (with a manual clock) and the clock.
pub async fn kernel(t: &TestDb) -> (Kernel, ManualClock) {
    Helix::builder(t.db.clone())
        .module(AuthModule)
        .build()
        .await
        .expect("migrations");
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 9, 0, 0).unwrap());
    let kernel = Kernel::new(t.db.clone()).with_clock(Arc::new(clock.clone()));
    (kernel, clock)
}

/// A service over a migrated database with [`fast_config`].
pub async fn service(t: &TestDb) -> (AuthService, ManualClock) {
    let (kernel, clock) = kernel(t).await;
    let auth = AuthService::builder(kernel, fast_config()).build().unwrap();
    (auth, clock)
}

/// Request metadata as an HTTP request would carry it.
pub fn meta() -> RequestMeta {
    RequestMeta {
        correlation_id: uuid::Uuid::now_v7().to_string(),
        ip: Some("203.0.113.7".parse().unwrap()),
        user_agent: Some("helix-tests/1.0".into()),
    }
}

/// A password value.
pub fn pw(s: &str) -> Password {
    Password::new(s)
}

/// Registers and verifies `email` with [`STRONG`]; returns the account id.
pub async fn verified_account(auth: &AuthService, email: &str) -> uuid::Uuid {
    let out = auth.register(&meta(), email, &pw(STRONG)).await.unwrap();
    let helix_auth::RegistrationMail::Verify(mail) = out.mail else {
        panic!("expected a new account");
    };
    auth.verify_email(&meta(), &mail.token).await.unwrap()
}
