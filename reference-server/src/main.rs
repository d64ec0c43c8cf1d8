//! `cargo run -p reference-server [-- --config helix.toml]`

use std::path::PathBuf;

use reference_server::{Settings, launch, shutdown_signal, telemetry};

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
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                config = Some(
                    args.next()
                        .map(PathBuf::from)
                        .ok_or_else(|| anyhow::anyhow!("--config needs a path"))?,
                );
            }
            "--help" | "-h" => {
                println!(
                    "usage: reference-server [--config FILE]\n\nSettings: defaults, then FILE (or $HELIX_CONFIG), then HELIX__SECTION__KEY variables,\ne.g. HELIX__SERVER__ADDR=127.0.0.1:0 HELIX__DATABASE__URL=postgres://..."
                );
                return Ok(());
            }
            other => anyhow::bail!("unknown argument `{other}` (try --help)"),
        }
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
