//! Tables written by other engines (Spark, Hive, Flink, Trino, PyIceberg, Iceberg Java),
//! from `shared/fixtures/foreign-iceberg/`: floe adopts each with `register_table` and must
//! return exactly the row counts of `EXPECTED.tsv` (cross-checked there by independent
//! readers) at the current snapshot and, by time travel, at every listed snapshot.
//!
//! The fixtures name paths that exist nowhere, so the test first relocates a copy with
//! the fixture's own `relocate-all.sh` (python3 with fastavro and pyarrow; `.ci/run`
//! installs them). Tables whose data floe cannot decode (ORC or Avro data files) must
//! fail with an error naming the format, never return rows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use floe_catalog::RedbCatalog;
use floe_sql::{Engine, Session, SessionOptions};
use iceberg::NamespaceIdent;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/foreign-iceberg")
}

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import fastavro, pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One line of EXPECTED.tsv.
struct Expected {
    table: String,
    metadata: String,
    rows: Option<u64>,
    snapshots: Vec<(String, Option<u64>)>,
    status: String,
}

fn parse_expected(text: &str) -> Vec<Expected> {
    let mut out = Vec::new();
    let mut header = true;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if header {
            header = false;
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let snapshots = cols[4]
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let (id, n) = s.split_once(':').expect("snapshot_id:rows");
                (id.to_string(), n.parse().ok())
            })
            .collect();
        out.push(Expected {
            table: cols[0].to_string(),
            metadata: cols[1].to_string(),
            rows: cols[3].parse().ok(),
            snapshots,
            status: cols[6].to_string(),
        });
    }
    out
}

/// The data file format a table's name says it holds, when floe cannot decode it.
fn undecodable_format(table: &str) -> Option<&'static str> {
    let name = table.rsplit('/').next().unwrap_or(table);
    if name.ends_with("_orc") || name.contains("_orc_") || name == "iceberg_mixed_file_format_test"
    {
        Some("ORC")
    } else if name.ends_with("_avro") {
        Some("Avro")
    } else {
        None
    }
}

async fn count(s: &Session, sql: &str) -> Result<u64, String> {
    match s.sql(sql).await {
        Ok(batches) => Ok(batches.iter().map(|b| b.num_rows() as u64).sum()),
        // A column nesting a VARIANT cannot be read (by design, as in Impala; the error
        // names it): count the rows through a scan of no column instead.
        Err(e) if floe_sql::display_error(&e).contains("nests a VARIANT") => {
            let rows = sql.replacen("SELECT *", "SELECT 1", 1);
            match s.sql(&rows).await {
                Ok(batches) => Ok(batches.iter().map(|b| b.num_rows() as u64).sum()),
                Err(e) => Err(floe_sql::display_error(&e)),
            }
        }
        Err(e) => Err(floe_sql::display_error(&e)),
    }
}

/// The relocated fixtures and a session on a fresh warehouse beside them; `None` (test
/// skipped) outside CI when the fixtures or python3 with fastavro and pyarrow are missing.
async fn relocated_session() -> Option<(tempfile::TempDir, PathBuf, Session)> {
    let root = fixtures();
    if !root.join("EXPECTED.tsv").exists() || !python_ready() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs ../shared/fixtures/foreign-iceberg and python3 with fastavro and pyarrow"
        );
        eprintln!("skipping: foreign fixtures or python3 (fastavro, pyarrow) not available");
        return None;
    }
    let dest = tempfile::tempdir().unwrap();
    let relocated = dest.path().join("fx");
    let out = Command::new("bash")
        .arg(root.join("relocate-all.sh"))
        .arg(&relocated)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "relocate-all.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let catalog = RedbCatalog::open(dest.path().join("wh")).await.unwrap();
    catalog
        .create_ns(&NamespaceIdent::new("public".into()), HashMap::new())
        .await
        .unwrap();
    let engine = Engine::new(catalog, "floe").unwrap();
    let s = Session::new(engine, SessionOptions::default()).unwrap();
    Some((dest, relocated, s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_tables_read_as_their_writers_meant() {
    let Some((_dir, relocated, s)) = relocated_session().await else {
        return;
    };
    let root = fixtures();
    let expected = parse_expected(&std::fs::read_to_string(root.join("EXPECTED.tsv")).unwrap());
    assert!(
        expected.len() >= 90,
        "EXPECTED.tsv lists {}",
        expected.len()
    );

    let mut failures = Vec::new();
    let mut checks = 0;
    let report = std::env::var_os("FLOE_FOREIGN_REPORT").is_some();
    for (i, e) in expected.iter().enumerate() {
        let name = format!("f{i}");
        let metadata = relocated.join(&e.table).join("metadata").join(&e.metadata);
        let mut check = |what: String, got: Result<u64, String>, want: Option<u64>| {
            checks += 1;
            let ok = match (&got, want, undecodable_format(&e.table)) {
                // A snapshot of only Parquet files reads; any other fails naming the format.
                (Err(msg), _, Some(format)) => msg.contains(format) && msg.contains("format"),
                (Ok(n), Some(w), _) => *n == w,
                // Spec-invalid metadata: an error naming the metadata file.
                (Err(msg), None, None) if e.status == "invalid" => msg.contains(&e.metadata),
                // Unreadable upstream (a missing manifest list): an error naming it.
                (Err(msg), None, None) => msg.contains("snap-") || msg.contains("manifest"),
                _ => false,
            };
            if report || !ok {
                eprintln!(
                    "{} {} [{}] {what}: got {got:?}, want {want:?}",
                    if ok { "ok  " } else { "FAIL" },
                    e.table,
                    e.status
                );
            }
            if !ok {
                failures.push(format!("{} {what}: got {got:?}, want {want:?}", e.table));
            }
        };
        if e.status == "invalid" {
            // Spec-invalid metadata (a snapshot id beyond i64): adopting it must fail
            // with an error, never half-register.
            let r = s
                .sql(&format!(
                    "CALL register_table('{name}', '{}')",
                    path_uri(&metadata)
                ))
                .await;
            check(
                "register (invalid metadata)".into(),
                match r {
                    Ok(_) => Ok(u64::MAX),
                    Err(err) => Err(floe_sql::display_error(&err)),
                },
                None,
            );
            continue;
        }
        if let Err(err) = s
            .sql(&format!(
                "CALL register_table('{name}', '{}')",
                path_uri(&metadata)
            ))
            .await
        {
            check(
                "register".into(),
                Err(floe_sql::display_error(&err)),
                e.rows,
            );
            continue;
        }
        check(
            "current".into(),
            count(&s, &format!("SELECT * FROM {name}")).await,
            e.rows,
        );
        for (id, rows) in &e.snapshots {
            check(
                format!("@{id}"),
                count(&s, &format!("SELECT * FROM {name} FOR VERSION AS OF {id}")).await,
                *rows,
            );
        }
        // Two fixtures share one table uuid, which a catalog holds once; the files stay.
        s.sql(&format!("DROP TABLE {name}")).await.unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn path_uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

async fn ids(s: &Session, sql: &str) -> Vec<i64> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{DataType, Int64Type};
    let batches = s.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    batches
        .iter()
        .flat_map(|b| {
            let c = datafusion::arrow::compute::cast(b.column(0), &DataType::Int64).unwrap();
            c.as_primitive::<Int64Type>().values().to_vec()
        })
        .collect()
}

async fn text(s: &Session, sql: &str) -> String {
    let batches = s.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string()
}

/// DELETE, UPDATE and INSERT on tables whose snapshots carry other engines' position
/// and equality deletes: rewritten files hold exactly the surviving rows (no deleted row
/// comes back), appends keep the deletes, and time travel still reads each snapshot with
/// its own deletes. `EXPLAIN` shows the delete filter and `EXPLAIN ANALYZE` its counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_tables_with_foreign_deletes_keep_deleted_rows_deleted() {
    let Some((_dir, relocated, s)) = relocated_session().await else {
        return;
    };
    let ice = relocated.join("impala/testdata/data/iceberg_test/hadoop_catalog/ice");
    for (table, metadata, metric) in [
        (
            "iceberg_v2_delete_positional",
            "v2.metadata.json",
            "deleted_positions",
        ),
        (
            "iceberg_v2_delete_equality",
            "v4.metadata.json",
            "equality_delete_keys",
        ),
    ] {
        let location = path_uri(&ice.join(table).join("metadata").join(metadata));
        s.sql(&format!("CALL register_table('{table}', '{location}')"))
            .await
            .unwrap();
        // These tables were written with merge-on-read modes; copy-on-write is checked
        // here (merge-on-read in `merge_on_read_writes_on_foreign_tables`).
        s.sql(&format!(
            "ALTER TABLE {table} SET TBLPROPERTIES ('write.delete.mode' = 'copy-on-write', 'write.update.mode' = 'copy-on-write')"
        ))
        .await
        .unwrap();
        let original = ids(&s, &format!("SELECT id FROM {table} ORDER BY id")).await;
        assert_eq!(original.len(), 2, "{table}");
        assert_eq!(
            ids(&s, &format!("SELECT count(*) FROM {table}")).await,
            vec![2],
            "{table}: count(*) must not come from the manifests' record counts"
        );
        let head = ids(
            &s,
            &format!("SELECT snapshot_id FROM \"{table}$refs\" WHERE name = 'main'"),
        )
        .await[0];
        let plan = text(&s, &format!("EXPLAIN SELECT * FROM {table}")).await;
        assert!(plan.contains("IcebergDeleteFilter"), "{table}: {plan}");
        let analyzed = text(&s, &format!("EXPLAIN ANALYZE SELECT * FROM {table}")).await;
        assert!(analyzed.contains(metric), "{table}: {analyzed}");
        // DELETE without WHERE counts the rows the table shows, not the files' records.
        s.sql("BEGIN").await.unwrap();
        assert_eq!(
            ids(&s, &format!("DELETE FROM {table}")).await,
            vec![2],
            "{table}: rows deleted"
        );
        assert_eq!(
            ids(&s, &format!("SELECT count(*) FROM {table}")).await,
            vec![0]
        );
        s.sql("ROLLBACK").await.unwrap();
        assert_eq!(
            ids(&s, &format!("SELECT count(*) FROM {table}")).await,
            vec![2]
        );

        s.sql(&format!("DELETE FROM {table} WHERE id = {}", original[0]))
            .await
            .unwrap();
        assert_eq!(
            ids(&s, &format!("SELECT id FROM {table} ORDER BY id")).await,
            original[1..].to_vec(),
            "{table}: after DELETE"
        );
        s.sql(&format!("UPDATE {table} SET data = 'updated'"))
            .await
            .unwrap();
        assert_eq!(
            ids(
                &s,
                &format!("SELECT id FROM {table} WHERE data = 'updated' ORDER BY id")
            )
            .await,
            original[1..].to_vec(),
            "{table}: UPDATE must not bring deleted rows back"
        );
        // Every data file the deletes applied to was rewritten: the delete files left
        // with nothing to apply to are gone from the table in the same commits.
        assert_eq!(
            ids(
                &s,
                &format!("SELECT count(*) FROM \"{table}$files\" WHERE content <> 0")
            )
            .await,
            vec![0],
            "{table}: dangling delete files after copy-on-write"
        );
        let plan = text(&s, &format!("EXPLAIN SELECT * FROM {table}")).await;
        assert!(!plan.contains("IcebergDeleteFilter"), "{table}: {plan}");
        s.sql(&format!("INSERT INTO {table} VALUES (1000, 'new')"))
            .await
            .unwrap();
        let mut want = original[1..].to_vec();
        want.push(1000);
        assert_eq!(
            ids(&s, &format!("SELECT id FROM {table} ORDER BY id")).await,
            want,
            "{table}: after INSERT"
        );
        assert_eq!(
            ids(
                &s,
                &format!("SELECT id FROM {table} FOR VERSION AS OF {head} ORDER BY id")
            )
            .await,
            original,
            "{table}: time travel to the adopted snapshot"
        );
    }
    // TRUNCATE through a plain DataFusion context (the provider's own TRUNCATE, not the
    // front end's) also counts the rows the table shows: 6 of the data files' 10.
    let table = "iceberg_v2_positional_not_all_data_files_have_delete_files";
    let location = path_uri(&ice.join(table).join("metadata").join("v7.metadata.json"));
    s.sql(&format!("CALL register_table('{table}', '{location}')"))
        .await
        .unwrap();
    let truncated = s
        .context()
        .sql(&format!("TRUNCATE {table}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = datafusion::arrow::compute::cast(
        truncated[0].column(0),
        &datafusion::arrow::datatypes::DataType::Int64,
    )
    .unwrap();
    let n = n
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, 6, "TRUNCATE through a plain context");
    assert_eq!(
        ids(&s, &format!("SELECT count(*) FROM {table}")).await,
        vec![0]
    );
}

/// The Impala tables declare `write.delete.mode` = merge-on-read (the equality one also
/// `write.update.mode`), which floe honours: with both set, DELETE and UPDATE add one
/// position delete file each on top of the writer's own position or equality deletes,
/// and no deleted row comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_on_read_writes_on_foreign_tables() {
    let Some((_dir, relocated, s)) = relocated_session().await else {
        return;
    };
    let ice = relocated.join("impala/testdata/data/iceberg_test/hadoop_catalog/ice");
    for (table, metadata) in [
        ("iceberg_v2_delete_positional", "v2.metadata.json"),
        ("iceberg_v2_delete_equality", "v4.metadata.json"),
    ] {
        let location = path_uri(&ice.join(table).join("metadata").join(metadata));
        s.sql(&format!("CALL register_table('{table}', '{location}')"))
            .await
            .unwrap();
        s.sql(&format!(
            "ALTER TABLE {table} SET TBLPROPERTIES ('write.update.mode' = 'merge-on-read')"
        ))
        .await
        .unwrap();
        let original = ids(&s, &format!("SELECT id FROM {table} ORDER BY id")).await;
        let position_files = format!("SELECT count(*) FROM \"{table}$files\" WHERE content = 1");
        let before = ids(&s, &position_files).await[0];
        let all = ids(
            &s,
            &format!("SELECT count(*) FROM \"{table}$files\" WHERE content <> 0"),
        )
        .await[0];
        assert!(all > 0, "{table}: the fixture has delete files");
        s.sql(&format!("DELETE FROM {table} WHERE id = {}", original[0]))
            .await
            .unwrap();
        s.sql(&format!(
            "UPDATE {table} SET data = 'updated' WHERE id <> -1"
        ))
        .await
        .unwrap();
        assert_eq!(
            ids(
                &s,
                &format!("SELECT id FROM {table} WHERE data = 'updated' ORDER BY id")
            )
            .await,
            original[1..].to_vec(),
            "{table}: merge-on-read DELETE and UPDATE"
        );
        assert_eq!(
            ids(&s, &format!("SELECT count(*) FROM {table}")).await,
            vec![original.len() as i64 - 1],
            "{table}: rows after merge-on-read DELETE and UPDATE"
        );
        assert_eq!(
            ids(&s, &position_files).await[0],
            before + 2,
            "{table}: one position delete file per statement"
        );
    }
}

/// Writes on a v1 table whose snapshot lists its manifests inline: the new metadata file
/// keeps that snapshot's `manifests` inline (as Iceberg Java writes it; floe's stand-in
/// location never reaches a file), the old snapshot still reads, and so does the new one
/// after the catalog reloads the table from the file floe wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_a_v1_table_with_inline_manifests() {
    let Some((_dir, relocated, s)) = relocated_session().await else {
        return;
    };
    let table =
        relocated.join("duckdb-iceberg/data/persistent/iceberg_v1_deprecated/default/legacy_v1");
    let location = path_uri(&table.join("metadata/v2.metadata.json"));
    s.sql(&format!("CALL register_table('legacy_v1', '{location}')"))
        .await
        .unwrap();
    s.sql("INSERT INTO legacy_v1 VALUES (4, 'gamma', 40)")
        .await
        .unwrap();
    assert_eq!(
        ids(&s, "SELECT id FROM legacy_v1 ORDER BY id").await,
        [1, 2, 3, 4]
    );
    assert_eq!(
        ids(
            &s,
            "SELECT id FROM legacy_v1 FOR VERSION AS OF 2456114553637229296 ORDER BY id"
        )
        .await,
        [1, 2, 3]
    );
    // The file floe wrote is the one the relocated fixture did not have.
    let written = std::fs::read_dir(table.join("metadata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.ends_with(".metadata.json") && !name.starts_with('v')
        })
        .max()
        .expect("the metadata file floe wrote");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&written).unwrap()).unwrap();
    let text_json = json.to_string();
    assert!(!text_json.contains("floe-inline-manifests"), "{text_json}");
    let snapshots = json["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 2);
    let old = snapshots
        .iter()
        .find(|s| s["snapshot-id"] == 2456114553637229296i64)
        .unwrap();
    assert!(old.get("manifest-list").is_none(), "{old}");
    assert_eq!(old["manifests"].as_array().unwrap().len(), 1);
    assert!(snapshots.iter().any(|s| s.get("manifest-list").is_some()));
    // Another catalog adopting the file floe wrote reads both snapshots.
    let other = tempfile::tempdir().unwrap();
    let catalog = RedbCatalog::open(other.path().join("wh")).await.unwrap();
    catalog
        .create_ns(&NamespaceIdent::new("public".into()), HashMap::new())
        .await
        .unwrap();
    let s2 = Session::new(
        Engine::new(catalog, "floe").unwrap(),
        SessionOptions::default(),
    )
    .unwrap();
    s2.sql(&format!(
        "CALL register_table('t', '{}')",
        path_uri(&written)
    ))
    .await
    .unwrap();
    assert_eq!(ids(&s2, "SELECT id FROM t ORDER BY id").await, [1, 2, 3, 4]);
    assert_eq!(
        ids(
            &s2,
            "SELECT count(*) FROM t FOR VERSION AS OF 2456114553637229296"
        )
        .await,
        [3]
    );
}
