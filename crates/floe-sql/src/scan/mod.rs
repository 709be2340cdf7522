//! Scanning an Iceberg snapshot with DataFusion's own Parquet machinery.
//!
//! Planning reads the snapshot's manifests (cached by path in the catalog), drops files
//! whose column bounds cannot match the filters, and hands the rest to a
//! `DataSourceExec`/`ParquetSource` split across `target_partitions` groups balanced by
//! size. Row-group and page pruning and late materialisation are DataFusion's. Columns are
//! matched to file columns by Iceberg field id ([`FieldIdAdapterFactory`]), so renamed,
//! added and dropped columns read correctly from old files.
//!
//! Row-level deletes (position deletes, deletion vectors, equality deletes) are applied
//! by [`deletes`]: positions as Parquet row selections, equality deletes as a hash
//! anti-filter above the scan. Data files in a format floe cannot decode (ORC, Avro)
//! fail the scan with an error naming the file; no file is ever skipped.

pub mod deletes;
mod nested_defaults;
pub mod positions;
pub mod prune;
pub(crate) mod uuids;
pub(crate) mod variant;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue, plan_err};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{
    CachedParquetFileReaderFactory, ParquetAccessPlan,
};
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
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;

use crate::engine::Engine;
use crate::error::to_df;
use crate::stats;

/// Name of the virtual column that carries each row's data file path (used by
/// copy-on-write DELETE/UPDATE to find the files they must rewrite).
pub const FILE_COLUMN: &str = "__floe_file";

/// The one child of a single-input plan node (`with_new_children`).
pub(crate) fn single_child(
    children: Vec<Arc<dyn ExecutionPlan>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let [input] = children
        .try_into()
        .map_err(|_| DataFusionError::Internal("one child expected".into()))?;
    Ok(input)
}

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

/// The Iceberg field id a Parquet/Arrow field carries, if any.
pub(crate) fn field_id(f: &Field) -> Option<i32> {
    f.metadata().get(PARQUET_FIELD_ID_META_KEY)?.parse().ok()
}

/// Maps table columns to file columns by Iceberg field id, then lets DataFusion's default
/// adapter insert casts (promoted types) and NULLs (columns added after the file was
/// written). Files without field ids (written by engines that omit them) match by name.
/// A column missing from a file reads as its v3 `initial-default` when it has one; a
/// default floe cannot supply (a nested field's) fails the scan rather than read NULL.
#[derive(Debug, Default)]
pub struct FieldIdAdapterFactory {
    /// For error messages.
    table: String,
    /// Top-level field id → its initial default (`Err`: one floe cannot express).
    defaults: HashMap<i32, std::result::Result<ScalarValue, String>>,
    /// Top-level field id → the fields inside it that have an initial default.
    nested_defaults: HashMap<i32, Vec<nested_defaults::NestedDefault>>,
    /// Top-level field id → how it stands in for a VARIANT-bearing field.
    variants: HashMap<i32, floe_catalog::variant::VariantField>,
    /// Top-level uuid fields, which the table's Arrow schema types as text
    /// (`crate::uuid_text`) and files hold as 16 bytes.
    uuids: HashSet<i32>,
    /// The table's `schema.name-mapping.default`, top level: file column name → field
    /// id. Files without field ids (tables migrated from Hive) are read through it; a
    /// table column no file column maps to reads as NULL (or its default), as in Iceberg
    /// Java.
    name_mapping: Option<HashMap<String, i32>>,
}

/// Top-level names of a `schema.name-mapping.default` JSON value (`None`: absent or not
/// a mapping).
pub fn parse_name_mapping(json: &str) -> Option<HashMap<String, i32>> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let mut out = HashMap::new();
    for entry in value.as_array()? {
        let Some(id) = entry.get("field-id").and_then(|v| v.as_i64()) else {
            continue;
        };
        for name in entry
            .get("names")
            .and_then(|n| n.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(name) = name.as_str() {
                out.insert(name.to_string(), id as i32);
            }
        }
    }
    Some(out)
}

impl FieldIdAdapterFactory {
    /// The adapter for reading `schema` (the Iceberg schema of the version read).
    pub fn for_schema(
        table: &str,
        schema: &iceberg::spec::Schema,
        arrow: &SchemaRef,
        name_mapping: Option<&str>,
    ) -> Self {
        let mut out = Self {
            table: table.to_string(),
            name_mapping: name_mapping.and_then(parse_name_mapping),
            ..Self::default()
        };
        for f in schema.as_struct().fields() {
            if let Some(kind) = floe_catalog::variant::variant_field(f.doc.as_deref()) {
                out.variants.insert(f.id, kind);
            }
            if crate::uuid_text::is_uuid(&f.field_type) {
                out.uuids.insert(f.id);
            }
            if let Some(default) = &f.initial_default {
                let target = arrow
                    .fields()
                    .iter()
                    .find(|a| field_id(a) == Some(f.id))
                    .map(|a| a.data_type().clone());
                let value = match (default, target) {
                    (iceberg::spec::Literal::Primitive(lit), Some(t)) => literal_to_scalar(lit, &t)
                        .ok_or_else(|| {
                            format!(
                                "column '{}' has an initial default of a type floe cannot supply",
                                f.name
                            )
                        }),
                    _ => Err(format!(
                        "column '{}' has a nested initial default, which floe cannot supply yet",
                        f.name
                    )),
                };
                out.defaults.insert(f.id, value);
            }
            if !f.field_type.is_primitive() {
                let mut nested = Vec::new();
                collect_nested_defaults(&f.field_type, &f.name, Some(Vec::new()), &mut nested);
                let top = arrow
                    .fields()
                    .iter()
                    .find(|a| field_id(a) == Some(f.id))
                    .map(|a| a.data_type().clone());
                let nested: Vec<_> = nested
                    .into_iter()
                    .map(|(id, name, path, default)| {
                        let target = top
                            .as_ref()
                            .zip(path.as_ref())
                            .and_then(|(t, p)| nested_defaults::type_at(t, p));
                        let value = match (&default, target) {
                            (iceberg::spec::Literal::Primitive(lit), Some(t)) => {
                                literal_to_scalar(lit, &t).ok_or_else(|| {
                                    format!(
                                        "field '{name}' has an initial default of a type floe cannot supply"
                                    )
                                })
                            }
                            _ => Err(format!(
                                "field '{name}' has an initial default floe cannot supply (inside a list or map, or of a nested type)"
                            )),
                        };
                        nested_defaults::NestedDefault {
                            id,
                            name,
                            path,
                            value,
                        }
                    })
                    .collect();
                if !nested.is_empty() {
                    out.nested_defaults.insert(f.id, nested);
                }
            }
        }
        out
    }
}

/// The fields under `t` that have an initial default: (id, dotted name, index path
/// through structs from the top-level column (`None` under a list or map), default).
type NestedDefaultSpec = (i32, String, Option<Vec<usize>>, iceberg::spec::Literal);

fn collect_nested_defaults(
    t: &iceberg::spec::Type,
    name: &str,
    path: Option<Vec<usize>>,
    out: &mut Vec<NestedDefaultSpec>,
) {
    use iceberg::spec::Type;
    let (children, in_struct): (Vec<&iceberg::spec::NestedFieldRef>, bool) = match t {
        Type::Struct(s) => (s.fields().iter().collect(), true),
        Type::List(l) => (vec![&l.element_field], false),
        Type::Map(m) => (vec![&m.key_field, &m.value_field], false),
        Type::Primitive(_) => return,
    };
    for (i, c) in children.into_iter().enumerate() {
        let name = format!("{name}.{}", c.name);
        let path = path.clone().filter(|_| in_struct).map(|mut p| {
            p.push(i);
            p
        });
        if let Some(default) = &c.initial_default {
            out.push((c.id, name.clone(), path.clone(), default.clone()));
        }
        collect_nested_defaults(&c.field_type, &name, path, out);
    }
}

fn nested_ids(dt: &DataType, out: &mut HashSet<i32>) {
    let mut visit = |f: &Field| {
        if let Some(id) = field_id(f) {
            out.insert(id);
        }
        nested_ids(f.data_type(), out);
    };
    match dt {
        DataType::Struct(fields) => fields.iter().for_each(|f| visit(f)),
        DataType::List(f) | DataType::LargeList(f) | DataType::Map(f, _) => visit(f),
        DataType::FixedSizeList(f, _) => visit(f),
        _ => {}
    }
}

impl PhysicalExprAdapterFactory for FieldIdAdapterFactory {
    fn create(
        &self,
        logical: SchemaRef,
        physical: SchemaRef,
    ) -> Result<Arc<dyn PhysicalExprAdapter>> {
        let mut by_id: HashMap<i32, String> = physical
            .fields()
            .iter()
            .filter_map(|f| field_id(f).map(|id| (id, f.name().clone())))
            .collect();
        let mut mapped = false;
        if by_id.is_empty()
            && let Some(mapping) = &self.name_mapping
        {
            // A mapped id the version's schema does not have at the top level is an
            // inconsistent mapping (Hive migrations produce them); such a column is
            // matched by name, as Impala does. An unmapped column matches nothing.
            let logical_ids: HashMap<i32, &String> = logical
                .fields()
                .iter()
                .filter_map(|f| field_id(f).map(|id| (id, f.name())))
                .collect();
            for f in physical.fields() {
                let Some(id) = mapping.get(f.name()) else {
                    continue;
                };
                if logical_ids.contains_key(id) {
                    by_id.insert(*id, f.name().clone());
                } else if let Some(l) = logical.fields().iter().find(|l| l.name() == f.name())
                    && let Some(lid) = field_id(l)
                {
                    by_id.entry(lid).or_insert_with(|| f.name().clone());
                }
            }
            mapped = true;
        }
        let mut rename = HashMap::new();
        let mut literals = HashMap::new();
        let mut refused = HashMap::new();
        let mut fills = HashMap::new();
        let mut variants = HashMap::new();
        let mut uuid_columns = HashMap::new();
        let mut fields = Vec::with_capacity(logical.fields().len());
        for f in logical.fields() {
            let id = field_id(f);
            let (target, nullable) = match (by_id.is_empty() && !mapped, id) {
                (false, Some(id)) => match by_id.get(&id) {
                    Some(name) => (name.clone(), f.is_nullable()),
                    // Not in this file: it reads as NULL.
                    None => (format!("__floe_missing_{id}"), true),
                },
                _ => (f.name().clone(), f.is_nullable()),
            };
            let missing = physical.field_with_name(&target).is_err();
            if let Some(id) = id {
                if missing && let Some(default) = self.defaults.get(&id) {
                    match default {
                        Ok(v) => {
                            literals.insert(f.name().clone(), v.clone());
                        }
                        Err(e) => return plan_err!("table '{}': {e}", self.table),
                    }
                } else if missing && !f.is_nullable() {
                    // A required column cannot read as NULL (queries are simplified on
                    // that promise); Iceberg Java refuses such a file too. Only a read
                    // of the column fails (see `FieldIdAdapter::rewrite`).
                    refused.insert(
                        f.name().clone(),
                        format!(
                            "table '{}': required column '{}' (field id {id}) is missing from a data file and has no default",
                            self.table,
                            f.name()
                        ),
                    );
                }
                if !missing && let Some(nested) = self.nested_defaults.get(&id) {
                    let mut present = HashSet::new();
                    if let Ok(pf) = physical.field_with_name(&target) {
                        nested_ids(pf.data_type(), &mut present);
                    }
                    let mut fill = Vec::new();
                    for d in nested.iter().filter(|d| !present.contains(&d.id)) {
                        match (&d.path, &d.value) {
                            (Some(path), Ok(v)) => fill.push((path.clone(), v.clone())),
                            (_, Err(e)) => return plan_err!("table '{}': {e}", self.table),
                            (None, Ok(_)) => {
                                return plan_err!(
                                    "table '{}': field '{}' has an initial default inside a list or map, which floe cannot supply",
                                    self.table,
                                    d.name
                                );
                            }
                        }
                    }
                    if !fill.is_empty() {
                        fills.insert(f.name().clone(), fill);
                    }
                }
            }
            let mut field = f.as_ref().clone();
            if let Some(kind) = id.and_then(|id| self.variants.get(&id)) {
                use floe_catalog::variant::VariantField;
                let physical_type = physical
                    .field_with_name(&target)
                    .ok()
                    .map(|p| p.data_type().clone());
                match (kind, physical_type) {
                    (VariantField::Nested, _) => {
                        refused.insert(
                            f.name().clone(),
                            format!(
                                "table '{}': column '{}' nests a VARIANT inside a list, map or struct, which floe cannot read (a top-level VARIANT column reads as JSON text)",
                                self.table,
                                f.name()
                            ),
                        );
                    }
                    (VariantField::TopLevel, Some(dt)) if variant::unshredded(&dt).is_some() => {
                        // Read the group as it is; `VariantJson` makes it text.
                        field = field.with_data_type(dt);
                        variants.insert(f.name().clone(), ());
                    }
                    (VariantField::TopLevel, Some(_)) => {
                        refused.insert(
                            f.name().clone(),
                            format!(
                                "table '{}': VARIANT column '{}' is shredded in a data file, which floe cannot read yet",
                                self.table,
                                f.name()
                            ),
                        );
                    }
                    // Not in this file: NULL.
                    (VariantField::TopLevel, None) => {}
                }
            }
            // A top-level uuid column, which the table reads as text.
            if id.is_some_and(|id| self.uuids.contains(&id)) && f.data_type() == &DataType::Utf8 {
                match physical.field_with_name(&target).map(|p| p.data_type()) {
                    Ok(dt @ DataType::FixedSizeBinary(crate::uuid_text::WIDTH)) => {
                        // Read the bytes as they are; `UuidText` makes them text.
                        field = field.with_data_type(dt.clone());
                        uuid_columns.insert(f.name().clone(), ());
                    }
                    Ok(dt) => {
                        refused.insert(
                            f.name().clone(),
                            format!(
                                "table '{}': UUID column '{}' is stored as {dt} in a data file, not as 16 bytes; floe cannot read it",
                                self.table,
                                f.name()
                            ),
                        );
                    }
                    // Not in this file: NULL (or its initial default).
                    Err(_) => {}
                }
            }
            if &target != f.name() {
                rename.insert(f.name().clone(), target.clone());
            }
            fields.push(field.with_name(target).with_nullable(nullable));
        }
        let renamed = Arc::new(Schema::new_with_metadata(
            fields,
            logical.metadata().clone(),
        ));
        Ok(Arc::new(FieldIdAdapter {
            rename,
            literals,
            refused,
            fills,
            variant_columns: variants,
            uuid_columns,
            physical: physical.clone(),
            inner: DefaultPhysicalExprAdapter::new(renamed, physical),
        }))
    }
}

#[derive(Debug)]
struct FieldIdAdapter {
    rename: HashMap<String, String>,
    /// Columns missing from the file that read as their initial default.
    literals: HashMap<String, ScalarValue>,
    /// Columns this file cannot supply, with the error a read of them gives.
    refused: HashMap<String, String>,
    /// Struct columns whose fields this file lacks, with their defaults (path, value).
    fills: HashMap<String, Vec<(Vec<usize>, ScalarValue)>>,
    /// VARIANT columns this file has (as their Parquet group), read as JSON text.
    variant_columns: HashMap<String, ()>,
    /// UUID columns this file has (as 16 bytes), read as canonical text.
    uuid_columns: HashMap<String, ()>,
    /// The file's schema.
    physical: SchemaRef,
    inner: DefaultPhysicalExprAdapter,
}

/// `expr` with every column reference named in `by_name` replaced by what `make`
/// builds from its entry, the column and the column expression itself.
fn replace_columns<V>(
    expr: Arc<dyn PhysicalExpr>,
    by_name: &HashMap<String, V>,
    make: impl Fn(&V, &PhysicalColumn, Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr>,
) -> Result<Arc<dyn PhysicalExpr>> {
    if by_name.is_empty() {
        return Ok(expr);
    }
    expr.transform_up(|e| {
        if let Some(c) = e.as_any().downcast_ref::<PhysicalColumn>()
            && let Some(v) = by_name.get(c.name())
        {
            return Ok(Transformed::yes(make(v, c, e.clone())));
        }
        Ok(Transformed::no(e))
    })
    .data()
}

impl PhysicalExprAdapter for FieldIdAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        if !self.refused.is_empty() {
            let mut refusal = None;
            expr.apply(|e| {
                if let Some(c) = e.as_any().downcast_ref::<PhysicalColumn>()
                    && let Some(msg) = self.refused.get(c.name())
                {
                    refusal = Some(msg.clone());
                    return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
                }
                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
            })?;
            if let Some(msg) = refusal {
                return plan_err!("{msg}");
            }
        }
        let expr = replace_columns(expr, &self.literals, |v, _, _| {
            Arc::new(datafusion::physical_expr::expressions::Literal::new(
                v.clone(),
            ))
        })?;
        let expr = replace_columns(expr, &self.variant_columns, |_, c, e| {
            Arc::new(variant::VariantJson {
                input: e,
                column: c.name().to_string(),
            })
        })?;
        let expr = replace_columns(expr, &self.uuid_columns, |_, c, e| {
            Arc::new(uuids::UuidText {
                input: e,
                column: c.name().to_string(),
            })
        })?;
        // Wrapped before renaming and casting, so the wrapper sees the table's struct type.
        let expr = replace_columns(expr, &self.fills, |fills, _, e| {
            Arc::new(nested_defaults::FillNested {
                input: e,
                fills: fills.clone(),
            })
        })?;
        let expr = replace_columns(expr, &self.rename, |name, c, _| {
            Arc::new(PhysicalColumn::new(name, c.index()))
        })?;
        let expr = self.inner.rewrite(expr)?;
        // The Parquet opener prunes row groups and pages with the predicate as rewritten
        // here: comparisons of UUID text with canonical literals become comparisons of the
        // file's bytes, which its statistics know.
        if self.uuid_columns.is_empty() {
            return Ok(expr);
        }
        uuids::compare_bytes(expr, &self.physical)
    }
}

/// What to scan.
pub struct ScanRequest<'a> {
    /// Table name for error messages.
    pub table: &'a str,
    /// The table's Arrow schema for this version (fields carry field ids).
    pub schema: &'a SchemaRef,
    /// The same schema as Iceberg states it (initial defaults).
    pub iceberg_schema: &'a iceberg::spec::Schema,
    /// Live data and delete files of the snapshot (`None`: the table has no snapshot yet).
    pub files: Option<(Vec<LiveFile>, Vec<LiveFile>)>,
    /// The table metadata the snapshot belongs to (partition specs for delete scoping).
    pub metadata: &'a iceberg::spec::TableMetadata,
    /// Add [`FILE_COLUMN`] after the table columns.
    pub with_file_column: bool,
    /// Add [`positions::POS_COLUMN`] after the file column (which it implies): each
    /// row's position in its data file. Such a scan reads every file whole and in order,
    /// with no filter pushed into the decoder.
    pub with_position_column: bool,
    /// Only these files (by path), when set.
    pub only_files: Option<&'a HashSet<String>>,
    /// The warehouse root (files outside it may be other engines' files, whose sizes
    /// are taken from the file system rather than trusted from the manifest).
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
pub fn output_schema(
    schema: &SchemaRef,
    with_file_column: bool,
    with_positions: bool,
) -> SchemaRef {
    if !with_file_column && !with_positions {
        return schema.clone();
    }
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(FILE_COLUMN, DataType::Utf8, false)));
    if with_positions {
        fields.push(Arc::new(Field::new(
            positions::POS_COLUMN,
            DataType::Int64,
            false,
        )));
    }
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The configuration of `plan` when it is a Parquet scan that reads every file it lists
/// whole (no byte ranges): what counting rows above a scan needs. `what` names the
/// counting in the error otherwise.
pub(crate) fn whole_file_scan<'a>(
    plan: &'a Arc<dyn ExecutionPlan>,
    table: &str,
    what: &str,
) -> Result<&'a datafusion::datasource::physical_plan::FileScanConfig> {
    let config = plan
        .as_any()
        .downcast_ref::<DataSourceExec>()
        .and_then(|d| {
            d.data_source()
                .as_any()
                .downcast_ref::<datafusion::datasource::physical_plan::FileScanConfig>()
        });
    let Some(config) = config else {
        return datafusion::common::exec_err!(
            "table '{table}': {what} need a plain Parquet scan below them"
        );
    };
    if config
        .file_groups
        .iter()
        .flat_map(|g| g.files())
        .any(|f| f.range.is_some())
    {
        return datafusion::common::exec_err!(
            "table '{table}': {what} cannot be counted over a file read in byte ranges"
        );
    }
    Ok(config)
}

/// The file column as the Parquet scan produces it: dictionary-encoded, so that a file's
/// one value is not copied into every row.
fn file_field() -> Arc<Field> {
    Arc::new(Field::new(
        FILE_COLUMN,
        datafusion::datasource::physical_plan::wrap_partition_type_in_dict(DataType::Utf8),
        false,
    ))
}

/// A file's (or a counted stretch's) value of [`file_field`].
fn file_value(location: &str) -> ScalarValue {
    datafusion::datasource::physical_plan::wrap_partition_value_in_dict(ScalarValue::Utf8(Some(
        location.to_string(),
    )))
}

/// The schema the Parquet scan produces: the table's columns and, optionally,
/// [`file_field`].
fn scan_schema(schema: &SchemaRef, file_column: bool) -> SchemaRef {
    if !file_column {
        return schema.clone();
    }
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(file_field());
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
    let with_positions = req.with_position_column;
    let full = output_schema(req.schema, req.with_file_column, with_positions);
    // Positions count rows as the decoder returns them: the decoder may prune nothing on
    // its own, and filters only prune what [`prune`] makes explicit.
    let limit = if with_positions { None } else { limit };
    let projected = match projection {
        Some(p) => Arc::new(full.project(p)?),
        None => full.clone(),
    };
    let Some((files, delete_files)) = req.files else {
        return Ok(Arc::new(EmptyExec::new(projected)));
    };
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
    let kept: Vec<&LiveFile> = candidates
        .into_iter()
        .zip(keep)
        .filter_map(|(f, k)| k.then_some(f))
        .collect();
    for f in &kept {
        let format = f.file.file_format();
        if format != iceberg::spec::DataFileFormat::Parquet {
            return plan_err!(
                "table '{}' has data file '{}' in {} format; floe reads only Parquet data files",
                req.table,
                f.file.file_path(),
                deletes::index::format_name(format)
            );
        }
    }
    let runtime = state.runtime_env();
    let planned = deletes::plan_deletes(
        runtime,
        req.table,
        req.metadata,
        &kept,
        &delete_files,
        req.schema,
    )
    .await?;
    // Equality deletes are applied above the scan, which must then carry each row's
    // file and key columns.
    let equality = planned.as_ref().and_then(|p| p.equality.clone());
    let predicate = match conjunction(filters.clone()) {
        Some(predicate) => {
            let df_schema = DFSchema::try_from(req.schema.as_ref().clone())?;
            state.create_physical_expr(predicate, &df_schema).ok()
        }
        None => None,
    };
    // Position deletes are applied above the scan, by counting each file's rows
    // (DeleteFilterExec), rather than handed to the decoder as row selections: a dense
    // selection is millions of runs, copied and walked at every step of the Parquet
    // reader. Counting needs every row of what is read, in order, so such a scan prunes
    // by statistics up front (as a position scan does) and pushes no predicate down.
    let counting = !with_positions
        && !req.with_file_column
        && equality.is_none()
        && planned.as_ref().is_some_and(|p| !p.positions.is_empty());
    let pruning = match &predicate {
        Some(p) if with_positions || counting => {
            prune::PositionPruning::new(p.clone(), req.schema.clone()).map(Arc::new)
        }
        _ => None,
    };
    let file_column = req.with_file_column || with_positions || equality.is_some() || counting;
    let metadata_cache = runtime.cache_manager.get_file_metadata_cache();
    let mut store_url: Option<ObjectStoreUrl> = None;
    let mut chosen = Vec::new();
    let mut pending_plans = Vec::new();
    for f in kept {
        let location = f.file.file_path();
        let (url, path) = split_location(location)?;
        match &store_url {
            None => store_url = Some(url.clone()),
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
        let has_deletes = planned
            .as_ref()
            .is_some_and(|p| p.affected.contains(location));
        let mut statistics = stats::file_statistics(&f.file, req.schema, false);
        if has_deletes || pruning.is_some() {
            statistics = statistics.to_inexact();
        }
        // Identity-partition columns hold the partition value in every row. Stated as
        // exact statistics, DataFusion's Parquet opener reads them as that constant,
        // which also supplies them where the writer left them out of the file (Hive-style
        // migrated tables, DuckDB's fixtures).
        for (i, value) in identity_constants(f, req.metadata, req.schema) {
            let c = &mut statistics.column_statistics[i];
            c.min_value = Precision::Exact(value.clone());
            c.max_value = Precision::Exact(value);
            c.null_count = Precision::Exact(0);
        }
        // Other engines' files: the manifest's size is a claim (hand-edited tables carry
        // stale ones); a local file's real size costs one stat.
        let mut size = f.file.file_size_in_bytes();
        if !floe_catalog::storage::is_within(location, req.warehouse_root)
            && (location.starts_with("file:") || location.starts_with('/'))
            && let Ok(m) = std::fs::metadata(floe_catalog::storage::local_path(location))
        {
            size = m.len();
        }
        // The parsed path as it is: `PartitionedFile::new` would re-encode it, turning the
        // `%` of a URL-encoded partition directory (`v=a%2Fb`) into `%25`.
        let mut pf = PartitionedFile::new(String::new(), size);
        pf.object_meta.location = path;
        if file_column {
            // Set before the statistics, which then gain the partition column's.
            pf.partition_values = vec![file_value(location)];
        }
        let deleted = planned.as_ref().and_then(|p| p.positions.get(location));
        if deleted.is_some() || pruning.is_some() {
            pending_plans.push((
                chosen.len(),
                location.to_string(),
                url.clone(),
                deleted.cloned().unwrap_or_default(),
            ));
        }
        chosen.push(pf.with_statistics(Arc::new(statistics)));
    }
    // Deleted positions (and, in a position scan, the rows pruning rules out) become each
    // file's access plan: built on the blocking pool, all files at once, since a dense
    // plan is a large selector list.
    type Layout = (Vec<i64>, Vec<u64>);
    type Planned = (
        usize,
        (bool, Option<ParquetAccessPlan>, Option<Layout>),
        (String, positions::Skipped),
    );
    let plans: Vec<Planned> =
        futures::stream::iter(pending_plans.into_iter().map(|(i, location, url, mut deleted)| {
            let meta = chosen[i].object_meta.clone();
            let metadata_cache = metadata_cache.clone();
            let pruning = pruning.clone();
            async move {
                let store = runtime.object_store(&url)?;
                let metadata =
                    datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata::new(
                        store.as_ref(),
                        &meta,
                    )
                    .with_file_metadata_cache(Some(metadata_cache))
                    .fetch_metadata()
                    .await?;
                let rows: Vec<i64> = metadata
                    .row_groups()
                    .iter()
                    .map(|rg| rg.num_rows())
                    .collect();
                let bytes: Vec<u64> = metadata
                    .row_groups()
                    .iter()
                    .map(|rg| rg.compressed_size().max(0) as u64)
                    .collect();
                let (plan, skipped) = tokio::task::spawn_blocking(move || {
                    if let Some(pruned) = pruning.and_then(|p| p.skipped(&location, &metadata)) {
                        deleted |= pruned;
                    }
                    let total = rows.iter().sum::<i64>().max(0) as u64;
                    // Every row deleted: the file is not read at all.
                    let unread = deleted.range_cardinality(0..total) == total;
                    // Counted rather than selected, unless most rows of the row groups
                    // left to read are deleted or pruned (wholly deleted or pruned row
                    // groups are not read either way).
                    let counted = counting && !unread && !deleted.is_empty() && {
                        let (mut start, mut read, mut gone) = (0u64, 0u64, 0u64);
                        for &r in &rows {
                            let r = r.max(0) as u64;
                            let d = deleted.range_cardinality(start..start + r);
                            if d < r {
                                read += r;
                                gone += d;
                            }
                            start += r;
                        }
                        gone * 2 <= read
                    };
                    let plan = (!unread && !counted)
                        .then(|| deletes::apply::access_plan(&rows, &deleted))
                        .flatten();
                    let layout = counted.then(|| (rows.clone(), bytes));
                    let skipped = positions::Skipped {
                        positions: deleted,
                        rows: total,
                    };
                    ((unread, plan, layout), (location, skipped))
                })
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok::<_, DataFusionError>((i, plan, skipped))
            }
        }))
        .buffer_unordered(deletes::LOAD_CONCURRENCY)
        .try_collect()
        .await?;
    let mut unread = HashSet::new();
    // Files whose plan the reader applies as a mask (told once here: their plans are
    // long selector lists, too long to walk again for every file opened).
    let mut dense = HashSet::new();
    // What the position counter must skip: exactly what each file's access plan skips.
    let mut skipped_positions: HashMap<String, positions::Skipped> = HashMap::new();
    // Files whose deletes are counted: (index, row group rows and bytes, deleted).
    let mut counted = Vec::new();
    for (i, (skip, plan, layout), (location, skipped)) in plans {
        if !skip && let Some(layout) = layout {
            unread.insert(i); // replaced by its stretches below
            counted.push((i, layout, Arc::new(skipped.positions)));
            continue;
        }
        // A file nothing is skipped in keeps the plain position counter.
        if with_positions && !skipped.positions.is_empty() {
            skipped_positions.insert(location, skipped);
        }
        if skip {
            unread.insert(i);
        } else if let Some(plan) = plan {
            if deletes::reader::is_dense(&plan) {
                dense.insert(chosen[i].object_meta.location.clone());
            }
            chosen[i].extensions = Some(Arc::new(plan));
        }
    }
    // A counted file is read as stretches of whole row groups, each its own entry of
    // the scan (so a file's rows are still read in parallel), its rows counted from the
    // stretch's first row.
    let partitions = state.config().target_partitions().max(1) as u64;
    let stretch_bytes =
        (chosen.iter().map(|f| f.object_meta.size).sum::<u64>() / (2 * partitions)).max(1);
    let mut masks = HashMap::new();
    let mut stretches: Vec<(u64, PartitionedFile)> = Vec::new();
    for (i, (rows, bytes), deleted) in counted {
        let base = &chosen[i];
        let location = base.object_meta.location.to_string();
        let (mut g, mut first_row) = (0usize, 0u64);
        // Row groups wholly deleted or pruned are in no stretch.
        let whole = |g: usize, first_row: u64| {
            let r = rows[g].max(0) as u64;
            deleted.range_cardinality(first_row..first_row + r) == r
        };
        while g < rows.len() {
            if whole(g, first_row) {
                first_row += rows[g].max(0) as u64;
                g += 1;
                continue;
            }
            let (from, mut size, mut count) = (g, 0u64, 0u64);
            while g < rows.len()
                && (g == from || size < stretch_bytes)
                && !whole(g, first_row + count)
            {
                size += bytes[g];
                count += rows[g].max(0) as u64;
                g += 1;
            }
            let mut plan = ParquetAccessPlan::new_none(rows.len());
            for k in from..g {
                plan.scan(k);
            }
            let key = format!("{location}#rows={first_row}..{}", first_row + count);
            let mut pf = base.clone();
            pf.extensions = Some(Arc::new(plan));
            pf.partition_values = vec![file_value(&key)];
            if let Some(st) = &base.statistics {
                let mut st = st.as_ref().clone().to_inexact();
                let live = count - deleted.range_cardinality(first_row..first_row + count);
                st.num_rows = Precision::Inexact(live as usize);
                st.total_byte_size = Precision::Inexact(size as usize);
                for c in &mut st.column_statistics {
                    c.null_count = Precision::Absent;
                }
                if let Some(c) = st.column_statistics.last_mut() {
                    *c = datafusion::common::ColumnStatistics::new_unknown();
                }
                pf.statistics = Some(Arc::new(st));
            }
            masks.insert(
                key,
                deletes::apply::MaskedStretch {
                    deleted: deleted.clone(),
                    first_row,
                    rows: count,
                },
            );
            stretches.push((size, pf));
            first_row += count;
        }
    }
    let mut chosen: Vec<(u64, PartitionedFile)> = chosen
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !unread.contains(i))
        .map(|(_, f)| (f.object_meta.size, f))
        .chain(stretches)
        .collect();
    let Some(store_url) = store_url else {
        return Ok(Arc::new(EmptyExec::new(projected)));
    };
    if chosen.is_empty() {
        return Ok(Arc::new(EmptyExec::new(projected)));
    }
    // Balance groups by bytes: largest entry first onto the lightest group.
    let target = state.config().target_partitions().max(1).min(chosen.len());
    chosen.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> =
        (0..target).map(|_| (0, Vec::new())).collect();
    for (bytes, f) in chosen {
        let lightest = groups
            .iter_mut()
            .min_by_key(|(total, _)| *total)
            .expect("at least one group");
        lightest.0 += bytes;
        lightest.1.push(f);
    }
    let groups: Vec<FileGroup> = groups
        .into_iter()
        .map(|(_, files)| FileGroup::new(files))
        .collect();
    let scan_full = scan_schema(req.schema, file_column);
    let table_schema = if file_column {
        TableSchema::new(req.schema.clone(), vec![file_field()])
    } else {
        TableSchema::from(req.schema.clone())
    };
    let (groups, statistics) = datafusion_datasource::compute_all_files_statistics(
        groups,
        scan_full.clone(),
        true,
        false,
    )?;
    let store = runtime.object_store(&store_url)?;
    let mut source = ParquetSource::new(table_schema)
        .with_table_parquet_options(state.default_table_options().parquet.clone())
        .with_parquet_file_reader_factory(Arc::new(deletes::reader::DeletesReaderFactory {
            inner: Arc::new(CachedParquetFileReaderFactory::new(store, metadata_cache)),
            dense,
        }));
    if let Some(predicate) = predicate.filter(|_| !with_positions && masks.is_empty()) {
        source = source.with_predicate(predicate);
    }
    // The columns the scan reads: the caller's, plus (for equality deletes) each key
    // column and the file column, removed again above the filter.
    let wanted: Vec<usize> = match projection {
        Some(p) => p.clone(),
        None => (0..full.fields().len()).collect(),
    };
    let file_index = req.schema.fields().len();
    // The position column is made above the scan: the scan reads the file column instead.
    let pos_index = file_index + 1;
    let mut scan_columns: Vec<usize> = wanted
        .iter()
        .copied()
        .filter(|c| !with_positions || *c != pos_index)
        .collect();
    if (with_positions || !masks.is_empty()) && !scan_columns.contains(&file_index) {
        scan_columns.push(file_index);
    }
    let mut key_columns = Vec::new();
    if let Some(eq) = &equality {
        for k in &eq.keys {
            let mut cols = Vec::new();
            for (name, _) in &k.key.fields {
                let i = req.schema.index_of(name)?;
                let at = match scan_columns.iter().position(|c| *c == i) {
                    Some(at) => at,
                    None => {
                        scan_columns.push(i);
                        scan_columns.len() - 1
                    }
                };
                cols.push(at);
            }
            key_columns.push(cols);
        }
        if !scan_columns.contains(&file_index) {
            scan_columns.push(file_index);
        }
    }
    let config = FileScanConfigBuilder::new(store_url, Arc::new(source))
        .with_file_groups(groups)
        .with_statistics(statistics)
        .with_projection_indices(Some(scan_columns.clone()))?
        // Deletes applied above the scan (equality deletes, counted positions) remove rows
        // after it: a limit in the scan would count rows that are then removed.
        .with_limit(if equality.is_some() || !masks.is_empty() {
            None
        } else {
            limit
        })
        // Counted stretches must be read whole: DataFusion may not split their files into
        // byte ranges (which it otherwise does to balance partitions). This declares the
        // scan hash-partitioned on the file column, which is true (each value is one
        // entry of one group) and unused: the column is projected away above the filter.
        .with_partitioned_by_file_group(!masks.is_empty())
        .with_expr_adapter(Some(Arc::new(FieldIdAdapterFactory::for_schema(
            req.table,
            req.iceberg_schema,
            req.schema,
            req.metadata
                .properties()
                .get("schema.name-mapping.default")
                .map(String::as_str),
        ))))
        .build();
    let mut scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
    let file_at = scan_columns
        .iter()
        .position(|c| *c == file_index)
        .unwrap_or(usize::MAX);
    if with_positions {
        scan = Arc::new(positions::RowPositionExec::new(
            scan,
            req.table.to_string(),
            file_at,
            Arc::new(skipped_positions),
        ));
    }
    // Where each wanted column is in the scan's output (the position column, if any, last).
    let at: Vec<usize> = wanted
        .iter()
        .map(|c| {
            if with_positions && *c == pos_index {
                scan_columns.len()
            } else {
                scan_columns
                    .iter()
                    .position(|s| s == c)
                    .unwrap_or(usize::MAX)
            }
        })
        .collect();
    let width = scan_columns.len() + usize::from(with_positions);
    let filtered: Arc<dyn ExecutionPlan> = match planned {
        Some(planned) => Arc::new(deletes::apply::DeleteFilterExec::new(
            scan,
            req.table.to_string(),
            Arc::new(masks),
            equality,
            key_columns,
            file_at,
            planned.stats,
        )),
        None => scan,
    };
    // The scan's file column is dictionary-encoded (one value per file, so never copied
    // per row); the caller gets the plain strings its schema states.
    let schema = filtered.schema();
    let same_types = at
        .iter()
        .zip(projected.fields())
        .all(|(&i, f)| schema.field(i).data_type() == f.data_type());
    if same_types && at.len() == width && at.iter().enumerate().all(|(i, a)| i == *a) {
        return Ok(filtered);
    }
    let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = at
        .iter()
        .zip(projected.fields())
        .map(|(&i, f)| {
            let name = schema.field(i).name().clone();
            let column = Arc::new(PhysicalColumn::new(&name, i)) as Arc<dyn PhysicalExpr>;
            let expr = if schema.field(i).data_type() == f.data_type() {
                column
            } else {
                Arc::new(datafusion::physical_expr::expressions::CastExpr::new(
                    column,
                    f.data_type().clone(),
                    None,
                )) as Arc<dyn PhysicalExpr>
            };
            (expr, name)
        })
        .collect();
    Ok(Arc::new(
        datafusion::physical_plan::projection::ProjectionExec::try_new(exprs, filtered)?,
    ))
}

/// The identity-partition columns of `f` with a non-NULL partition value: (column index
/// in `schema`, value).
fn identity_constants(
    f: &LiveFile,
    md: &iceberg::spec::TableMetadata,
    schema: &SchemaRef,
) -> Vec<(usize, ScalarValue)> {
    let Some(spec) = md.partition_spec_by_id(f.spec_id) else {
        return Vec::new();
    };
    let values = f.file.partition().fields();
    let mut out = Vec::new();
    for (k, pf) in spec.fields().iter().enumerate() {
        if pf.transform != iceberg::spec::Transform::Identity {
            continue;
        }
        let Some(Some(iceberg::spec::Literal::Primitive(lit))) = values.get(k) else {
            continue;
        };
        let Some(i) = schema
            .fields()
            .iter()
            .position(|c| field_id(c) == Some(pf.source_id))
        else {
            continue;
        };
        if let Some(v) = literal_to_scalar(lit, schema.field(i).data_type()) {
            out.push((i, v));
        }
    }
    out
}

/// A partition value as a scalar of the column's Arrow type (`None`: no exact match).
fn literal_to_scalar(
    lit: &iceberg::spec::PrimitiveLiteral,
    target: &DataType,
) -> Option<ScalarValue> {
    use iceberg::spec::PrimitiveLiteral as L;
    Some(match (lit, target) {
        (L::Boolean(b), DataType::Boolean) => ScalarValue::Boolean(Some(*b)),
        (L::Int(v), DataType::Int32) => ScalarValue::Int32(Some(*v)),
        (L::Int(v), DataType::Int64) => ScalarValue::Int64(Some(i64::from(*v))),
        (L::Int(v), DataType::Date32) => ScalarValue::Date32(Some(*v)),
        (L::Long(v), DataType::Int64) => ScalarValue::Int64(Some(*v)),
        (L::Long(v), DataType::Time64(u)) => ScalarValue::new_primitive::<
            datafusion::arrow::datatypes::Time64MicrosecondType,
        >(Some(*v), &DataType::Time64(*u))
        .ok()?,
        (L::Long(v), DataType::Timestamp(u, tz)) => match u {
            datafusion::arrow::datatypes::TimeUnit::Microsecond => {
                ScalarValue::TimestampMicrosecond(Some(*v), tz.clone())
            }
            datafusion::arrow::datatypes::TimeUnit::Nanosecond => {
                ScalarValue::TimestampNanosecond(Some(*v), tz.clone())
            }
            _ => return None,
        },
        (L::Float(v), DataType::Float32) => ScalarValue::Float32(Some(v.0)),
        (L::Float(v), DataType::Float64) => ScalarValue::Float64(Some(f64::from(v.0))),
        (L::Double(v), DataType::Float64) => ScalarValue::Float64(Some(v.0)),
        (L::String(v), DataType::Utf8) => ScalarValue::Utf8(Some(v.clone())),
        (L::String(v), DataType::LargeUtf8) => ScalarValue::LargeUtf8(Some(v.clone())),
        (L::String(v), DataType::Utf8View) => ScalarValue::Utf8View(Some(v.clone())),
        (L::Binary(v), DataType::Binary) => ScalarValue::Binary(Some(v.clone())),
        (L::Binary(v), DataType::LargeBinary) => ScalarValue::LargeBinary(Some(v.clone())),
        (L::Binary(v), DataType::FixedSizeBinary(n)) if v.len() == *n as usize => {
            ScalarValue::FixedSizeBinary(*n, Some(v.clone()))
        }
        (L::Int128(v), DataType::Decimal128(p, s)) => ScalarValue::Decimal128(Some(*v), *p, *s),
        (L::UInt128(v), DataType::FixedSizeBinary(16)) => {
            ScalarValue::FixedSizeBinary(16, Some(v.to_be_bytes().to_vec()))
        }
        // A top-level uuid column, which reads as its canonical text (`crate::uuid_text`).
        (L::UInt128(v), DataType::Utf8) => {
            ScalarValue::Utf8(Some(crate::uuid_text::text_of_u128(*v)))
        }
        _ => return None,
    })
}

/// Live files of a version, through the catalog's manifest cache.
pub async fn snapshot_files(
    engine: &Engine,
    table: &iceberg::table::Table,
    snapshot_id: Option<i64>,
) -> Result<Option<(Vec<LiveFile>, Vec<LiveFile>)>> {
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
        .map_err(|e| {
            datafusion::error::DataFusionError::Plan(format!(
                "table '{}': {}",
                floe_catalog::ident::table_display(table.identifier()),
                crate::error::display_error(&to_df(e))
            ))
        })
}
