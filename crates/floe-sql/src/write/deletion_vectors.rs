//! Deletion vectors (Iceberg v3), written by merge-on-read DELETE, UPDATE and MERGE on
//! format-version 3 tables.
//!
//! One Puffin file per statement, one `deletion-vector-v1` blob per data file: the
//! blob's big-endian length, magic bytes, the positions as a portable 64-bit roaring
//! bitmap, and a big-endian CRC-32 of magic and bitmap; its footer names the referenced
//! data file and the cardinality. Each blob is one delete-file entry (`referenced_data_file`,
//! `content_offset`, `content_size_in_bytes`). The file is durable when written, before any
//! commit names it; on failure it is deleted.

use std::collections::HashMap;

use datafusion::common::{DataFusionError, Result};
use floe_catalog::LiveFile;
use iceberg::spec::{DataContentType, DataFile, DataFileBuilder, DataFileFormat};
use iceberg::table::Table;
use roaring::RoaringTreemap;

use super::{DataLocation, delete_files};
use crate::scan::deletes::loader::DV_MAGIC;

const PUFFIN_MAGIC: [u8; 4] = *b"PFA1";
/// The reserved field id of `_pos`, which a deletion vector's blob names.
const ROW_POSITION_FIELD_ID: i32 = 2147483645;

/// One `deletion-vector-v1` blob.
fn blob(positions: &RoaringTreemap) -> Result<Vec<u8>> {
    let mut body = DV_MAGIC.to_vec();
    positions
        .serialize_into(&mut body)
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    Ok(out)
}

/// Writes one Puffin file holding a deletion vector for each entry: the data file (as the
/// snapshot lists it) and every position deleted from it — the whole vector, since it
/// replaces any earlier one. Returns each vector's delete-file entry with the partition
/// spec id of its data file, as [`floe_catalog::SnapshotChange`] takes them.
pub async fn write_deletion_vectors(
    table: &Table,
    table_name: &str,
    vectors: Vec<(LiveFile, RoaringTreemap)>,
) -> Result<Vec<(i32, DataFile)>> {
    if vectors.is_empty() {
        return Ok(Vec::new());
    }
    let location = DataLocation::new(table.metadata(), table_name)?;
    let path = location.file(&format!("{}-dv.puffin", uuid::Uuid::now_v7()));
    let mut bytes = PUFFIN_MAGIC.to_vec();
    let mut footer_blobs = Vec::with_capacity(vectors.len());
    let mut entries = Vec::with_capacity(vectors.len());
    for (data, positions) in &vectors {
        let b = blob(positions)?;
        let offset = bytes.len() as i64;
        let length = b.len() as i64;
        bytes.extend_from_slice(&b);
        let data_path = data.file.file_path().to_string();
        let cardinality = positions.len();
        footer_blobs.push(serde_json::json!({
            "type": "deletion-vector-v1",
            "fields": [ROW_POSITION_FIELD_ID],
            "snapshot-id": -1,
            "sequence-number": -1,
            "offset": offset,
            "length": length,
            "properties": {
                "referenced-data-file": data_path,
                "cardinality": cardinality.to_string(),
            },
        }));
        entries.push((data, data_path, cardinality, offset, length));
    }
    let footer = serde_json::json!({
        "blobs": footer_blobs,
        "properties": { "created-by": concat!("floe ", env!("CARGO_PKG_VERSION")) },
    })
    .to_string();
    bytes.extend_from_slice(&PUFFIN_MAGIC);
    bytes.extend_from_slice(footer.as_bytes());
    bytes.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&[0u8; 4]); // flags: footer not compressed
    bytes.extend_from_slice(&PUFFIN_MAGIC);
    let size = bytes.len() as u64;
    let mut files = Vec::with_capacity(entries.len());
    for (data, data_path, cardinality, offset, length) in entries {
        let file = DataFileBuilder::default()
            .content(DataContentType::PositionDeletes)
            .file_path(path.clone())
            .file_format(DataFileFormat::Puffin)
            .partition(data.file.partition().clone())
            .partition_spec_id(data.spec_id)
            .record_count(cardinality)
            .file_size_in_bytes(size)
            .referenced_data_file(Some(data_path))
            .content_offset(Some(offset))
            .content_size_in_bytes(Some(length))
            .lower_bounds(HashMap::new())
            .upper_bounds(HashMap::new())
            .build()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        files.push((data.spec_id, file));
    }
    let output = table
        .file_io()
        .new_output(&path)
        .map_err(crate::error::iceberg_to_df)?;
    if let Err(e) = output.write(bytes.into()).await {
        // A partly written file is removed: no metadata names it.
        delete_files(table, &[files[0].1.clone()]).await;
        return Err(crate::error::iceberg_to_df(e));
    }
    Ok(files)
}
