//! Concurrency in one process, through the SQL layer a user drives:
//!
//! * 8 writers × 200 INSERT commits on ONE table: every acknowledged row is present
//!   exactly once (no lost update, no duplicate from a retried commit);
//! * 4 writers publishing releases over overlapping 3-table sets while a reader keeps
//!   reading all tables in one statement: the reader never sees part of a release, and
//!   every acknowledged release is whole at the end.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use floe_catalog::RedbCatalog;
use floe_sql::{Engine, Session, SessionOptions};
use iceberg::NamespaceIdent;

async fn engine(dir: &std::path::Path) -> Arc<Engine> {
    let catalog = RedbCatalog::open(dir).await.unwrap();
    catalog
        .create_ns(&NamespaceIdent::new("public".into()), HashMap::new())
        .await
        .unwrap();
    Engine::new(catalog, "floe").unwrap()
}

fn session(engine: &Arc<Engine>) -> Session {
    Session::new(
        engine.clone(),
        SessionOptions {
            target_partitions: 1,
            ..Default::default()
        },
    )
    .unwrap()
}

fn is_conflict(e: &datafusion::error::DataFusionError) -> bool {
    floe_sql::display_error(e).contains("commit conflict")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_two_hundred_commits_each_lose_nothing() {
    const WRITERS: i64 = 8;
    const COMMITS: i64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    session(&engine)
        .sql("CREATE TABLE t (w BIGINT, i BIGINT)")
        .await
        .unwrap();
    let gave_up = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let s = session(&engine);
        let gave_up = gave_up.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..COMMITS {
                // The engine retries a lost append race itself; a statement that still
                // reports a conflict changed nothing, so the client may run it again.
                loop {
                    match s.sql(&format!("INSERT INTO t VALUES ({w}, {i})")).await {
                        Ok(_) => break,
                        Err(e) if is_conflict(&e) => {
                            gave_up.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("writer {w} commit {i}: {}", floe_sql::display_error(&e)),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let batches = session(&engine)
        .sql("SELECT w, i, count(*) AS n FROM t GROUP BY w, i")
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    for b in &batches {
        let (w, i, n) = (
            b.column(0).as_primitive::<Int64Type>(),
            b.column(1).as_primitive::<Int64Type>(),
            b.column(2).as_primitive::<Int64Type>(),
        );
        for r in 0..b.num_rows() {
            assert_eq!(
                n.value(r),
                1,
                "row ({}, {}) was committed {} times",
                w.value(r),
                i.value(r),
                n.value(r)
            );
            seen.insert((w.value(r), i.value(r)));
        }
    }
    let missing: Vec<_> = (0..WRITERS)
        .flat_map(|w| (0..COMMITS).map(move |i| (w, i)))
        .filter(|k| !seen.contains(k))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "acknowledged rows lost: {missing:?}");
    assert_eq!(seen.len() as i64, WRITERS * COMMITS);
    // One snapshot per acknowledged INSERT: nothing was committed twice or skipped.
    let snaps = session(&engine)
        .sql("SELECT count(*) FROM \"t$snapshots\"")
        .await
        .unwrap();
    assert_eq!(
        snaps[0].column(0).as_primitive::<Int64Type>().value(0),
        WRITERS * COMMITS
    );
    eprintln!(
        "{} commits by {WRITERS} writers; {} statements exhausted the engine's retries and were re-run",
        WRITERS * COMMITS,
        gave_up.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_writers_releasing_overlapping_sets_never_show_a_partial_release() {
    const TABLES: usize = 5;
    const RELEASES_EACH: usize = 15;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let setup = session(&engine);
    for t in 0..TABLES {
        setup
            .sql(&format!("CREATE TABLE t{t} (m VARCHAR)"))
            .await
            .unwrap();
    }
    // Writer w publishes into {t(w), t(w+1), t(w+2)} (mod 5): every pair of writers shares
    // at least one table.
    let stop = Arc::new(AtomicBool::new(false));
    let conflicts = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..4usize {
        let s = session(&engine);
        let conflicts = conflicts.clone();
        writers.push(tokio::spawn(async move {
            let tables: Vec<String> = (0..3).map(|k| format!("t{}", (w + k) % TABLES)).collect();
            let mut published = Vec::new();
            for n in 0..RELEASES_EACH {
                let name = format!("w{w}_r{n}");
                loop {
                    s.sql("BEGIN").await.unwrap();
                    for t in &tables {
                        s.sql(&format!("INSERT INTO {t} VALUES ('{name}')"))
                            .await
                            .unwrap();
                    }
                    match s.sql(&format!("CALL release('{name}')")).await {
                        Ok(_) => break,
                        Err(e) => {
                            assert!(is_conflict(&e), "{}", floe_sql::display_error(&e));
                            assert!(!s.in_transaction(), "a failed release ends the transaction");
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                published.push(name);
            }
            published
        }));
    }
    let reader = {
        let s = session(&engine);
        let stop = stop.clone();
        tokio::spawn(async move {
            let union = (0..TABLES)
                .map(|t| format!("SELECT m FROM t{t}"))
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            let query = format!(
                "SELECT m, count(*) AS n FROM ({union}) AS u GROUP BY m HAVING count(*) <> 3"
            );
            let mut reads = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let batches = s.sql(&query).await.unwrap();
                let partial: usize = batches.iter().map(|b| b.num_rows()).sum();
                if partial > 0 {
                    let b = &batches[0];
                    panic!(
                        "a reader saw part of release {:?} ({} of 3 tables)",
                        b.column(0).as_string::<i32>().value(0),
                        b.column(1).as_primitive::<Int64Type>().value(0)
                    );
                }
                reads += 1;
            }
            reads
        })
    };
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.await.unwrap();
    assert!(reads > 0);

    // Every acknowledged release is whole and recorded.
    let s = session(&engine);
    for t in 0..TABLES {
        let b = s.sql(&format!("SELECT count(*) FROM t{t}")).await.unwrap();
        let n = b[0].column(0).as_primitive::<Int64Type>().value(0) as usize;
        let writers_of_t = (0..4usize)
            .filter(|w| (0..3).any(|k| (w + k) % TABLES == t))
            .count();
        assert_eq!(n, writers_of_t * RELEASES_EACH, "table t{t}");
    }
    let b = s
        .sql("SELECT name FROM floe.system.releases")
        .await
        .unwrap();
    let recorded: BTreeSet<String> = b
        .iter()
        .flat_map(|b| {
            let c = b.column(0).as_string::<i32>();
            (0..b.num_rows())
                .map(|i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let acknowledged: BTreeSet<String> = acknowledged.into_iter().collect();
    assert_eq!(recorded, acknowledged);
    eprintln!(
        "{} releases published, {} lost races retried, {reads} consistent reads",
        acknowledged.len(),
        conflicts.load(Ordering::Relaxed)
    );
}

/// Rows of `t` (one statement).
async fn count_rows(s: &Session, table: &str) -> i64 {
    let b = s
        .sql(&format!("SELECT count(*) FROM {table}"))
        .await
        .unwrap();
    b[0].column(0).as_primitive::<Int64Type>().value(0)
}

/// Rows an INSERT reported, or the error it failed with.
async fn run_output(out: floe_sql::StatementOutput) -> Result<i64, String> {
    match out.collect().await {
        Ok(b) => Ok(b[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
            .value(0) as i64),
        Err(e) => Err(floe_sql::display_error(&e)),
    }
}

/// `Session::execute` hands back a lazy stream, so one session's statements can run at
/// the same time (an embedder polling two INSERTs together). Inside a transaction they
/// stage into the same table: each either lands whole or fails saying so — an
/// acknowledged INSERT is never silently replaced by the other one's staged version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_concurrent_statements_in_a_transaction_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let s = session(&engine);
    s.sql("CREATE TABLE t (v BIGINT)").await.unwrap();
    let mut acknowledged = 0;
    let mut refused = 0;
    for round in 0..40 {
        s.sql("BEGIN").await.unwrap();
        // A first statement so both concurrent ones restage (the racy path), except in
        // even rounds, where both stage the table's first change.
        if round % 2 == 1 {
            s.sql("INSERT INTO t VALUES (0)").await.unwrap();
            acknowledged += 1;
        }
        let a = s
            .execute("INSERT INTO t SELECT * FROM generate_series(1, 5)")
            .await
            .unwrap();
        let b = s
            .execute("INSERT INTO t SELECT * FROM generate_series(1, 5)")
            .await
            .unwrap();
        // On two worker threads, so the two really overlap.
        let (ra, rb) = tokio::join!(tokio::spawn(run_output(a)), tokio::spawn(run_output(b)));
        for r in [ra.unwrap(), rb.unwrap()] {
            match r {
                Ok(n) => acknowledged += n,
                Err(e) => {
                    // Either the other statement's staged version no longer matches
                    // what this one was built on (a conflict), or it was swapped in
                    // while this one staged; both change nothing.
                    assert!(
                        e.contains("at the same time") || e.contains("commit conflict"),
                        "unexpected error: {e}"
                    );
                    refused += 1;
                }
            }
        }
        s.sql("COMMIT").await.unwrap();
        assert_eq!(
            count_rows(&s, "t").await,
            acknowledged,
            "round {round}: every acknowledged row is published, no refused one is"
        );
    }
    eprintln!("{refused} of 80 concurrent statements were refused");
}

/// A statement that started inside a transaction never lands outside it: run after the
/// transaction was committed (or rolled back), it fails and changes nothing.
#[tokio::test]
async fn statement_outliving_its_transaction_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let s = session(&engine);
    s.sql("CREATE TABLE t (v BIGINT)").await.unwrap();
    for end in ["COMMIT", "ROLLBACK"] {
        s.sql("BEGIN").await.unwrap();
        s.sql("INSERT INTO t VALUES (1)").await.unwrap();
        let late = s.execute("INSERT INTO t VALUES (2), (3)").await.unwrap();
        s.sql(end).await.unwrap();
        let err = run_output(late).await.unwrap_err();
        assert!(err.contains("transaction ended"), "{end}: {err}");
        // And the other way round: started outside, run after a BEGIN.
        let late = s.execute("INSERT INTO t VALUES (4)").await.unwrap();
        s.sql("BEGIN").await.unwrap();
        let err = run_output(late).await.unwrap_err();
        assert!(err.contains("a transaction began"), "{end}: {err}");
        s.sql("ROLLBACK").await.unwrap();
    }
    // One row from the committed transaction; none of the late statements.
    assert_eq!(count_rows(&s, "t").await, 1);
    let b = s.sql("SELECT v FROM t").await.unwrap();
    assert_eq!(b[0].column(0).as_primitive::<Int64Type>().value(0), 1);
}

/// Another session's `remove_orphan_files`, even with an `older_than` in the future,
/// leaves an open transaction's staged files (data, manifests, metadata) alone: they are
/// named by no metadata yet, but the transaction will publish them.
#[tokio::test]
async fn orphan_removal_spares_an_open_transactions_files() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let writer = session(&engine);
    let cleaner = session(&engine);
    writer.sql("CREATE TABLE t (v BIGINT)").await.unwrap();
    writer.sql("INSERT INTO t VALUES (1)").await.unwrap();
    writer.sql("BEGIN").await.unwrap();
    writer.sql("INSERT INTO t VALUES (2)").await.unwrap();
    writer.sql("DELETE FROM t WHERE v = 1").await.unwrap();
    // A real orphan, older than the transaction, is still collected.
    let orphan = dir
        .path()
        .join("public")
        .join("t")
        .join("data")
        .join("stray.parquet");
    std::fs::write(&orphan, b"not referenced").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let removed = cleaner
        .sql("CALL remove_orphan_files(older_than => TIMESTAMP '2200-01-01 00:00:00')")
        .await
        .unwrap();
    let removed: Vec<String> = removed
        .iter()
        .flat_map(|b| {
            let col = b.column(0).as_string::<i32>();
            col.iter().flatten().map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(removed.len(), 1, "only the stray file: {removed:?}");
    assert!(removed[0].ends_with("stray.parquet"), "{removed:?}");
    assert!(!orphan.exists());
    writer.sql("COMMIT").await.unwrap();
    // The published version reads, from a fresh open too, and checks clean.
    let b = cleaner.sql("SELECT v FROM t").await.unwrap();
    assert_eq!(b[0].column(0).as_primitive::<Int64Type>().value(0), 2);
    drop((writer, cleaner));
    drop(engine);
    let engine =
        floe_sql::Engine::new(RedbCatalog::open(dir.path()).await.unwrap(), "floe").unwrap();
    let s = session(&engine);
    assert_eq!(count_rows(&s, "t").await, 1);
    let problems = engine.catalog.check().await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}
