//! Loading delete files: Parquet position deletes, Puffin deletion vectors and Parquet
//! equality deletes. Each delete file a scan needs is read once, at planning, and the
//! result is shared by every partition of the plan. A delete file that is missing,
//! corrupt or not what its manifest says fails the scan with its name; it is never
//! skipped, because skipping it would return deleted rows.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{DataFusionError, Result};
use floe_catalog::LiveFile;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use roaring::RoaringTreemap;

use super::index::path_key;
use crate::scan::field_id;

/// Reserved field ids of position-delete files (Iceberg spec, "Position Delete Files").
const FILE_PATH_ID: i32 = 2147483546;
const POS_ID: i32 = 2147483545;
/// Rows per batch when reading delete files: large, since each batch's dictionary of
/// paths is matched once.
const DELETE_BATCH_ROWS: usize = 64 * 1024;
/// The magic bytes that open a `deletion-vector-v1` blob, after its length.
pub const DV_MAGIC: [u8; 4] = [0xD1, 0xD3, 0x39, 0x64];

fn err(delete: &LiveFile, what: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!(
        "cannot apply delete file '{}': {what}",
        delete.file.file_path()
    ))
}

/// The object store and path of a file location.
pub fn store_for(
    runtime: &datafusion::execution::runtime_env::RuntimeEnv,
    location: &str,
) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path)> {
    let (url, path) = crate::scan::split_location(location)?;
    Ok((runtime.object_store(&url)?, path))
}

/// Reads the top-level columns `pick` chooses from a Parquet delete file.
async fn read_columns(
    runtime: &datafusion::execution::runtime_env::RuntimeEnv,
    delete: &LiveFile,
    pick: impl FnOnce(&Schema) -> std::result::Result<Vec<usize>, String>,
) -> Result<Vec<RecordBatch>> {
    let (store, path) = store_for(runtime, delete.file.file_path())?;
    let reader = ParquetObjectReader::new(store, path);
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| err(delete, e))?;
    let columns = pick(builder.schema()).map_err(|e| err(delete, e))?;
    collect(builder, columns, delete).await
}

/// Reads the top-level `columns` of a delete file, in large batches.
async fn collect(
    builder: ParquetRecordBatchStreamBuilder<ParquetObjectReader>,
    columns: Vec<usize>,
    delete: &LiveFile,
) -> Result<Vec<RecordBatch>> {
    let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
    let stream = builder
        .with_projection(mask)
        .with_batch_size(DELETE_BATCH_ROWS)
        .build()
        .map_err(|e| err(delete, e))?;
    stream.try_collect().await.map_err(|e| err(delete, e))
}

fn find(schema: &Schema, id: i32, name: &str) -> Option<usize> {
    schema
        .fields()
        .iter()
        .position(|f| field_id(f) == Some(id))
        .or_else(|| schema.fields().iter().position(|f| f.name() == name))
}

/// Adds the positions a Parquet position-delete file deletes from the data files in
/// `wanted` (by [`path_key`]; every data file it names when `None`) to `out`, keyed by
/// [`path_key`]. Rows with a NULL path or position delete nothing.
/// Paths are read dictionary-encoded, as writers store them, so each distinct path is
/// matched once rather than once per row.
pub async fn load_positions(
    runtime: &datafusion::execution::runtime_env::RuntimeEnv,
    delete: &LiveFile,
    wanted: Option<&HashSet<String>>,
    out: &mut HashMap<String, RoaringTreemap>,
) -> Result<u64> {
    use datafusion::arrow::array::DictionaryArray;
    use datafusion::arrow::datatypes::Int32Type;
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};

    let (store, path) = store_for(runtime, delete.file.file_path())?;
    let mut reader = ParquetObjectReader::new(store, path);
    let plain = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
        .await
        .map_err(|e| err(delete, e))?;
    let schema = plain.schema().clone();
    let path_col = find(&schema, FILE_PATH_ID, "file_path")
        .ok_or_else(|| err(delete, "it has no file_path column (field id 2147483546)"))?;
    let pos_col = find(&schema, POS_ID, "pos")
        .ok_or_else(|| err(delete, "it has no pos column (field id 2147483545)"))?;
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let hinted = Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == path_col && matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8) {
                    Arc::new(f.as_ref().clone().with_data_type(dict.clone()))
                } else {
                    f.clone()
                }
            })
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    );
    let metadata = ArrowReaderMetadata::try_new(
        plain.metadata().clone(),
        ArrowReaderOptions::new().with_schema(Arc::new(hinted)),
    )
    .or_else(|_| Ok::<_, parquet::errors::ParquetError>(plain.clone()))
    .map_err(|e| err(delete, e))?;
    let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata);
    let mut cols = vec![path_col, pos_col];
    cols.sort_unstable();
    let batches = collect(builder, cols, delete).await?;
    let mut count = 0u64;
    for batch in batches {
        let schema = batch.schema();
        let path_at = find(&schema, FILE_PATH_ID, "file_path")
            .ok_or_else(|| err(delete, "file_path column lost"))?;
        let pos_at = find(&schema, POS_ID, "pos").ok_or_else(|| err(delete, "pos column lost"))?;
        let positions = cast(batch.column(pos_at), &DataType::Int64).map_err(|e| err(delete, e))?;
        let positions = positions.as_primitive::<Int64Type>();
        let paths = cast(batch.column(path_at), &dict).map_err(|e| err(delete, e))?;
        let paths: &DictionaryArray<Int32Type> = paths.as_dictionary();
        let values = paths.values().as_string::<i32>();
        let keys: Vec<Option<String>> = (0..values.len())
            .map(|i| {
                if values.is_null(i) {
                    return None;
                }
                let k = path_key(values.value(i));
                wanted.is_none_or(|w| w.contains(&k)).then_some(k)
            })
            .collect();
        // Writers sort by (file_path, pos), so positions come in ascending runs per file;
        // a run is appended to its bitmap in one go (far cheaper than one insert each).
        let path_keys = paths.keys();
        let with_nulls = path_keys.null_count() > 0 || positions.null_count() > 0;
        let (key_values, pos_values) = (path_keys.values(), positions.values());
        let mut start = 0;
        while start < key_values.len() {
            let key = key_values[start];
            let end = key_values[start..]
                .iter()
                .position(|k| *k != key)
                .map_or(key_values.len(), |n| start + n);
            let run = start..end;
            start = end;
            let Some(target) = keys.get(key as usize).and_then(Option::as_ref) else {
                continue;
            };
            // Rows with a NULL path or position delete nothing.
            let valid =
                |i: &usize| !with_nulls || (path_keys.is_valid(*i) && positions.is_valid(*i));
            if let Some(i) = run.clone().filter(valid).find(|&i| pos_values[i] < 0) {
                return Err(err(delete, format!("negative position {}", pos_values[i])));
            }
            let values = || run.clone().filter(valid).map(|i| pos_values[i] as u64);
            let bitmap = out.entry(target.clone()).or_default();
            // `append` stops at the first position out of order (an unsorted file, or a
            // second run of the same file); inserting the whole run again is then exact.
            if bitmap.append(values()).is_err() {
                bitmap.extend(values());
            }
            count += values().count() as u64;
        }
    }
    Ok(count)
}

/// Decodes a `deletion-vector-v1` blob: big-endian length, magic, a portable 64-bit
/// roaring bitmap, big-endian CRC-32 of magic and bitmap.
pub fn decode_vector(blob: &[u8]) -> std::result::Result<RoaringTreemap, String> {
    if blob.len() < 12 {
        return Err(format!(
            "deletion vector blob of {} bytes is too short",
            blob.len()
        ));
    }
    let len = u32::from_be_bytes(blob[0..4].try_into().expect("4 bytes")) as usize;
    if blob[4..8] != DV_MAGIC {
        return Err("deletion vector blob lacks the deletion-vector-v1 magic bytes".into());
    }
    if len < 4 || 4 + len + 4 > blob.len() {
        return Err(format!(
            "deletion vector length {len} does not fit its {}-byte blob",
            blob.len()
        ));
    }
    let body = &blob[4..4 + len];
    let crc = u32::from_be_bytes(blob[4 + len..8 + len].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != crc {
        return Err("deletion vector checksum does not match (corrupt file)".into());
    }
    RoaringTreemap::deserialize_from(&body[4..])
        .map_err(|e| format!("deletion vector bitmap is corrupt: {e}"))
}

/// Reads the deletion vector blob a Puffin delete file entry points at.
pub async fn load_vector(
    runtime: &datafusion::execution::runtime_env::RuntimeEnv,
    delete: &LiveFile,
) -> Result<RoaringTreemap> {
    let f = &delete.file;
    let (Some(offset), Some(size)) = (f.content_offset(), f.content_size_in_bytes()) else {
        return Err(err(
            delete,
            "the deletion vector has no content_offset/content_size_in_bytes",
        ));
    };
    if offset < 0 || size < 12 {
        return Err(err(delete, format!("bad blob range {offset}+{size}")));
    }
    let (store, path) = store_for(runtime, f.file_path())?;
    let bytes = store
        .get_range(&path, offset as u64..(offset + size) as u64)
        .await
        .map_err(|e| err(delete, e))?;
    decode_vector(&bytes).map_err(|e| err(delete, e))
}

/// One equality-delete key: the columns (by field id) a set of delete files compares.
pub struct KeyColumns {
    /// Sorted field ids.
    pub field_ids: Vec<i32>,
    /// The table's name and type of each field at the version read (values are cast
    /// to it, so promoted types compare equal).
    pub fields: Vec<(String, DataType)>,
}

impl KeyColumns {
    pub fn converter(&self) -> Result<RowConverter> {
        Ok(RowConverter::new(
            self.fields
                .iter()
                .map(|(_, t)| SortField::new(t.clone()))
                .collect(),
        )?)
    }
}

impl KeyColumns {
    /// Whether the key is one integer column, probed without row encoding.
    pub fn is_int(&self) -> bool {
        self.fields.len() == 1 && matches!(self.fields[0].1, DataType::Int32 | DataType::Int64)
    }
}

/// An equality-delete file's keys.
pub enum EqualityRows {
    /// Single integer key: the non-NULL values, and whether any row is NULL.
    Ints { values: Vec<i64>, null: bool },
    /// Any other key, row-encoded (NULL encodes equal to NULL, as the spec requires).
    Encoded(Vec<Box<[u8]>>),
}

/// Reads an equality-delete file's key columns, cast to the table's types.
pub async fn load_equality(
    runtime: &datafusion::execution::runtime_env::RuntimeEnv,
    delete: &LiveFile,
    key: &KeyColumns,
) -> Result<EqualityRows> {
    let batches = read_columns(runtime, delete, |schema| {
        let mut cols = Vec::new();
        for (id, (name, _)) in key.field_ids.iter().zip(&key.fields) {
            let i = find(schema, *id, name)
                .ok_or_else(|| format!("it has no column for equality field id {id} ({name})"))?;
            cols.push(i);
        }
        cols.sort_unstable();
        cols.dedup();
        Ok(cols)
    })
    .await?;
    let converter = key.converter()?;
    let mut ints = Vec::new();
    let mut null = false;
    let mut encoded = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(key.fields.len());
        for (id, (name, t)) in key.field_ids.iter().zip(&key.fields) {
            let i = find(&schema, *id, name)
                .ok_or_else(|| err(delete, format!("equality column {name} lost")))?;
            let column = batch.column(i);
            // A uuid key: the table reads it as canonical text (`crate::uuid_text`), the
            // delete file holds its 16 bytes.
            let array = if t == &DataType::Utf8
                && column.data_type() == &DataType::FixedSizeBinary(crate::uuid_text::WIDTH)
            {
                crate::uuid_text::to_text(column).map_err(|e| err(delete, e))?
            } else {
                cast(column, t).map_err(|e| err(delete, e))?
            };
            arrays.push(array);
        }
        if key.is_int() {
            let values = cast(&arrays[0], &DataType::Int64).map_err(|e| err(delete, e))?;
            let values = values.as_primitive::<Int64Type>();
            if values.null_count() > 0 {
                null = true;
                ints.extend(values.iter().flatten());
            } else {
                ints.extend_from_slice(values.values());
            }
        } else {
            let rows = converter.convert_columns(&arrays)?;
            encoded.extend(rows.iter().map(|r| r.as_ref().to_vec().into_boxed_slice()));
        }
    }
    Ok(if key.is_int() {
        EqualityRows::Ints { values: ints, null }
    } else {
        EqualityRows::Encoded(encoded)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(bitmap: &RoaringTreemap) -> Vec<u8> {
        let mut body = DV_MAGIC.to_vec();
        bitmap.serialize_into(&mut body).unwrap();
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        out
    }

    #[test]
    fn deletion_vectors_decode_and_corruption_is_caught() {
        let bitmap: RoaringTreemap = [0u64, 2, 4, 1 << 33].into_iter().collect();
        let good = blob(&bitmap);
        assert_eq!(decode_vector(&good).unwrap(), bitmap);
        let mut flipped = good.clone();
        let n = flipped.len();
        flipped[n - 6] ^= 0xff;
        assert!(decode_vector(&flipped).unwrap_err().contains("checksum"));
        let mut no_magic = good.clone();
        no_magic[4] = 0;
        assert!(decode_vector(&no_magic).unwrap_err().contains("magic"));
        assert!(decode_vector(&good[..10]).unwrap_err().contains("short"));
    }
}
