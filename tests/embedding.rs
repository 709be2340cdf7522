//! floe inside an application's own DataFusion context: `Session::from_context`,
//! `floe_table(name, version)` through plain `ctx.sql()`, several warehouses in one
//! context, and what plain contexts refuse. Also runs `examples/embed.rs`.

#[path = "support/batches.rs"]
mod batches;
#[path = "../examples/embed.rs"]
mod embed;

use batches::ints;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use floe::{Floe, Session};

async fn plain(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, String> {
    match ctx.sql(sql).await {
        Ok(df) => df.collect().await.map_err(|e| floe::display_error(&e)),
        Err(e) => Err(floe::display_error(&e)),
    }
}

fn text(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

fn rows(batches: &[RecordBatch]) -> Vec<String> {
    text(batches)
        .lines()
        .filter(|l| l.starts_with("| "))
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedding_example_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = embed::run(dir.path()).await.unwrap();
    // The rows printed under the title starting with `title`.
    let find = |title: &str| {
        out.lines()
            .skip_while(|l| !l.starts_with(title))
            .skip(1)
            .take_while(|l| l.starts_with('|') || l.starts_with('+'))
            .filter(|l| l.starts_with("| ") && !l.contains(" id "))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        find("orders at release v1"),
        ["| 1 | 3 | 1.8 |", "| 2 | 5 | 4.5 |"]
    );
    assert_eq!(find("orders now"), ["| 1 | 30 |", "| 2 | 50 |"]);
    assert_eq!(find("orders at v1"), ["| 1 | 3 |", "| 2 | 5 |"]);
    assert_eq!(
        find("two warehouses"),
        ["| 1 | apple | 2 |", "| 2 | pear | 1 |"]
    );
}

/// The application's context with one floe warehouse as `lake`, a table with three
/// versions (release `r1`, then a new column, then more rows) and the ids of its
/// snapshots.
async fn lake(dir: &std::path::Path) -> (SessionContext, Floe, Session, Vec<i64>) {
    let ctx = embed::application_context().unwrap();
    let floe = Floe::open(dir).await.unwrap();
    floe.register(&ctx, "lake").unwrap();
    let session = Session::from_context(ctx.clone(), &floe, "lake").unwrap();
    session
        .sql(
            "CREATE TABLE lake.public.fruit (item VARCHAR, kg BIGINT);
             BEGIN;
             INSERT INTO lake.public.fruit VALUES ('apple', 1), ('pear', 2);
             CALL release('r1');
             ALTER TABLE lake.public.fruit ADD COLUMN origin VARCHAR;
             INSERT INTO lake.public.fruit VALUES ('fig', 3, 'TR');",
        )
        .await
        .unwrap();
    let snapshots = plain(
        &ctx,
        r#"SELECT snapshot_id FROM lake.public."fruit$snapshots" ORDER BY committed_at"#,
    )
    .await
    .unwrap();
    (ctx, floe, session, ints(&snapshots))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_over_the_applications_context_keeps_its_functions_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _floe, session, _) = lake(dir.path()).await;
    // The application's UDF and table, next to floe's time travel, in one statement.
    let joined = session
        .sql(
            "SELECT f.item, f.kg, with_tax(p.price) > p.price AS taxed
             FROM lake.public.fruit FOR VERSION AS OF 'r1' AS f
             JOIN prices p ON p.item = f.item ORDER BY f.item",
        )
        .await
        .unwrap();
    assert_eq!(
        rows(&joined),
        ["| apple | 1 | true |", "| pear | 2 | true |"]
    );
    // The application's own default catalog stays the default.
    let default = plain(&ctx, "SELECT count(*) FROM prices").await.unwrap();
    assert_eq!(ints(&default), [2]);
    // A transaction's staged rows are the session's until COMMIT.
    session
        .sql("BEGIN; INSERT INTO lake.public.fruit VALUES ('kiwi', 4, 'NZ')")
        .await
        .unwrap();
    let staged = session
        .sql("SELECT count(*) FROM lake.public.fruit")
        .await
        .unwrap();
    assert_eq!(ints(&staged), [4]);
    session.sql("ROLLBACK").await.unwrap();
    let count = session
        .sql("SELECT count(*) FROM lake.public.fruit")
        .await
        .unwrap();
    assert_eq!(ints(&count), [3]);
    // floe's metadata tables and procedures work on the named catalog.
    let releases = session
        .sql("SELECT name FROM lake.system.releases")
        .await
        .unwrap();
    assert_eq!(rows(&releases), ["| r1 |"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floe_table_reads_versions_through_a_plain_context() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _floe, session, snapshots) = lake(dir.path()).await;
    assert_eq!(snapshots.len(), 2, "{snapshots:?}");
    // By release name, with the schema the table had then.
    let r1 = plain(
        &ctx,
        "SELECT * FROM floe_table('lake.public.fruit', 'r1') ORDER BY item",
    )
    .await
    .unwrap();
    assert_eq!(rows(&r1), ["| apple | 1 |", "| pear | 2 |"]);
    // By snapshot id.
    let by_id = plain(
        &ctx,
        &format!(
            "SELECT * FROM floe_table('lake.public.fruit', {}) ORDER BY item",
            snapshots[1]
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&by_id),
        ["| apple | 1 | |", "| fig | 3 | TR |", "| pear | 2 | |"]
    );
    // By timestamp: the first snapshot's commit time.
    let at = plain(
        &ctx,
        &format!(
            "SELECT CAST(committed_at AS VARCHAR) FROM lake.public.\"fruit$snapshots\" WHERE snapshot_id = {}",
            snapshots[0]
        ),
    )
    .await
    .unwrap();
    let at = datafusion::arrow::compute::cast(at[0].column(0), &DataType::Utf8).unwrap();
    let at = at.as_string::<i32>().value(0).to_string();
    let by_time = plain(
        &ctx,
        &format!("SELECT count(*) FROM floe_table('lake.public.fruit', TIMESTAMP '{at}')"),
    )
    .await
    .unwrap();
    assert_eq!(ints(&by_time), [2]);
    // Joined with the application's table; and a metadata table at a version.
    let joined = plain(
        &ctx,
        "SELECT f.item, p.price FROM floe_table('lake.public.fruit', 'r1') f JOIN prices p USING (item) ORDER BY 1",
    )
    .await
    .unwrap();
    assert_eq!(rows(&joined), ["| apple | 0.5 |", "| pear | 0.75 |"]);
    let files = plain(
        &ctx,
        r#"SELECT count(*) FROM floe_table('lake.public.fruit$files', 'r1')"#,
    )
    .await
    .unwrap();
    assert_eq!(ints(&files), [1]);

    // Errors: the same as the SQL clause's, where there is one.
    let clause = |sql: &'static str| {
        let session = &session;
        async move { floe::display_error(&session.sql(sql).await.unwrap_err()) }
    };
    let cases = [
        (
            "SELECT * FROM floe_table('lake.public.fruit', 'nope')",
            Some("SELECT * FROM lake.public.fruit FOR VERSION AS OF 'nope'"),
        ),
        (
            "SELECT * FROM floe_table('lake.public.fruit', 42)",
            Some("SELECT * FROM lake.public.fruit FOR VERSION AS OF 42"),
        ),
        (
            "SELECT * FROM floe_table('lake.public.fruit', TIMESTAMP '2001-01-01 00:00:00')",
            Some(
                "SELECT * FROM lake.public.fruit FOR TIMESTAMP AS OF TIMESTAMP '2001-01-01 00:00:00'",
            ),
        ),
        (
            "SELECT * FROM floe_table('lake.public.nope', 'r1')",
            Some("SELECT * FROM lake.public.nope FOR VERSION AS OF 'r1'"),
        ),
    ];
    for (call, sql_clause) in cases {
        let got = plain(&ctx, call).await.unwrap_err();
        if let Some(c) = sql_clause {
            let want = clause(c).await;
            let core = want.trim_start_matches("Error: ");
            assert!(got.contains(core), "{call}:\n got  {got}\n want {want}");
        }
    }
    for (call, want) in [
        (
            "SELECT * FROM floe_table('lake.public.fruit')",
            "takes 2 arguments",
        ),
        (
            "SELECT * FROM floe_table(1, 'r1')",
            "the first argument is the table's name",
        ),
        (
            "SELECT * FROM floe_table('lake.public.fruit', NULL)",
            "the version is NULL",
        ),
        (
            "SELECT * FROM floe_table('lake.public.fruit', 1.5)",
            "not a value of type",
        ),
        (
            "SELECT * FROM floe_table('lake.nope.fruit', 'r1')",
            "schema 'lake.nope' not found",
        ),
        (
            "SELECT * FROM floe_table('nope.public.fruit', 'r1')",
            "catalog 'nope'",
        ),
        (
            "SELECT * FROM floe_table('prices', 'r1')",
            "'datafusion' is not a floe catalog",
        ),
        (
            "SELECT * FROM floe_table('lake.public.fruit/id=1', 'r1')",
            "is not a table name",
        ),
    ] {
        let got = plain(&ctx, call).await.unwrap_err();
        assert!(got.contains(want), "{call}: {got}");
        assert!(!got.contains('\n'), "{got}");
    }
}

/// The table function blocks on I/O from synchronous code; on a current-thread runtime
/// (what `#[tokio::test]` and many applications use) that must not deadlock.
#[tokio::test]
async fn floe_table_works_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _floe, _session, _) = lake(dir.path()).await;
    let r1 = plain(
        &ctx,
        "SELECT count(*) FROM floe_table('lake.public.fruit', 'r1')",
    )
    .await
    .unwrap();
    assert_eq!(ints(&r1), [2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_warehouses_in_one_context() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = SessionContext::new();
    let one = Floe::open(dir.path().join("one")).await.unwrap();
    let two = Floe::open(dir.path().join("two")).await.unwrap();
    one.register(&ctx, "lake1").unwrap();
    two.register(&ctx, "lake2").unwrap();
    let s1 = Session::from_context(ctx.clone(), &one, "lake1").unwrap();
    let s2 = Session::from_context(ctx.clone(), &two, "lake2").unwrap();
    s1.sql("CREATE TABLE lake1.public.t (id BIGINT); BEGIN; INSERT INTO lake1.public.t VALUES (1), (2); CALL release('a')")
        .await
        .unwrap();
    s2.sql("CREATE TABLE lake2.public.t (id BIGINT); BEGIN; INSERT INTO lake2.public.t VALUES (2), (3); CALL release('a')")
        .await
        .unwrap();
    s1.sql("INSERT INTO lake1.public.t VALUES (3)")
        .await
        .unwrap();
    // Each name reaches its own warehouse; the same release name in each is its own.
    let joined = plain(
        &ctx,
        "SELECT a.id FROM floe_table('lake1.public.t', 'a') a JOIN floe_table('lake2.public.t', 'a') b USING (id)",
    )
    .await
    .unwrap();
    assert_eq!(ints(&joined), [2]);
    let now = plain(
        &ctx,
        "SELECT (SELECT count(*) FROM lake1.public.t) * 10 + (SELECT count(*) FROM lake2.public.t)",
    )
    .await
    .unwrap();
    assert_eq!(ints(&now), [32]);
    // The second warehouse's files are where it was opened.
    assert!(dir.path().join("two/public/t").exists());
    assert!(dir.path().join("one/public/t").exists());
    // floe's defaults apply only where asked: this context's default catalog is its own.
    let err = plain(&ctx, "SELECT * FROM t").await.unwrap_err();
    assert!(err.contains("not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_contexts_never_create_tables_that_vanish() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = SessionContext::new();
    let floe = Floe::open(dir.path()).await.unwrap();
    floe.register(&ctx, "lake").unwrap();
    let err = plain(&ctx, "CREATE TABLE lake.public.x (a INT)")
        .await
        .unwrap_err();
    assert!(err.contains("Session::from_context"), "{err}");
    let err = plain(&ctx, "CREATE TABLE lake.public.y AS SELECT 1 AS a")
        .await
        .unwrap_err();
    assert!(err.contains("Session::from_context"), "{err}");
    assert!(
        floe.redb_catalog()
            .tables(&floe::iceberg::NamespaceIdent::new("public".into()))
            .unwrap()
            .is_empty()
    );
    // DROP TABLE and CREATE OR REPLACE through the plain context are refused and change
    // nothing (DataFusion drops the table before replacing it). DataFusion words the
    // refused DROP as "doesn't exist"; the others carry floe's error.
    floe.sql("CREATE TABLE z (a INT); INSERT INTO z VALUES (7)")
        .await
        .unwrap();
    for (sql, want) in [
        ("DROP TABLE lake.public.z", "doesn't exist"),
        ("DROP TABLE IF EXISTS lake.public.z", ""),
        (
            "CREATE OR REPLACE TABLE lake.public.z AS SELECT 1 AS a",
            "Session::from_context",
        ),
        (
            "CREATE OR REPLACE VIEW lake.public.z AS SELECT 1 AS a",
            "Session::from_context",
        ),
    ] {
        match plain(&ctx, sql).await {
            Err(err) => assert!(err.contains(want), "{sql}: {err}"),
            Ok(_) => assert!(sql.contains("IF EXISTS"), "{sql} succeeded"),
        }
        let rows = floe.sql("SELECT CAST(a AS BIGINT) FROM z").await.unwrap();
        assert_eq!(ints(&rows), [7], "{sql}");
    }
    // Through a session, dropping works.
    let session = Session::from_context(ctx.clone(), &floe, "lake").unwrap();
    session.sql("DROP TABLE lake.public.z").await.unwrap();
    let err = floe.sql("SELECT * FROM z").await.unwrap_err();
    assert!(floe::display_error(&err).contains("not found"));
}
