//! `scan`: the 22 TPC-H queries on floe's Iceberg tables, against plain DataFusion over the
//! same data as plain Parquet files, and against iceberg-datafusion's table provider over
//! floe's Iceberg tables; then, when python3 has DuckDB 1.4.4 with its extension wheels,
//! DuckDB on the same data through `iceberg_scan` of floe's metadata files and
//! `read_parquet` of the plain files (`duckdb_tpch.py` beside this crate's Cargo.toml).
//!
//! Data: TPC-H generated with the `tpchgen` crate (scale factor 0.1 with `--quick`, 1
//! otherwise) into `.tbl` files, converted to Parquet with DataFusion (`COPY ... TO`), then
//! loaded into a floe warehouse (`CREATE TABLE ... AS SELECT`). It lives in
//! `$FLOE_BENCH_DATA/sf<scale>` (kept and reused across runs; marker files say which steps
//! finished) or, without that variable, in a temporary directory removed at exit.

use std::fmt::Display;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use floe::Floe;
use floe::floe_sql::error::{iceberg_to_df, to_df};
use iceberg::TableIdent;
use iceberg_datafusion::IcebergStaticTableProvider;

use crate::report::Report;

/// The 22 TPC-H queries with the specification's validation parameters.
const QUERIES: [&str; 22] = [
    include_str!("../queries/tpch/q1.sql"),
    include_str!("../queries/tpch/q2.sql"),
    include_str!("../queries/tpch/q3.sql"),
    include_str!("../queries/tpch/q4.sql"),
    include_str!("../queries/tpch/q5.sql"),
    include_str!("../queries/tpch/q6.sql"),
    include_str!("../queries/tpch/q7.sql"),
    include_str!("../queries/tpch/q8.sql"),
    include_str!("../queries/tpch/q9.sql"),
    include_str!("../queries/tpch/q10.sql"),
    include_str!("../queries/tpch/q11.sql"),
    include_str!("../queries/tpch/q12.sql"),
    include_str!("../queries/tpch/q13.sql"),
    include_str!("../queries/tpch/q14.sql"),
    include_str!("../queries/tpch/q15.sql"),
    include_str!("../queries/tpch/q16.sql"),
    include_str!("../queries/tpch/q17.sql"),
    include_str!("../queries/tpch/q18.sql"),
    include_str!("../queries/tpch/q19.sql"),
    include_str!("../queries/tpch/q20.sql"),
    include_str!("../queries/tpch/q21.sql"),
    include_str!("../queries/tpch/q22.sql"),
];

/// A query's text as every engine runs it: `QUERIES`' text without the trailing `;`.
fn query_sql(text: &str) -> &str {
    text.trim().trim_end_matches(';').trim_end()
}

/// Changes whenever the generated data would differ (types, layout): older data is
/// regenerated instead of reused.
const DATA_LAYOUT: &str = "floe-bench scan data v1";

/// Name of the extra column that absorbs the empty field after each `.tbl` line's
/// trailing `|`.
const TRAILING: &str = "tbl_trailing_empty";

const DEC: &str = "DECIMAL(15,2)";

/// One TPC-H table: its columns in `.tbl` order, with SQL types.
struct TableDef {
    name: &'static str,
    columns: &'static [(&'static str, &'static str)],
}

const TABLES: [TableDef; 8] = [
    TableDef {
        name: "region",
        columns: &[
            ("r_regionkey", "BIGINT"),
            ("r_name", "VARCHAR"),
            ("r_comment", "VARCHAR"),
        ],
    },
    TableDef {
        name: "nation",
        columns: &[
            ("n_nationkey", "BIGINT"),
            ("n_name", "VARCHAR"),
            ("n_regionkey", "BIGINT"),
            ("n_comment", "VARCHAR"),
        ],
    },
    TableDef {
        name: "supplier",
        columns: &[
            ("s_suppkey", "BIGINT"),
            ("s_name", "VARCHAR"),
            ("s_address", "VARCHAR"),
            ("s_nationkey", "BIGINT"),
            ("s_phone", "VARCHAR"),
            ("s_acctbal", DEC),
            ("s_comment", "VARCHAR"),
        ],
    },
    TableDef {
        name: "customer",
        columns: &[
            ("c_custkey", "BIGINT"),
            ("c_name", "VARCHAR"),
            ("c_address", "VARCHAR"),
            ("c_nationkey", "BIGINT"),
            ("c_phone", "VARCHAR"),
            ("c_acctbal", DEC),
            ("c_mktsegment", "VARCHAR"),
            ("c_comment", "VARCHAR"),
        ],
    },
    TableDef {
        name: "part",
        columns: &[
            ("p_partkey", "BIGINT"),
            ("p_name", "VARCHAR"),
            ("p_mfgr", "VARCHAR"),
            ("p_brand", "VARCHAR"),
            ("p_type", "VARCHAR"),
            ("p_size", "INT"),
            ("p_container", "VARCHAR"),
            ("p_retailprice", DEC),
            ("p_comment", "VARCHAR"),
        ],
    },
    TableDef {
        name: "partsupp",
        columns: &[
            ("ps_partkey", "BIGINT"),
            ("ps_suppkey", "BIGINT"),
            ("ps_availqty", "INT"),
            ("ps_supplycost", DEC),
            ("ps_comment", "VARCHAR"),
        ],
    },
    TableDef {
        name: "orders",
        columns: &[
            ("o_orderkey", "BIGINT"),
            ("o_custkey", "BIGINT"),
            ("o_orderstatus", "VARCHAR"),
            ("o_totalprice", DEC),
            ("o_orderdate", "DATE"),
            ("o_orderpriority", "VARCHAR"),
            ("o_clerk", "VARCHAR"),
            ("o_shippriority", "INT"),
            ("o_comment", "VARCHAR"),
        ],
    },
    TableDef {
        name: "lineitem",
        columns: &[
            ("l_orderkey", "BIGINT"),
            ("l_partkey", "BIGINT"),
            ("l_suppkey", "BIGINT"),
            ("l_linenumber", "INT"),
            ("l_quantity", DEC),
            ("l_extendedprice", DEC),
            ("l_discount", DEC),
            ("l_tax", DEC),
            ("l_returnflag", "VARCHAR"),
            ("l_linestatus", "VARCHAR"),
            ("l_shipdate", "DATE"),
            ("l_commitdate", "DATE"),
            ("l_receiptdate", "DATE"),
            ("l_shipinstruct", "VARCHAR"),
            ("l_shipmode", "VARCHAR"),
            ("l_comment", "VARCHAR"),
        ],
    },
];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Whitespace (newlines included) folded to single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most 300 characters, for notes.
fn clip(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// A one-line error.
fn fail(msg: impl AsRef<str>) -> DataFusionError {
    DataFusionError::Execution(one_line(msg.as_ref()))
}

fn io_fail(action: &str, path: &Path, e: &std::io::Error) -> DataFusionError {
    fail(format!("{action} '{}': {e}", path.display()))
}

/// A DataFusion error with what was being done in front, as one line.
fn context(what: &str, e: &DataFusionError) -> DataFusionError {
    fail(format!("{what}: {}", floe::display_error(e)))
}

/// The path as the text of a SQL string literal (quotes doubled).
fn sql_path(path: &Path) -> Result<String> {
    match path.to_str() {
        Some(s) => Ok(s.replace('\'', "''")),
        None => Err(fail(format!(
            "path '{}' is not valid UTF-8",
            path.display()
        ))),
    }
}

/// The directory `path` as a SQL string literal's text, ending in `/` (a directory target
/// for COPY, a directory location for external tables).
fn sql_dir(path: &Path) -> Result<String> {
    let mut s = sql_path(path)?;
    if !s.ends_with('/') {
        s.push('/');
    }
    Ok(s)
}

fn remove_dir_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_fail("cannot remove", path, &e)),
    }
}

fn remove_file_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_fail("cannot remove", path, &e)),
    }
}

/// Total size of the files under `path` (unreadable entries count as 0).
fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_size(&entry.path()),
            Ok(_) => entry.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// Whether `marker` exists with exactly `content`.
fn marker_matches(marker: &Path, content: &str) -> bool {
    std::fs::read_to_string(marker).is_ok_and(|text| text == content)
}

fn write_marker(marker: &Path, content: &str) -> Result<()> {
    std::fs::write(marker, content).map_err(|e| io_fail("cannot write", marker, &e))
}

fn ident(table: &str) -> Result<TableIdent> {
    TableIdent::from_strs(["public", table]).map_err(iceberg_to_df)
}

/// Writes each row's `Display` (a `.tbl` line) on its own line; returns the row count.
fn write_rows<W: Write, T: Display>(
    out: &mut W,
    rows: impl Iterator<Item = T>,
) -> std::io::Result<u64> {
    let mut n = 0u64;
    for row in rows {
        writeln!(out, "{row}")?;
        n += 1;
    }
    Ok(n)
}

/// Generates one TPC-H table at scale factor `sf` into the `.tbl` file `path`.
fn generate_table(table: &str, sf: f64, path: &Path) -> std::result::Result<u64, String> {
    use tpchgen::generators::{
        CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
        PartSuppGenerator, RegionGenerator, SupplierGenerator,
    };
    let file =
        File::create(path).map_err(|e| format!("cannot create '{}': {e}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let written = match table {
        "region" => write_rows(&mut out, RegionGenerator::new(sf, 1, 1).iter()),
        "nation" => write_rows(&mut out, NationGenerator::new(sf, 1, 1).iter()),
        "supplier" => write_rows(&mut out, SupplierGenerator::new(sf, 1, 1).iter()),
        "customer" => write_rows(&mut out, CustomerGenerator::new(sf, 1, 1).iter()),
        "part" => write_rows(&mut out, PartGenerator::new(sf, 1, 1).iter()),
        "partsupp" => write_rows(&mut out, PartSuppGenerator::new(sf, 1, 1).iter()),
        "orders" => write_rows(&mut out, OrderGenerator::new(sf, 1, 1).iter()),
        "lineitem" => write_rows(&mut out, LineItemGenerator::new(sf, 1, 1).iter()),
        other => return Err(format!("unknown TPC-H table '{other}'")),
    };
    let rows = written.map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
    out.flush()
        .map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
    Ok(rows)
}

/// Generates the 8 tables as `<tbl_dir>/<table>.tbl`, in parallel.
async fn generate_tbl(sf: f64, tbl_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(tbl_dir).map_err(|e| io_fail("cannot create", tbl_dir, &e))?;
    let mut tasks = Vec::with_capacity(TABLES.len());
    for def in &TABLES {
        let name = def.name;
        let path = tbl_dir.join(format!("{name}.tbl"));
        tasks.push((
            name,
            tokio::task::spawn_blocking(move || generate_table(name, sf, &path)),
        ));
    }
    for (name, task) in tasks {
        let generated = task
            .await
            .map_err(|e| fail(format!("generating TPC-H table {name} failed: {e}")))?;
        generated.map_err(|e| fail(format!("generating TPC-H table {name}: {e}")))?;
    }
    Ok(())
}

/// Reads each `.tbl` file with DataFusion (explicit schema) and writes it as Parquet files in
/// `<parquet_dir>/<table>/`.
async fn tbl_to_parquet(tbl_dir: &Path, parquet_dir: &Path) -> Result<()> {
    let ctx = SessionContext::new();
    for def in &TABLES {
        let name = def.name;
        let tbl = sql_path(&tbl_dir.join(format!("{name}.tbl")))?;
        let target = sql_dir(&parquet_dir.join(name))?;
        let columns = def
            .columns
            .iter()
            .map(|(c, t)| format!("{c} {t}"))
            .collect::<Vec<_>>()
            .join(", ");
        let select = def
            .columns
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
            .join(", ");
        let create = format!(
            "CREATE EXTERNAL TABLE tbl_{name} ({columns}, {TRAILING} VARCHAR) STORED AS CSV LOCATION '{tbl}' \
             OPTIONS ('format.delimiter' '|', 'format.has_header' 'false')"
        );
        let copy =
            format!("COPY (SELECT {select} FROM tbl_{name}) TO '{target}' STORED AS PARQUET");
        let what = format!("converting TPC-H table {name} to Parquet");
        ctx.sql(&create)
            .await
            .map_err(|e| context(&what, &e))?
            .collect()
            .await
            .map_err(|e| context(&what, &e))?;
        ctx.sql(&copy)
            .await
            .map_err(|e| context(&what, &e))?
            .collect()
            .await
            .map_err(|e| context(&what, &e))?;
    }
    Ok(())
}

/// Loads every table the warehouse lacks from the Parquet files; returns how many it loaded.
async fn load_warehouse(floe: &Floe, parquet_dir: &Path) -> Result<usize> {
    let mut loaded = 0;
    for def in &TABLES {
        let name = def.name;
        if floe.redb_catalog().contains_table(&ident(name)?) {
            continue;
        }
        eprintln!("[scan] loading {name} into the floe warehouse");
        let location = sql_dir(&parquet_dir.join(name))?;
        let what = format!("loading TPC-H table {name} into floe");
        floe.sql(&format!(
            "CREATE EXTERNAL TABLE pq_{name} STORED AS PARQUET LOCATION '{location}'"
        ))
        .await
        .map_err(|e| context(&what, &e))?;
        floe.sql(&format!("CREATE TABLE {name} AS SELECT * FROM pq_{name}"))
            .await
            .map_err(|e| context(&what, &e))?;
        loaded += 1;
    }
    Ok(loaded)
}

/// Plain DataFusion over the Parquet files.
async fn plain_context(parquet_dir: &Path) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    for def in &TABLES {
        let name = def.name;
        let location = sql_dir(&parquet_dir.join(name))?;
        let what = format!("registering Parquet table {name} in plain DataFusion");
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{location}'"
        ))
        .await
        .map_err(|e| context(&what, &e))?
        .collect()
        .await
        .map_err(|e| context(&what, &e))?;
    }
    Ok(ctx)
}

/// DataFusion with iceberg-datafusion's static provider over floe's Iceberg tables.
async fn iceberg_context(floe: &Floe) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    for def in &TABLES {
        let name = def.name;
        let what = format!("registering Iceberg table {name} through iceberg-datafusion");
        let table = floe
            .redb_catalog()
            .table(&ident(name)?)
            .await
            .map_err(|e| context(&what, &to_df(e)))?;
        let provider = IcebergStaticTableProvider::try_new_from_table(table)
            .await
            .map_err(|e| context(&what, &iceberg_to_df(e)))?;
        ctx.register_table(name, Arc::new(provider))
            .map_err(|e| context(&what, &e))?;
    }
    Ok(ctx)
}

/// The engines compared.
#[derive(Debug, Clone, Copy)]
enum Which {
    Floe,
    Plain,
    Iceberg,
}

impl Which {
    fn label(self) -> &'static str {
        match self {
            Which::Floe => "floe",
            Which::Plain => "plain DataFusion",
            Which::Iceberg => "iceberg-datafusion",
        }
    }
}

/// One engine's result on one query.
#[derive(Debug, Clone, Copy)]
struct Measured {
    /// Minimum wall time of the timed runs.
    ms: f64,
    /// Rows of the result.
    rows: usize,
}

struct Engines<'a> {
    floe: &'a Floe,
    plain: SessionContext,
    iceberg: SessionContext,
}

impl Engines<'_> {
    /// Plans and runs `sql`, collecting every batch.
    async fn run(&self, which: Which, sql: &str) -> Result<Vec<RecordBatch>> {
        match which {
            Which::Floe => self.floe.sql(sql).await,
            Which::Plain => self.plain.sql(sql).await?.collect().await,
            Which::Iceberg => self.iceberg.sql(sql).await?.collect().await,
        }
    }

    /// One warm-up run, then the minimum of `runs` timed runs; the error as one line.
    async fn measure(
        &self,
        which: Which,
        sql: &str,
        runs: usize,
    ) -> std::result::Result<Measured, String> {
        let warm = self
            .run(which, sql)
            .await
            .map_err(|e| clip(&floe::display_error(&e)))?;
        let rows = warm.iter().map(RecordBatch::num_rows).sum();
        drop(warm);
        let mut best = Duration::MAX;
        for _ in 0..runs.max(1) {
            let start = Instant::now();
            let out = self
                .run(which, sql)
                .await
                .map_err(|e| clip(&floe::display_error(&e)))?;
            let elapsed = start.elapsed();
            drop(out);
            best = best.min(elapsed);
        }
        Ok(Measured { ms: ms(best), rows })
    }
}

/// Running sums of one engine's times.
#[derive(Debug, Default)]
struct Total {
    ms: f64,
    failed: Vec<String>,
}

impl Total {
    fn add(&mut self, query: &str, result: Option<&Measured>) {
        match result {
            Some(m) => self.ms += m.ms,
            None => self.failed.push(query.to_string()),
        }
    }

    fn note(&self, which: Which, report: &mut Report) {
        if !self.failed.is_empty() {
            report.notes.push(format!(
                "{}'s total leaves out {} failed quer{}: {}",
                which.label(),
                self.failed.len(),
                if self.failed.len() == 1 { "y" } else { "ies" },
                self.failed.join(", ")
            ));
        }
    }
}

/// TPC-H as Parquet in `$FLOE_BENCH_DATA/sf<scale>` (kept) or a temporary directory.
struct Data {
    _temp: Option<tempfile::TempDir>,
    dir: PathBuf,
    parquet_dir: PathBuf,
    origin: &'static str,
    parquet_reused: bool,
    marker_text: String,
}

/// Generates the Parquet files unless a finished earlier run left them.
async fn tpch_parquet(sf: f64, report: &mut Report) -> Result<Data> {
    // Where the data lives: $FLOE_BENCH_DATA/sf<scale>, or a temporary directory that is
    // removed when the returned `Data` drops.
    let (_temp, base, origin) = match std::env::var_os("FLOE_BENCH_DATA") {
        Some(dir) if !dir.is_empty() => (None, PathBuf::from(dir), "FLOE_BENCH_DATA"),
        _ => {
            let temp = tempfile::tempdir()
                .map_err(|e| fail(format!("cannot create a temporary directory: {e}")))?;
            let path = temp.path().to_path_buf();
            (Some(temp), path, "a temporary directory, removed at exit")
        }
    };
    let dir = base.join(format!("sf{sf}"));
    std::fs::create_dir_all(&dir).map_err(|e| io_fail("cannot create", &dir, &e))?;
    let dir = std::fs::canonicalize(&dir).map_err(|e| io_fail("cannot resolve", &dir, &e))?;
    let tbl_dir = dir.join("tbl");
    let parquet_dir = dir.join("parquet");
    let warehouse_dir = dir.join("warehouse");
    let parquet_marker = dir.join("parquet.done");
    let warehouse_marker = dir.join("warehouse.done");
    let marker_text = format!("{DATA_LAYOUT} sf={sf}\n");

    // 1. TPC-H as Parquet (reused when the marker says a previous run finished it).
    let parquet_reused = marker_matches(&parquet_marker, &marker_text);
    if !parquet_reused {
        // Anything here is from an unfinished or different run: start over, warehouse too.
        remove_file_if_exists(&parquet_marker)?;
        remove_file_if_exists(&warehouse_marker)?;
        remove_dir_if_exists(&tbl_dir)?;
        remove_dir_if_exists(&parquet_dir)?;
        remove_dir_if_exists(&warehouse_dir)?;
        let start = Instant::now();
        eprintln!(
            "[scan] generating TPC-H scale factor {sf} in {}",
            tbl_dir.display()
        );
        generate_tbl(sf, &tbl_dir).await?;
        eprintln!("[scan] converting to Parquet in {}", parquet_dir.display());
        tbl_to_parquet(&tbl_dir, &parquet_dir).await?;
        remove_dir_if_exists(&tbl_dir)?;
        write_marker(&parquet_marker, &marker_text)?;
        report.notes.push(format!(
            "generated TPC-H and wrote Parquet in {:.1} s",
            start.elapsed().as_secs_f64()
        ));
    }

    Ok(Data {
        _temp,
        dir,
        parquet_dir,
        origin,
        parquet_reused,
        marker_text,
    })
}

/// Runs the suite.
pub async fn run(quick: bool) -> Result<Report> {
    let sf: f64 = if quick { 0.1 } else { 1.0 };
    let runs: usize = if quick { 1 } else { 3 };
    let mut report = Report::new("scan", quick);

    let data = tpch_parquet(sf, &mut report).await?;
    let (dir, parquet_dir, origin, parquet_reused, marker_text) = (
        data.dir.clone(),
        data.parquet_dir.clone(),
        data.origin,
        data.parquet_reused,
        data.marker_text.clone(),
    );
    let warehouse_dir = dir.join("warehouse");
    let warehouse_marker = dir.join("warehouse.done");

    // 2. The floe warehouse (a half-loaded one from an interrupted run is rebuilt).
    let warehouse_reused = marker_matches(&warehouse_marker, &marker_text);
    if !warehouse_reused {
        remove_dir_if_exists(&warehouse_dir)?;
    }
    let floe = Floe::open(warehouse_dir.as_path()).await.map_err(|e| {
        context(
            &format!("opening the floe warehouse '{}'", warehouse_dir.display()),
            &e,
        )
    })?;
    let start = Instant::now();
    let loaded = load_warehouse(&floe, &parquet_dir).await?;
    if loaded > 0 {
        report.notes.push(format!(
            "loaded {loaded} table(s) into the floe warehouse in {:.1} s",
            start.elapsed().as_secs_f64()
        ));
    }
    write_marker(&warehouse_marker, &marker_text)?;

    // 3. The three engines.
    let plain = plain_context(&parquet_dir).await?;
    let iceberg = iceberg_context(&floe).await?;
    let target_partitions = plain.copied_config().target_partitions();
    let engines = Engines {
        floe: &floe,
        plain,
        iceberg,
    };

    let lineitem_rows = engines
        .run(Which::Plain, "SELECT count(*) FROM lineitem")
        .await
        .ok()
        .and_then(|batches| {
            let batch = batches.first()?;
            batch
                .column(0)
                .as_primitive_opt::<Int64Type>()?
                .values()
                .first()
                .copied()
        });
    report.notes.push(format!(
        "TPC-H scale factor {sf}, generated with the tpchgen crate; lineitem has {} rows",
        lineitem_rows.map_or_else(|| "an unknown number of".to_string(), |n| n.to_string())
    ));
    report.notes.push(format!(
        "data in {} ({origin}{}): Parquet {:.1} MB, floe warehouse {:.1} MB",
        dir.display(),
        if parquet_reused && loaded == 0 {
            ", reused from an earlier run"
        } else {
            ""
        },
        mb(dir_size(&parquet_dir)),
        mb(dir_size(&warehouse_dir))
    ));
    report.notes.push(format!(
        "per query and engine: one warm-up run, then the minimum of {runs} timed run(s) of planning + collect(); target_partitions = {target_partitions} everywhere"
    ));
    report.notes.push(
        "alternative: plain DataFusion on the same data as plain Parquet files; iceberg-datafusion: IcebergStaticTableProvider on floe's Iceberg tables"
            .to_string(),
    );

    // 4. The queries.
    let mut floe_total = Total::default();
    let mut plain_total = Total::default();
    let mut iceberg_total = Total::default();
    let mut iceberg_times = Vec::with_capacity(QUERIES.len());
    // floe's and plain DataFusion's results per query; their rows are added after DuckDB's
    // run so that each query's rows stand together.
    let mut per_query: Vec<(Option<Measured>, Option<Measured>)> =
        Vec::with_capacity(QUERIES.len());
    let mut checked = 0usize;
    for (i, text) in QUERIES.iter().enumerate() {
        let query = format!("q{}", i + 1);
        let sql = query_sql(text);
        eprintln!("[scan] {query}");
        let mut results = Vec::with_capacity(3);
        for which in [Which::Plain, Which::Floe, Which::Iceberg] {
            let result = match engines.measure(which, sql, runs).await {
                Ok(m) => Some(m),
                Err(e) => {
                    report
                        .notes
                        .push(format!("{query}: {} failed: {e}", which.label()));
                    None
                }
            };
            results.push(result);
        }
        let (plain_m, floe_m, iceberg_m) = (results[0], results[1], results[2]);
        plain_total.add(&query, plain_m.as_ref());
        floe_total.add(&query, floe_m.as_ref());
        iceberg_total.add(&query, iceberg_m.as_ref());

        match (floe_m, plain_m) {
            (Some(f), Some(p)) if f.rows != p.rows => report.notes.push(format!(
                "{query}: ROW COUNT MISMATCH: floe returned {} row(s), plain DataFusion {}",
                f.rows, p.rows
            )),
            (Some(_), Some(_)) => checked += 1,
            (Some(_), None) => report.notes.push(format!(
                "{query}: floe's row count not checked (plain DataFusion failed)"
            )),
            (None, _) => {}
        }
        if let (Some(ice), Some(p)) = (iceberg_m, plain_m)
            && ice.rows != p.rows
        {
            report.notes.push(format!(
                "{query}: iceberg-datafusion returned {} row(s), plain DataFusion {}",
                ice.rows, p.rows
            ));
        }
        iceberg_times.push(match iceberg_m {
            Some(m) => format!("{query} {:.1}", m.ms),
            None => format!("{query} failed"),
        });
        per_query.push((floe_m, plain_m));
    }
    report.notes.push(format!(
        "row counts: floe matches plain DataFusion on {checked} of {} queries",
        QUERIES.len()
    ));
    report.notes.push(format!(
        "iceberg-datafusion per query (ms): {}",
        iceberg_times.join(", ")
    ));
    floe_total.note(Which::Floe, &mut report);
    plain_total.note(Which::Plain, &mut report);
    iceberg_total.note(Which::Iceberg, &mut report);

    // 5. DuckDB on the same data, after floe's runs (never alongside them); same threads.
    let duckdb = duckdb_results(
        &floe,
        &dir,
        &parquet_dir,
        target_partitions,
        runs,
        &mut report,
    )
    .await;
    let mut duckdb_tallies: [DuckTally; 2] = Default::default();
    for (i, &(floe_m, plain_m)) in per_query.iter().enumerate() {
        let query = format!("q{}", i + 1);
        if let Some(f) = floe_m {
            report.lower_is_better(
                &query,
                f.ms,
                Which::Plain.label(),
                plain_m.map(|p| p.ms),
                "ms",
                None,
            );
        }
        let Some(out) = &duckdb else { continue };
        for (&(mode, label), tally) in DUCKDB_MODES.iter().zip(&mut duckdb_tallies) {
            let duck = duckdb_result(out, mode, &query);
            tally.add(&query, label, floe_m, &duck, &mut report);
            if let Some(f) = floe_m {
                let alt = duck.as_ref().ok().map(|d| d.ms);
                report.lower_is_better(&query, f.ms, label, alt, "ms", None);
            }
        }
    }

    let plain_ran = plain_total.failed.len() < QUERIES.len();
    let iceberg_ran = iceberg_total.failed.len() < QUERIES.len();
    report.lower_is_better(
        &format!("total ({} queries)", QUERIES.len()),
        floe_total.ms,
        Which::Plain.label(),
        plain_ran.then_some(plain_total.ms),
        "ms",
        Some("<= 1.15x plain DataFusion"),
    );
    report.lower_is_better(
        "total vs iceberg-datafusion",
        floe_total.ms,
        Which::Iceberg.label(),
        iceberg_ran.then_some(iceberg_total.ms),
        "ms",
        Some("faster than iceberg-datafusion"),
    );
    if duckdb.is_some() {
        for (&(_, label), tally) in DUCKDB_MODES.iter().zip(&duckdb_tallies) {
            tally.finish(label, &mut report);
        }
    }
    Ok(report)
}

/// The DuckDB driver, built in so that the binary runs from any directory.
const DUCKDB_DRIVER: &str = include_str!("../duckdb_tpch.py");

/// DuckDB's two ways into the same data: the driver's mode names and the report's labels.
const DUCKDB_MODES: [(&str, &str); 2] = [
    ("iceberg_scan", "DuckDB iceberg_scan"),
    ("read_parquet", "DuckDB read_parquet"),
];

/// How long one DuckDB run of one query may take: the driver interrupts it and that query
/// counts as failed (noted), the others go on.
const DUCKDB_RUN_LIMIT: Duration = Duration::from_secs(300);

/// How long the whole driver may take before it is killed (then no DuckDB results at all).
const DUCKDB_LIMIT: Duration = Duration::from_secs(3600);

/// Runs the queries on DuckDB when python3 has it with its extension wheels; returns the
/// driver's output, or `None` with a note saying why there are no DuckDB results (skipped
/// or failed: never silently).
async fn duckdb_results(
    floe: &Floe,
    dir: &Path,
    parquet_dir: &Path,
    threads: usize,
    runs: usize,
    report: &mut Report,
) -> Option<serde_json::Value> {
    if !crate::duckdb::available() {
        report.notes.push(format!(
            "DuckDB skipped: python3 lacks duckdb and its extension wheels (pip install {})",
            crate::duckdb::PACKAGES
        ));
        return None;
    }
    let spec = dir.join("duckdb_tpch.json");
    match run_duckdb(floe, &spec, parquet_dir, threads, runs).await {
        Ok(out) => {
            report.notes.push(format!(
                "DuckDB {} on the same data: iceberg_scan of floe's current metadata files and read_parquet of the Parquet files plain DataFusion reads; threads = {threads}; per query and mode one warm-up run, then the minimum of {runs} timed run(s) of execute + fetch ({}); the query texts floe runs (input: {})",
                out["duckdb"].as_str().unwrap_or("(version unknown)"),
                out["fetch"].as_str().unwrap_or("?"),
                spec.display()
            ));
            Some(out)
        }
        Err(e) => {
            report
                .notes
                .push(format!("DuckDB FAILED, no DuckDB results: {}", clip(&e)));
            None
        }
    }
}

/// Writes the driver's input to `spec` — per table floe's current metadata file and the
/// `.parquet` files of its directory (the files plain DataFusion's listing table reads),
/// the queries as floe runs them, `threads` and `runs` — and runs the driver on it.
async fn run_duckdb(
    floe: &Floe,
    spec: &Path,
    parquet_dir: &Path,
    threads: usize,
    runs: usize,
) -> std::result::Result<serde_json::Value, String> {
    let mut tables = Vec::with_capacity(TABLES.len());
    for def in &TABLES {
        let name = def.name;
        let record = floe
            .redb_catalog()
            .table_record(&ident(name).map_err(|e| e.to_string())?)
            .map_err(|e| format!("table {name}: {e}"))?;
        let table_dir = parquet_dir.join(name);
        let list_fail = |e: std::io::Error| format!("cannot list '{}': {e}", table_dir.display());
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&table_dir).map_err(list_fail)? {
            let path = entry.map_err(list_fail)?.path();
            if path.extension().is_some_and(|x| x == "parquet") {
                files.push(path.display().to_string());
            }
        }
        if files.is_empty() {
            return Err(format!("no Parquet files in '{}'", table_dir.display()));
        }
        files.sort();
        tables.push(serde_json::json!({
            "name": name,
            "metadata": record.location.as_str(),
            "parquet": files,
        }));
    }
    let queries: Vec<serde_json::Value> = QUERIES
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let name = format!("q{}", i + 1);
            serde_json::json!({ "name": name, "sql": query_sql(text) })
        })
        .collect();
    let input = serde_json::json!({
        "threads": threads,
        "runs": runs,
        "timeout_seconds": DUCKDB_RUN_LIMIT.as_secs(),
        "queries": queries,
        "tables": tables,
    });
    std::fs::write(spec, input.to_string())
        .map_err(|e| format!("cannot write '{}': {e}", spec.display()))?;
    eprintln!(
        "[scan] DuckDB: the {} queries through iceberg_scan and read_parquet",
        QUERIES.len()
    );
    let arg = spec.display().to_string();
    let stdout = tokio::task::spawn_blocking(move || {
        crate::duckdb::run_python(DUCKDB_DRIVER, &[arg.as_str()], DUCKDB_LIMIT)
    })
    .await
    .map_err(|e| e.to_string())??;
    // The driver prints one JSON object on one line, and nothing else on stdout.
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    serde_json::from_str(last).map_err(|e| format!("the driver's output {:?}: {e}", clip(last)))
}

/// One DuckDB mode's result on one query from the driver's output; Err: its error, or
/// that the output lacks it.
fn duckdb_result(
    out: &serde_json::Value,
    mode: &str,
    query: &str,
) -> std::result::Result<Measured, String> {
    let entry = &out["modes"][mode][query];
    if let Some(e) = entry["error"].as_str() {
        return Err(e.to_string());
    }
    match (entry["seconds"].as_f64(), entry["rows"].as_u64()) {
        (Some(seconds), Some(rows)) => Ok(Measured {
            ms: seconds * 1e3,
            rows: rows as usize,
        }),
        _ => Err(format!("the driver's output has no result ({entry})")),
    }
}

/// floe against one DuckDB mode, over the queries both ran.
#[derive(Debug, Default)]
struct DuckTally {
    floe_ms: f64,
    duck_ms: f64,
    /// Queries both ran (their row counts compared) and how many of them matched.
    compared: usize,
    matched: usize,
    /// Queries out of the totals because floe or DuckDB failed on them.
    left_out: Vec<String>,
}

impl DuckTally {
    /// Adds one query: its times when both ran; DuckDB's error, and a row count that
    /// differs from floe's, go to the notes.
    fn add(
        &mut self,
        query: &str,
        label: &str,
        floe: Option<Measured>,
        duck: &std::result::Result<Measured, String>,
        report: &mut Report,
    ) {
        match (floe, duck) {
            (Some(f), Ok(d)) => {
                self.floe_ms += f.ms;
                self.duck_ms += d.ms;
                self.compared += 1;
                if f.rows == d.rows {
                    self.matched += 1;
                } else {
                    report.notes.push(format!(
                        "{query}: ROW COUNT MISMATCH: floe returned {} row(s), {label} {}",
                        f.rows, d.rows
                    ));
                }
            }
            (_, Err(e)) => {
                report
                    .notes
                    .push(format!("{query}: {label} failed: {}", clip(e)));
                self.left_out.push(query.to_string());
            }
            (None, Ok(_)) => self.left_out.push(query.to_string()),
        }
    }

    /// The total row and a note: both totals, floe / DuckDB, row counts checked.
    fn finish(&self, label: &str, report: &mut Report) {
        let ran = self.compared > 0;
        report.lower_is_better(
            &format!("total vs {label}"),
            self.floe_ms,
            label,
            ran.then_some(self.duck_ms),
            "ms",
            None,
        );
        let left_out = if self.left_out.is_empty() {
            String::new()
        } else {
            format!(" (left out: {})", self.left_out.join(", "))
        };
        report.notes.push(format!(
            "{label}: {:.1} ms in total against floe's {:.1} ms on the same {} quer{}{left_out}; floe / DuckDB = {}; row counts match floe on {} of {}",
            self.duck_ms,
            self.floe_ms,
            self.compared,
            if self.compared == 1 { "y" } else { "ies" },
            if ran && self.duck_ms > 0.0 {
                format!("{:.2}", self.floe_ms / self.duck_ms)
            } else {
                "-".to_string()
            },
            self.matched,
            self.compared
        ));
    }
}

/// The files a scan of `table` reads and its row groups: data files, row groups (footers
/// read through the warehouse's own file IO), and the Iceberg metadata a first scan
/// loads (the metadata file, the manifest list and each manifest).
async fn files_and_row_groups(floe: &Floe, table: &str) -> Result<(u64, u64)> {
    use datafusion::parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
    let io = floe.redb_catalog().file_io().clone();
    let batches = floe
        .sql(&format!("SELECT file_path FROM \"{table}$files\""))
        .await?;
    let (mut files, mut groups) = (0u64, 0u64);
    for b in batches {
        let paths = b.column(0).as_string::<i32>();
        for i in 0..b.num_rows() {
            let input = io.new_input(paths.value(i)).map_err(iceberg_to_df)?;
            let len = input.metadata().await.map_err(iceberg_to_df)?.size;
            let reader = input.reader().await.map_err(iceberg_to_df)?;
            let tail = reader.read(len - 8..len).await.map_err(iceberg_to_df)?;
            let footer = FooterTail::try_from(&tail[..])
                .map_err(|e| fail(format!("footer of {}: {e}", paths.value(i))))?
                .metadata_length();
            let meta = reader
                .read(len - 8 - footer as u64..len - 8)
                .await
                .map_err(iceberg_to_df)?;
            let meta = ParquetMetaDataReader::decode_metadata(&meta)
                .map_err(|e| fail(format!("footer of {}: {e}", paths.value(i))))?;
            files += 1;
            groups += meta.num_row_groups() as u64;
        }
    }
    let manifests = floe
        .sql(&format!("SELECT count(*) FROM \"{table}$manifests\""))
        .await?;
    let manifests = manifests
        .first()
        .and_then(|b| b.column(0).as_primitive_opt::<Int64Type>())
        .map_or(0, |c| c.value(0) as u64);
    Ok((files + 2 + manifests, groups))
}

/// `floe-bench scan --s3`: the 22 queries on the same tables on local disk and on a moto
/// S3 server on loopback, side by side, with the GET requests and bytes each query
/// fetched from S3 against the files and row groups of the tables it reads.
pub async fn run_s3(quick: bool) -> Result<Report> {
    let sf: f64 = if quick { 0.1 } else { 1.0 };
    let runs: usize = if quick { 1 } else { 2 };
    let mut report = Report::new("scan-s3", quick);
    let data = tpch_parquet(sf, &mut report).await?;

    let local_dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let local = Floe::open(local_dir.path()).await?;
    let server = crate::moto::Moto::start()
        .ok_or_else(|| fail("--s3 needs moto_server (pip install \"moto[server]==5.2.1\")"))?;
    server.create_bucket("tpch");
    let catalog_dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let mut builder = Floe::builder().warehouse("s3://tpch/w").catalog_path(
        catalog_dir
            .path()
            .join("catalog.redb")
            .display()
            .to_string(),
    );
    for (k, v) in server.properties() {
        builder = builder.property(k, v);
    }
    let s3 = builder.open().await?;
    for (floe, label) in [(&local, "local disk"), (&s3, "S3")] {
        let start = Instant::now();
        load_warehouse(floe, &data.parquet_dir).await?;
        report.notes.push(format!(
            "loaded the {} TPC-H tables (scale factor {sf}) into the warehouse on {label} in {:.1} s",
            TABLES.len(),
            start.elapsed().as_secs_f64()
        ));
    }
    let mut layout = std::collections::BTreeMap::new();
    for def in &TABLES {
        layout.insert(def.name, files_and_row_groups(&s3, def.name).await?);
    }
    report.notes.push(format!(
        "files (data files, the metadata file, the manifest list, manifests) and row groups per table on S3: {}",
        layout
            .iter()
            .map(|(t, (f, g))| format!("{t} {f}/{g}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    report.notes.push(format!(
        "per query: one first run (its GETs and bytes are reported: metadata, footers and data), then the minimum of {runs} timed run(s) per warehouse; moto is a Python server, so times are no S3 performance reference"
    ));
    let requests = || {
        s3.redb_catalog()
            .object_store_requests()
            .unwrap_or_default()
    };
    let (mut local_total, mut s3_total) = (0.0, 0.0);
    let mut over_budget = Vec::new();
    for (i, text) in QUERIES.iter().enumerate() {
        let query = format!("q{}", i + 1);
        let sql = query_sql(text);
        eprintln!("[scan --s3] {query}");
        let mut best = [f64::MAX; 2];
        let mut rows = [0usize; 2];
        let before = requests();
        for (k, floe) in [&local, &s3].into_iter().enumerate() {
            let out = floe.sql(sql).await?;
            rows[k] = out.iter().map(RecordBatch::num_rows).sum();
        }
        let first = requests() - before;
        for (k, floe) in [&local, &s3].into_iter().enumerate() {
            for _ in 0..runs {
                let start = Instant::now();
                let out = floe.sql(sql).await?;
                best[k] = best[k].min(ms(start.elapsed()));
                drop(out);
            }
        }
        if rows[0] != rows[1] {
            report.notes.push(format!(
                "{query}: ROW COUNT MISMATCH: {} on local disk, {} on S3",
                rows[0], rows[1]
            ));
        }
        // Each scan of a table reads its files again (q21 scans lineitem three times).
        let lower = sql.to_ascii_lowercase();
        let budget: u64 = layout
            .iter()
            .map(|(t, (f, g))| {
                let scans = lower
                    .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .filter(|w| w == t)
                    .count() as u64;
                2 * scans * (f + g)
            })
            .sum();
        if first.gets > budget {
            over_budget.push(format!("{query} ({} > {budget})", first.gets));
        }
        report.notes.push(format!(
            "{query}: {} GETs ({:.1} MB) on its first run, budget {budget} (2 x (files + row groups) per table scan)",
            first.gets,
            mb(first.bytes)
        ));
        local_total += best[0];
        s3_total += best[1];
        report.lower_is_better(&query, best[1], "local disk", Some(best[0]), "ms", None);
    }
    report.lower_is_better(
        &format!("total ({} queries)", QUERIES.len()),
        s3_total,
        "local disk",
        Some(local_total),
        "ms",
        None,
    );
    report.lower_is_better(
        "queries over the GET budget",
        over_budget.len() as f64,
        "-",
        None,
        "count",
        Some("0"),
    );
    if !over_budget.is_empty() {
        report
            .notes
            .push(format!("OVER THE GET BUDGET: {}", over_budget.join(", ")));
    }
    drop(s3);
    drop(server);
    Ok(report)
}
