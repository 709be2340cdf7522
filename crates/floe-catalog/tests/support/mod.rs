//! Shared helpers for floe-catalog's integration tests.
#![allow(dead_code)]

use std::collections::HashMap;

use floe_catalog::{RedbCatalog, StagedCommit};
use iceberg::spec::{
    NestedField, Operation, PrimitiveType, Schema, Snapshot, SnapshotReference, SnapshotRetention,
    Summary, TableMetadata, Type,
};
use iceberg::table::Table;
use iceberg::{NamespaceIdent, TableCreation, TableIdent, TableRequirement, TableUpdate};

pub fn ns(name: &str) -> NamespaceIdent {
    NamespaceIdent::from_strs(name.split('.')).unwrap()
}

pub fn tid(ns_name: &str, table: &str) -> TableIdent {
    TableIdent::new(ns(ns_name), table.to_string())
}

pub fn schema() -> Schema {
    Schema::builder()
        .with_fields(vec![
            NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
            NestedField::optional(2, "v", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .unwrap()
}

pub fn creation(name: &str) -> TableCreation {
    TableCreation::builder()
        .name(name.to_string())
        .schema(schema())
        .build()
}

pub async fn open(dir: &std::path::Path) -> RedbCatalog {
    RedbCatalog::open(dir).await.unwrap()
}

/// A catalog over a temp dir with namespace `ns` created.
pub async fn setup() -> (tempfile::TempDir, RedbCatalog) {
    let dir = tempfile::tempdir().unwrap();
    let cat = open(dir.path()).await;
    cat.create_ns(&ns("ns"), HashMap::new()).await.unwrap();
    (dir, cat)
}

pub fn now_ms() -> i64 {
    chrono_now()
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Updates (and requirements) that add a new snapshot on `main`, as a writer would after
/// writing data and manifests. The manifest list path is never read by catalog tests.
pub fn new_snapshot(meta: &TableMetadata) -> (i64, Vec<TableRequirement>, Vec<TableUpdate>) {
    let id = rand::random::<i64>().abs().max(1);
    let parent = meta.current_snapshot_id();
    let snapshot = Snapshot::builder()
        .with_snapshot_id(id)
        .with_parent_snapshot_id(parent)
        .with_sequence_number(meta.next_sequence_number())
        .with_timestamp_ms(now_ms())
        .with_manifest_list(format!("{}/metadata/snap-{id}.avro", meta.location()))
        .with_summary(Summary {
            operation: Operation::Append,
            additional_properties: HashMap::new(),
        })
        .with_schema_id(meta.current_schema_id())
        .build();
    let requirements = vec![
        TableRequirement::UuidMatch { uuid: meta.uuid() },
        TableRequirement::RefSnapshotIdMatch {
            r#ref: "main".into(),
            snapshot_id: parent,
        },
    ];
    let updates = vec![
        TableUpdate::AddSnapshot { snapshot },
        TableUpdate::SetSnapshotRef {
            ref_name: "main".into(),
            reference: SnapshotReference::new(id, SnapshotRetention::branch(None, None, None)),
        },
    ];
    (id, requirements, updates)
}

/// Commits one new snapshot to `ident`; returns its id.
pub async fn append(cat: &RedbCatalog, ident: &TableIdent) -> i64 {
    let table = cat.table(ident).await.unwrap();
    let (id, reqs, updates) = new_snapshot(table.metadata());
    cat.commit_table(ident, reqs, updates).await.unwrap();
    id
}

/// A staged snapshot commit against the table's current version.
pub async fn staged_append(cat: &RedbCatalog, ident: &TableIdent) -> (i64, StagedCommit) {
    let table = cat.table(ident).await.unwrap();
    let (id, requirements, updates) = new_snapshot(table.metadata());
    (
        id,
        cat.stage_commit(&table, &requirements, updates)
            .await
            .unwrap(),
    )
}

pub fn current_snapshot(t: &Table) -> Option<i64> {
    t.metadata().current_snapshot_id()
}
