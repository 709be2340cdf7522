//! # floe-slt
//!
//! Runs sqllogictest (`.slt`) files through floe's SQL front end — the same one the
//! shell uses, so time travel, `CALL` and `BEGIN`/`COMMIT` work in tests. Each file gets
//! a fresh temporary warehouse unless one is given; `connection NAME` records open
//! separate sessions on the same warehouse. Results are formatted the way DataFusion's
//! own sqllogictest runner formats them, so suites written for DataFusion run unchanged.
//!
//! ```no_run
//! # async fn demo() {
//! let summary = floe_slt::run_paths(&["sql-tests".into()], &floe_slt::Options::default()).await;
//! assert_eq!(summary.failed, 0);
//! # }
//! ```

pub mod normalize;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::error::DataFusionError;
use floe::{Floe, OpenOptions, Session, SessionOptions};
use futures::StreamExt;
use normalize::{ColType, column_types, convert_batches};
use sqllogictest::DBOutput;

/// How to run files.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run every file against this warehouse instead of a fresh temporary one each.
    pub warehouse: Option<PathBuf>,
    /// Rewrite expected results from actual output instead of checking them.
    pub complete: bool,
    /// Make the floe catalog the default catalog (otherwise DataFusion's in-memory
    /// catalog is the default, and floe tables are reached as `floe.schema.table`).
    pub floe_is_default: bool,
    /// Engine name reported to `skipif`/`onlyif` records (besides the label `floe`).
    pub engine_name: String,
    /// `datafusion.execution.target_partitions` (0: number of cores).
    pub target_partitions: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            warehouse: None,
            complete: false,
            floe_is_default: true,
            engine_name: "floe".into(),
            target_partitions: 0,
        }
    }
}

/// The error type the runner sees: one readable line.
#[derive(Debug)]
pub struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

impl From<DataFusionError> for SltError {
    fn from(e: DataFusionError) -> Self {
        // DataFusion's runner prefixes "DataFusion error: "; suites match on it.
        SltError(format!("DataFusion error: {}", floe::display_error(&e)))
    }
}

/// One session, as a sqllogictest database.
pub struct FloeDb {
    session: Session,
    engine_name: String,
}

#[async_trait]
impl sqllogictest::AsyncDB for FloeDb {
    type Error = SltError;
    type ColumnType = ColType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<ColType>, SltError> {
        let mut output = self.session.execute(sql).await?;
        let types = column_types(output.schema.fields());
        let mut batches = Vec::new();
        while let Some(b) = output.stream.next().await {
            batches.push(b?);
        }
        let rows = convert_batches(&batches).map_err(|e| SltError(e.to_string()))?;
        if rows.is_empty() && types.is_empty() {
            Ok(DBOutput::StatementComplete(0))
        } else {
            Ok(DBOutput::Rows { types, rows })
        }
    }

    fn engine_name(&self) -> &str {
        &self.engine_name
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }

    async fn shutdown(&mut self) {
        // A transaction left open by a test is discarded, as on disconnect.
        let _ = self.session.rollback();
    }
}

/// What happened to one file.
#[derive(Debug)]
pub struct FileResult {
    /// The file.
    pub path: PathBuf,
    /// `None` if it passed, else the failure.
    pub error: Option<String>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Totals of a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Per-file results, in run order.
    pub files: Vec<FileResult>,
    /// Files that passed.
    pub passed: usize,
    /// Files that failed.
    pub failed: usize,
}

#[allow(clippy::ptr_arg)] // the signature sqllogictest requires
fn value_normalizer(s: &String) -> String {
    s.trim_end().to_string()
}

fn value_validator(
    normalizer: sqllogictest::Normalizer,
    actual: &[Vec<String>],
    expected: &[String],
) -> bool {
    let expected: Vec<String> = expected.iter().map(normalizer).collect();
    let actual: Vec<String> = actual
        .iter()
        .map(|r| r.join(" ").trim_end().to_string())
        .collect();
    actual == expected
}

/// Runs one file; `Err` carries the first failure.
pub async fn run_file(path: &Path, options: &Options) -> Result<(), String> {
    let scratch;
    let dir = match &options.warehouse {
        Some(w) => w.clone(),
        None => {
            scratch = tempfile::tempdir()
                .map_err(|e| format!("cannot create a temporary warehouse: {e}"))?;
            scratch.path().to_path_buf()
        }
    };
    let session_options = SessionOptions {
        floe_is_default: options.floe_is_default,
        target_partitions: options.target_partitions,
    };
    let floe = Floe::open_with(
        &dir,
        OpenOptions {
            session: session_options.clone(),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| floe::display_error(&e))?;
    let floe = Arc::new(floe);
    let engine_name = options.engine_name.clone();
    let make = {
        let floe = floe.clone();
        let session_options = session_options.clone();
        move || {
            let floe = floe.clone();
            let session_options = session_options.clone();
            let engine_name = engine_name.clone();
            async move {
                let session = floe.new_session(session_options)?;
                Ok::<_, SltError>(FloeDb {
                    session,
                    engine_name,
                })
            }
        }
    };
    let mut runner = sqllogictest::Runner::new(make);
    runner.add_label("floe");
    runner.with_column_validator(sqllogictest::strict_column_validator::<ColType>);
    runner.with_normalizer(value_normalizer);
    runner.with_validator(value_validator);
    if options.complete {
        runner
            .update_test_file(
                path,
                " ",
                value_validator,
                value_normalizer,
                sqllogictest::strict_column_validator::<ColType>,
            )
            .await
            .map_err(|e| e.to_string())
    } else {
        runner
            .run_file_async(path)
            .await
            .map_err(|e| e.display(false).to_string())
    }
}

/// `.slt` files under `path` (recursively), sorted; or `path` itself.
pub fn collect_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "slt") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs every `.slt` file under `paths`.
pub async fn run_paths(paths: &[PathBuf], options: &Options) -> Summary {
    let mut summary = Summary::default();
    for p in paths {
        let files = match collect_files(p) {
            Ok(f) => f,
            Err(e) => {
                summary.failed += 1;
                summary.files.push(FileResult {
                    path: p.clone(),
                    error: Some(format!("cannot read '{}': {e}", p.display())),
                    elapsed: Duration::ZERO,
                });
                continue;
            }
        };
        for file in files {
            let start = Instant::now();
            let result = run_file(&file, options).await;
            let elapsed = start.elapsed();
            match result {
                Ok(()) => summary.passed += 1,
                Err(_) => summary.failed += 1,
            }
            summary.files.push(FileResult {
                path: file,
                error: result.err(),
                elapsed,
            });
        }
    }
    summary
}
