//! Each row's position in its data file, for merge-on-read writes (position deletes
//! name rows by data file path and 0-based row position).
//!
//! DataFusion's Parquet scan has no row-number column, so positions are counted above
//! it. That is exact only under conditions the position scan sets up and this node
//! checks: every file is read whole by one partition (no byte-range splits), rows come
//! in file order (no predicate pushed into the decoder, so no row group, page or row is
//! pruned), and a batch never mixes files. The only rows the decoder skips are the
//! ones earlier delete files removed, whose positions are known and skipped here too.
//! A scan that breaks a condition fails; it never returns a wrong position.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{Result, exec_err};

use super::deletes::apply::batch_file_path;
use super::single_child;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;
use roaring::RoaringTreemap;

/// Name of the virtual column with each row's position in its data file.
pub const POS_COLUMN: &str = "__floe_pos";

/// The input's partitioning, emission and boundedness, with another schema.
fn properties_with_schema(
    input: &Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
) -> Arc<PlanProperties> {
    let p = input.properties();
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        p.output_partitioning().clone(),
        p.emission_type,
        p.boundedness,
    ))
}

/// The rows of one file the decoder skips (earlier deletes, pruned row groups and pages),
/// and how many rows the file has.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub positions: RoaringTreemap,
    pub rows: u64,
}

/// Appends [`POS_COLUMN`] to the rows of a Parquet `DataSourceExec`.
pub struct RowPositionExec {
    input: Arc<dyn ExecutionPlan>,
    table: String,
    /// Index of the file path column in the input.
    file_column: usize,
    /// Positions the decoder skips, per file path.
    skipped: Arc<HashMap<String, Skipped>>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for RowPositionExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowPositionExec")
            .field("table", &self.table)
            .finish()
    }
}

impl RowPositionExec {
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        table: String,
        file_column: usize,
        skipped: Arc<HashMap<String, Skipped>>,
    ) -> Self {
        let mut fields: Vec<Arc<Field>> = input.schema().fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(POS_COLUMN, DataType::Int64, false)));
        let schema: SchemaRef = Arc::new(Schema::new_with_metadata(
            fields,
            input.schema().metadata().clone(),
        ));
        let properties = properties_with_schema(&input, schema);
        Self {
            input,
            table,
            file_column,
            skipped,
            properties,
        }
    }

    /// Whether the input still reads every file whole, in order, unpruned.
    fn check_input(&self) -> Result<()> {
        super::whole_file_scan(&self.input, &self.table, "row positions").map(|_| ())
    }
}

impl DisplayAs for RowPositionExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "IcebergRowPositions: table={}", self.table)
    }
}

impl ExecutionPlan for RowPositionExec {
    fn name(&self) -> &'static str {
        "IcebergRowPositions"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = single_child(children)?;
        Ok(Arc::new(RowPositionExec::new(
            input,
            self.table.clone(),
            self.file_column,
            self.skipped.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.check_input()?;
        let input = self.input.execute(partition, context)?;
        let schema = self.properties.eq_properties.schema().clone();
        let file_column = self.file_column;
        let skipped = self.skipped.clone();
        let table = self.table.clone();
        let mut current: Option<String> = None;
        let mut next = 0u64;
        // The positions the decoder returns, in order, for a file it skips rows of: the
        // complement of the skipped ones (work per returned row, not per skipped row).
        let mut kept: Option<roaring::treemap::IntoIter> = None;
        let out_schema = schema.clone();
        let stream = input.map(move |batch| {
            let batch = batch?;
            let n = batch.num_rows();
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            if n == 0 {
                columns.push(Arc::new(Int64Array::from(Vec::<i64>::new())));
                return Ok(RecordBatch::try_new(out_schema.clone(), columns)?);
            }
            let path = batch_file_path(&batch, file_column, &table)?;
            if current.as_deref() != Some(path.as_str()) {
                current = Some(path.clone());
                next = 0;
                kept = skipped.get(&path).map(|s| {
                    let mut all = RoaringTreemap::new();
                    all.insert_range(0..s.rows);
                    (all - &s.positions).into_iter()
                });
            }
            let mut positions = Vec::with_capacity(n);
            match kept.as_mut() {
                None => {
                    positions.extend((next..next + n as u64).map(|p| p as i64));
                    next += n as u64;
                }
                Some(kept) => {
                    positions.extend(kept.by_ref().take(n).map(|p| p as i64));
                    if positions.len() < n {
                        return exec_err!(
                            "table '{table}': data file '{path}' returned more rows than it has"
                        );
                    }
                }
            }
            columns.push(Arc::new(Int64Array::from(positions)));
            Ok(RecordBatch::try_new(out_schema.clone(), columns)?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Rows `(file path, position)` per data file.
pub type CollectedPositions = Arc<std::sync::Mutex<HashMap<String, Vec<i64>>>>;

/// What a [`PositionSinkExec`] gathers while its rows stream through.
#[derive(Debug, Default, Clone)]
pub struct SinkOutputs {
    /// Positions of the rows to delete.
    pub deleted: CollectedPositions,
    /// Positions of target rows a MERGE matched (each may appear once).
    pub matched: CollectedPositions,
    /// Rows passed on that delete nothing (MERGE's inserts).
    pub inserted: Arc<std::sync::atomic::AtomicU64>,
}

/// Takes `[table columns..., file, pos, delete, keep, matched]` rows: records the
/// position of every `delete` row and of every `matched` row, and passes on the table
/// columns of the `keep` rows (NULL flags count as false). This lets one pass over the
/// target find the rows to delete and produce their replacements and new rows (UPDATE,
/// MERGE).
pub struct PositionSinkExec {
    input: Arc<dyn ExecutionPlan>,
    /// Number of table columns (the file, position and flag columns follow them).
    width: usize,
    outputs: SinkOutputs,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for PositionSinkExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PositionSinkExec").finish()
    }
}

impl PositionSinkExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, width: usize, outputs: SinkOutputs) -> Result<Self> {
        let in_schema = input.schema();
        let expected = width + 5;
        if in_schema.fields().len() != expected {
            return exec_err!(
                "position sink expects {expected} columns, the plan has {}",
                in_schema.fields().len()
            );
        }
        let schema: SchemaRef = Arc::new(in_schema.project(&(0..width).collect::<Vec<_>>())?);
        let properties = properties_with_schema(&input, schema);
        Ok(Self {
            input,
            width,
            outputs,
            properties,
        })
    }
}

impl DisplayAs for PositionSinkExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "IcebergPositionSink")
    }
}

/// Appends the (file, pos) of the rows whose `flags` are true to `into`.
fn record(
    into: &CollectedPositions,
    files: &datafusion::arrow::array::StringArray,
    positions: &datafusion::arrow::array::Int64Array,
    flags: &datafusion::arrow::array::BooleanArray,
) -> Result<()> {
    use datafusion::arrow::array::Array;
    let mut map = into.lock().unwrap_or_else(|p| p.into_inner());
    for i in 0..flags.len() {
        if !flags.is_valid(i) || !flags.value(i) {
            continue;
        }
        if files.is_null(i) || positions.is_null(i) {
            return exec_err!("a target row has no data file position");
        }
        let file = files.value(i);
        match map.get_mut(file) {
            Some(v) => v.push(positions.value(i)),
            None => {
                map.insert(file.to_string(), vec![positions.value(i)]);
            }
        }
    }
    Ok(())
}

impl ExecutionPlan for PositionSinkExec {
    fn name(&self) -> &'static str {
        "IcebergPositionSink"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = single_child(children)?;
        Ok(Arc::new(PositionSinkExec::new(
            input,
            self.width,
            self.outputs.clone(),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        use datafusion::arrow::array::{Array, AsArray, BooleanArray};
        use datafusion::arrow::compute::kernels::boolean::and_not;
        use datafusion::arrow::compute::{cast, filter_record_batch, prep_null_mask_filter};
        use datafusion::arrow::datatypes::Int64Type;
        let input = self.input.execute(partition, context)?;
        let schema = self.properties.eq_properties.schema().clone();
        let width = self.width;
        let outputs = self.outputs.clone();
        let out_schema = schema.clone();
        let stream = input.map(move |batch| {
            let batch = batch?;
            let files = cast(batch.column(width), &DataType::Utf8)?;
            let files = files.as_string::<i32>();
            let positions = batch.column(width + 1).as_primitive::<Int64Type>();
            // NULL flags are false.
            let flag = |i: usize| -> BooleanArray {
                let f = batch.column(width + 2 + i).as_boolean();
                match f.nulls() {
                    Some(_) => prep_null_mask_filter(f),
                    None => f.clone(),
                }
            };
            let (delete, keep, matched) = (flag(0), flag(1), flag(2));
            record(&outputs.deleted, files, positions, &delete)?;
            record(&outputs.matched, files, positions, &matched)?;
            let inserted = and_not(&keep, &delete)?;
            outputs.inserted.fetch_add(
                inserted.true_count() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            let table = batch.project(&(0..width).collect::<Vec<_>>())?;
            let table = RecordBatch::try_new(out_schema.clone(), table.columns().to_vec())?;
            Ok(filter_record_batch(&table, &keep)?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}
