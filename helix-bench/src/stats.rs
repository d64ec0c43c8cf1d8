//! Latency samples, percentiles, and the result rows (table and JSON lines).

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;

/// Latency samples of one run, in microseconds (an exact sorted vector: a 60 s run at
/// 50,000 requests/s is 12 MB).
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    micros: Vec<u32>,
    sorted: bool,
}

impl Latencies {
    /// No samples.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one request's latency.
    pub fn record(&mut self, d: Duration) {
        self.micros
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.sorted = false;
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
    }

    /// The `q`-quantile (`0.0..=1.0`, nearest rank), or `None` without samples.
    pub fn quantile(&mut self, q: f64) -> Option<Duration> {
        if self.micros.is_empty() {
            return None;
        }
        self.sort();
        let n = self.micros.len();
        // Nearest rank: the smallest sample with at least q·n samples at or below it.
        let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
        let idx = rank.clamp(1, n) - 1;
        Some(Duration::from_micros(u64::from(self.micros[idx])))
    }

    /// p50, p99 and the maximum.
    pub fn summary(&mut self) -> LatencySummary {
        LatencySummary {
            p50: self.quantile(0.50),
            p99: self.quantile(0.99),
            max: self.quantile(1.0),
        }
    }
}

/// The percentiles a row reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Median.
    pub p50: Option<Duration>,
    /// 99th percentile.
    pub p99: Option<Duration>,
    /// Slowest request.
    pub max: Option<Duration>,
}

/// One measured line of the report.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// `helix` or `floor`.
    pub target: String,
    /// `sqlite`, `postgres` or `-`.
    pub backend: String,
    /// Scenario name (`me`, `login-storm/reads`, ...).
    pub scenario: String,
    /// Concurrent connections (hashing tasks for `argon2`).
    pub connections: usize,
    /// Measured wall time.
    pub elapsed: Duration,
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Non-2xx answers plus transport errors.
    pub errors: u64,
    /// Latency percentiles of every answered request.
    pub latency: LatencySummary,
    /// Server RSS before the load, in KiB.
    pub idle_rss_kib: Option<u64>,
    /// Server peak RSS (VmHWM) at the end of the run, in KiB.
    pub peak_rss_kib: Option<u64>,
    /// Server RSS at the end of the run, in KiB.
    pub rss_after_kib: Option<u64>,
    /// A note (first error seen, ...).
    pub note: String,
}

impl Row {
    /// Successful requests (or hashes) per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// The row as one JSON object (the `--json` line).
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        json!({
            "target": self.target,
            "backend": self.backend,
            "scenario": self.scenario,
            "connections": self.connections,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "ok": self.ok,
            "errors": self.errors,
            "rate_per_s": self.rate(),
            "p50_ms": ms(self.latency.p50),
            "p99_ms": ms(self.latency.p99),
            "max_ms": ms(self.latency.max),
            "idle_rss_kib": self.idle_rss_kib,
            "peak_rss_kib": self.peak_rss_kib,
            "rss_after_kib": self.rss_after_kib,
            "note": self.note,
        })
    }
}

fn fmt_ms(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.2}", d.as_secs_f64() * 1000.0),
        None => "-".into(),
    }
}

fn fmt_mib(kib: Option<u64>) -> String {
    match kib {
        Some(k) => format!("{:.1}", k as f64 / 1024.0),
        None => "-".into(),
    }
}

/// The human-readable table of `rows`.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "target",
        "backend",
        "scenario",
        "conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "ok",
        "errors",
        "idle MiB",
        "peak MiB",
        "after MiB",
        "note",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.target.clone(),
                r.backend.clone(),
                r.scenario.clone(),
                r.connections.to_string(),
                format!("{:.1}", r.rate()),
                fmt_ms(r.latency.p50),
                fmt_ms(r.latency.p99),
                fmt_ms(r.latency.max),
                r.ok.to_string(),
                r.errors.to_string(),
                fmt_mib(r.idle_rss_kib),
                fmt_mib(r.peak_rss_kib),
                fmt_mib(r.rss_after_kib),
                r.note.clone(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            // Text columns left-aligned, numbers right-aligned.
            if i < 3 || i == row.len() - 1 {
                let _ = write!(s, "{c:<w$}");
            } else {
                let _ = write!(s, "{c:>w$}");
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(
        &mut out,
        &header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>(),
    );
    for row in &cells {
        line(&mut out, row);
    }
    out
}

/// Helix against the floor: one line per (scenario, connections) measured on both, with
/// the throughput ratio and the p99 of each.
pub fn comparison(rows: &[Row]) -> String {
    let mut out = String::new();
    for h in rows.iter().filter(|r| r.target == "helix") {
        let Some(f) = rows.iter().find(|f| {
            f.target == "floor" && f.scenario == h.scenario && f.connections == h.connections
        }) else {
            continue;
        };
        let ratio = if f.rate() > 0.0 {
            h.rate() / f.rate()
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "{:<18} {:>3} conns  helix/{:<8} {:>9.1}/s  floor {:>9.1}/s  ratio {:.2}x  (p99 {} vs {} ms)",
            h.scenario,
            h.connections,
            h.backend,
            h.rate(),
            f.rate(),
            ratio,
            fmt_ms(h.latency.p99),
            fmt_ms(f.latency.p99),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lat(values: &[u64]) -> Latencies {
        let mut l = Latencies::new();
        for v in values {
            l.record(Duration::from_micros(*v));
        }
        l
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = lat(&(1..=100).rev().collect::<Vec<_>>());
        assert_eq!(l.quantile(0.5), Some(Duration::from_micros(50)));
        assert_eq!(l.quantile(0.99), Some(Duration::from_micros(99)));
        assert_eq!(l.quantile(1.0), Some(Duration::from_micros(100)));
        assert_eq!(l.quantile(0.0), Some(Duration::from_micros(1)));
        let mut one = lat(&[7]);
        assert_eq!(one.quantile(0.99), Some(Duration::from_micros(7)));
        assert_eq!(Latencies::new().quantile(0.5), None);
    }

    #[test]
    fn merge_keeps_every_sample() {
        let mut a = lat(&[5, 1]);
        a.merge(lat(&[3, 10]));
        assert_eq!(a.len(), 4);
        let s = a.summary();
        assert_eq!(s.p50, Some(Duration::from_micros(3)));
        assert_eq!(s.max, Some(Duration::from_micros(10)));
    }

    #[test]
    fn rate_table_json_and_ratio() {
        let helix = Row {
            target: "helix".into(),
            backend: "postgres".into(),
            scenario: "me".into(),
            connections: 16,
            elapsed: Duration::from_secs(2),
            ok: 2000,
            errors: 1,
            latency: lat(&[1000, 2000]).summary(),
            peak_rss_kib: Some(2048),
            ..Row::default()
        };
        let floor = Row {
            target: "floor".into(),
            backend: "postgres".into(),
            ok: 4000,
            ..helix.clone()
        };
        assert!((helix.rate() - 1000.0).abs() < 1e-9);
        let j = helix.to_json();
        assert_eq!(j["errors"], 1);
        assert_eq!(j["p99_ms"], 2.0);
        assert_eq!(j["peak_rss_kib"], 2048);
        assert!(j["idle_rss_kib"].is_null());
        let t = table(&[helix.clone(), floor.clone()]);
        assert_eq!(t.lines().count(), 3);
        assert!(t.lines().nth(1).is_some_and(|l| l.contains("1000.0")));
        assert!(t.contains("2.0"), "{t}");
        let c = comparison(&[helix, floor]);
        assert!(c.contains("ratio 0.50x"), "{c}");
    }
}
