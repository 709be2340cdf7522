//! Row-group and page pruning for scans that count row positions.
//!
//! A position scan ([`super::positions`]) cannot let the Parquet decoder prune anything
//! on its own: positions are counted above the decoder, so a row group or page skipped
//! silently would shift every later position. Here the same pruning is done up front and
//! made explicit: the rows of every row group and page whose statistics rule the filter
//! out become positions the decoder skips *and* the position counter skips, exactly as
//! rows removed by earlier delete files are. A merge-on-read DELETE of a few rows then
//! decodes a few pages instead of the whole table.
//!
//! Statistics are only trusted when they are about the column the filter names: each
//! column the filter reads must be in the file under the same name, with the table
//! field's id and the same Arrow type. A file written before a rename, a type promotion
//! or without field ids is read whole (no pruning), never pruned by the wrong column.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::physical_plan::parquet::{
    PagePruningAccessPlanFilter, ParquetAccessPlan, ParquetFileMetrics, RowGroupAccess,
    RowGroupAccessPlanFilter,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::pruning::PruningPredicate;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::ParquetMetaData;
use roaring::RoaringTreemap;

use super::field_id;

/// A filter prepared once per scan, applied to each file's metadata.
pub struct PositionPruning {
    /// (name, field id, type) of every column the filter reads.
    columns: Vec<(String, Option<i32>, DataType)>,
    row_groups: PruningPredicate,
    pages: PagePruningAccessPlanFilter,
}

impl PositionPruning {
    /// `predicate` is over `table_schema` (top-level fields carry field ids). `None` when
    /// the filter can prune nothing by statistics.
    pub fn new(predicate: Arc<dyn PhysicalExpr>, table_schema: SchemaRef) -> Option<Self> {
        let row_groups = PruningPredicate::try_new(predicate.clone(), table_schema.clone()).ok()?;
        if row_groups.always_true() {
            return None;
        }
        let names: HashSet<String> = datafusion::physical_expr::utils::collect_columns(&predicate)
            .into_iter()
            .map(|c| c.name().to_string())
            .collect();
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let field = table_schema.field_with_name(&name).ok()?;
            columns.push((name, field_id(field), field.data_type().clone()));
        }
        let pages = PagePruningAccessPlanFilter::new(&predicate, table_schema.clone());
        Some(Self {
            columns,
            row_groups,
            pages,
        })
    }

    /// The positions of `metadata`'s file that the filter cannot be true for (whole row
    /// groups and pages), or `None` when the file's statistics cannot be trusted for the
    /// filter's columns or rule nothing out.
    pub fn skipped(&self, path: &str, metadata: &ParquetMetaData) -> Option<RoaringTreemap> {
        let parquet_schema = metadata.file_metadata().schema_descr();
        let file_schema = parquet_to_arrow_schema(
            parquet_schema,
            metadata.file_metadata().key_value_metadata(),
        )
        .ok()?;
        for (name, id, data_type) in &self.columns {
            let field = file_schema.field_with_name(name).ok()?;
            if id.is_none() || field_id(field) != *id || field.data_type() != data_type {
                return None;
            }
        }
        let groups = metadata.row_groups();
        let metrics = ExecutionPlanMetricsSet::new();
        let file_metrics = ParquetFileMetrics::new(0, path, &metrics);
        let mut filter = RowGroupAccessPlanFilter::new(ParquetAccessPlan::new_all(groups.len()));
        filter.prune_by_statistics(
            &file_schema,
            parquet_schema,
            groups,
            &self.row_groups,
            &file_metrics,
        );
        let plan = self.pages.prune_plan_with_page_index(
            filter.build(),
            &file_schema,
            parquet_schema,
            metadata,
            &file_metrics,
        );
        let mut skipped = RoaringTreemap::new();
        let mut start = 0u64;
        for (group, access) in groups.iter().zip(plan.inner()) {
            let rows = group.num_rows().max(0) as u64;
            match access {
                RowGroupAccess::Scan => {}
                RowGroupAccess::Skip => {
                    skipped.insert_range(start..start + rows);
                }
                RowGroupAccess::Selection(selection) => {
                    let mut at = start;
                    for selector in selection.iter() {
                        let n = selector.row_count as u64;
                        if selector.skip {
                            skipped.insert_range(at..at + n);
                        }
                        at += n;
                    }
                }
            }
            start += rows;
        }
        (!skipped.is_empty()).then_some(skipped)
    }
}
