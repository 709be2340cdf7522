//! Position delete files (Iceberg v2), written by merge-on-read DELETE, UPDATE and MERGE.
//!
//! One file per data file it deletes from ("file" granularity, Iceberg Java's default
//! since 1.8): rows `(file_path, pos)` sorted by position, the reserved field ids
//! 2147483546 and 2147483545, the data file's partition spec and tuple, and
//! `referenced_data_file` set, so every reader (floe, Spark, Trino, DuckDB, PyIceberg)
//! scopes it to exactly that file. Files are durable when written, before any commit
//! names them; on failure the ones already written are deleted.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use floe_catalog::LiveFile;
use futures::{StreamExt, TryStreamExt};
use iceberg::spec::{DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum};
use iceberg::table::Table;
use parquet::arrow::{ArrowWriter, PARQUET_FIELD_ID_META_KEY};

use super::{DataLocation, delete_files, writer_properties};

const FILE_PATH_ID: i32 = 2147483546;
const POS_ID: i32 = 2147483545;

fn field(name: &str, data_type: DataType, id: i32) -> Field {
    Field::new(name, data_type, false).with_metadata(HashMap::from([(
        PARQUET_FIELD_ID_META_KEY.to_string(),
        id.to_string(),
    )]))
}

/// Writes one position delete file per entry: the data file (as the snapshot lists it)
/// and the positions to delete from it (any order; duplicates are dropped). Returns each
/// file with its partition spec id, as [`floe_catalog::SnapshotChange`] takes them.
pub async fn write_position_deletes(
    table: &Table,
    table_name: &str,
    deletes: Vec<(LiveFile, Vec<i64>)>,
    ctx: Arc<TaskContext>,
) -> Result<Vec<(i32, DataFile)>> {
    let props = writer_properties(table, &ctx)?;
    let location = DataLocation::new(table.metadata(), table_name)?;
    let schema = Arc::new(Schema::new(vec![
        field("file_path", DataType::Utf8, FILE_PATH_ID),
        field("pos", DataType::Int64, POS_ID),
    ]));
    let prefix = uuid::Uuid::now_v7();
    type Written = std::result::Result<(i32, DataFile), (DataFusionError, Option<DataFile>)>;
    let written: Vec<Written> = futures::stream::iter(deletes.into_iter().enumerate().map(
        |(n, (data, mut positions))| {
            let props = props.clone();
            let schema = schema.clone();
            let path = location.file(&format!("{prefix}-{n:05}-deletes.parquet"));
            async move {
                positions.sort_unstable();
                positions.dedup();
                let data_path = data.file.file_path().to_string();
                let rows = positions.len();
                let (bytes, lower, upper) = tokio::task::spawn_blocking({
                    let data_path = data_path.clone();
                    move || -> Result<(Vec<u8>, i64, i64)> {
                        let batch = RecordBatch::try_new(
                            schema.clone(),
                            vec![
                                Arc::new(StringArray::from(vec![data_path.as_str(); rows])),
                                Arc::new(Int64Array::from(positions.clone())),
                            ],
                        )?;
                        let mut out = Vec::new();
                        let mut w = ArrowWriter::try_new(&mut out, schema, Some(props))?;
                        w.write(&batch)?;
                        w.close()?;
                        let lower = positions.first().copied().unwrap_or(0);
                        let upper = positions.last().copied().unwrap_or(0);
                        Ok((out, lower, upper))
                    }
                })
                .await
                .map_err(|e| (DataFusionError::External(Box::new(e)), None))?
                .map_err(|e| (e, None))?;
                let size = bytes.len() as u64;
                let output = table
                    .file_io()
                    .new_output(&path)
                    .map_err(|e| (crate::error::iceberg_to_df(e), None))?;
                let file = DataFileBuilder::default()
                    .content(DataContentType::PositionDeletes)
                    .file_path(path.clone())
                    .file_format(DataFileFormat::Parquet)
                    .partition(data.file.partition().clone())
                    .partition_spec_id(data.spec_id)
                    .record_count(rows as u64)
                    .file_size_in_bytes(size)
                    .referenced_data_file(Some(data_path.clone()))
                    .lower_bounds(HashMap::from([
                        (FILE_PATH_ID, Datum::string(&data_path)),
                        (POS_ID, Datum::long(lower)),
                    ]))
                    .upper_bounds(HashMap::from([
                        (FILE_PATH_ID, Datum::string(&data_path)),
                        (POS_ID, Datum::long(upper)),
                    ]))
                    .build()
                    .map_err(|e| (DataFusionError::External(Box::new(e)), None))?;
                match output.write(bytes.into()).await {
                    Ok(()) => Ok((data.spec_id, file)),
                    // A partly written file is deleted with the others.
                    Err(e) => Err((crate::error::iceberg_to_df(e), Some(file))),
                }
            }
        },
    ))
    .buffer_unordered(8)
    .map(Ok::<_, DataFusionError>)
    .try_collect()
    .await?;
    let mut files = Vec::with_capacity(written.len());
    let mut partial = Vec::new();
    let mut first_error = None;
    for w in written {
        match w {
            Ok(f) => files.push(f),
            Err((e, p)) => {
                partial.extend(p);
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        partial.extend(files.into_iter().map(|(_, f)| f));
        delete_files(table, &partial).await;
        return Err(e);
    }
    Ok(files)
}
