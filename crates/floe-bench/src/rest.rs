//! `rest`: the REST catalog server (floe-rest) against the same catalog called in
//! process, in one run on one warehouse: `load_table` through iceberg-rust's REST client
//! against a warm in-process load, and a durable commit (fast append of one data file)
//! POSTed to the server against `commit_table` — latency one at a time, then throughput
//! with 4 concurrent writers on 4 tables. The snapshot (manifest and manifest list) is
//! produced outside the timed part on both sides, so the ratio is the commit alone:
//! HTTP, JSON both ways, the server's checks, and the same metadata write, barrier and
//! redb transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_catalog::{RedbCatalog, SnapshotChange};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation, TableIdent};

use crate::catalog::data_file;
use crate::report::Report;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request a REST client sends for a fast append of one file to `ident`, produced
/// (files written) but not committed.
async fn produce(
    catalog: &RedbCatalog,
    ident: &TableIdent,
    n: usize,
) -> Result<(Vec<iceberg::TableRequirement>, Vec<iceberg::TableUpdate>), BoxError> {
    let table = catalog.table(ident).await?;
    let produced = catalog
        .produce_snapshot(
            &table,
            SnapshotChange {
                added: vec![data_file(table.metadata().location(), n)],
                ..Default::default()
            },
        )
        .await?;
    Ok((produced.requirements, produced.updates))
}

async fn commit_rest(
    http: &reqwest::Client,
    uri: &str,
    ident: &TableIdent,
    requirements: Vec<iceberg::TableRequirement>,
    updates: Vec<iceberg::TableUpdate>,
) -> Result<(), BoxError> {
    let body = serde_json::json!({
        "identifier": ident,
        "requirements": requirements,
        "updates": updates,
    });
    let response = http
        .post(format!(
            "{uri}/v1/namespaces/{}/tables/{}",
            ident.namespace.join("%1F"),
            ident.name
        ))
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    // The client reads the response (the new metadata) as every REST client does.
    let text = response.text().await?;
    if status.as_u16() != 200 {
        return Err(format!("commit failed: {status} {text}").into());
    }
    Ok(())
}

fn median_ms(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

/// Runs the suite.
pub async fn run(quick: bool) -> Result<Report, BoxError> {
    let loads = if quick { 500 } else { 5_000 };
    let commits = if quick { 40 } else { 200 };
    let writers = 4;
    let dir = tempfile::tempdir()?;
    let catalog = RedbCatalog::open(dir.path()).await?;
    let ns = NamespaceIdent::new("bench".into());
    catalog.create_ns(&ns, HashMap::new()).await?;
    let schema = Schema::builder()
        .with_fields(vec![
            NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
        ])
        .build()?;
    let mut idents = Vec::new();
    for t in 0..writers * 2 {
        let creation = TableCreation::builder()
            .name(format!("t{t}"))
            .schema(schema.clone())
            .build();
        idents.push(catalog.create(&ns, creation).await?.identifier().clone());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let served = floe_rest::Server::new(catalog.clone(), Default::default()).spawn(listener)?;
    let uri = served.uri();
    let client = iceberg_catalog_rest::RestCatalogBuilder::default()
        .with_storage_factory(Arc::new(iceberg::io::LocalFsStorageFactory))
        .load("bench", HashMap::from([("uri".to_string(), uri.clone())]))
        .await?;
    let http = reqwest::Client::new();

    // load_table, one at a time: a warm in-process load against a REST round trip.
    let ident = &idents[0];
    // Give the table a few snapshots, so its metadata is not trivially small.
    for n in 0..10 {
        let (req, upd) = produce(&catalog, ident, n).await?;
        catalog.commit_table(ident, req, upd).await?;
    }
    let mut local = Vec::with_capacity(loads);
    let mut remote = Vec::with_capacity(loads);
    for _ in 0..loads {
        let start = Instant::now();
        catalog.load_table(ident).await?;
        local.push(start.elapsed());
        let start = Instant::now();
        client.load_table(ident).await?;
        remote.push(start.elapsed());
    }
    let local_load_ms = median_ms(local.clone());
    let rest_load_ms = median_ms(remote.clone());
    let local_load_ops = loads as f64 / local.iter().sum::<Duration>().as_secs_f64();
    let rest_load_ops = loads as f64 / remote.iter().sum::<Duration>().as_secs_f64();

    // Commits, one at a time, alternating so both see the same machine state.
    let mut local = Vec::with_capacity(commits);
    let mut remote = Vec::with_capacity(commits);
    for k in 0..commits {
        let (req, upd) = produce(&catalog, &idents[1], 1_000 + k).await?;
        let start = Instant::now();
        catalog.commit_table(&idents[1], req, upd).await?;
        local.push(start.elapsed());
        let (req, upd) = produce(&catalog, &idents[2], 1_000 + k).await?;
        let start = Instant::now();
        commit_rest(&http, &uri, &idents[2], req, upd).await?;
        remote.push(start.elapsed());
    }
    let local_commit_ms = median_ms(local);
    let rest_commit_ms = median_ms(remote);

    // Throughput: `writers` concurrent writers, each on its own table.
    let per_writer = commits / 2;
    let throughput = |rest: bool| {
        let catalog = catalog.clone();
        let http = http.clone();
        let uri = uri.clone();
        let tables: Vec<TableIdent> = if rest {
            idents[writers..].to_vec()
        } else {
            idents[..writers].to_vec()
        };
        async move {
            let start = Instant::now();
            let mut tasks = Vec::new();
            for (w, ident) in tables.into_iter().enumerate() {
                let catalog = catalog.clone();
                let http = http.clone();
                let uri = uri.clone();
                tasks.push(tokio::spawn(async move {
                    for k in 0..per_writer {
                        let (req, upd) = produce(&catalog, &ident, 10_000 + w * 10_000 + k).await?;
                        if rest {
                            commit_rest(&http, &uri, &ident, req, upd).await?;
                        } else {
                            catalog.commit_table(&ident, req, upd).await?;
                        }
                    }
                    Ok::<_, BoxError>(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            Ok::<_, BoxError>((writers * per_writer) as f64 / start.elapsed().as_secs_f64())
        }
    };
    let local_tput = throughput(false).await?;
    let rest_tput = throughput(true).await?;

    served.stop().await?;
    catalog.close();

    let mut report = Report::new("rest", quick);
    report.notes.push(format!(
        "one warehouse served on {uri} in this process; 'floe' = through REST, alternative = the same catalog called in process"
    ));
    report.notes.push(format!(
        "{loads} load_table calls (iceberg-rust's REST client), {commits} durable commits each (fast append of one data file; produced outside the timing), {writers} concurrent writers for throughput"
    ));
    report.notes.push(format!(
        "REST commit / in-process commit = {:.2}x (target <= 1.5x)",
        rest_commit_ms / local_commit_ms
    ));
    report.lower_is_better(
        "load_table median latency",
        rest_load_ms,
        "in-process load_table",
        Some(local_load_ms),
        "ms",
        None,
    );
    report.higher_is_better(
        "load_table, one client",
        rest_load_ops,
        "in-process load_table",
        Some(local_load_ops),
        "ops/s",
        None,
    );
    report.lower_is_better(
        "commit median latency",
        rest_commit_ms,
        "in-process commit_table",
        Some(local_commit_ms),
        "ms",
        Some("REST <= 1.5x in-process"),
    );
    report.higher_is_better(
        &format!("commits, {writers} writers"),
        rest_tput,
        "in-process commit_table",
        Some(local_tput),
        "commits/s",
        None,
    );
    Ok(report)
}
