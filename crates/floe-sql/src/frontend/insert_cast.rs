//! INSERT errors that name the column: DataFusion converts each inserted value to its
//! column's type with a plain cast, whose error names neither the column nor the table
//! ("Can't cast value 3000000000 to type Int32"). The casts of an INSERT into an Iceberg
//! table are replaced by the same conversion (strict, as DataFusion's: a value that does
//! not fit is an error, never NULL) that says which column of which table the value was
//! going to.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::expr::{Alias, ScalarFunction};
use datafusion::logical_expr::{
    ColumnarValue, DmlStatement, Expr, LogicalPlan, Projection, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

/// Converts one inserted column to its type; errors name the column and the table.
#[derive(Debug, PartialEq, Eq, Hash)]
struct InsertCast {
    column: String,
    table: String,
    target: DataType,
    signature: Signature,
}

impl ScalarUDFImpl for InsertCast {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "floe_insert_cast"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("floe_insert_cast takes one argument");
        };
        let options = CastOptions {
            safe: false,
            format_options: FormatOptions::default(),
        };
        let explain = |e: &dyn std::fmt::Display| {
            let text = e.to_string();
            let reason = text
                .trim_start_matches("Arrow error: ")
                .trim_start_matches("Cast error: ");
            let sql_type = crate::types::arrow_type_to_iceberg(&self.column, &self.target, &mut 0)
                .map(|t| crate::types::iceberg_type_to_sql(&t))
                .unwrap_or_else(|_| self.target.to_string());
            datafusion::error::DataFusionError::Execution(format!(
                "column '{}' ({sql_type}) of table '{}': {reason}",
                self.column, self.table
            ))
        };
        match value {
            ColumnarValue::Array(a) => cast_with_options(a, &self.target, &options)
                .map(ColumnarValue::Array)
                .map_err(|e| explain(&e)),
            ColumnarValue::Scalar(s) => s
                .cast_to_with_options(&self.target, &options)
                .map(ColumnarValue::Scalar)
                .map_err(|e| explain(&e)),
        }
    }
}

/// Types whose casts are replaced: scalars only (DataFusion casts nested values by field
/// name, which a plain Arrow cast would not).
fn replaceable(t: &DataType) -> bool {
    !t.is_nested() && !matches!(t, DataType::Dictionary(..) | DataType::RunEndEncoded(..))
}

/// `expr` converted to `target` for column `column` of `table`.
fn named_cast(expr: Expr, column: &str, table: &str, target: &DataType) -> Expr {
    let udf = ScalarUDF::new_from_impl(InsertCast {
        column: column.to_string(),
        table: table.to_string(),
        target: target.clone(),
        signature: Signature::any(1, Volatility::Immutable),
    });
    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(udf), vec![expr]))
}

/// `plan` with the casts of its INSERT projection (and VALUES rows) naming their column, when it is an
/// INSERT whose input is DataFusion's projection onto the table's columns; otherwise
/// `plan` as it is.
pub fn name_insert_casts(plan: LogicalPlan, table: &str) -> LogicalPlan {
    let LogicalPlan::Dml(dml) = &plan else {
        return plan;
    };
    let LogicalPlan::Projection(projection) = dml.input.as_ref() else {
        return plan;
    };
    let mut changed = false;
    // VALUES rows are cast to the table's types where they are written.
    let mut source = projection.input.clone();
    if let LogicalPlan::Values(values) = source.as_ref() {
        // The table column each VALUES column goes to (VALUES names them column1, ...).
        let target_of = |source: &str| {
            projection.expr.iter().find_map(|e| match e {
                Expr::Alias(Alias { expr, name, .. }) => {
                    let inner = match expr.as_ref() {
                        Expr::Cast(c) => c.expr.as_ref(),
                        other => other,
                    };
                    matches!(inner, Expr::Column(c) if c.name == source).then(|| name.clone())
                }
                _ => None,
            })
        };
        let names: Vec<String> = values
            .schema
            .fields()
            .iter()
            .map(|f| target_of(f.name()).unwrap_or_else(|| f.name().clone()))
            .collect();
        let rows: Vec<Vec<Expr>> = values
            .values
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(i, e)| match e {
                        Expr::Cast(cast) if replaceable(&cast.data_type) && i < names.len() => {
                            changed = true;
                            named_cast(
                                cast.expr.as_ref().clone(),
                                &names[i],
                                table,
                                &cast.data_type,
                            )
                        }
                        other => other.clone(),
                    })
                    .collect()
            })
            .collect();
        source = Arc::new(LogicalPlan::Values(datafusion::logical_expr::Values {
            schema: values.schema.clone(),
            values: rows,
        }));
    }
    let exprs: Vec<Expr> = projection
        .expr
        .iter()
        .map(|e| match e {
            Expr::Alias(Alias {
                expr,
                relation,
                name,
                metadata,
            }) => match expr.as_ref() {
                Expr::Cast(cast) if replaceable(&cast.data_type) => {
                    changed = true;
                    Expr::Alias(Alias {
                        expr: Box::new(named_cast(
                            cast.expr.as_ref().clone(),
                            name,
                            table,
                            &cast.data_type,
                        )),
                        relation: relation.clone(),
                        name: name.clone(),
                        metadata: metadata.clone(),
                    })
                }
                _ => e.clone(),
            },
            other => other.clone(),
        })
        .collect();
    if !changed {
        return plan;
    }
    let Ok(input) = Projection::try_new(exprs, source) else {
        return plan;
    };
    let same = input.schema.fields().len() == projection.schema.fields().len()
        && input
            .schema
            .fields()
            .iter()
            .zip(projection.schema.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
    if !same {
        return plan;
    }
    LogicalPlan::Dml(DmlStatement::new(
        dml.table_name.clone(),
        dml.target.clone(),
        dml.op.clone(),
        Arc::new(LogicalPlan::Projection(input)),
    ))
}
