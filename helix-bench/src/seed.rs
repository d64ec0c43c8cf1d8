//! The data set, written with bulk SQL straight into the tables once the server has run its
//! migrations: the bench account (verified, owner of its organization) with `members` other
//! members, and `other_members` members spread over `other_orgs` other organizations. Every
//! member has an account, as after real sign-ups.

use anyhow::Context as _;
use helix_auth::{Argon2Config, Password, PasswordHasher};
use sea_orm::{ConnectionTrait, Database};

use crate::args::Backend;

/// The bench account's e-mail.
pub const EMAIL: &str = "bench@example.com";
/// The bench account's password (the floor seeds the same one).
pub const PASSWORD: &str = "correct-horse-battery-staple";
/// The bench organization's id.
pub const BENCH_ORG: &str = "00000000-0000-0000-0000-000000000001";

/// How much to seed.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Members of the bench organization besides its owner.
    pub members: u64,
    /// Other organizations.
    pub other_orgs: u64,
    /// Members spread over the other organizations.
    pub other_members: u64,
}

/// Drops and creates `database` on the PostgreSQL server at `server_url` (no database in the
/// URL); returns the new database's URL.
pub async fn recreate_postgres(server_url: &str, database: &str) -> anyhow::Result<String> {
    let admin = Database::connect(format!("{server_url}/postgres"))
        .await
        .with_context(|| {
            format!(
                "cannot connect to {}",
                helix_core::db::redact_url(server_url)
            )
        })?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {database}"))
        .await?;
    admin.close().await?;
    Ok(format!("{server_url}/{database}"))
}

/// The argon2id hash of [`PASSWORD`] with the server's default parameters, made by
/// helix-auth's own hasher.
pub async fn password_hash() -> anyhow::Result<String> {
    let hasher = PasswordHasher::new(Argon2Config::default(), 1)?;
    Ok(hasher.hash(&Password::new(PASSWORD)).await?)
}

/// Writes the data set into the migrated database at `url`.
pub async fn seed(url: &str, backend: Backend, sizes: Sizes, hash: &str) -> anyhow::Result<()> {
    let db = Database::connect(url)
        .await
        .with_context(|| format!("cannot connect to {}", helix_core::db::redact_url(url)))?;
    let statements = match backend {
        Backend::Postgres => postgres_sql(sizes, hash),
        Backend::Sqlite => sqlite_sql(sizes, hash),
    };
    for sql in statements {
        db.execute_unprepared(&sql)
            .await
            .with_context(|| format!("seeding: {}", sql.lines().next().unwrap_or_default()))?;
    }
    db.close().await?;
    Ok(())
}

fn check_hash(hash: &str) -> &str {
    // A PHC string never holds a quote; refuse rather than build broken SQL.
    if hash.contains('\'') { "" } else { hash }
}

/// The PostgreSQL statements (`generate_series`, server-side UUIDs).
pub fn postgres_sql(s: Sizes, hash: &str) -> Vec<String> {
    let hash = check_hash(hash);
    let Sizes {
        members,
        other_orgs,
        other_members,
    } = s;
    vec![
        format!(
            "INSERT INTO tenancy_organizations (id, name, slug, region, plan, settings, created_at, updated_at) \
             VALUES ('{BENCH_ORG}', 'Bench', 'bench', 'us', 'free', '{{}}', now() - interval '2 days', now())"
        ),
        format!(
            "INSERT INTO tenancy_organizations (id, name, slug, region, plan, settings, created_at, updated_at) \
             SELECT ('00000000-0000-0000-0001-' || lpad(to_hex(g), 12, '0'))::uuid, 'Other ' || g, 'other-' || g, \
             'us', 'free', '{{}}', now() - interval '2 days', now() FROM generate_series(1, {other_orgs}) g"
        ),
        format!(
            "INSERT INTO auth_accounts (id, email, email_verified_at, password_hash, failed_logins, created_at, updated_at) \
             VALUES (gen_random_uuid(), '{EMAIL}', now(), '{hash}', 0, now() - interval '2 days', now())"
        ),
        format!(
            "INSERT INTO auth_accounts (id, email, email_verified_at, password_hash, failed_logins, created_at, updated_at) \
             SELECT gen_random_uuid(), 'member' || g || '@bench.example', now(), '{hash}', 0, now(), now() \
             FROM generate_series(1, {members}) g"
        ),
        format!(
            "INSERT INTO auth_accounts (id, email, email_verified_at, password_hash, failed_logins, created_at, updated_at) \
             SELECT gen_random_uuid(), 'user' || g || '@other.example', now(), '{hash}', 0, now(), now() \
             FROM generate_series(1, {other_members}) g"
        ),
        format!(
            "INSERT INTO tenancy_memberships (id, org_id, user_id, email, role, created_at) \
             SELECT gen_random_uuid(), '{BENCH_ORG}', id, email, 'owner', now() - interval '1 day' \
             FROM auth_accounts WHERE email = '{EMAIL}'"
        ),
        format!(
            "INSERT INTO tenancy_memberships (id, org_id, user_id, email, role, created_at) \
             SELECT gen_random_uuid(), '{BENCH_ORG}', id, email, 'member', \
             now() - make_interval(secs => substr(email, 7, strpos(email, '@') - 7)::int) \
             FROM auth_accounts WHERE email LIKE 'member%@bench.example'"
        ),
        format!(
            "INSERT INTO tenancy_memberships (id, org_id, user_id, email, role, created_at) \
             SELECT gen_random_uuid(), \
             ('00000000-0000-0000-0001-' || lpad(to_hex(1 + n % {other_orgs}), 12, '0'))::uuid, id, email, 'member', \
             now() - make_interval(secs => n) \
             FROM (SELECT id, email, substr(email, 5, strpos(email, '@') - 5)::int AS n \
                   FROM auth_accounts WHERE email LIKE 'user%@other.example') a"
        ),
        // VACUUM sets the visibility map, so counts can be index-only scans at once (as on
        // a long-lived database once autovacuum has run, like the floor's), rather than
        // whenever autovacuum happens to pass during a measurement.
        "VACUUM ANALYZE".to_owned(),
    ]
}

/// The SQLite statements (recursive CTEs, random 16-byte ids, RFC 3339 text timestamps as
/// sqlx writes them).
pub fn sqlite_sql(s: Sizes, hash: &str) -> Vec<String> {
    let hash = check_hash(hash);
    let Sizes {
        members,
        other_orgs,
        other_members,
    } = s;
    let org_blob = "X'00000000000000000000000000000001'";
    // The other organizations' ids: 0000...0001 followed by the 12-hex-digit number g.
    let other_org = |g: &str| format!("unhex('00000000000000000001' || printf('%012x', {g}))");
    let ts = |offset_secs: &str| {
        format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || ({offset_secs}) || ' seconds')")
    };
    let now = ts("0");
    let two_days = ts("172800");
    let one_day = ts("86400");
    vec![
        format!(
            "INSERT INTO tenancy_organizations (id, name, slug, region, plan, settings, created_at, updated_at) \
             VALUES ({org_blob}, 'Bench', 'bench', 'us', 'free', '{{}}', {two_days}, {now})"
        ),
        format!(
            "INSERT INTO tenancy_organizations (id, name, slug, region, plan, settings, created_at, updated_at) \
             WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {other_orgs}) \
             SELECT {}, 'Other ' || g, 'other-' || g, 'us', 'free', '{{}}', {two_days}, {now} FROM s",
            other_org("g")
        ),
        format!(
            "INSERT INTO auth_accounts (id, email, email_verified_at, password_hash, failed_logins, created_at, updated_at) \
             VALUES (randomblob(16), '{EMAIL}', {now}, '{hash}', 0, {two_days}, {now})"
        ),
        format!(
            "INSERT INTO auth_accounts (id, email, email_verified_at, password_hash, failed_logins, created_at, updated_at) \
             WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {members}) \
             SELECT randomblob(16), 'member' || g || '@bench.example', {now}, '{hash}', 0, {now}, {now} FROM s"
        ),
        format!(
            "INSERT INTO auth_accounts (id, email, email_verified_at, password_hash, failed_logins, created_at, updated_at) \
             WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {other_members}) \
             SELECT randomblob(16), 'user' || g || '@other.example', {now}, '{hash}', 0, {now}, {now} FROM s"
        ),
        format!(
            "INSERT INTO tenancy_memberships (id, org_id, user_id, email, role, created_at) \
             SELECT randomblob(16), {org_blob}, id, email, 'owner', {one_day} \
             FROM auth_accounts WHERE email = '{EMAIL}'"
        ),
        format!(
            "INSERT INTO tenancy_memberships (id, org_id, user_id, email, role, created_at) \
             SELECT randomblob(16), {org_blob}, id, email, 'member', {} \
             FROM auth_accounts WHERE email LIKE 'member%@bench.example'",
            ts("CAST(substr(email, 7, instr(email, '@') - 7) AS INTEGER)")
        ),
        format!(
            "INSERT INTO tenancy_memberships (id, org_id, user_id, email, role, created_at) \
             SELECT randomblob(16), {}, id, email, 'member', {} \
             FROM (SELECT id, email, CAST(substr(email, 5, instr(email, '@') - 5) AS INTEGER) AS n \
                   FROM auth_accounts WHERE email LIKE 'user%@other.example')",
            other_org(&format!("1 + n % {other_orgs}")),
            ts("n")
        ),
        "ANALYZE".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_cover_every_table_and_refuse_quotes() {
        let sizes = Sizes {
            members: 10,
            other_orgs: 2,
            other_members: 20,
        };
        for sql in [
            postgres_sql(sizes, "$argon2id$x"),
            sqlite_sql(sizes, "$argon2id$x"),
        ] {
            let all = sql.join("\n");
            for table in [
                "tenancy_organizations",
                "auth_accounts",
                "tenancy_memberships",
            ] {
                assert!(all.contains(table), "{table}");
            }
            assert!(all.contains("'owner'") && all.contains(EMAIL));
        }
        assert!(!postgres_sql(sizes, "a'b").join("").contains("a'b"));
    }
}
