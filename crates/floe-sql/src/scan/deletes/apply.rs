//! Applying loaded deletes.
//!
//! * Positions (Parquet position deletes and deletion vectors) become a
//!   [`ParquetAccessPlan`] on the data file, so deleted rows are skipped by the Parquet
//!   reader and never decoded; whole row groups with every row deleted are not read.
//! * Equality deletes are a hash anti-filter, [`DeleteFilterExec`], over the scan: a row
//!   of a data file with sequence number `s` in partition `p` is removed when its key is
//!   in a delete file of `p` (or of an unpartitioned spec) with a sequence number above
//!   `s`. Each key keeps only the highest such sequence number, so the filter is one
//!   hash probe per key group and scope, however many delete files there are.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, AsArray, BooleanBuilder, RecordBatch};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use roaring::RoaringTreemap;

use super::loader::KeyColumns;

/// The access plan that reads every row of a file except `deleted`, given the row counts
/// of its row groups. `None`: nothing in the file is deleted. Work is proportional to the
/// smaller of the deleted and the kept rows of each row group, so a file pruned down to
/// a few pages costs as little as one with a few deletes.
pub fn access_plan(row_group_rows: &[i64], deleted: &RoaringTreemap) -> Option<ParquetAccessPlan> {
    let mut plan = ParquetAccessPlan::new_all(row_group_rows.len());
    let mut start = 0u64;
    let mut any = false;
    for (rg, &rows) in row_group_rows.iter().enumerate() {
        let rows = rows.max(0) as u64;
        let end = start + rows;
        let skipped = deleted.range_cardinality(start..end);
        if skipped == 0 {
            start = end;
            continue;
        }
        any = true;
        if skipped == rows {
            plan.skip(rg);
            start = end;
            continue;
        }
        let mut group = RoaringTreemap::new();
        group.insert_range(start..end);
        // Runs of whichever is smaller; the gaps between them are the other kind.
        let runs_are_deleted = skipped <= rows - skipped;
        let members = if runs_are_deleted {
            group & deleted
        } else {
            group - deleted
        };
        type Selector = fn(usize) -> RowSelector;
        let (run, gap): (Selector, Selector) = if runs_are_deleted {
            (RowSelector::skip, RowSelector::select)
        } else {
            (RowSelector::select, RowSelector::skip)
        };
        let mut selectors: Vec<RowSelector> = Vec::new();
        let mut at = start;
        for (a, b) in runs(&members) {
            if a > at {
                selectors.push(gap((a - at) as usize));
            }
            selectors.push(run((b - a) as usize));
            at = b;
        }
        if at < end {
            selectors.push(gap((end - at) as usize));
        }
        plan.scan_selection(rg, RowSelection::from(selectors));
        start = end;
    }
    any.then_some(plan)
}

/// The maximal runs `[a, b)` of consecutive members of `set`, in order.
pub fn runs(set: &RoaringTreemap) -> impl Iterator<Item = (u64, u64)> + '_ {
    let mut members = set.iter().peekable();
    std::iter::from_fn(move || {
        let a = members.next()?;
        let mut b = a + 1;
        while members.peek() == Some(&b) {
            members.next();
            b += 1;
        }
        Some((a, b))
    })
}

/// A set of integer keys probed once per scanned row. Keys dense enough that a bitset
/// over their range costs no more than 8 bytes per key (surrogate and sequence keys,
/// the usual upsert keys) become that bitset, so probes stay in cache; others a hash set.
pub enum IntSet {
    Dense { min: i64, words: Vec<u64> },
    Sparse(hashbrown::HashSet<i64>),
}

impl IntSet {
    /// The set of `keys` (duplicates allowed).
    pub fn new(keys: Vec<i64>) -> Self {
        let (Some(&min), Some(&max)) = (keys.iter().min(), keys.iter().max()) else {
            return IntSet::Sparse(hashbrown::HashSet::new());
        };
        let span = (max as i128 - min as i128 + 1) as u128;
        if span <= 64 * keys.len() as u128 {
            let mut words = vec![0u64; span.div_ceil(64) as usize];
            for k in keys {
                let i = k.wrapping_sub(min) as u64;
                words[(i >> 6) as usize] |= 1 << (i & 63);
            }
            IntSet::Dense { min, words }
        } else {
            IntSet::Sparse(keys.into_iter().collect())
        }
    }

    #[inline]
    pub fn contains(&self, v: i64) -> bool {
        match self {
            IntSet::Dense { min, words } => {
                // Below `min` wraps to a huge offset, out of range like any above `max`.
                let i = v.wrapping_sub(*min) as u64;
                words
                    .get((i >> 6) as usize)
                    .is_some_and(|w| (w >> (i & 63)) & 1 == 1)
            }
            IntSet::Sparse(s) => s.contains(&v),
        }
    }

    /// Memory held, in bytes.
    pub fn bytes(&self) -> usize {
        match self {
            IntSet::Dense { words, .. } => words.len() * 8,
            IntSet::Sparse(s) => s.capacity() * 9,
        }
    }
}

/// Above this many distinct delete sequence numbers in one scope (a Flink job commits
/// an equality-delete file per checkpoint), integer keys are probed in one map of each
/// key's highest sequence number instead of one set per sequence number.
const MAX_LEVELS: usize = 4;

/// The equality-delete keys of one scope, each with the highest sequence number of a
/// delete file that holds it.
#[derive(Default)]
pub struct ScopeKeys {
    /// Row-encoded keys (any key but a single integer column).
    pub encoded: hashbrown::HashMap<Box<[u8]>, i64>,
    /// Single integer keys as loaded, by the sequence number of their delete file;
    /// [`ScopeKeys::seal`] turns them into `levels` or `ints`.
    pub loaded: HashMap<i64, Vec<i64>>,
    /// Single integer keys by sequence number, when there are few: a row of a data file
    /// with sequence number `s` is deleted when a level above `s` holds its key.
    pub levels: Vec<(i64, IntSet)>,
    /// Single integer keys with their highest sequence number, when levels are many.
    pub ints: hashbrown::HashMap<i64, i64>,
    /// The NULL key of a single integer column.
    pub null: Option<i64>,
}

impl ScopeKeys {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys held (a key in several levels counts once per level).
    pub fn len(&self) -> usize {
        self.encoded.len()
            + self.ints.len()
            + self.loaded.values().map(Vec::len).sum::<usize>()
            + self
                .levels
                .iter()
                .map(|(_, s)| match s {
                    IntSet::Dense { words, .. } => {
                        words.iter().map(|w| w.count_ones() as usize).sum()
                    }
                    IntSet::Sparse(s) => s.len(),
                })
                .sum::<usize>()
            + usize::from(self.null.is_some())
    }

    /// The integer key sets that delete rows of a data file with sequence number `seq`.
    pub fn levels_above(&self, seq: i64) -> impl Iterator<Item = &IntSet> {
        self.levels
            .iter()
            .take_while(move |(d, _)| *d > seq)
            .map(|(_, set)| set)
    }

    /// Turns the loaded integer keys into probe structures; returns the bytes they hold.
    pub fn seal(&mut self) -> usize {
        let loaded = std::mem::take(&mut self.loaded);
        if loaded.len() > MAX_LEVELS {
            for (seq, keys) in loaded {
                for k in keys {
                    let e = self.ints.entry(k).or_insert(seq);
                    *e = (*e).max(seq);
                }
            }
            return self.ints.capacity() * 17;
        }
        let mut levels: Vec<(i64, IntSet)> = loaded
            .into_iter()
            .map(|(seq, keys)| (seq, IntSet::new(keys)))
            .collect();
        levels.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        self.levels = levels;
        self.levels.iter().map(|(_, s)| s.bytes()).sum()
    }
}

/// The equality deletes of one key (set of field ids).
pub struct KeyDeletes {
    pub key: KeyColumns,
    /// Keys per scope (`None`: global, from an unpartitioned spec; `Some`: one spec id
    /// and partition tuple).
    pub scopes: HashMap<Option<String>, ScopeKeys>,
}

/// What the filter knows of a data file.
#[derive(Debug, Clone)]
pub struct FileFacts {
    pub sequence_number: i64,
    /// `None` for files of an unpartitioned spec.
    pub scope: Option<String>,
}

/// Everything a scan's delete filter shares across partitions.
pub struct EqualityDeletes {
    pub keys: Vec<KeyDeletes>,
    /// By data file location, as the scan's file column carries it.
    pub files: HashMap<String, FileFacts>,
}

/// Counts shown by `EXPLAIN ANALYZE` and the plan text.
#[derive(Debug, Clone, Default)]
pub struct DeleteStats {
    pub position_files: usize,
    pub vector_files: usize,
    pub equality_files: usize,
    pub positions: u64,
    pub equality_keys: usize,
    pub memory_bytes: usize,
    pub data_files_with_deletes: usize,
    /// Position and vector files found loaded in the session's file-metadata cache.
    pub cached_files: usize,
}

/// A stretch of a data file (a run of its row groups) that the scan reads whole, under a
/// file-column value of its own, with the file's deleted positions applied here as a
/// mask: the `k`-th row the stretch returns is row `first_row + k` of the file.
#[derive(Debug)]
pub struct MaskedStretch {
    pub deleted: Arc<RoaringTreemap>,
    pub first_row: u64,
    /// Rows of the stretch; more would mean the counting is off, which fails the scan.
    pub rows: u64,
}

/// Applies positions of dense deletes in full scans (by counting rows of
/// [`MaskedStretch`]es) and equality deletes to the rows of a scan, and reports the
/// deletes applied by the scan beneath it. Columns of the input: the scan's, with the
/// data file location (or a stretch's key) at `file_column`.
///
/// Counting positions is exact only when the scan below returns every row of each
/// stretch, in order, one stretch per batch: no predicate or byte-range split in the
/// scan (checked when executed) and no filter pushed through this node (it passes none).
pub struct DeleteFilterExec {
    input: Arc<dyn ExecutionPlan>,
    table: String,
    /// Masked stretches by their file-column value.
    masks: Arc<HashMap<String, MaskedStretch>>,
    equality: Option<Arc<EqualityDeletes>>,
    /// Input column of each key's fields, per key of `equality`.
    key_columns: Vec<Vec<usize>>,
    file_column: usize,
    stats: DeleteStats,
    metrics: ExecutionPlanMetricsSet,
    reservation: Arc<Mutex<Option<MemoryReservation>>>,
}

impl fmt::Debug for DeleteFilterExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeleteFilterExec")
            .field("table", &self.table)
            .field("stats", &self.stats)
            .finish()
    }
}

impl DeleteFilterExec {
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        table: String,
        masks: Arc<HashMap<String, MaskedStretch>>,
        equality: Option<Arc<EqualityDeletes>>,
        key_columns: Vec<Vec<usize>>,
        file_column: usize,
        stats: DeleteStats,
    ) -> Self {
        Self {
            input,
            table,
            masks,
            equality,
            key_columns,
            file_column,
            stats,
            metrics: ExecutionPlanMetricsSet::new(),
            reservation: Arc::new(Mutex::new(None)),
        }
    }
}

impl DisplayAs for DeleteFilterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let s = &self.stats;
        write!(
            f,
            "IcebergDeleteFilter: table={}, data_files_with_deletes={}, position_delete_files={}, deletion_vectors={}, positions={}, equality_delete_files={}, equality_keys={}",
            self.table,
            s.data_files_with_deletes,
            s.position_files,
            s.vector_files,
            s.positions,
            s.equality_files,
            s.equality_keys
        )
    }
}

impl ExecutionPlan for DeleteFilterExec {
    fn name(&self) -> &'static str {
        "IcebergDeleteFilter"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    /// Counted stretches must reach this node whole: DataFusion may not split their
    /// files into byte ranges.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![self.masks.is_empty()]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = crate::scan::single_child(children)?;
        Ok(Arc::new(DeleteFilterExec::new(
            input,
            self.table.clone(),
            self.masks.clone(),
            self.equality.clone(),
            self.key_columns.clone(),
            self.file_column,
            self.stats.clone(),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let s = &self.stats;
        {
            // Once per plan (not per partition, which would multiply them): the gauges
            // and the reservation of the loaded deletes in the session's memory pool.
            let mut held = self.reservation.lock().unwrap_or_else(|p| p.into_inner());
            if held.is_none() {
                let gauge = |name: &'static str, v: usize| {
                    MetricBuilder::new(&self.metrics).global_gauge(name).set(v);
                };
                gauge(
                    "delete_files_loaded",
                    s.position_files + s.vector_files + s.equality_files - s.cached_files,
                );
                gauge("delete_files_cached", s.cached_files);
                gauge("deleted_positions", s.positions as usize);
                gauge("equality_delete_keys", s.equality_keys);
                gauge("delete_memory_bytes", s.memory_bytes);
                let r = MemoryConsumer::new(format!("floe deletes of {}", self.table))
                    .register(context.memory_pool());
                if let Err(e) = r.try_grow(s.memory_bytes) {
                    return exec_err!(
                        "the delete files of table '{}' need {} bytes of memory, more than the memory limit allows: {e}",
                        self.table,
                        s.memory_bytes
                    );
                }
                *held = Some(r);
            }
        }
        let removed = MetricBuilder::new(&self.metrics)
            .counter("rows_removed_by_equality_deletes", partition);
        if !self.masks.is_empty() {
            self.check_counted_input()?;
        }
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        if self.equality.is_none() && self.masks.is_empty() {
            return Ok(input);
        }
        let eq = self.equality.clone();
        let key_columns = self.key_columns.clone();
        let file_column = self.file_column;
        let table = self.table.clone();
        let converters = match &eq {
            Some(eq) => eq
                .keys
                .iter()
                .map(|k| k.key.converter())
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let masks = self.masks.clone();
        let masked = MetricBuilder::new(&self.metrics).counter("rows_removed_by_masks", partition);
        // The stretch being read and the file position of its next row.
        let mut current: Option<(String, u64)> = None;
        let stream = input.map(move |batch| {
            let mut batch = batch?;
            if batch.num_rows() == 0 {
                return Ok(batch);
            }
            if !masks.is_empty() {
                let key = batch_file_path(&batch, file_column, &table)?;
                if let Some(stretch) = masks.get(&key) {
                    if current.as_ref().is_none_or(|(k, _)| *k != key) {
                        current = Some((key, stretch.first_row));
                    }
                    let Some((_, next)) = current.as_mut() else {
                        unreachable!("set above")
                    };
                    let (from, n) = (*next, batch.num_rows() as u64);
                    if from + n > stretch.first_row + stretch.rows {
                        return exec_err!(
                            "table '{table}': a data file returned more rows than its row groups hold; its deletes cannot be applied"
                        );
                    }
                    *next += n;
                    let before = batch.num_rows();
                    batch = mask_positions(&batch, &stretch.deleted, from)?;
                    masked.add(before - batch.num_rows());
                }
            }
            if let Some(eq) = &eq {
                let before = batch.num_rows();
                batch = filter_batch(&batch, eq, &key_columns, file_column, &converters, &table)?;
                removed.add(before - batch.num_rows());
            }
            Ok(batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

impl DeleteFilterExec {
    /// Whether the scan below returns counted stretches whole: a plain Parquet scan with
    /// no predicate and no file read in byte ranges.
    fn check_counted_input(&self) -> Result<()> {
        let config = crate::scan::whole_file_scan(&self.input, &self.table, "delete positions")?;
        if config.file_source().filter().is_some() {
            return exec_err!(
                "table '{}': delete positions cannot be counted over a scan that filters rows",
                self.table
            );
        }
        Ok(())
    }
}

/// `batch` without the rows at file positions in `deleted`, its first row being at
/// position `from`. Work is proportional to the deleted rows in its range.
fn mask_positions(batch: &RecordBatch, deleted: &RoaringTreemap, from: u64) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let to = from + n as u64;
    if deleted.range_cardinality(from..to) == 0 {
        return Ok(batch.clone());
    }
    let mut keep = datafusion::arrow::array::BooleanBufferBuilder::new(n);
    keep.append_n(n, true);
    let mut positions = deleted.iter();
    positions.advance_to(from);
    for p in positions.take_while(|p| *p < to) {
        keep.set_bit((p - from) as usize, false);
    }
    let keep = datafusion::arrow::array::BooleanArray::new(keep.finish(), None);
    Ok(filter_record_batch(batch, &keep)?)
}

/// The facts of the data file a batch came from. A scan batch never mixes files (each
/// comes from one file's reader), which is checked on its first and last rows.
fn batch_file<'a>(
    batch: &RecordBatch,
    eq: &'a EqualityDeletes,
    file_column: usize,
    table: &str,
) -> Result<&'a FileFacts> {
    let path = batch_file_path(batch, file_column, table)?;
    match eq.files.get(&path) {
        Some(f) => Ok(f),
        None => exec_err!(
            "table '{table}': rows of data file '{path}' reached the delete filter, which was not planned for it"
        ),
    }
}

/// The data file path of a non-empty scan batch (its file column). A scan batch never
/// mixes files (each comes from one file's reader), which is checked on its first and
/// last rows.
pub(crate) fn batch_file_path(
    batch: &RecordBatch,
    file_column: usize,
    table: &str,
) -> Result<String> {
    let col = batch.column(file_column);
    let at = |i: usize| datafusion::common::ScalarValue::try_from_array(col, i);
    let first = at(0)?;
    let last = at(batch.num_rows() - 1)?;
    if first != last {
        return exec_err!("table '{table}': a scan batch mixes rows of two data files");
    }
    let path = match &first {
        datafusion::common::ScalarValue::Utf8(Some(p))
        | datafusion::common::ScalarValue::LargeUtf8(Some(p))
        | datafusion::common::ScalarValue::Utf8View(Some(p)) => p.clone(),
        datafusion::common::ScalarValue::Dictionary(_, v) => match v.as_ref() {
            datafusion::common::ScalarValue::Utf8(Some(p)) => p.clone(),
            other => return exec_err!("table '{table}': unexpected file column value {other}"),
        },
        other => return exec_err!("table '{table}': unexpected file column value {other}"),
    };
    Ok(path)
}

fn filter_batch(
    batch: &RecordBatch,
    eq: &EqualityDeletes,
    key_columns: &[Vec<usize>],
    file_column: usize,
    converters: &[datafusion::arrow::row::RowConverter],
    table: &str,
) -> Result<RecordBatch> {
    if batch.num_rows() == 0 {
        return Ok(batch.clone());
    }
    let facts = batch_file(batch, eq, file_column, table)?;
    let seq = facts.sequence_number;
    let mut keep = vec![true; batch.num_rows()];
    let mut any_removed = false;
    for ((k, cols), converter) in eq.keys.iter().zip(key_columns).zip(converters) {
        // The scopes whose deletes can apply to this file: global and its partition's.
        let scopes: Vec<&ScopeKeys> = [
            k.scopes.get(&None),
            facts
                .scope
                .as_ref()
                .and_then(|s| k.scopes.get(&Some(s.clone()))),
        ]
        .into_iter()
        .flatten()
        .collect();
        if scopes.is_empty() {
            continue;
        }
        if k.key.is_int() {
            let levels: Vec<&IntSet> = scopes.iter().flat_map(|s| s.levels_above(seq)).collect();
            let null_deleted = scopes.iter().any(|s| s.null.is_some_and(|d| d > seq));
            let column = batch.column(cols[0]);
            let values = match column.data_type() {
                DataType::Int64 => column.clone(),
                _ => cast(column, &DataType::Int64)?,
            };
            let values = values.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let raw = values.values();
            let maps: Vec<&ScopeKeys> = scopes
                .iter()
                .copied()
                .filter(|s| !s.ints.is_empty())
                .collect();
            if levels.is_empty() && maps.is_empty() && !null_deleted {
                continue;
            }
            let nulls = values.nulls().filter(|n| n.null_count() > 0);
            for (i, &v) in raw.iter().enumerate() {
                let hit = match nulls {
                    Some(n) if n.is_null(i) => null_deleted,
                    _ => {
                        levels.iter().any(|s| s.contains(v))
                            || maps
                                .iter()
                                .any(|m| m.ints.get(&v).is_some_and(|&d| d > seq))
                    }
                };
                if hit {
                    keep[i] = false;
                    any_removed = true;
                }
            }
        } else {
            let arrays: Vec<_> = cols.iter().map(|&c| batch.column(c).clone()).collect();
            let rows = converter.convert_columns(&arrays)?;
            for (i, row) in rows.iter().enumerate() {
                let bytes = row.as_ref();
                if scopes
                    .iter()
                    .any(|s| s.encoded.get(bytes).is_some_and(|&d| d > seq))
                {
                    keep[i] = false;
                    any_removed = true;
                }
            }
        }
    }
    if !any_removed {
        return Ok(batch.clone());
    }
    let mut mask = BooleanBuilder::with_capacity(keep.len());
    mask.append_slice(&keep);
    Ok(filter_record_batch(batch, &mask.finish())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::datasource::physical_plan::parquet::RowGroupAccess;

    fn plan(rows: &[i64], deleted: &[u64]) -> Option<Vec<RowGroupAccess>> {
        access_plan(rows, &deleted.iter().copied().collect()).map(|p| p.into_inner())
    }

    #[test]
    fn masks_remove_the_deleted_positions_of_a_batch_at_its_offset() {
        use datafusion::arrow::array::Int64Array;
        use datafusion::arrow::datatypes::{Field, Schema};
        let schema = Arc::new(Schema::new(vec![Field::new("p", DataType::Int64, false)]));
        // A batch holding file positions 100..110.
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(100..110))],
        )
        .unwrap();
        let deleted: RoaringTreemap = [3, 99, 100, 105, 109, 110, 5000].into_iter().collect();
        let kept = mask_positions(&batch, &deleted, 100).unwrap();
        let kept: Vec<i64> = kept
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .values()
            .to_vec();
        assert_eq!(kept, [101, 102, 103, 104, 106, 107, 108]);
        // Nothing deleted in range: the batch as it is.
        let none: RoaringTreemap = [1, 2, 200].into_iter().collect();
        assert_eq!(mask_positions(&batch, &none, 100).unwrap().num_rows(), 10);
    }

    #[test]
    fn positions_become_row_selections_per_row_group() {
        assert!(plan(&[10, 10], &[]).is_none());
        // Positions past the file's end (dangling) select nothing away.
        assert!(plan(&[10], &[10, 11]).is_none());
        let p = plan(&[4, 4, 4], &[1, 2, 4, 5, 6, 7]).unwrap();
        match &p[0] {
            RowGroupAccess::Selection(s) => assert_eq!(
                Vec::from(s.clone()),
                vec![
                    RowSelector::select(1),
                    RowSelector::skip(2),
                    RowSelector::select(1)
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(p[1], RowGroupAccess::Skip), "every row deleted");
        assert!(matches!(p[2], RowGroupAccess::Scan), "nothing deleted");
    }

    /// The rows an access plan reads, expanded.
    fn read_rows(rows: &[i64], plan: Option<Vec<RowGroupAccess>>) -> Vec<u64> {
        let mut out = Vec::new();
        let mut start = 0u64;
        for (i, &n) in rows.iter().enumerate() {
            let n = n as u64;
            match plan.as_ref().map(|p| &p[i]) {
                None | Some(RowGroupAccess::Scan) => out.extend(start..start + n),
                Some(RowGroupAccess::Skip) => {}
                Some(RowGroupAccess::Selection(s)) => {
                    let mut at = start;
                    for sel in s.iter() {
                        if !sel.skip {
                            out.extend(at..at + sel.row_count as u64);
                        }
                        at += sel.row_count as u64;
                    }
                    assert_eq!(at, start + n, "a selection covers its whole row group");
                }
            }
            start += n;
        }
        out
    }

    #[test]
    fn sparse_and_dense_deletes_read_exactly_the_other_rows() {
        let rows = [1000i64, 1, 4096, 3];
        let total: u64 = rows.iter().map(|&r| r as u64).sum();
        let mut seed = 7u64;
        for density in [1u64, 10, 50, 90, 99, 100] {
            let mut deleted = Vec::new();
            for p in 0..total {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if (seed >> 33) % 100 < density {
                    deleted.push(p);
                }
            }
            // A long run and its edges, as page pruning produces.
            deleted.extend(1200..4000);
            deleted.sort_unstable();
            deleted.dedup();
            let expected: Vec<u64> = (0..total)
                .filter(|p| deleted.binary_search(p).is_err())
                .collect();
            assert_eq!(
                read_rows(&rows, plan(&rows, &deleted)),
                expected,
                "density {density}%"
            );
        }
    }

    #[test]
    fn integer_key_sets_answer_like_a_hash_set_dense_or_sparse() {
        let dense = IntSet::new(vec![-3, 0, 5, 64, 127]);
        assert!(matches!(dense, IntSet::Dense { .. }));
        let sparse = IntSet::new(vec![i64::MIN, 7, i64::MAX]);
        assert!(matches!(sparse, IntSet::Sparse(_)));
        for v in [-4, -3, -1, 0, 5, 6, 63, 64, 127, 128, i64::MIN, i64::MAX] {
            assert_eq!(dense.contains(v), [-3, 0, 5, 64, 127].contains(&v), "{v}");
            assert_eq!(
                sparse.contains(v),
                [i64::MIN, 7, i64::MAX].contains(&v),
                "{v}"
            );
        }
        assert!(!IntSet::new(vec![]).contains(0));
    }

    #[test]
    fn a_key_deletes_only_rows_of_files_older_than_its_newest_delete() {
        // Few sequence numbers become levels, many one map; both answer alike.
        for files in [2i64, 2 + MAX_LEVELS as i64] {
            let mut scope = ScopeKeys::default();
            scope.loaded.insert(5, vec![1]);
            scope.loaded.insert(3, vec![2, 1]);
            for extra in 100..100 + files - 2 {
                scope.loaded.insert(extra, vec![1000 + extra]);
            }
            scope.seal();
            assert_eq!(scope.levels.is_empty(), files > MAX_LEVELS as i64);
            let deleted = |v: i64, data_seq: i64| {
                scope.levels_above(data_seq).any(|s| s.contains(v))
                    || scope.ints.get(&v).is_some_and(|&d| d > data_seq)
            };
            assert!(
                deleted(1, 4) && !deleted(1, 5),
                "strictly lower data sequence"
            );
            assert!(deleted(2, 2) && !deleted(2, 3) && !deleted(2, 4));
            assert!(!deleted(3, 0));
        }
    }
}
