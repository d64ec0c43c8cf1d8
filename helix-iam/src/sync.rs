//! Keeping the in-memory policy cache fresh, in one process and across server instances.
//!
//! The engine holds one compiled policy per organization (a [`PolicyCache`]); [`IamSync`]
//! decides when a tenant's entry may be trusted and reloads it from the database when not.
//!
//! - Every change to a tenant's policy bumps its revision in `iam_revisions` and appends to
//!   `iam_changelog` in the same transaction (database triggers), and on PostgreSQL sends
//!   `NOTIFY helix_iam_changed, '<org_id>:<revision>'` at commit.
//! - [`IamSync::follow_changes`] (PostgreSQL) listens on that channel with a heartbeat
//!   ([`helix_core::notify::Listener`]): a notification newer than the loaded revision
//!   evicts the tenant. While the feed is live, [`IamSync::ensure_fresh`] answers from
//!   memory without touching the database.
//! - `NOTIFY` does not replay. Every time the feed comes back (a new generation: the
//!   connection dropped, a heartbeat was late, the follower restarted), IamSync catches up
//!   before trusting memory again: it compares the revision of every loaded tenant with
//!   `iam_revisions` in batched queries and evicts those that moved.
//! - When the feed is not live (SQLite, no follower, a gap), `ensure_fresh` reads the
//!   tenant's revision from the database on every call and reloads when it moved:
//!   correctness first. [`IamSync::on_committed`] lets a writer in this process evict at
//!   once.
//! - Read-your-writes: a write returns its revision; hand it to the client as a
//!   [`RevisionToken`]. `ensure_fresh(ctx, Some(revision))` never answers from a snapshot
//!   older than that revision.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use helix_core::notify::Feed;
use helix_core::{Actor, Backend, Db, PlatformContext, TenantContext};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::{IamError, Result};
use crate::model::{Revision, TenantSnapshot};
use crate::store::entity::revision;
use crate::store::{IamStore, RoleTemplate, current_revision, revision_from};

/// The channel the change triggers notify on (PostgreSQL).
pub const CHANGE_CHANNEL: &str = "helix_iam_changed";

/// How many tenants one catch-up query compares.
const CATCH_UP_BATCH: usize = 500;

/// The engine's per-tenant policy cache, as the sync layer drives it.
pub trait PolicyCache: Send + Sync + 'static {
    /// The revision of the tenant's loaded policy, if loaded.
    fn loaded_revision(&self, org: Uuid) -> Option<Revision>;
    /// Compiles the snapshot and swaps it in. Must keep the loaded policy when it is
    /// already at a newer revision (two loads can finish out of order).
    fn install(&self, snapshot: TenantSnapshot) -> Result<(), IamError>;
    /// Drops the tenant's policy (the next check reloads it).
    fn evict(&self, org: Uuid);
    /// Drops every tenant's policy.
    fn evict_all(&self);
    /// Every loaded tenant with its revision (for the catch-up after a feed gap).
    fn loaded_tenants(&self) -> Vec<(Uuid, Revision)>;
}

/// A revision of one organization, as an opaque string handed to clients after a write
/// (`r1.<org id>.<revision>`), so that a later check can demand "at least as fresh as my
/// write".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevisionToken {
    /// The organization.
    pub org_id: Uuid,
    /// The revision.
    pub revision: Revision,
}

impl RevisionToken {
    /// A token for `revision` of `org_id`.
    pub fn new(org_id: Uuid, revision: Revision) -> Self {
        Self { org_id, revision }
    }

    /// Parses a token and checks that it was issued for `org_id` (a token of another
    /// organization is [`IamError::InvalidToken`]).
    pub fn parse_for(token: &str, org_id: Uuid) -> Result<Revision> {
        let t: Self = token.parse()?;
        if t.org_id != org_id {
            return Err(IamError::InvalidToken);
        }
        Ok(t.revision)
    }
}

impl fmt::Display for RevisionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r1.{}.{}", self.org_id.simple(), self.revision.0)
    }
}

impl FromStr for RevisionToken {
    type Err = IamError;

    fn from_str(s: &str) -> Result<Self> {
        if s.len() > 80 {
            return Err(IamError::InvalidToken);
        }
        let mut parts = s.split('.');
        let (Some("r1"), Some(org), Some(rev), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IamError::InvalidToken);
        };
        if org.len() != 32 || rev.is_empty() || !rev.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IamError::InvalidToken);
        }
        let org_id = Uuid::try_parse(org).map_err(|_| IamError::InvalidToken)?;
        let revision = rev.parse::<u64>().map_err(|_| IamError::InvalidToken)?;
        Ok(Self::new(org_id, Revision(revision)))
    }
}

/// Which feed a cache entry was verified against: the follower run (`epoch`) and the
/// feed's generation within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    epoch: u64,
    generation: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct TenantState {
    /// The loaded revision, confirmed current while the feed stays at this stamp.
    verified: Option<(Revision, Stamp)>,
    /// The newest revision announced for the tenant.
    notified: Revision,
}

struct Inner {
    db: Db,
    store: IamStore,
    cache: Arc<dyn PolicyCache>,
    templates: Vec<RoleTemplate>,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    heartbeat: Duration,
    /// The follower run and its feed.
    feed: RwLock<(u64, Arc<Feed>)>,
    tenants: RwLock<HashMap<Uuid, TenantState>>,
    /// One load at a time per tenant.
    loads: std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// The stamp a catch-up completed for, packed (`epoch << 32 | generation`; 0 = none).
    caught_up: AtomicU64,
    catch_up: tokio::sync::Mutex<()>,
}

/// Keeps a [`PolicyCache`] fresh; see the module docs. Cheap to clone; build one per
/// process.
#[derive(Clone)]
pub struct IamSync {
    inner: Arc<Inner>,
}

impl fmt::Debug for IamSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamSync")
            .field("backend", &self.inner.db.backend())
            .field("live", &self.is_live())
            .finish_non_exhaustive()
    }
}

fn pack(s: Stamp) -> u64 {
    (s.epoch << 32) | (s.generation & 0xffff_ffff)
}

impl IamSync {
    /// A sync over `store`'s database driving `cache`. `templates` are the built-in roles'
    /// defaults, created for a tenant that lacks them when it is first loaded.
    pub fn new(store: IamStore, cache: Arc<dyn PolicyCache>, templates: Vec<RoleTemplate>) -> Self {
        Self {
            inner: Arc::new(Inner {
                db: store.kernel().db().clone(),
                store,
                cache,
                templates,
                heartbeat: Duration::from_millis(500),
                feed: RwLock::new((0, Feed::never_live())),
                tenants: RwLock::new(HashMap::new()),
                loads: std::sync::Mutex::new(HashMap::new()),
                caught_up: AtomicU64::new(0),
                catch_up: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Sets the change feed's heartbeat interval (default 500 ms, at least 50 ms): a
    /// silently broken connection stops being trusted after about twice this. Call before
    /// [`IamSync::follow_changes`] and before cloning.
    pub fn with_heartbeat(mut self, interval: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.heartbeat = interval.max(Duration::from_millis(50));
        }
        self
    }

    pub(crate) fn live_stamp(&self) -> Option<Stamp> {
        let guard = self.inner.feed.read().unwrap_or_else(|p| p.into_inner());
        let (epoch, feed) = &*guard;
        feed.live_generation().map(|generation| Stamp {
            epoch: *epoch,
            generation,
        })
    }

    /// Whether the change feed is live and caught up, so fresh tenants are answered from
    /// memory.
    pub fn is_live(&self) -> bool {
        self.live_stamp()
            .is_some_and(|s| self.inner.caught_up.load(Ordering::Acquire) == pack(s))
    }

    /// Makes sure the tenant's policy in the cache is fresh, loading it when needed, and
    /// returns the revision it reflects.
    ///
    /// With `at_least` (from a [`RevisionToken`]) the answer is never older than that
    /// revision; a revision the database has not reached is [`IamError::RevisionAhead`].
    pub async fn ensure_fresh(
        &self,
        ctx: &TenantContext,
        at_least: Option<Revision>,
    ) -> Result<Revision> {
        let org = ctx.org_id();
        let stamp = self.live_stamp();
        if let Some(s) = stamp {
            if self.inner.caught_up.load(Ordering::Acquire) == pack(s) {
                if let Some(loaded) = self.trusted(org, s)
                    && at_least.is_none_or(|a| a <= loaded)
                {
                    return Ok(loaded);
                }
            } else if let Err(e) = self.catch_up(s).await {
                // Not trusted yet: the database answers below, which is always correct.
                tracing::warn!(error = %e, "IAM change feed catch-up failed; will retry");
            }
        }
        self.refresh(org, stamp, at_least).await
    }

    /// Makes sure the tenant's cached policy is at least as fresh as `seen`, a revision read
    /// inside the caller's own transaction ([`crate::store::current_revision`]), and
    /// returns the revision it reflects.
    ///
    /// A policy already loaded at `seen` or later answers at once, with no database read:
    /// it reflects everything the caller's transaction can see. When `seen` includes the
    /// caller's own uncommitted changes (the database has not reached it), the newest
    /// committed policy is used.
    pub async fn ensure_seen(&self, ctx: &TenantContext, seen: Revision) -> Result<Revision> {
        if let Some(loaded) = self.inner.cache.loaded_revision(ctx.org_id())
            && loaded >= seen
        {
            return Ok(loaded);
        }
        match self.ensure_fresh(ctx, Some(seen)).await {
            Err(IamError::RevisionAhead { .. }) => self.ensure_fresh(ctx, None).await,
            other => other,
        }
    }

    /// Like [`IamSync::ensure_fresh`] with a client's revision token (refused when
    /// malformed or issued for another organization).
    pub async fn ensure_fresh_with_token(
        &self,
        ctx: &TenantContext,
        token: &str,
    ) -> Result<Revision> {
        let at_least = RevisionToken::parse_for(token, ctx.org_id())?;
        self.ensure_fresh(ctx, Some(at_least)).await
    }

    /// The tenant's loaded revision when the change feed is live and caught up and that
    /// revision is known current: what [`IamSync::ensure_fresh`] would answer from memory,
    /// without ever reading the database (`None` when it would have to).
    pub(crate) fn trusted_now(&self, org: Uuid) -> Option<Revision> {
        let stamp = self.live_stamp()?;
        if self.inner.caught_up.load(Ordering::Acquire) != pack(stamp) {
            return None;
        }
        self.trusted(org, stamp)
    }

    /// Whether a [`Consistency::Fresh`](crate::Consistency::Fresh) decision for the tenant
    /// would be answered from memory now, with no database read (the feed is live and
    /// caught up, and the loaded policy was verified current since its last change). For
    /// diagnostics and tests.
    pub fn answers_from_memory(&self, org: Uuid) -> bool {
        self.trusted_now(org).is_some()
    }

    /// Records that `seen`, a revision read after `stamp` was taken (by a statement that
    /// started after it: PostgreSQL `READ COMMITTED`), is the tenant's current revision as
    /// of `stamp`, when the engine holds that policy or a newer one, as
    /// [`IamSync::ensure_fresh`] records its own reads. [`IamSync::trusted_now`] then answers
    /// from memory until a notification names a newer revision or the feed changes.
    pub(crate) fn note_verified(&self, org: Uuid, stamp: Stamp, seen: Revision) {
        let Some(loaded) = self.inner.cache.loaded_revision(org) else {
            return;
        };
        if loaded >= seen {
            self.mark_verified(org, loaded, stamp);
        }
    }

    /// Records `revision` as the tenant's verified current policy at `stamp`.
    fn mark_verified(&self, org: Uuid, revision: Revision, stamp: Stamp) {
        let mut tenants = self
            .inner
            .tenants
            .write()
            .unwrap_or_else(|p| p.into_inner());
        tenants.entry(org).or_default().verified = Some((revision, stamp));
    }

    /// The loaded revision, when memory may answer for it at `stamp`.
    fn trusted(&self, org: Uuid, stamp: Stamp) -> Option<Revision> {
        let loaded = self.inner.cache.loaded_revision(org)?;
        let tenants = self.inner.tenants.read().unwrap_or_else(|p| p.into_inner());
        let state = tenants.get(&org)?;
        (state.verified == Some((loaded, stamp)) && state.notified <= loaded).then_some(loaded)
    }

    /// Reads the tenant's revision from the database and reloads the policy when it moved.
    async fn refresh(
        &self,
        org: Uuid,
        stamp: Option<Stamp>,
        at_least: Option<Revision>,
    ) -> Result<Revision> {
        let ctx = TenantContext::new(org, Actor::System("helix-iam.sync".into()));
        let tx = self.inner.db.tenant_read(&ctx).await?;
        let current = current_revision(&tx).await?;
        tx.commit().await?;
        if let Some(requested) = at_least
            && requested > current
        {
            return Err(IamError::RevisionAhead { requested, current });
        }
        let cache = &self.inner.cache;
        let revision = match cache.loaded_revision(org) {
            Some(loaded) if loaded == current => loaded,
            _ => self.load(org, &ctx, current).await?,
        };
        if let Some(s) = stamp {
            self.mark_verified(org, revision, s);
        }
        Ok(revision)
    }

    /// Loads and installs the tenant's snapshot, one load per tenant at a time: callers
    /// that queued behind a load that reached `at_least` use its result.
    async fn load(&self, org: Uuid, ctx: &TenantContext, at_least: Revision) -> Result<Revision> {
        let gate = {
            let mut loads = self.inner.loads.lock().unwrap_or_else(|p| p.into_inner());
            loads.entry(org).or_default().clone()
        };
        let result = async {
            let _turn = gate.lock().await;
            let cache = &self.inner.cache;
            if let Some(loaded) = cache.loaded_revision(org)
                && loaded >= at_least
            {
                return Ok(loaded);
            }
            // Loading never writes (built-in roles not stored yet come from the templates).
            let tx = self.inner.db.tenant_read(ctx).await?;
            let snapshot = self
                .inner
                .store
                .load_snapshot(&tx, &self.inner.templates)
                .await?;
            tx.commit().await?;
            let revision = snapshot.revision;
            if cache.loaded_revision(org).is_none_or(|l| l < revision) {
                cache.install(snapshot)?;
            }
            Ok(revision)
        }
        .await;
        let mut loads = self.inner.loads.lock().unwrap_or_else(|p| p.into_inner());
        // The map and this call hold the gate: nobody else waits, forget it.
        if loads.get(&org).is_some_and(|g| Arc::strong_count(g) <= 2) {
            loads.remove(&org);
        }
        drop(gate);
        result
    }

    /// A change of `org` at `revision` committed (called by this process's writers after
    /// commit, and by the feed for every notification): a cached policy older than that is
    /// evicted at once.
    pub fn on_committed(&self, org: Uuid, revision: Revision) {
        {
            let mut tenants = self
                .inner
                .tenants
                .write()
                .unwrap_or_else(|p| p.into_inner());
            let state = tenants.entry(org).or_default();
            state.notified = state.notified.max(revision);
        }
        if self
            .inner
            .cache
            .loaded_revision(org)
            .is_some_and(|loaded| loaded < revision)
        {
            self.inner.cache.evict(org);
        }
    }

    fn on_notification(&self, payload: &str) {
        let parsed = payload
            .split_once(':')
            .and_then(|(org, rev)| Some((Uuid::try_parse(org).ok()?, Revision(rev.parse().ok()?))));
        match parsed {
            Some((org, revision)) => self.on_committed(org, revision),
            None => tracing::warn!("ignoring a malformed IAM change notification"),
        }
    }

    /// After a feed gap: compares every loaded tenant's revision with the database in
    /// batched queries and evicts those that moved; the others are trusted again at
    /// `stamp`.
    async fn catch_up(&self, stamp: Stamp) -> Result<()> {
        let _one_at_a_time = self.inner.catch_up.lock().await;
        let target = pack(stamp);
        if self.inner.caught_up.load(Ordering::Acquire) == target {
            return Ok(());
        }
        let loaded = self.inner.cache.loaded_tenants();
        let ctx = PlatformContext::system("helix-iam.sync");
        let mut evicted = 0usize;
        for chunk in loaded.chunks(CATCH_UP_BATCH) {
            let tx = self.inner.db.platform_read(&ctx).await?;
            let rows: Vec<(Uuid, i64)> = revision::Entity::find()
                .select_only()
                .column(revision::Column::OrgId)
                .column(revision::Column::Revision)
                .filter(revision::Column::OrgId.is_in(chunk.iter().map(|(org, _)| *org)))
                .into_tuple()
                .all(tx.raw())
                .await?;
            tx.commit().await?;
            let current: HashMap<Uuid, Revision> = rows
                .into_iter()
                .map(|(org, rev)| revision_from(rev).map(|r| (org, r)))
                .collect::<Result<_>>()?;
            let mut tenants = self
                .inner
                .tenants
                .write()
                .unwrap_or_else(|p| p.into_inner());
            for (org, loaded_rev) in chunk {
                let db_rev = current.get(org).copied().unwrap_or_default();
                if db_rev == *loaded_rev {
                    tenants.entry(*org).or_default().verified = Some((*loaded_rev, stamp));
                } else {
                    tenants.remove(org);
                    self.inner.cache.evict(*org);
                    evicted += 1;
                }
            }
        }
        // Trust memory again only if the feed did not move while we compared.
        if self.live_stamp() == Some(stamp) {
            self.inner.caught_up.store(target, Ordering::Release);
        }
        tracing::debug!(tenants = loaded.len(), evicted, "IAM change feed caught up");
        Ok(())
    }

    /// Follows changes made by every instance sharing the database until `stop`; run it
    /// once per process (for example in a spawned task). On PostgreSQL it listens on
    /// [`CHANGE_CHANNEL`] with a heartbeat and catches up after every gap; on SQLite it
    /// returns at once and every check compares with the database revision.
    pub async fn follow_changes(&self, stop: tokio_util::sync::CancellationToken) {
        if self.inner.db.backend() != Backend::Postgres {
            return;
        }
        #[cfg(feature = "postgres")]
        {
            let listener = match helix_core::notify::Listener::new(&self.inner.db, [CHANGE_CHANNEL])
            {
                Ok(l) => l.heartbeat(self.inner.heartbeat),
                Err(e) => {
                    tracing::error!(error = %e, "cannot follow IAM changes");
                    return;
                }
            };
            self.swap_feed(listener.feed());
            let this = self.clone();
            let watcher_stop = stop.child_token();
            let watcher = tokio::spawn({
                let this = self.clone();
                let stop = watcher_stop.clone();
                async move { this.watch_generations(stop).await }
            });
            listener
                .run(stop, move |_, payload| this.on_notification(payload))
                .await;
            watcher_stop.cancel();
            let _ = watcher.await;
            self.swap_feed(Feed::never_live());
        }
        #[cfg(not(feature = "postgres"))]
        let _ = stop;
    }

    /// Runs the catch-up as soon as the feed reaches a new generation, rather than at the
    /// next check.
    #[cfg(feature = "postgres")]
    async fn watch_generations(&self, stop: tokio_util::sync::CancellationToken) {
        let tick = (self.inner.heartbeat / 4).max(Duration::from_millis(10));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {}
            }
            if let Some(s) = self.live_stamp()
                && self.inner.caught_up.load(Ordering::Acquire) != pack(s)
                && let Err(e) = self.catch_up(s).await
            {
                tracing::warn!(error = %e, "IAM change feed catch-up failed; will retry");
            }
        }
    }

    fn swap_feed(&self, feed: Arc<Feed>) {
        let mut guard = self.inner.feed.write().unwrap_or_else(|p| p.into_inner());
        guard.0 += 1;
        guard.1 = feed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_garbage() {
        let org = Uuid::now_v7();
        let t = RevisionToken::new(org, Revision(42));
        let s = t.to_string();
        assert!(s.starts_with("r1."));
        assert_eq!(s.parse::<RevisionToken>().unwrap(), t);
        assert_eq!(RevisionToken::parse_for(&s, org).unwrap(), Revision(42));
        assert!(matches!(
            RevisionToken::parse_for(&s, Uuid::now_v7()),
            Err(IamError::InvalidToken)
        ));
        for bad in [
            "",
            "r1",
            "r2.00000000000000000000000000000000.1",
            "r1.0000.1",
            "r1.00000000000000000000000000000000.",
            "r1.00000000000000000000000000000000.-1",
            "r1.00000000000000000000000000000000.+1",
            "r1.00000000000000000000000000000000.1.2",
            "r1.00000000000000000000000000000000.99999999999999999999999",
            "r1.0000000000000000000000000000000g.1",
        ] {
            assert!(bad.parse::<RevisionToken>().is_err(), "{bad}");
        }
    }

    #[test]
    fn stamps_of_different_follower_runs_never_collide() {
        let a = Stamp {
            epoch: 1,
            generation: 2,
        };
        let b = Stamp {
            epoch: 2,
            generation: 2,
        };
        assert_ne!(pack(a), pack(b));
        assert_ne!(pack(a), 0);
    }
}
