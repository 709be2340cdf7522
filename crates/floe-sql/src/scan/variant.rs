//! Reading VARIANT columns (Iceberg v3) as JSON text.
//!
//! floe-catalog holds a top-level VARIANT field as a `string` stand-in
//! (`floe_catalog::variant`); in the data files it is a Parquet group of two binaries,
//! `metadata` and `value`, encoded per the Parquet Variant spec. [`VariantJson`] wraps
//! such a column in a scan and decodes each value to its JSON text, as Impala and
//! DuckDB render VARIANT. A value that does not decode fails the scan; NULL stays NULL.

use std::any::Any;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use parquet_variant_json::VariantToJson;

/// True when `field` (of the table's Arrow schema) stands in for a VARIANT-bearing field.
/// A prefix test: it runs per file and column when statistics are built.
pub(crate) fn is_stand_in(field: &Field) -> bool {
    field
        .metadata()
        .get("doc")
        .is_some_and(|d| d.starts_with(floe_catalog::variant::MARK))
}

/// The child indexes of `metadata` and `value` when `dt` is an unshredded Variant group.
pub(crate) fn unshredded(dt: &DataType) -> Option<(usize, usize)> {
    let DataType::Struct(fields) = dt else {
        return None;
    };
    let binary = |f: &Field| {
        matches!(
            f.data_type(),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView
        )
    };
    let m = fields
        .iter()
        .position(|f| f.name() == "metadata" && binary(f))?;
    let v = fields
        .iter()
        .position(|f| f.name() == "value" && binary(f))?;
    (fields.len() == 2).then_some((m, v))
}

/// A VARIANT column of a data file as JSON text (`Utf8`).
#[derive(Debug, Eq)]
pub(crate) struct VariantJson {
    pub input: Arc<dyn PhysicalExpr>,
    /// The column, for errors.
    pub column: String,
}

// By hand: the derives cannot see through `Arc<dyn PhysicalExpr>` (rust-lang/rust#78808).
impl PartialEq for VariantJson {
    fn eq(&self, other: &Self) -> bool {
        self.input.eq(&other.input) && self.column == other.column
    }
}

impl Hash for VariantJson {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.column.hash(state);
    }
}

impl fmt::Display for VariantJson {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "variant_to_json({})", self.input)
    }
}

/// Decodes a Variant group array to JSON text.
pub(crate) fn to_json(array: &ArrayRef, column: &str) -> Result<ArrayRef> {
    let Some((m, v)) = unshredded(array.data_type()) else {
        return exec_err!(
            "VARIANT column '{column}' is not an unshredded group of metadata and value"
        );
    };
    let group = array.as_struct();
    let metadata = cast(group.column(m), &DataType::Binary)?;
    let value = cast(group.column(v), &DataType::Binary)?;
    let (metadata, value) = (metadata.as_binary::<i32>(), value.as_binary::<i32>());
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    for row in 0..array.len() {
        if group.is_null(row) || metadata.is_null(row) || value.is_null(row) {
            out.append_null();
            continue;
        }
        let json = parquet_variant::Variant::try_new(metadata.value(row), value.value(row))
            .and_then(|variant| variant.to_json_string());
        match json {
            Ok(text) => out.append_value(text),
            Err(e) => {
                return exec_err!(
                    "VARIANT column '{column}' holds a value that does not decode: {e}"
                );
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

impl PhysicalExpr for VariantJson {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn nullable(&self, _input_schema: &Schema) -> Result<bool> {
        Ok(true)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let array = self.input.evaluate(batch)?.into_array(batch.num_rows())?;
        Ok(ColumnarValue::Array(to_json(&array, &self.column)?))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let [input] = <[_; 1]>::try_from(children)
            .map_err(|_| datafusion::error::DataFusionError::Internal("one child".into()))?;
        Ok(Arc::new(VariantJson {
            input,
            column: self.column.clone(),
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "variant_to_json(")?;
        self.input.fmt_sql(f)?;
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BinaryArray, StructArray};
    use parquet_variant::VariantBuilder;

    #[test]
    fn decodes_objects_arrays_and_nulls() {
        let mut b = VariantBuilder::new();
        let mut obj = b.new_object();
        obj.insert("age", 30i32);
        obj.insert("name", "Alice");
        obj.finish();
        let (m1, v1) = b.finish();
        let mut b = VariantBuilder::new();
        let mut list = b.new_list();
        list.append_value(1i8);
        list.append_value("x");
        list.finish();
        let (m2, v2) = b.finish();
        let fields = vec![
            Field::new("metadata", DataType::Binary, false),
            Field::new("value", DataType::Binary, false),
        ];
        let group = StructArray::try_new(
            fields.into(),
            vec![
                Arc::new(BinaryArray::from(vec![&m1[..], &m2[..], &m2[..]])) as ArrayRef,
                Arc::new(BinaryArray::from(vec![&v1[..], &v2[..], &v2[..]])),
            ],
            Some(vec![true, true, false].into()),
        )
        .unwrap();
        let out = to_json(&(Arc::new(group) as ArrayRef), "v").unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), r#"{"age":30,"name":"Alice"}"#);
        assert_eq!(out.value(1), r#"[1,"x"]"#);
        assert!(out.is_null(2));
        // Garbage fails, naming the column.
        let bad = StructArray::try_new(
            vec![
                Field::new("metadata", DataType::Binary, false),
                Field::new("value", DataType::Binary, false),
            ]
            .into(),
            vec![
                Arc::new(BinaryArray::from(vec![&b"\x07"[..]])) as ArrayRef,
                Arc::new(BinaryArray::from(vec![&b"\xff\xff"[..]])),
            ],
            None,
        )
        .unwrap();
        let err = to_json(&(Arc::new(bad) as ArrayRef), "v").unwrap_err();
        assert!(err.to_string().contains("VARIANT column 'v'"), "{err}");
    }
}
