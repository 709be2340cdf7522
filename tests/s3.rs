//! Warehouses on S3, against a real S3 server (moto's server mode on loopback, started
//! and stopped by PID). Outside CI the tests are skipped when `moto_server` is missing.
//!
//! Settings are given as properties, never through the process environment, so the
//! tests can run in parallel.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use floe::Floe;
use floe::datafusion::arrow::array::Int64Array;
use floe::datafusion::arrow::record_batch::RecordBatch;

#[path = "support/moto.rs"]
mod moto;

fn server() -> Option<&'static moto::Moto> {
    let m = moto::Moto::shared();
    if m.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs moto_server (.ci/run installs moto[server])"
        );
        eprintln!("skipping: moto_server is not installed");
    }
    m
}

/// Opens `s3://BUCKET/PREFIX` through `endpoint` with a catalog file in `dir`.
async fn open(
    endpoint: &str,
    root: &str,
    dir: &tempfile::TempDir,
    extra: &[(&str, &str)],
) -> floe::datafusion::error::Result<Floe> {
    let mut b = Floe::builder()
        .warehouse(root)
        .catalog_path(dir.path().join("lake.redb").display().to_string())
        .property("s3.endpoint", endpoint)
        .property("s3.access-key-id", "testing")
        .property("s3.secret-access-key", "testing")
        .property("s3.region", "us-east-1");
    for (k, v) in extra {
        b = b.property(*k, *v);
    }
    b.open().await
}

fn count(batches: &[RecordBatch]) -> i64 {
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("a BIGINT count")
        .value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_live_in_the_bucket_and_reopen_from_the_catalog_file() {
    let Some(m) = server() else { return };
    m.create_bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    {
        let floe = open(&m.endpoint, "s3://lake/w", &dir, &[]).await.unwrap();
        floe.sql("CREATE TABLE t (id BIGINT, s VARCHAR) PARTITIONED BY (bucket(4, id))")
            .await
            .unwrap();
        floe.sql("INSERT INTO t SELECT value, 'v' || value FROM generate_series(1, 1000)")
            .await
            .unwrap();
        floe.sql("DELETE FROM t WHERE id % 10 = 0").await.unwrap();
        let location = floe.sql("SELECT count(*) FROM t").await.unwrap();
        assert_eq!(count(&location), 900);
    }
    // The files are in the bucket, under the warehouse prefix.
    let (status, body) = m.get("/lake?list-type=2&prefix=w/public/t/");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(".parquet") && body.contains("metadata.json"),
        "{body}"
    );
    // Reopening needs no endpoint: the catalog file kept it (but not the secrets).
    let floe = Floe::builder()
        .warehouse("s3://lake/w")
        .catalog_path(dir.path().join("lake.redb").display().to_string())
        .property("s3.access-key-id", "testing")
        .property("s3.secret-access-key", "testing")
        .open()
        .await
        .unwrap();
    assert_eq!(
        count(&floe.sql("SELECT count(*) FROM t").await.unwrap()),
        900
    );
    let db = std::fs::read(dir.path().join("lake.redb")).unwrap();
    let text = String::from_utf8_lossy(&db);
    assert!(text.contains(&m.endpoint), "endpoint stored");
    assert!(!text.contains("s3.secret-access-key"), "no secret stored");
    drop(floe);
    // The catalog file belongs to that warehouse.
    let e = open(&m.endpoint, "s3://lake/other", &dir, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("belongs to warehouse 's3://lake/w'"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_stream_as_multipart_uploads_and_failed_ones_are_aborted() {
    let Some(m) = server() else { return };
    m.create_bucket("big");
    let dir = tempfile::tempdir().unwrap();
    let floe = open(&m.endpoint, "s3://big/w", &dir, &[]).await.unwrap();
    floe.sql("CREATE TABLE t (id BIGINT, h VARCHAR) TBLPROPERTIES ('write.parquet.compression-codec' = 'uncompressed')")
        .await
        .unwrap();
    // ~27 MB of incompressible text, in a file per writer: each over one 8 MiB part.
    floe.sql(
        "INSERT INTO t SELECT value, md5(CAST(value AS VARCHAR)) FROM generate_series(1, 600000)",
    )
    .await
    .unwrap();
    assert_eq!(
        count(&floe.sql("SELECT count(DISTINCT h) FROM t").await.unwrap()),
        600000
    );
    let (_, body) = m.get("/big?list-type=2&prefix=w/public/t/data/");
    let sizes: Vec<u64> = body
        .split("<Size>")
        .skip(1)
        .filter_map(|s| s.split('<').next()?.parse().ok())
        .collect();
    assert!(
        sizes.iter().any(|s| *s > 8 << 20),
        "a data file over one part: {sizes:?}"
    );
    // A multipart upload's ETag ends in -<parts>.
    assert!(
        body.contains("-2&quot;</ETag>") || body.contains("-2\"</ETag>"),
        "{body}"
    );
    // A statement that fails after its upload started leaves no upload behind.
    let e = floe
        .sql("INSERT INTO t SELECT value, CASE WHEN value < 590000 THEN md5(CAST(value AS VARCHAR)) ELSE CAST(CAST('x' AS INT) AS VARCHAR) END FROM generate_series(1, 600000)")
        .await;
    assert!(e.is_err());
    // The abort runs in the background; give it a moment.
    let mut uploads = String::new();
    for _ in 0..50 {
        uploads = m.get("/big?uploads").1;
        if !uploads.contains("<Upload>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!uploads.contains("<Upload>"), "{uploads}");
    assert_eq!(
        count(&floe.sql("SELECT count(*) FROM t").await.unwrap()),
        600000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_never_replaces_another_writers_file() {
    let Some(m) = server() else { return };
    m.create_bucket("cputs");
    let dir = tempfile::tempdir().unwrap();
    let floe = open(&m.endpoint, "s3://cputs/w", &dir, &[]).await.unwrap();
    let io = floe.redb_catalog().file_io().clone();
    let loc = "s3://cputs/w/x/metadata/00001-a.metadata.json";
    io.new_output(loc)
        .unwrap()
        .write("first".into())
        .await
        .unwrap();
    let e = io
        .new_output(loc)
        .unwrap()
        .write("second".into())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(
        io.new_input(loc).unwrap().read().await.unwrap().as_ref(),
        b"first"
    );
    // A file in another bucket is looked up in that bucket, never in this one.
    let e = io
        .new_input("s3://elsewhere/w/x/metadata/00001-a.metadata.json")
        .unwrap()
        .read()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("NoSuchBucket") && !e.contains('\n'), "{e}");
    drop(floe);
    // With conditional puts disabled (stores without them), puts overwrite.
    let dir2 = tempfile::tempdir().unwrap();
    let floe = open(
        &m.endpoint,
        "s3://cputs/w2",
        &dir2,
        &[("s3.conditional-put", "disabled")],
    )
    .await
    .unwrap();
    let io = floe.redb_catalog().file_io().clone();
    let loc = "s3://cputs/w2/y.json";
    for body in ["one", "two"] {
        io.new_output(loc)
            .unwrap()
            .write(body.into())
            .await
            .unwrap();
    }
    assert_eq!(
        io.new_input(loc).unwrap().read().await.unwrap().as_ref(),
        b"two"
    );
}

/// A TCP proxy in front of the server whose link can be cut (every connection closed,
/// new ones refused) and restored: a server that dies mid-statement, as floe sees it.
struct Link {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Link {
    fn new(target: String) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut list = open2.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                drop(list);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 64 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Link { port, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_lost_mid_insert_publishes_nothing() {
    let Some(m) = server() else { return };
    m.create_bucket("cut");
    let link = Link::new(m.endpoint.trim_start_matches("http://").to_string());
    let endpoint = format!("http://127.0.0.1:{}", link.port);
    let dir = tempfile::tempdir().unwrap();
    let floe = open(&endpoint, "s3://cut/w", &dir, &[("s3.max-retries", "0")])
        .await
        .unwrap();
    floe.sql("CREATE TABLE t (id BIGINT, h VARCHAR)")
        .await
        .unwrap();
    floe.sql("INSERT INTO t SELECT value, 'x' FROM generate_series(1, 10)")
        .await
        .unwrap();
    let before = floe
        .redb_catalog()
        .table_record(&floe::iceberg::TableIdent::from_strs(["public", "t"]).unwrap())
        .unwrap();
    let insert = floe.sql(
        "INSERT INTO t SELECT value, md5(CAST(value AS VARCHAR)) FROM generate_series(1, 3000000)",
    );
    let cutter = async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        link.cut();
    };
    let (result, ()) = tokio::join!(insert, cutter);
    let e = result.expect_err("the INSERT cannot finish without the server");
    let text = floe::display_error(&e);
    assert!(!text.contains('\n'), "one line: {text}");
    link.restore();
    let after = floe
        .redb_catalog()
        .table_record(&floe::iceberg::TableIdent::from_strs(["public", "t"]).unwrap())
        .unwrap();
    assert_eq!(before, after, "no pointer moved");
    assert_eq!(
        count(&floe.sql("SELECT count(*) FROM t").await.unwrap()),
        10
    );
    floe.sql("INSERT INTO t VALUES (11, 'y')").await.unwrap();
    assert_eq!(
        count(&floe.sql("SELECT count(*) FROM t").await.unwrap()),
        11
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_settings_are_one_line_naming_the_bucket_and_the_setting() {
    let Some(m) = server() else { return };
    m.create_bucket("here");
    let dir = tempfile::tempdir().unwrap();
    let e = open(&m.endpoint, "s3://nosuch/w", &dir, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(
        e.contains("bucket 'nosuch' does not exist") && e.contains("s3.endpoint"),
        "{e}"
    );
    let e = open(
        "http://127.0.0.1:9",
        "s3://here/w",
        &dir,
        &[("s3.max-retries", "0")],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("cannot reach the S3 endpoint"), "{e}");
    let e = open(&m.endpoint, "s3://here/w", &dir, &[("s3.endpiont", "x")])
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(e.contains("unknown S3 setting 's3.endpiont'"), "{e}");
    let e = open(
        &m.endpoint,
        "s3://here/w",
        &dir,
        &[("s3.path-style-access", "maybe")],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("'s3.path-style-access' must be true or false"),
        "{e}"
    );
    let e = Floe::builder()
        .warehouse("s3://here/w")
        .open()
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(e.contains("--catalog"), "{e}");
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        let e = Floe::builder()
            .warehouse("s3://here/w")
            .catalog_path(dir.path().join("c.redb").display().to_string())
            .property("s3.endpoint", m.endpoint.as_str())
            .open()
            .await
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(
            e.contains("no S3 credentials for bucket 'here'") && e.contains("AWS_ACCESS_KEY_ID"),
            "{e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_name_the_bucket_and_the_settings() {
    // This server checks credentials: only the bucket creation goes through unsigned.
    let Some(m) = moto::Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "1")]) else {
        assert!(std::env::var_os("CI").is_none(), "CI needs moto_server");
        return;
    };
    m.create_bucket("locked");
    let dir = tempfile::tempdir().unwrap();
    let e = open(
        &m.endpoint,
        "s3://locked/w",
        &dir,
        &[("s3.max-retries", "0")],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("'locked'") && e.contains("AWS_ACCESS_KEY_ID"),
        "{e}"
    );
}

fn python_readers_available() -> bool {
    std::process::Command::new("python3")
        .args([
            "-c",
            "import pyiceberg, pyarrow, duckdb, duckdb_ext, glob, os; \
             b = os.path.join(list(duckdb_ext.__path__)[0], 'extensions'); \
             assert glob.glob(os.path.join(b, '*', '*', 'httpfs.duckdb_extension'))",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyiceberg_and_duckdb_read_a_floe_table_on_s3() {
    if !python_readers_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs pyiceberg, duckdb and its iceberg, avro and httpfs extensions (.ci/run installs them)"
        );
        eprintln!("skipping: pyiceberg or duckdb with httpfs is not installed");
        return;
    }
    let Some(m) = server() else { return };
    m.create_bucket("shared");
    let dir = tempfile::tempdir().unwrap();
    let floe = open(&m.endpoint, "s3://shared/w", &dir, &[]).await.unwrap();
    for sql in [
        "CREATE TABLE t (id BIGINT, s VARCHAR) PARTITIONED BY (bucket(2, id))",
        "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, NULL)",
        "INSERT INTO t VALUES (4, 'four')",
        "DELETE FROM t WHERE id = 2",
    ] {
        floe.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let record = floe
        .redb_catalog()
        .table_record(&floe::iceberg::TableIdent::from_strs(["public", "t"]).unwrap())
        .unwrap();
    assert!(
        record.location.starts_with("s3://shared/w/"),
        "{}",
        record.location
    );
    let out = std::process::Command::new("python3")
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/read_s3.py"),
            &m.endpoint,
            &record.location,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "readers failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows = "row id=1 s=one\nrow id=3 s=NULL\nrow id=4 s=four\n";
    let expected: String = ["pyiceberg", "duckdb"]
        .iter()
        .flat_map(|r| rows.lines().map(move |l| format!("{r} {l}\n")))
        .collect();
    assert_eq!(text, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_warehouse_reads_registers_and_creates_tables_on_s3() {
    let Some(m) = server() else { return };
    m.create_bucket("remote");
    let dir = tempfile::tempdir().unwrap();
    let lake = open(&m.endpoint, "s3://remote/w", &dir, &[]).await.unwrap();
    lake.sql("CREATE TABLE t (id BIGINT, s VARCHAR)")
        .await
        .unwrap();
    lake.sql("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        .await
        .unwrap();
    lake.sql("DELETE FROM t WHERE id = 2").await.unwrap();
    let metadata = lake
        .redb_catalog()
        .table_record(&floe::iceberg::TableIdent::from_strs(["public", "t"]).unwrap())
        .unwrap()
        .location
        .clone();
    drop(lake);

    // A local warehouse, with the S3 settings to reach that bucket.
    let local_dir = tempfile::tempdir().unwrap();
    let mut b = Floe::builder().warehouse(local_dir.path().display().to_string());
    for (k, v) in m.properties() {
        b = b.property(k, v);
    }
    let local = b.open().await.unwrap();
    local
        .sql(&format!("CALL register_table('adopted', '{metadata}')"))
        .await
        .unwrap();
    assert_eq!(
        count(&local.sql("SELECT sum(id) FROM adopted").await.unwrap()),
        4
    );
    // A table of the local warehouse whose files are on S3.
    local
        .sql("CREATE TABLE far (x BIGINT) LOCATION 's3://remote/elsewhere/far'")
        .await
        .unwrap();
    local
        .sql("INSERT INTO far SELECT value FROM generate_series(1, 100)")
        .await
        .unwrap();
    assert_eq!(
        count(&local.sql("SELECT sum(x) FROM far").await.unwrap()),
        5050
    );
    let (_, body) = m.get("/remote?list-type=2&prefix=elsewhere/far/");
    assert!(
        body.contains(".parquet") && body.contains("metadata.json"),
        "{body}"
    );
    // Without S3 settings, a table on S3 is refused with the settings to give.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        let plain = tempfile::tempdir().unwrap();
        let floe = Floe::open(plain.path()).await.unwrap();
        let e = floe
            .sql("CREATE TABLE far (x BIGINT) LOCATION 's3://remote/elsewhere/far2'")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no S3 credentials for bucket 'remote'"), "{e}");
    }
}
