//! The snapshot producer (append / overwrite / delete / manifest merging), staged
//! creation, and consistent read snapshots.

mod support;

use std::collections::HashSet;

use floe_catalog::{CatalogSnapshot, MANIFEST_MERGE_THRESHOLD, RedbCatalog, SnapshotChange};
use iceberg::TableIdent;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Operation, Struct,
};
use support::*;

fn data_file(table_location: &str, name: &str, rows: u64) -> DataFile {
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(format!("{table_location}/data/{name}.parquet"))
        .file_format(DataFileFormat::Parquet)
        .file_size_in_bytes(100 * rows)
        .record_count(rows)
        .partition(Struct::empty())
        .partition_spec_id(0)
        .build()
        .unwrap()
}

async fn commit(cat: &RedbCatalog, ident: &TableIdent, change: SnapshotChange) -> i64 {
    let table = cat.table(ident).await.unwrap();
    let produced = cat.produce_snapshot(&table, change).await.unwrap();
    cat.commit_table(ident, produced.requirements, produced.updates)
        .await
        .unwrap();
    produced.snapshot_id
}

async fn live_paths(cat: &RedbCatalog, ident: &TableIdent) -> HashSet<String> {
    let t = cat.table(ident).await.unwrap();
    match t.metadata().current_snapshot() {
        None => HashSet::new(),
        Some(s) => {
            let (files, deletes) = cat.live_files(t.metadata(), s).await.unwrap();
            assert!(deletes.is_empty());
            files
                .into_iter()
                .map(|f| f.file.file_path().to_string())
                .collect()
        }
    }
}

async fn summary(cat: &RedbCatalog, ident: &TableIdent, key: &str) -> String {
    let t = cat.table(ident).await.unwrap();
    let s = t.metadata().current_snapshot().unwrap();
    s.summary()
        .additional_properties
        .get(key)
        .cloned()
        .unwrap_or_default()
}

async fn operation(cat: &RedbCatalog, ident: &TableIdent) -> Operation {
    let t = cat.table(ident).await.unwrap();
    t.metadata()
        .current_snapshot()
        .unwrap()
        .summary()
        .operation
        .clone()
}

#[tokio::test]
async fn appends_deletes_and_overwrites_track_live_files_and_totals() {
    let (_d, cat) = setup().await;
    let t = cat.create(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let loc = t.metadata().location().to_string();
    let (a, b, c) = (
        data_file(&loc, "a", 10),
        data_file(&loc, "b", 20),
        data_file(&loc, "c", 5),
    );
    let s1 = commit(
        &cat,
        &ident,
        SnapshotChange {
            added: vec![a.clone(), b.clone()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(operation(&cat, &ident).await, Operation::Append);
    assert_eq!(summary(&cat, &ident, "total-records").await, "30");
    assert_eq!(live_paths(&cat, &ident).await.len(), 2);

    let removed = HashSet::from([a.file_path().to_string()]);
    let table = cat.table(&ident).await.unwrap();
    let produced = cat
        .produce_snapshot(
            &table,
            SnapshotChange {
                removed,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(produced.removed_records, 10);
    cat.commit_table(&ident, produced.requirements, produced.updates)
        .await
        .unwrap();
    assert_eq!(operation(&cat, &ident).await, Operation::Delete);
    assert_eq!(summary(&cat, &ident, "total-records").await, "20");
    assert_eq!(summary(&cat, &ident, "deleted-data-files").await, "1");
    assert_eq!(
        live_paths(&cat, &ident).await,
        HashSet::from([b.file_path().to_string()])
    );

    commit(
        &cat,
        &ident,
        SnapshotChange {
            added: vec![c.clone()],
            removed: HashSet::from([b.file_path().to_string()]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(operation(&cat, &ident).await, Operation::Overwrite);
    assert_eq!(summary(&cat, &ident, "total-records").await, "5");
    assert_eq!(
        live_paths(&cat, &ident).await,
        HashSet::from([c.file_path().to_string()])
    );

    // History is intact: the first snapshot still lists both of its files.
    let t = cat.table(&ident).await.unwrap();
    let first = t.metadata().snapshot_by_id(s1).unwrap();
    let (files, _) = cat.live_files(t.metadata(), first).await.unwrap();
    assert_eq!(files.len(), 2);
}

#[tokio::test]
async fn remove_all_empties_the_table() {
    let (_d, cat) = setup().await;
    let t = cat.create(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let loc = t.metadata().location().to_string();
    commit(
        &cat,
        &ident,
        SnapshotChange {
            added: vec![data_file(&loc, "a", 3)],
            ..Default::default()
        },
    )
    .await;
    commit(
        &cat,
        &ident,
        SnapshotChange {
            added: vec![data_file(&loc, "b", 4)],
            remove_all: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        live_paths(&cat, &ident).await,
        HashSet::from([format!("{loc}/data/b.parquet")])
    );
    assert_eq!(summary(&cat, &ident, "total-records").await, "4");
}

#[tokio::test]
async fn removing_a_file_that_is_not_live_is_a_conflict() {
    let (_d, cat) = setup().await;
    let t = cat.create(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let loc = t.metadata().location().to_string();
    commit(
        &cat,
        &ident,
        SnapshotChange {
            added: vec![data_file(&loc, "a", 3)],
            ..Default::default()
        },
    )
    .await;
    let table = cat.table(&ident).await.unwrap();
    let err = cat
        .produce_snapshot(
            &table,
            SnapshotChange {
                removed: HashSet::from(["nope.parquet".to_string()]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("'nope.parquet' is no longer part of the table"),
        "{err}"
    );
}

#[tokio::test]
async fn manifests_are_merged_so_planning_stays_bounded() {
    let (_d, cat) = setup().await;
    let t = cat.create(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let loc = t.metadata().location().to_string();
    let n = MANIFEST_MERGE_THRESHOLD + 5;
    for i in 0..n {
        commit(
            &cat,
            &ident,
            SnapshotChange {
                added: vec![data_file(&loc, &format!("f{i}"), 1)],
                ..Default::default()
            },
        )
        .await;
    }
    let t = cat.table(&ident).await.unwrap();
    let snap = t.metadata().current_snapshot().unwrap();
    let list = cat.manifest_list(t.metadata(), snap).await.unwrap();
    assert!(
        list.entries().len() <= MANIFEST_MERGE_THRESHOLD,
        "{} manifests",
        list.entries().len()
    );
    assert_eq!(live_paths(&cat, &ident).await.len(), n);
    assert_eq!(summary(&cat, &ident, "total-records").await, n.to_string());
}

#[tokio::test]
async fn stale_producer_output_conflicts_at_commit() {
    let (_d, cat) = setup().await;
    let t = cat.create(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let loc = t.metadata().location().to_string();
    let base = cat.table(&ident).await.unwrap();
    let stale = cat
        .produce_snapshot(
            &base,
            SnapshotChange {
                added: vec![data_file(&loc, "x", 1)],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    commit(
        &cat,
        &ident,
        SnapshotChange {
            added: vec![data_file(&loc, "y", 1)],
            ..Default::default()
        },
    )
    .await;
    let err = cat
        .commit_table(&ident, stale.requirements, stale.updates)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(
        live_paths(&cat, &ident).await,
        HashSet::from([format!("{loc}/data/y.parquet")])
    );
}

#[tokio::test]
async fn staged_create_appears_with_its_first_snapshot_in_one_step() {
    let (_d, cat) = setup().await;
    let staged = cat.stage_create(&ns("ns"), creation("ctas")).await.unwrap();
    let ident = tid("ns", "ctas");
    assert!(!cat.contains_table(&ident));
    let loc = staged.metadata().location().to_string();
    let produced = cat
        .produce_snapshot(
            &staged,
            SnapshotChange {
                added: vec![data_file(&loc, "a", 7)],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!cat.contains_table(&ident));
    let t = cat.commit_create(&staged, produced.updates).await.unwrap();
    assert_eq!(
        t.metadata().current_snapshot_id(),
        Some(produced.snapshot_id)
    );
    assert_eq!(
        cat.table_record(&ident).unwrap().snapshot_id,
        Some(produced.snapshot_id)
    );
    assert_eq!(live_paths(&cat, &ident).await.len(), 1);
    let log = cat.commits(0, 10).await.unwrap();
    assert_eq!(log.len(), 1, "creation with data is one pointer move");
    // Time travel to the first snapshot works like for any commit.
    cat.metadata_at_snapshot(&ident, produced.snapshot_id)
        .await
        .unwrap();
}

#[tokio::test]
async fn staged_create_fails_if_the_name_was_taken_meanwhile() {
    let (_d, cat) = setup().await;
    let staged = cat.stage_create(&ns("ns"), creation("t")).await.unwrap();
    cat.create(&ns("ns"), creation("t")).await.unwrap();
    let err = cat.commit_create(&staged, vec![]).await.unwrap_err();
    assert!(
        err.to_string().contains("table 'ns.t' already exists"),
        "{err}"
    );
}

#[tokio::test]
async fn read_snapshots_are_consistent_across_later_commits() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let (_d, cat) = setup().await;
    cat.create(&ns("ns"), creation("a")).await.unwrap();
    let before: CatalogSnapshot = cat.read_snapshot().unwrap();
    assert_send_sync(&before);
    let id = append(&cat, &tid("ns", "a")).await;
    cat.create(&ns("ns"), creation("b")).await.unwrap();
    assert_eq!(
        before.table(&tid("ns", "a")).unwrap().unwrap().snapshot_id,
        None
    );
    assert!(before.table(&tid("ns", "b")).unwrap().is_none());
    let after = cat.read_snapshot().unwrap();
    assert_eq!(
        after.table(&tid("ns", "a")).unwrap().unwrap().snapshot_id,
        Some(id)
    );
}
