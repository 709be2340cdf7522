//! DuckDB 1.4.4 through python3, for the suites that run it side by side with floe
//! (`deletes`, `scan`): whether it is installed with its extension wheels, and running a
//! Python script under a time limit.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The pip packages the DuckDB comparisons need (for the notes that say it was skipped).
pub const PACKAGES: &str =
    "duckdb==1.4.4 duckdb-ext-iceberg==1.4.4.20260205 duckdb-ext-avro==1.4.4.20260205";

/// Whether python3 imports `duckdb` and `duckdb_ext`, the package of the extension wheels
/// (DuckDB cannot download extensions here; scripts LOAD them from the wheel's folder).
pub fn available() -> bool {
    Command::new("python3")
        .args(["-c", "import duckdb, duckdb_ext"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `python3 -c script args...` and returns its stdout. Its stderr is passed on to
/// ours line by line as it comes (progress, tracebacks). Err: python3 did not start,
/// exited with a failure (the error is its last stderr line), or did not finish within
/// `limit` (it is killed then).
pub fn run_python(script: &str, args: &[&str], limit: Duration) -> Result<String, String> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start python3: {e}"))?;
    // Both pipes are drained by their own threads while this one waits, so a script that
    // writes more than a pipe holds never blocks (and so never runs into the limit).
    let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("python3's output pipes are missing".into());
    };
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err_reader = std::thread::spawn(move || {
        let mut last = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if !line.trim().is_empty() {
                last = line;
            }
        }
        last
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish in {} s", limit.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let last_err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(if last_err.is_empty() {
            format!("python3 failed ({status})")
        } else {
            last_err
        });
    }
    match out_reader.join() {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(format!("reading python3's output: {e}")),
        Err(_) => Err("reading python3's output failed".into()),
    }
}
