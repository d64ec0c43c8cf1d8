//! Test support: a fresh database per test, on SQLite and on PostgreSQL.
//!
//! PostgreSQL is reached through `HELIX_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, an administrative connection used only to
//! create and drop one database per test). When it is unreachable the PostgreSQL half of a
//! test is skipped with a message, except when `CI` is set: then it fails.

use std::future::Future;

use uuid::Uuid;

use crate::db::{Db, PoolOptions};

const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh, empty database that lives as long as this value.
pub struct TestDb {
    /// The handle.
    pub db: Db,
    /// The URL, for opening a second pool (a "restarted" process, a second instance).
    pub url: String,
    cleanup: Cleanup,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("backend", &self.db.backend())
            .finish()
    }
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

fn pool() -> PoolOptions {
    PoolOptions {
        max_connections: 8,
        min_connections: 0,
        ..PoolOptions::default()
    }
}

impl TestDb {
    /// A fresh SQLite database in a temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let url = format!("sqlite:{}", dir.path().join("test.db").display());
        let db = Db::connect(&url, &pool())
            .await
            .unwrap_or_else(|e| panic!("sqlite connect: {e}"));
        Self {
            db,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` when PostgreSQL is unreachable outside CI.
    ///
    /// # Panics
    /// When PostgreSQL is unreachable and `CI` is set.
    pub async fn postgres() -> Option<Self> {
        let admin_url =
            std::env::var("HELIX_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.into());
        let admin = match Db::connect(
            &admin_url,
            &PoolOptions {
                max_connections: 1,
                min_connections: 0,
                ..PoolOptions::default()
            },
        )
        .await
        {
            Ok(db) => db,
            Err(e) => {
                if std::env::var_os("CI").is_some() {
                    panic!(
                        "PostgreSQL is required under CI but unreachable ({e}); set HELIX_TEST_PG_URL"
                    );
                }
                eprintln!("SKIPPED postgres half: PostgreSQL unreachable ({e})");
                return None;
            }
        };
        let name = format!("helix_t_{}", Uuid::now_v7().simple());
        use sea_orm::ConnectionTrait;
        admin
            .connection()
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("create database: {e}"));
        let _ = admin.close().await;
        let url = replace_db_name(&admin_url, &name);
        let db = Db::connect(&url, &pool())
            .await
            .unwrap_or_else(|e| panic!("postgres connect: {e}"));
        Some(Self {
            db,
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let admin_url = admin_url.clone();
            let name = name.clone();
            // Drop runs inside the test's runtime; do the async cleanup on a fresh thread.
            let handle = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    use sea_orm::ConnectionTrait;
                    let opts = PoolOptions {
                        max_connections: 1,
                        min_connections: 0,
                        ..PoolOptions::default()
                    };
                    if let Ok(admin) = Db::connect(&admin_url, &opts).await {
                        let _ = admin
                            .connection()
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        let _ = admin.close().await;
                    }
                });
            });
            let _ = handle.join();
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs `body` against a fresh SQLite database.
pub async fn run_sqlite<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    body(TestDb::sqlite().await).await;
}

/// Runs `body` against a fresh PostgreSQL database (see the module docs for skipping).
pub async fn run_postgres<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(db) = TestDb::postgres().await {
        body(db).await;
    }
}

/// Declares a test that runs once per backend: `backend_test!(name, body_fn);` where
/// `async fn body_fn(t: TestDb)`. Expands to `mod name { fn sqlite(); fn postgres(); }`.
/// The calling crate needs `tokio` as a dev-dependency.
#[macro_export]
macro_rules! backend_test {
    ($name:ident, $body:ident) => {
        mod $name {
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::testing::run_sqlite(super::$body).await;
            }
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::testing::run_postgres(super::$body).await;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database_name() {
        assert_eq!(
            super::replace_db_name("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            super::replace_db_name("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }
}
