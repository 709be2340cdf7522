//! Property: whatever the interleaving of two sessions staging writes to three tables and
//! publishing them (COMMIT, named releases, rollbacks, lost races), a reader never sees
//! part of a release. Every transaction adds one row with the same value to each of
//! `a`, `b` and `c`, so in any consistent view the three tables have equal contents.
//!
//! Two forms: seeded step-by-step interleavings (reproducible: `FLOE_PROP_SEED`), and
//! writers and a reader running concurrently.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

/// (count, sum) of each table, read in ONE statement.
async fn view(reader: &Session) -> [(i64, i64); 3] {
    let b = reader
        .sql(
            "SELECT (SELECT count(*) FROM a) AS ca, (SELECT coalesce(sum(v), 0) FROM a) AS sa, \
                    (SELECT count(*) FROM b) AS cb, (SELECT coalesce(sum(v), 0) FROM b) AS sb, \
                    (SELECT count(*) FROM c) AS cc, (SELECT coalesce(sum(v), 0) FROM c) AS sc",
        )
        .await
        .unwrap();
    let g = |i: usize| b[0].column(i).as_primitive::<Int64Type>().value(0);
    [(g(0), g(1)), (g(2), g(3)), (g(4), g(5))]
}

async fn setup(engine: &Arc<Engine>) {
    let s = session(engine);
    for t in ["a", "b", "c"] {
        s.sql(&format!("CREATE TABLE {t} (v BIGINT)"))
            .await
            .unwrap();
    }
}

/// One writer's progress through its transaction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Idle,
    Wrote(usize), // tables written so far (a, b, c in a per-writer order)
}

struct Writer {
    session: Session,
    stage: Stage,
    value: i64,
    order: [&'static str; 3],
}

async fn interleaving(seed: u64, steps: usize) {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    setup(&engine).await;
    let reader = session(&engine);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut writers = [
        Writer {
            session: session(&engine),
            stage: Stage::Idle,
            value: 0,
            order: ["a", "b", "c"],
        },
        Writer {
            session: session(&engine),
            stage: Stage::Idle,
            value: 0,
            order: ["c", "a", "b"],
        },
    ];
    let mut next_value = 1i64;
    let mut published = 0i64;
    let mut published_sum = 0i64;
    for step in 0..steps {
        let w = &mut writers[rng.random_range(0..2)];
        match w.stage {
            Stage::Idle => {
                w.session.sql("BEGIN").await.unwrap();
                w.value = next_value;
                next_value += 1;
                w.stage = Stage::Wrote(0);
            }
            Stage::Wrote(n) if n < 3 => {
                let t = w.order[n];
                w.session
                    .sql(&format!("INSERT INTO {t} VALUES ({})", w.value))
                    .await
                    .unwrap();
                w.stage = Stage::Wrote(n + 1);
            }
            Stage::Wrote(_) => {
                let how = rng.random_range(0..4);
                let result = match how {
                    0 => w.session.sql("ROLLBACK").await.map(|_| false),
                    1 => w.session.sql("COMMIT").await.map(|_| true),
                    _ => w
                        .session
                        .sql(&format!("CALL release('s{seed}-r{}')", w.value))
                        .await
                        .map(|_| true),
                };
                match result {
                    Ok(true) => {
                        published += 1;
                        published_sum += w.value;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        let msg = floe_sql::display_error(&e);
                        assert!(
                            msg.contains("commit conflict"),
                            "seed {seed} step {step}: {msg}"
                        );
                    }
                }
                assert!(!w.session.in_transaction());
                w.stage = Stage::Idle;
            }
        }
        let v = view(&reader).await;
        assert!(
            v[0] == v[1] && v[1] == v[2],
            "seed {seed} step {step}: partial release visible: {v:?}"
        );
        assert_eq!(v[0], (published, published_sum), "seed {seed} step {step}");
    }
    assert!(published > 0, "seed {seed}: nothing was ever published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_sessions_never_show_a_partial_release() {
    match std::env::var("FLOE_PROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => interleaving(seed, 400).await,
        None => {
            for seed in 1..=3 {
                interleaving(seed, 80).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_reader_never_show_a_partial_release() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    setup(&engine).await;
    let stop = Arc::new(AtomicBool::new(false));
    let value = Arc::new(AtomicU64::new(1));
    let mut writers = Vec::new();
    for w in 0..2 {
        let s = session(&engine);
        let value = value.clone();
        writers.push(tokio::spawn(async move {
            let mut ok = 0;
            for i in 0..10 {
                let v = value.fetch_add(1, Ordering::SeqCst);
                s.sql("BEGIN").await.unwrap();
                for t in ["a", "b", "c"] {
                    s.sql(&format!("INSERT INTO {t} VALUES ({v})"))
                        .await
                        .unwrap();
                }
                let r = if i % 2 == 0 {
                    s.sql("COMMIT").await
                } else {
                    s.sql(&format!("CALL release('w{w}-{i}')")).await
                };
                match r {
                    Ok(_) => ok += 1,
                    Err(e) => assert!(
                        floe_sql::display_error(&e).contains("commit conflict"),
                        "{e}"
                    ),
                }
            }
            ok
        }));
    }
    let reader = {
        let s = session(&engine);
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(Ordering::SeqCst) {
                let v = view(&s).await;
                assert!(
                    v[0] == v[1] && v[1] == v[2],
                    "partial release visible: {v:?}"
                );
                reads += 1;
            }
            reads
        })
    };
    let mut published = 0;
    for w in writers {
        published += w.await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let reads = reader.await.unwrap();
    assert!(reads > 0 && published > 0);
    let v = view(&session(&engine)).await;
    assert_eq!(v[0].0, published as i64);
}
