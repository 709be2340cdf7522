//! floe-sql behaviour seen through sessions: the live catalog, scan planning, writes,
//! partitioning, failure atomicity and concurrency.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::util::pretty::pretty_format_batches;
use floe_catalog::RedbCatalog;
use floe_sql::{Engine, Session, SessionOptions};
use iceberg::{NamespaceIdent, TableIdent};

struct Warehouse {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
}

async fn warehouse() -> Warehouse {
    let dir = tempfile::tempdir().unwrap();
    let catalog = RedbCatalog::open(dir.path()).await.unwrap();
    catalog
        .create_ns(&NamespaceIdent::new("public".into()), HashMap::new())
        .await
        .unwrap();
    Warehouse {
        _dir: dir,
        engine: Engine::new(catalog, "floe").unwrap(),
    }
}

fn session(w: &Warehouse, partitions: usize) -> Session {
    Session::new(
        w.engine.clone(),
        SessionOptions {
            target_partitions: partitions,
            ..Default::default()
        },
    )
    .unwrap()
}

async fn rows(s: &Session, sql: &str) -> Vec<RecordBatch> {
    s.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn scalar(s: &Session, sql: &str) -> i64 {
    let b = rows(s, sql).await;
    b[0].column(0).as_primitive::<Int64Type>().value(0)
}

async fn err(s: &Session, sql: &str) -> String {
    match s.sql(sql).await {
        Ok(_) => panic!("expected an error from {sql}"),
        Err(e) => floe_sql::display_error(&e),
    }
}

fn ident(name: &str) -> TableIdent {
    TableIdent::from_strs(["public", name]).unwrap()
}

#[tokio::test]
async fn a_table_created_in_one_session_is_visible_in_another_at_once() {
    let w = warehouse().await;
    let (a, b) = (session(&w, 2), session(&w, 2));
    rows(&a, "CREATE TABLE t (x BIGINT)").await;
    rows(&a, "INSERT INTO t VALUES (1), (2)").await;
    assert_eq!(scalar(&b, "SELECT count(*) FROM t").await, 2);
    rows(&b, "INSERT INTO t VALUES (3)").await;
    assert_eq!(scalar(&a, "SELECT sum(x) FROM t").await, 6);
    // A table created through the Rust catalog API is visible too.
    let schema = iceberg::spec::Schema::builder()
        .with_fields(vec![
            iceberg::spec::NestedField::optional(
                1,
                "y",
                iceberg::spec::Type::Primitive(iceberg::spec::PrimitiveType::Long),
            )
            .into(),
        ])
        .build()
        .unwrap();
    w.engine
        .catalog
        .create(
            &NamespaceIdent::new("public".into()),
            iceberg::TableCreation::builder()
                .name("from_api".into())
                .schema(schema)
                .build(),
        )
        .await
        .unwrap();
    assert_eq!(scalar(&a, "SELECT count(*) FROM from_api").await, 0);
    rows(&b, "DROP TABLE t").await;
    assert!(err(&a, "SELECT * FROM t").await.contains("not found"));
}

#[tokio::test]
async fn explain_shows_the_filter_in_the_parquet_scan_and_several_partitions() {
    let w = warehouse().await;
    let s = session(&w, 4);
    rows(&s, "CREATE TABLE t (x BIGINT, y VARCHAR)").await;
    for i in 0..4 {
        rows(
            &s,
            &format!(
                "INSERT INTO t SELECT value + {}, 'v' FROM generate_series(1, 1000)",
                i * 1000
            ),
        )
        .await;
    }
    let plan = pretty_format_batches(&rows(&s, "EXPLAIN SELECT y FROM t WHERE x > 2500").await)
        .unwrap()
        .to_string();
    assert!(plan.contains("DataSourceExec"), "{plan}");
    assert!(
        plan.contains("predicate=x@0 > 2500"),
        "filter not pushed into the scan:\n{plan}"
    );
    // Files whose bounds cannot match were pruned at planning: 2 of 4 remain.
    assert!(plan.contains("file_groups={2 groups"), "{plan}");
    assert_eq!(
        scalar(&s, "SELECT count(*) FROM t WHERE x > 2500").await,
        1500
    );
    let all = pretty_format_batches(&rows(&s, "EXPLAIN SELECT * FROM t").await)
        .unwrap()
        .to_string();
    assert!(all.contains("file_groups={4 groups"), "{all}");
}

#[tokio::test]
async fn count_star_is_answered_from_manifest_statistics() {
    let w = warehouse().await;
    let s = session(&w, 2);
    rows(&s, "CREATE TABLE t (x BIGINT)").await;
    rows(
        &s,
        "INSERT INTO t SELECT value FROM generate_series(1, 100)",
    )
    .await;
    let plan = pretty_format_batches(&rows(&s, "EXPLAIN SELECT count(*) FROM t").await)
        .unwrap()
        .to_string();
    assert!(
        !plan.contains("DataSourceExec"),
        "count(*) should not scan:\n{plan}"
    );
    assert_eq!(scalar(&s, "SELECT count(*) FROM t").await, 100);
}

#[tokio::test]
async fn partitioned_inserts_write_one_file_set_per_partition() {
    let w = warehouse().await;
    let s = session(&w, 1);
    rows(&s, "CREATE TABLE p (k VARCHAR, v INT) PARTITIONED BY (k)").await;
    rows(
        &s,
        "INSERT INTO p VALUES ('a', 1), ('b', 2), ('a', 3), ('c', 4)",
    )
    .await;
    let table = w.engine.catalog.table(&ident("p")).await.unwrap();
    let md = table.metadata();
    let (files, _) = w
        .engine
        .catalog
        .live_files(md, md.current_snapshot().unwrap())
        .await
        .unwrap();
    assert_eq!(files.len(), 3);
    let mut partitions: Vec<String> = files
        .iter()
        .map(|f| format!("{:?}", f.file.partition()))
        .collect();
    partitions.sort();
    partitions.dedup();
    assert_eq!(partitions.len(), 3, "{partitions:?}");
    assert!(
        files
            .iter()
            .all(|f| f.file.file_path().contains("/data/k=")),
        "{:?}",
        files[0].file.file_path()
    );
    assert_eq!(scalar(&s, "SELECT sum(v) FROM p WHERE k = 'a'").await, 4);
}

#[tokio::test]
async fn a_failed_insert_leaves_the_table_unchanged() {
    let w = warehouse().await;
    let s = session(&w, 2);
    rows(&s, "CREATE TABLE t (id BIGINT NOT NULL, v INT)").await;
    rows(&s, "INSERT INTO t VALUES (1, 1)").await;
    let before = w.engine.catalog.table_record(&ident("t")).unwrap();
    let e = err(&s, "INSERT INTO t SELECT CASE WHEN value = 500 THEN NULL ELSE value END, 1 FROM generate_series(1, 1000)").await;
    assert!(
        e.contains("NULL value in column 'id' of table 'public.t'"),
        "{e}"
    );
    assert_eq!(w.engine.catalog.table_record(&ident("t")).unwrap(), before);
    assert_eq!(scalar(&s, "SELECT count(*) FROM t").await, 1);
    // The files written before the failure were removed.
    let data_dir = floe_catalog::storage::local_path(&format!(
        "{}/data",
        w.engine
            .catalog
            .table(&ident("t"))
            .await
            .unwrap()
            .metadata()
            .location()
    ));
    let n = std::fs::read_dir(&data_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(n, 1, "only the first insert's file remains");
}

#[tokio::test]
async fn concurrent_inserts_from_two_sessions_all_land() {
    let w = warehouse().await;
    let setup = session(&w, 1);
    rows(&setup, "CREATE TABLE t (x BIGINT)").await;
    let mut handles = Vec::new();
    for worker in 0..2 {
        let s = session(&w, 1);
        handles.push(tokio::spawn(async move {
            for i in 0..10 {
                s.sql(&format!("INSERT INTO t VALUES ({})", worker * 100 + i))
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(scalar(&setup, "SELECT count(*) FROM t").await, 20);
    let table = w.engine.catalog.table(&ident("t")).await.unwrap();
    assert_eq!(
        table.metadata().snapshots().len(),
        20,
        "one snapshot per INSERT"
    );
}

#[tokio::test]
async fn delete_and_update_rewrite_only_affected_files() {
    let w = warehouse().await;
    let s = session(&w, 1);
    rows(&s, "CREATE TABLE t (k INT, v INT)").await;
    for k in 0..3 {
        rows(&s, &format!("INSERT INTO t VALUES ({k}, 1), ({k}, 2)")).await;
    }
    let files = |w: &Warehouse| {
        let engine = w.engine.clone();
        async move {
            let t = engine.catalog.table(&ident("t")).await.unwrap();
            let md = t.metadata();
            let (f, _) = engine
                .catalog
                .live_files(md, md.current_snapshot().unwrap())
                .await
                .unwrap();
            let mut paths: Vec<String> = f
                .into_iter()
                .map(|f| f.file.file_path().to_string())
                .collect();
            paths.sort();
            paths
        }
    };
    let before = files(&w).await;
    let deleted = rows(&s, "DELETE FROM t WHERE k = 1 AND v = 2").await;
    assert_eq!(
        deleted[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
            .value(0),
        1
    );
    let after = files(&w).await;
    assert_eq!(after.len(), 3);
    let kept: Vec<_> = before.iter().filter(|p| after.contains(p)).collect();
    assert_eq!(kept.len(), 2, "files of k=0 and k=2 are untouched");
    rows(&s, "UPDATE t SET v = v * 10 WHERE k = 2").await;
    assert_eq!(
        scalar(&s, "SELECT sum(v) FROM t").await,
        1 + 2 + 1 + 10 + 20
    );
    // A predicate DataFusion could fold away deletes nothing.
    rows(&s, "DELETE FROM t WHERE 1 = 2").await;
    assert_eq!(scalar(&s, "SELECT count(*) FROM t").await, 5);
    // Subqueries in WHERE work.
    rows(&s, "CREATE TABLE gone (k INT)").await;
    rows(&s, "INSERT INTO gone VALUES (0)").await;
    rows(&s, "DELETE FROM t WHERE k IN (SELECT k FROM gone)").await;
    assert_eq!(scalar(&s, "SELECT count(*) FROM t").await, 3);
}

#[tokio::test]
async fn a_read_only_warehouse_refuses_writes_and_serves_reads() {
    let dir = tempfile::tempdir().unwrap();
    {
        let catalog = RedbCatalog::open(dir.path()).await.unwrap();
        catalog
            .create_ns(&NamespaceIdent::new("public".into()), HashMap::new())
            .await
            .unwrap();
        let engine = Engine::new(catalog, "floe").unwrap();
        let s = Session::new(engine, SessionOptions::default()).unwrap();
        rows(&s, "CREATE TABLE t (x INT)").await;
        rows(&s, "INSERT INTO t VALUES (1)").await;
    }
    let catalog = RedbCatalog::builder()
        .warehouse(dir.path().display().to_string())
        .read_only(true)
        .open("floe")
        .await
        .unwrap();
    let engine = Engine::new(catalog, "floe").unwrap();
    let s = Session::new(engine, SessionOptions::default()).unwrap();
    assert_eq!(scalar(&s, "SELECT count(*) FROM t").await, 1);
    for sql in [
        "INSERT INTO t VALUES (2)",
        "CREATE TABLE u (x INT)",
        "DELETE FROM t",
        "DROP TABLE t",
    ] {
        let e = err(&s, sql).await;
        assert!(e.contains("read-only"), "{sql}: {e}");
    }
}

/// A snapshot whose position-delete file is missing fails every read and write with an
/// error naming the file, instead of returning the rows it deletes.
#[tokio::test]
async fn a_missing_delete_file_fails_reads_and_writes_with_its_name() {
    use iceberg::spec::{
        DataContentType, DataFileBuilder, DataFileFormat, MAIN_BRANCH, ManifestListWriter,
        ManifestWriterBuilder, Operation, Snapshot, SnapshotReference, SnapshotRetention, Struct,
        Summary,
    };
    use iceberg::{TableRequirement, TableUpdate};
    let w = warehouse().await;
    let s = session(&w, 1);
    rows(&s, "CREATE TABLE t (x BIGINT)").await;
    rows(&s, "INSERT INTO t VALUES (1), (2)").await;
    rows(&s, "CREATE TABLE other (x BIGINT)").await;
    rows(&s, "INSERT INTO other VALUES (7)").await;
    let catalog = &w.engine.catalog;
    let table = catalog.table(&ident("t")).await.unwrap();
    let md = table.metadata();
    let parent = md.current_snapshot().unwrap().clone();
    let list = catalog.manifest_list(md, &parent).await.unwrap();
    let snapshot_id = 4242;
    let seq = md.next_sequence_number();
    let io = table.file_io();
    let delete_file = DataFileBuilder::default()
        .content(DataContentType::PositionDeletes)
        .file_path(format!("{}/data/deletes.parquet", md.location()))
        .file_format(DataFileFormat::Parquet)
        .file_size_in_bytes(100)
        .record_count(1)
        .partition(Struct::empty())
        .partition_spec_id(0)
        .build()
        .unwrap();
    let mut mw = ManifestWriterBuilder::new(
        io.new_output(format!("{}/metadata/deletes-m0.avro", md.location()))
            .unwrap(),
        Some(snapshot_id),
        md.current_schema().clone(),
        (**md.default_partition_spec()).clone(),
    )
    .build_v2_deletes();
    mw.add_file(delete_file, seq).unwrap();
    let delete_manifest = mw.write_manifest_file().await.unwrap();
    let list_path = format!("{}/metadata/snap-{snapshot_id}-deletes.avro", md.location());
    let mut lw = ManifestListWriter::v2(
        io.new_output(&list_path).unwrap().writer().await.unwrap(),
        snapshot_id,
        Some(parent.snapshot_id()),
        seq,
    );
    lw.add_manifests(
        list.entries()
            .iter()
            .cloned()
            .chain(std::iter::once(delete_manifest)),
    )
    .unwrap();
    lw.close().await.unwrap();
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(Some(parent.snapshot_id()))
        .with_sequence_number(seq)
        .with_timestamp_ms(parent.timestamp_ms() + 1)
        .with_manifest_list(list_path)
        .with_schema_id(md.current_schema_id())
        .with_summary(Summary {
            operation: Operation::Delete,
            additional_properties: HashMap::new(),
        })
        .build();
    catalog
        .commit_table(
            &ident("t"),
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
        .await
        .unwrap();
    for sql in [
        "SELECT * FROM t",
        "SELECT count(*) FROM t",
        "DELETE FROM t WHERE x = 1",
    ] {
        let e = err(&s, sql).await;
        assert!(e.contains("deletes.parquet"), "{sql}: {e}");
    }
    // `CALL check()` verifies delete files as it does data files.
    let b = rows(&s, "CALL check()").await;
    let problems: Vec<String> = b
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(move |i| {
                format!(
                    "{} {}",
                    b.column(1).as_string::<i32>().value(i),
                    b.column(2).as_string::<i32>().value(i)
                )
            })
        })
        .collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("deletes.parquet") && problems[0].contains("delete file is missing"),
        "{problems:?}"
    );
    // The version before the deletes still reads, and so do other tables.
    let n = scalar(
        &s,
        &format!(
            "SELECT count(*) FROM t FOR VERSION AS OF {}",
            parent.snapshot_id()
        ),
    )
    .await;
    assert_eq!(n, 2);
    assert_eq!(scalar(&s, "SELECT count(*) FROM other").await, 1);
}

/// SHOW CREATE TABLE prints a statement that makes the same table again: columns with
/// their types and nullability, partitioning and properties.
#[tokio::test]
async fn show_create_table_round_trips() {
    let w = warehouse().await;
    let s = session(&w, 1);
    rows(
        &s,
        "CREATE TABLE sc (id BIGINT NOT NULL, \"order date\" DATE, s STRUCT<a INT, b VARCHAR>, \
         l INT[], m MAP(VARCHAR, INT), d DECIMAL(10,2), u UUID, f BINARY(4)) \
         PARTITIONED BY (day(\"order date\"), bucket(4, id), truncate(3, d)) \
         TBLPROPERTIES ('write.parquet.compression-codec' = 'snappy')",
    )
    .await;
    let definition = |b: &[RecordBatch]| b[0].column(3).as_string::<i32>().value(0).to_string();
    let first = definition(&rows(&s, "SHOW CREATE TABLE sc").await);
    assert!(first.starts_with("CREATE TABLE public.sc ("), "{first}");
    let before = w.engine.catalog.table(&ident("sc")).await.unwrap();
    rows(&s, "DROP TABLE sc").await;
    rows(&s, &first).await;
    let after = w.engine.catalog.table(&ident("sc")).await.unwrap();
    assert_eq!(
        before.metadata().current_schema().as_struct(),
        after.metadata().current_schema().as_struct()
    );
    assert_eq!(
        before.metadata().default_partition_spec().fields(),
        after.metadata().default_partition_spec().fields()
    );
    assert_eq!(
        before
            .metadata()
            .properties()
            .get("write.parquet.compression-codec"),
        after
            .metadata()
            .properties()
            .get("write.parquet.compression-codec")
    );
    assert_eq!(definition(&rows(&s, "SHOW CREATE TABLE sc").await), first);
}
