//! [`FloeTable`]: one version of an Iceberg table as a DataFusion table, and
//! [`InsertExec`], the plan node that writes and commits `INSERT`s.

use std::any::Any;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use floe_catalog::SnapshotChange;
use iceberg::TableIdent;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::SchemaRef as IcebergSchemaRef;
use iceberg::table::Table;

use crate::error::iceberg_to_df;
use crate::scan::{ScanRequest, plan_scan, snapshot_files};
use crate::session::SessionShared;
use crate::write::write_plan;

/// The Arrow schema DataFusion sees: top-level fields keep their Iceberg field id (scans
/// match file columns by it); nested fields drop theirs, because Arrow compares nested
/// field metadata as part of the type and DataFusion's casts do not produce it. (Top-level
/// uuid fields are typed `Utf8` before this, by `crate::uuid_text::with_text_uuids`.)
pub fn dataframe_schema(iceberg_arrow: &Schema) -> SchemaRef {
    fn strip(dt: &DataType) -> DataType {
        let field = |f: &Field| {
            Arc::new(
                f.clone()
                    .with_data_type(strip(f.data_type()))
                    .with_metadata(Default::default()),
            )
        };
        match dt {
            DataType::List(f) => DataType::List(field(f)),
            DataType::LargeList(f) => DataType::LargeList(field(f)),
            DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
            DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| field(f)).collect()),
            DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
            other => other.clone(),
        }
    }
    let fields: Vec<Field> = iceberg_arrow
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(strip(f.data_type())))
        .collect();
    Arc::new(Schema::new_with_metadata(
        fields,
        iceberg_arrow.metadata().clone(),
    ))
}

/// A table version as DataFusion sees it. Scans read exactly this version; writes are
/// made against it and fail as a conflict if the table moved meanwhile (appends retry).
#[derive(Debug, Clone)]
pub struct FloeTable {
    pub(crate) shared: Arc<SessionShared>,
    pub(crate) ident: TableIdent,
    pub(crate) table: Table,
    pub(crate) snapshot_id: Option<i64>,
    pub(crate) iceberg_schema: IcebergSchemaRef,
    pub(crate) schema: SchemaRef,
    /// Set for time-travel versions, which are read-only.
    pub(crate) version: Option<String>,
    pub(crate) with_file_column: bool,
    /// Each row's position in its data file as a last column (merge-on-read writes).
    pub(crate) with_position_column: bool,
    pub(crate) only_files: Option<Arc<HashSet<String>>>,
    /// The session's transaction when the table was resolved: a write through this
    /// provider stages into that transaction, or commits at once if there was none, and
    /// fails if the session's transaction changed meanwhile.
    pub(crate) txn: Option<u64>,
    /// SHOW CREATE TABLE's text, built when first asked for.
    definition: std::sync::OnceLock<String>,
}

impl FloeTable {
    /// A provider for `table` read at `snapshot_id` with `schema`.
    pub fn new(
        shared: Arc<SessionShared>,
        ident: TableIdent,
        table: Table,
        snapshot_id: Option<i64>,
        iceberg_schema: IcebergSchemaRef,
        version: Option<String>,
    ) -> Result<Self> {
        // Top-level uuid columns are canonical text to DataFusion (`crate::uuid_text`).
        let arrow = crate::uuid_text::with_text_uuids(
            &iceberg_schema,
            schema_to_arrow_schema(&iceberg_schema).map_err(iceberg_to_df)?,
        );
        let schema = dataframe_schema(&arrow);
        Ok(Self {
            ident,
            table,
            snapshot_id,
            iceberg_schema,
            schema,
            version,
            with_file_column: false,
            with_position_column: false,
            only_files: None,
            txn: shared.txn_id(),
            definition: std::sync::OnceLock::new(),
            shared,
        })
    }

    /// A CREATE TABLE statement that makes an empty table like this version: columns,
    /// partitioning, properties.
    fn create_statement(&self) -> String {
        use crate::types::{iceberg_type_to_sql, sql_identifier, sql_string};
        use iceberg::spec::Transform;
        let md = self.table.metadata();
        let mut name: Vec<String> = self
            .ident
            .namespace()
            .iter()
            .map(|p| sql_identifier(p))
            .collect();
        name.push(sql_identifier(self.ident.name()));
        let columns: Vec<String> = self
            .iceberg_schema
            .as_struct()
            .fields()
            .iter()
            .map(|f| {
                format!(
                    "  {} {}{}",
                    sql_identifier(&f.name),
                    iceberg_type_to_sql(&f.field_type),
                    if f.required { " NOT NULL" } else { "" }
                )
            })
            .collect();
        let mut out = format!(
            "CREATE TABLE {} (\n{}\n)",
            name.join("."),
            columns.join(",\n")
        );
        let spec = md.default_partition_spec();
        let items: Vec<String> = spec
            .fields()
            .iter()
            .filter_map(|pf| {
                let col = sql_identifier(self.iceberg_schema.name_by_field_id(pf.source_id)?);
                Some(match pf.transform {
                    Transform::Identity => col,
                    Transform::Bucket(n) => format!("bucket({n}, {col})"),
                    Transform::Truncate(n) => format!("truncate({n}, {col})"),
                    Transform::Year => format!("year({col})"),
                    Transform::Month => format!("month({col})"),
                    Transform::Day => format!("day({col})"),
                    Transform::Hour => format!("hour({col})"),
                    other => format!("{other}({col})"),
                })
            })
            .collect();
        if !items.is_empty() {
            out.push_str(&format!("\nPARTITIONED BY ({})", items.join(", ")));
        }
        let mut props: Vec<(&String, &String)> = md.properties().iter().collect();
        props.sort();
        if !props.is_empty() {
            let list: Vec<String> = props
                .iter()
                .map(|(k, v)| format!("{} = {}", sql_string(k), sql_string(v)))
                .collect();
            out.push_str(&format!("\nTBLPROPERTIES ({})", list.join(", ")));
        }
        out
    }

    /// The table's identifier.
    pub fn ident(&self) -> &TableIdent {
        &self.ident
    }

    /// The iceberg table (metadata) this provider reads.
    pub fn iceberg_table(&self) -> &Table {
        &self.table
    }

    /// The Iceberg schema this version is read with.
    pub fn iceberg_schema(&self) -> &IcebergSchemaRef {
        &self.iceberg_schema
    }

    /// The snapshot read (`None`: empty table).
    pub fn snapshot_id(&self) -> Option<i64> {
        self.snapshot_id
    }

    /// Display name, `ns.table`.
    pub fn display_name(&self) -> String {
        floe_catalog::ident::table_display(&self.ident)
    }

    /// The same version with the row's data file path as an extra last column,
    /// optionally restricted to some files (for copy-on-write DML).
    pub fn with_file_column(&self, only: Option<Arc<HashSet<String>>>) -> Self {
        Self {
            with_file_column: true,
            only_files: only,
            ..self.clone()
        }
    }

    /// The same version with each row's data file path and position in that file as
    /// two extra last columns (for merge-on-read DML).
    pub fn with_positions(&self) -> Self {
        Self {
            with_file_column: true,
            with_position_column: true,
            only_files: None,
            ..self.clone()
        }
    }

    /// Refuses writes to time-travel versions.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if let Some(v) = &self.version {
            return plan_err!(
                "cannot write to table '{}' at {v}: time-travel versions are read-only",
                self.display_name()
            );
        }
        if self.shared.engine.catalog.is_read_only() {
            return plan_err!(
                "cannot write to table '{}': the warehouse is open read-only",
                self.display_name()
            );
        }
        Ok(())
    }
}

#[async_trait]
impl TableProvider for FloeTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        crate::scan::output_schema(
            &self.schema,
            self.with_file_column,
            self.with_position_column,
        )
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(self.definition.get_or_init(|| self.create_statement()))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let files = snapshot_files(&self.shared.engine, &self.table, self.snapshot_id).await?;
        let name = self.display_name();
        let root = self.shared.engine.catalog.storage().root_location();
        plan_scan(
            state,
            ScanRequest {
                table: &name,
                schema: &self.schema,
                iceberg_schema: &self.iceberg_schema,
                files,
                with_file_column: self.with_file_column,
                with_position_column: self.with_position_column,
                only_files: self.only_files.as_deref(),
                metadata: self.table.metadata(),
                warehouse_root: &root,
            },
            projection,
            filters,
            limit,
        )
        .await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_writable()?;
        let overwrite = match insert_op {
            InsertOp::Append => false,
            InsertOp::Overwrite => true,
            InsertOp::Replace => {
                return plan_err!(
                    "REPLACE INTO is not supported for Iceberg table '{}'; use INSERT INTO, INSERT OVERWRITE or UPDATE",
                    self.display_name()
                );
            }
        };
        Ok(Arc::new(InsertExec::new(self.clone(), input, overwrite)))
    }

    /// `TRUNCATE t`: an overwrite with nothing, one snapshot removing every file; returns
    /// the number of rows removed, as DELETE does.
    async fn truncate(&self, state: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_writable()?;
        let empty = Arc::new(datafusion::physical_plan::empty::EmptyExec::new(
            self.schema.clone(),
        ));
        let mut exec = InsertExec::new(self.clone(), empty, true);
        exec.truncate = true;
        // With delete files, the rows removed are counted by a scan (delete files
        // applied), not summed from the manifests' record counts.
        let has_deletes = snapshot_files(&self.shared.engine, &self.table, self.snapshot_id())
            .await?
            .is_some_and(|(_, deletes)| !deletes.is_empty());
        if has_deletes {
            exec.visible_rows = Some(self.scan(state, Some(&vec![]), &[], None).await?);
        }
        Ok(Arc::new(exec))
    }
}

/// The one-column `count` schema DML statements return.
pub fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

/// A one-row `count` batch.
pub fn count_batch(n: u64) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        count_schema(),
        vec![Arc::new(UInt64Array::from(vec![n]))],
    )?)
}

/// Writes its input into new data files of the table, then commits one `append` (or,
/// for INSERT OVERWRITE, `overwrite`) snapshot — or stages it inside a transaction.
/// Runs when executed (never at planning, so EXPLAIN writes nothing). Returns the row
/// count.
#[derive(Debug)]
pub struct InsertExec {
    table: FloeTable,
    input: Arc<dyn ExecutionPlan>,
    overwrite: bool,
    /// TRUNCATE: report the rows removed rather than the (zero) rows written.
    truncate: bool,
    /// TRUNCATE of a table with delete files: the scan that counts its visible rows.
    visible_rows: Option<Arc<dyn ExecutionPlan>>,
    properties: Arc<PlanProperties>,
}

impl InsertExec {
    fn new(table: FloeTable, input: Arc<dyn ExecutionPlan>, overwrite: bool) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(count_schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            table,
            input,
            overwrite,
            truncate: false,
            visible_rows: None,
            properties,
        }
    }
}

impl DisplayAs for InsertExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "InsertExec: table={}, op={}",
            self.table.display_name(),
            if self.overwrite {
                "overwrite"
            } else {
                "append"
            }
        )
    }
}

async fn run_insert(
    table: FloeTable,
    input: Arc<dyn ExecutionPlan>,
    overwrite: bool,
    truncate: bool,
    visible_rows: Option<Arc<dyn ExecutionPlan>>,
    ctx: Arc<TaskContext>,
) -> Result<u64> {
    let name = table.display_name();
    let shared = table.shared.clone();
    // Until the commit returns, the data files written here are named by no metadata.
    let _writing = shared.engine.catalog.write_guard();
    // Inside a transaction, write against the session's staged view of the table.
    let base = shared
        .resolve(&table.ident)
        .await?
        .unwrap_or_else(|| table.table.clone());
    let (files, rows) = write_plan(&base, &name, input, ctx.clone()).await?;
    if files.is_empty() && !overwrite {
        return Ok(0);
    }
    // An overwrite never retries, so the rows TRUNCATE removes are exactly the base's:
    // counted by the planned scan when the base is the version it read (delete files
    // applied), else the files' record counts.
    let rows = match (truncate, visible_rows) {
        (false, _) => rows,
        (true, Some(scan)) if table.snapshot_id() == base.metadata().current_snapshot_id() => {
            datafusion::physical_plan::collect(scan, ctx)
                .await?
                .iter()
                .map(|b| b.num_rows() as u64)
                .sum()
        }
        (true, _) => crate::scan::snapshot_files(
            &shared.engine,
            &base,
            base.metadata().current_snapshot_id(),
        )
        .await?
        .map(|(live, _)| live.iter().map(|f| f.file.record_count()).sum())
        .unwrap_or(0),
    };
    let change = SnapshotChange {
        added: files,
        remove_all: overwrite,
        ..Default::default()
    };
    crate::write::commit::commit(&shared, table.txn, &table.ident, &base, change, true).await?;
    Ok(rows)
}

impl ExecutionPlan for InsertExec {
    fn name(&self) -> &'static str {
        "InsertExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// Each input partition is written by its own writer, so more partitions (up to
    /// `target_partitions`) write in parallel.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(input) = children.into_iter().next() else {
            return exec_err!("InsertExec needs one input");
        };
        let mut exec = Self::new(self.table.clone(), input, self.overwrite);
        exec.truncate = self.truncate;
        exec.visible_rows = self.visible_rows.clone();
        Ok(Arc::new(exec))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return exec_err!("InsertExec has one partition, not {partition}");
        }
        let fut = run_insert(
            self.table.clone(),
            self.input.clone(),
            self.overwrite,
            self.truncate,
            self.visible_rows.clone(),
            context,
        );
        let stream = futures::stream::once(async move { fut.await.and_then(count_batch) });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            count_schema(),
            stream,
        )))
    }
}
