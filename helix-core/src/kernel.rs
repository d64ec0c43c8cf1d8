//! The shared services every Helix crate is built from.

use std::sync::Arc;

use crate::db::Db;
use crate::ids::{Clock, IdGenerator, SystemClock, UuidV7};

/// Database, clock and id generator: what every service needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Kernel {
    db: Db,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl Kernel {
    /// A kernel over `db` with the system clock and UUID v7 ids.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7),
        }
    }

    /// Replaces the clock (tests use [`crate::ids::ManualClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the id generator.
    pub fn with_ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = ids;
        self
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// A new id.
    pub fn new_id(&self) -> uuid::Uuid {
        self.ids.new_id()
    }

    /// The current time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}
