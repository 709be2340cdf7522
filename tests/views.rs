//! Views persist with the warehouse: a view made in one process is read by the next, as
//! an Iceberg view metadata file (view spec v1) the catalog points at.

#[path = "support/batches.rs"]
mod batches;

use batches::ints;
use floe::Floe;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_survives_a_reopen_and_is_an_iceberg_view() {
    let dir = tempfile::tempdir().unwrap();
    {
        let floe = Floe::open(dir.path()).await.unwrap();
        floe.sql(
            "CREATE TABLE t (id BIGINT, v BIGINT);
             INSERT INTO t VALUES (1, 10), (2, 20), (3, 30);
             CALL release('r1');
             INSERT INTO t VALUES (4, 40);
             CREATE VIEW big (id) AS SELECT id FROM t WHERE v >= 20;
             CREATE VIEW at_r1 AS SELECT count(*) AS n FROM t FOR VERSION AS OF 'r1';
             CREATE OR REPLACE VIEW big (id) AS SELECT id FROM t WHERE v >= 30;",
        )
        .await
        .unwrap();
    }
    let floe = Floe::open(dir.path()).await.unwrap();
    assert_eq!(
        ints(&floe.sql("SELECT id FROM big ORDER BY id").await.unwrap()),
        [3, 4]
    );
    assert_eq!(ints(&floe.sql("SELECT n FROM at_r1").await.unwrap()), [3]);
    // A session opened afterwards sees it too.
    let other = floe.new_session(Default::default()).unwrap();
    assert_eq!(ints(&other.sql("SELECT n FROM at_r1").await.unwrap()), [3]);

    // The catalog names an Iceberg view metadata file with both versions.
    let ident = iceberg::TableIdent::from_strs(["public", "big"]).unwrap();
    let md = floe.redb_catalog().view(&ident).await.unwrap().unwrap();
    assert_eq!(md.versions().count(), 2);
    let record = floe.redb_catalog().view_record(&ident).unwrap();
    let path = record.location.strip_prefix("file://").unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(json["format-version"], 1);
    let current = json["current-version-id"].clone();
    let version = json["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version-id"] == current)
        .unwrap();
    assert_eq!(version["representations"][0]["dialect"], "datafusion");
    assert_eq!(
        version["representations"][0]["sql"],
        "SELECT id FROM t WHERE v >= 30"
    );
    assert_eq!(version["default-namespace"], serde_json::json!(["public"]));
    assert!(path.contains("/public/big/metadata/00001-"), "{path}");

    // Dropped views are gone after a reopen too.
    floe.sql("DROP VIEW big").await.unwrap();
    drop(other);
    drop(floe);
    let floe = Floe::open(dir.path()).await.unwrap();
    let err = floe.sql("SELECT * FROM big").await.unwrap_err();
    assert!(
        floe::display_error(&err).contains("big"),
        "{}",
        floe::display_error(&err)
    );
    assert_eq!(ints(&floe.sql("SELECT n FROM at_r1").await.unwrap()), [3]);
}
