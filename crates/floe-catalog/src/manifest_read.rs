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

/// Parses a manifest list written for a snapshot of `md`. A list keeps the format of the
/// writer that made it (its header's `format-version`), which is older than the table's
/// after an upgrade: a v1 list (optional counts, no sequence numbers) in a v2/v3 table
/// is read as v1, as Iceberg Java does.
pub(crate) fn parse_manifest_list(
    bytes: &[u8],
    md: &TableMetadata,
) -> std::result::Result<iceberg::spec::ManifestList, iceberg::Error> {
    let table = md.format_version();
    let written = avro_header(bytes)
        .and_then(|(h, _)| h.get("format-version").cloned())
        .and_then(|v| match v.as_slice() {
            b"1" => Some(FormatVersion::V1),
            b"2" => Some(FormatVersion::V2),
            b"3" => Some(FormatVersion::V3),
            _ => None,
        });
    match written {
        Some(v) if v < table => iceberg::spec::ManifestList::parse_with_version(bytes, v),
        _ => iceberg::spec::ManifestList::parse_with_version(bytes, table),
    }
}

/// Parses manifest `bytes` listed as `file` in a snapshot of `md`.
///
/// When the bytes do not parse as written, the entries' `partition` records are
/// rewritten to the types the partition spec has now (see [`normalise_partitions`]) and
/// parsed again; the first error is reported if that fails too.
pub(crate) fn parse_manifest(
    bytes: &[u8],
    md: &TableMetadata,
    file: &ManifestFile,
) -> Result<Manifest> {
    match parse_as_written(bytes, md, file) {
        Ok(m) => Ok(m),
        Err(first) => {
            let Some(spec) = md.partition_spec_by_id(file.partition_spec_id) else {
                return Err(first);
            };
            let Ok(partition_type) = spec.partition_type(md.current_schema()) else {
                return Err(first);
            };
            match normalise_partitions(bytes, &partition_type) {
                Some(fixed) => parse_as_written(&fixed, md, file).map_err(|_| first),
                None => Err(first),
            }
        }
    }
}

/// The Avro type of a partition field as the current spec would write it, when the
/// writer's type differs by an allowed promotion (int → long, float → double, a decimal
/// of smaller precision); `None` keeps the writer's type.
fn promoted_type(
    writer: &serde_json::Value,
    target: &iceberg::spec::Type,
) -> Option<serde_json::Value> {
    use iceberg::spec::{PrimitiveType, Type};
    let Type::Primitive(target) = target else {
        return None;
    };
    match (writer, target) {
        (serde_json::Value::String(t), PrimitiveType::Long) if t == "int" => Some("long".into()),
        (serde_json::Value::String(t), PrimitiveType::Double) if t == "float" => {
            Some("double".into())
        }
        (serde_json::Value::Object(o), PrimitiveType::Decimal { precision, scale })
            if o.get("logicalType").and_then(|v| v.as_str()) == Some("decimal")
                && o.get("precision").and_then(|v| v.as_u64()) != Some(u64::from(*precision)) =>
        {
            let size = iceberg::spec::Type::decimal_required_bytes(*precision).ok()?;
            Some(serde_json::json!({
                "type": "fixed",
                "name": format!("decimal_{precision}_{scale}"),
                "size": size,
                "logicalType": "decimal",
                "precision": precision,
                "scale": scale,
            }))
        }
        _ => None,
    }
}

/// The record schema in `ty`, which some writers (BigQuery) wrap in a `["null", record]`
/// union even where the spec makes the field required.
fn record_branch(ty: &mut serde_json::Value) -> Option<&mut serde_json::Value> {
    if ty.is_array() {
        ty.as_array_mut()?
            .iter_mut()
            .find(|b| b.get("type").and_then(|t| t.as_str()) == Some("record"))
    } else {
        Some(ty)
    }
}

/// Rewrites the entries of a manifest so that each `partition` record has the types
/// the table's partition spec gives it now, as Iceberg Java's reader projects them:
/// values an older spec wrote as int, float or a narrower decimal are promoted, and an
/// unpartitioned `partition` written as Avro null becomes the empty record. Every other
/// field is carried as written. `None` when there is nothing to rewrite or the file
/// cannot be decoded.
fn normalise_partitions(
    bytes: &[u8],
    partition_type: &iceberg::spec::StructType,
) -> Option<Vec<u8>> {
    use apache_avro::types::Value;
    let (header, _) = avro_header(bytes)?;
    let mut schema: serde_json::Value = serde_json::from_slice(header.get("avro.schema")?).ok()?;
    // entry.data_file.partition
    let data_file = schema
        .get_mut("fields")?
        .as_array_mut()?
        .iter_mut()
        .find(|f| f.get("name").and_then(|n| n.as_str()) == Some("data_file"))?;
    let partition = record_branch(data_file.get_mut("type")?)?
        .get_mut("fields")?
        .as_array_mut()?
        .iter_mut()
        .find(|f| f.get("name").and_then(|n| n.as_str()) == Some("partition"))?;
    let ty = partition.get_mut("type")?;
    let mut changed = false;
    let mut null_to_record = false;
    if let Some(branches) = ty.as_array() {
        // ["null", record]: the record as required, as the spec writes it.
        let record = branches
            .iter()
            .find(|b| b.get("type").and_then(|t| t.as_str()) == Some("record"))?;
        *ty = record.clone();
        changed = true;
        null_to_record = true;
    }
    // What an Avro-null partition becomes: the record with each (nullable) field NULL.
    let mut all_null = Vec::new();
    for field in ty.get("fields")?.as_array()? {
        let name = field.get("name")?.as_str()?.to_string();
        let nullable = field
            .get("type")
            .and_then(|t| t.as_array())
            .is_some_and(|b| b.first().and_then(|b| b.as_str()) == Some("null"));
        all_null.push((name, nullable));
    }
    let mut promoted = Vec::new();
    for field in ty.get_mut("fields")?.as_array_mut()? {
        let id = field.get("field-id").and_then(|v| v.as_i64());
        let name = field
            .get("name")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let target = partition_type.fields().iter().find(|f| {
            Some(i64::from(f.id)) == id || (id.is_none() && Some(&f.name) == name.as_ref())
        });
        let Some(target) = target else { continue };
        let field_ty = field.get_mut("type")?;
        let slot = match field_ty {
            serde_json::Value::Array(branches) => {
                branches.iter_mut().find(|b| b.as_str() != Some("null"))?
            }
            other => other,
        };
        if let Some(new) = promoted_type(slot, &target.field_type) {
            *slot = new;
            changed = true;
            promoted.push(name.unwrap_or_default());
        }
    }
    if !changed {
        return None;
    }
    let new_schema = apache_avro::Schema::parse_str(&schema.to_string()).ok()?;
    let reader = apache_avro::Reader::new(bytes).ok()?;
    let mut writer = apache_avro::Writer::new(&new_schema, Vec::new());
    for (k, v) in &header {
        if !k.starts_with("avro.") {
            writer.add_user_metadata(k.clone(), v).ok()?;
        }
    }
    let promote = |v: Value| -> Value {
        match v {
            Value::Int(i) => Value::Long(i64::from(i)),
            Value::Float(f) => Value::Double(f64::from(f)),
            other => other,
        }
    };
    for entry in reader {
        let Value::Record(mut fields) = entry.ok()? else {
            return None;
        };
        let (_, df) = fields.iter_mut().find(|(n, _)| n == "data_file")?;
        let df = match df {
            Value::Record(df) => df,
            Value::Union(_, inner) => match inner.as_mut() {
                Value::Record(df) => df,
                _ => return None,
            },
            _ => return None,
        };
        let (_, part) = df.iter_mut().find(|(n, _)| n == "partition")?;
        let mut value = std::mem::replace(part, Value::Null);
        if null_to_record {
            value = match value {
                Value::Union(_, inner) => *inner,
                other => other,
            };
            if value == Value::Null {
                if all_null.iter().any(|(_, nullable)| !nullable) {
                    return None;
                }
                value = Value::Record(
                    all_null
                        .iter()
                        .map(|(n, _)| (n.clone(), Value::Union(0, Box::new(Value::Null))))
                        .collect(),
                );
            }
        }
        if let Value::Record(parts) = &mut value {
            for (name, v) in parts.iter_mut() {
                if !promoted.contains(name) {
                    continue;
                }
                *v = match std::mem::replace(v, Value::Null) {
                    Value::Union(i, inner) => Value::Union(i, Box::new(promote(*inner))),
                    other => promote(other),
                };
            }
        }
        *part = value;
        writer.append(Value::Record(fields)).ok()?;
    }
    writer.into_inner().ok()
}

fn parse_as_written(bytes: &[u8], md: &TableMetadata, file: &ManifestFile) -> Result<Manifest> {
    let bad =
        |what: String| Error::InvalidArgument(format!("manifest '{}' {what}", file.manifest_path));
    let (mut header, rest_at) =
        avro_header(bytes).ok_or_else(|| bad("is not an Avro file".into()))?;
    let before = header.len();
    // A header schema naming VARIANT does not parse; its stand-in does (bounds of such a
    // column are never used: the scan does not prune on VARIANT stand-ins).
    // Whether the header was changed in place (its key count tells additions only).
    let mut rewritten = false;
    if let Some(schema) = header.get("schema")
        && let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(schema)
        && crate::variant::hide(&mut json)
    {
        header.insert("schema".into(), json.to_string().into_bytes());
        rewritten = true;
    }
    // DuckDB's iceberg extension (1.4.x) writes the manifest entry's own Avro schema
    // where the table schema belongs (duckdb-iceberg#799). That header is not an
    // Iceberg schema at all; the table's current schema takes its place below, as
    // readers that ignore the header (PyIceberg) effectively do.
    if header
        .get("schema")
        .is_some_and(|s| serde_json::from_slice::<iceberg::spec::Schema>(s).is_err())
    {
        header.remove("schema");
        header.remove("schema-id");
        rewritten = true;
    }
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
    let manifest = if header.len() == before && !rewritten {
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

/// What a v1 snapshot that lists its manifests inline (before manifest lists existed)
/// carries as its manifest list location while floe holds it: this prefix and the JSON
/// array of manifest paths. iceberg-rust's `Snapshot` has no place for inline manifests;
/// [`write_metadata`] writes them back inline, so no other reader ever sees this.
pub(crate) const INLINE_MANIFESTS: &str = "floe-inline-manifests:";

/// The manifest paths of a snapshot that lists them inline (`None`: it has a manifest list).
pub(crate) fn inline_manifests(manifest_list: &str) -> Option<Vec<String>> {
    serde_json::from_str(manifest_list.strip_prefix(INLINE_MANIFESTS)?).ok()
}

/// The manifest list of a v1 snapshot that lists `manifests` inline, as Iceberg Java
/// reads one: each manifest with its file length, the spec id its header names (spec 0
/// when it names none), added by the snapshot, sequence number 0.
pub(crate) async fn inline_manifest_list(
    io: &iceberg::io::FileIO,
    snapshot_id: i64,
    manifests: &[String],
) -> Result<iceberg::spec::ManifestList> {
    use apache_avro::types::Value;
    const SCHEMA: &str = r#"{"type": "record", "name": "manifest_file", "fields": [
        {"name": "manifest_path", "type": "string", "field-id": 500},
        {"name": "manifest_length", "type": "long", "field-id": 501},
        {"name": "partition_spec_id", "type": "int", "field-id": 502},
        {"name": "added_snapshot_id", "type": "long", "field-id": 503}]}"#;
    let bad = |e: String| {
        Error::InvalidArgument(format!(
            "snapshot {snapshot_id} lists its manifests inline and they cannot be read: {e}"
        ))
    };
    let schema = apache_avro::Schema::parse_str(SCHEMA).map_err(|e| bad(e.to_string()))?;
    let mut writer = apache_avro::Writer::new(&schema, Vec::new());
    for path in manifests {
        let bytes = io.new_input(path)?.read().await?;
        let spec_id = avro_header(&bytes)
            .and_then(|(h, _)| h.get("partition-spec-id").cloned())
            .and_then(|v| String::from_utf8(v).ok()?.parse::<i32>().ok())
            .unwrap_or(0);
        writer
            .append(Value::Record(vec![
                ("manifest_path".into(), Value::String(path.clone())),
                ("manifest_length".into(), Value::Long(bytes.len() as i64)),
                ("partition_spec_id".into(), Value::Int(spec_id)),
                ("added_snapshot_id".into(), Value::Long(snapshot_id)),
            ]))
            .map_err(|e| bad(e.to_string()))?;
    }
    let bytes = writer.into_inner().map_err(|e| bad(e.to_string()))?;
    iceberg::spec::ManifestList::parse_with_version(&bytes, FormatVersion::V1)
        .map_err(|e| bad(crate::error::iceberg_message(&e)))
}

/// Writes table metadata to `location`: the one place floe writes metadata files.
/// Snapshots that listed their manifests inline are written inline again, as Iceberg
/// Java writes them, and VARIANT stand-ins get their original types back.
pub(crate) async fn write_metadata(
    io: &iceberg::io::FileIO,
    md: &TableMetadata,
    location: &str,
) -> Result<bytes::Bytes> {
    let inline = md
        .snapshots()
        .any(|s| s.manifest_list().starts_with(INLINE_MANIFESTS));
    let variant = crate::variant::any(md);
    if !inline && !variant {
        let loc = <iceberg::MetadataLocation as std::str::FromStr>::from_str(location)?;
        if !matches!(
            loc.compression_codec(),
            iceberg::compression::CompressionCodec::None
        ) {
            // Compressed files: iceberg writes them (and checks the codec); the JSON
            // returned is the same document, serialized again.
            md.write_to(io, &loc).await?;
            return Ok(serde_json::to_vec(md)?.into());
        }
        // The same bytes `TableMetadata::write_to` writes uncompressed, kept for the
        // caller (the REST server answers with them).
        let bytes: bytes::Bytes = serde_json::to_vec(md)?.into();
        io.new_output(location)?.write(bytes.clone()).await?;
        return Ok(bytes);
    }
    let mut json = serde_json::to_value(md)?;
    crate::variant::restore(&mut json);
    if let Some(snapshots) = json.get_mut("snapshots").and_then(|s| s.as_array_mut()) {
        for s in snapshots.iter_mut().filter_map(|s| s.as_object_mut()) {
            let list = s.get("manifest-list").and_then(|l| l.as_str());
            if let Some(manifests) = list.and_then(inline_manifests) {
                s.remove("manifest-list");
                s.insert("manifests".into(), serde_json::Value::from(manifests));
            }
        }
    }
    let bytes: bytes::Bytes = serde_json::to_vec(&json)?.into();
    io.new_output(location)?.write(bytes.clone()).await?;
    Ok(bytes)
}

/// Reads a table metadata file as liberally as Iceberg Java: a v3 file without
/// `next-row-id` (written before row lineage was final) reads with row ids starting at
/// 0; v1 snapshots that list their manifests inline read through [`INLINE_MANIFESTS`];
/// VARIANT columns read through their stand-ins (`crate::variant`).
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
    let version = json.get("format-version").and_then(|v| v.as_i64());
    let mut fixed = crate::variant::hide(&mut json);
    if let Some(snapshots) = json.get_mut("snapshots").and_then(|s| s.as_array_mut()) {
        for s in snapshots.iter_mut().filter_map(|s| s.as_object_mut()) {
            if s.contains_key("manifest-list") {
                continue;
            }
            if let Some(manifests) = s.remove("manifests") {
                let list = format!("{INLINE_MANIFESTS}{manifests}");
                s.insert("manifest-list".into(), serde_json::Value::from(list));
                fixed = true;
            }
        }
    }
    if version == Some(3)
        && let Some(obj) = json.as_object_mut()
        && !obj.contains_key("next-row-id")
    {
        obj.insert("next-row-id".into(), serde_json::Value::from(0));
        fixed = true;
    }
    if fixed {
        return serde_json::from_value::<TableMetadata>(json)
            .map_err(|e| format!("{first} (and after reading it as Iceberg Java would: {e})"));
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

    /// A manifest shaped as older writers wrote it: `partition` with an int, a float and a
    /// 3-byte decimal(5,3), since promoted to long, double and decimal(8,3).
    fn old_partition_manifest(part: apache_avro::types::Value) -> Vec<u8> {
        use apache_avro::types::Value;
        let schema = apache_avro::Schema::parse_str(
            r#"{"type": "record", "name": "manifest_entry", "fields": [
              {"name": "status", "type": "int"},
              {"name": "data_file", "type": {"type": "record", "name": "r2", "fields": [
                {"name": "file_path", "type": "string"},
                {"name": "partition", "type": ["null", {"type": "record", "name": "r102", "fields": [
                  {"name": "a", "type": ["null", "int"], "field-id": 1000},
                  {"name": "b", "type": ["null", "float"], "field-id": 1001},
                  {"name": "c", "type": ["null", {"type": "fixed", "name": "d53", "size": 3,
                     "logicalType": "decimal", "precision": 5, "scale": 3}], "field-id": 1002}]}]}]}}]}"#,
        )
        .unwrap();
        let mut w = apache_avro::Writer::new(&schema, Vec::new());
        w.add_user_metadata("kept".into(), b"yes").unwrap();
        w.append(Value::Record(vec![
            ("status".into(), Value::Int(1)),
            (
                "data_file".into(),
                Value::Record(vec![
                    ("file_path".into(), Value::String("/x.parquet".into())),
                    ("partition".into(), part),
                ]),
            ),
        ]))
        .unwrap();
        w.into_inner().unwrap()
    }

    fn partition_after(bytes: &[u8]) -> apache_avro::types::Value {
        use apache_avro::types::Value;
        let mut r = apache_avro::Reader::new(bytes).unwrap();
        assert_eq!(
            r.user_metadata().get("kept").map(|v| v.as_slice()),
            Some(&b"yes"[..])
        );
        let Value::Record(fields) = r.next().unwrap().unwrap() else {
            panic!()
        };
        let Value::Record(df) = fields[1].1.clone() else {
            panic!()
        };
        df[1].1.clone()
    }

    #[test]
    fn partitions_are_promoted_to_the_spec_types() {
        use apache_avro::types::Value;
        use iceberg::spec::{NestedField, PrimitiveType, StructType, Type};
        let target = StructType::new(vec![
            NestedField::optional(1000, "a", Type::Primitive(PrimitiveType::Long)).into(),
            NestedField::optional(1001, "b", Type::Primitive(PrimitiveType::Double)).into(),
            NestedField::optional(
                1002,
                "c",
                Type::Primitive(PrimitiveType::Decimal {
                    precision: 8,
                    scale: 3,
                }),
            )
            .into(),
        ]);
        // -3.141 as a 3-byte two's-complement fixed.
        let decimal = apache_avro::Decimal::from((-3141i32).to_be_bytes()[1..].to_vec());
        let bytes = old_partition_manifest(Value::Union(
            1,
            Box::new(Value::Record(vec![
                ("a".into(), Value::Union(1, Box::new(Value::Int(7)))),
                ("b".into(), Value::Union(1, Box::new(Value::Float(1.5)))),
                (
                    "c".into(),
                    Value::Union(1, Box::new(Value::Decimal(decimal))),
                ),
            ])),
        ));
        let fixed = normalise_partitions(&bytes, &target).expect("rewritten");
        let Value::Record(parts) = partition_after(&fixed) else {
            panic!()
        };
        assert_eq!(parts[0].1, Value::Union(1, Box::new(Value::Long(7))));
        assert_eq!(parts[1].1, Value::Union(1, Box::new(Value::Double(1.5))));
        // The decimal keeps its unscaled value in the wider fixed (sign-extended).
        let Value::Union(1, c) = &parts[2].1 else {
            panic!()
        };
        let Value::Decimal(d) = c.as_ref() else {
            panic!("{c:?}")
        };
        let be: Vec<u8> = d.try_into().unwrap();
        assert_eq!(be.len(), 4);
        assert_eq!(i32::from_be_bytes(be.try_into().unwrap()), -3141);
        // Types that already match need no rewrite.
        let same = StructType::new(vec![
            NestedField::optional(1000, "a", Type::Primitive(PrimitiveType::Int)).into(),
        ]);
        let bytes = old_partition_manifest(Value::Union(
            1,
            Box::new(Value::Record(vec![
                ("a".into(), Value::Union(1, Box::new(Value::Int(7)))),
                ("b".into(), Value::Union(0, Box::new(Value::Null))),
                ("c".into(), Value::Union(0, Box::new(Value::Null))),
            ])),
        ));
        // (the nullable partition union alone is rewritten to the required record)
        let fixed = normalise_partitions(&bytes, &same).expect("rewritten");
        assert!(matches!(partition_after(&fixed), Value::Record(_)));
    }

    #[test]
    fn a_null_partition_becomes_a_record_of_nulls() {
        use apache_avro::types::Value;
        let bytes = old_partition_manifest(Value::Union(0, Box::new(Value::Null)));
        let fixed = normalise_partitions(&bytes, &iceberg::spec::StructType::new(vec![]))
            .expect("rewritten");
        // The record has its declared (here: three) fields, all NULL.
        let Value::Record(parts) = partition_after(&fixed) else {
            panic!()
        };
        assert!(
            parts
                .iter()
                .all(|(_, v)| matches!(v, Value::Union(0, _) | Value::Null))
        );
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
