//! Running the reroll binary as a child process and measuring what it cost: wall time, CPU
//! time (user + system) and peak resident memory, from the kernel's accounting of that one
//! child (`wait4`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct Measured {
    pub wall: Duration,
    pub cpu: Duration,
    pub max_rss_mb: f64,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The reroll binary built alongside this one.
pub fn reroll_binary() -> Result<PathBuf> {
    let me = std::env::current_exe().context("where is this benchmark")?;
    let path = me.with_file_name(format!("reroll{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        bail!(
            "{} is missing: build it first (bench/run.sh does: cargo build --release --workspace --bins)",
            path.display()
        );
    }
    Ok(path)
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Runs `program args` with `env`, output captured to files, and measures it.
pub fn run(program: &Path, args: &[&str], env: &[(&str, &str)], dir: &Path) -> Result<Measured> {
    let out_path = dir.join(".child-stdout");
    let err_path = dir.join(".child-stderr");
    let started = Instant::now();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for the kernel to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; the pointers are valid for the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let wall = started.elapsed();
    // The child was reaped by wait4; `Child` must not wait for it again.
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok(Measured {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        // Linux reports ru_maxrss in kilobytes.
        max_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        code,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// `--stats` output (operation, calls, attempts, throttled, retried): calls per operation.
pub fn parse_stats(stderr: &str) -> Vec<(String, u64)> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in stderr.lines() {
        if line.starts_with("operation") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() != 5 {
            break;
        }
        if let Ok(n) = cols[1].parse() {
            rows.push((cols[0].to_string(), n));
        }
        if cols[0] == "total" {
            break;
        }
    }
    rows
}

/// Seconds from `simulated time: 34m 50s (wall …)`.
pub fn simulated_seconds(stderr: &str) -> Option<u64> {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("simulated time: "))?;
    let mut total = 0;
    for part in line.split(" (wall").next()?.split(' ') {
        let (n, unit) = part.split_at(part.len().checked_sub(1)?);
        let n: u64 = n.parse().ok()?;
        total += match unit {
            "h" => n * 3600,
            "m" => n * 60,
            "s" => n,
            _ => return None,
        };
    }
    Some(total)
}

/// Megabytes of heap at its peak, reroll's and the simulator's, from `heap peak: reroll 44.8 MB,
/// simulator 21.2 MB` (printed by a binary built with the `count-memory` feature).
pub fn heap_peaks(stderr: &str) -> Option<(f64, f64)> {
    let line = stderr.lines().find(|l| l.starts_with("heap peak: "))?;
    let mut numbers = line.split(' ').filter_map(|w| w.parse::<f64>().ok());
    Some((numbers.next()?, numbers.next()?))
}

/// Seconds from `… simulator CPU 24.3s)`.
pub fn simulator_seconds(stderr: &str) -> Option<f64> {
    let line = stderr.lines().find(|l| l.starts_with("simulated time: "))?;
    let spent = line
        .split("simulator CPU ")
        .nth(1)?
        .trim_end_matches(')')
        .split(' ')
        .next()?;
    let (number, scale) = if let Some(n) = spent.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = spent.strip_suffix("µs") {
        (n, 1e-6)
    } else if let Some(n) = spent.strip_suffix("ns") {
        (n, 1e-9)
    } else {
        (spent.strip_suffix('s')?, 1.0)
    };
    Some(number.parse::<f64>().ok()? * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_heap_peaks() {
        let err = "simulated time: 1s (wall 1s; simulator CPU 1s)\nheap peak: reroll 44.8 MB, \
                   simulator 21.2 MB\n";
        assert_eq!(heap_peaks(err), Some((44.8, 21.2)));
        assert_eq!(heap_peaks("simulated time: 1s\n"), None);
    }

    /// Reads back the simulator's CPU time as `main` prints it.
    #[test]
    fn parses_the_simulators_cpu_time() {
        let cases = [
            (
                "simulated time: 5m 58s (wall 81.2ms; simulator CPU 25.2ms)",
                Some(0.0252),
            ),
            (
                "simulated time: 34m 54s (wall 36.5s; simulator CPU 12.3s)",
                Some(12.3),
            ),
            (
                "simulated time: 1s (wall 3µs; simulator CPU 2µs)",
                Some(2e-6),
            ),
            ("no such line", None),
        ];
        for (stderr, want) in cases {
            let got = simulator_seconds(stderr);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{stderr}: {g}"),
                _ => assert_eq!(got, want, "{stderr}"),
            }
        }
    }

    /// Reads back exactly what `--stats` prints.
    #[test]
    fn parses_the_stats_table_reroll_prints() {
        let stats = reroll::cloud::stats::Stats::new();
        stats.record_call("EC2.DescribeInstances");
        stats.record_call("ELBv2.DescribeTargetHealth");
        stats.record_call("ELBv2.DescribeTargetHealth");
        stats.record_retry("ELBv2.DescribeTargetHealth");
        let stderr = format!(
            "some log line\n\nAWS API calls:\n{}\nsimulated time: 1s",
            stats.render()
        );
        assert_eq!(
            parse_stats(&stderr),
            vec![
                ("EC2.DescribeInstances".to_string(), 1),
                ("ELBv2.DescribeTargetHealth".to_string(), 2),
                ("total".to_string(), 3),
            ]
        );
    }
}
