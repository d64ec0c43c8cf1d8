//! Periodic maintenance: the audit retention purge and expired `Idempotency-Key` records.

use std::time::Duration;

use helix_core::{Kernel, PlatformContext};
use tokio_util::sync::CancellationToken;

/// Runs one maintenance pass. Each step logs its own outcome; a failing step does not stop
/// the others.
pub async fn run_once(kernel: &Kernel) {
    let now = kernel.now();
    let ctx = PlatformContext::system("audit-retention");
    match helix_core::audit::purge(kernel.db(), &ctx, now).await {
        Ok(report) => {
            if !report.failed.is_empty() {
                tracing::warn!(
                    audit.purge.run_id = %report.run_id,
                    audit.purge.failed_tenants = report.failed.len(),
                    "audit purge left tenants with a broken chain untouched"
                );
            }
            tracing::info!(
                audit.purge.run_id = %report.run_id,
                audit.purge.rows_deleted = report.rows_deleted,
                audit.purge.tenants = report.purged.len(),
                audit.purge.held = report.held.len(),
                "audit retention purge finished"
            );
        }
        Err(e) => {
            tracing::error!(error.code = e.code(), error.detail = %e, "audit retention purge failed")
        }
    }
    match helix_core::http::idempotency::purge_expired(kernel.db(), now).await {
        Ok(n) => tracing::debug!(
            idempotency.expired_deleted = n,
            "expired idempotency keys removed"
        ),
        Err(e) => {
            tracing::error!(error.code = e.code(), error.detail = %e, "idempotency key cleanup failed")
        }
    }
}

/// Runs [`run_once`] every `interval` (the first pass after one interval) until `stop`.
pub async fn run(kernel: Kernel, interval: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => run_once(&kernel).await,
        }
    }
}
