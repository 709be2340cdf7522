//! `startup`: whole-process `floe DIR -c 'SELECT 1'` on an empty warehouse and on one with
//! 1,000 tables — opening a warehouse must not read every table's metadata.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use floe::Floe;

use crate::report::Report;

/// Runs `floe DIR -c 'SELECT 1'`; returns (wall seconds, max RSS in KiB).
fn one_run(bin: &PathBuf, dir: &std::path::Path) -> Result<(f64, i64), String> {
    let start = Instant::now();
    let child = Command::new(bin)
        .arg(dir)
        .args(["-q", "-c", "SELECT 1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run '{}': {e}", bin.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our unreaped child; the pointers are valid for the call.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    if rc != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err("floe -c 'SELECT 1' failed".into());
    }
    Ok((wall, usage.ru_maxrss))
}

fn measure(bin: &PathBuf, dir: &std::path::Path, runs: usize) -> Result<(f64, i64), String> {
    let mut walls = Vec::new();
    let mut rss = 0;
    one_run(bin, dir)?; // warm the page cache
    for _ in 0..runs {
        let (w, r) = one_run(bin, dir)?;
        walls.push(w);
        rss = rss.max(r);
    }
    walls.sort_by(f64::total_cmp);
    Ok((walls[walls.len() / 2], rss))
}

/// Runs the suite.
pub async fn run(quick: bool) -> Result<Report, String> {
    let bin = crate::floe_binary()?;
    let runs = if quick { 5 } else { 21 };
    let tables = 1000;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let empty = dir.path().join("empty");
    let full = dir.path().join("full");
    {
        let e = Floe::open(&empty)
            .await
            .map_err(|e| floe::display_error(&e))?;
        drop(e);
        let f = Floe::open(&full)
            .await
            .map_err(|e| floe::display_error(&e))?;
        for i in 0..tables {
            f.sql(&format!("CREATE TABLE t{i} (id BIGINT, v VARCHAR)"))
                .await
                .map_err(|e| floe::display_error(&e))?;
        }
    }
    let (w0, r0) = measure(&bin, &empty, runs)?;
    let (w1, r1) = measure(&bin, &full, runs)?;
    let mut report = Report::new("startup", quick);
    report.notes.push(format!(
        "median wall time of {runs} runs; max RSS over the runs"
    ));
    report.lower_is_better(
        &format!("floe DIR -c 'SELECT 1', {tables} tables"),
        w1 * 1e3,
        "same, empty warehouse",
        Some(w0 * 1e3),
        "ms",
        Some("<= 1.5x empty (ratio >= 0.67)"),
    );
    report.lower_is_better(
        &format!("max RSS, {tables} tables"),
        r1 as f64 / 1024.0,
        "same, empty warehouse",
        Some(r0 as f64 / 1024.0),
        "MiB",
        Some("<= 1.5x empty (ratio >= 0.67)"),
    );
    Ok(report)
}
