//! Result formatting in DataFusion's sqllogictest convention, so suites written for
//! DataFusion run unchanged: type letters `I` integer, `R` float/decimal, `T` text,
//! `B` boolean, `D` date/time, `P` timestamp, `?` other; `NULL`; `(empty)` for empty
//! strings; floats and decimals rounded to 12 places without trailing zeros; a newline
//! in the last column continues on numbered lines (EXPLAIN output).

use std::str::FromStr;

use bigdecimal::BigDecimal;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Decimal256Type, DecimalType, Fields};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::ColumnType;

/// The text for NULL.
pub const NULL_STR: &str = "NULL";

/// Column type letters (DataFusion's set).
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum ColType {
    /// `B`
    Boolean,
    /// `D`
    DateTime,
    /// `I`
    Integer,
    /// `R`
    Float,
    /// `T`
    Text,
    /// `P`
    Timestamp,
    /// `?`
    Another,
}

impl ColumnType for ColType {
    fn from_char(value: char) -> Option<Self> {
        Some(match value {
            'B' => Self::Boolean,
            'D' => Self::DateTime,
            'I' => Self::Integer,
            'P' => Self::Timestamp,
            'R' => Self::Float,
            'T' => Self::Text,
            _ => Self::Another,
        })
    }

    fn to_char(&self) -> char {
        match self {
            Self::Boolean => 'B',
            Self::DateTime => 'D',
            Self::Integer => 'I',
            Self::Timestamp => 'P',
            Self::Float => 'R',
            Self::Text => 'T',
            Self::Another => '?',
        }
    }
}

/// Type letters for a result schema.
pub fn column_types(fields: &Fields) -> Vec<ColType> {
    fields
        .iter()
        .map(|f| match f.data_type() {
            DataType::Boolean => ColType::Boolean,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => ColType::Integer,
            DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(_, _)
            | DataType::Decimal256(_, _) => ColType::Float,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColType::Text,
            DataType::Date32 | DataType::Date64 | DataType::Time32(_) | DataType::Time64(_) => {
                ColType::DateTime
            }
            DataType::Timestamp(_, _) => ColType::Timestamp,
            DataType::Dictionary(k, v) if k.is_integer() => match v.as_ref() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColType::Text,
                _ => ColType::Another,
            },
            _ => ColType::Another,
        })
        .collect()
}

fn big_decimal_to_str(value: BigDecimal) -> String {
    value.round(12).normalized().to_plain_string()
}

fn float_to_str(text: String, nan: bool, inf: Option<bool>) -> String {
    if nan {
        return "NaN".into();
    }
    match inf {
        Some(true) => "Infinity".into(),
        Some(false) => "-Infinity".into(),
        None => BigDecimal::from_str(&text)
            .map(big_decimal_to_str)
            .unwrap_or(text),
    }
}

fn varchar_to_str(value: &str) -> String {
    if value.is_empty() {
        "(empty)".to_string()
    } else {
        value.trim_end_matches('\n').replace('\u{0000}', "\\0")
    }
}

/// DataFusion's display options (as its own runner uses them: durations as
/// `1 days 2 hours ...`, not ISO 8601), with `NULL` for nulls.
static FORMAT_OPTIONS: std::sync::LazyLock<FormatOptions<'static>> =
    std::sync::LazyLock::new(|| {
        let options: &'static datafusion::config::FormatOptions =
            Box::leak(Box::new(datafusion::config::FormatOptions {
                null: NULL_STR.to_string(),
                ..Default::default()
            }));
        options.try_into().unwrap_or_else(|_| {
            FormatOptions::default()
                .with_null(NULL_STR)
                .with_duration_format(datafusion::arrow::util::display::DurationFormat::Pretty)
        })
    });

/// One cell as text.
pub fn cell_to_string(
    col: &ArrayRef,
    row: usize,
) -> Result<String, datafusion::arrow::error::ArrowError> {
    if col.is_null(row) {
        return Ok(NULL_STR.to_string());
    }
    Ok(match col.data_type() {
        DataType::Null => NULL_STR.to_string(),
        DataType::Boolean => col.as_boolean().value(row).to_string(),
        DataType::Float16 => {
            let v = col
                .as_primitive::<datafusion::arrow::datatypes::Float16Type>()
                .value(row);
            float_to_str(
                v.to_string(),
                v.is_nan(),
                v.is_infinite().then_some(v.is_sign_positive()),
            )
        }
        DataType::Float32 => {
            let v = col
                .as_primitive::<datafusion::arrow::datatypes::Float32Type>()
                .value(row);
            float_to_str(
                v.to_string(),
                v.is_nan(),
                v.is_infinite().then_some(v > 0.0),
            )
        }
        DataType::Float64 => {
            let v = col
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .value(row);
            float_to_str(
                v.to_string(),
                v.is_nan(),
                v.is_infinite().then_some(v > 0.0),
            )
        }
        DataType::Decimal128(_, scale) => {
            let v = col.as_primitive::<Decimal128Type>().value(row);
            let text = Decimal128Type::format_decimal(v, u8::MAX, *scale);
            BigDecimal::from_str(&text)
                .map(big_decimal_to_str)
                .unwrap_or(text)
        }
        DataType::Decimal256(_, scale) => {
            let v = col.as_primitive::<Decimal256Type>().value(row);
            let text = Decimal256Type::format_decimal(v, u8::MAX, *scale);
            BigDecimal::from_str(&text)
                .map(big_decimal_to_str)
                .unwrap_or(text)
        }
        DataType::Utf8 => varchar_to_str(col.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => varchar_to_str(col.as_string::<i64>().value(row)),
        DataType::Utf8View => varchar_to_str(col.as_string_view().value(row)),
        DataType::Dictionary(_, _) => {
            let dict = col.as_any_dictionary();
            let key = dict.normalized_keys()[row];
            return cell_to_string(dict.values(), key);
        }
        _ => {
            let f = ArrayFormatter::try_new(col.as_ref(), &FORMAT_OPTIONS)?;
            f.value(row).to_string()
        }
    })
}

fn expand_row(mut row: Vec<String>) -> Vec<Vec<String>> {
    let Some(cell) = row.pop() else {
        return vec![row];
    };
    let lines: Vec<&str> = cell.split('\n').collect();
    if lines.len() < 2 {
        row.push(cell);
        return vec![row];
    }
    let mut out = vec![row];
    for (idx, l) in lines.into_iter().enumerate() {
        let content = l.trim_start();
        let prefix = "-".repeat(l.len() - content.len());
        out.push(vec![format!("{:02}){prefix}{content}", idx + 1)]);
    }
    out
}

/// Every row of `batches` as text cells.
pub fn convert_batches(
    batches: &[RecordBatch],
) -> Result<Vec<Vec<String>>, datafusion::arrow::error::ArrowError> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .map(|c| cell_to_string(c, row))
                .collect::<Result<Vec<_>, _>>()?;
            rows.extend(expand_row(cells));
        }
    }
    Ok(rows)
}
