//! `floe-bench <suite> [--quick] [--json PATH]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Suite {
    /// floe's catalog against iceberg-rust's SqlCatalog (SQLite) and MemoryCatalog.
    Catalog,
    /// Crash campaign: a child floe shell SIGKILLed at random moments (500 kills; 60 with --quick).
    Crash,
    /// Scans of a table with 10% of its rows deleted by position deletes, deletion vectors
    /// and equality deletes, against the same rows without deletes and DuckDB's iceberg_scan.
    Deletes,
    /// DELETE 10 rows, UPDATE 1%, MERGE 100k upserts on a 10M-row table: merge-on-read
    /// against copy-on-write, and DuckDB on a native table.
    Dml,
    /// INSERT INTO ... SELECT of generated rows against DataFusion's COPY TO Parquet.
    Ingest,
    /// The 22 TPC-H queries (scale factor 1; 0.1 with --quick) on floe against plain
    /// DataFusion over Parquet and iceberg-datafusion, and DuckDB 1.4.4 (iceberg_scan and
    /// read_parquet) when python3 has it; data is kept in $FLOE_BENCH_DATA if set.
    Scan,
    /// The REST catalog server against the same catalog in process: load_table and
    /// durable commits, latency and throughput.
    Rest,
    /// 2,000 single-row INSERTs, queried before and after compaction, against one INSERT.
    Smallfiles,
    /// Whole-process `floe DIR -c 'SELECT 1'` on an empty warehouse and on 1,000 tables.
    Startup,
    /// Time-travel resolution and planning on a table with 1,000 snapshots.
    Timetravel,
}

/// Side-by-side benchmarks of floe against the alternatives.
#[derive(Parser, Debug)]
#[command(name = "floe-bench", version, about)]
struct Args {
    /// Which suite to run.
    suite: Suite,
    /// A smaller run that finishes in under a minute.
    #[arg(long)]
    quick: bool,
    /// crash, scan: put the warehouse on a moto S3 server on loopback.
    #[arg(long)]
    s3: bool,
    /// crash: number of kills (overrides the default).
    #[arg(long)]
    kills: Option<usize>,
    /// deletes: timed runs per scan, best kept (default 3; more for profiling).
    #[arg(long)]
    runs: Option<usize>,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<floe_bench::report::Report, String> = runtime.block_on(async {
        match args.suite {
            Suite::Catalog => floe_bench::catalog::run(args.quick)
                .await
                .map_err(|e| e.to_string()),
            Suite::Crash => floe_bench::crash::run(args.quick, args.kills, args.s3).await,
            Suite::Deletes => floe_bench::deletes::run(args.quick, args.runs).await,
            Suite::Dml => floe_bench::dml::run(args.quick).await,
            Suite::Smallfiles => floe_bench::smallfiles::run(args.quick).await,
            Suite::Rest => floe_bench::rest::run(args.quick)
                .await
                .map_err(|e| e.to_string()),
            Suite::Ingest => floe_bench::ingest::run(args.quick)
                .await
                .map_err(|e| floe::display_error(&e)),
            Suite::Scan if args.s3 => floe_bench::scan::run_s3(args.quick)
                .await
                .map_err(|e| floe::display_error(&e)),
            Suite::Scan => floe_bench::scan::run(args.quick)
                .await
                .map_err(|e| floe::display_error(&e)),
            Suite::Startup => floe_bench::startup::run(args.quick).await,
            Suite::Timetravel => floe_bench::timetravel::run(args.quick)
                .await
                .map_err(|e| floe::display_error(&e)),
        }
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    report.print();
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("Error: cannot write '{}': {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
