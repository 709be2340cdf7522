//! `deletes`: scanning a table whose rows are 10% deleted — by Parquet position deletes,
//! by v3 deletion vectors (Puffin) and by equality deletes on the key — against the same
//! rows written without deletes, and against DuckDB 1.4.4's `iceberg_scan` on the same
//! tables (when python3 has `duckdb` and its iceberg extension; see `.ci/run` and
//! DEVELOPERS' notes for the pip packages).
//!
//! The delete files are written here the way Spark, Trino and Flink write them (floe
//! itself writes copy-on-write deletes), committed through floe's catalog as one
//! `delete` snapshot each.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::{ArrowWriter, PARQUET_FIELD_ID_META_KEY};
use floe::Floe;
use floe_catalog::{LiveFile, RedbCatalog};
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, FormatVersion, MAIN_BRANCH,
    ManifestListWriter, ManifestWriterBuilder, Operation, Snapshot, SnapshotReference,
    SnapshotRetention, Struct, Summary,
};
use iceberg::{TableIdent, TableRequirement, TableUpdate};

use crate::report::Report;

const QUERY: &str = "SELECT value AS id, value % 1000 AS k, concat('row-', CAST(value AS VARCHAR)) AS s, \
                     CAST(value AS DOUBLE) * 0.5 AS r FROM generate_series(1, {N})";
/// What each run reads: every column, every row, aggregated so output is tiny.
const SCAN: &str = "SELECT count(*), sum(id), sum(k), max(s), sum(r) FROM {T}";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn field(name: &str, dt: DataType, id: i32) -> Field {
    Field::new(name, dt, false).with_metadata(HashMap::from([(
        PARQUET_FIELD_ID_META_KEY.to_string(),
        id.to_string(),
    )]))
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<u64, BoxError> {
    let mut w = ArrowWriter::try_new(File::create(path)?, batch.schema(), None)?;
    w.write(batch)?;
    w.close()?;
    Ok(std::fs::metadata(path)?.len())
}

fn local(location: &str) -> PathBuf {
    floe_catalog::storage::local_path(location)
}

/// Position-delete file deleting every 10th row of each data file.
fn position_deletes(dir: &Path, files: &[LiveFile]) -> Result<DataFile, BoxError> {
    let mut paths = Vec::new();
    let mut positions = Vec::new();
    let mut sorted: Vec<&LiveFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.file.file_path().cmp(b.file.file_path()));
    for f in sorted {
        for pos in (0..f.file.record_count() as i64).step_by(10) {
            paths.push(f.file.file_path().to_string());
            positions.push(pos);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        field("file_path", DataType::Utf8, 2147483546),
        field("pos", DataType::Int64, 2147483545),
    ]));
    let rows = positions.len() as u64;
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(paths)),
            Arc::new(Int64Array::from(positions)),
        ],
    )?;
    let path = dir.join(format!("pos-deletes-{}.parquet", uuid_like()));
    let size = write_parquet(&path, &batch)?;
    Ok(DataFileBuilder::default()
        .content(DataContentType::PositionDeletes)
        .file_path(format!("file://{}", path.display()))
        .file_format(DataFileFormat::Parquet)
        .file_size_in_bytes(size)
        .record_count(rows)
        .partition(Struct::empty())
        .partition_spec_id(0)
        .build()?)
}

/// Equality-delete file on `id` (field 1) deleting ids divisible by 10.
fn equality_deletes(dir: &Path, rows: u64) -> Result<DataFile, BoxError> {
    let ids: Vec<i64> = (1..=rows as i64).filter(|v| v % 10 == 0).collect();
    let n = ids.len() as u64;
    let schema = Arc::new(Schema::new(vec![field("id", DataType::Int64, 1)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(ids))])?;
    let path = dir.join(format!("eq-deletes-{}.parquet", uuid_like()));
    let size = write_parquet(&path, &batch)?;
    Ok(DataFileBuilder::default()
        .content(DataContentType::EqualityDeletes)
        .file_path(format!("file://{}", path.display()))
        .file_format(DataFileFormat::Parquet)
        .file_size_in_bytes(size)
        .record_count(n)
        .equality_ids(Some(vec![1]))
        .partition(Struct::empty())
        .partition_spec_id(0)
        .build()?)
}

/// One Puffin file with a `deletion-vector-v1` blob per data file (every 10th row).
fn deletion_vectors(dir: &Path, files: &[LiveFile]) -> Result<Vec<DataFile>, BoxError> {
    let path = dir.join(format!("dv-{}.puffin", uuid_like()));
    let mut out = b"PFA1".to_vec();
    let mut blobs = Vec::new();
    let mut entries = Vec::new();
    for f in files {
        let bitmap: roaring::RoaringTreemap = (0..f.file.record_count()).step_by(10).collect();
        let mut body = vec![0xD1, 0xD3, 0x39, 0x64];
        bitmap.serialize_into(&mut body)?;
        let mut blob = (body.len() as u32).to_be_bytes().to_vec();
        blob.extend_from_slice(&body);
        blob.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        let offset = out.len() as i64;
        out.extend_from_slice(&blob);
        blobs.push(serde_json::json!({
            "type": "deletion-vector-v1",
            "fields": [2147483645],
            "snapshot-id": -1,
            "sequence-number": -1,
            "offset": offset,
            "length": blob.len(),
            "properties": {
                "referenced-data-file": f.file.file_path(),
                "cardinality": bitmap.len().to_string(),
            }
        }));
        entries.push((
            f.file.file_path().to_string(),
            offset,
            blob.len() as i64,
            bitmap.len(),
        ));
    }
    let footer = serde_json::to_vec(&serde_json::json!({ "blobs": blobs }))?;
    out.extend_from_slice(b"PFA1");
    out.extend_from_slice(&footer);
    out.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(b"PFA1");
    std::fs::write(&path, &out)?;
    let size = out.len() as u64;
    entries
        .into_iter()
        .map(|(data, offset, len, count)| {
            Ok(DataFileBuilder::default()
                .content(DataContentType::PositionDeletes)
                .file_path(format!("file://{}", path.display()))
                .file_format(DataFileFormat::Puffin)
                .file_size_in_bytes(size)
                .record_count(count)
                .referenced_data_file(Some(data))
                .content_offset(Some(offset))
                .content_size_in_bytes(Some(len))
                .partition(Struct::empty())
                .partition_spec_id(0)
                .build()?)
        })
        .collect()
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// Commits a `delete` snapshot adding `deletes` to the current snapshot of `ident`.
async fn commit_deletes(
    catalog: &RedbCatalog,
    ident: &TableIdent,
    deletes: Vec<DataFile>,
) -> Result<(), BoxError> {
    let table = catalog.table(ident).await?;
    let md = table.metadata();
    let parent = md
        .current_snapshot()
        .ok_or("table has no snapshot")?
        .clone();
    let list = catalog.manifest_list(md, &parent).await?;
    let snapshot_id = parent.snapshot_id() + 1;
    let seq = md.next_sequence_number();
    let io = table.file_io();
    let v3 = md.format_version() == FormatVersion::V3;
    let builder = ManifestWriterBuilder::new(
        io.new_output(format!(
            "{}/metadata/deletes-{snapshot_id}-m0.avro",
            md.location()
        ))?,
        Some(snapshot_id),
        md.current_schema().clone(),
        (**md.default_partition_spec()).clone(),
    );
    let mut mw = if v3 {
        builder.build_v3_deletes()
    } else {
        builder.build_v2_deletes()
    };
    for d in deletes {
        mw.add_file(d, seq)?;
    }
    let manifest = mw.write_manifest_file().await?;
    let list_path = format!("{}/metadata/snap-{snapshot_id}-deletes.avro", md.location());
    let writer = io.new_output(&list_path)?.writer().await?;
    let mut lw = if v3 {
        ManifestListWriter::v3(writer, snapshot_id, Some(parent.snapshot_id()), seq, None)
    } else {
        ManifestListWriter::v2(writer, snapshot_id, Some(parent.snapshot_id()), seq)
    };
    lw.add_manifests(
        list.entries()
            .iter()
            .cloned()
            .chain(std::iter::once(manifest)),
    )?;
    lw.close().await?;
    let summary = Summary {
        operation: Operation::Delete,
        additional_properties: HashMap::new(),
    };
    let builder = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(Some(parent.snapshot_id()))
        .with_sequence_number(seq)
        .with_timestamp_ms(parent.timestamp_ms() + 1)
        .with_manifest_list(list_path)
        .with_schema_id(md.current_schema_id())
        .with_summary(summary);
    // v3 snapshots carry a row-id range; a delete adds no rows.
    let snapshot = if v3 {
        builder.with_row_range(md.next_row_id(), 0).build()
    } else {
        builder.build()
    };
    catalog
        .commit_table(
            ident,
            vec![TableRequirement::UuidMatch { uuid: md.uuid() }],
            vec![
                TableUpdate::AddSnapshot { snapshot },
                TableUpdate::SetSnapshotRef {
                    ref_name: MAIN_BRANCH.into(),
                    reference: SnapshotReference::new(
                        snapshot_id,
                        SnapshotRetention::branch(None, None, None),
                    ),
                },
            ],
        )
        .await?;
    Ok(())
}

async fn best_of(floe: &Floe, sql: &str, runs: usize) -> Result<(f64, String), BoxError> {
    let mut best = f64::MAX;
    let mut answer = String::new();
    for _ in 0..runs {
        let start = Instant::now();
        let batches = floe.sql(sql).await?;
        best = best.min(start.elapsed().as_secs_f64());
        answer = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
    }
    Ok((best, answer))
}

/// How long DuckDB may take for one table's runs before it counts as not finishing.
const DUCKDB_LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

/// DuckDB's best time over `runs` runs and the row count it returned, for one table
/// (its metadata file), in its own python process. `Ok(None)`: python3 lacks duckdb or
/// its extensions; `Err`: DuckDB failed or did not finish within [`DUCKDB_LIMIT`].
fn duckdb_time(metadata: &str, runs: usize) -> Result<Option<(f64, i64)>, String> {
    let script = r#"
import sys, time, glob, os, json, duckdb, duckdb_ext
base = os.path.join(list(duckdb_ext.__path__)[0], 'extensions')
def ext(name):
    hits = glob.glob(os.path.join(base, '*', '*', name + '.duckdb_extension'))
    if not hits: raise SystemExit('no ' + name + ' extension under ' + base)
    return hits[0]
con = duckdb.connect(config={'allow_unsigned_extensions': 'true', 'threads': 2})
con.execute('SET enable_progress_bar = false')
con.execute(f"LOAD '{ext('avro')}'")
con.execute(f"LOAD '{ext('iceberg')}'")
runs = int(sys.argv[1]); m = sys.argv[2]
best = None; rows = None
for _ in range(runs):
    t = time.perf_counter()
    r = con.execute(f"SELECT count(*), sum(id), sum(k), max(s), sum(r) FROM iceberg_scan('{m}')").fetchone()
    e = time.perf_counter() - t
    best = e if best is None else min(best, e)
    rows = r[0]
print(json.dumps([best, rows]))
"#;
    if !crate::duckdb::available() {
        return Ok(None);
    }
    let runs = runs.to_string();
    let stdout = crate::duckdb::run_python(script, &[runs.as_str(), metadata], DUCKDB_LIMIT)?;
    let last = stdout.lines().last().unwrap_or_default();
    let parsed: (f64, i64) =
        serde_json::from_str(last).map_err(|e| format!("output {last:?}: {e}"))?;
    Ok(Some(parsed))
}

/// Runs the suite.
pub async fn run(quick: bool, runs: Option<usize>) -> Result<Report, String> {
    run_inner(quick, runs).await.map_err(|e| e.to_string())
}

async fn run_inner(quick: bool, runs: Option<usize>) -> Result<Report, BoxError> {
    let rows: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let runs = runs.unwrap_or(if quick { 2 } else { 3 }).max(1);
    let dir = tempfile::tempdir()?;
    let floe = Floe::open(dir.path().join("warehouse")).await?;
    let catalog = floe.redb_catalog().clone();
    let mut report = Report::new("deletes", quick);
    let query = QUERY.replace("{N}", &rows.to_string());
    let tables = ["plain", "pos", "dv", "eq"];
    for t in tables {
        floe.sql(&format!("CREATE TABLE {t} AS {query}")).await?;
    }
    let ident = |t: &str| TableIdent::from_strs(["public", t]).expect("valid name");
    // Deletion vectors are a format v3 feature.
    {
        let table = catalog.table(&ident("dv")).await?;
        catalog
            .commit_table(
                &ident("dv"),
                vec![TableRequirement::UuidMatch {
                    uuid: table.metadata().uuid(),
                }],
                vec![TableUpdate::UpgradeFormatVersion {
                    format_version: FormatVersion::V3,
                }],
            )
            .await?;
    }
    let mut data_files = 0;
    let mut expected = HashMap::from([("plain", rows), ("eq", rows - rows / 10)]);
    for t in ["pos", "dv", "eq"] {
        let table = catalog.table(&ident(t)).await?;
        let md = table.metadata();
        let snapshot = md.current_snapshot().ok_or("no snapshot")?;
        let (files, _) = catalog.live_files(md, snapshot).await?;
        data_files = files.len();
        if t != "eq" {
            // Every 10th position of each file: ceil(records / 10) rows go.
            let deleted: u64 = files
                .iter()
                .map(|f| f.file.record_count().div_ceil(10))
                .sum();
            expected.insert(t, rows - deleted);
        }
        let data_dir = local(&format!("{}/data", md.location()));
        std::fs::create_dir_all(&data_dir)?;
        let deletes = match t {
            "pos" => vec![position_deletes(&data_dir, &files)?],
            "dv" => deletion_vectors(&data_dir, &files)?,
            _ => vec![equality_deletes(&data_dir, rows)?],
        };
        commit_deletes(&catalog, &ident(t), deletes).await?;
    }
    report.notes.push(format!(
        "{rows} rows in {data_files} data files per table; 10% deleted; query: {SCAN} (best of {runs} interleaved rounds, after a warm-up)"
    ));

    // Rounds interleave the tables (each round times every table once) so that a noisy
    // stretch of the machine hits all of them alike; each table keeps its best time.
    let mut floe_times: HashMap<&str, f64> = HashMap::new();
    for t in tables {
        floe.sql(&SCAN.replace("{T}", t)).await?; // warm-up: caches, page cache
    }
    for _ in 0..runs {
        for t in tables {
            let (time, answer) = best_of(&floe, &SCAN.replace("{T}", t), 1).await?;
            let want = expected[t];
            if !answer.contains(&format!("| {want} ")) {
                return Err(format!("{t}: expected {want} rows, got\n{answer}").into());
            }
            let best = floe_times.entry(t).or_insert(f64::MAX);
            *best = best.min(time);
        }
    }
    for t in tables {
        report
            .notes
            .push(format!("floe {t}: {:.1} ms", floe_times[t] * 1000.0));
    }
    let metadata: Vec<String> = {
        let mut out = Vec::new();
        for t in tables {
            let record = catalog.table_record(&ident(t))?;
            out.push(record.location.clone());
        }
        out
    };
    let mut duck: Vec<Option<(f64, i64)>> = Vec::new();
    for (t, m) in tables.iter().zip(&metadata) {
        match duckdb_time(m, runs.min(3)) {
            Ok(d) => duck.push(d),
            Err(e) => {
                report.notes.push(format!("DuckDB on {t}: {e}"));
                duck.push(None);
            }
        }
    }
    if duck.iter().all(Option::is_none) && !report.notes.iter().any(|n| n.starts_with("DuckDB")) {
        report.notes.push(
            "DuckDB not measured: python3 lacks duckdb==1.4.4 with duckdb-ext-iceberg/duckdb-ext-avro"
                .into(),
        );
    }
    let plain = floe_times["plain"];
    for (i, t) in tables.iter().enumerate() {
        let label = match *t {
            "plain" => "no deletes",
            "pos" => "position deletes",
            "dv" => "deletion vectors",
            _ => "equality deletes",
        };
        let ms = floe_times[t] * 1000.0;
        if let Some((secs, n)) = duck[i] {
            let want = expected[t];
            if n as u64 != want {
                report.notes.push(format!(
                    "DuckDB returned {n} rows for {label}, expected {want}"
                ));
            }
            report.lower_is_better(
                &format!("scan, {label}"),
                ms,
                "DuckDB 1.4.4 iceberg_scan",
                Some(secs * 1000.0),
                "ms",
                Some("faster than DuckDB"),
            );
        }
        if *t != "plain" {
            let target = if *t == "eq" { "<= 2.0x" } else { "<= 1.3x" };
            report.lower_is_better(
                &format!("{label}: time / no-delete time (floe)"),
                floe_times[t] / plain,
                "",
                None,
                "x",
                Some(target),
            );
        }
    }
    Ok(report)
}
