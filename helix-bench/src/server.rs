//! Server processes under test: start, wait until they answer, read their memory, stop.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::client::{Call, Conn};

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now, in KiB.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident size since the process started, in KiB.
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid` (Linux only).
pub fn memory_of(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
}

/// Parses the `VmRSS:` and `VmHWM:` lines of a `/proc/<pid>/status` text.
pub fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status.lines().find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// A free loopback port (bound and released: another process could take it in between,
/// which a bench on a quiet machine can live with).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A server child process, stopped when dropped.
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
    name: &'static str,
}

impl ServerProcess {
    /// Starts `cmd` with stdout and stderr going to `log`.
    pub fn spawn(
        name: &'static str,
        mut cmd: Command,
        addr: SocketAddr,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start the {name} server ({cmd:?})"))?;
        Ok(Self {
            child,
            addr,
            log: log.to_owned(),
            name,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its memory now.
    pub fn memory(&self) -> Option<Memory> {
        memory_of(self.pid())
    }

    /// Waits until `GET path` answers `expect` (the server has migrated and listens).
    pub async fn wait_ready(&mut self, path: &str, expect: u16) -> anyhow::Result<()> {
        let started = Instant::now();
        let call = Call::get(path);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the {} server exited ({status}) before it was ready; its log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok(mut c) = Conn::open(self.addr, None).await
                && let Ok((status, _)) = c.send(&call).await
                && status.as_u16() == expect
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!(
                    "the {} server did not answer {path} with {expect} within 120 s; its log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_status() {
        let status = "Name:\tx\nVmPeak:\t  100 kB\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\n";
        assert_eq!(
            parse_status(status),
            Some(Memory {
                rss_kib: 4096,
                hwm_kib: 5120
            })
        );
        assert_eq!(parse_status("VmRSS: 1 kB\n"), None);
        let me = memory_of(std::process::id());
        assert!(me.is_some_and(|m| m.rss_kib > 0 && m.hwm_kib >= m.rss_kib));
    }
}
