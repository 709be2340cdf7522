//! VARIANT columns (Iceberg v3) in tables other engines wrote.
//!
//! iceberg-rust 0.10.1 has no VARIANT type, so a metadata file naming one does not parse.
//! floe reads such a table by holding each top-level field whose type is or contains
//! `variant` as a `string` field whose doc carries [`MARK`] and the field's original type
//! and doc (JSON). The scan reads a top-level VARIANT column as its JSON text (the Parquet
//! group of `metadata` and `value` decoded per the Variant spec); a column that nests a
//! VARIANT inside a list, map or struct fails when read, naming the column. Every metadata
//! file floe writes puts the original types back ([`restore`]), and no snapshot is
//! produced on such a table (floe cannot write VARIANT values), so no other reader ever
//! sees the stand-in.

use serde_json::Value;

/// Prefix of the doc of a field that stands in for a VARIANT-bearing field.
pub const MARK: &str = "floe:variant:";

/// How a field floe holds relates to VARIANT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantField {
    /// The field itself is a VARIANT: it reads as JSON text.
    TopLevel,
    /// A VARIANT sits inside the field (list element, map value, struct field).
    Nested,
}

/// What a field's doc says about VARIANT (`None`: an ordinary field).
pub fn variant_field(doc: Option<&str>) -> Option<VariantField> {
    let original: Value = serde_json::from_str(doc?.strip_prefix(MARK)?).ok()?;
    Some(if original.get("type") == Some(&Value::from("variant")) {
        VariantField::TopLevel
    } else {
        VariantField::Nested
    })
}

/// The first field of `schema` that stands in for a VARIANT-bearing field.
pub fn variant_column(schema: &iceberg::spec::Schema) -> Option<&str> {
    schema
        .as_struct()
        .fields()
        .iter()
        .find(|f| variant_field(f.doc.as_deref()).is_some())
        .map(|f| f.name.as_str())
}

fn contains_variant(ty: &Value) -> bool {
    match ty {
        Value::String(s) => s == "variant",
        Value::Object(o) => {
            o.get("fields")
                .and_then(|f| f.as_array())
                .is_some_and(|fields| {
                    fields
                        .iter()
                        .any(|f| f.get("type").is_some_and(contains_variant))
                })
                || ["element", "key", "value"]
                    .iter()
                    .any(|k| o.get(*k).is_some_and(contains_variant))
        }
        _ => false,
    }
}

/// The top-level field lists of every schema in a table metadata JSON (`schemas`, and
/// v1's single `schema`), or of one schema JSON.
fn schema_fields(json: &mut Value) -> Vec<&mut Vec<Value>> {
    let mut out = Vec::new();
    let Some(obj) = json.as_object_mut() else {
        return out;
    };
    if obj.contains_key("schemas") || obj.contains_key("schema") {
        for (key, value) in obj.iter_mut() {
            match key.as_str() {
                "schemas" => {
                    for s in value.as_array_mut().into_iter().flatten() {
                        if let Some(f) = s.get_mut("fields").and_then(|f| f.as_array_mut()) {
                            out.push(f);
                        }
                    }
                }
                "schema" => {
                    if let Some(f) = value.get_mut("fields").and_then(|f| f.as_array_mut()) {
                        out.push(f);
                    }
                }
                _ => {}
            }
        }
    } else if let Some(f) = obj.get_mut("fields").and_then(|f| f.as_array_mut()) {
        out.push(f);
    }
    out
}

/// Replaces each VARIANT-bearing top-level field of the schemas in `json` (a table
/// metadata file or one schema) with its stand-in; true when it replaced any.
pub(crate) fn hide(json: &mut Value) -> bool {
    let mut any = false;
    for fields in schema_fields(json) {
        for field in fields.iter_mut().filter_map(|f| f.as_object_mut()) {
            if !field.get("type").is_some_and(contains_variant) {
                continue;
            }
            let original = serde_json::json!({
                "type": field.get("type").cloned().unwrap_or(Value::Null),
                "doc": field.get("doc").cloned().unwrap_or(Value::Null),
            });
            field.insert("type".into(), Value::from("string"));
            field.insert("doc".into(), Value::from(format!("{MARK}{original}")));
            any = true;
        }
    }
    any
}

/// Puts the original type and doc back into every stand-in field of `json`.
pub(crate) fn restore(json: &mut Value) {
    for fields in schema_fields(json) {
        for field in fields.iter_mut().filter_map(|f| f.as_object_mut()) {
            let Some(original) = field
                .get("doc")
                .and_then(|d| d.as_str())
                .and_then(|d| d.strip_prefix(MARK))
                .and_then(|o| serde_json::from_str::<Value>(o).ok())
            else {
                continue;
            };
            field.insert(
                "type".into(),
                original.get("type").cloned().unwrap_or(Value::Null),
            );
            match original.get("doc") {
                Some(doc) if !doc.is_null() => {
                    field.insert("doc".into(), doc.clone());
                }
                _ => {
                    field.remove("doc");
                }
            }
        }
    }
}

/// True when some schema of `md` holds a VARIANT stand-in.
pub(crate) fn any(md: &iceberg::spec::TableMetadata) -> bool {
    md.schemas_iter().any(|s| variant_column(s).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hide_and_restore_round_trip() {
        let original = serde_json::json!({
            "format-version": 3,
            "schemas": [{"type": "struct", "schema-id": 0, "fields": [
                {"id": 1, "name": "id", "required": false, "type": "int"},
                {"id": 3, "name": "v", "required": false, "type": "variant", "doc": "payload"},
                {"id": 4, "name": "arr_v", "required": false,
                 "type": {"type": "list", "element-id": 8, "element": "variant", "element-required": false}},
                {"id": 6, "name": "s", "required": false,
                 "type": {"type": "struct", "fields": [{"id": 11, "name": "a", "required": false, "type": "variant"}]}}
            ]}]
        });
        let mut json = original.clone();
        assert!(hide(&mut json));
        let fields = json["schemas"][0]["fields"].as_array().unwrap();
        assert_eq!(fields[0]["type"], "int");
        assert!(fields[0].get("doc").is_none());
        for f in &fields[1..] {
            assert_eq!(f["type"], "string");
        }
        assert_eq!(
            variant_field(fields[1]["doc"].as_str()),
            Some(VariantField::TopLevel)
        );
        assert_eq!(
            variant_field(fields[2]["doc"].as_str()),
            Some(VariantField::Nested)
        );
        assert_eq!(
            variant_field(fields[3]["doc"].as_str()),
            Some(VariantField::Nested)
        );
        assert_eq!(variant_field(Some("an ordinary doc")), None);
        restore(&mut json);
        assert_eq!(json, original);
        // Nothing to hide: untouched.
        let mut plain = serde_json::json!({"type": "struct", "fields": [{"id": 1, "name": "x", "type": "long", "required": true}]});
        assert!(!hide(&mut plain));
    }
}
