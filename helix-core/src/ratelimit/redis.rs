//! The Redis store: one limit shared by every server instance.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::quota::{Decision, Quota, RateKey};
use super::store::{RateLimitStore, StoreError};
use crate::ids::Clock;

/// The GCRA step of [`super::gcra`], atomic inside Redis. Times are microseconds since the
/// Unix epoch (exact in Lua's doubles until the year 2255). ARGV: emission interval, burst,
/// cost, now (negative: use the server's `TIME`). Numbers are written with `%.0f` so large
/// values never turn into exponent notation.
const GCRA_LUA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local tolerance = interval * burst
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance
local allowed = 0
local after = tat
local retry_after = 0
if now >= allow_at then
  allowed = 1
  after = new_tat
  local ttl_ms = math.ceil((new_tat - now) / 1000)
  if ttl_ms < 1 then ttl_ms = 1 end
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
else
  retry_after = allow_at - now
end
local remaining = math.floor((now - after + tolerance) / interval)
if remaining < 0 then remaining = 0 end
if remaining > burst then remaining = burst end
return {allowed, remaining, after - now, retry_after}
";

/// Where the Redis store takes the current time from.
#[derive(Debug, Clone, Default)]
pub enum TimeSource {
    /// The Redis server's `TIME` (default): every instance agrees even when their clocks
    /// drift. Needs Redis 5 or later (script effects replication).
    #[default]
    Server,
    /// This clock, passed to the script with each call (tests; or when every instance's
    /// clock is trusted).
    Clock(Arc<dyn Clock>),
}

/// Settings of the Redis store.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Prefix of every key (default `helix:rl:`). Instances that must share limits use the
    /// same prefix; give each product or environment its own.
    pub prefix: String,
    /// Where time comes from (default the server).
    pub time: TimeSource,
    /// Upper bound on one limiter call, reconnection included (default 500 ms); past it the
    /// call fails and the limiter's failure mode applies.
    pub op_timeout: Duration,
    /// Upper bound on one connection attempt (default 1 s).
    pub connect_timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            prefix: "helix:rl:".to_owned(),
            time: TimeSource::Server,
            op_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// Rate-limit state in Redis, shared by every instance that uses the same Redis and prefix.
///
/// Each decision is one `EVALSHA` of a Lua script doing the GCRA step atomically on one key
/// (`<prefix><class>:<kind>:<value>`, so it works on Redis Cluster too), which expires when the
/// key's bucket is full again. The connection is a `redis` [`ConnectionManager`]: multiplexed,
/// reconnecting in the background. The URL comes from the caller; the library never reads
/// the environment.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    config: RedisConfig,
    script: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.config.prefix)
            .field("time", &self.config.time)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://host:6379/0`, `rediss://` needs a TLS feature of the
    /// `redis` crate) and fails if Redis cannot be reached now.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is invalid or Redis does not answer.
    pub async fn connect(url: &str, config: RedisConfig) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let timeout = config.connect_timeout;
        let conn = tokio::time::timeout(
            timeout,
            ConnectionManager::new_with_config(client, manager_config(&config)),
        )
        .await
        .map_err(|_| StoreError::Unavailable("connect timed out".into()))?
        .map_err(unavailable)?;
        Ok(Self::from_manager(conn, config))
    }

    /// A store that connects on first use, so the server can boot while Redis is down (the
    /// failure mode then applies until it is back).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is invalid.
    pub fn connect_lazy(url: &str, config: RedisConfig) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config(&config))
            .map_err(unavailable)?;
        Ok(Self::from_manager(conn, config))
    }

    /// A store over an existing connection manager (shared with other Redis users).
    pub fn from_manager(conn: ConnectionManager, config: RedisConfig) -> Self {
        Self {
            conn,
            config,
            script: Arc::new(redis::Script::new(GCRA_LUA)),
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.config.prefix
    }
}

fn manager_config(config: &RedisConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.op_timeout))
        .set_number_of_retries(3)
        .set_max_delay(Duration::from_secs(2))
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn acquire(
        &self,
        key: &RateKey,
        quota: &Quota,
        cost: u32,
    ) -> Result<Decision, StoreError> {
        let now_us = match &self.config.time {
            TimeSource::Server => -1,
            TimeSource::Clock(clock) => clock.now().timestamp_micros(),
        };
        let mut invocation =
            self.script
                .key(format!("{}{}", self.config.prefix, key.storage_key()));
        invocation
            .arg(quota.emission_interval_us())
            .arg(quota.burst())
            .arg(cost)
            .arg(now_us);
        let mut conn = self.conn.clone();
        let reply: Vec<i64> =
            tokio::time::timeout(self.config.op_timeout, invocation.invoke_async(&mut conn))
                .await
                .map_err(|_| StoreError::Unavailable("redis call timed out".into()))?
                .map_err(unavailable)?;
        let [allowed, remaining, reset_after_us, retry_after_us] = reply[..] else {
            return Err(StoreError::Protocol(format!(
                "expected 4 integers from the GCRA script, got {}",
                reply.len()
            )));
        };
        Ok(Decision::from_micros(
            allowed == 1,
            quota.burst(),
            u32::try_from(remaining).unwrap_or(0),
            reset_after_us,
            retry_after_us,
        ))
    }
}
