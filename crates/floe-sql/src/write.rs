//! Writing query results into Iceberg data files, and committing (or staging) them.
//!
//! Every input partition is written concurrently by its own Parquet writer (one file set
//! per Iceberg partition when the table is partitioned); files roll at the table's
//! `write.target-file-size-bytes`. Files are durable when their writer closes (floe's
//! storage), before any commit names them. If anything fails, the files already written
//! are deleted (best effort) and nothing is committed: a failed write leaves the table
//! unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{Result, exec_err};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;
use iceberg::arrow::{RecordBatchPartitionSplitter, schema_to_arrow_schema};
use iceberg::spec::{DataFile, DataFileFormat};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::iceberg_to_df;

type Builder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

/// Parquet settings for a table: DataFusion's session defaults, with the table's
/// `write.parquet.compression-codec` (and level) when set.
pub fn writer_properties(table: &Table, ctx: &TaskContext) -> Result<WriterProperties> {
    let options = &ctx.session_config().options().execution.parquet;
    let mut builder = WriterProperties::builder()
        .set_max_row_group_row_count(Some(options.max_row_group_size))
        .set_write_batch_size(options.write_batch_size)
        .set_data_page_size_limit(options.data_pagesize_limit)
        .set_dictionary_enabled(options.dictionary_enabled.unwrap_or(true));
    let props = table.metadata().properties();
    let codec = props
        .get("write.parquet.compression-codec")
        .cloned()
        .or_else(|| options.compression.clone())
        .unwrap_or_else(|| "zstd(3)".to_string())
        .to_ascii_lowercase();
    let level: Option<i32> = props
        .get("write.parquet.compression-level")
        .and_then(|l| l.parse().ok());
    let compression = parse_compression(&codec, level)?;
    builder = builder.set_compression(compression);
    Ok(builder.build())
}

fn parse_compression(codec: &str, level: Option<i32>) -> Result<Compression> {
    let (name, inline_level) = match codec.split_once('(') {
        Some((n, rest)) => (
            n.trim(),
            rest.trim_end_matches(')').trim().parse::<i32>().ok(),
        ),
        None => (codec.trim(), None),
    };
    let level = level.or(inline_level);
    Ok(match name {
        "zstd" => Compression::ZSTD(ZstdLevel::try_new(level.unwrap_or(3)).unwrap_or_default()),
        "snappy" => Compression::SNAPPY,
        "gzip" => {
            Compression::GZIP(GzipLevel::try_new(level.unwrap_or(6) as u32).unwrap_or_default())
        }
        "lz4" | "lz4_raw" => Compression::LZ4_RAW,
        "uncompressed" | "none" => Compression::UNCOMPRESSED,
        other => return exec_err!("unsupported Parquet compression codec '{other}'"),
    })
}

fn builder(table: &Table, props: WriterProperties) -> Result<Builder> {
    let md = table.metadata();
    let target_size = md
        .table_properties()
        .map_err(iceberg_to_df)?
        .write_target_file_size_bytes;
    let parquet = ParquetWriterBuilder::new(props, md.current_schema().clone());
    let rolling = RollingFileWriterBuilder::new(
        parquet,
        target_size,
        table.file_io().clone(),
        DefaultLocationGenerator::new(md).map_err(iceberg_to_df)?,
        DefaultFileNameGenerator::new(
            uuid::Uuid::now_v7().to_string(),
            None,
            DataFileFormat::Parquet,
        ),
    );
    Ok(DataFileWriterBuilder::new(rolling))
}

/// DataFusion plans `INSERT ... VALUES` with the table's nullability, so a NULL in a NOT
/// NULL column fails inside the VALUES node with Arrow's message naming `columnN`; say
/// which table column it is instead.
pub fn explain_input_error(
    e: datafusion::error::DataFusionError,
    target: &SchemaRef,
    table: &str,
) -> datafusion::error::DataFusionError {
    let text = e.to_string();
    let marker = "is declared as non-nullable but contains null values";
    if let Some(pos) = text.find(marker) {
        let before = &text[..pos];
        let name = before.rsplit('\'').nth(1).unwrap_or_default();
        let column = name
            .strip_prefix("column")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| target.fields().get(n.wrapping_sub(1)))
            .map(|f| f.name().clone())
            .unwrap_or_else(|| name.to_string());
        return datafusion::error::DataFusionError::Execution(format!(
            "NULL value in column '{column}' of table '{table}', which is NOT NULL"
        ));
    }
    e
}

/// Casts `batch` to the table's Arrow schema (same columns, same order) and rejects NULLs
/// in required columns with an error naming the column.
fn conform(batch: &RecordBatch, target: &SchemaRef, table: &str) -> Result<RecordBatch> {
    if batch.num_columns() < target.fields().len() {
        return exec_err!(
            "cannot write {} columns into table '{table}', which has {}",
            batch.num_columns(),
            target.fields().len()
        );
    }
    let mut columns = Vec::with_capacity(target.fields().len());
    for (i, field) in target.fields().iter().enumerate() {
        let col = batch.column(i);
        let col = if col.data_type() == field.data_type() {
            col.clone()
        } else {
            cast(col, field.data_type())?
        };
        if !field.is_nullable() && col.null_count() > 0 {
            return exec_err!(
                "NULL value in column '{}' of table '{table}', which is NOT NULL",
                field.name()
            );
        }
        columns.push(col);
    }
    Ok(RecordBatch::try_new(target.clone(), columns)?)
}

/// Writes every partition of `plan` into data files of `table` (its current schema and
/// default partition spec). Returns the files and the number of rows written.
pub async fn write_plan(
    table: &Table,
    table_name: &str,
    plan: Arc<dyn ExecutionPlan>,
    ctx: Arc<TaskContext>,
) -> Result<(Vec<DataFile>, u64)> {
    let props = writer_properties(table, &ctx)?;
    let target: SchemaRef =
        Arc::new(schema_to_arrow_schema(table.metadata().current_schema()).map_err(iceberg_to_df)?);
    let partitions = plan.properties().partitioning.partition_count();
    let mut tasks = Vec::with_capacity(partitions);
    for p in 0..partitions {
        let stream = plan.execute(p, ctx.clone())?;
        let builder = builder(table, props.clone())?;
        let table = table.clone();
        let target = target.clone();
        let name = table_name.to_string();
        tasks.push(tokio::spawn(async move {
            write_stream(&table, &name, builder, target, stream).await
        }));
    }
    let mut files = Vec::new();
    let mut rows = 0u64;
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok((f, n))) => {
                files.extend(f);
                rows += n;
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) => {
                first_error.get_or_insert(datafusion::error::DataFusionError::Execution(format!(
                    "write task failed: {join}"
                )));
            }
        }
    }
    if let Some(e) = first_error {
        delete_files(table, &files).await;
        return Err(e);
    }
    Ok((files, rows))
}

/// Deletes data files that will not be committed (best effort; leftovers are orphans).
pub async fn delete_files(table: &Table, files: &[DataFile]) {
    // Finish in-flight renames first, or a file could appear after its deletion.
    let _ = floe_catalog::storage::flush_pending().await;
    for f in files {
        let _ = table.file_io().delete(f.file_path()).await;
    }
}

async fn write_stream(
    table: &Table,
    table_name: &str,
    builder: Builder,
    target: SchemaRef,
    mut stream: datafusion::execution::SendableRecordBatchStream,
) -> Result<(Vec<DataFile>, u64)> {
    let md = table.metadata();
    let spec = md.default_partition_spec().clone();
    let mut rows = 0u64;
    if spec.is_unpartitioned() {
        let mut writer = builder.build(None).await.map_err(iceberg_to_df)?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| explain_input_error(e, &target, table_name))?;
            let batch = conform(&batch, &target, table_name)?;
            if batch.num_rows() == 0 {
                continue;
            }
            rows += batch.num_rows() as u64;
            writer.write(batch).await.map_err(iceberg_to_df)?;
        }
        let files = writer.close().await.map_err(iceberg_to_df)?;
        Ok((files, rows))
    } else {
        let splitter = RecordBatchPartitionSplitter::try_new_with_computed_values(
            md.current_schema().clone(),
            spec,
        )
        .map_err(iceberg_to_df)?;
        let mut writer = FanoutWriter::new(builder);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| explain_input_error(e, &target, table_name))?;
            let batch = conform(&batch, &target, table_name)?;
            if batch.num_rows() == 0 {
                continue;
            }
            rows += batch.num_rows() as u64;
            for (key, part) in splitter.split(&batch).map_err(iceberg_to_df)? {
                writer.write(key, part).await.map_err(iceberg_to_df)?;
            }
        }
        let files = writer.close().await.map_err(iceberg_to_df)?;
        Ok((files, rows))
    }
}

/// Row counts per data file path, as a map (helper for DML accounting).
pub type FileCounts = HashMap<String, u64>;
