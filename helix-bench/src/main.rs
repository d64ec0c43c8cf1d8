//! `cargo run --release -p helix-bench -- <scenario> [options]` (see `--help`).

use helix_bench::{args, bench, stats};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("helix-bench: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some(bench::SERVE_ARG) {
        return bench::serve().await;
    }
    let Some(opts) = args::parse(argv.clone()).map_err(anyhow::Error::msg)? else {
        print!("{}", args::USAGE);
        return Ok(());
    };
    let started = chrono::Utc::now();
    let rows = bench::run(&opts).await?;
    println!(
        "helix-bench {} — {} — {} cores",
        argv.join(" "),
        started.format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    print!("{}", stats::table(&rows));
    let cmp = stats::comparison(&rows);
    if !cmp.is_empty() {
        println!("\nhelix against the floor:");
        print!("{cmp}");
    }
    if opts.json {
        println!();
        for r in &rows {
            println!("{}", r.to_json());
        }
    }
    Ok(())
}
