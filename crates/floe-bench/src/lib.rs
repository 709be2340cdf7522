//! floe-bench: benchmarks as programs that compare floe with what a user would pick
//! instead, in one run, and print ratios (absolute times on shared machines mean little).

pub mod catalog;
pub mod crash;
pub mod deletes;
pub mod dml;
pub mod duckdb;
pub mod ingest;
/// A moto S3 server on loopback, for the `--s3` runs (the test suites' helper).
#[path = "../../../tests/support/moto.rs"]
pub mod moto;
pub mod report;
pub mod rest;
pub mod scan;
pub mod smallfiles;
pub mod startup;
pub mod timetravel;

use std::time::{Duration, Instant};

/// Median of `runs` timings of `f`.
pub async fn median<F, Fut, T>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let out = f().await;
        times.push(start.elapsed());
        drop(out);
    }
    times.sort();
    times[times.len() / 2]
}

/// The `floe` binary: `FLOE_BIN`, or next to this program (same target directory).
/// Used by the suites that run the real shell (`startup`, `crash`).
pub fn floe_binary() -> Result<std::path::PathBuf, String> {
    if let Some(p) = std::env::var_os("FLOE_BIN") {
        return Ok(std::path::PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let candidate = exe.with_file_name("floe");
    if candidate.exists() {
        Ok(candidate)
    } else {
        Err(format!(
            "the floe binary is not at '{}'; build it first (cargo build --release -p floe-cli) or set FLOE_BIN",
            candidate.display()
        ))
    }
}
