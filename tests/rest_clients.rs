//! Real REST clients against floe's REST catalog server (floe-rest), serving the same
//! live catalog a floe session queries: PyIceberg 0.12 creates, appends, overwrites,
//! deletes, evolves a schema and loses a race; DuckDB 1.4.4 reads a floe table, inserts
//! into it and creates its own. floe's SQL then reads exactly the rows the clients
//! wrote. `.ci/run` installs both; elsewhere the tests are skipped when they are missing.

use std::process::Command;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use floe::Floe;

fn python_has(modules: &str) -> bool {
    let ready = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with {modules} is required in CI (.ci/run installs it)"
        );
        eprintln!("skipping: python3 with {modules} is not installed");
    }
    ready
}

async fn serve(floe: &Floe) -> floe_rest::Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    floe_rest::Server::new(floe.redb_catalog().clone(), Default::default())
        .spawn(listener)
        .unwrap()
}

/// Runs a client script off the runtime (the server keeps serving meanwhile).
async fn run_script(script: &'static str, uri: &str) -> String {
    let uri = uri.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/").to_string() + script,
                uri,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The expected output a script documents between "Expected output" and its closing
/// quotes (so the script and this test cannot drift apart silently).
fn documented_output(script: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let after = text.split_once("Expected output").unwrap().1;
    let block = after.split_once('\n').unwrap().1;
    let block = block.split_once("\"\"\"").unwrap().0;
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Rows as `k=v` lines in the scripts' format (NULL for nulls), from floe's SQL.
async fn floe_rows(floe: &Floe, prefix: &str, sql: &str) -> Vec<String> {
    let batches: Vec<RecordBatch> = floe.sql(sql).await.unwrap();
    let mut rows = Vec::new();
    for batch in &batches {
        let schema = batch.schema();
        let columns: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| cast(c, &DataType::Utf8).unwrap())
            .collect();
        for r in 0..batch.num_rows() {
            let cells: Vec<String> = columns
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| {
                    let v = if c.is_null(r) {
                        "NULL".to_string()
                    } else {
                        c.as_string::<i32>().value(r).to_string()
                    };
                    format!("{}={v}", f.name())
                })
                .collect();
            rows.push(format!("{prefix} {}", cells.join(" ")));
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyiceberg_writes_through_rest_and_floe_reads_the_rows() {
    if !python_has("pyiceberg, pyarrow") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let floe = Floe::open(dir.path()).await.unwrap();
    let served = serve(&floe).await;
    let out = run_script("rest_pyiceberg.py", &served.uri()).await;
    assert_eq!(out, documented_output("rest_pyiceberg.py"));
    // The session sees the client's commits at its next statement, same live catalog.
    let rows = floe_rows(
        &floe,
        "row",
        "SELECT id, name, score, tag FROM py.events ORDER BY id",
    )
    .await;
    assert_eq!(
        rows,
        [
            "row id=10 name=x score=10.0 tag=NULL",
            "row id=12 name=z score=12.0 tag=t",
            "row id=13 name=w score=NULL tag=first",
        ]
    );
    served.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_reads_inserts_and_creates_through_rest_and_floe_reads_the_rows() {
    if !python_has("duckdb, duckdb_ext") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let floe = Floe::open(dir.path()).await.unwrap();
    floe.sql("CREATE TABLE t (id BIGINT, s VARCHAR); INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        .await
        .unwrap();
    let served = serve(&floe).await;
    let out = run_script("rest_duckdb.py", &served.uri()).await;
    assert_eq!(out, documented_output("rest_duckdb.py"));
    assert_eq!(
        floe_rows(&floe, "row", "SELECT id, s FROM t ORDER BY id").await,
        ["row id=1 s=a", "row id=3 s=c", "row id=4 s=NULL"]
    );
    // DuckDB's DELETE was merge-on-read: floe applied DuckDB's position delete file.
    assert_eq!(
        floe_rows(
            &floe,
            "files",
            "SELECT count(*) AS deletes FROM \"t$files\" WHERE content = 1"
        )
        .await,
        ["files deletes=1"]
    );
    assert_eq!(
        floe_rows(
            &floe,
            "made row",
            "SELECT k, v FROM made_by_duckdb ORDER BY k"
        )
        .await,
        ["made row k=1 v=one", "made row k=2 v=two"]
    );
    served.stop().await.unwrap();
}
