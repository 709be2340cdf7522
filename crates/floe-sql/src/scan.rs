//! Scanning an Iceberg snapshot with DataFusion's own Parquet machinery.
//!
//! Planning reads the snapshot's manifests (cached by path in the catalog), drops files
//! whose column bounds cannot match the filters, and hands the rest to a
//! `DataSourceExec`/`ParquetSource` split across `target_partitions` groups balanced by
//! size. Row-group and page pruning and late materialisation are DataFusion's. Columns are
//! matched to file columns by Iceberg field id ([`FieldIdAdapterFactory`]), so renamed,
//! added and dropped columns read correctly from old files.
//!
//! Snapshots carrying row-level delete files (written by other engines) are refused with
//! a clear error rather than read without their deletes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue, plan_err};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::conjunction;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapter, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use floe_catalog::LiveFile;
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;

use crate::engine::Engine;
use crate::error::to_df;
use crate::stats;

/// Name of the virtual column that carries each row's data file path (used by
/// copy-on-write DELETE/UPDATE to find the files they must rewrite).
pub const FILE_COLUMN: &str = "__floe_file";

/// Splits a file location into the object store that holds it and the path inside.
pub fn split_location(location: &str) -> Result<(ObjectStoreUrl, object_store::path::Path)> {
    let (url, path) = if let Some(rest) = location.strip_prefix("file://") {
        ("file://".to_string(), rest.trim_start_matches('/'))
    } else if let Some(rest) = location.strip_prefix("file:") {
        ("file://".to_string(), rest.trim_start_matches('/'))
    } else if location.starts_with('/') {
        ("file://".to_string(), location.trim_start_matches('/'))
    } else if let Some((scheme, rest)) = location.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        (format!("{scheme}://{authority}"), path)
    } else {
        return plan_err!("data file location '{location}' has no scheme");
    };
    let path = object_store::path::Path::parse(path).map_err(|e| {
        datafusion::error::DataFusionError::Plan(format!(
            "bad data file location '{location}': {e}"
        ))
    })?;
    Ok((ObjectStoreUrl::parse(url)?, path))
}

fn field_id(f: &Field) -> Option<i32> {
    f.metadata().get(PARQUET_FIELD_ID_META_KEY)?.parse().ok()
}

/// Maps table columns to file columns by Iceberg field id, then lets DataFusion's default
/// adapter insert casts (promoted types) and NULLs (columns added after the file was
/// written). Files without field ids (written by engines that omit them) match by name.
#[derive(Debug, Default)]
pub struct FieldIdAdapterFactory;

impl PhysicalExprAdapterFactory for FieldIdAdapterFactory {
    fn create(
        &self,
        logical: SchemaRef,
        physical: SchemaRef,
    ) -> Result<Arc<dyn PhysicalExprAdapter>> {
        let by_id: HashMap<i32, String> = physical
            .fields()
            .iter()
            .filter_map(|f| field_id(f).map(|id| (id, f.name().clone())))
            .collect();
        let mut rename = HashMap::new();
        let mut fields = Vec::with_capacity(logical.fields().len());
        for f in logical.fields() {
            let (target, nullable) = match (by_id.is_empty(), field_id(f)) {
                (false, Some(id)) => match by_id.get(&id) {
                    Some(name) => (name.clone(), f.is_nullable()),
                    // Not in this file: it reads as NULL.
                    None => (format!("__floe_missing_{id}"), true),
                },
                _ => (f.name().clone(), f.is_nullable()),
            };
            if &target != f.name() {
                rename.insert(f.name().clone(), target.clone());
            }
            fields.push(f.as_ref().clone().with_name(target).with_nullable(nullable));
        }
        let renamed = Arc::new(Schema::new_with_metadata(
            fields,
            logical.metadata().clone(),
        ));
        Ok(Arc::new(FieldIdAdapter {
            rename,
            inner: DefaultPhysicalExprAdapter::new(renamed, physical),
        }))
    }
}

#[derive(Debug)]
struct FieldIdAdapter {
    rename: HashMap<String, String>,
    inner: DefaultPhysicalExprAdapter,
}

impl PhysicalExprAdapter for FieldIdAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        let expr = if self.rename.is_empty() {
            expr
        } else {
            expr.transform(|e| {
                if let Some(c) = e.as_any().downcast_ref::<PhysicalColumn>()
                    && let Some(name) = self.rename.get(c.name())
                {
                    let renamed: Arc<dyn PhysicalExpr> =
                        Arc::new(PhysicalColumn::new(name, c.index()));
                    return Ok(Transformed::yes(renamed));
                }
                Ok(Transformed::no(e))
            })
            .data()?
        };
        self.inner.rewrite(expr)
    }
}

/// What to scan.
pub struct ScanRequest<'a> {
    /// Table name for error messages.
    pub table: &'a str,
    /// The table's Arrow schema for this version (fields carry field ids).
    pub schema: &'a SchemaRef,
    /// Live files of the snapshot (`None`: the table has no snapshot yet).
    pub files: Option<(Vec<LiveFile>, bool)>,
    /// Add [`FILE_COLUMN`] after the table columns.
    pub with_file_column: bool,
    /// Only these files (by path), when set.
    pub only_files: Option<&'a HashSet<String>>,
    /// The table's location (data files must lie inside it or the warehouse).
    pub table_location: &'a str,
    /// The warehouse root.
    pub warehouse_root: &'a str,
}

fn strip_qualifiers(e: &Expr) -> Result<Expr> {
    e.clone()
        .transform(|e| match e {
            Expr::Column(c) if c.relation.is_some() => Ok(Transformed::yes(Expr::Column(
                datafusion::common::Column::new_unqualified(c.name),
            ))),
            other => Ok(Transformed::no(other)),
        })
        .data()
}

/// The schema a scan produces before projection.
pub fn output_schema(schema: &SchemaRef, with_file_column: bool) -> SchemaRef {
    if !with_file_column {
        return schema.clone();
    }
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(FILE_COLUMN, DataType::Utf8, false)));
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Builds the physical scan.
pub async fn plan_scan(
    state: &dyn Session,
    req: ScanRequest<'_>,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let full = output_schema(req.schema, req.with_file_column);
    let projected = match projection {
        Some(p) => Arc::new(full.project(p)?),
        None => full.clone(),
    };
    let Some((files, has_deletes)) = req.files else {
        return Ok(Arc::new(EmptyExec::new(projected)));
    };
    if has_deletes {
        return plan_err!(
            "table '{}' has row-level delete files (written by another engine), which floe cannot apply yet; rewrite the table in that engine (e.g. Spark's rewrite_data_files) to read it here",
            req.table
        );
    }
    let filters: Vec<Expr> = filters
        .iter()
        .map(strip_qualifiers)
        .collect::<Result<_>>()?;
    let candidates: Vec<&LiveFile> = files
        .iter()
        .filter(|f| {
            req.only_files
                .is_none_or(|only| only.contains(f.file.file_path()))
        })
        .collect();
    let data_files: Vec<&iceberg::spec::DataFile> = candidates.iter().map(|f| &f.file).collect();
    let keep = stats::prune_files(&data_files, req.schema, &filters);
    let mut store_url: Option<ObjectStoreUrl> = None;
    let mut chosen = Vec::new();
    for (f, keep) in candidates.into_iter().zip(keep) {
        if !keep {
            continue;
        }
        let location = f.file.file_path();
        if !floe_catalog::storage::is_within(location, req.table_location)
            && !floe_catalog::storage::is_within(location, req.warehouse_root)
        {
            return plan_err!(
                "table '{}' references data file '{location}', which is outside the table's location and the warehouse; refusing to read it",
                req.table
            );
        }
        let (url, path) = split_location(location)?;
        match &store_url {
            None => store_url = Some(url),
            Some(u) if *u == url => {}
            Some(u) => {
                return plan_err!(
                    "table '{}' has files in two object stores ({} and {}), which floe cannot scan together",
                    req.table,
                    u.as_str(),
                    url.as_str()
                );
            }
        }
        let statistics = stats::file_statistics(&f.file, req.schema, false);
        // The parsed path as it is: `PartitionedFile::new` would re-encode it, turning the
        // `%` of a URL-encoded partition directory (`v=a%2Fb`) into `%25`.
        let mut pf = PartitionedFile::new(String::new(), f.file.file_size_in_bytes());
        pf.object_meta.location = path;
        if req.with_file_column {
            // Set before the statistics, which then gain the partition column's.
            pf.partition_values = vec![ScalarValue::Utf8(Some(location.to_string()))];
        }
        chosen.push(pf.with_statistics(Arc::new(statistics)));
    }
    let Some(store_url) = store_url else {
        return Ok(Arc::new(EmptyExec::new(projected)));
    };
    // Balance groups by bytes: largest file first onto the lightest group.
    let target = state.config().target_partitions().max(1).min(chosen.len());
    chosen.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> =
        (0..target).map(|_| (0, Vec::new())).collect();
    for f in chosen {
        let lightest = groups
            .iter_mut()
            .min_by_key(|(bytes, _)| *bytes)
            .expect("at least one group");
        lightest.0 += f.object_meta.size;
        lightest.1.push(f);
    }
    let groups: Vec<FileGroup> = groups
        .into_iter()
        .map(|(_, files)| FileGroup::new(files))
        .collect();
    let table_schema = if req.with_file_column {
        TableSchema::new(
            req.schema.clone(),
            vec![Arc::new(Field::new(FILE_COLUMN, DataType::Utf8, false))],
        )
    } else {
        TableSchema::from(req.schema.clone())
    };
    let (groups, statistics) =
        datafusion_datasource::compute_all_files_statistics(groups, full.clone(), true, false)?;
    let store = state.runtime_env().object_store(&store_url)?;
    let mut source = ParquetSource::new(table_schema)
        .with_table_parquet_options(state.default_table_options().parquet.clone())
        .with_parquet_file_reader_factory(Arc::new(CachedParquetFileReaderFactory::new(
            store,
            state.runtime_env().cache_manager.get_file_metadata_cache(),
        )));
    if let Some(predicate) = conjunction(filters) {
        let df_schema = DFSchema::try_from(req.schema.as_ref().clone())?;
        if let Ok(physical) = state.create_physical_expr(predicate, &df_schema) {
            source = source.with_predicate(physical);
        }
    }
    let config = FileScanConfigBuilder::new(store_url, Arc::new(source))
        .with_file_groups(groups)
        .with_statistics(statistics)
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .with_expr_adapter(Some(Arc::new(FieldIdAdapterFactory)))
        .build();
    Ok(DataSourceExec::from_data_source(config))
}

/// Live files of a version, through the catalog's manifest cache.
pub async fn snapshot_files(
    engine: &Engine,
    table: &iceberg::table::Table,
    snapshot_id: Option<i64>,
) -> Result<Option<(Vec<LiveFile>, bool)>> {
    let Some(id) = snapshot_id else {
        return Ok(None);
    };
    let md = table.metadata();
    let Some(snapshot) = md.snapshot_by_id(id) else {
        return plan_err!("snapshot {id} is not part of the table's metadata");
    };
    engine
        .catalog
        .live_files(md, snapshot)
        .await
        .map(Some)
        .map_err(to_df)
}
