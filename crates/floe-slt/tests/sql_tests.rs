//! Runs every `sql-tests/*.slt` file of the repository through floe-slt, one test per
//! file (named after it), so a failure names its file.

use std::path::PathBuf;

use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sql-tests");
    let files = floe_slt::collect_files(&root).expect("sql-tests directory is readable");
    let trials = files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .with_extension("")
                .display()
                .to_string();
            Trial::test(name, move || {
                floe_slt::block_on_with_big_stack(async move {
                    floe_slt::run_file(&path, &floe_slt::Options::default()).await
                })
                .map_err(|e| Failed::from(e.to_string()))?
                .map_err(Failed::from)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
