//! The command line: `helix-bench <scenario> [options]`.

use std::path::PathBuf;
use std::time::Duration;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `POST /api/v1/auth/login` (floor: `POST /auth/login`).
    Login,
    /// `POST /api/v1/auth/refresh`, each connection following its own rotating token chain.
    Refresh,
    /// Authenticated `GET /api/v1/auth/me` (floor: `GET /auth/me`).
    Me,
    /// `GET /api/v1/members?page=1` with its total (floor: `/contacts?page=1&with_total=1`).
    List,
    /// `GET /api/v1/teams/{id}/members?page=1` as a member who may read that team only
    /// through a custom role assigned at team scope (helix-iam decides; no floor
    /// counterpart).
    IamList,
    /// Login load while paced readers measure `me` latency.
    LoginStorm,
    /// Bare argon2id verifications on every core: the login ceiling.
    Argon2,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 7] = [
        Scenario::Argon2,
        Scenario::Login,
        Scenario::Refresh,
        Scenario::Me,
        Scenario::List,
        Scenario::IamList,
        Scenario::LoginStorm,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Login => "login",
            Scenario::Refresh => "refresh",
            Scenario::Me => "me",
            Scenario::List => "list",
            Scenario::IamList => "iam-list",
            Scenario::LoginStorm => "login-storm",
            Scenario::Argon2 => "argon2",
        }
    }

    fn parse(s: &str) -> Result<Vec<Scenario>, String> {
        if s == "all" {
            return Ok(Self::ALL.to_vec());
        }
        Self::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .map(|sc| vec![sc])
            .ok_or_else(|| {
                format!(
                    "unknown scenario `{s}` (login, refresh, me, list, iam-list, login-storm, argon2, all)"
                )
            })
    }
}

/// Database of the Helix server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh PostgreSQL database (dropped and created each run).
    Postgres,
}

impl Backend {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Which servers to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The Helix reference server only.
    Helix,
    /// The floor only.
    Floor,
    /// Both, one after the other, with the ratios.
    Both,
}

impl Target {
    /// Whether Helix is measured.
    pub fn helix(self) -> bool {
        matches!(self, Target::Helix | Target::Both)
    }

    /// Whether the floor is measured.
    pub fn floor(self) -> bool {
        matches!(self, Target::Floor | Target::Both)
    }
}

/// Everything the command line can say.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Scenarios in run order.
    pub scenarios: Vec<Scenario>,
    /// Helix backends, in run order.
    pub backends: Vec<Backend>,
    /// Which servers.
    pub target: Target,
    /// An already running floor (`http://127.0.0.1:8003`); otherwise `floor_bin` is started.
    pub floor_base: Option<String>,
    /// The floor binary the bench starts when no `--base` is given.
    pub floor_bin: PathBuf,
    /// The floor's database URL (its own setup.sh seeds it).
    pub floor_db: String,
    /// A reference-server binary to spawn; by default the bench spawns itself in server mode.
    pub server_bin: Option<PathBuf>,
    /// Load duration of every scenario but the login storm.
    pub duration: Duration,
    /// Duration of the login storm.
    pub storm_duration: Duration,
    /// Connection counts; every scenario runs once per count.
    pub connections: Vec<usize>,
    /// Paced `me` readers during the login storm.
    pub storm_readers: usize,
    /// Pause between two reads of one storm reader.
    pub read_interval: Duration,
    /// Logins sent over one connection (one client address) before it reconnects from the
    /// next loopback address; keeps each address under the 10/min per-IP login limit.
    pub logins_per_address: u32,
    /// PostgreSQL server URL without a database name (user with CREATEDB).
    pub pg_url: String,
    /// The PostgreSQL database the bench drops and creates.
    pub pg_database: String,
    /// Members of the bench account's organization.
    pub members: u64,
    /// Other organizations.
    pub other_orgs: u64,
    /// Members spread over the other organizations.
    pub other_members: u64,
    /// The server's `log.level`.
    pub server_log: String,
    /// Print one JSON object per row after the table.
    pub json: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            scenarios: Vec::new(),
            backends: vec![Backend::Sqlite],
            target: Target::Helix,
            floor_base: None,
            floor_bin: PathBuf::from("/work/shared/bench/floor/target/release/helix-peer-floor"),
            floor_db: "postgres://helix_bench:helix_bench@127.0.0.1:5432/helix_peer_floor".into(),
            server_bin: None,
            duration: Duration::from_secs(20),
            storm_duration: Duration::from_secs(60),
            connections: vec![16, 64],
            storm_readers: 4,
            read_interval: Duration::from_millis(20),
            logins_per_address: 8,
            pg_url: "postgres://postgres@127.0.0.1:5432".into(),
            pg_database: "helix_bench".into(),
            members: 10_000,
            other_orgs: 100,
            other_members: 100_000,
            server_log: "info".into(),
            json: false,
        }
    }
}

/// The usage text.
pub const USAGE: &str = "\
usage: helix-bench <login|refresh|me|list|iam-list|login-storm|argon2|all> [options]

  --db sqlite|postgres|sqlite,postgres   Helix backend(s) (default sqlite)
  --target helix|floor|both              servers to load (default helix)
  --base URL                             an already running floor (e.g. http://127.0.0.1:8003)
  --floor-bin PATH                       floor binary to start when --base is not given
                                         (default /work/shared/bench/floor/target/release/helix-peer-floor)
  --floor-db URL                         the floor's DATABASE_URL (seeded by its setup.sh)
  --server-bin PATH                      reference-server binary (default: this binary in server mode)
  --duration 20s                         load per scenario (ms, s, m)
  --storm-duration 60s                   length of the login storm
  --connections 16,64                    connection counts (each scenario runs once per count)
  --storm-readers 4 --read-interval 20ms paced `me` readers during the login storm
  --logins-per-address 8                 logins per client address before reconnecting
  --pg-url postgres://postgres@127.0.0.1:5432 --pg-database helix_bench
  --members 10000 --other-orgs 100 --other-members 100000
  --server-log info                      the server's log.level
  --json                                 also print one JSON object per row
";

/// Parses `args` (without the program name). `Ok(None)` means help was asked for.
pub fn parse<I>(args: I) -> Result<Option<Options>, String>
where
    I: IntoIterator<Item = String>,
{
    let mut o = Options::default();
    let mut scenario: Option<Vec<Scenario>> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value (try --help)"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--db" => {
                o.backends = value("--db")?
                    .split(',')
                    .map(|b| match b.trim() {
                        "sqlite" => Ok(Backend::Sqlite),
                        "postgres" => Ok(Backend::Postgres),
                        other => Err(format!("unknown --db `{other}` (sqlite, postgres)")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--target" => {
                o.target = match value("--target")?.as_str() {
                    "helix" => Target::Helix,
                    "floor" => Target::Floor,
                    "both" => Target::Both,
                    other => {
                        return Err(format!("unknown --target `{other}` (helix, floor, both)"));
                    }
                };
            }
            "--base" => o.floor_base = Some(value("--base")?.trim_end_matches('/').to_owned()),
            "--floor-bin" => o.floor_bin = PathBuf::from(value("--floor-bin")?),
            "--floor-db" => o.floor_db = value("--floor-db")?,
            "--server-bin" => o.server_bin = Some(PathBuf::from(value("--server-bin")?)),
            "--duration" => o.duration = parse_duration(&value("--duration")?)?,
            "--storm-duration" => o.storm_duration = parse_duration(&value("--storm-duration")?)?,
            "--read-interval" => o.read_interval = parse_duration(&value("--read-interval")?)?,
            "--connections" => {
                o.connections = value("--connections")?
                    .split(',')
                    .map(|c| positive(c.trim(), "--connections"))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .map(|c| c as usize)
                    .collect();
            }
            "--storm-readers" => {
                o.storm_readers = positive(&value("--storm-readers")?, "--storm-readers")? as usize;
            }
            "--logins-per-address" => {
                let n = positive(&value("--logins-per-address")?, "--logins-per-address")?;
                o.logins_per_address = u32::try_from(n).unwrap_or(u32::MAX);
            }
            "--pg-url" => o.pg_url = value("--pg-url")?.trim_end_matches('/').to_owned(),
            "--pg-database" => {
                let db = value("--pg-database")?;
                if db.is_empty() || !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err("--pg-database takes letters, digits and `_` only".into());
                }
                o.pg_database = db;
            }
            "--members" => o.members = positive(&value("--members")?, "--members")?,
            "--other-orgs" => o.other_orgs = positive(&value("--other-orgs")?, "--other-orgs")?,
            "--other-members" => {
                o.other_members = value("--other-members")?
                    .parse()
                    .map_err(|_| "--other-members takes a number".to_owned())?;
            }
            "--server-log" => o.server_log = value("--server-log")?,
            "--json" => o.json = true,
            other if other.starts_with('-') => {
                return Err(format!("unknown option `{other}` (try --help)"));
            }
            name => {
                if scenario.is_some() {
                    return Err(format!("one scenario only, got a second one: `{name}`"));
                }
                scenario = Some(Scenario::parse(name)?);
            }
        }
    }
    o.scenarios = scenario.ok_or_else(|| "which scenario? (try --help)".to_owned())?;
    Ok(Some(o))
}

fn positive(s: &str, name: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name} takes positive numbers, got `{s}`")),
    }
}

/// `500ms`, `20s`, `1m`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration `{s}` (e.g. 500ms, 20s, 1m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("bad duration `{s}` (e.g. 500ms, 20s, 1m)")),
    };
    if d.is_zero() {
        return Err(format!("duration `{s}` must be positive"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn defaults_and_options() {
        let o = parse(args("me")).unwrap().unwrap();
        assert_eq!(o.scenarios, vec![Scenario::Me]);
        assert_eq!(o.backends, vec![Backend::Sqlite]);
        assert_eq!(o.connections, vec![16, 64]);
        assert_eq!(o.duration, Duration::from_secs(20));
        assert_eq!(o.target, Target::Helix);

        let o = parse(args(
            "all --db sqlite,postgres --duration 1m --connections 8 --target floor \
             --base http://127.0.0.1:8003/ --json --read-interval 250ms",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(o.scenarios.len(), 7);
        assert_eq!(o.backends, vec![Backend::Sqlite, Backend::Postgres]);
        assert_eq!(o.duration, Duration::from_secs(60));
        assert_eq!(o.connections, vec![8]);
        assert!(o.target.floor() && !o.target.helix());
        assert_eq!(o.floor_base.as_deref(), Some("http://127.0.0.1:8003"));
        assert!(o.json);
        assert_eq!(o.read_interval, Duration::from_millis(250));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert!(parse(args("")).unwrap_err().contains("which scenario"));
        assert!(
            parse(args("nope"))
                .unwrap_err()
                .contains("unknown scenario")
        );
        assert!(parse(args("me --db mysql")).unwrap_err().contains("mysql"));
        assert!(
            parse(args("me --connections 0"))
                .unwrap_err()
                .contains("positive")
        );
        assert!(
            parse(args("me --duration"))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse(args("me --duration 5h"))
                .unwrap_err()
                .contains("bad duration")
        );
        assert!(
            parse(args("me login"))
                .unwrap_err()
                .contains("one scenario")
        );
        assert!(parse(args("me --pg-database x;drop")).is_err());
        assert!(
            parse(args("me --frobnicate"))
                .unwrap_err()
                .contains("unknown option")
        );
        assert_eq!(parse(args("--help")), Ok(None));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("s").is_err());
    }
}
