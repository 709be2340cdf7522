//! Corruption, missing files and hostile input: each case gives a clear error naming
//! the file or the problem, nothing panics, and every other table stays usable.

use std::collections::HashMap;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use floe_catalog::RedbCatalog;
use floe_sql::{Engine, Session, SessionOptions};
use iceberg::{NamespaceIdent, TableIdent};

async fn open(dir: &std::path::Path) -> Result<Session, String> {
    let catalog = RedbCatalog::open(dir).await.map_err(|e| e.to_string())?;
    let public = NamespaceIdent::new("public".into());
    if !catalog.contains_namespace(&public) {
        catalog
            .create_ns(&public, HashMap::new())
            .await
            .map_err(|e| e.to_string())?;
    }
    let engine = Engine::new(catalog, "floe").map_err(|e| e.to_string())?;
    Session::new(
        engine,
        SessionOptions {
            target_partitions: 2,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())
}

async fn count(s: &Session, table: &str) -> Result<i64, String> {
    let b = s
        .sql(&format!("SELECT count(*) FROM (SELECT * FROM {table}) x"))
        .await
        .map_err(|e| floe_sql::display_error(&e))?;
    Ok(b[0].column(0).as_primitive::<Int64Type>().value(0))
}

async fn err(s: &Session, sql: &str) -> String {
    match s.sql(sql).await {
        Ok(_) => panic!("expected an error from {sql}"),
        Err(e) => {
            let msg = floe_sql::display_error(&e);
            assert!(!msg.contains('\n'), "multi-line error: {msg}");
            assert!(!msg.contains("panicked"), "{msg}");
            msg
        }
    }
}

/// A warehouse with tables `good` and `victim`, each with data; returns the victim's
/// current metadata location and one of its data files.
async fn two_tables(dir: &std::path::Path) -> (String, String) {
    let s = open(dir).await.unwrap();
    s.sql("CREATE TABLE good (x BIGINT); INSERT INTO good VALUES (1), (2)")
        .await
        .unwrap();
    s.sql("CREATE TABLE victim (x BIGINT); INSERT INTO victim VALUES (10), (20), (30)")
        .await
        .unwrap();
    let b = s
        .sql(r#"SELECT file_path FROM "victim$files""#)
        .await
        .unwrap();
    let file = b[0].column(0).as_string::<i32>().value(0).to_string();
    let engine = s.engine().clone();
    let location = engine
        .catalog
        .table_record(&TableIdent::from_strs(["public", "victim"]).unwrap())
        .unwrap()
        .location
        .clone();
    (location, file)
}

fn local(p: &str) -> std::path::PathBuf {
    floe_catalog::storage::local_path(p)
}

#[tokio::test]
async fn deleted_metadata_file_names_the_file_and_spares_other_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (location, _) = two_tables(dir.path()).await;
    std::fs::remove_file(local(&location)).unwrap();
    let s = open(dir.path()).await.unwrap();
    let e = err(&s, "SELECT * FROM victim").await;
    assert!(e.contains(&local(&location).display().to_string()), "{e}");
    assert!(e.contains("cannot read metadata file"), "{e}");
    assert_eq!(count(&s, "good").await.unwrap(), 2);
    let problems = s.sql("CALL check()").await.unwrap();
    assert_eq!(problems[0].num_rows(), 1);
}

#[tokio::test]
async fn garbled_metadata_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (location, _) = two_tables(dir.path()).await;
    std::fs::write(local(&location), b"{\"format-version\": 2, garbage").unwrap();
    let s = open(dir.path()).await.unwrap();
    let e = err(&s, "SELECT * FROM victim").await;
    assert!(e.contains(&local(&location).display().to_string()), "{e}");
    assert_eq!(count(&s, "good").await.unwrap(), 2);
}

#[tokio::test]
async fn missing_data_file_names_the_file_and_check_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = two_tables(dir.path()).await;
    std::fs::remove_file(local(&file)).unwrap();
    let s = open(dir.path()).await.unwrap();
    let e = err(&s, "SELECT x FROM victim WHERE x > 0").await;
    let name = std::path::Path::new(&file)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(
        e.contains(&name),
        "error does not name the missing file: {e}"
    );
    assert_eq!(count(&s, "good").await.unwrap(), 2);
    let b = s.sql("CALL check()").await.unwrap();
    let problems: Vec<String> = (0..b[0].num_rows())
        .map(|i| {
            format!(
                "{} {}",
                b[0].column(1).as_string::<i32>().value(i),
                b[0].column(2).as_string::<i32>().value(i)
            )
        })
        .collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("data file is missing") && problems[0].contains(&name),
        "{problems:?}"
    );
}

/// Reads follow the metadata wherever it points (other engines' tables keep data in
/// sibling directories, `write.data.path`, migrated locations); deletions never leave
/// the table and the warehouse.
#[tokio::test]
async fn a_data_file_outside_the_warehouse_is_read_but_never_deleted() {
    use iceberg::spec::{DataContentType, DataFileBuilder, DataFileFormat, Struct};
    let dir = tempfile::tempdir().unwrap();
    two_tables(dir.path()).await;
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.parquet");
    std::fs::write(&secret, b"not yours").unwrap();
    {
        let catalog = RedbCatalog::open(dir.path()).await.unwrap();
        let ident = TableIdent::from_strs(["public", "victim"]).unwrap();
        let table = catalog.table(&ident).await.unwrap();
        let file = DataFileBuilder::default()
            .content(DataContentType::Data)
            .file_path(secret.display().to_string())
            .file_format(DataFileFormat::Parquet)
            .file_size_in_bytes(9)
            .record_count(1)
            .partition(Struct::empty())
            .partition_spec_id(0)
            .build()
            .unwrap();
        let produced = catalog
            .produce_snapshot(
                &table,
                floe_catalog::SnapshotChange {
                    added: vec![file],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        catalog
            .commit_table(&ident, produced.requirements, produced.updates)
            .await
            .unwrap();
    }
    let s = open(dir.path()).await.unwrap();
    // Not Parquet: the read fails naming the file, and returns no rows.
    let e = err(&s, "SELECT * FROM victim").await;
    assert!(e.contains("secret.parquet"), "{e}");
    assert_eq!(count(&s, "good").await.unwrap(), 2);
    // Dropping with PURGE never deletes the outside file.
    s.sql("DROP TABLE victim PURGE").await.unwrap();
    assert!(secret.exists(), "a file outside the warehouse was deleted");
}

#[tokio::test]
async fn truncated_catalog_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    two_tables(dir.path()).await;
    let catalog_file = dir.path().join("catalog.redb");
    let len = std::fs::metadata(&catalog_file).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&catalog_file)
        .unwrap();
    f.set_len(len / 3).unwrap();
    drop(f);
    match RedbCatalog::open(dir.path()).await {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("catalog.redb"), "{msg}");
        }
        Ok(cat) => {
            // redb may recover from its own log; then the tables it kept must work.
            for t in cat
                .tables(&NamespaceIdent::new("public".into()))
                .unwrap_or_default()
            {
                let _ = cat.table(&t).await; // an error is fine, a panic is not
            }
        }
    }
}

#[tokio::test]
async fn bit_flipped_catalog_file_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    two_tables(dir.path()).await;
    let catalog_file = dir.path().join("catalog.redb");
    let original = std::fs::read(&catalog_file).unwrap();
    // Flip bytes at many offsets; every open must be an Ok or a clear error.
    let step = (original.len() / 64).max(1);
    let mut errors = 0;
    for offset in (0..original.len()).step_by(step) {
        let mut bytes = original.clone();
        bytes[offset] ^= 0x5a;
        std::fs::write(&catalog_file, &bytes).unwrap();
        let opened = tokio::spawn({
            let d = dir.path().to_path_buf();
            async move {
                match RedbCatalog::open(&d).await {
                    Err(e) => Err(e.to_string()),
                    Ok(cat) => {
                        for t in cat
                            .tables(&NamespaceIdent::new("public".into()))
                            .unwrap_or_default()
                        {
                            let _ = cat.table(&t).await;
                        }
                        Ok(())
                    }
                }
            }
        })
        .await;
        match opened {
            Err(join) => panic!("opening a catalog with byte {offset} flipped panicked: {join}"),
            Ok(Err(msg)) => {
                errors += 1;
                assert!(!msg.contains('\n'), "{msg}");
            }
            Ok(Ok(())) => {}
        }
    }
    std::fs::write(&catalog_file, &original).unwrap();
    RedbCatalog::open(dir.path()).await.unwrap();
    eprintln!("{errors} of the corrupted copies were refused with a clear error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await.unwrap();
    s.sql("CREATE TABLE ok (x INT); INSERT INTO ok VALUES (1)")
        .await
        .unwrap();
    // Names that could escape the warehouse.
    for name in ["\"a/b\"", "\"..\"", "\".\"", "\"x\\y\""] {
        let e = err(&s, &format!("CREATE TABLE {name} (x INT)")).await;
        assert!(e.contains("invalid table name"), "{name}: {e}");
        let e = err(&s, &format!("CREATE SCHEMA {name}")).await;
        assert!(e.contains("invalid namespace name"), "{name}: {e}");
    }
    let long = "n".repeat(300);
    assert!(
        err(&s, &format!("CREATE TABLE {long} (x INT)"))
            .await
            .contains("at most 255 bytes")
    );
    // Deeply nested expressions: an error, not a stack overflow.
    let nested = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    let e = err(&s, &nested).await;
    assert!(e.to_lowercase().contains("recursion"), "{e}");
    let nots = format!("SELECT {}true", "NOT ".repeat(5000));
    err(&s, &nots).await;
    // Long operator chains parse without recursion but DataFusion would clone and plan
    // them recursively: refused past DuckDB's depth limit, fine below it.
    let chain = format!("SELECT {}", vec!["1"; 100_000].join(" + "));
    assert!(err(&s, &chain).await.contains("expression too deep"));
    let ands = format!(
        "SELECT count(*) FROM ok WHERE {}",
        vec!["x = 1"; 50_000].join(" AND ")
    );
    assert!(err(&s, &ands).await.contains("expression too deep"));
    let fine = format!("SELECT {} AS total", vec!["1"; 100].join(" + "));
    let b = s.sql(&fine).await.unwrap();
    assert_eq!(
        b[0].column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0),
        100
    );
    // A huge literal is accepted and stored.
    let big = "y".repeat(10 << 20);
    s.sql("CREATE TABLE blobs (s VARCHAR)").await.unwrap();
    s.sql(&format!("INSERT INTO blobs VALUES ('{big}')"))
        .await
        .unwrap();
    // A 100 MB value round-trips.
    s.sql("INSERT INTO blobs SELECT repeat('z', 104857600)")
        .await
        .unwrap();
    let b = s.sql("SELECT max(length(s)) FROM blobs").await.unwrap();
    assert_eq!(
        b[0].column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
            .value(0),
        104_857_600
    );
    // Malformed Parquet behind CREATE EXTERNAL TABLE.
    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, b"PAR1 this is not parquet PAR1").unwrap();
    let e = err(
        &s,
        &format!(
            "CREATE EXTERNAL TABLE junk STORED AS PARQUET LOCATION '{}'",
            junk.display()
        ),
    )
    .await;
    assert!(e.to_lowercase().contains("parquet"), "{e}");
    assert_eq!(count(&s, "ok").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_with_ten_thousand_columns_works() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await.unwrap();
    let columns: Vec<String> = (0..10_000).map(|i| format!("c{i} INT")).collect();
    s.sql(&format!("CREATE TABLE wide ({})", columns.join(", ")))
        .await
        .unwrap();
    let values: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    s.sql(&format!("INSERT INTO wide VALUES ({})", values.join(", ")))
        .await
        .unwrap();
    let b = s.sql("SELECT c0, c9999 FROM wide").await.unwrap();
    assert_eq!(
        b[0].column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
            .value(0),
        9999
    );
}

fn files_under(dir: &std::path::Path, out: &mut std::collections::BTreeSet<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.insert(p);
        }
    }
}

/// Power loss: the commit protocol makes every file a pointer names durable before the
/// pointer moves, so what power loss can destroy is exactly the files written since —
/// here, the files of a transaction that had not been published. They are torn
/// (truncated mid-way, emptied) or lost (their rename never reached the disk); the
/// warehouse must reopen at the last published state, scan, `check` clean, and orphan
/// removal must reclaim the debris. (A redb transaction is atomic and durable on its own;
/// redb's crash tests cover a power loss inside it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_loss_tears_only_unpublished_files_and_the_warehouse_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await.unwrap();
    s.sql("CREATE TABLE t (x BIGINT); INSERT INTO t VALUES (1), (2)")
        .await
        .unwrap();
    s.sql("CREATE TABLE u (x BIGINT); INSERT INTO u VALUES (7)")
        .await
        .unwrap();
    let mut published = std::collections::BTreeSet::new();
    files_under(dir.path(), &mut published);
    s.sql("BEGIN").await.unwrap();
    s.sql("INSERT INTO t SELECT value FROM generate_series(3, 5000)")
        .await
        .unwrap();
    s.sql("INSERT INTO u VALUES (8)").await.unwrap();
    s.sql("DELETE FROM t WHERE x = 1").await.unwrap();
    drop(s); // the power goes out before the release
    let mut after = std::collections::BTreeSet::new();
    files_under(dir.path(), &mut after);
    let unpublished: Vec<_> = after
        .difference(&published)
        .filter(|p| !p.ends_with("catalog.redb"))
        .cloned()
        .collect();
    assert!(
        unpublished.len() >= 4,
        "the transaction should have written data and manifest files: {unpublished:?}"
    );
    for (i, f) in unpublished.iter().enumerate() {
        let len = std::fs::metadata(f).unwrap().len();
        match i % 3 {
            0 => std::fs::remove_file(f).unwrap(),
            1 => std::fs::OpenOptions::new()
                .write(true)
                .open(f)
                .unwrap()
                .set_len(len / 2)
                .unwrap(),
            _ => std::fs::OpenOptions::new()
                .write(true)
                .open(f)
                .unwrap()
                .set_len(0)
                .unwrap(),
        }
    }

    let s = open(dir.path()).await.unwrap();
    assert_eq!(count(&s, "t").await.unwrap(), 2);
    assert_eq!(count(&s, "u").await.unwrap(), 1);
    let problems = s.sql("CALL check()").await.unwrap();
    let n: usize = problems.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, 0, "check found problems after recovery: {problems:?}");
    // The debris is unreferenced: orphan removal reclaims every surviving piece of it.
    let survivors = unpublished.iter().filter(|p| p.exists()).count();
    let removed = s
        .sql("CALL remove_orphan_files(older_than => now() + INTERVAL '1' HOUR, dry_run => false)")
        .await
        .unwrap();
    let removed: usize = removed.iter().map(|b| b.num_rows()).sum();
    assert_eq!(
        removed, survivors,
        "orphan removal should reclaim exactly the debris"
    );
    assert!(
        unpublished.iter().all(|p| !p.exists()),
        "orphans left behind"
    );
    // And the warehouse keeps working.
    s.sql("INSERT INTO t VALUES (3)").await.unwrap();
    assert_eq!(count(&s, "t").await.unwrap(), 3);
}

/// Orphan removal looks only inside live tables' `data/` and `metadata/` directories: a
/// user's own files under the warehouse and the files of a table dropped without PURGE
/// stay, so that table can still be adopted whole with `register_table`.
#[tokio::test]
async fn orphan_removal_keeps_user_files_and_dropped_tables() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await.unwrap();
    s.sql("CREATE TABLE kept (x INT)").await.unwrap();
    s.sql("INSERT INTO kept VALUES (1)").await.unwrap();
    s.sql("CREATE TABLE gone (x INT)").await.unwrap();
    s.sql("INSERT INTO gone VALUES (1), (2)").await.unwrap();
    let gone_metadata = {
        let b = s
            .sql("SELECT metadata_location FROM floe.system.commits WHERE \"table\" = 'public.gone' ORDER BY seq DESC LIMIT 1")
            .await
            .unwrap();
        b[0].column(0).as_string::<i32>().value(0).to_string()
    };
    s.sql("DROP TABLE gone").await.unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let plant = |path: std::path::PathBuf| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        path
    };
    let thesis = plant(dir.path().join("docs").join("thesis.txt"));
    let beside = plant(dir.path().join("public").join("kept").join("README"));
    let stray = plant(
        dir.path()
            .join("public")
            .join("kept")
            .join("data")
            .join("stray.parquet"),
    );
    let removed = s
        .sql("CALL remove_orphan_files(older_than => now() + INTERVAL '1' HOUR)")
        .await
        .unwrap();
    let removed: Vec<String> = removed
        .iter()
        .flat_map(|b| {
            let c = b.column(0).as_string::<i32>();
            c.iter().flatten().map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(removed, vec![stray.display().to_string()]);
    assert!(thesis.exists() && beside.exists() && !stray.exists());
    // The dropped table is whole: it can be adopted again and reads.
    s.sql(&format!("CALL register_table('gone', '{gone_metadata}')"))
        .await
        .unwrap();
    assert_eq!(count(&s, "gone").await.unwrap(), 2);
    assert_eq!(count(&s, "kept").await.unwrap(), 1);
}
