//! UUID columns as text.
//!
//! Iceberg stores a `uuid` as 16 bytes (Parquet `fixed_len_byte_array(16)`). DataFusion
//! sees a top-level `uuid` column as `Utf8` holding the canonical form — lowercase,
//! hyphenated, `6ba7b810-9dad-11d1-80b4-00c04fd430c8` — so string literals and `uuid()`
//! go in, values print and compare as UUID text, and `CAST(u AS VARCHAR)` is plain. The
//! bytes exist only at the Parquet boundary: writes turn text into bytes
//! ([`to_bytes`]), scans turn bytes into text ([`to_text`]).
//!
//! Canonical text and the bytes order alike: the hyphens sit at the same places in every
//! value and lowercase hex digits sort as the nibbles they spell, so comparing two
//! canonical strings gives the same answer as comparing their 16 bytes unsigned, one by
//! one. That is what lets a scan compare a file's bytes with a canonical literal
//! ([`canonical`]) and prune by the file's byte statistics.
//!
//! Nested `uuid` fields (inside structs, lists and maps) stay `FixedSizeBinary(16)`.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeBinaryBuilder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{Result, exec_err};
use uuid::Uuid;

/// Bytes in a UUID (the width of its `FixedSizeBinary`).
pub const WIDTH: i32 = 16;

/// Characters of a value shown in an error.
const SHOWN: usize = 64;

/// Whether `t` is Iceberg's `uuid`.
pub fn is_uuid(t: &iceberg::spec::Type) -> bool {
    matches!(
        t,
        iceberg::spec::Type::Primitive(iceberg::spec::PrimitiveType::Uuid)
    )
}

/// Field ids of the top-level `uuid` fields of `schema`: the columns DataFusion sees as
/// text.
pub fn text_field_ids(schema: &iceberg::spec::Schema) -> HashSet<i32> {
    schema
        .as_struct()
        .fields()
        .iter()
        .filter(|f| is_uuid(&f.field_type))
        .map(|f| f.id)
        .collect()
}

/// `arrow` (the Arrow form of `schema`, top-level fields carrying their field ids) with
/// every top-level `uuid` field typed `Utf8`; names, nullability and metadata stay.
pub fn with_text_uuids(schema: &iceberg::spec::Schema, arrow: Schema) -> Schema {
    let ids = text_field_ids(schema);
    if ids.is_empty() {
        return arrow;
    }
    let fields: Vec<Field> = arrow
        .fields()
        .iter()
        .map(|f| {
            let f = f.as_ref().clone();
            if crate::scan::field_id(&f).is_some_and(|id| ids.contains(&id)) {
                f.with_data_type(DataType::Utf8)
            } else {
                f
            }
        })
        .collect();
    Schema::new_with_metadata(fields, arrow.metadata().clone())
}

/// `value` for an error message: at most [`SHOWN`] characters, control characters
/// escaped, so the message stays one line.
fn shown(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == SHOWN {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Text values (any string type) as UUID bytes (`FixedSizeBinary(16)`) for column
/// `column` of table `table`. Every form `uuid::Uuid::try_parse` reads is accepted —
/// hyphenated, 32 hex digits, braced, `urn:uuid:` — in either case. NULL stays NULL; any
/// other value fails the whole conversion with one error naming the column, the table
/// and the value.
pub fn to_bytes(array: &ArrayRef, column: &str, table: &str) -> Result<ArrayRef> {
    let text = cast(array, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let mut out = FixedSizeBinaryBuilder::with_capacity(text.len(), WIDTH);
    for value in text.iter() {
        match value {
            None => out.append_null(),
            Some(s) => match Uuid::try_parse(s) {
                Ok(u) => out.append_value(u.as_bytes())?,
                Err(_) => {
                    return exec_err!(
                        "column '{column}' (uuid) of table '{table}': '{}' is not a UUID",
                        shown(s)
                    );
                }
            },
        }
    }
    Ok(Arc::new(out.finish()))
}

/// UUID bytes (`FixedSizeBinary(16)`) as canonical text (`Utf8`); NULL stays NULL.
pub fn to_text(array: &ArrayRef) -> Result<ArrayRef> {
    if array.data_type() != &DataType::FixedSizeBinary(WIDTH) {
        return exec_err!(
            "UUID values must be 16 bytes (FixedSizeBinary(16)), not {}",
            array.data_type()
        );
    }
    let bytes = array.as_fixed_size_binary();
    let mut out = StringBuilder::with_capacity(bytes.len(), bytes.len() * 36);
    let mut buffer = Uuid::encode_buffer();
    for value in bytes.iter() {
        match value {
            None => out.append_null(),
            Some(b) => {
                let Ok(u) = Uuid::from_slice(b) else {
                    return exec_err!("a UUID value is {} bytes, not 16", b.len());
                };
                out.append_value(u.hyphenated().encode_lower(&mut buffer));
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

/// The canonical text of a UUID held as Iceberg holds it in literals (its 16 bytes read
/// as a big-endian `u128`).
pub fn text_of_u128(value: u128) -> String {
    Uuid::from_u128(value).hyphenated().to_string()
}

/// The bytes of `s` when `s` is a UUID in canonical form (lowercase, hyphenated), else
/// `None`: only then does comparing `s` as text agree with comparing the bytes.
pub fn canonical(s: &str) -> Option<[u8; 16]> {
    if s.len() != 36 {
        return None;
    }
    let u = Uuid::try_parse(s).ok()?;
    let mut buffer = Uuid::encode_buffer();
    let text: &str = u.hyphenated().encode_lower(&mut buffer);
    (text == s).then(|| *u.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{FixedSizeBinaryArray, LargeStringArray, StringArray};

    const CANON: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

    fn bytes_of(a: &ArrayRef, row: usize) -> Vec<u8> {
        a.as_fixed_size_binary().value(row).to_vec()
    }

    #[test]
    fn every_spelling_goes_in_and_comes_out_canonical() {
        let input: ArrayRef = Arc::new(StringArray::from(vec![
            Some(CANON),
            Some("6BA7B810-9DAD-11D1-80B4-00C04FD430C8"),
            Some("6ba7b8109dad11d180b400c04fd430c8"),
            Some("{6ba7b810-9dad-11d1-80b4-00c04fd430c8}"),
            Some("urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
            None,
        ]));
        let bytes = to_bytes(&input, "u", "public.t").unwrap();
        assert_eq!(bytes.data_type(), &DataType::FixedSizeBinary(16));
        let expected = Uuid::parse_str(CANON).unwrap().as_bytes().to_vec();
        for row in 0..5 {
            assert_eq!(bytes_of(&bytes, row), expected, "row {row}");
        }
        assert!(bytes.is_null(5));
        let text = to_text(&bytes).unwrap();
        let text = text.as_string::<i32>();
        for row in 0..5 {
            assert_eq!(text.value(row), CANON);
        }
        assert!(text.is_null(5));
    }

    #[test]
    fn other_string_types_convert_too() {
        let input: ArrayRef = Arc::new(LargeStringArray::from(vec![CANON]));
        let bytes = to_bytes(&input, "u", "public.t").unwrap();
        assert_eq!(bytes.len(), 1);
    }

    #[test]
    fn a_bad_value_names_column_table_and_value() {
        let input: ArrayRef = Arc::new(StringArray::from(vec![Some(CANON), Some("xyz")]));
        let err = to_bytes(&input, "u", "public.t").unwrap_err().to_string();
        assert!(
            err.contains("column 'u' (uuid) of table 'public.t': 'xyz' is not a UUID"),
            "{err}"
        );
        let long = "z".repeat(200) + "\nmore";
        let input: ArrayRef = Arc::new(StringArray::from(vec![long.as_str()]));
        let err = to_bytes(&input, "u", "public.t").unwrap_err().to_string();
        assert!(err.contains(&format!("'{}…'", "z".repeat(64))), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn text_needs_sixteen_bytes() {
        let wrong: ArrayRef =
            Arc::new(FixedSizeBinaryArray::try_from_iter(std::iter::once(vec![1u8; 8])).unwrap());
        assert!(to_text(&wrong).is_err());
    }

    #[test]
    fn canonical_is_lowercase_hyphenated_only() {
        let expected = *Uuid::parse_str(CANON).unwrap().as_bytes();
        assert_eq!(canonical(CANON), Some(expected));
        assert_eq!(canonical(&CANON.to_uppercase()), None);
        assert_eq!(canonical("6ba7b8109dad11d180b400c04fd430c8"), None);
        assert_eq!(canonical("{6ba7b810-9dad-11d1-80b4-00c04fd430c8}"), None);
        assert_eq!(canonical("not a uuid"), None);
        assert_eq!(text_of_u128(u128::from_be_bytes(expected)), CANON);
    }

    #[test]
    fn canonical_text_orders_as_its_bytes() {
        let values = [
            "00000000-0000-0000-0000-000000000000",
            "0000000a-0000-0000-0000-000000000000",
            "7fffffff-ffff-ffff-ffff-ffffffffffff",
            "80000000-0000-0000-0000-000000000000",
            "f0000000-0000-0000-0000-000000000001",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
        ];
        for a in values {
            for b in values {
                let (ba, bb) = (canonical(a).unwrap(), canonical(b).unwrap());
                assert_eq!(a.cmp(b), ba.cmp(&bb), "{a} vs {b}");
            }
        }
    }
}
