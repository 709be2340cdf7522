//! floe-bench: benchmarks as programs that compare floe with what a user would pick
//! instead, in one run, and print ratios (absolute times on shared machines mean little).

pub mod catalog;
pub mod crash;
pub mod ingest;
pub mod report;
pub mod scan;
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
