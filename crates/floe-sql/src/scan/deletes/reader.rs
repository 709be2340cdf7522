//! The Parquet reader for scans with deletes.
//!
//! Position deletes and deletion vectors reach the Parquet reader as row selections. A
//! dense selection (many short runs: every 10th row deleted is 2 selectors per 10 rows)
//! is applied as a bit mask over decoded batches, which is the fast way; but when the
//! file's page index is loaded (DataFusion's metadata cache always loads it), the reader
//! first walks every selector against every column's pages to find pages it could skip,
//! twice, and a selection that skips any page falls back to slow per-run decoding. For a
//! dense selection no page is worth skipping, so its file's metadata goes to the reader
//! without the page index. A scan with a page-pruning predicate still loads it itself.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{
    ParquetAccessPlan, ParquetFileReaderFactory, RowGroupAccess,
};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataBuilder};

/// Below this many rows per selector on average, the Parquet reader applies a selection
/// as a mask (arrow-rs' own default threshold for its automatic choice).
const DENSE_ROWS_PER_SELECTOR: usize = 32;

/// Whether `plan` selects rows in runs so short that it is read as a mask.
pub fn is_dense(plan: &ParquetAccessPlan) -> bool {
    let (mut rows, mut selectors) = (0usize, 0usize);
    for access in plan.inner() {
        if let RowGroupAccess::Selection(s) = access {
            for selector in s.iter() {
                rows += selector.row_count;
                selectors += 1;
            }
        }
    }
    selectors > 0 && rows < selectors * DENSE_ROWS_PER_SELECTOR
}

/// Wraps the scan's reader factory: files whose access plan is dense get their metadata
/// without the page index.
#[derive(Debug)]
pub struct DeletesReaderFactory {
    pub inner: Arc<dyn ParquetFileReaderFactory>,
    /// The files (by object-store path) whose access plan [`is_dense`].
    pub dense: HashSet<object_store::path::Path>,
}

impl ParquetFileReaderFactory for DeletesReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> datafusion::common::Result<Box<dyn AsyncFileReader + Send>> {
        let dense = self.dense.contains(&file.object_meta.location);
        let inner = self
            .inner
            .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        if !dense {
            return Ok(inner);
        }
        Ok(Box::new(WithoutPageIndex { inner }))
    }
}

struct WithoutPageIndex {
    inner: Box<dyn AsyncFileReader + Send>,
}

impl fmt::Debug for WithoutPageIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WithoutPageIndex")
    }
}

impl AsyncFileReader for WithoutPageIndex {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let metadata = self.inner.get_metadata(options).await?;
            if metadata.offset_index().is_none() && metadata.column_index().is_none() {
                return Ok(metadata);
            }
            let stripped = ParquetMetaDataBuilder::new_from_metadata(metadata.as_ref().clone())
                .set_column_index(None)
                .set_offset_index(None)
                .build();
            Ok(Arc::new(stripped))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::{RowSelection, RowSelector};

    #[test]
    fn every_tenth_row_deleted_is_dense_and_a_deleted_range_is_not() {
        let mut tenth = ParquetAccessPlan::new_all(2);
        let selectors: Vec<RowSelector> = (0..100)
            .flat_map(|_| [RowSelector::skip(1), RowSelector::select(9)])
            .collect();
        tenth.scan_selection(0, RowSelection::from(selectors));
        assert!(is_dense(&tenth));
        let mut range = ParquetAccessPlan::new_all(2);
        range.scan_selection(
            1,
            RowSelection::from(vec![RowSelector::skip(500), RowSelector::select(500)]),
        );
        assert!(!is_dense(&range));
        assert!(!is_dense(&ParquetAccessPlan::new_all(3)));
    }
}
