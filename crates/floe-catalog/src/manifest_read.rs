//! Reading manifests as other writers really produce them.
//!
//! iceberg-rust parses a manifest only when its Avro header carries `schema` and
//! `partition-spec`, and treats a header without `format-version` as v1. Iceberg Java
//! never needs them: it takes the spec from the table metadata by the manifest list's
//! `partition_spec_id`. Hive's and Impala's writers omit them, so floe fills the missing
//! keys from the table metadata before parsing, then lets entries inherit snapshot id and
//! sequence numbers from the manifest list exactly as `ManifestFile::load_manifest` does.
//! Keys the writer did set are never replaced.

use std::collections::BTreeMap;

use iceberg::spec::{
    FormatVersion, Manifest, ManifestContentType, ManifestFile, ManifestStatus, TableMetadata,
};

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"Obj\x01";

/// The sequence number of v1 manifests (and of files added before v2).
const INITIAL_SEQUENCE_NUMBER: i64 = 0;

fn read_long(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    Some(((value >> 1) as i64) ^ -((value & 1) as i64))
}

fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
}

fn read_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(read_long(buf, pos)?).ok()?;
    let bytes = buf.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(bytes)
}

/// The user metadata of an Avro object container file, and the offset of the sync
/// marker that follows it (`None`: not an Avro container).
fn avro_header(buf: &[u8]) -> Option<(BTreeMap<String, Vec<u8>>, usize)> {
    if buf.get(..4)? != MAGIC {
        return None;
    }
    let mut pos = 4;
    let mut map = BTreeMap::new();
    loop {
        let mut count = read_long(buf, &mut pos)?;
        if count == 0 {
            break;
        }
        if count < 0 {
            count = count.checked_neg()?;
            read_long(buf, &mut pos)?; // block size in bytes
        }
        for _ in 0..count {
            let key = String::from_utf8(read_bytes(buf, &mut pos)?.to_vec()).ok()?;
            let value = read_bytes(buf, &mut pos)?.to_vec();
            map.insert(key, value);
        }
    }
    Some((map, pos))
}

fn with_header(buf: &[u8], map: &BTreeMap<String, Vec<u8>>, rest_at: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len() + 4096);
    out.extend_from_slice(MAGIC);
    write_long(&mut out, map.len() as i64);
    for (k, v) in map {
        write_long(&mut out, k.len() as i64);
        out.extend_from_slice(k.as_bytes());
        write_long(&mut out, v.len() as i64);
        out.extend_from_slice(v);
    }
    write_long(&mut out, 0);
    out.extend_from_slice(&buf[rest_at..]);
    out
}

/// Parses manifest `bytes` listed as `file` in a snapshot of `md`.
pub(crate) fn parse_manifest(
    bytes: &[u8],
    md: &TableMetadata,
    file: &ManifestFile,
) -> Result<Manifest> {
    let bad =
        |what: String| Error::InvalidArgument(format!("manifest '{}' {what}", file.manifest_path));
    let (mut header, rest_at) =
        avro_header(bytes).ok_or_else(|| bad("is not an Avro file".into()))?;
    let before = header.len();
    let spec = md
        .partition_spec_by_id(file.partition_spec_id)
        .ok_or_else(|| {
            bad(format!(
                "names partition spec {}, which the table metadata does not have",
                file.partition_spec_id
            ))
        })?;
    let injected_schema = !header.contains_key("schema");
    if injected_schema {
        // The current schema holds every field a live spec can name (Iceberg never
        // reuses field ids), so it binds any of the table's specs.
        let schema = serde_json::to_vec(md.current_schema().as_ref())
            .map_err(|e| bad(format!("schema cannot be encoded: {e}")))?;
        header.insert("schema".into(), schema);
        header.insert(
            "schema-id".into(),
            md.current_schema_id().to_string().into_bytes(),
        );
    }
    if !header.contains_key("partition-spec") {
        let fields = serde_json::to_vec(spec.fields())
            .map_err(|e| bad(format!("partition spec cannot be encoded: {e}")))?;
        header.insert("partition-spec".into(), fields);
        header.insert(
            "partition-spec-id".into(),
            file.partition_spec_id.to_string().into_bytes(),
        );
    }
    if !header.contains_key("format-version") {
        let v = match md.format_version() {
            FormatVersion::V1 => "1",
            FormatVersion::V2 => "2",
            FormatVersion::V3 => "3",
        };
        header.insert("format-version".into(), v.as_bytes().to_vec());
    }
    if !header.contains_key("content") && file.content == ManifestContentType::Deletes {
        header.insert("content".into(), b"deletes".to_vec());
    }
    let unreadable = |e: iceberg::Error| {
        bad(format!(
            "cannot be read: {}",
            crate::error::iceberg_message(&e)
        ))
    };
    let manifest = if header.len() == before {
        Manifest::parse_avro(bytes).map_err(unreadable)?
    } else {
        match Manifest::parse_avro(&with_header(bytes, &header, rest_at)) {
            Ok(m) => m,
            // Writers without a header schema (Hive migrations) may key column bounds by
            // ids that the table schema gives to nested fields; bounds are optional, so
            // read again with the top-level primitive fields only, dropping those bounds.
            Err(first) if !injected_schema => return Err(unreadable(first)),
            Err(first) => {
                let schema = md.current_schema();
                let flat = iceberg::spec::Schema::builder()
                    .with_schema_id(schema.schema_id())
                    .with_fields(
                        schema
                            .as_struct()
                            .fields()
                            .iter()
                            .filter(|f| f.field_type.is_primitive())
                            .cloned(),
                    )
                    .build();
                let Ok(flat) = flat else {
                    return Err(unreadable(first));
                };
                let Ok(json) = serde_json::to_vec(&flat) else {
                    return Err(unreadable(first));
                };
                header.insert("schema".into(), json);
                Manifest::parse_avro(&with_header(bytes, &header, rest_at))
                    .map_err(|_| unreadable(first))?
            }
        }
    };
    // Inheritance, as the spec states it (and iceberg-rust's `inherit_data`).
    let (entries, metadata) = manifest.into_parts();
    let entries = entries
        .into_iter()
        .map(|e| {
            let mut e = std::sync::Arc::unwrap_or_clone(e);
            if e.snapshot_id.is_none() {
                e.snapshot_id = Some(file.added_snapshot_id);
            }
            let inherits = e.status == ManifestStatus::Added
                || file.sequence_number == INITIAL_SEQUENCE_NUMBER;
            if e.sequence_number.is_none() && inherits {
                e.sequence_number = Some(file.sequence_number);
            }
            if e.file_sequence_number.is_none() && inherits {
                e.file_sequence_number = Some(file.sequence_number);
            }
            e
        })
        .collect();
    Ok(Manifest::new(metadata, entries))
}

/// Reads a table metadata file as liberally as Iceberg Java: a v3 file without
/// `next-row-id` (written before row lineage was final) reads with row ids starting at
/// 0. When the file still cannot be read, the error names the feature floe lacks where
/// it can tell (VARIANT columns, v1 snapshots listing manifests inline).
pub(crate) async fn read_metadata(
    io: &iceberg::io::FileIO,
    location: &str,
) -> std::result::Result<TableMetadata, String> {
    let first = match TableMetadata::read_from(io, location).await {
        Ok(md) => return Ok(md),
        Err(e) => crate::error::iceberg_message(&e),
    };
    if location.ends_with(".gz.metadata.json") {
        return Err(first);
    }
    let Ok(bytes) = async { io.new_input(location)?.read().await }.await else {
        return Err(first);
    };
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Err(first);
    };
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("\"variant\"") {
        return Err(
            "it has a VARIANT column (Iceberg v3), a type floe cannot read yet".to_string(),
        );
    }
    let version = json.get("format-version").and_then(|v| v.as_i64());
    if let Some(snapshots) = json.get("snapshots").and_then(|s| s.as_array())
        && snapshots
            .iter()
            .any(|s| s.get("manifests").is_some() && s.get("manifest-list").is_none())
    {
        return Err("its snapshots list their manifests inline (format v1 without manifest lists), which floe cannot read yet".to_string());
    }
    if version == Some(3)
        && let Some(obj) = json.as_object_mut()
        && !obj.contains_key("next-row-id")
    {
        obj.insert("next-row-id".into(), serde_json::Value::from(0));
        if let Ok(md) = serde_json::from_value::<TableMetadata>(json) {
            return Ok(md);
        }
    }
    Err(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_longs_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 64, 300, -300, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_long(&mut out, v);
            let mut pos = 0;
            assert_eq!(read_long(&out, &mut pos), Some(v));
            assert_eq!(pos, out.len());
        }
    }

    #[test]
    fn header_rewrite_keeps_the_body_and_adds_keys() {
        let mut map = BTreeMap::new();
        map.insert("avro.codec".to_string(), b"null".to_vec());
        let body = b"0123456789abcdefBODY";
        let file = with_header(&[0u8; 0][..], &map, 0);
        let mut full = file.clone();
        full.extend_from_slice(body);
        let (parsed, at) = avro_header(&full).unwrap();
        assert_eq!(parsed, map);
        assert_eq!(&full[at..], body);
        map.insert("schema".into(), b"{}".to_vec());
        let again = with_header(&full, &map, at);
        let (parsed, at) = avro_header(&again).unwrap();
        assert_eq!(parsed, map);
        assert_eq!(&again[at..], body);
        assert!(avro_header(b"not avro").is_none());
    }
}
