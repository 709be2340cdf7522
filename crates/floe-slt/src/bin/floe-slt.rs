//! `floe-slt [--warehouse DIR|s3://BUCKET/PREFIX] [--complete] PATH...`: runs sqllogictest files through
//! floe's front end. Prints one line per file and a summary; exits 0 only if all pass.
//! `floe-slt --datafusion-suite CRATE_DIR [--datafusion-data DIR] [--floe-default]` runs
//! DataFusion's own suite instead.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Run sqllogictest (.slt) files through floe's SQL front end.
#[derive(Parser, Debug)]
#[command(name = "floe-slt", version, about)]
struct Args {
    /// Run every file against this warehouse (default: a fresh temporary warehouse per
    /// file). With s3://BUCKET/PREFIX each file gets a fresh warehouse under the prefix
    /// (settings from the AWS_* environment: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...).
    #[arg(long, value_name = "DIR")]
    warehouse: Option<PathBuf>,
    /// Rewrite the expected results in the files from the actual output.
    #[arg(long)]
    complete: bool,
    /// Make DataFusion's in-memory catalog the default (floe stays reachable as `floe`).
    #[arg(long)]
    datafusion_default: bool,
    /// Run DataFusion's own suite from DIR (an unpacked datafusion-sqllogictest crate,
    /// holding test_files/), skipping the files of the checked-in skip list.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["paths", "complete", "warehouse"])]
    datafusion_suite: Option<PathBuf>,
    /// With --datafusion-suite: make floe's Iceberg catalog the default catalog, so
    /// tables the tests create become Iceberg tables.
    #[arg(long, requires = "datafusion_suite")]
    floe_default: bool,
    /// With --datafusion-suite: the data the suite reads outside the crate, laid out as in
    /// DataFusion's checkout (datafusion/core, datafusion/datasource-arrow, testing,
    /// parquet-testing; optionally tpch-data for TPC-H). The files of the skip list marked
    /// needs-data then run.
    #[arg(long, value_name = "DIR", requires = "datafusion_suite")]
    datafusion_data: Option<PathBuf>,
    /// .slt files or directories (searched recursively).
    #[arg(required_unless_present = "datafusion_suite", value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = floe_slt::Options {
        warehouse: args.warehouse,
        complete: args.complete,
        floe_is_default: !args.datafusion_default,
        ..Default::default()
    };
    let summary = if let Some(dir) = &args.datafusion_suite {
        let (dir2, floe_default) = (dir.clone(), args.floe_default);
        let data = args.datafusion_data.clone();
        let run = floe_slt::block_on_with_big_stack(async move {
            floe_slt::run_datafusion_suite(&dir2, floe_default, data.as_deref()).await
        });
        match run.and_then(|r| r) {
            Ok((summary, skipped)) => {
                for (path, reason) in &skipped {
                    println!("skip  {path} ({reason})");
                }
                println!("{} skipped", skipped.len());
                summary
            }
            Err(e) => {
                eprintln!(
                    "Error: cannot run the DataFusion suite from '{}': {e}",
                    dir.display()
                );
                return ExitCode::FAILURE;
            }
        }
    } else {
        let paths = args.paths.clone();
        match floe_slt::block_on_with_big_stack(async move {
            floe_slt::run_paths(&paths, &options).await
        }) {
            Ok(summary) => summary,
            Err(e) => {
                eprintln!("Error: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    for f in &summary.files {
        let secs = f.elapsed.as_secs_f64();
        match &f.error {
            None => println!("ok    {} ({secs:.2}s)", f.path.display()),
            Some(e) => {
                println!("FAIL  {} ({secs:.2}s)", f.path.display());
                for line in e.lines() {
                    println!("      {line}");
                }
            }
        }
    }
    println!("{} passed, {} failed", summary.passed, summary.failed);
    if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
