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
    /// Run every file against this warehouse instead of a fresh temporary one each. An
    /// `s3://bucket/prefix` gives each file a fresh warehouse under the prefix (its own
    /// sub-prefix and a temporary catalog file), settings from the AWS_* environment.
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
    /// Enable `information_schema`.
    pub information_schema: bool,
    /// Read `1.5` as a DECIMAL literal (floe's default); DataFusion's suites expect DOUBLE.
    pub decimal_literals: bool,
    /// Text replaced in every result cell (`from`, `to`), e.g. a scratch directory by the
    /// `WORKSPACE_ROOT` placeholder DataFusion's suites expect in plans.
    pub replace_in_results: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            warehouse: None,
            complete: false,
            floe_is_default: true,
            engine_name: "floe".into(),
            target_partitions: 0,
            information_schema: true,
            decimal_literals: true,
            replace_in_results: Vec::new(),
        }
    }
}

impl Options {
    /// Settings matching DataFusion's own sqllogictest runner (4 target partitions,
    /// DataFusion's default catalog, no information_schema unless a file enables it).
    pub fn datafusion_suite(floe_is_default: bool) -> Self {
        Self {
            floe_is_default,
            engine_name: "DataFusion".into(),
            target_partitions: 4,
            information_schema: false,
            decimal_literals: false,
            ..Self::default()
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
    replace_in_results: Arc<Vec<(String, String)>>,
}

#[async_trait]
impl sqllogictest::AsyncDB for FloeDb {
    type Error = SltError;
    type ColumnType = ColType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<ColType>, SltError> {
        // DataFusion's own suites match the error as DataFusion's runner prints it:
        // the full `DataFusionError` text, category prefixes ("Error during planning: ")
        // included; floe's suites match floe's one-line messages.
        let datafusion_errors = self.engine_name == "DataFusion";
        let wrap = |e: DataFusionError| {
            if datafusion_errors {
                let text = e.to_string();
                let text = text
                    .split("\n\nbacktrace")
                    .next()
                    .unwrap_or(&text)
                    .to_string();
                SltError(format!("DataFusion error: {text}"))
            } else {
                SltError::from(e)
            }
        };
        let mut output = self.session.execute(sql).await.map_err(wrap)?;
        let types = column_types(output.schema.fields());
        let mut batches = Vec::new();
        while let Some(b) = output.stream.next().await {
            batches.push(b.map_err(wrap)?);
        }
        let mut rows = convert_batches(&batches).map_err(|e| SltError(e.to_string()))?;
        for (from, to) in self.replace_in_results.iter() {
            for cell in rows.iter_mut().flatten() {
                if cell.contains(from.as_str()) {
                    *cell = cell.replace(from.as_str(), to);
                }
            }
        }
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
    if expected.iter().any(|l| l.contains(IGNORE_MARKER)) {
        return matches_with_ignores(&actual.join("\n"), &expected.join("\n"));
    }
    actual == expected
}

/// Marks a volatile part of an expected result (timings, paths): DataFusion's runner
/// accepts any text in its place, and so does floe-slt.
const IGNORE_MARKER: &str = "<slt:ignore>";

/// Whether `actual` is `expected` with each [`IGNORE_MARKER`] standing for any text
/// (possibly spanning lines), as DataFusion's runner matches: the fragments between
/// markers appear in order, the first one at the very start.
fn matches_with_ignores(actual: &str, expected: &str) -> bool {
    let mut pos = 0;
    for (i, frag) in expected.split(IGNORE_MARKER).enumerate() {
        if frag.is_empty() {
            continue;
        }
        match actual[pos..].find(frag) {
            Some(idx) if i > 0 || idx == 0 => pos += idx + frag.len(),
            _ => return false,
        }
    }
    true
}

/// Runs one file; `Err` carries the first failure.
pub async fn run_file(path: &Path, options: &Options) -> Result<(), String> {
    let scratch;
    let mut catalog_path = None;
    let dir = match &options.warehouse {
        Some(w) if w.to_string_lossy().starts_with("s3://") => {
            scratch = tempfile::tempdir()
                .map_err(|e| format!("cannot create a temporary catalog directory: {e}"))?;
            catalog_path = Some(scratch.path().join("catalog.redb").display().to_string());
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            PathBuf::from(format!(
                "{}/{stem}-{}",
                w.to_string_lossy().trim_end_matches('/'),
                uuid::Uuid::new_v4().simple()
            ))
        }
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
        information_schema: options.information_schema,
        decimal_literals: options.decimal_literals,
    };
    let floe = Floe::open_with(
        &dir,
        OpenOptions {
            session: session_options.clone(),
            catalog_path,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| floe::display_error(&e))?;
    let floe = Arc::new(floe);
    let engine_name = options.engine_name.clone();
    let replace_in_results = Arc::new(options.replace_in_results.clone());
    let make = {
        let floe = floe.clone();
        let session_options = session_options.clone();
        move || {
            let floe = floe.clone();
            let session_options = session_options.clone();
            let engine_name = engine_name.clone();
            let replace_in_results = replace_in_results.clone();
            async move {
                let session = floe.new_session(session_options)?;
                Ok::<_, SltError>(FloeDb {
                    session,
                    engine_name,
                    replace_in_results,
                })
            }
        }
    };
    let mut runner = sqllogictest::Runner::new(make);
    runner.add_label("floe");
    // Records about local files (paths, directories) say `skipif s3`.
    if floe.redb_catalog().warehouse().starts_with("s3://") {
        runner.add_label("s3");
    }
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

/// Alias of [`run_paths`] for embedders' test suites.
pub async fn run_files(paths: &[PathBuf], options: &Options) -> Summary {
    run_paths(paths, options).await
}

/// Files of DataFusion's own suite that cannot run here, with the reason (checked in as
/// `datafusion-suite-skip.txt`: `<path under test_files>\t<reason>`).
pub const DATAFUSION_SKIP_LIST: &str = include_str!("../datafusion-suite-skip.txt");

/// The skip list as (path, reason) pairs.
pub fn datafusion_skips() -> Vec<(String, String)> {
    DATAFUSION_SKIP_LIST
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split_once('\t')
                .map(|(p, r)| (p.trim().to_string(), r.trim().to_string()))
        })
        .collect()
}

/// Runs DataFusion's own sqllogictest suite from `crate_dir` (the unpacked
/// `datafusion-sqllogictest` crate, holding `test_files/`): the files are copied to a
/// scratch directory, which becomes the working directory (the suites use paths relative
/// to it), and every file not on the skip list runs. Returns the summary and the skipped
/// files with their reasons.
pub async fn run_datafusion_suite(
    crate_dir: &Path,
    floe_is_default: bool,
) -> std::io::Result<(Summary, Vec<(String, String)>)> {
    let work = tempfile::tempdir()?;
    copy_dir(crate_dir, work.path())?;
    let previous = std::env::current_dir()?;
    std::env::set_current_dir(work.path())?;
    let test_files = work.path().join("test_files");
    let skips = datafusion_skips();
    let mut options = Options::datafusion_suite(floe_is_default);
    // DataFusion's runner shows its checkout as WORKSPACE_ROOT, test files living under
    // WORKSPACE_ROOT/datafusion/sqllogictest; here they live in the scratch copy. Plans
    // print paths as object-store paths (no leading '/').
    let root = work.path().canonicalize()?;
    options.replace_in_results.push((
        root.display()
            .to_string()
            .trim_start_matches('/')
            .to_string(),
        "WORKSPACE_ROOT/datafusion/sqllogictest".to_string(),
    ));
    let mut summary = Summary::default();
    let mut skipped = Vec::new();
    for file in collect_files(&test_files)? {
        let rel = file
            .strip_prefix(&test_files)
            .unwrap_or(&file)
            .display()
            .to_string();
        if let Some((_, reason)) = skips
            .iter()
            .find(|(p, _)| rel == *p || (p.ends_with('/') && rel.starts_with(p.as_str())))
        {
            skipped.push((rel, reason.clone()));
            continue;
        }
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let scratch = test_files.join("scratch").join(&stem);
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)?;
        let start = Instant::now();
        let result = run_file(&file, &options).await;
        let elapsed = start.elapsed();
        match result {
            Ok(()) => summary.passed += 1,
            Err(_) => summary.failed += 1,
        }
        summary.files.push(FileResult {
            path: PathBuf::from(rel),
            error: result.err(),
            elapsed,
        });
    }
    std::env::set_current_dir(previous)?;
    Ok((summary, skipped))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Runs `fut` to completion on a fresh multi-threaded runtime, driven from a thread with a
/// 64 MiB stack and with 16 MiB worker stacks. sqllogictest's nested futures and
/// DataFusion's recursive expression handling need far more stack in unoptimized builds
/// than the 2 MiB a test or tokio worker thread gets; this keeps a deep (but accepted)
/// expression from aborting the run with a stack overflow.
pub fn block_on_with_big_stack<F>(fut: F) -> std::io::Result<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::Builder::new()
        .name("floe-slt".into())
        .stack_size(64 << 20)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_stack_size(16 << 20)
                .build()?;
            Ok(runtime.block_on(fut))
        })?
        .join()
        .map_err(|_| std::io::Error::other("the sqllogictest thread panicked"))?
}
