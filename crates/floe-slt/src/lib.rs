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
    /// floe's SQL that DataFusion refuses (`SessionOptions::friendly_sql`: repeated output
    /// names, intervals times numbers); DataFusion's suites expect the refusals.
    pub friendly_sql: bool,
    /// Text replaced in every result cell (`from`, `to`), e.g. a scratch directory by the
    /// `WORKSPACE_ROOT` placeholder DataFusion's suites expect in plans. Applied in order,
    /// so a `from` must come before any shorter `from` that is a prefix of it.
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
            friendly_sql: true,
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
            friendly_sql: false,
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
        friendly_sql: options.friendly_sql,
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

/// Files of DataFusion's own suite that cannot run here, with the reason and the condition
/// under which the file is skipped (checked in as `datafusion-suite-skip.txt`, whose header
/// describes the format).
pub const DATAFUSION_SKIP_LIST: &str = include_str!("../datafusion-suite-skip.txt");

/// When an entry of the skip list keeps its file from running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipWhen {
    /// Always: the file needs what only DataFusion's own runner provides (its Rust test
    /// context, a feature floe builds without, Spark functions), or differs from floe by
    /// design.
    Always,
    /// Unless a data directory is given (`needs-data`): the file reads data outside the
    /// crate, from DataFusion's checkout and its submodules.
    WithoutData,
    /// Unless the generated TPC-H tables are present (`needs-tpch-data`).
    WithoutTpchData,
}

/// One entry of the skip list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipEntry {
    /// Path under `test_files/`; one ending in '/' covers a directory.
    pub path: String,
    /// When the file is skipped.
    pub when: SkipWhen,
    /// Why.
    pub reason: String,
}

impl SkipEntry {
    /// Whether the entry names `rel` (a path under `test_files/`) or a directory above it.
    fn covers(&self, rel: &str) -> bool {
        rel == self.path || (self.path.ends_with('/') && rel.starts_with(self.path.as_str()))
    }
}

/// The skip list, every entry with its condition.
pub fn datafusion_skip_entries() -> Vec<SkipEntry> {
    DATAFUSION_SKIP_LIST
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(parse_skip_line)
        .collect()
}

/// `<path>\t<reason>` or `<path>\t<condition>\t<reason>`. A middle field that is no known
/// condition stays part of the reason, so a misspelt condition leaves the file skipped
/// rather than run (the unit test below keeps the checked-in list free of those).
fn parse_skip_line(line: &str) -> Option<SkipEntry> {
    let (path, rest) = line.split_once('\t')?;
    let (when, reason) = match rest.split_once('\t') {
        Some(("needs-data", reason)) => (SkipWhen::WithoutData, reason),
        Some(("needs-tpch-data", reason)) => (SkipWhen::WithoutTpchData, reason),
        _ => (SkipWhen::Always, rest),
    };
    Some(SkipEntry {
        path: path.trim().to_string(),
        when,
        reason: reason.trim().to_string(),
    })
}

/// The skip list as (path, reason) pairs: every entry, whatever its condition.
pub fn datafusion_skips() -> Vec<(String, String)> {
    datafusion_skip_entries()
        .into_iter()
        .map(|e| (e.path, e.reason))
        .collect()
}

/// The parts of DataFusion's checkout (paths from its root) that the suite's files read
/// through `../` paths: the core crate's and the arrow data source's test data, and the
/// `testing` (apache/arrow-testing) and `parquet-testing` submodules.
pub const DATAFUSION_DATA_PARTS: [&str; 4] = [
    "datafusion/core",
    "datafusion/datasource-arrow",
    "testing",
    "parquet-testing",
];

/// The file that tells the generated TPC-H tables are present in a crate copy.
const TPCH_MARKER: &str = "test_files/tpch/data/lineitem.tbl";

/// Runs DataFusion's own sqllogictest suite from `crate_dir` (the unpacked
/// `datafusion-sqllogictest` crate, holding `test_files/`).
///
/// The scratch directory is laid out like DataFusion's checkout: the crate is copied to
/// `<scratch>/datafusion/sqllogictest`, which becomes the working directory (the suites
/// use paths relative to it). With `data` (a directory holding some of
/// [`DATAFUSION_DATA_PARTS`], laid out as in the checkout), each part present is linked to
/// the same place under the scratch root, so the files' `../core/tests/data/...`,
/// `../../testing/data/...` paths resolve; a `tpch-data` folder in it provides
/// `test_files/tpch/data` when the crate lacks one. The scratch root stands for
/// DataFusion's `WORKSPACE_ROOT` in results, as in DataFusion's own runner.
///
/// Every file not on the skip list runs; `needs-data` entries also run when `data` is
/// given, `needs-tpch-data` ones when the TPC-H tables are present. Returns the summary
/// and the skipped files with their reasons.
pub async fn run_datafusion_suite(
    crate_dir: &Path,
    floe_is_default: bool,
    data: Option<&Path>,
) -> std::io::Result<(Summary, Vec<(String, String)>)> {
    // Removing the scratch directory at the end removes the links into `data`, never what
    // they point to (`remove_dir_all` does not follow symlinks).
    let scratch = tempfile::tempdir()?;
    // Canonical: the working directory a process sees is the physical one, and plans print
    // paths resolved against it.
    let root = scratch.path().canonicalize()?;
    let work = root.join("datafusion").join("sqllogictest");
    // A real copy, not a link: from a working directory reached through a symlink, '..'
    // resolves physically, out of the layout.
    copy_dir(crate_dir, &work)?;
    if let Some(data) = data {
        link_datafusion_data(data, &root, &work)?;
    }
    let has_tpch_data = work.join(TPCH_MARKER).is_file();
    let mut options = Options::datafusion_suite(floe_is_default);
    // DataFusion's runner shows its checkout root as WORKSPACE_ROOT (test files under
    // WORKSPACE_ROOT/datafusion/sqllogictest, data under WORKSPACE_ROOT/datafusion/core,
    // WORKSPACE_ROOT/testing, ...); the scratch root has the same shape, so one
    // replacement covers the crate copy and the data alike and none can shadow another.
    // Plans print paths as object-store paths (no leading '/').
    options.replace_in_results.push((
        root.display()
            .to_string()
            .trim_start_matches('/')
            .to_string(),
        "WORKSPACE_ROOT".to_string(),
    ));
    let skips = datafusion_skip_entries();
    let previous = std::env::current_dir()?;
    std::env::set_current_dir(&work)?;
    // The working directory is restored even when a file cannot be read, so the caller is
    // not left in the scratch directory about to be removed.
    let result = run_suite_files(&work, &options, &skips, data.is_some(), has_tpch_data).await;
    std::env::set_current_dir(previous)?;
    result
}

/// Runs the suite's files under `work/test_files` (the working directory), skipping
/// those whose skip-list condition holds.
async fn run_suite_files(
    work: &Path,
    options: &Options,
    skips: &[SkipEntry],
    has_data: bool,
    has_tpch_data: bool,
) -> std::io::Result<(Summary, Vec<(String, String)>)> {
    let test_files = work.join("test_files");
    let mut summary = Summary::default();
    let mut skipped = Vec::new();
    for file in collect_files(&test_files)? {
        let rel = file
            .strip_prefix(&test_files)
            .unwrap_or(&file)
            .display()
            .to_string();
        if let Some(entry) = skips.iter().find(|e| e.covers(&rel)) {
            let skip = match entry.when {
                SkipWhen::Always => Some(entry.reason.clone()),
                SkipWhen::WithoutData => (!has_data)
                    .then(|| format!("{}; runs with --datafusion-data DIR", entry.reason)),
                SkipWhen::WithoutTpchData => (!has_tpch_data).then(|| {
                    format!(
                        "{}; runs once {TPCH_MARKER} exists (in the crate, or as \
                         tpch-data/lineitem.tbl in the --datafusion-data DIR)",
                        entry.reason
                    )
                }),
            };
            if let Some(reason) = skip {
                skipped.push((rel, reason));
                continue;
            }
        }
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let scratch = test_files.join("scratch").join(&stem);
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)?;
        let start = Instant::now();
        let result = run_file(&file, options).await;
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
    Ok((summary, skipped))
}

/// Links each of [`DATAFUSION_DATA_PARTS`] present in `data` to the same place under
/// `root`, and `data/tpch-data` to `work/test_files/tpch/data` if the crate copy has no
/// such folder. Fails, naming `data`, if it is missing or holds none of the parts: a
/// mistyped directory would otherwise only show as many failing files.
fn link_datafusion_data(data: &Path, root: &Path, work: &Path) -> std::io::Result<()> {
    let named = |e: std::io::Error| {
        std::io::Error::new(
            e.kind(),
            format!("data directory '{}': {e}", data.display()),
        )
    };
    // Absolute targets: a relative one would resolve from the link's own folder.
    let data = data.canonicalize().map_err(named)?;
    let mut linked = 0;
    for part in DATAFUSION_DATA_PARTS {
        let target = data.join(part);
        if target.is_dir() {
            symlink_dir(&target, &root.join(part))?;
            linked += 1;
        }
    }
    if linked == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "data directory '{}' holds none of {}",
                data.display(),
                DATAFUSION_DATA_PARTS.join(", ")
            ),
        ));
    }
    let tpch = data.join("tpch-data");
    let tpch_link = work.join("test_files").join("tpch").join("data");
    if tpch.is_dir() && !tpch_link.exists() {
        if let Some(parent) = tpch_link.parent() {
            std::fs::create_dir_all(parent)?;
        }
        symlink_dir(&tpch, &tpch_link)?;
    }
    Ok(())
}

#[cfg(unix)]
fn symlink_dir(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink_dir(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "--datafusion-data needs symbolic links (Unix only)",
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_list_entries_parse() {
        let lines = DATAFUSION_SKIP_LIST
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        let entries = datafusion_skip_entries();
        assert_eq!(entries.len(), lines, "a skip-list line without a tab");
        for e in &entries {
            // A tab left in the reason is a condition this runner does not know.
            assert!(
                !e.reason.is_empty() && !e.reason.contains('\t'),
                "{}: empty reason or unknown condition",
                e.path
            );
        }
        assert!(entries.iter().any(|e| e.when == SkipWhen::WithoutData));
        assert!(entries.iter().any(|e| e.when == SkipWhen::WithoutTpchData));
    }

    #[test]
    fn skip_line_conditions() {
        let e = parse_skip_line("a.slt\tneeds-data\treads data").unwrap();
        assert_eq!(
            (e.when, e.reason.as_str()),
            (SkipWhen::WithoutData, "reads data")
        );
        let e = parse_skip_line("tpch/tpch.slt\tneeds-tpch-data\tTPC-H").unwrap();
        assert_eq!(e.when, SkipWhen::WithoutTpchData);
        let e = parse_skip_line("b.slt\tneeds a fixture").unwrap();
        assert_eq!(
            (e.when, e.reason.as_str()),
            (SkipWhen::Always, "needs a fixture")
        );
        let e = parse_skip_line("spark/\tSpark functions").unwrap();
        assert!(e.covers("spark/math/abs.slt") && !e.covers("sparkle.slt"));
        assert!(parse_skip_line("no tab here").is_none());
    }
}
