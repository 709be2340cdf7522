//! The REST catalog driven by iceberg-rust's own REST client (`iceberg-catalog-rest`)
//! and by raw HTTP where the client cannot express a case (a stale commit, a
//! multi-table transaction, hostile requests). The server runs in this process over a
//! real redb catalog on `127.0.0.1:0`; the checks read the catalog directly.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
use floe_catalog::{RedbCatalog, SnapshotChange};
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, NestedField, PrimitiveType, Schema,
    Struct, Type,
};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, CatalogBuilder, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_rest::RestCatalogBuilder;
use serde_json::{Value, json};

struct Served {
    uri: String,
    catalog: RedbCatalog,
    _dir: tempfile::TempDir,
    running: floe_rest::Running,
}

impl Served {
    async fn start(options: floe_rest::ServerOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let catalog = RedbCatalog::open(dir.path()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = floe_rest::Server::new(catalog.clone(), options)
            .spawn(listener)
            .unwrap();
        Self {
            uri: running.uri(),
            catalog,
            _dir: dir,
            running,
        }
    }

    async fn client(&self) -> iceberg_catalog_rest::RestCatalog {
        RestCatalogBuilder::default()
            .with_storage_factory(Arc::new(iceberg::io::LocalFsStorageFactory))
            .load(
                "floe",
                HashMap::from([("uri".to_string(), self.uri.clone())]),
            )
            .await
            .unwrap()
    }

    async fn shutdown(self) {
        self.running.stop().await.unwrap();
    }
}

fn schema() -> Schema {
    Schema::builder()
        .with_fields(vec![
            NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
        ])
        .build()
        .unwrap()
}

/// Writes a real Parquet file of `ids` under the table's data directory (with Iceberg
/// field ids, as any writer would) and describes it.
fn write_data_file(table: &Table, name: &str, ids: &[i64]) -> DataFile {
    let location = format!("{}/data/{name}.parquet", table.metadata().location());
    let path = floe_catalog::storage::local_path(&location);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let field = Field::new("id", DataType::Int64, false).with_metadata(HashMap::from([(
        "PARQUET:field_id".to_string(),
        "1".to_string(),
    )]));
    let batch = RecordBatch::try_new(
        Arc::new(ArrowSchema::new(vec![field])),
        vec![Arc::new(Int64Array::from(ids.to_vec()))],
    )
    .unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(location)
        .file_format(DataFileFormat::Parquet)
        .file_size_in_bytes(std::fs::metadata(&path).unwrap().len())
        .record_count(ids.len() as u64)
        .partition(Struct::empty())
        .partition_spec_id(0)
        .build()
        .unwrap()
}

/// Live data file paths of a table's current snapshot, read by floe.
async fn live_paths(catalog: &RedbCatalog, table: &Table) -> Vec<String> {
    let Some(snapshot) = table.metadata().current_snapshot() else {
        return Vec::new();
    };
    let (data, _) = catalog
        .live_files(table.metadata(), snapshot)
        .await
        .unwrap();
    data.into_iter()
        .map(|f| f.file.file_path().to_string())
        .collect()
}

/// One HTTP client for the whole test binary (building one loads the system's
/// certificates).
fn http_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

async fn post(uri: &str, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut request = http_client().post(format!("{uri}{path}")).json(body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A floe-produced snapshot (manifest and manifest list written, nothing committed)
/// adding one real data file, as the JSON a REST client would send.
async fn produced_change(catalog: &RedbCatalog, table: &Table, name: &str) -> Value {
    let file = write_data_file(table, name, &[1, 2, 3]);
    let produced = catalog
        .produce_snapshot(
            table,
            SnapshotChange {
                added: vec![file],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    json!({
        "identifier": table.identifier(),
        "requirements": produced.requirements,
        "updates": produced.updates,
    })
}

/// Creates namespace `db` (if new) and table `db.<name>` directly in the catalog.
async fn create_table(catalog: &RedbCatalog, name: &str) -> Table {
    let db = NamespaceIdent::new("db".into());
    if !catalog.contains_namespace(&db) {
        catalog.create_ns(&db, HashMap::new()).await.unwrap();
    }
    let creation = TableCreation::builder()
        .name(name.into())
        .schema(schema())
        .build();
    catalog.create(&db, creation).await.unwrap()
}

async fn snapshots(catalog: &RedbCatalog, ident: &TableIdent) -> usize {
    catalog
        .table(ident)
        .await
        .unwrap()
        .metadata()
        .snapshots()
        .count()
}

fn table_path(ident: &TableIdent) -> String {
    format!(
        "/v1/namespaces/{}/tables/{}",
        ident.namespace.join("%1F"),
        ident.name
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iceberg_rust_client_drives_namespaces_tables_appends_rename_and_drop() {
    let served = Served::start(Default::default()).await;
    let client = served.client().await;
    let db = NamespaceIdent::new("db".into());
    let sub = NamespaceIdent::from_strs(["db", "sub"]).unwrap();
    client
        .create_namespace(&db, HashMap::from([("owner".into(), "ana".into())]))
        .await
        .unwrap();
    client.create_namespace(&sub, HashMap::new()).await.unwrap();
    assert_eq!(
        client.list_namespaces(None).await.unwrap(),
        vec![db.clone()]
    );
    assert_eq!(
        client.list_namespaces(Some(&db)).await.unwrap(),
        vec![sub.clone()]
    );
    assert_eq!(
        client.get_namespace(&db).await.unwrap().properties()["owner"],
        "ana"
    );
    assert!(client.namespace_exists(&sub).await.unwrap());
    assert!(
        !client
            .namespace_exists(&NamespaceIdent::new("nope".into()))
            .await
            .unwrap()
    );
    let err = client
        .create_namespace(&db, HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceAlreadyExists, "{err}");

    let creation = || {
        TableCreation::builder()
            .name("events".into())
            .schema(schema())
            .build()
    };
    let table = client.create_table(&db, creation()).await.unwrap();
    let ident = table.identifier().clone();
    let err = client.create_table(&db, creation()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableAlreadyExists, "{err}");
    assert_eq!(client.list_tables(&db).await.unwrap(), vec![ident.clone()]);
    assert!(client.table_exists(&ident).await.unwrap());

    // Two appends through iceberg-rust's transaction API: the client writes the data
    // file, manifest and manifest list; the server commits.
    let mut table = table;
    for (k, ids) in [[1i64, 2, 3], [4, 5, 6]].iter().enumerate() {
        let file = write_data_file(&table, &format!("part-{k}"), ids);
        let tx = Transaction::new(&table);
        let tx = tx
            .fast_append()
            .add_data_files(vec![file])
            .apply(tx)
            .unwrap();
        table = tx.commit(&client).await.unwrap();
    }
    let loaded = client.load_table(&ident).await.unwrap();
    assert_eq!(loaded.metadata().snapshots().count(), 2);
    assert_eq!(loaded.metadata_location(), table.metadata_location());
    // floe's own catalog holds the same pointer and reads the same files.
    let local = served.catalog.table(&ident).await.unwrap();
    assert_eq!(local.metadata_location(), loaded.metadata_location());
    let mut paths = live_paths(&served.catalog, &local).await;
    paths.sort();
    assert_eq!(paths.len(), 2);
    assert!(paths[0].ends_with("/data/part-0.parquet"), "{paths:?}");

    let moved = TableIdent::new(sub.clone(), "renamed".into());
    client.rename_table(&ident, &moved).await.unwrap();
    assert!(!client.table_exists(&ident).await.unwrap());
    assert_eq!(
        client.load_table(&moved).await.unwrap().metadata_location(),
        loaded.metadata_location()
    );
    let err = client.load_table(&ident).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableNotFound, "{err}");

    client.drop_table(&moved).await.unwrap();
    assert!(!served.catalog.contains_table(&moved));
    client.drop_namespace(&sub).await.unwrap();
    client.drop_namespace(&db).await.unwrap();
    assert!(client.list_namespaces(None).await.unwrap().is_empty());
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commits_from_one_base_one_wins_the_other_gets_409_and_changes_nothing() {
    let served = Served::start(Default::default()).await;
    let catalog = &served.catalog;
    let base = create_table(catalog, "t").await;
    let first = produced_change(catalog, &base, "a").await;
    let second = produced_change(catalog, &base, "b").await;
    let path = table_path(base.identifier());
    let (status, body) = post(&served.uri, &path, &first, None).await;
    assert_eq!(status, 200, "{body}");
    let winner = body["metadata-location"].as_str().unwrap().to_string();
    let (status, body) = post(&served.uri, &path, &second, None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["type"], "CommitFailedException");
    assert_eq!(body["error"]["code"], 409);
    let now = catalog.table(base.identifier()).await.unwrap();
    assert_eq!(now.metadata_location(), Some(winner.as_str()));
    assert_eq!(now.metadata().snapshots().count(), 1);
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_with_one_stale_table_publishes_nothing() {
    let served = Served::start(Default::default()).await;
    let catalog = &served.catalog;
    let tables = [
        create_table(catalog, "a").await,
        create_table(catalog, "b").await,
    ];
    let change_a = produced_change(catalog, &tables[0], "tx-a").await;
    let change_b = produced_change(catalog, &tables[1], "tx-b").await;
    // Someone else commits to b first: the transaction's view of b is stale.
    let other = produced_change(catalog, &tables[1], "other").await;
    let (status, body) = post(
        &served.uri,
        &table_path(tables[1].identifier()),
        &other,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let b_after_other = catalog.table(tables[1].identifier()).await.unwrap();
    let metadata_files = |t: &Table| {
        std::fs::read_dir(floe_catalog::storage::local_path(&format!(
            "{}/metadata",
            t.metadata().location()
        )))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".metadata.json")
        })
        .count()
    };
    let files_before = (metadata_files(&tables[0]), metadata_files(&tables[1]));
    let tx = json!({"table-changes": [change_a, change_b]});
    let (status, body) = post(&served.uri, "/v1/transactions/commit", &tx, None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["type"], "CommitFailedException");
    // Nothing published: a is where it was, b only has the other commit; the staged
    // metadata files are gone.
    let a_now = catalog.table(tables[0].identifier()).await.unwrap();
    assert_eq!(a_now.metadata_location(), tables[0].metadata_location());
    let b_now = catalog.table(tables[1].identifier()).await.unwrap();
    assert_eq!(b_now.metadata_location(), b_after_other.metadata_location());
    assert_eq!(
        (metadata_files(&tables[0]), metadata_files(&tables[1])),
        files_before
    );
    // Rebuilt against the current versions, the same transaction publishes both at once.
    let change_a = produced_change(catalog, &a_now, "tx-a2").await;
    let change_b = produced_change(catalog, &b_now, "tx-b2").await;
    let seq_before = catalog.last_commit_seq().await.unwrap();
    let tx = json!({"table-changes": [change_a, change_b]});
    let (status, body) = post(&served.uri, "/v1/transactions/commit", &tx, None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(snapshots(catalog, tables[0].identifier()).await, 1);
    assert_eq!(snapshots(catalog, tables[1].identifier()).await, 2);
    // One redb transaction: both pointer moves share it (two log entries, one commit).
    assert_eq!(catalog.last_commit_seq().await.unwrap(), seq_before + 2);
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_4xx_and_write_nothing() {
    let token = "s3cret-token";
    let served = Served::start(floe_rest::ServerOptions {
        token: Some(token.into()),
        body_limit: 64 << 10,
        ..Default::default()
    })
    .await;
    let catalog = &served.catalog;
    let uri = &served.uri;
    let db = NamespaceIdent::new("db".into());
    let table = create_table(catalog, "t").await;
    let path = table_path(table.identifier());
    let http = http_client();

    // Missing and wrong tokens.
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer s3cret-tokeN"),
        Some(token),
    ] {
        let mut request = http.get(format!("{uri}/v1/namespaces"));
        if let Some(a) = auth {
            request = request.header("Authorization", a);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{auth:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "NotAuthorizedException");
        assert!(
            !body.to_string().contains(token),
            "the token is never echoed"
        );
    }
    let ok = http
        .get(format!("{uri}/v1/namespaces"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);

    let send_raw = |method: reqwest::Method, path: String, body: Vec<u8>| {
        let request = http
            .request(method, format!("{uri}{path}"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let mut cases: Vec<(&str, reqwest::Method, String, Vec<u8>, u16)> = vec![
        ("malformed JSON", reqwest::Method::POST, path.clone(), b"{\"requirements\": [".to_vec(), 400),
        (
            "oversized body",
            reqwest::Method::POST,
            path.clone(),
            format!("{{\"pad\": \"{}\"}}", "x".repeat(100 << 10)).into_bytes(),
            413,
        ),
        (
            "unknown update type",
            reqwest::Method::POST,
            path.clone(),
            br#"{"requirements": [], "updates": [{"action": "drop-everything"}]}"#.to_vec(),
            400,
        ),
        (
            "set-location outside the warehouse",
            reqwest::Method::POST,
            path.clone(),
            br#"{"requirements": [], "updates": [{"action": "set-location", "location": "file:///etc"}]}"#.to_vec(),
            400,
        ),
        (
            "set-location escaping with ..",
            reqwest::Method::POST,
            path.clone(),
            format!(
                r#"{{"requirements": [], "updates": [{{"action": "set-location", "location": "{}/../../x"}}]}}"#,
                table.metadata().location()
            )
            .into_bytes(),
            400,
        ),
        (
            "data path property outside the warehouse",
            reqwest::Method::POST,
            path.clone(),
            br#"{"requirements": [], "updates": [{"action": "set-properties", "updates": {"write.data.path": "/tmp/elsewhere"}}]}"#.to_vec(),
            400,
        ),
        (
            "register a metadata file outside the warehouse",
            reqwest::Method::POST,
            "/v1/namespaces/db/register".into(),
            br#"{"name": "stolen", "metadata-location": "file:///etc/passwd"}"#.to_vec(),
            400,
        ),
        (
            "table name with a slash",
            reqwest::Method::GET,
            "/v1/namespaces/db/tables/a%2Fb".into(),
            Vec::new(),
            400,
        ),
        (
            "table name ..",
            reqwest::Method::POST,
            "/v1/namespaces/db/tables".into(),
            br#"{"name": "..", "schema": {"type": "struct", "schema-id": 0, "fields": []}}"#.to_vec(),
            400,
        ),
        (
            "namespace with a control byte",
            reqwest::Method::POST,
            "/v1/namespaces".into(),
            br#"{"namespace": ["bad\u0001name"]}"#.to_vec(),
            400,
        ),
        (
            "namespace path with a control byte",
            reqwest::Method::GET,
            "/v1/namespaces/db%01x/tables".into(),
            Vec::new(),
            400,
        ),
        ("unknown endpoint", reqwest::Method::GET, "/v1/nothing-here".into(), Vec::new(), 404),
    ];
    // A manifest list outside the warehouse, in an otherwise valid append.
    let mut change = produced_change(catalog, &table, "x").await;
    change["updates"][0]["snapshot"]["manifest-list"] = json!("file:///etc/passwd");
    cases.push((
        "manifest list outside the warehouse",
        reqwest::Method::POST,
        path.clone(),
        serde_json::to_vec(&change).unwrap(),
        400,
    ));
    let before = catalog.table(table.identifier()).await.unwrap();
    let seq_before = catalog.last_commit_seq().await.unwrap();
    for (what, method, p, body, expected) in cases {
        let (status, body) = send_raw(method, p, body).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
        assert_eq!(body["error"]["code"], expected, "{what}");
    }
    // Nothing was written: same pointer, no commit, no new table or namespace.
    let after = catalog.table(table.identifier()).await.unwrap();
    assert_eq!(after.metadata_location(), before.metadata_location());
    assert_eq!(catalog.last_commit_seq().await.unwrap(), seq_before);
    assert_eq!(catalog.tables(&db).unwrap().len(), 1);
    assert_eq!(catalog.namespaces(None).unwrap(), vec![db.clone()]);
    // Orphan removal keeps young files while remote writers are served.
    let err = catalog
        .remove_orphan_files(i64::MAX, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 1 hour"), "{err}");
    served.shutdown().await;
}

/// 8 clients append to one table concurrently through iceberg-rust's client (which
/// retries lost races), 4 more publish two-table transactions, and a reader checks
/// every consistent cut of the catalog: the two tables always hold the same number of
/// transaction snapshots (never half a transaction). Every acknowledged commit is
/// present exactly once. `FLOE_REST_LOAD_APPENDS` sets appends per client (100).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_and_transactions_lose_nothing_and_never_split() {
    let appends: usize = std::env::var("FLOE_REST_LOAD_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let (appenders, tx_clients, tx_each) = (8, 4, appends / 4);
    let served = Arc::new(Served::start(Default::default()).await);
    let catalog = served.catalog.clone();
    let db = NamespaceIdent::new("db".into());
    catalog.create_ns(&db, HashMap::new()).await.unwrap();
    let mut retries = HashMap::new();
    retries.insert("commit.retry.num-retries".to_string(), "1000".to_string());
    retries.insert("commit.retry.min-wait-ms".to_string(), "1".to_string());
    retries.insert("commit.retry.max-wait-ms".to_string(), "20".to_string());
    retries.insert(
        "commit.retry.total-timeout-ms".to_string(),
        "600000".to_string(),
    );
    for name in ["hot", "ta", "tb"] {
        let creation = TableCreation::builder()
            .name(name.into())
            .schema(schema())
            .properties(retries.clone())
            .build();
        catalog.create(&db, creation).await.unwrap();
    }
    let ident = |name: &str| TableIdent::new(db.clone(), name.into());
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let catalog = catalog.clone();
        let done = done.clone();
        let (ta, tb) = (ident("ta"), ident("tb"));
        tokio::spawn(async move {
            let mut cuts = 0u64;
            while !done.load(Ordering::Relaxed) {
                let cut = catalog.read_snapshot().unwrap();
                let a = cut.table(&ta).unwrap().unwrap();
                let b = cut.table(&tb).unwrap().unwrap();
                let a = catalog.table_at_location(&ta, &a.location).await.unwrap();
                let b = catalog.table_at_location(&tb, &b.location).await.unwrap();
                assert_eq!(
                    a.metadata().snapshots().count(),
                    b.metadata().snapshots().count(),
                    "a reader saw part of a transaction"
                );
                cuts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            cuts
        })
    };

    let mut writers = Vec::new();
    for c in 0..appenders {
        let served = served.clone();
        let ident = ident("hot");
        writers.push(tokio::spawn(async move {
            let client = served.client().await;
            let mut acked = Vec::new();
            // The client reloads the table before each attempt; the last commit's result
            // is only where its data file goes.
            let mut table = client.load_table(&ident).await.unwrap();
            for k in 0..appends {
                let name = format!("c{c}-{k}");
                let file = write_data_file(&table, &name, &[(c * 1000 + k) as i64]);
                let path = file.file_path().to_string();
                let tx = Transaction::new(&table);
                // The client's duplicate check reads every manifest of the table on
                // every attempt (quadratic client work, not the server's); the test
                // checks for duplicates itself at the end.
                let tx = tx
                    .fast_append()
                    .with_check_duplicate(false)
                    .add_data_files(vec![file])
                    .apply(tx)
                    .unwrap();
                table = tx.commit(&client).await.unwrap();
                acked.push(path);
            }
            acked
        }));
    }
    let mut transactions = Vec::new();
    for c in 0..tx_clients {
        let served = served.clone();
        let (ta, tb) = (ident("ta"), ident("tb"));
        transactions.push(tokio::spawn(async move {
            let catalog = &served.catalog;
            let mut acked = 0;
            let mut conflicts = 0;
            while acked < tx_each {
                let a = catalog.table(&ta).await.unwrap();
                let b = catalog.table(&tb).await.unwrap();
                let name = format!("tx{c}-{acked}-{conflicts}");
                let tx = json!({"table-changes": [
                    produced_change(catalog, &a, &name).await,
                    produced_change(catalog, &b, &name).await,
                ]});
                match post(&served.uri, "/v1/transactions/commit", &tx, None).await {
                    (204, _) => acked += 1,
                    (409, _) => conflicts += 1,
                    (status, body) => panic!("transaction failed: {status} {body}"),
                }
            }
            conflicts
        }));
    }
    let mut all_acked = Vec::new();
    for w in writers {
        all_acked.extend(w.await.unwrap());
    }
    let mut conflicts = 0;
    for t in transactions {
        conflicts += t.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let cuts = reader.await.unwrap();
    assert!(cuts > 0);

    let hot = catalog.table(&ident("hot")).await.unwrap();
    assert_eq!(hot.metadata().snapshots().count(), appenders * appends);
    let mut live = live_paths(&catalog, &hot).await;
    live.sort();
    all_acked.sort();
    assert_eq!(live, all_acked, "every acknowledged append exactly once");
    for name in ["ta", "tb"] {
        assert_eq!(
            snapshots(&catalog, &ident(name)).await,
            tx_clients * tx_each
        );
    }
    eprintln!(
        "{} appends, {} transactions ({conflicts} lost races retried), {cuts} consistent cuts checked",
        appenders * appends,
        tx_clients * tx_each
    );
    match Arc::try_unwrap(served) {
        Ok(served) => served.shutdown().await,
        Err(_) => panic!("server still shared"),
    }
}
