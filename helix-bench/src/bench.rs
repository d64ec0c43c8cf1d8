//! The matrix: for each server (Helix on each backend, then the floor), each scenario and
//! each connection count, start a fresh server process, measure, stop it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use helix_auth::tokens::SigningKeyConfig;
use serde_json::json;

use crate::args::{Backend, Options, Scenario};
use crate::client::{Call, Conn, next_source_address, resolve_base};
use crate::load::{self, Outcome, Task, Work};
use crate::seed;
use crate::server::{Memory, ServerProcess, free_port};
use crate::stats::Row;

/// The argument that makes the bench binary run the reference server instead.
pub const SERVE_ARG: &str = "__serve";

/// Runs the reference server exactly as `reference-server`'s `main` does (settings from
/// `HELIX__...` variables), for the bench to spawn as a separate process.
pub async fn serve() -> anyhow::Result<()> {
    let settings = reference_server::Settings::load(None)?;
    reference_server::telemetry::init(&settings.log)?;
    let listener = tokio::net::TcpListener::bind(settings.listen_addr()?).await?;
    reference_server::launch(settings, listener, reference_server::shutdown_signal()).await
}

/// Routes and start-up of one server under test.
struct Peer {
    target: &'static str,
    backend: String,
    login_path: &'static str,
    me_path: &'static str,
    list_path: &'static str,
    refresh_path: Option<&'static str>,
    ready: (&'static str, u16),
    launch: Launch,
}

enum Launch {
    /// Spawn a fresh process per measurement.
    Spawn {
        command: Box<dyn Fn(SocketAddr) -> Command>,
        log: PathBuf,
    },
    /// An already running server the bench does not own (no memory figures).
    External(SocketAddr),
}

struct Tokens {
    access: String,
    refresh: Option<String>,
}

impl Peer {
    async fn start(&self) -> anyhow::Result<(Option<ServerProcess>, SocketAddr)> {
        match &self.launch {
            Launch::External(addr) => Ok((None, *addr)),
            Launch::Spawn { command, log } => {
                let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
                let mut p = ServerProcess::spawn(self.target, command(addr), addr, log)?;
                p.wait_ready(self.ready.0, self.ready.1).await?;
                // Let start-up work (pool warm-up, first dispatcher poll) settle.
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok((Some(p), addr))
            }
        }
    }

    fn login_call(&self) -> Call {
        self.login_call_as(seed::EMAIL)
    }

    fn login_call_as(&self, email: &str) -> Call {
        Call::post_json(
            self.login_path,
            &json!({ "email": email, "password": seed::PASSWORD }),
        )
    }

    async fn login(&self, addr: SocketAddr) -> anyhow::Result<Tokens> {
        self.login_as(addr, seed::EMAIL).await
    }

    async fn login_as(&self, addr: SocketAddr, email: &str) -> anyhow::Result<Tokens> {
        let mut c = Conn::open(addr, Some(next_source_address())).await?;
        let (status, body) = c.send(&self.login_call_as(email)).await?;
        if !status.is_success() {
            bail!(
                "{} login answered {status}: {}",
                self.target,
                String::from_utf8_lossy(&body)
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        let access = v["access_token"]
            .as_str()
            .context("login answer without access_token")?
            .to_owned();
        Ok(Tokens {
            access,
            refresh: v["refresh_token"].as_str().map(str::to_owned),
        })
    }

    fn row(&self, scenario: &str, connections: usize, o: Outcome) -> Row {
        let mut o = o;
        Row {
            target: self.target.into(),
            backend: self.backend.clone(),
            scenario: scenario.into(),
            connections,
            elapsed: o.elapsed,
            ok: o.ok,
            errors: o.errors,
            latency: o.latencies.summary(),
            note: o.first_error.unwrap_or_default(),
            ..Row::default()
        }
    }

    /// One scenario at one connection count on a fresh server process.
    async fn measure(
        &self,
        opts: &Options,
        scenario: Scenario,
        conns: usize,
    ) -> anyhow::Result<Vec<Row>> {
        let (process, addr) = self.start().await?;
        let idle = process.as_ref().and_then(ServerProcess::memory);
        let closed = |work: Work| Task {
            work,
            requests_per_connection: None,
            pace: None,
        };
        let logins = |n: usize| -> Vec<Task> {
            (0..n)
                .map(|_| Task {
                    work: Work::Fixed(self.login_call()),
                    requests_per_connection: Some(opts.logins_per_address),
                    pace: None,
                })
                .collect()
        };
        let name = scenario.name();
        let mut rows = match scenario {
            Scenario::Login => {
                let out = load::run(addr, logins(conns), opts.duration).await;
                vec![self.row(name, conns, out)]
            }
            Scenario::Me | Scenario::List => {
                let token = self.login(addr).await?.access;
                let path = if scenario == Scenario::Me {
                    self.me_path
                } else {
                    self.list_path
                };
                let call = Call::get(path).bearer(&token)?;
                let tasks = (0..conns)
                    .map(|_| closed(Work::Fixed(call.clone())))
                    .collect();
                let out = load::run(addr, tasks, opts.duration).await;
                vec![self.row(name, conns, out)]
            }
            Scenario::IamList => {
                if self.target != "helix" {
                    return Ok(Vec::new());
                }
                let owner = self.login(addr).await?.access;
                let (path, other) = iam_setup(addr, &owner).await?;
                let reader = self.login_as(addr, IAM_READER).await?.access;
                iam_verify(addr, &reader, &path, &other).await?;
                let call = Call::get(path).bearer(&reader)?;
                let tasks = (0..conns)
                    .map(|_| closed(Work::Fixed(call.clone())))
                    .collect();
                let out = load::run(addr, tasks, opts.duration).await;
                vec![self.row(name, conns, out)]
            }
            Scenario::Refresh => {
                let Some(path) = self.refresh_path else {
                    return Ok(Vec::new());
                };
                // One session per connection, each following its own rotation chain.
                let mut tasks = Vec::with_capacity(conns);
                for _ in 0..conns {
                    let token = self
                        .login(addr)
                        .await?
                        .refresh
                        .context("login answer without refresh_token")?;
                    tasks.push(closed(Work::RefreshChain {
                        path: path.into(),
                        token,
                    }));
                }
                let out = load::run(addr, tasks, opts.duration).await;
                vec![self.row(name, conns, out)]
            }
            Scenario::LoginStorm => {
                let token = self.login(addr).await?.access;
                let read = Call::get(self.me_path).bearer(&token)?;
                let readers = (0..opts.storm_readers)
                    .map(|_| Task {
                        work: Work::Fixed(read.clone()),
                        requests_per_connection: None,
                        pace: Some(opts.read_interval),
                    })
                    .collect();
                let (storm, reads) = tokio::join!(
                    load::run(addr, logins(conns), opts.storm_duration),
                    load::run(addr, readers, opts.storm_duration),
                );
                // The readers' row names the storm it ran in: `login-storm/reads@16`.
                vec![
                    self.row("login-storm/logins", conns, storm),
                    self.row(
                        &format!("login-storm/reads@{conns}"),
                        opts.storm_readers,
                        reads,
                    ),
                ]
            }
            Scenario::Argon2 => Vec::new(),
        };
        if let Some(p) = process {
            let after = p.memory();
            for r in &mut rows {
                fill_memory(r, idle, after);
            }
            p.stop().await?;
        }
        Ok(rows)
    }
}

/// The member whose reads the `iam-list` scenario measures (seeded with role `member`).
const IAM_READER: &str = "member1@bench.example";
/// The permission the `iam-list` scenario exercises.
const TEAMS_READ: &str = "tenancy.teams.read";
/// Members put into the team the `iam-list` scenario lists.
const IAM_TEAM_MEMBERS: usize = 30;

/// Sends one call with the owner's token and returns the JSON answer (`Null` for an empty
/// body), or fails with the status and body.
async fn owner_call(
    addr: SocketAddr,
    owner: &str,
    call: Call,
) -> anyhow::Result<serde_json::Value> {
    let call = call.bearer(owner)?;
    let mut c = Conn::open(addr, None).await?;
    let (status, body) = c.send(&call).await?;
    if !status.is_success() {
        bail!(
            "iam-list setup: {} {} answered {status}: {}",
            call.method,
            call.path,
            String::from_utf8_lossy(&body)
        );
    }
    if body.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Prepares the `iam-list` scenario through the public API, as the organization's owner,
/// and returns the path to load and the same path for a team the reader may not read:
/// - the built-in `member` role loses `tenancy.teams.read` (so no tenant-wide grant covers
///   team reads for [`IAM_READER`]);
/// - a team with [`IAM_TEAM_MEMBERS`] members, a second team, and a custom role holding
///   only `tenancy.teams.read`, assigned to [`IAM_READER`] at the first team's scope.
///
/// Then checks that the reader may list the first team's members and is refused the
/// second's, so the measured requests are decided by the team-scoped grant. Slugs and keys
/// are new on every call (each measurement runs on a fresh server over the same database).
async fn iam_setup(addr: SocketAddr, owner: &str) -> anyhow::Result<(String, String)> {
    let tag = chrono::Utc::now().timestamp_micros();
    let roles = owner_call(addr, owner, Call::get("/api/v1/iam/roles?limit=100")).await?;
    let member_role = roles["data"]
        .as_array()
        .and_then(|rs| {
            rs.iter()
                .find(|r| r["key"] == "member" && r["builtin"] == true)
        })
        .context("iam-list setup: no built-in `member` role in /api/v1/iam/roles")?;
    let role_id = member_role["id"].as_str().context("role without id")?;
    let kept: Vec<&str> = member_role["permissions"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(serde_json::Value::as_str)
                .filter(|p| *p != TEAMS_READ)
                .collect()
        })
        .unwrap_or_default();
    owner_call(
        addr,
        owner,
        Call::json(
            hyper::Method::PATCH,
            format!("/api/v1/iam/roles/{role_id}"),
            &json!({ "permissions": kept }),
        ),
    )
    .await?;
    let mut teams = Vec::new();
    for name in ["listed", "other"] {
        let team = owner_call(
            addr,
            owner,
            Call::post_json(
                "/api/v1/teams",
                &json!({ "name": format!("Bench {name}"), "slug": format!("bench-{name}-{tag}") }),
            ),
        )
        .await?;
        teams.push(team["id"].as_str().context("team without id")?.to_owned());
    }
    let role = owner_call(
        addr,
        owner,
        Call::post_json(
            "/api/v1/iam/roles",
            &json!({ "key": format!("team_reader_{tag}"), "name": format!("Team reader {tag}"),
                     "permissions": [TEAMS_READ] }),
        ),
    )
    .await?;
    let custom = role["id"].as_str().context("role without id")?;
    let members = owner_call(
        addr,
        owner,
        Call::get(format!(
            "/api/v1/members?limit={IAM_TEAM_MEMBERS}&sort=created_at:desc"
        )),
    )
    .await?;
    let reader = owner_call(
        addr,
        owner,
        Call::get(format!("/api/v1/members?filter[email]={IAM_READER}")),
    )
    .await?;
    let reader_id = reader["data"][0]["user_id"]
        .as_str()
        .context("iam-list setup: the reader is not a member")?;
    owner_call(
        addr,
        owner,
        Call::post_json(
            "/api/v1/iam/assignments",
            &json!({ "subject": format!("user:{reader_id}"), "role_id": custom,
                     "scope": format!("team:{}", teams[0]) }),
        ),
    )
    .await?;
    for m in members["data"].as_array().into_iter().flatten() {
        let user = m["user_id"].as_str().context("member without user_id")?;
        let path = format!("/api/v1/teams/{}/members/{user}", teams[0]);
        let put = Call {
            method: hyper::Method::PUT,
            path,
            authorization: None,
            body: None,
        };
        owner_call(addr, owner, put).await?;
    }
    let page = |team: &str| format!("/api/v1/teams/{team}/members?page=1&limit=25");
    Ok((page(&teams[0]), page(&teams[1])))
}

/// Checks, as the reader, that the listed team answers 200 with every member counted and
/// the other team 403: the grant at team scope decides, not a tenant-wide one.
async fn iam_verify(
    addr: SocketAddr,
    reader: &str,
    listed: &str,
    other: &str,
) -> anyhow::Result<()> {
    let mut c = Conn::open(addr, None).await?;
    let (status, body) = c.send(&Call::get(listed).bearer(reader)?).await?;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !status.is_success() || v["meta"]["total"] != IAM_TEAM_MEMBERS {
        bail!(
            "iam-list setup: the reader's list answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let (status, _) = c.send(&Call::get(other).bearer(reader)?).await?;
    if status != hyper::StatusCode::FORBIDDEN {
        bail!("iam-list setup: the reader's list of another team answered {status}, not 403");
    }
    Ok(())
}

fn fill_memory(row: &mut Row, idle: Option<Memory>, after: Option<Memory>) {
    row.idle_rss_kib = idle.map(|m| m.rss_kib);
    row.peak_rss_kib = after.map(|m| m.hwm_kib);
    row.rss_after_kib = after.map(|m| m.rss_kib);
}

/// A Helix reference server on a freshly created and seeded database.
async fn helix(opts: &Options, backend: Backend, dir: &tempfile::TempDir) -> anyhow::Result<Peer> {
    let url = match backend {
        Backend::Sqlite => format!("sqlite:{}/helix.db", dir.path().display()),
        Backend::Postgres => seed::recreate_postgres(&opts.pg_url, &opts.pg_database).await?,
    };
    let key = SigningKeyConfig::generate("bench");
    let exe = match &opts.server_bin {
        Some(bin) => (bin.clone(), None),
        None => (std::env::current_exe()?, Some(SERVE_ARG)),
    };
    let cwd = dir.path().to_owned();
    let level = opts.server_log.clone();
    let db_url = url.clone();
    // Fresh per run, like the signing key: the bench never reads back what they protect.
    let encryption_key = helix_auth::crypto::EncryptionKeyConfig::generate("bench")
        .key
        .clone();
    let command = move |addr: SocketAddr| {
        let mut c = Command::new(&exe.0);
        if let Some(arg) = exe.1 {
            c.arg(arg);
        }
        c.current_dir(&cwd)
            .env_remove("HELIX_CONFIG")
            .env("HELIX__SERVER__ADDR", addr.to_string())
            .env("HELIX__DATABASE__URL", &db_url)
            .env("HELIX__LOG__LEVEL", &level)
            .env("HELIX__AUTH__MAIL_DIR", cwd.join("mail"))
            .env("HELIX__AUTH__SIGNING_KEY__KID", &key.kid)
            .env("HELIX__AUTH__SIGNING_KEY__PRIVATE_KEY", &key.private_key)
            .env("HELIX__AUTH__ENCRYPTION_KEY__ID", "bench")
            .env("HELIX__AUTH__ENCRYPTION_KEY__KEY", &encryption_key)
            .env("HELIX__AUTH__API_KEYS__HASH_KEY", &encryption_key);
        c
    };
    let peer = Peer {
        target: "helix",
        backend: backend.name().into(),
        login_path: "/api/v1/auth/login",
        me_path: "/api/v1/auth/me",
        // The standard list query; every list answer carries `meta.total` (a COUNT per page).
        list_path: "/api/v1/members?page=1&limit=25",
        refresh_path: Some("/api/v1/auth/refresh"),
        ready: ("/health/ready", 200),
        launch: Launch::Spawn {
            command: Box::new(command),
            log: dir.path().join(format!("server-{}.log", backend.name())),
        },
    };
    // A first start runs the migrations; then the data goes straight into the tables.
    eprintln!("helix/{}: migrating and seeding ...", backend.name());
    let (process, _) = peer.start().await?;
    if let Some(p) = process {
        p.stop().await?;
    }
    let hash = seed::password_hash().await?;
    let sizes = seed::Sizes {
        members: opts.members,
        other_orgs: opts.other_orgs,
        other_members: opts.other_members,
    };
    seed::seed(&url, backend, sizes, &hash).await?;
    Ok(peer)
}

/// The floor server: the one at `--base`, or a process of `--floor-bin`.
async fn floor(opts: &Options, dir: &tempfile::TempDir) -> anyhow::Result<Peer> {
    let launch = match &opts.floor_base {
        Some(base) => Launch::External(resolve_base(base).await?),
        None => {
            if !opts.floor_bin.is_file() {
                bail!(
                    "no floor binary at {} (build and seed it with its setup.sh, or pass \
                     --floor-bin PATH or --base URL)",
                    opts.floor_bin.display()
                );
            }
            let bin = opts.floor_bin.clone();
            let db = opts.floor_db.clone();
            Launch::Spawn {
                command: Box::new(move |addr: SocketAddr| {
                    let mut c = Command::new(&bin);
                    c.env("BIND", addr.to_string()).env("DATABASE_URL", &db);
                    c
                }),
                log: dir.path().join("floor.log"),
            }
        }
    };
    Ok(Peer {
        target: "floor",
        backend: "postgres".into(),
        login_path: "/auth/login",
        me_path: "/auth/me",
        list_path: "/contacts?page=1&with_total=1",
        refresh_path: None,
        ready: ("/auth/me", 401),
        launch,
    })
}

/// Runs the whole matrix the options ask for; prints progress on stderr.
pub async fn run(opts: &Options) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let progress = |r: &[Row]| {
        for row in r {
            eprintln!(
                "  {} {} {} x{}: {:.1}/s, p99 {:?}, {} errors",
                row.target,
                row.backend,
                row.scenario,
                row.connections,
                row.rate(),
                row.latency.p99.unwrap_or_default(),
                row.errors
            );
        }
    };
    if opts.scenarios.contains(&Scenario::Argon2) {
        eprintln!("argon2 ceiling ...");
        let row = crate::argon2::ceiling(opts.duration).await?;
        progress(std::slice::from_ref(&row));
        rows.push(row);
    }
    let http: Vec<Scenario> = opts
        .scenarios
        .iter()
        .copied()
        .filter(|s| *s != Scenario::Argon2)
        .collect();
    if http.is_empty() {
        return Ok(rows);
    }
    let dir = tempfile::Builder::new().prefix("helix-bench").tempdir()?;
    let mut peers = Vec::new();
    if opts.target.helix() {
        for backend in &opts.backends {
            peers.push(helix(opts, *backend, &dir).await?);
        }
    }
    if opts.target.floor() {
        peers.push(floor(opts, &dir).await?);
    }
    for peer in &peers {
        for scenario in &http {
            for &conns in &opts.connections {
                eprintln!(
                    "{}/{}: {} with {conns} connections ...",
                    peer.target,
                    peer.backend,
                    scenario.name()
                );
                let r = peer.measure(opts, *scenario, conns).await?;
                progress(&r);
                rows.extend(r);
            }
        }
    }
    Ok(rows)
}
