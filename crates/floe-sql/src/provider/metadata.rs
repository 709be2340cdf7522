//! Per-table metadata tables (Trino / iceberg-datafusion convention, quoted `$` suffix):
//! `"t$snapshots"`, `$history`, `$refs`, `$files`, `$manifests`, `$partitions`,
//! `$properties`; and the catalog-wide `floe.system` tables `releases`,
//! `release_tables`, `commits`. Each is built when a statement names it, from the same
//! table version the statement reads (time travel works on `$files`, `$manifests` and
//! `$partitions`).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, MapBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::TableType;
use datafusion::physical_plan::ExecutionPlan;
use floe_catalog::RedbCatalog;
use iceberg::spec::{DataContentType, ManifestContentType};
use iceberg::table::Table;

use crate::error::to_df;
use crate::session::SessionShared;

/// Names of the per-table metadata tables.
pub const METADATA_TABLES: &[&str] = &[
    "snapshots",
    "history",
    "refs",
    "files",
    "manifests",
    "partitions",
    "properties",
];

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()))
}

fn ts(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(values).with_timezone("+00:00"))
}

fn table(
    columns: Vec<(&str, DataType, bool)>,
    arrays: Vec<ArrayRef>,
) -> Result<Arc<dyn TableProvider>> {
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .into_iter()
            .map(|(n, t, nullable)| Field::new(n, t, nullable))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

fn string_map(rows: &[BTreeMap<String, String>]) -> Result<ArrayRef> {
    let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for row in rows {
        for (k, v) in row {
            b.keys().append_value(k);
            b.values().append_value(v);
        }
        b.append(true)?;
    }
    Ok(Arc::new(b.finish()))
}

fn map_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(
                vec![
                    Field::new("keys", DataType::Utf8, false),
                    Field::new("values", DataType::Utf8, true),
                ]
                .into(),
            ),
            false,
        )),
        false,
    )
}

/// A metadata or system table: readable like any table; INSERT, DELETE, UPDATE and
/// TRUNCATE are refused with an error naming it (they would otherwise change only the
/// in-memory copy the statement built, and report success).
#[derive(Debug)]
struct ReadOnly {
    name: String,
    inner: Arc<dyn TableProvider>,
}

impl ReadOnly {
    fn wrap(name: String, inner: Arc<dyn TableProvider>) -> Arc<dyn TableProvider> {
        Arc::new(Self { name, inner })
    }

    fn refuse<T>(&self, what: &str) -> Result<T> {
        plan_err!(
            "cannot {what} '{}': metadata and system tables are read-only",
            self.name
        )
    }
}

#[async_trait]
impl TableProvider for ReadOnly {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::prelude::Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&datafusion::prelude::Expr],
    ) -> Result<Vec<datafusion::logical_expr::TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn insert_into(
        &self,
        _state: &dyn datafusion::catalog::Session,
        _input: Arc<dyn ExecutionPlan>,
        _op: datafusion::logical_expr::dml::InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.refuse("insert into")
    }

    async fn delete_from(
        &self,
        _state: &dyn datafusion::catalog::Session,
        _filters: Vec<datafusion::prelude::Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.refuse("delete from")
    }

    async fn update(
        &self,
        _state: &dyn datafusion::catalog::Session,
        _assignments: Vec<(String, datafusion::prelude::Expr)>,
        _filters: Vec<datafusion::prelude::Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.refuse("update")
    }

    async fn truncate(
        &self,
        _state: &dyn datafusion::catalog::Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.refuse("truncate")
    }
}

/// Metadata table `kind` of `table` at `snapshot` (`None`: no snapshot); read-only.
pub async fn metadata_table(
    catalog: &RedbCatalog,
    name: &str,
    table_version: &Table,
    snapshot: Option<i64>,
    kind: &str,
) -> Result<Arc<dyn TableProvider>> {
    let inner = build_metadata_table(catalog, name, table_version, snapshot, kind).await?;
    Ok(ReadOnly::wrap(name.to_string(), inner))
}

async fn build_metadata_table(
    catalog: &RedbCatalog,
    name: &str,
    table_version: &Table,
    snapshot: Option<i64>,
    kind: &str,
) -> Result<Arc<dyn TableProvider>> {
    let md = table_version.metadata();
    match kind {
        "snapshots" => {
            let mut snaps: Vec<_> = md.snapshots().collect();
            snaps.sort_by_key(|s| (s.timestamp_ms(), s.sequence_number()));
            let summaries: Vec<BTreeMap<String, String>> = snaps
                .iter()
                .map(|s| {
                    s.summary()
                        .additional_properties
                        .clone()
                        .into_iter()
                        .collect()
                })
                .collect();
            table(
                vec![
                    ("committed_at", ts_type(), false),
                    ("snapshot_id", DataType::Int64, false),
                    ("parent_id", DataType::Int64, true),
                    ("operation", DataType::Utf8, true),
                    ("manifest_list", DataType::Utf8, true),
                    ("summary", map_type(), true),
                ],
                vec![
                    ts(snaps.iter().map(|s| Some(s.timestamp_ms())).collect()),
                    Arc::new(Int64Array::from(
                        snaps.iter().map(|s| s.snapshot_id()).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        snaps
                            .iter()
                            .map(|s| s.parent_snapshot_id())
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        snaps
                            .iter()
                            .map(|s| Some(s.summary().operation.as_str().to_string()))
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        snaps
                            .iter()
                            .map(|s| floe_catalog::manifest_list_file(s).map(str::to_string))
                            .collect::<Vec<_>>(),
                    )),
                    string_map(&summaries)?,
                ],
            )
        }
        "history" => {
            let mut ancestors = std::collections::HashSet::new();
            let mut cur = md.current_snapshot_id();
            while let Some(id) = cur {
                if !ancestors.insert(id) {
                    break;
                }
                cur = md.snapshot_by_id(id).and_then(|s| s.parent_snapshot_id());
            }
            let log = md.history();
            table(
                vec![
                    ("made_current_at", ts_type(), false),
                    ("snapshot_id", DataType::Int64, false),
                    ("parent_id", DataType::Int64, true),
                    ("is_current_ancestor", DataType::Boolean, false),
                ],
                vec![
                    ts(log.iter().map(|e| Some(e.timestamp_ms)).collect()),
                    Arc::new(Int64Array::from(
                        log.iter().map(|e| e.snapshot_id).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        log.iter()
                            .map(|e| {
                                md.snapshot_by_id(e.snapshot_id)
                                    .and_then(|s| s.parent_snapshot_id())
                            })
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(BooleanArray::from(
                        log.iter()
                            .map(|e| ancestors.contains(&e.snapshot_id))
                            .collect::<Vec<_>>(),
                    )),
                ],
            )
        }
        "refs" => {
            let refs = floe_catalog::refs(md);
            use iceberg::spec::SnapshotRetention as R;
            let (mut age, mut min_keep, mut max_age) = (Vec::new(), Vec::new(), Vec::new());
            for (_, r) in &refs {
                match &r.retention {
                    R::Branch {
                        min_snapshots_to_keep,
                        max_snapshot_age_ms,
                        max_ref_age_ms,
                    } => {
                        age.push(*max_ref_age_ms);
                        min_keep.push(min_snapshots_to_keep.map(i64::from));
                        max_age.push(*max_snapshot_age_ms);
                    }
                    R::Tag { max_ref_age_ms } => {
                        age.push(*max_ref_age_ms);
                        min_keep.push(None);
                        max_age.push(None);
                    }
                }
            }
            table(
                vec![
                    ("name", DataType::Utf8, false),
                    ("type", DataType::Utf8, false),
                    ("snapshot_id", DataType::Int64, false),
                    ("max_reference_age_in_ms", DataType::Int64, true),
                    ("min_snapshots_to_keep", DataType::Int64, true),
                    ("max_snapshot_age_in_ms", DataType::Int64, true),
                ],
                vec![
                    Arc::new(StringArray::from(
                        refs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        refs.iter()
                            .map(|(_, r)| if r.is_branch() { "BRANCH" } else { "TAG" }.to_string())
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        refs.iter().map(|(_, r)| r.snapshot_id).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(age)),
                    Arc::new(Int64Array::from(min_keep)),
                    Arc::new(Int64Array::from(max_age)),
                ],
            )
        }
        "properties" => {
            let props: BTreeMap<&String, &String> = md.properties().iter().collect();
            table(
                vec![
                    ("key", DataType::Utf8, false),
                    ("value", DataType::Utf8, true),
                ],
                vec![
                    Arc::new(StringArray::from(
                        props.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        props.values().map(|v| v.to_string()).collect::<Vec<_>>(),
                    )),
                ],
            )
        }
        "files" | "manifests" | "partitions" => {
            let manifests = match snapshot.and_then(|id| md.snapshot_by_id(id)) {
                Some(s) => catalog
                    .manifest_list(md, s)
                    .await
                    .map_err(to_df)?
                    .entries()
                    .to_vec(),
                None => Vec::new(),
            };
            let schema = md.current_schema().clone();
            if kind == "manifests" {
                let content = |m: &iceberg::spec::ManifestFile| match m.content {
                    ManifestContentType::Data => 0,
                    ManifestContentType::Deletes => 1,
                };
                let cnt = |v: Option<u32>| v.map(i64::from);
                let rows = |v: Option<u64>| v.map(|x| x as i64);
                return table(
                    vec![
                        ("content", DataType::Int32, false),
                        ("path", DataType::Utf8, false),
                        ("length", DataType::Int64, false),
                        ("partition_spec_id", DataType::Int32, false),
                        ("added_snapshot_id", DataType::Int64, false),
                        ("added_files_count", DataType::Int64, true),
                        ("existing_files_count", DataType::Int64, true),
                        ("deleted_files_count", DataType::Int64, true),
                        ("added_rows_count", DataType::Int64, true),
                        ("existing_rows_count", DataType::Int64, true),
                        ("deleted_rows_count", DataType::Int64, true),
                    ],
                    vec![
                        Arc::new(Int32Array::from(
                            manifests.iter().map(content).collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            manifests
                                .iter()
                                .map(|m| m.manifest_path.clone())
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            manifests
                                .iter()
                                .map(|m| m.manifest_length)
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int32Array::from(
                            manifests
                                .iter()
                                .map(|m| m.partition_spec_id)
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            manifests
                                .iter()
                                .map(|m| m.added_snapshot_id)
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            manifests
                                .iter()
                                .map(|m| cnt(m.added_files_count))
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            manifests
                                .iter()
                                .map(|m| cnt(m.existing_files_count))
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            manifests
                                .iter()
                                .map(|m| cnt(m.deleted_files_count))
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            manifests
                                .iter()
                                .map(|m| rows(m.added_rows_count))
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            manifests
                                .iter()
                                .map(|m| rows(m.existing_rows_count))
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            manifests
                                .iter()
                                .map(|m| rows(m.deleted_rows_count))
                                .collect::<Vec<_>>(),
                        )),
                    ],
                );
            }
            // Live entries of the snapshot.
            struct Entry {
                content: i32,
                path: String,
                format: String,
                spec: i32,
                partition: String,
                records: i64,
                size: i64,
                equality_ids: Option<String>,
                referenced: Option<String>,
                offset: Option<i64>,
                blob_size: Option<i64>,
            }
            let mut entries = Vec::new();
            for mf in &manifests {
                let manifest = catalog.manifest(md, mf).await.map_err(to_df)?;
                let spec = md.partition_spec_by_id(mf.partition_spec_id).cloned();
                for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                    let f = e.data_file();
                    let partition = match &spec {
                        Some(s) if !s.is_unpartitioned() => {
                            s.partition_to_path(f.partition(), schema.clone())
                        }
                        _ => String::new(),
                    };
                    entries.push(Entry {
                        content: match f.content_type() {
                            DataContentType::Data => 0,
                            DataContentType::PositionDeletes => 1,
                            DataContentType::EqualityDeletes => 2,
                        },
                        path: f.file_path().to_string(),
                        format: format!("{:?}", f.file_format()).to_uppercase(),
                        spec: mf.partition_spec_id,
                        partition,
                        records: f.record_count() as i64,
                        size: f.file_size_in_bytes() as i64,
                        equality_ids: f.equality_ids().filter(|ids| !ids.is_empty()).map(|ids| {
                            ids.iter()
                                .map(|i| i.to_string())
                                .collect::<Vec<_>>()
                                .join(",")
                        }),
                        referenced: f.referenced_data_file(),
                        offset: f.content_offset(),
                        blob_size: f.content_size_in_bytes(),
                    });
                }
            }
            if kind == "files" {
                entries.sort_by(|a, b| a.path.cmp(&b.path));
                return table(
                    vec![
                        ("content", DataType::Int32, false),
                        ("file_path", DataType::Utf8, false),
                        ("file_format", DataType::Utf8, false),
                        ("spec_id", DataType::Int32, false),
                        ("partition", DataType::Utf8, false),
                        ("record_count", DataType::Int64, false),
                        ("file_size_in_bytes", DataType::Int64, false),
                        ("equality_ids", DataType::Utf8, true),
                        ("referenced_data_file", DataType::Utf8, true),
                        ("content_offset", DataType::Int64, true),
                        ("content_size_in_bytes", DataType::Int64, true),
                    ],
                    vec![
                        Arc::new(Int32Array::from(
                            entries.iter().map(|e| e.content).collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            entries.iter().map(|e| e.path.clone()).collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            entries.iter().map(|e| e.format.clone()).collect::<Vec<_>>(),
                        )),
                        Arc::new(Int32Array::from(
                            entries.iter().map(|e| e.spec).collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            entries
                                .iter()
                                .map(|e| e.partition.clone())
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            entries.iter().map(|e| e.records).collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            entries.iter().map(|e| e.size).collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            entries
                                .iter()
                                .map(|e| e.equality_ids.clone())
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            entries
                                .iter()
                                .map(|e| e.referenced.clone())
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            entries.iter().map(|e| e.offset).collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            entries.iter().map(|e| e.blob_size).collect::<Vec<_>>(),
                        )),
                    ],
                );
            }
            let mut parts: BTreeMap<(i32, String), (i64, i64, i64)> = BTreeMap::new();
            for e in entries.iter().filter(|e| e.content == 0) {
                let p = parts.entry((e.spec, e.partition.clone())).or_default();
                p.0 += e.records;
                p.1 += 1;
                p.2 += e.size;
            }
            table(
                vec![
                    ("partition", DataType::Utf8, false),
                    ("spec_id", DataType::Int32, false),
                    ("record_count", DataType::Int64, false),
                    ("file_count", DataType::Int64, false),
                    ("total_size", DataType::Int64, false),
                ],
                vec![
                    Arc::new(StringArray::from(
                        parts.keys().map(|(_, p)| p.clone()).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int32Array::from(
                        parts.keys().map(|(s, _)| *s).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        parts.values().map(|v| v.0).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        parts.values().map(|v| v.1).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        parts.values().map(|v| v.2).collect::<Vec<_>>(),
                    )),
                ],
            )
        }
        other => plan_err!(
            "table '{}' has no metadata table '${other}'; available: {}",
            name.rsplit_once('$').map(|(b, _)| b).unwrap_or(name),
            METADATA_TABLES
                .iter()
                .map(|k| format!("${k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The `floe.system` schema: releases, release_tables, commits, procedures.
#[derive(Debug)]
pub struct SystemSchemaProvider {
    shared: Arc<SessionShared>,
}

/// Name of the system schema (reserved).
pub const SYSTEM_SCHEMA: &str = "system";
const SYSTEM_TABLES: &[&str] = &["commits", "procedures", "release_tables", "releases"];

impl SystemSchemaProvider {
    /// The system schema of a session.
    pub fn new(shared: Arc<SessionShared>) -> Self {
        Self { shared }
    }
}

#[async_trait]
impl SchemaProvider for SystemSchemaProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        SYSTEM_TABLES.iter().map(|s| s.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self
            .build(name)
            .await?
            .map(|t| ReadOnly::wrap(format!("{SYSTEM_SCHEMA}.{name}"), t)))
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        Ok(SYSTEM_TABLES.contains(&name).then_some(TableType::View))
    }

    fn table_exist(&self, name: &str) -> bool {
        SYSTEM_TABLES.contains(&name)
    }
}

impl SystemSchemaProvider {
    async fn build(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let catalog = &self.shared.engine.catalog;
        match name {
            "releases" => {
                let rs = catalog.releases().await.map_err(to_df)?;
                Ok(Some(table(
                    vec![
                        ("name", DataType::Utf8, false),
                        ("release_id", DataType::Int64, false),
                        ("created_at", ts_type(), false),
                        ("message", DataType::Utf8, true),
                        ("table_count", DataType::Int64, false),
                        ("kind", DataType::Utf8, false),
                    ],
                    vec![
                        Arc::new(StringArray::from(
                            rs.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            rs.iter().map(|r| r.id as i64).collect::<Vec<_>>(),
                        )),
                        ts(rs.iter().map(|r| Some(r.created_at_ms)).collect()),
                        Arc::new(StringArray::from(
                            rs.iter().map(|r| r.message.clone()).collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            rs.iter().map(|r| r.table_count as i64).collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            rs.iter()
                                .map(|r| r.kind.as_str().to_string())
                                .collect::<Vec<_>>(),
                        )),
                    ],
                )?))
            }
            "release_tables" => {
                let mut rows = Vec::new();
                for r in catalog.releases().await.map_err(to_df)? {
                    for e in catalog.release_tables(&r.name).await.map_err(to_df)? {
                        rows.push((r.name.clone(), r.id as i64, e));
                    }
                }
                Ok(Some(table(
                    vec![
                        ("release", DataType::Utf8, false),
                        ("release_id", DataType::Int64, false),
                        ("table", DataType::Utf8, false),
                        ("table_uuid", DataType::Utf8, false),
                        ("snapshot_id", DataType::Int64, true),
                        ("metadata_location", DataType::Utf8, false),
                    ],
                    vec![
                        Arc::new(StringArray::from(
                            rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            rows.iter()
                                .map(|r| floe_catalog::ident::table_display(&r.2.ident()))
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            rows.iter()
                                .map(|r| r.2.table_uuid.clone())
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            rows.iter().map(|r| r.2.snapshot_id).collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            rows.iter()
                                .map(|r| r.2.metadata_location.clone())
                                .collect::<Vec<_>>(),
                        )),
                    ],
                )?))
            }
            "commits" => {
                let mut log = Vec::new();
                let mut after = 0;
                loop {
                    let page = catalog.commits(after, 10_000).await.map_err(to_df)?;
                    let Some(last) = page.last() else { break };
                    after = last.seq;
                    log.extend(page);
                }
                let tname = |ns: &[String], t: &str| format!("{}.{t}", ns.join("."));
                Ok(Some(table(
                    vec![
                        ("seq", DataType::Int64, false),
                        ("committed_at", ts_type(), false),
                        ("operation", DataType::Utf8, false),
                        ("table", DataType::Utf8, false),
                        ("table_uuid", DataType::Utf8, false),
                        ("snapshot_id", DataType::Int64, true),
                        ("metadata_location", DataType::Utf8, true),
                        ("previous_metadata_location", DataType::Utf8, true),
                        ("release_id", DataType::Int64, true),
                        ("renamed_to", DataType::Utf8, true),
                    ],
                    vec![
                        Arc::new(Int64Array::from(
                            log.iter().map(|c| c.seq as i64).collect::<Vec<_>>(),
                        )),
                        ts(log.iter().map(|c| Some(c.timestamp_ms)).collect()),
                        Arc::new(StringArray::from(
                            log.iter()
                                .map(|c| c.op.as_str().to_string())
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            log.iter()
                                .map(|c| tname(&c.namespace, &c.table))
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            log.iter().map(|c| c.table_uuid.clone()).collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            log.iter().map(|c| c.snapshot_id).collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            log.iter()
                                .map(|c| c.metadata_location.clone())
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            log.iter()
                                .map(|c| c.previous_location.clone())
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            log.iter()
                                .map(|c| c.release_id.map(|r| r as i64))
                                .collect::<Vec<_>>(),
                        )),
                        Arc::new(StringArray::from(
                            log.iter()
                                .map(|c| c.renamed_to.as_ref().map(|(ns, t)| tname(ns, t)))
                                .collect::<Vec<_>>(),
                        )),
                    ],
                )?))
            }
            "procedures" => {
                let batch = crate::procedures::listing()?;
                Ok(Some(Arc::new(MemTable::try_new(
                    batch.schema(),
                    vec![vec![batch]],
                )?)))
            }
            _ => Ok(None),
        }
    }
}
