//! Reading top-level UUID columns as canonical text (`crate::uuid_text`).
//!
//! The table's Arrow schema types such a column `Utf8`; its data files hold 16 bytes. The
//! scan reads the bytes as they are and wraps the column in [`UuidText`], which makes
//! them text. Filters on the column would then compare text the file's statistics know
//! nothing of, so [`compare_bytes`] turns the comparisons it can state exactly on the
//! bytes — against canonical literals — back into comparisons of the file's column, which
//! row-group and page statistics (and bloom filters) can prune.

use std::any::Any;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CastExpr, InListExpr, IsNotNullExpr, IsNullExpr, Literal, in_list,
};

/// A UUID column of a data file (`FixedSizeBinary(16)`) as canonical text (`Utf8`).
#[derive(Debug, Eq)]
pub(crate) struct UuidText {
    pub input: Arc<dyn PhysicalExpr>,
    /// The column, for errors.
    pub column: String,
}

// By hand: the derives cannot see through `Arc<dyn PhysicalExpr>` (rust-lang/rust#78808).
impl PartialEq for UuidText {
    fn eq(&self, other: &Self) -> bool {
        self.input.eq(&other.input) && self.column == other.column
    }
}

impl Hash for UuidText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.column.hash(state);
    }
}

impl fmt::Display for UuidText {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "uuid_to_text({})", self.input)
    }
}

impl PhysicalExpr for UuidText {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        self.input.nullable(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let array = self.input.evaluate(batch)?.into_array(batch.num_rows())?;
        crate::uuid_text::to_text(&array)
            .map(ColumnarValue::Array)
            .map_err(|e| {
                datafusion::error::DataFusionError::Execution(format!(
                    "UUID column '{}': {}",
                    self.column,
                    crate::error::display_error(&e)
                ))
            })
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
        Ok(Arc::new(UuidText {
            input,
            column: self.column.clone(),
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uuid_to_text(")?;
        self.input.fmt_sql(f)?;
        write!(f, ")")
    }
}

/// The file column under `e` when `e` is a [`UuidText`], possibly cast to a string type
/// (which changes no value).
fn uuid_bytes(e: &Arc<dyn PhysicalExpr>) -> Option<Arc<dyn PhysicalExpr>> {
    let e = match e.as_any().downcast_ref::<CastExpr>() {
        Some(c)
            if matches!(
                c.cast_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            c.expr()
        }
        _ => e,
    };
    e.as_any()
        .downcast_ref::<UuidText>()
        .map(|u| u.input.clone())
}

/// `e` as a literal of UUID bytes when it is a string literal holding a canonical UUID.
fn bytes_literal(e: &Arc<dyn PhysicalExpr>) -> Option<Arc<dyn PhysicalExpr>> {
    let text = e
        .as_any()
        .downcast_ref::<Literal>()?
        .value()
        .try_as_str()??;
    let bytes = crate::uuid_text::canonical(text)?;
    Some(Arc::new(Literal::new(ScalarValue::FixedSizeBinary(
        crate::uuid_text::WIDTH,
        Some(bytes.to_vec()),
    ))))
}

/// `expr` (over a data file's schema `physical`) with every comparison of a
/// [`UuidText`] with canonical UUID literals stated on the file's bytes instead:
/// `=`, `!=`, `<`, `<=`, `>`, `>=` (either operand order), `IN` / `NOT IN` lists of such
/// literals, and `IS [NOT] NULL`. Each rewrite is exact — canonical text and the bytes it
/// spells order alike (`crate::uuid_text`), and NULLs stay NULL — so it is applied
/// wherever the expression is used: the filter the file's statistics prune with and the
/// one its rows are checked against alike. A comparison with any other literal (an
/// uppercase UUID, 32 hex digits, text that is no UUID) compares text, as written.
pub(crate) fn compare_bytes(
    expr: Arc<dyn PhysicalExpr>,
    physical: &Schema,
) -> Result<Arc<dyn PhysicalExpr>> {
    expr.transform_up(|e| {
        if let Some(b) = e.as_any().downcast_ref::<BinaryExpr>()
            && matches!(
                b.op(),
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
            )
        {
            let (left, right) = (b.left(), b.right());
            let sides = match (uuid_bytes(left), uuid_bytes(right)) {
                (Some(column), None) => bytes_literal(right).map(|lit| (column, lit)),
                (None, Some(column)) => bytes_literal(left).map(|lit| (lit, column)),
                _ => None,
            };
            // Operand order is kept, so the operator needs no flipping.
            if let Some((l, r)) = sides {
                return Ok(Transformed::yes(
                    Arc::new(BinaryExpr::new(l, *b.op(), r)) as Arc<dyn PhysicalExpr>
                ));
            }
        }
        if let Some(list) = e.as_any().downcast_ref::<InListExpr>()
            && let Some(column) = uuid_bytes(list.expr())
        {
            let literals: Option<Vec<_>> = list.list().iter().map(bytes_literal).collect();
            // A list the bytes cannot be looked up in is left comparing text.
            if let Some(literals) = literals.filter(|l| !l.is_empty())
                && let Ok(on_bytes) = in_list(column, literals, &list.negated(), physical)
            {
                return Ok(Transformed::yes(on_bytes));
            }
        }
        if let Some(n) = e.as_any().downcast_ref::<IsNullExpr>()
            && let Some(column) = uuid_bytes(n.arg())
        {
            return Ok(Transformed::yes(
                Arc::new(IsNullExpr::new(column)) as Arc<dyn PhysicalExpr>
            ));
        }
        if let Some(n) = e.as_any().downcast_ref::<IsNotNullExpr>()
            && let Some(column) = uuid_bytes(n.arg())
        {
            return Ok(Transformed::yes(
                Arc::new(IsNotNullExpr::new(column)) as Arc<dyn PhysicalExpr>
            ));
        }
        Ok(Transformed::no(e))
    })
    .data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, FixedSizeBinaryArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::physical_expr::expressions::Column;

    const A: &str = "00112233-4455-6677-8899-aabbccddeeff";
    const B: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

    fn schema() -> Schema {
        Schema::new(vec![Field::new("u", DataType::FixedSizeBinary(16), true)])
    }

    fn text_column() -> Arc<dyn PhysicalExpr> {
        Arc::new(UuidText {
            input: Arc::new(Column::new("u", 0)),
            column: "u".into(),
        })
    }

    fn text(s: &str) -> Arc<dyn PhysicalExpr> {
        Arc::new(Literal::new(ScalarValue::Utf8(Some(s.into()))))
    }

    fn batch() -> RecordBatch {
        let bytes = |s: &str| crate::uuid_text::canonical(s).unwrap().to_vec();
        let column = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
            [Some(bytes(A)), None, Some(bytes(B))].into_iter(),
            16,
        )
        .unwrap();
        RecordBatch::try_new(Arc::new(schema()), vec![Arc::new(column) as ArrayRef]).unwrap()
    }

    fn eval(e: &Arc<dyn PhysicalExpr>) -> Vec<Option<bool>> {
        let out = e.evaluate(&batch()).unwrap().into_array(3).unwrap();
        let out: &BooleanArray = out.as_boolean();
        out.iter().collect()
    }

    #[test]
    fn reads_bytes_as_canonical_text() {
        let out = text_column()
            .evaluate(&batch())
            .unwrap()
            .into_array(3)
            .unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), A);
        assert!(out.is_null(1));
        assert_eq!(out.value(2), B);
    }

    #[test]
    fn canonical_comparisons_move_to_the_bytes_with_the_same_result() {
        let s = schema();
        let cases: [Arc<dyn PhysicalExpr>; 8] = [
            Arc::new(BinaryExpr::new(text_column(), Operator::Eq, text(B))),
            Arc::new(BinaryExpr::new(text(B), Operator::NotEq, text_column())),
            Arc::new(BinaryExpr::new(text_column(), Operator::Lt, text(B))),
            Arc::new(BinaryExpr::new(text(A), Operator::GtEq, text_column())),
            in_list(text_column(), vec![text(A), text(B)], &false, &s).unwrap(),
            in_list(text_column(), vec![text(A)], &true, &s).unwrap(),
            Arc::new(IsNullExpr::new(text_column())),
            Arc::new(IsNotNullExpr::new(Arc::new(CastExpr::new(
                text_column(),
                DataType::Utf8View,
                None,
            )))),
        ];
        for case in cases {
            let rewritten = compare_bytes(case.clone(), &s).unwrap();
            assert!(
                !rewritten.to_string().contains("uuid_to_text"),
                "{case} was not rewritten: {rewritten}"
            );
            assert_eq!(eval(&case), eval(&rewritten), "{case} vs {rewritten}");
        }
    }

    #[test]
    fn other_literals_still_compare_text() {
        let s = schema();
        for literal in [B.to_uppercase(), B.replace('-', ""), "zzz".to_string()] {
            let case: Arc<dyn PhysicalExpr> =
                Arc::new(BinaryExpr::new(text_column(), Operator::Eq, text(&literal)));
            let rewritten = compare_bytes(case, &s).unwrap();
            assert!(
                rewritten.to_string().contains("uuid_to_text"),
                "{rewritten}"
            );
        }
    }
}
