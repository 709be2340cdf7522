//! Runs every `sql-tests/*.slt` file of the repository through floe-slt, one test per
//! file (named after it), so a failure names its file.
//!
//! Files under `sql-tests/foreign/` read tables other engines wrote, from
//! `../shared/fixtures/foreign-iceberg` relocated once per run (python3 with fastavro
//! and pyarrow; `.ci/run` installs them) to the directory they name as
//! `${FLOE_FOREIGN}` (after `control substitution on`). Set `FLOE_FOREIGN` to a relocated
//! copy to skip the relocation. Outside CI they are ignored when the fixtures or python
//! are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

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
    let trials = files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .with_extension("")
                .display()
                .to_string();
            let ignored = foreign(&path) && !foreign_ready;
            Trial::test(name, move || {
                floe_slt::block_on_with_big_stack(async move {
                    floe_slt::run_file(&path, &floe_slt::Options::default()).await
                })
                .map_err(|e| Failed::from(e.to_string()))?
                .map_err(Failed::from)
            })
            .with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
