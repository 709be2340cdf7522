//! Initial defaults of struct fields a data file does not have (Iceberg v3).
//!
//! A field added inside a struct with an `initial-default` reads as that default from
//! files written before it existed, for every row whose struct is not NULL. DataFusion's
//! adapter casts such a file's struct to the table's struct type with the new field
//! NULL; [`FillNested`] wraps that column and replaces the fields the file lacks (known
//! when the file's adapter is built) with their defaults. The file never has them, so
//! nothing read from it is overwritten.

use std::any::Any;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;

/// A field inside a struct column, with its initial default.
#[derive(Debug, Clone)]
pub(crate) struct NestedDefault {
    /// Its field id.
    pub id: i32,
    /// Dotted name from the top-level column, for errors.
    pub name: String,
    /// Child indexes from the top-level column's struct type down to the field (`None`:
    /// it sits under a list or map, where floe cannot supply it).
    pub path: Option<Vec<usize>>,
    /// The default as the field's Arrow type (`Err`: one floe cannot express).
    pub value: std::result::Result<ScalarValue, String>,
}

/// The Arrow type at `path` inside `dt`.
pub(crate) fn type_at(dt: &DataType, path: &[usize]) -> Option<DataType> {
    match (dt, path) {
        (_, []) => Some(dt.clone()),
        (DataType::Struct(fields), [i, rest @ ..]) => type_at(fields.get(*i)?.data_type(), rest),
        _ => None,
    }
}

/// A struct column with the fields its file lacks set to their initial defaults.
#[derive(Debug, Eq)]
pub(crate) struct FillNested {
    pub input: Arc<dyn PhysicalExpr>,
    /// (path inside the struct, default) for each field this file lacks.
    pub fills: Vec<(Vec<usize>, ScalarValue)>,
}

// By hand: the derives cannot see through `Arc<dyn PhysicalExpr>` (rust-lang/rust#78808).
impl PartialEq for FillNested {
    fn eq(&self, other: &Self) -> bool {
        self.input.eq(&other.input) && self.fills == other.fills
    }
}

impl Hash for FillNested {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.fills.hash(state);
    }
}

fn replace(array: &StructArray, path: &[usize], value: &ScalarValue) -> Result<ArrayRef> {
    let (fields, mut columns, nulls) = array.clone().into_parts();
    let Some((&i, rest)) = path.split_first() else {
        return plan_err!("empty nested default path");
    };
    let Some(child) = columns.get(i).cloned() else {
        return plan_err!("nested default path out of range");
    };
    columns[i] = if rest.is_empty() {
        value.to_array_of_size(array.len())?
    } else {
        match child.as_struct_opt() {
            Some(s) => replace(s, rest, value)?,
            None => return plan_err!("nested default path crosses a non-struct"),
        }
    };
    Ok(Arc::new(StructArray::try_new(fields, columns, nulls)?))
}

impl fmt::Display for FillNested {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "fill_nested_defaults({})", self.input)
    }
}

impl PhysicalExpr for FillNested {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn data_type(&self, input_schema: &Schema) -> Result<DataType> {
        self.input.data_type(input_schema)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        self.input.nullable(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let mut array = self.input.evaluate(batch)?.into_array(batch.num_rows())?;
        for (path, value) in &self.fills {
            let Some(s) = array.as_struct_opt() else {
                return plan_err!("nested defaults on a column that is not a struct");
            };
            array = replace(s, path, value)?;
        }
        Ok(ColumnarValue::Array(array))
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
        Ok(Arc::new(FillNested {
            input,
            fills: self.fills.clone(),
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fill_nested_defaults(")?;
        self.input.fmt_sql(f)?;
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::arrow::buffer::NullBuffer;
    use datafusion::arrow::datatypes::Field;
    use datafusion::physical_expr::expressions::Column;
    use std::collections::HashMap;

    fn with_id(f: Field, id: i32) -> Field {
        f.with_metadata(HashMap::from([(
            parquet::arrow::PARQUET_FIELD_ID_META_KEY.to_string(),
            id.to_string(),
        )]))
    }

    #[test]
    fn fills_only_the_missing_field_and_keeps_struct_nulls() {
        let inner = Field::new(
            "s",
            DataType::Struct(vec![with_id(Field::new("x", DataType::Int32, true), 3)].into()),
            true,
        );
        let fields: datafusion::arrow::datatypes::Fields = vec![
            with_id(Field::new("a", DataType::Utf8, true), 2),
            with_id(Field::new("b", DataType::Int32, true), 4),
            with_id(inner, 5),
        ]
        .into();
        let dt = DataType::Struct(fields.clone());
        assert_eq!(type_at(&dt, &[2, 0]), Some(DataType::Int32));

        let DataType::Struct(inner_fields) = fields[2].data_type().clone() else {
            unreachable!()
        };
        let s = StructArray::try_new(
            fields.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("p"), Some("q"), None])) as ArrayRef,
                Arc::new(Int32Array::from(vec![None, None, None])),
                Arc::new(StructArray::new_null(inner_fields, 3)),
            ],
            Some(NullBuffer::from(vec![true, true, false])),
        )
        .unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("c", dt, true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(s)]).unwrap();
        let fill = FillNested {
            input: Arc::new(Column::new("c", 0)),
            fills: vec![(vec![1], ScalarValue::Int32(Some(7)))],
        };
        let out = fill.evaluate(&batch).unwrap().into_array(3).unwrap();
        let out = out.as_struct();
        // The parent's validity is kept; the field the file lacks reads as 7.
        assert_eq!(out.nulls().map(|n| n.null_count()), Some(1));
        let b = out
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        assert_eq!(b.value(0), 7);
        assert_eq!(b.value(1), 7);
        // Fields the file has are untouched.
        assert_eq!(out.column(0).as_string::<i32>().value(1), "q");
    }
}
