//! Runs every `sql-tests/*.slt` file of the repository through floe-slt, one test per
//! file (named after it), so a failure names its file.
//!
//! Files under `sql-tests/foreign/` read tables other engines wrote, from
//! `../shared/fixtures/foreign-iceberg` relocated once per run (python3 with fastavro
//! and pyarrow; `.ci/run` installs them) to the directory they name as
//! `${FLOE_FOREIGN}` (after `control substitution on`). Set `FLOE_FOREIGN` to a relocated
//! copy to skip the relocation. Outside CI they are ignored when the fixtures or python
//! are missing.
//!
//! Every file runs a second time (`s3/<name>`) with its warehouse on a real S3 server:
//! moto's server mode on a loopback port, started here and stopped when the run ends.
//! Outside CI those runs are ignored when `moto_server` is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

#[path = "../../../tests/support/moto.rs"]
mod moto;

/// The bucket every S3 run writes under (each file in a fresh prefix of it).
const S3_WAREHOUSE: &str = "s3://floe-test/w";

/// Relocates the foreign fixtures into a directory that lives as long as the process;
/// `None` when they or python3 with fastavro and pyarrow are not available.
fn relocated_fixtures() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FLOE_FOREIGN") {
        return Some(PathBuf::from(dir));
    }
    let fixtures =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/foreign-iceberg");
    let python = Command::new("python3")
        .args(["-c", "import fastavro, pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !fixtures.join("relocate-all.sh").exists() || !python {
        return None;
    }
    let dest = tempfile::tempdir().ok()?.keep().join("fx");
    let out = Command::new("bash")
        .arg(fixtures.join("relocate-all.sh"))
        .arg(&dest)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "relocate-all.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(dest)
}

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sql-tests");
    let files = floe_slt::collect_files(&root).expect("sql-tests directory is readable");
    let foreign = |p: &Path| {
        p.strip_prefix(&root)
            .is_ok_and(|r| r.starts_with("foreign"))
    };
    let mut foreign_ready = true;
    if files.iter().any(|p| foreign(p)) {
        match relocated_fixtures() {
            // SAFETY: set before any test thread starts; nothing else reads the
            // environment concurrently.
            Some(dir) => unsafe { std::env::set_var("FLOE_FOREIGN", dir) },
            None => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI needs ../shared/fixtures/foreign-iceberg and python3 with fastavro and pyarrow"
                );
                foreign_ready = false;
            }
        }
    }
    // Started only when some S3 run is selected, and kept until every trial is done.
    let wants_s3 = args
        .filter
        .as_deref()
        .is_none_or(|f| f.starts_with("s3") || !args.exact);
    let server = if wants_s3 { moto::Moto::start() } else { None };
    match &server {
        Some(m) => {
            m.create_bucket("floe-test");
            for (k, v) in m.env() {
                // SAFETY: set before any test thread starts.
                unsafe { std::env::set_var(k, v) };
            }
        }
        None => assert!(
            !wants_s3 || std::env::var_os("CI").is_none(),
            "CI needs moto_server (pip install \"moto[server]==5.2.1\"; .ci/run installs it)"
        ),
    }
    let mut trials = Vec::new();
    for s3 in [false, true] {
        for path in &files {
            let path = path.clone();
            let name = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .with_extension("")
                .display()
                .to_string();
            let ignored = (foreign(&path) && !foreign_ready) || (s3 && server.is_none());
            let options = floe_slt::Options {
                warehouse: s3.then(|| PathBuf::from(S3_WAREHOUSE)),
                ..Default::default()
            };
            let name = if s3 { format!("s3/{name}") } else { name };
            trials.push(
                Trial::test(name, move || {
                    floe_slt::block_on_with_big_stack(async move {
                        floe_slt::run_file(&path, &options).await
                    })
                    .map_err(|e| Failed::from(e.to_string()))?
                    .map_err(Failed::from)
                })
                .with_ignored_flag(ignored),
            );
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    drop(server);
    conclusion.exit();
}
