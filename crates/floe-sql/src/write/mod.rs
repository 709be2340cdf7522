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
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;
use iceberg::arrow::{RecordBatchPartitionSplitter, schema_to_arrow_schema};
use iceberg::spec::PartitionKey;
use iceberg::spec::{DataFile, DataFileFormat};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, LocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::iceberg_to_df;

pub mod commit;
pub mod deletion_vectors;
pub mod position_deletes;

type Builder = DataFileWriterBuilder<ParquetWriterBuilder, DataLocation, DefaultFileNameGenerator>;

/// Where a table's data files go: `<data dir>/<field>=<value>/.../<file>`, each name and
/// value URL-encoded as Iceberg's Java writers do (`URLEncoder`), so a partition value
/// is always ONE path segment — `'../../x'` or `'a/b'` can never leave the table's data
/// directory or nest directories.
#[derive(Clone, Debug)]
pub struct DataLocation {
    data_dir: String,
}

impl DataLocation {
    /// The table's data directory: `write.data.path` (or the older
    /// `write.folder-storage.path`) when it lies inside the table's location, otherwise
    /// `<location>/data`. A configured path elsewhere is refused: floe never writes
    /// outside the table.
    pub fn new(md: &iceberg::spec::TableMetadata, table: &str) -> Result<Self> {
        let location = md.location().trim_end_matches('/');
        let props = md.properties();
        let configured = props
            .get("write.data.path")
            .or_else(|| props.get("write.folder-storage.path"));
        let data_dir = match configured {
            None => format!("{location}/data"),
            Some(dir) => {
                let dir = dir.trim_end_matches('/');
                let inside = dir
                    .strip_prefix(location)
                    .is_some_and(|rest| rest.starts_with('/'))
                    && !dir.split('/').any(|seg| seg == ".." || seg == ".");
                if !inside {
                    return exec_err!(
                        "table '{table}' has write.data.path '{dir}', which is not inside the table's location '{location}'; floe writes data files only inside the table"
                    );
                }
                dir.to_string()
            }
        };
        Ok(Self { data_dir })
    }

    /// A file directly in the data directory.
    pub fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.data_dir)
    }
}

impl LocationGenerator for DataLocation {
    fn generate_location(&self, partition_key: Option<&PartitionKey>, file_name: &str) -> String {
        let Some(key) = partition_key.filter(|k| !k.spec().is_unpartitioned()) else {
            return format!("{}/{file_name}", self.data_dir);
        };
        let types = key
            .spec()
            .partition_type(key.schema())
            .map(|t| t.fields().to_vec())
            .unwrap_or_default();
        let mut path = self.data_dir.clone();
        for (i, field) in key.spec().fields().iter().enumerate() {
            let value = match types.get(i) {
                Some(t) => field
                    .transform
                    .to_human_string(&t.field_type, key.data()[i].as_ref()),
                None => "null".to_string(),
            };
            path.push('/');
            url_encode_into(&field.name, &mut path);
            path.push('=');
            url_encode_into(&value, &mut path);
        }
        path.push('/');
        path.push_str(file_name);
        path
    }
}

/// `application/x-www-form-urlencoded`, as Java's `URLEncoder.encode(s, UTF_8)`:
/// letters, digits and `.-*_` stay, space becomes `+`, every other byte `%XX`.
fn url_encode_into(text: &str, out: &mut String) {
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// Parquet settings for a table: DataFusion's session defaults, with the table's
/// `write.parquet.compression-codec` (and level), `write.parquet.page-row-limit` and
/// `write.parquet.page-size-bytes` (Iceberg's names) when set.
pub fn writer_properties(table: &Table, ctx: &TaskContext) -> Result<WriterProperties> {
    let options = &ctx.session_config().options().execution.parquet;
    let props = table.metadata().properties();
    let number = |key: &str, default: usize| -> Result<usize> {
        match props.get(key) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => plan_err!("table property {key} = '{v}' is not a positive whole number"),
            },
        }
    };
    let mut builder = WriterProperties::builder()
        .set_max_row_group_row_count(Some(options.max_row_group_size))
        .set_write_batch_size(options.write_batch_size)
        .set_data_page_size_limit(number(
            "write.parquet.page-size-bytes",
            options.data_pagesize_limit,
        )?)
        .set_data_page_row_count_limit(number(
            "write.parquet.page-row-limit",
            options.data_page_row_count_limit,
        )?)
        .set_dictionary_enabled(options.dictionary_enabled.unwrap_or(true));
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

/// The table's `write.target-file-size-bytes` (Iceberg's default 512 MiB when unset).
pub fn target_file_size(table: &Table) -> Result<usize> {
    Ok(table
        .metadata()
        .table_properties()
        .map_err(iceberg_to_df)?
        .write_target_file_size_bytes)
}

fn builder(
    table: &Table,
    name: &str,
    props: WriterProperties,
    target_size: Option<usize>,
) -> Result<Builder> {
    let md = table.metadata();
    let target_size = match target_size {
        Some(t) => t,
        None => target_file_size(table)?,
    };
    let parquet = ParquetWriterBuilder::new(props, md.current_schema().clone());
    let rolling = RollingFileWriterBuilder::new(
        parquet,
        target_size,
        table.file_io().clone(),
        DataLocation::new(md, name)?,
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
/// in required columns with an error naming the column. The columns at `uuids` are the
/// table's top-level uuid columns, which queries deliver as text (`crate::uuid_text`):
/// text becomes the 16 bytes the file holds, and a value that is not a UUID fails the
/// write naming the column, the table and the value.
fn conform(
    batch: &RecordBatch,
    target: &SchemaRef,
    table: &str,
    uuids: &[usize],
) -> Result<RecordBatch> {
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
        } else if uuids.contains(&i)
            && !matches!(
                col.data_type(),
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView
            )
        {
            crate::uuid_text::to_bytes(col, field.name(), table)?
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
    write_plan_sized(table, table_name, plan, ctx, None).await
}

/// [`write_plan`] rolling files at `target_size` bytes instead of the table's setting.
pub async fn write_plan_sized(
    table: &Table,
    table_name: &str,
    plan: Arc<dyn ExecutionPlan>,
    ctx: Arc<TaskContext>,
    target_size: Option<usize>,
) -> Result<(Vec<DataFile>, u64)> {
    let props = writer_properties(table, &ctx)?;
    let schema = table.metadata().current_schema();
    let target: SchemaRef = Arc::new(schema_to_arrow_schema(schema).map_err(iceberg_to_df)?);
    // Top-level uuid columns arrive as text; `conform` makes them bytes.
    let uuids: Arc<[usize]> = schema
        .as_struct()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| crate::uuid_text::is_uuid(&f.field_type))
        .map(|(i, _)| i)
        .collect();
    let partitions = plan.properties().partitioning.partition_count();
    let mut tasks = Vec::with_capacity(partitions);
    for p in 0..partitions {
        let stream = plan.execute(p, ctx.clone())?;
        let builder = builder(table, table_name, props.clone(), target_size)?;
        let table = table.clone();
        let target = target.clone();
        let uuids = uuids.clone();
        let name = table_name.to_string();
        tasks.push(tokio::spawn(async move {
            write_stream(&table, &name, builder, target, &uuids, stream).await
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
    uuids: &[usize],
    mut stream: datafusion::execution::SendableRecordBatchStream,
) -> Result<(Vec<DataFile>, u64)> {
    let md = table.metadata();
    let spec = md.default_partition_spec().clone();
    let mut rows = 0u64;
    if spec.is_unpartitioned() {
        let mut writer = builder.build(None).await.map_err(iceberg_to_df)?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| explain_input_error(e, &target, table_name))?;
            let batch = conform(&batch, &target, table_name, uuids)?;
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
            let batch = conform(&batch, &target, table_name, uuids)?;
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

#[cfg(test)]
mod tests {
    use super::url_encode_into;

    #[test]
    fn partition_values_are_encoded_like_java_urlencoder() {
        let enc = |s: &str| {
            let mut out = String::new();
            url_encode_into(s, &mut out);
            out
        };
        assert_eq!(enc("2026-11-21"), "2026-11-21");
        assert_eq!(enc("a b/c"), "a+b%2Fc");
        assert_eq!(enc("../../x"), "..%2F..%2Fx");
        assert_eq!(enc("é=%"), "%C3%A9%3D%25");
        assert_eq!(enc("null"), "null");
    }
}
