//! `cargo run -p reference-server [-- --config helix.toml]`; the first platform
//! administrator: `cargo run -p reference-server -- platform-admin grant <email>`
//! (see [`reference_server::platform_admin`]).

use std::path::PathBuf;

use reference_server::{Settings, launch, platform_admin, shutdown_signal, telemetry};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("helix: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut config: Option<PathBuf> = std::env::var_os("HELIX_CONFIG").map(PathBuf::from);
    // `platform-admin` and the words after it (`--config` may come before or after).
    let mut platform_admin: Option<Vec<String>> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                config = Some(
                    args.next()
                        .map(PathBuf::from)
                        .ok_or_else(|| anyhow::anyhow!("--config needs a path"))?,
                );
            }
            "--help" | "-h" if platform_admin.is_some() => {
                println!("{}", platform_admin::HELP);
                return Ok(());
            }
            "--help" | "-h" => {
                println!(
                    "usage: reference-server [--config FILE]\n       reference-server [--config FILE] platform-admin grant|revoke|list ... (see platform-admin --help)\n\nSettings: defaults, then FILE (or $HELIX_CONFIG), then HELIX__SECTION__KEY variables,\ne.g. HELIX__SERVER__ADDR=127.0.0.1:0 HELIX__DATABASE__URL=postgres://..."
                );
                return Ok(());
            }
            "platform-admin" if platform_admin.is_none() => platform_admin = Some(Vec::new()),
            other => match platform_admin.as_mut() {
                Some(words) => words.push(other.to_owned()),
                None => anyhow::bail!("unknown argument `{other}` (try --help)"),
            },
        }
    }
    if let Some(words) = platform_admin {
        let command = platform_admin::Command::parse(&words).map_err(|e| {
            anyhow::anyhow!("platform-admin: {e} (try `reference-server platform-admin --help`)")
        })?;
        let settings = Settings::load(config.as_deref())?;
        // The operating-system user who ran the command goes into the audit row.
        let os_user = ["SUDO_USER", "USER", "LOGNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        let operator = platform_admin::Operator { os_user };
        let line = platform_admin::run(&settings, &command, &operator).await?;
        println!("{line}");
        return Ok(());
    }
    let settings = Settings::load(config.as_deref())?;
    telemetry::init(&settings.log)?;
    let listener = tokio::net::TcpListener::bind(settings.listen_addr()?)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on `server.addr` {}: {e}",
                settings.server.addr
            )
        })?;
    let addr = listener.local_addr()?;
    println!("helix reference server listening on http://{addr}");
    launch(settings, listener, shutdown_signal()).await
}
