//! `catalog`: floe's `RedbCatalog` against iceberg-rust's `SqlCatalog` on a SQLite file
//! and `MemoryCatalog`, same workload, same process: `table_exists`, warm and cold
//! `load_table`, `list_tables` over 1,000 tables, a durable single-table commit (fast
//! append of one small data file), a 10-table atomic release against 10 sequential
//! commits, and read scaling from 1 to 2 threads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_catalog::{RedbCatalog, SnapshotChange};
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, NestedField, PrimitiveType, Schema,
    Struct, Type,
};
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation, TableIdent};

use crate::report::Report;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn schema() -> Schema {
    Schema::builder()
        .with_fields(vec![
            NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
            NestedField::optional(2, "v", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .expect("static schema")
}

/// A data file entry for a fast append (the file itself is never read).
pub(crate) fn data_file(table_location: &str, n: usize) -> DataFile {
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(format!("{table_location}/data/bench-{n}.parquet"))
        .file_format(DataFileFormat::Parquet)
        .file_size_in_bytes(1024)
        .record_count(10)
        .partition(Struct::empty())
        .partition_spec_id(0)
        .build()
        .expect("static data file")
}

/// Numbers of one catalog.
#[derive(Debug, Default, Clone)]
struct Numbers {
    exists_ops: f64,
    load_ops: f64,
    cold_load_ms: Option<f64>,
    list_ms: f64,
    commit_ms: f64,
}

async fn ops_per_sec<F, Fut>(duration: Duration, mut f: F) -> f64
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < duration {
        for _ in 0..64 {
            f(n).await;
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// The shared part of the workload, through the `iceberg::Catalog` trait.
async fn workload<C: Catalog>(
    catalog: &C,
    tables: usize,
    read_time: Duration,
    commits: usize,
) -> Result<(Numbers, Vec<TableIdent>), BoxError> {
    let ns = NamespaceIdent::new("bench".into());
    catalog.create_namespace(&ns, HashMap::new()).await?;
    for i in 0..tables {
        let c = TableCreation::builder()
            .name(format!("t{i}"))
            .schema(schema())
            .build();
        catalog.create_table(&ns, c).await?;
    }
    let idents: Vec<TableIdent> = (0..tables)
        .map(|i| TableIdent::new(ns.clone(), format!("t{i}")))
        .collect();
    for id in &idents {
        catalog.load_table(id).await?;
    }
    let exists_ops = ops_per_sec(read_time, |k| {
        let id = &idents[(k * 7919) % idents.len()];
        async move {
            let _ = catalog.table_exists(id).await;
        }
    })
    .await;
    let load_ops = ops_per_sec(read_time, |k| {
        let id = &idents[(k * 7919) % idents.len()];
        async move {
            let _ = catalog.load_table(id).await;
        }
    })
    .await;
    let mut numbers = Numbers {
        exists_ops,
        load_ops,
        ..Default::default()
    };
    let mut list = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let listed = catalog.list_tables(&ns).await?;
        list.push(start.elapsed());
        assert_eq!(listed.len(), tables);
    }
    list.sort();
    numbers.list_ms = list[list.len() / 2].as_secs_f64() * 1e3;
    // Durable commits: a fast append of one small data file each, to rotating tables.
    let start = Instant::now();
    for k in 0..commits {
        let table = catalog.load_table(&idents[k % idents.len()]).await?;
        let file = data_file(table.metadata().location(), k);
        let tx = Transaction::new(&table);
        let tx = tx.fast_append().add_data_files(vec![file]).apply(tx)?;
        tx.commit(catalog).await?;
    }
    numbers.commit_ms = start.elapsed().as_secs_f64() * 1e3 / commits as f64;
    Ok((numbers, idents))
}

/// floe's commit path as floe-sql uses it: produce the snapshot, then commit.
/// One durable fast append through floe's snapshot producer; returns the time of the
/// commit step alone (new metadata file, durability barrier, one redb transaction).
async fn floe_commit(
    catalog: &RedbCatalog,
    ident: &TableIdent,
    k: usize,
) -> Result<Duration, BoxError> {
    let table = catalog.table(ident).await?;
    let file = data_file(table.metadata().location(), k);
    let produced = catalog
        .produce_snapshot(
            &table,
            SnapshotChange {
                added: vec![file],
                ..Default::default()
            },
        )
        .await?;
    let start = Instant::now();
    catalog
        .commit_table(ident, produced.requirements, produced.updates)
        .await?;
    Ok(start.elapsed())
}

/// Total ops/s of `tasks` tasks each running `table_exists` (or a warm `load_table`)
/// over the tables for `duration`. Each task owns its handle and names and borrows them
/// per operation: no reference count is shared between the tasks.
async fn read_tasks(
    floe: &RedbCatalog,
    idents: &[TableIdent],
    tasks: usize,
    duration: Duration,
    load: bool,
) -> Result<f64, BoxError> {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let floe = floe.clone();
        let idents = idents.to_vec();
        handles.push(tokio::spawn(async move {
            let (floe, idents) = (&floe, &idents);
            ops_per_sec(duration, |k| {
                let id = &idents[(k * 7919 + t) % idents.len()];
                async move {
                    if load {
                        let _ = floe.load_table(id).await;
                    } else {
                        let _ = floe.table_exists(id).await;
                    }
                }
            })
            .await
        }));
    }
    let mut total = 0.0;
    for h in handles {
        total += h.await?;
    }
    Ok(total)
}

/// Runs the suite.
pub async fn run(quick: bool) -> Result<Report, BoxError> {
    let tables = 1000;
    let read_time = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3)
    };
    let commits = if quick { 50 } else { 200 };
    let dir = tempfile::tempdir()?;
    let mut report = Report::new("catalog", quick);
    report.notes.push(format!(
        "{tables} tables; reads run {:.1}s each; {commits} durable commits (fast append of one data file)",
        read_time.as_secs_f64()
    ));

    // floe.
    let floe_dir = dir.path().join("floe");
    let floe = RedbCatalog::open(&floe_dir).await?;
    let (mut f, idents) = workload(&floe, tables, read_time, commits).await?;
    // floe's own commit path (the one SQL writes use), for the same measurement.
    let start = Instant::now();
    let mut commit_steps = Duration::ZERO;
    for k in 0..commits {
        commit_steps += floe_commit(&floe, &idents[k % idents.len()], commits + k).await?;
    }
    let floe_native_commit_ms = start.elapsed().as_secs_f64() * 1e3 / commits as f64;
    let commit_step_ms = commit_steps.as_secs_f64() * 1e3 / commits as f64;
    // 10-table release vs 10 sequential commits.
    let rounds = if quick { 10 } else { 40 };
    let mut release_total = Duration::ZERO;
    let mut publish_total = Duration::ZERO;
    let mut sequential_total = Duration::ZERO;
    for r in 0..rounds {
        let group: Vec<TableIdent> = (0..10)
            .map(|i| idents[(r * 10 + i) % idents.len()].clone())
            .collect();
        let start = Instant::now();
        let staged = futures::future::try_join_all(group.iter().enumerate().map(|(i, ident)| {
            let floe = floe.clone();
            async move {
                let table = floe.table(ident).await?;
                let file = data_file(table.metadata().location(), 100_000 + r * 10 + i);
                let produced = floe
                    .produce_snapshot(
                        &table,
                        SnapshotChange {
                            added: vec![file],
                            ..Default::default()
                        },
                    )
                    .await?;
                floe.stage_commit(&table, &produced.requirements, produced.updates)
                    .await
            }
        }))
        .await?;
        let publish = Instant::now();
        floe.publish_release(Some(&format!("bench-{r}")), None, staged)
            .await?;
        publish_total += publish.elapsed();
        release_total += start.elapsed();
        let start = Instant::now();
        for (i, ident) in group.iter().enumerate() {
            floe_commit(&floe, ident, 200_000 + r * 10 + i).await?;
        }
        sequential_total += start.elapsed();
    }
    let release_ms = release_total.as_secs_f64() * 1e3 / rounds as f64;
    let publish_ms = publish_total.as_secs_f64() * 1e3 / rounds as f64;
    let sequential_ms = sequential_total.as_secs_f64() * 1e3 / rounds as f64;
    // Read scaling: the same read loop on 1 and then 2 tasks of the multi-threaded
    // runtime (both measured the same way, so the ratio is the scaling alone).
    let exists_1 = read_tasks(&floe, &idents, 1, read_time, false).await?;
    let exists_2 = read_tasks(&floe, &idents, 2, read_time, false).await?;
    let load_1 = read_tasks(&floe, &idents, 1, read_time, true).await?;
    let load_2 = read_tasks(&floe, &idents, 2, read_time, true).await?;
    // Cold loads: reopen, then the first load of each table reads its metadata file.
    drop(floe);
    let floe = RedbCatalog::open(&floe_dir).await?;
    let start = Instant::now();
    for id in idents.iter().take(200) {
        floe.load_table(id).await?;
    }
    f.cold_load_ms = Some(start.elapsed().as_secs_f64() * 1e3 / 200.0);
    drop(floe);

    // SqlCatalog on SQLite.
    sqlx::any::install_default_drivers();
    let sqlite = dir.path().join("sql.db");
    std::fs::File::create(&sqlite)?;
    let sql_builder = || {
        iceberg_catalog_sql::SqlCatalogBuilder::default()
            .uri(format!("sqlite://{}", sqlite.display()))
            .warehouse_location(format!("file://{}", dir.path().join("sql-wh").display()))
            .sql_bind_style(iceberg_catalog_sql::SqlBindStyle::QMark)
            .with_storage_factory(Arc::new(iceberg::io::LocalFsStorageFactory))
    };
    let sql = sql_builder().load("sql", HashMap::new()).await?;
    let (mut s, sql_idents) = workload(&sql, tables, read_time, commits).await?;
    drop(sql);
    let sql = sql_builder().load("sql", HashMap::new()).await?;
    let start = Instant::now();
    for id in sql_idents.iter().take(200) {
        sql.load_table(id).await?;
    }
    s.cold_load_ms = Some(start.elapsed().as_secs_f64() * 1e3 / 200.0);

    // MemoryCatalog (no durability, no reopen).
    let mem = iceberg::memory::MemoryCatalogBuilder::default()
        .with_storage_factory(Arc::new(iceberg::io::LocalFsStorageFactory))
        .load(
            "memory",
            HashMap::from([(
                "warehouse".to_string(),
                format!("file://{}", dir.path().join("mem-wh").display()),
            )]),
        )
        .await?;
    let (m, _) = workload(&mem, tables, read_time, commits).await?;

    report.higher_is_better(
        "table_exists",
        f.exists_ops,
        "SqlCatalog (SQLite)",
        Some(s.exists_ops),
        "ops/s",
        Some(">= 50x"),
    );
    report.higher_is_better(
        "table_exists",
        f.exists_ops,
        "MemoryCatalog",
        Some(m.exists_ops),
        "ops/s",
        None,
    );
    report.higher_is_better(
        "load_table (warm)",
        f.load_ops,
        "SqlCatalog (SQLite)",
        Some(s.load_ops),
        "ops/s",
        Some(">= 20x"),
    );
    report.higher_is_better(
        "load_table (warm)",
        f.load_ops,
        "MemoryCatalog",
        Some(m.load_ops),
        "ops/s",
        None,
    );
    report.lower_is_better(
        "load_table (cold, after reopen)",
        f.cold_load_ms.unwrap_or_default(),
        "SqlCatalog (SQLite)",
        s.cold_load_ms,
        "ms",
        None,
    );
    report.lower_is_better(
        "list_tables (1000 tables)",
        f.list_ms,
        "SqlCatalog (SQLite)",
        Some(s.list_ms),
        "ms",
        None,
    );
    report.lower_is_better(
        "list_tables (1000 tables)",
        f.list_ms,
        "MemoryCatalog",
        Some(m.list_ms),
        "ms",
        None,
    );
    report.lower_is_better(
        "durable commit (Transaction::fast_append)",
        f.commit_ms,
        "SqlCatalog (SQLite)",
        Some(s.commit_ms),
        "ms",
        Some("no slower than SqlCatalog"),
    );
    report.lower_is_better(
        "durable commit (floe snapshot producer)",
        floe_native_commit_ms,
        "SqlCatalog (SQLite)",
        Some(s.commit_ms),
        "ms",
        Some("no slower than SqlCatalog"),
    );
    report.lower_is_better(
        "10-table release: publish step [1 barrier over 30 staged files, 1 redb txn]",
        publish_ms,
        "one table's commit step [metadata file, barrier, redb txn]",
        Some(commit_step_ms),
        "ms",
        Some("<= 2x one commit (ratio >= 0.5)"),
    );
    report.lower_is_better(
        "10-table release: publish step",
        publish_ms,
        "one single-table commit, whole (snapshot producer)",
        Some(floe_native_commit_ms),
        "ms",
        Some("<= 2x one commit (ratio >= 0.5)"),
    );
    report.lower_is_better(
        "10-table release, end to end (staging 10 tables included)",
        release_ms,
        "one single-table commit",
        Some(floe_native_commit_ms),
        "ms",
        None,
    );
    report.lower_is_better(
        "10-table release, end to end",
        release_ms,
        "10 sequential commits",
        Some(sequential_ms),
        "ms",
        None,
    );
    report.higher_is_better(
        "table_exists, 2 threads",
        exists_2,
        "same, 1 thread",
        Some(exists_1),
        "ops/s",
        Some("scales (> 1x)"),
    );
    report.higher_is_better(
        "load_table (warm), 2 threads",
        load_2,
        "same, 1 thread",
        Some(load_1),
        "ops/s",
        Some("scales (> 1x)"),
    );
    Ok(report)
}
