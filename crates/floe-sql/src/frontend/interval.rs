//! `n * INTERVAL '1 minute'`, `INTERVAL '1 day' * 1.5`, `INTERVAL '1 hour' / 4`: interval
//! arithmetic every PostgreSQL, DuckDB and Trino user writes, which DataFusion refuses
//! ("Invalid interval arithmetic operation"). Products and quotients with an interval
//! literal are rewritten to [`INTERVAL_MUL`], which scales an interval as PostgreSQL
//! does: whole months and days stay months and days, a fraction of a month carries into
//! days (30 per month) and a fraction of a day into time (24 hours per day).

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, IntervalMonthDayNanoArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, IntervalMonthDayNano, IntervalUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr as SqlExpr, Statement};

/// Name of the scaling function the rewrite calls for products.
pub const INTERVAL_MUL: &str = "floe_interval_mul";
/// Name of the scaling function the rewrite calls for quotients.
pub const INTERVAL_DIV: &str = "floe_interval_div";

/// Rewrites `x * <interval>`, `<interval> * x` and `<interval> / x`, where `<interval>`
/// is an interval literal (or such a product), to [`INTERVAL_MUL`] / [`INTERVAL_DIV`].
/// `x` is passed as written: the functions accept numbers only, so `timestamp * interval`
/// still fails planning as in DataFusion, and never scales by a timestamp's epoch value.
pub fn rewrite_interval_arithmetic(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::visit_expressions_mut;
    let _ = visit_expressions_mut(statement, |e| {
        if let SqlExpr::BinaryOp { left, op, right } = e {
            let call = match op {
                BinaryOperator::Multiply if is_interval(right) && !is_interval(left) => {
                    Some(format!("{INTERVAL_MUL}({right}, {left})"))
                }
                BinaryOperator::Multiply if is_interval(left) && !is_interval(right) => {
                    Some(format!("{INTERVAL_MUL}({left}, {right})"))
                }
                BinaryOperator::Divide if is_interval(left) && !is_interval(right) => {
                    Some(format!("{INTERVAL_DIV}({left}, {right})"))
                }
                _ => None,
            };
            if let Some(call) = call
                && let Ok(parsed) = parse_expr(&call)
            {
                *e = parsed;
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

fn parse_expr(sql: &str) -> std::result::Result<SqlExpr, impl std::fmt::Debug> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
}

/// An interval literal, possibly parenthesised, or an already rewritten product.
fn is_interval(e: &SqlExpr) -> bool {
    match e {
        SqlExpr::Interval(_) => true,
        SqlExpr::Nested(inner) => is_interval(inner),
        SqlExpr::Function(f) => {
            let name = f.name.to_string();
            name.eq_ignore_ascii_case(INTERVAL_MUL) || name.eq_ignore_ascii_case(INTERVAL_DIV)
        }
        _ => false,
    }
}

/// The scaling functions: by a factor, and by the inverse of a divisor.
pub fn interval_mul_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(IntervalMul {
        signature: Signature::user_defined(Volatility::Immutable),
        divide: false,
    })
}

/// See [`interval_mul_udf`].
pub fn interval_div_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(IntervalMul {
        signature: Signature::user_defined(Volatility::Immutable),
        divide: true,
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalMul {
    signature: Signature,
    divide: bool,
}

impl IntervalMul {
    fn operator(&self) -> &'static str {
        if self.divide { "/" } else { "*" }
    }
}

impl ScalarUDFImpl for IntervalMul {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        if self.divide {
            INTERVAL_DIV
        } else {
            INTERVAL_MUL
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// An interval and a number (or NULL); anything else is the error DataFusion gives
    /// for the arithmetic written.
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [interval, factor] = args else {
            return datafusion::common::plan_err!("{} takes an interval and a number", self.name());
        };
        let number = factor.is_numeric() || factor == &DataType::Null;
        if !matches!(interval, DataType::Interval(_)) || !number {
            let (left, right) = if self.divide {
                (interval, factor)
            } else {
                (factor, interval)
            };
            return datafusion::common::plan_err!(
                "Cannot coerce arithmetic expression {left} {} {right} to valid types",
                self.operator()
            );
        }
        Ok(vec![
            DataType::Interval(IntervalUnit::MonthDayNano),
            DataType::Float64,
        ])
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    /// Named as the product or quotient it stands for (`... * n`), not as a call.
    fn schema_name(&self, args: &[datafusion::logical_expr::Expr]) -> Result<String> {
        use datafusion::logical_expr::Expr;
        let [interval, factor] = args else {
            return Ok(self.name().to_string());
        };
        let factor = match factor {
            Expr::Cast(c) => c.expr.as_ref(),
            other => other,
        };
        Ok(format!(
            "{} {} {}",
            interval.schema_name(),
            self.operator(),
            factor.schema_name()
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [intervals, factors] = arrays.as_slice() else {
            return exec_err!("{INTERVAL_MUL} takes an interval and a number");
        };
        let intervals =
            intervals.as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>();
        let factors = factors.as_primitive::<Float64Type>();
        let mut out = Vec::with_capacity(intervals.len());
        for i in 0..intervals.len() {
            if intervals.is_null(i) || factors.is_null(i) {
                out.push(None);
                continue;
            }
            let factor = if self.divide {
                1.0 / factors.value(i)
            } else {
                factors.value(i)
            };
            match scale(intervals.value(i), factor) {
                Some(v) => out.push(Some(v)),
                None if !factor.is_finite() => {
                    return exec_err!("division of an interval by zero");
                }
                None => {
                    return exec_err!("interval out of range when multiplied by {factor}");
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(
            IntervalMonthDayNanoArray::from(out),
        )))
    }
}

/// `v * n` as PostgreSQL computes it; `None` when out of range or `n` is not finite.
fn scale(v: IntervalMonthDayNano, n: f64) -> Option<IntervalMonthDayNano> {
    if !n.is_finite() {
        return None;
    }
    // A whole factor is exact.
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        let k = n as i64;
        return Some(IntervalMonthDayNano::new(
            i32::try_from(i64::from(v.months).checked_mul(k)?).ok()?,
            i32::try_from(i64::from(v.days).checked_mul(k)?).ok()?,
            v.nanoseconds.checked_mul(k)?,
        ));
    }
    let months = f64::from(v.months) * n;
    let whole_months = months.trunc();
    let days = f64::from(v.days) * n + (months - whole_months) * 30.0;
    let whole_days = days.trunc();
    let nanos = (v.nanoseconds as f64 * n + (days - whole_days) * 86_400.0e9).round();
    let fits = |x: f64, lo: f64, hi: f64| x >= lo && x <= hi;
    if !fits(whole_months, i32::MIN as f64, i32::MAX as f64)
        || !fits(whole_days, i32::MIN as f64, i32::MAX as f64)
        || !fits(nanos, i64::MIN as f64, i64::MAX as f64)
    {
        return None;
    }
    Some(IntervalMonthDayNano::new(
        whole_months as i32,
        whole_days as i32,
        nanos as i64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    #[test]
    fn scaling_carries_fractions_down_as_postgresql_does() {
        let v = |m, d, ns| IntervalMonthDayNano::new(m, d, ns);
        assert_eq!(
            scale(v(0, 0, 60_000_000_000), 3.0),
            Some(v(0, 0, 180_000_000_000))
        );
        assert_eq!(scale(v(0, 0, HOUR), 2.5), Some(v(0, 0, 5 * HOUR / 2)));
        assert_eq!(scale(v(1, 0, 0), 1.5), Some(v(1, 15, 0)));
        assert_eq!(scale(v(0, 1, 0), 0.5), Some(v(0, 0, 12 * HOUR)));
        assert_eq!(scale(v(0, 1, 0), -2.0), Some(v(0, -2, 0)));
        assert_eq!(scale(v(i32::MAX, 0, 0), 2.0), None);
        assert_eq!(scale(v(0, 1, 0), f64::NAN), None);
    }

    #[test]
    fn products_with_interval_literals_are_rewritten() {
        let rewritten = |sql: &str| {
            let mut s = datafusion::sql::parser::DFParser::parse_sql(sql)
                .unwrap()
                .pop_front()
                .unwrap();
            if let datafusion::sql::parser::Statement::Statement(s) = &mut s {
                rewrite_interval_arithmetic(s);
            }
            s.to_string()
        };
        assert_eq!(
            rewritten("SELECT 3 * INTERVAL '1 minute'"),
            "SELECT floe_interval_mul(INTERVAL '1 minute', 3)"
        );
        assert_eq!(
            rewritten("SELECT (INTERVAL '1 day') / n FROM t"),
            "SELECT floe_interval_div((INTERVAL '1 day'), n) FROM t"
        );
        // Interval by interval, and numbers alone, are left to DataFusion.
        assert_eq!(rewritten("SELECT 2 * 3"), "SELECT 2 * 3");
    }
}
