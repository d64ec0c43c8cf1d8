//! PostgreSQL `LISTEN`/`NOTIFY` for caches that must not outlive a change made on another
//! server instance (feature `postgres`).
//!
//! `NOTIFY` does not replay: a notification sent while a listener is disconnected is lost.
//! [`Listener`] therefore tells its consumers, through a shared [`Feed`], whether they may
//! trust what they cached:
//!
//! - it sends itself a heartbeat (carrying its send time) on a private channel every
//!   [`Listener::heartbeat`] interval (500 ms by default) and calls the feed *live* only while
//!   the newest heartbeat received was *sent* less than twice that interval ago. PostgreSQL delivers notifications in commit order over one
//!   connection, so a heartbeat received after a change committed proves the change's
//!   notification was received before it;
//! - every loss (connection dropped, heartbeat overdue, listener stopped) and every recovery
//!   bumps the feed's *generation*. A cache entry stamped with an older generation is
//!   discarded, so nothing cached across a gap is trusted.
//!
//! A consumer reads [`Feed::live_generation`] *before* it reads the database, stamps the
//! entry with it, and trusts the entry later only while `live_generation` still returns the
//! same value. On SQLite there is no listener: the feed is never live and consumers read the
//! database every time (a single embedded node needs nothing more).
//!
//! ```no_run
//! use helix_core::notify::Listener;
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo(db: helix_core::Db) -> helix_core::Result<()> {
//! let listener = Listener::new(&db, ["my_cache_invalidated"])?;
//! let feed = listener.feed(); // share with the cache
//! let stop = CancellationToken::new();
//! tokio::spawn(listener.run(stop.clone(), |channel, payload| {
//!     tracing::debug!(channel, payload, "invalidate");
//! }));
//! // Later, in the cache: stamp what is read from the database with the generation.
//! let stamp = feed.live_generation(); // None: do not cache, read the database every time
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[cfg(feature = "postgres")]
pub use listener::Listener;
use tokio::time::Instant;

/// Whether a listener currently proves that no notification was missed, shared between a
/// [`Listener`] and the caches that rely on it.
#[derive(Debug)]
pub struct Feed {
    origin: Instant,
    /// Milliseconds since `origin` of the last heartbeat received, plus one (0 = never).
    last_heartbeat_ms: AtomicU64,
    generation: AtomicU64,
    /// How old the last heartbeat may be for the feed to count as live.
    tolerance_ms: u64,
}

impl Feed {
    fn new(tolerance: Duration) -> Self {
        Self {
            origin: Instant::now(),
            last_heartbeat_ms: AtomicU64::new(0),
            generation: AtomicU64::new(1),
            tolerance_ms: u64::try_from(tolerance.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A feed that is never live (SQLite, or no listener running): every cache read misses.
    pub fn never_live() -> Arc<Self> {
        Arc::new(Self::new(Duration::ZERO))
    }

    /// The current generation when the feed is live, `None` otherwise. Entries stamped with
    /// another generation must not be trusted.
    pub fn live_generation(&self) -> Option<u64> {
        let last = self.last_heartbeat_ms.load(Ordering::Acquire);
        if last == 0 {
            return None;
        }
        let now = self.elapsed_ms().saturating_add(1);
        (now.saturating_sub(last) <= self.tolerance_ms)
            .then(|| self.generation.load(Ordering::Acquire))
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A heartbeat sent at `sent_ms` (this feed's clock) came back. Liveness counts from
    /// when it was *sent*: it proves that every notification committed before then arrived,
    /// so a lagging connection (heartbeats arriving late) is not live.
    fn heartbeat_received(&self, sent_ms: u64) {
        let was_live = self.live_generation().is_some();
        self.last_heartbeat_ms
            .fetch_max(sent_ms.saturating_add(1), Ordering::AcqRel);
        if !was_live {
            // Recovering: whatever was cached while not live is not trusted either.
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn lost(&self) {
        self.last_heartbeat_ms.store(0, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(feature = "postgres")]
mod listener {
    use std::sync::Arc;
    use std::time::Duration;

    use sea_orm::sqlx::postgres::PgListener;
    use tokio::sync::mpsc;
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;

    use super::Feed;
    use crate::{Backend, Db, Error, Result};

    /// Longest channel name PostgreSQL accepts (identifier length).
    const MAX_CHANNEL_LEN: usize = 63;
    /// Wait before reconnecting after a failure.
    const RECONNECT_DELAY: Duration = Duration::from_millis(250);

    /// A `LISTEN` on a set of channels with reconnects and a heartbeat; see the module docs.
    #[derive(Debug)]
    pub struct Listener {
        db: Db,
        channels: Vec<String>,
        heartbeat_channel: String,
        heartbeat: Duration,
        feed: Arc<Feed>,
    }

    impl Listener {
        /// A listener on `channels` of `db`, which must be PostgreSQL. Channel names are
        /// identifiers: 1–63 characters from `a-z 0-9 _`.
        pub fn new(db: &Db, channels: impl IntoIterator<Item = impl Into<String>>) -> Result<Self> {
            if db.backend() != Backend::Postgres {
                return Err(Error::Config(
                    "LISTEN/NOTIFY needs PostgreSQL; SQLite is a single node".into(),
                ));
            }
            let channels: Vec<String> = channels.into_iter().map(Into::into).collect();
            for channel in &channels {
                let ok = !channel.is_empty()
                    && channel.len() <= MAX_CHANNEL_LEN
                    && channel
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok {
                    return Err(Error::Config(format!(
                        "notification channel `{channel}` must be 1-63 characters from a-z 0-9 _"
                    )));
                }
            }
            let heartbeat = Duration::from_millis(500);
            Ok(Self {
                db: db.clone(),
                channels,
                heartbeat_channel: format!("helix_hb_{}", uuid::Uuid::now_v7().simple()),
                heartbeat,
                feed: Arc::new(Feed::new(heartbeat * 2)),
            })
        }

        /// Sets the heartbeat interval (default 500 ms, at least 50 ms). The feed stops being
        /// live when a heartbeat is twice this late, which bounds how long a silently broken
        /// connection can go unnoticed.
        pub fn heartbeat(mut self, interval: Duration) -> Self {
            self.heartbeat = interval.max(Duration::from_millis(50));
            self.feed = Arc::new(Feed::new(self.heartbeat * 2));
            self
        }

        /// The feed that tells caches whether they may trust what they hold.
        pub fn feed(&self) -> Arc<Feed> {
            self.feed.clone()
        }

        /// Listens until `stop` is cancelled, calling `on_notification(channel, payload)` for
        /// every notification on the listened channels, and reconnecting after failures.
        pub async fn run<F>(self, stop: CancellationToken, mut on_notification: F)
        where
            F: FnMut(&str, &str) + Send,
        {
            while !stop.is_cancelled() {
                self.session(&stop, &mut on_notification).await;
                self.feed.lost();
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(RECONNECT_DELAY) => {}
                }
            }
            self.feed.lost();
        }

        /// One connection's life: returns when it fails, the heartbeat is overdue, or `stop`.
        async fn session<F>(&self, stop: &CancellationToken, on_notification: &mut F)
        where
            F: FnMut(&str, &str) + Send,
        {
            let pool = self.db.connection().get_postgres_connection_pool();
            let mut listener = match PgListener::connect_with(pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "notification listener could not connect");
                    return;
                }
            };
            let mut names: Vec<&str> = self.channels.iter().map(String::as_str).collect();
            names.push(&self.heartbeat_channel);
            if let Err(e) = listener.listen_all(names).await {
                tracing::warn!(error = %e, "LISTEN failed");
                return;
            }
            // The listener reads in its own task and hands over through a channel, so that
            // dropping a pending receive (on a tick or on stop) never loses half a message.
            let (tx, mut rx) = mpsc::channel::<Option<(String, String)>>(1024);
            let reader = tokio::spawn(async move {
                loop {
                    let item = match listener.try_recv().await {
                        Ok(Some(n)) => Some((n.channel().to_owned(), n.payload().to_owned())),
                        // The connection dropped: notifications may have been missed.
                        Ok(None) | Err(_) => None,
                    };
                    let lost = item.is_none();
                    if tx.send(item).await.is_err() || lost {
                        return;
                    }
                }
            });
            let mut ticker = tokio::time::interval(self.heartbeat);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_received = Instant::now();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    item = rx.recv() => match item {
                        Some(Some((channel, payload))) => {
                            if channel == self.heartbeat_channel {
                                last_received = Instant::now();
                                // The payload is the send time; anything else is ignored.
                                if let Ok(sent_ms) = payload.parse::<u64>() {
                                    self.feed.heartbeat_received(sent_ms);
                                }
                            } else {
                                on_notification(&channel, &payload);
                            }
                        }
                        _ => {
                            tracing::warn!("notification listener lost its connection");
                            break;
                        }
                    },
                    _ = ticker.tick() => {
                        if last_received.elapsed() > self.heartbeat * 4 {
                            tracing::warn!("notification heartbeat overdue; reconnecting");
                            break;
                        }
                        if let Err(e) = self.send_heartbeat().await {
                            tracing::warn!(error = %e, "notification heartbeat could not be sent");
                        }
                    }
                }
            }
            reader.abort();
        }

        async fn send_heartbeat(&self) -> std::result::Result<(), sea_orm::DbErr> {
            use sea_orm::{ConnectionTrait, Statement};
            self.db
                .connection()
                .execute_raw(Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [
                        self.heartbeat_channel.clone().into(),
                        self.feed.elapsed_ms().to_string().into(),
                    ],
                ))
                .await
                .map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_is_live_only_between_heartbeats_and_losses() {
        let feed = Feed::new(Duration::from_secs(60));
        assert_eq!(feed.live_generation(), None);
        feed.heartbeat_received(feed.elapsed_ms());
        let g1 = feed.live_generation().unwrap();
        feed.heartbeat_received(feed.elapsed_ms());
        assert_eq!(
            feed.live_generation(),
            Some(g1),
            "steady state keeps the generation"
        );
        feed.lost();
        assert_eq!(feed.live_generation(), None);
        feed.heartbeat_received(feed.elapsed_ms());
        let g2 = feed.live_generation().unwrap();
        assert!(g2 > g1, "entries cached before the loss are not trusted");
        assert_eq!(Feed::never_live().live_generation(), None);
    }

    #[test]
    fn an_overdue_heartbeat_ends_liveness() {
        let feed = Feed::new(Duration::ZERO);
        feed.heartbeat_received(feed.elapsed_ms());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(feed.live_generation(), None);
    }
}
