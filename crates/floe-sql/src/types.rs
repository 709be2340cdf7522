//! Type mapping between SQL, Arrow and Iceberg.
//!
//! * [`sql_type_to_iceberg`] and [`schema_from_column_defs`] turn the column types written in
//!   `CREATE TABLE` / `ALTER TABLE ... ADD COLUMN` (as parsed by sqlparser) into Iceberg types and
//!   schemas. Common spellings from DuckDB, Spark, Trino and PostgreSQL are accepted.
//! * [`arrow_schema_to_iceberg`] and [`arrow_type_to_iceberg`] turn the Arrow schema of a query
//!   result (`CREATE TABLE ... AS SELECT`) into an Iceberg schema. Arrow types Iceberg cannot hold
//!   are widened when no value is lost (`UInt64` becomes `decimal(20,0)`, `Utf8View` becomes
//!   `string`, ...). The one deliberate exception is nanoseconds: Iceberg v2 stores times and
//!   timestamps in microseconds, so `Timestamp(ns, _)` and `Time64(ns)` map to `timestamp` /
//!   `timestamptz` / `time` and values are truncated to microseconds when written, as Spark and
//!   Trino do.
//! * [`iceberg_type_to_sql`] spells an Iceberg type for `DESCRIBE`-like output and error messages.
//!
//! Field ids follow Iceberg's own convention for fresh schemas: top-level columns get `1..=n`;
//! nested fields get ids after that. Inside a type, a struct's own fields get consecutive ids
//! first, and then the nested types of those fields get theirs, field by field in declaration
//! order. A list takes one id for its element, and a map takes two (key, then value), before the
//! element, key or value type is numbered. For example, `s STRUCT<a INT, b ARRAY<INT>>` as the
//! only column gives `s = 1`, `a = 2`, `b = 3`, `b.element = 4`.
//!
//! Required and optional fields: a column is required only when it is declared `NOT NULL` or
//! `PRIMARY KEY`, or, for Arrow input, when its field is not nullable. SQL nested fields (struct
//! fields, list elements and map values) are always optional. Map keys are always required, as
//! Iceberg demands.
//!
//! Every error is a [`DataFusionError::Plan`] whose message is one line naming the column and
//! the type. A nested field is named by its path: `s.a`, `tags.element`, `m.key` or `m.value`.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Fields, Schema as ArrowSchema};
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use iceberg::spec::{
    ListType, MapType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Type,
};

/// Largest decimal precision Iceberg supports.
const MAX_DECIMAL_PRECISION: u64 = 38;

/// Finest sub-second precision (in decimal digits) Iceberg v2 keeps for `time` and `timestamp`.
const MAX_SUBSECOND_DIGITS: u64 = 6;

// ------------------------------------------------------------------------------------------------
// SQL -> Iceberg
// ------------------------------------------------------------------------------------------------

/// SQL column type (as written in `CREATE TABLE` / `ALTER TABLE ADD COLUMN`) -> Iceberg type.
///
/// Nested fields (struct fields, list element, map key and value) get their ids from
/// `next_id`. It is the next free id and is incremented for every nested field created; the
/// numbering order is described in the [module docs](self). A primitive type leaves `next_id`
/// unchanged.
///
/// Accepted spellings:
///
/// | SQL | Iceberg |
/// |---|---|
/// | `BOOLEAN`, `BOOL` | `boolean` |
/// | `TINYINT`, `SMALLINT`, `INT2`, `INT`, `INTEGER`, `INT4`, `MEDIUMINT`, `BYTE`, `SHORT` (also `UTINYINT`, `USMALLINT`) | `int` |
/// | `BIGINT`, `INT8`, `LONG`, `INT64` (also `INT UNSIGNED`, `UINTEGER`) | `long` |
/// | `REAL`, `FLOAT4`, `FLOAT`, `FLOAT(p)` with `p <= 24` | `float` |
/// | `DOUBLE`, `DOUBLE PRECISION`, `FLOAT8`, `FLOAT(p)` with `25 <= p <= 53` | `double` |
/// | `DECIMAL`/`NUMERIC`/`DEC` `[(p[, s])]` | `decimal(p, s)`; `(38, 0)` when omitted, scale 0 when only `p` is given |
/// | `DATE` | `date` |
/// | `TIME`, `TIME(p)` with `p <= 6` | `time` |
/// | `TIMESTAMP[(p)]`, `TIMESTAMP WITHOUT TIME ZONE`, `DATETIME`, `TIMESTAMP_NTZ` | `timestamp` |
/// | `TIMESTAMPTZ`, `TIMESTAMP WITH TIME ZONE`, `TIMESTAMP_LTZ` | `timestamptz` |
/// | `VARCHAR(n)`, `CHAR(n)`, `TEXT`, `STRING`, `CHARACTER VARYING`, `CLOB`, ... | `string` (the length is not kept) |
/// | `UUID` | `uuid` |
/// | `BINARY(n)`, `FIXED(n)` | `fixed(n)` |
/// | `BINARY`, `VARBINARY`, `BLOB`, `BYTEA`, `BYTES` | `binary` |
/// | `STRUCT<a INT, ...>`, `STRUCT(a INT, ...)`, `ROW(a INT, ...)` | struct; its fields are optional |
/// | `ARRAY<T>`, `T[]`, `LIST(T)` | list; its element is optional |
/// | `MAP(K, V)` | map; the key is required and the value is optional |
///
/// Which spellings parse depends on the sqlparser dialect. With `GenericDialect`, `STRUCT<...>`,
/// `ARRAY<T>`, `T[]` and `MAP(K, V)` parse, but `STRUCT(...)` does not: it parses with
/// `DuckDbDialect`, and in dialects other than Generic and BigQuery it arrives as a custom type.
/// `ROW(...)`, `LIST(T)` (and DuckDB's `MAP(K, V)`) reach this function as `DataType::Custom`.
/// Their modifiers are flat words with the commas dropped, and they are parsed again here. So
/// their field and element types must be single words or keyword sequences (`INT`,
/// `DOUBLE PRECISION`, `TIMESTAMP WITH TIME ZONE`). `ROW(a DECIMAL(10,2))` and `ROW(a ROW(...))`
/// do not parse at all. `MAP<K, V>` and `LIST<T>` do not parse in any sqlparser 0.61 dialect.
///
/// Any other type is rejected with a plan error naming the column and the SQL type.
pub fn sql_type_to_iceberg(column: &str, ty: &ast::DataType, next_id: &mut i32) -> Result<Type> {
    sql_to_type(column, ty, next_id)
}

/// Builds an Iceberg schema from `CREATE TABLE` column definitions.
///
/// Top-level columns get ids `1..=n` in order, and nested fields get ids after all the
/// top-level ones. A column is required when it has a `NOT NULL` or `PRIMARY KEY` column
/// option. Table-level constraints such as `PRIMARY KEY (a, b)` are not seen here, so the
/// caller must handle them. Column names are `ColumnDef.name.value` as given, so callers should
/// normalise identifiers first. Names are compared exactly, and a repeated name is an error
/// (`column 'x' is specified more than once`).
///
/// Also returns each column's `DEFAULT` expression, if it has one, as `(column name, expr)`
/// pairs in column order. A column with more than one `DEFAULT` is an error. Other column
/// options (`UNIQUE`, `CHECK`, `GENERATED`, `COMMENT`, ...) are ignored here.
pub fn schema_from_column_defs(
    columns: &[ast::ColumnDef],
) -> Result<(Schema, Vec<(String, ast::Expr)>)> {
    if let Some(name) = first_duplicate(columns.iter().map(|c| c.name.value.as_str())) {
        return plan(format!("column '{name}' is specified more than once"));
    }

    let mut next_id = first_nested_id(columns.len())?;
    let mut fields: Vec<NestedFieldRef> = Vec::with_capacity(columns.len());
    let mut defaults = Vec::new();
    for (id, column) in (1..).zip(columns) {
        let name = column.name.value.as_str();
        let field_type = sql_to_type(name, &column.data_type, &mut next_id)?;
        let mut required = false;
        let mut has_default = false;
        for option in &column.options {
            match &option.option {
                ast::ColumnOption::NotNull | ast::ColumnOption::PrimaryKey(_) => required = true,
                ast::ColumnOption::Default(expr) => {
                    if has_default {
                        return plan(format!("column '{name}' has more than one DEFAULT"));
                    }
                    has_default = true;
                    defaults.push((name.to_string(), expr.clone()));
                }
                _ => {}
            }
        }
        fields.push(Arc::new(NestedField::new(id, name, field_type, required)));
    }
    Ok((build_schema(fields)?, defaults))
}

fn sql_to_type(path: &str, ty: &ast::DataType, next_id: &mut i32) -> Result<Type> {
    use PrimitiveType as P;
    use ast::DataType as D;

    match ty {
        D::Boolean | D::Bool => prim(P::Boolean),

        // Integers of at most 32 bits, including unsigned ones of at most 24 bits.
        D::TinyInt(_)
        | D::TinyIntUnsigned(_)
        | D::UTinyInt
        | D::Int2(_)
        | D::Int2Unsigned(_)
        | D::SmallInt(_)
        | D::SmallIntUnsigned(_)
        | D::USmallInt
        | D::MediumInt(_)
        | D::MediumIntUnsigned(_)
        | D::Int(_)
        | D::Int4(_)
        | D::Integer(_)
        | D::Int16
        | D::Int32
        | D::UInt8
        | D::UInt16 => prim(P::Int),

        // 64-bit integers, and unsigned 32-bit ones, which only fit in 64 bits.
        D::BigInt(_)
        | D::Int8(_)
        | D::Int64
        | D::IntUnsigned(_)
        | D::Int4Unsigned(_)
        | D::IntegerUnsigned(_)
        | D::UInt32 => prim(P::Long),

        D::BigIntUnsigned(_) | D::Int8Unsigned(_) | D::UBigInt | D::UInt64 => {
            cannot_store(path, ty, "use DECIMAL(20,0), or BIGINT if the values fit")
        }
        D::HugeInt | D::UHugeInt | D::Int128 | D::Int256 | D::UInt128 | D::UInt256 => {
            cannot_store(path, ty, "use DECIMAL(38,0) if the values fit")
        }

        D::Real | D::RealUnsigned | D::Float4 | D::Float32 => prim(P::Float),
        D::Float(info) | D::FloatUnsigned(info) => sql_float(path, ty, info),
        D::Double(_)
        | D::DoubleUnsigned(_)
        | D::DoublePrecision
        | D::DoublePrecisionUnsigned
        | D::Float8
        | D::Float64 => prim(P::Double),

        D::Decimal(info)
        | D::DecimalUnsigned(info)
        | D::Numeric(info)
        | D::Dec(info)
        | D::DecUnsigned(info) => sql_decimal(path, ty, info),
        D::BigNumeric(info) | D::BigDecimal(info) => match info {
            ast::ExactNumberInfo::None => cannot_store(
                path,
                ty,
                "give a precision of at most 38, e.g. DECIMAL(38,9)",
            ),
            _ => sql_decimal(path, ty, info),
        },

        D::Date | D::Date32 => prim(P::Date),
        D::Time(precision, tz) => match tz {
            ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone => {
                check_subsecond_precision(path, ty, *precision)?;
                prim(P::Time)
            }
            ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => cannot_store(
                path,
                ty,
                "Iceberg has no time-with-time-zone type; use TIME or TIMESTAMPTZ",
            ),
        },
        D::Timestamp(precision, tz) => {
            check_subsecond_precision(path, ty, *precision)?;
            match tz {
                ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone => prim(P::Timestamp),
                ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => prim(P::Timestamptz),
            }
        }
        D::TimestampNtz(precision) | D::Datetime(precision) => {
            check_subsecond_precision(path, ty, *precision)?;
            prim(P::Timestamp)
        }
        D::Datetime64(precision, tz) => {
            check_subsecond_precision(path, ty, Some(*precision))?;
            if tz.is_some() {
                prim(P::Timestamptz)
            } else {
                prim(P::Timestamp)
            }
        }

        D::Character(_)
        | D::Char(_)
        | D::CharacterVarying(_)
        | D::CharVarying(_)
        | D::Varchar(_)
        | D::Nvarchar(_)
        | D::CharacterLargeObject(_)
        | D::CharLargeObject(_)
        | D::Clob(_)
        | D::Text
        | D::TinyText
        | D::MediumText
        | D::LongText
        | D::String(_) => prim(P::String),

        D::Uuid => prim(P::Uuid),

        D::Binary(Some(length)) | D::FixedString(length) => sql_fixed(path, ty, *length),
        D::Binary(None)
        | D::Varbinary(_)
        | D::Blob(_)
        | D::TinyBlob
        | D::MediumBlob
        | D::LongBlob
        | D::Bytea
        | D::Bytes(_) => prim(P::Binary),

        D::Array(element) => match element {
            ast::ArrayElemTypeDef::AngleBracket(inner)
            | ast::ArrayElemTypeDef::Parenthesis(inner)
            | ast::ArrayElemTypeDef::SquareBracket(inner, _) => sql_list(path, inner, next_id),
            ast::ArrayElemTypeDef::None => {
                cannot_store(path, ty, "give the element type, e.g. ARRAY<INT>")
            }
        },
        D::Map(key, value) => sql_map(path, key, value, next_id),
        D::Struct(fields, _) | D::Tuple(fields) => {
            let fields: Vec<(Option<&str>, &ast::DataType)> = fields
                .iter()
                .map(|f| {
                    (
                        f.field_name.as_ref().map(|n| n.value.as_str()),
                        &f.field_type,
                    )
                })
                .collect();
            sql_struct(path, ty, &fields, next_id)
        }

        // ClickHouse wrappers that do not change the stored values.
        D::Nullable(inner) | D::LowCardinality(inner) => sql_to_type(path, inner, next_id),

        D::Custom(name, modifiers) => sql_custom(path, ty, name, modifiers, next_id),

        D::Unspecified => plan(format!("column '{path}' has no type")),
        D::JSON | D::JSONB => cannot_store(path, ty, "store it as VARCHAR"),
        D::Interval { .. } => cannot_store(
            path,
            ty,
            "store it as VARCHAR, or as a BIGINT count of a fixed unit",
        ),
        _ => cannot_store(path, ty, ""),
    }
}

/// `FLOAT`, `FLOAT(p)` (binary digits, as in PostgreSQL) and MySQL's `FLOAT(m, d)`.
fn sql_float(path: &str, ty: &ast::DataType, info: &ast::ExactNumberInfo) -> Result<Type> {
    match info {
        ast::ExactNumberInfo::None | ast::ExactNumberInfo::PrecisionAndScale(_, _) => {
            prim(PrimitiveType::Float)
        }
        ast::ExactNumberInfo::Precision(p) => match *p {
            1..=24 => prim(PrimitiveType::Float),
            25..=53 => prim(PrimitiveType::Double),
            _ => cannot_store(path, ty, "FLOAT precision must be between 1 and 53"),
        },
    }
}

fn sql_decimal(path: &str, ty: &ast::DataType, info: &ast::ExactNumberInfo) -> Result<Type> {
    let (precision, scale) = match *info {
        ast::ExactNumberInfo::None => (MAX_DECIMAL_PRECISION, 0),
        ast::ExactNumberInfo::Precision(p) => (p, 0),
        ast::ExactNumberInfo::PrecisionAndScale(p, s) => (p, s),
    };
    decimal(path, ty, precision, scale)
}

/// Checks precision and scale and builds `decimal(precision, scale)`.
fn decimal(path: &str, ty: &dyn fmt::Display, precision: u64, scale: i64) -> Result<Type> {
    if !(1..=MAX_DECIMAL_PRECISION).contains(&precision) {
        return cannot_store(
            path,
            ty,
            &format!("decimal precision must be between 1 and {MAX_DECIMAL_PRECISION}"),
        );
    }
    let Some(scale) = u64::try_from(scale).ok().filter(|s| *s <= precision) else {
        return cannot_store(
            path,
            ty,
            &format!("decimal scale must be between 0 and the precision ({precision})"),
        );
    };
    // Both are at most 38 here.
    Ok(Type::Primitive(PrimitiveType::Decimal {
        precision: precision as u32,
        scale: scale as u32,
    }))
}

fn sql_fixed(path: &str, ty: &ast::DataType, length: u64) -> Result<Type> {
    if length == 0 {
        return cannot_store(
            path,
            ty,
            "a fixed-length binary type needs a length of at least 1",
        );
    }
    prim(PrimitiveType::Fixed(length))
}

/// `TIME(p)` / `TIMESTAMP(p)`: Iceberg v2 keeps microseconds, so at most 6 digits.
fn check_subsecond_precision(path: &str, ty: &ast::DataType, precision: Option<u64>) -> Result<()> {
    if precision.is_some_and(|p| p > MAX_SUBSECOND_DIGITS) {
        return cannot_store(
            path,
            ty,
            "Iceberg keeps times and timestamps to the microsecond; use a precision of at most 6",
        );
    }
    Ok(())
}

fn sql_list(path: &str, element: &ast::DataType, next_id: &mut i32) -> Result<Type> {
    let element_id = take_id(next_id);
    let element_type = sql_to_type(&format!("{path}.element"), element, next_id)?;
    Ok(Type::List(ListType::new(Arc::new(
        NestedField::list_element(element_id, element_type, false),
    ))))
}

fn sql_map(
    path: &str,
    key: &ast::DataType,
    value: &ast::DataType,
    next_id: &mut i32,
) -> Result<Type> {
    let key_id = take_id(next_id);
    let value_id = take_id(next_id);
    let key_type = sql_to_type(&format!("{path}.key"), key, next_id)?;
    let value_type = sql_to_type(&format!("{path}.value"), value, next_id)?;
    Ok(Type::Map(MapType::new(
        Arc::new(NestedField::map_key_element(key_id, key_type)),
        Arc::new(NestedField::map_value_element(value_id, value_type, false)),
    )))
}

fn sql_struct(
    path: &str,
    ty: &ast::DataType,
    fields: &[(Option<&str>, &ast::DataType)],
    next_id: &mut i32,
) -> Result<Type> {
    if fields.is_empty() {
        return cannot_store(path, ty, "a STRUCT needs at least one field");
    }
    let mut named: Vec<(&str, &ast::DataType)> = Vec::with_capacity(fields.len());
    for &(name, field_type) in fields {
        let Some(name) = name else {
            return plan(format!(
                "column '{path}' has type {ty}, which has a STRUCT field without a name; name every field, e.g. STRUCT<a INT>"
            ));
        };
        named.push((name, field_type));
    }
    if let Some(name) = first_duplicate(named.iter().map(|(name, _)| *name)) {
        return duplicate_field(path, name);
    }

    let ids: Vec<i32> = named.iter().map(|_| take_id(next_id)).collect();
    let mut out: Vec<NestedFieldRef> = Vec::with_capacity(named.len());
    for ((name, field_type), id) in named.into_iter().zip(ids) {
        let field_type = sql_to_type(&format!("{path}.{name}"), field_type, next_id)?;
        out.push(Arc::new(NestedField::optional(id, name, field_type)));
    }
    Ok(Type::Struct(StructType::new(out)))
}

/// Type names sqlparser does not know (or knows only in other dialects), and quoted type names.
fn sql_custom(
    path: &str,
    ty: &ast::DataType,
    name: &ast::ObjectName,
    modifiers: &[String],
    next_id: &mut i32,
) -> Result<Type> {
    use PrimitiveType as P;

    let upper = match name.0.as_slice() {
        [part] => match part.as_ident() {
            Some(ident) => ident.value.to_ascii_uppercase(),
            None => return cannot_store(path, ty, ""),
        },
        _ => return cannot_store(path, ty, ""),
    };
    let bare = modifiers.is_empty();
    match upper.as_str() {
        "BOOL" | "BOOLEAN" if bare => prim(P::Boolean),
        "BYTE" | "SHORT" | "TINYINT" | "SMALLINT" | "INT2" | "MEDIUMINT" | "INT" | "INT4"
        | "INTEGER"
            if bare =>
        {
            prim(P::Int)
        }
        "LONG" | "BIGINT" | "INT8" | "INT64" | "UINTEGER" if bare => prim(P::Long),
        "FLOAT" | "FLOAT4" | "FLOAT32" | "REAL" if bare => prim(P::Float),
        "DOUBLE" | "FLOAT8" | "FLOAT64" if bare => prim(P::Double),
        "DECIMAL" | "NUMERIC" => {
            let numbers: Option<Vec<u64>> =
                modifiers.iter().map(|m| m.parse::<u64>().ok()).collect();
            match numbers.as_deref() {
                Some([]) => decimal(path, ty, MAX_DECIMAL_PRECISION, 0),
                Some([p]) => decimal(path, ty, *p, 0),
                Some([p, s]) => decimal(path, ty, *p, i64::try_from(*s).unwrap_or(i64::MAX)),
                _ => cannot_store(path, ty, ""),
            }
        }
        "DATE" if bare => prim(P::Date),
        "TIME" if bare => prim(P::Time),
        "TIMESTAMP" | "TIMESTAMP_NTZ" | "TIMESTAMPNTZ" | "DATETIME" | "TIMESTAMP_S"
        | "TIMESTAMP_MS" | "TIMESTAMP_US"
            if bare =>
        {
            prim(P::Timestamp)
        }
        "TIMESTAMPTZ" | "TIMESTAMP_LTZ" | "TIMESTAMPLTZ" | "TIMESTAMP_TZ" if bare => {
            prim(P::Timestamptz)
        }
        // Lengths of character types are not kept: Iceberg strings are unbounded.
        "STRING" | "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER" | "NVARCHAR" | "BPCHAR" | "CLOB" => {
            prim(P::String)
        }
        "UUID" if bare => prim(P::Uuid),
        "BYTES" | "VARBINARY" | "BLOB" | "BYTEA" => prim(P::Binary),
        "BINARY" if bare => prim(P::Binary),
        "FIXED" | "BINARY" => match modifiers {
            [length] => match length.parse::<u64>() {
                Ok(length) => sql_fixed(path, ty, length),
                Err(_) => cannot_store(path, ty, ""),
            },
            _ => cannot_store(path, ty, "give one length, e.g. FIXED(16)"),
        },
        "ARRAY" | "LIST" if !bare => {
            let dialect = GenericDialect {};
            let mut parser = reparse(&dialect, path, ty, modifiers)?;
            let element = parser
                .parse_data_type()
                .map_err(|e| bad_custom(path, ty, &e))?;
            expect_end(&parser, path, ty)?;
            sql_list(path, &element, next_id)
        }
        "MAP" if !bare => {
            let dialect = GenericDialect {};
            let mut parser = reparse(&dialect, path, ty, modifiers)?;
            let key = parser
                .parse_data_type()
                .map_err(|e| bad_custom(path, ty, &e))?;
            let value = parser
                .parse_data_type()
                .map_err(|e| bad_custom(path, ty, &e))?;
            expect_end(&parser, path, ty)?;
            sql_map(path, &key, &value, next_id)
        }
        "ROW" | "STRUCT" if !bare => {
            // The commas are gone: the modifiers are `name type name type ...`.
            let dialect = GenericDialect {};
            let mut parser = reparse(&dialect, path, ty, modifiers)?;
            let mut parsed: Vec<(String, ast::DataType)> = Vec::new();
            while parser.peek_token().token != Token::EOF {
                let field_name = parser
                    .parse_identifier()
                    .map_err(|e| bad_custom(path, ty, &e))?;
                let field_type = parser
                    .parse_data_type()
                    .map_err(|e| bad_custom(path, ty, &e))?;
                parsed.push((field_name.value, field_type));
            }
            let fields: Vec<(Option<&str>, &ast::DataType)> =
                parsed.iter().map(|(n, t)| (Some(n.as_str()), t)).collect();
            sql_struct(path, ty, &fields, next_id)
        }
        _ => cannot_store(path, ty, ""),
    }
}

/// A parser over the flattened modifiers of a custom type, e.g. `INT VARCHAR` for `MAP(INT, VARCHAR)`.
fn reparse<'d>(
    dialect: &'d GenericDialect,
    path: &str,
    ty: &ast::DataType,
    modifiers: &[String],
) -> Result<Parser<'d>> {
    Parser::new(dialect)
        .try_with_sql(&modifiers.join(" "))
        .map_err(|e| bad_custom(path, ty, &e))
}

fn expect_end(parser: &Parser<'_>, path: &str, ty: &ast::DataType) -> Result<()> {
    let next = parser.peek_token();
    if next.token == Token::EOF {
        Ok(())
    } else {
        plan(format!(
            "column '{path}' has type {ty}, which floe cannot read: unexpected '{}'",
            next.token
        ))
    }
}

fn bad_custom(path: &str, ty: &ast::DataType, e: &ParserError) -> DataFusionError {
    DataFusionError::Plan(format!(
        "column '{path}' has type {ty}, which floe cannot read: {e}"
    ))
}

// ------------------------------------------------------------------------------------------------
// Arrow -> Iceberg
// ------------------------------------------------------------------------------------------------

/// Arrow schema of a query result (e.g. for `CREATE TABLE AS SELECT`) -> Iceberg schema with
/// fresh ids: top level `1..=n`, nested after. Field-id metadata on the Arrow fields is ignored.
///
/// Arrow types Iceberg cannot hold are widened when no value is lost. `Int8`, `Int16`, `UInt8`
/// and `UInt16` become `int`, `UInt32` becomes `long`, `UInt64` becomes `decimal(20,0)`,
/// `Float16` becomes `float`, `Utf8View` and `LargeUtf8` become `string`, the binary types become
/// `binary`, `Date64` becomes `timestamp` (milliseconds fit in microseconds), and `Time32` becomes
/// `time`. A decimal with a negative scale, `Decimal(p, -k)`, becomes `decimal(p + k, 0)`.
/// Dictionary and run-end encoded types map like their value type, and all list types map to
/// `list`. Nanosecond times and timestamps map to `time` / `timestamp` / `timestamptz` and are
/// truncated to microseconds when written. A `Timestamp` with any time zone becomes `timestamptz`,
/// because the instant is stored in UTC.
///
/// `Null`, `Interval`, `Duration`, `Union` and decimals wider than 38 digits are rejected with a
/// plan error naming the column and the type. A non-nullable Arrow field becomes a required
/// Iceberg field. Repeated top-level names are rejected (`column 'x' is specified more than once`).
pub fn arrow_schema_to_iceberg(schema: &ArrowSchema) -> Result<Schema> {
    let arrow_fields = schema.fields();
    if let Some(name) = first_duplicate(arrow_fields.iter().map(|f| f.name().as_str())) {
        return plan(format!("column '{name}' is specified more than once"));
    }

    let mut next_id = first_nested_id(arrow_fields.len())?;
    let mut fields: Vec<NestedFieldRef> = Vec::with_capacity(arrow_fields.len());
    for (id, field) in (1..).zip(arrow_fields.iter()) {
        let name = field.name().as_str();
        let field_type = arrow_to_type(name, field.data_type(), &mut next_id)?;
        fields.push(Arc::new(NestedField::new(
            id,
            name,
            field_type,
            !field.is_nullable(),
        )));
    }
    build_schema(fields)
}

/// Like [`arrow_schema_to_iceberg`], for one type. Used for `ALTER TABLE ADD COLUMN` from Arrow
/// and for CTAS. `next_id` is the next free id for nested fields, as in [`sql_type_to_iceberg`].
pub fn arrow_type_to_iceberg(column: &str, ty: &DataType, next_id: &mut i32) -> Result<Type> {
    arrow_to_type(column, ty, next_id)
}

fn arrow_to_type(path: &str, ty: &DataType, next_id: &mut i32) -> Result<Type> {
    use PrimitiveType as P;

    match ty {
        DataType::Null => plan(format!(
            "column '{path}' has type NULL; give it a type with CAST"
        )),
        DataType::Boolean => prim(P::Boolean),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
            prim(P::Int)
        }
        DataType::Int64 | DataType::UInt32 => prim(P::Long),
        DataType::UInt64 => decimal(path, ty, 20, 0),
        DataType::Float16 | DataType::Float32 => prim(P::Float),
        DataType::Float64 => prim(P::Double),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => arrow_decimal(path, ty, *p, *s),
        DataType::Date32 => prim(P::Date),
        // Milliseconds since the epoch: lossless as a microsecond timestamp.
        DataType::Date64 => prim(P::Timestamp),
        // Time64(ns) is truncated to microseconds, like Timestamp(ns): DataFusion's SQL `TIME`
        // is Time64(ns), so rejecting it would make TIME columns impossible in CTAS.
        DataType::Time32(_) | DataType::Time64(_) => prim(P::Time),
        DataType::Timestamp(_, None) => prim(P::Timestamp),
        DataType::Timestamp(_, Some(_)) => prim(P::Timestamptz),
        DataType::Duration(_) => cannot_store(path, ty, "cast it to BIGINT"),
        DataType::Interval(_) => cannot_store(path, ty, "cast it to VARCHAR"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => prim(P::String),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => prim(P::Binary),
        DataType::FixedSizeBinary(length) => match u64::try_from(*length) {
            Ok(length) if length > 0 => prim(P::Fixed(length)),
            _ => cannot_store(path, ty, ""),
        },
        DataType::List(element)
        | DataType::LargeList(element)
        | DataType::ListView(element)
        | DataType::LargeListView(element)
        | DataType::FixedSizeList(element, _) => {
            let element_id = take_id(next_id);
            let element_type =
                arrow_to_type(&format!("{path}.element"), element.data_type(), next_id)?;
            Ok(Type::List(ListType::new(Arc::new(
                NestedField::list_element(element_id, element_type, !element.is_nullable()),
            ))))
        }
        DataType::Struct(fields) => arrow_struct(path, ty, fields, next_id),
        DataType::Map(entries, _) => {
            let DataType::Struct(key_value) = entries.data_type() else {
                return plan(format!("column '{path}' has a malformed Map type {ty}"));
            };
            if key_value.len() != 2 {
                return plan(format!("column '{path}' has a malformed Map type {ty}"));
            }
            let (key, value) = (&key_value[0], &key_value[1]);
            let key_id = take_id(next_id);
            let value_id = take_id(next_id);
            let key_type = arrow_to_type(&format!("{path}.key"), key.data_type(), next_id)?;
            let value_type = arrow_to_type(&format!("{path}.value"), value.data_type(), next_id)?;
            Ok(Type::Map(MapType::new(
                // Iceberg map keys are always required.
                Arc::new(NestedField::map_key_element(key_id, key_type)),
                Arc::new(NestedField::map_value_element(
                    value_id,
                    value_type,
                    !value.is_nullable(),
                )),
            )))
        }
        DataType::Dictionary(_, value) => arrow_to_type(path, value, next_id),
        DataType::RunEndEncoded(_, values) => arrow_to_type(path, values.data_type(), next_id),
        DataType::Union(_, _) => cannot_store(path, ty, ""),
    }
}

/// `Decimal*(p, s)`: `decimal(p, s)`; a negative scale `-k` widens to `decimal(p + k, 0)`.
fn arrow_decimal(path: &str, ty: &DataType, precision: u8, scale: i8) -> Result<Type> {
    let (precision, scale) = if scale < 0 {
        (u64::from(precision) + u64::from(scale.unsigned_abs()), 0)
    } else {
        (u64::from(precision), i64::from(scale))
    };
    if precision > MAX_DECIMAL_PRECISION {
        let hint = format!(
            "cast it to DECIMAL(38,{}) if the values fit, or to DOUBLE",
            scale.min(38)
        );
        return cannot_store(path, ty, &hint);
    }
    decimal(path, ty, precision, scale)
}

fn arrow_struct(path: &str, ty: &DataType, fields: &Fields, next_id: &mut i32) -> Result<Type> {
    if fields.is_empty() {
        return cannot_store(path, ty, "a STRUCT needs at least one field");
    }
    if let Some(name) = first_duplicate(fields.iter().map(|f| f.name().as_str())) {
        return duplicate_field(path, name);
    }

    let ids: Vec<i32> = fields.iter().map(|_| take_id(next_id)).collect();
    let mut out: Vec<NestedFieldRef> = Vec::with_capacity(fields.len());
    for (field, id) in fields.iter().zip(ids) {
        let name = field.name().as_str();
        let field_type = arrow_to_type(&format!("{path}.{name}"), field.data_type(), next_id)?;
        out.push(Arc::new(NestedField::new(
            id,
            name,
            field_type,
            !field.is_nullable(),
        )));
    }
    Ok(Type::Struct(StructType::new(out)))
}

// ------------------------------------------------------------------------------------------------
// Iceberg -> SQL
// ------------------------------------------------------------------------------------------------

/// Iceberg type -> SQL spelling for `DESCRIBE`-like output and error messages: `boolean`, `int`,
/// `bigint`, `float`, `double`, `decimal(p,s)`, `date`, `time`, `timestamp`, `timestamptz`,
/// `timestamp_ns`, `timestamptz_ns`, `varchar`, `uuid`, `fixed(n)`, `varbinary`,
/// `struct<a: int, ...>`, `array<T>` and `map<K, V>`.
///
/// Struct field names that are not plain identifiers are double-quoted. Nullability is not shown.
pub fn iceberg_type_to_sql(ty: &Type) -> String {
    match ty {
        Type::Primitive(p) => match p {
            PrimitiveType::Boolean => "boolean".to_string(),
            PrimitiveType::Int => "int".to_string(),
            PrimitiveType::Long => "bigint".to_string(),
            PrimitiveType::Float => "float".to_string(),
            PrimitiveType::Double => "double".to_string(),
            PrimitiveType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            PrimitiveType::Date => "date".to_string(),
            PrimitiveType::Time => "time".to_string(),
            PrimitiveType::Timestamp => "timestamp".to_string(),
            PrimitiveType::Timestamptz => "timestamptz".to_string(),
            PrimitiveType::TimestampNs => "timestamp_ns".to_string(),
            PrimitiveType::TimestamptzNs => "timestamptz_ns".to_string(),
            PrimitiveType::String => "varchar".to_string(),
            PrimitiveType::Uuid => "uuid".to_string(),
            PrimitiveType::Fixed(length) => format!("fixed({length})"),
            PrimitiveType::Binary => "varbinary".to_string(),
        },
        // The spellings floe's CREATE TABLE reads back (SHOW CREATE TABLE prints them).
        Type::Struct(s) => {
            let fields: Vec<String> = s
                .fields()
                .iter()
                .map(|f| {
                    // (SQL's struct syntax has no NOT NULL for a field.)
                    format!(
                        "{} {}",
                        sql_identifier(&f.name),
                        iceberg_type_to_sql(&f.field_type)
                    )
                })
                .collect();
            format!("struct<{}>", fields.join(", "))
        }
        Type::List(l) => format!(
            "array<{}>",
            iceberg_type_to_sql(&l.element_field.field_type)
        ),
        Type::Map(m) => format!(
            "map({}, {})",
            iceberg_type_to_sql(&m.key_field.field_type),
            iceberg_type_to_sql(&m.value_field.field_type)
        ),
    }
}

/// `text` as a single-quoted SQL string literal.
pub fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `name` as is when it is a plain identifier, otherwise double-quoted.
pub fn sql_identifier(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

fn plan<T>(message: String) -> Result<T> {
    Err(DataFusionError::Plan(message))
}

fn prim(p: PrimitiveType) -> Result<Type> {
    Ok(Type::Primitive(p))
}

/// `column 'x' has type T, which Iceberg cannot store[; hint]`.
fn cannot_store<T>(path: &str, ty: &dyn fmt::Display, hint: &str) -> Result<T> {
    if hint.is_empty() {
        plan(format!(
            "column '{path}' has type {ty}, which Iceberg cannot store"
        ))
    } else {
        plan(format!(
            "column '{path}' has type {ty}, which Iceberg cannot store; {hint}"
        ))
    }
}

fn take_id(next_id: &mut i32) -> i32 {
    let id = *next_id;
    *next_id += 1;
    id
}

/// The first id after `n` top-level columns numbered `1..=n`.
fn first_nested_id(n: usize) -> Result<i32> {
    i32::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| DataFusionError::Plan(format!("a table cannot have {n} columns")))
}

fn duplicate_field<T>(path: &str, name: &str) -> Result<T> {
    plan(format!(
        "column '{path}' has a STRUCT type with more than one field named '{name}'"
    ))
}

/// The first name that occurs a second time, if any.
fn first_duplicate<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = HashSet::new();
    names.into_iter().find(|name| !seen.insert(*name))
}

fn build_schema(fields: Vec<NestedFieldRef>) -> Result<Schema> {
    Schema::builder()
        .with_fields(fields)
        .build()
        .map_err(|e| DataFusionError::Plan(format!("invalid Iceberg schema: {e}")))
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::datatypes::{Field, IntervalUnit, TimeUnit, UnionFields};
    use datafusion::sql::sqlparser::dialect::{Dialect, DuckDbDialect};

    fn columns_with(dialect: &dyn Dialect, sql: &str) -> Vec<ast::ColumnDef> {
        let statements = Parser::parse_sql(dialect, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        match statements.into_iter().next() {
            Some(ast::Statement::CreateTable(create)) => create.columns,
            other => panic!("not a CREATE TABLE: {other:?}"),
        }
    }

    fn columns(sql: &str) -> Vec<ast::ColumnDef> {
        columns_with(&GenericDialect {}, sql)
    }

    fn schema(sql: &str) -> Schema {
        schema_from_column_defs(&columns(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .0
    }

    fn plan_message(e: DataFusionError) -> String {
        match e {
            DataFusionError::Plan(message) => message,
            other => panic!("expected a plan error, got {other}"),
        }
    }

    fn schema_error(sql: &str) -> String {
        plan_message(schema_from_column_defs(&columns(sql)).expect_err(sql))
    }

    fn sql_data_type(text: &str) -> ast::DataType {
        let dialect = GenericDialect {};
        let mut parser = Parser::new(&dialect).try_with_sql(text).expect("tokenize");
        parser
            .parse_data_type()
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn p(t: PrimitiveType) -> Type {
        Type::Primitive(t)
    }

    fn dec(precision: u32, scale: u32) -> Type {
        p(PrimitiveType::Decimal { precision, scale })
    }

    fn field(schema: &Schema, name: &str) -> NestedFieldRef {
        schema
            .field_by_name(name)
            .unwrap_or_else(|| panic!("no field {name}"))
            .clone()
    }

    #[test]
    fn every_sql_spelling_maps_to_its_iceberg_type() {
        use PrimitiveType as P;
        let expected: &[(&str, &str, Type)] = &[
            ("c_boolean", "BOOLEAN", p(P::Boolean)),
            ("c_bool", "BOOL", p(P::Boolean)),
            ("c_tinyint", "TINYINT", p(P::Int)),
            ("c_smallint", "SMALLINT", p(P::Int)),
            ("c_int2", "INT2", p(P::Int)),
            ("c_int", "INT", p(P::Int)),
            ("c_integer", "INTEGER", p(P::Int)),
            ("c_int4", "INT4", p(P::Int)),
            ("c_mediumint", "MEDIUMINT", p(P::Int)),
            ("c_bigint", "BIGINT", p(P::Long)),
            ("c_int8", "INT8", p(P::Long)),
            ("c_long", "LONG", p(P::Long)),
            ("c_real", "REAL", p(P::Float)),
            ("c_float4", "FLOAT4", p(P::Float)),
            ("c_float", "FLOAT", p(P::Float)),
            ("c_float24", "FLOAT(24)", p(P::Float)),
            ("c_double", "DOUBLE", p(P::Double)),
            ("c_double_precision", "DOUBLE PRECISION", p(P::Double)),
            ("c_float8", "FLOAT8", p(P::Double)),
            ("c_float53", "FLOAT(53)", p(P::Double)),
            ("c_decimal", "DECIMAL(10,2)", dec(10, 2)),
            ("c_numeric", "NUMERIC(12, 4)", dec(12, 4)),
            ("c_decimal_p", "DECIMAL(9)", dec(9, 0)),
            ("c_decimal_default", "DECIMAL", dec(38, 0)),
            ("c_numeric_default", "NUMERIC", dec(38, 0)),
            ("c_decimal_38", "DECIMAL(38,38)", dec(38, 38)),
            ("c_date", "DATE", p(P::Date)),
            ("c_time", "TIME", p(P::Time)),
            ("c_time6", "TIME(6)", p(P::Time)),
            ("c_timestamp", "TIMESTAMP", p(P::Timestamp)),
            ("c_timestamp3", "TIMESTAMP(3)", p(P::Timestamp)),
            (
                "c_timestamp_without",
                "TIMESTAMP WITHOUT TIME ZONE",
                p(P::Timestamp),
            ),
            ("c_datetime", "DATETIME", p(P::Timestamp)),
            ("c_timestamp_ntz", "TIMESTAMP_NTZ", p(P::Timestamp)),
            ("c_timestamptz", "TIMESTAMPTZ", p(P::Timestamptz)),
            (
                "c_timestamp_with",
                "TIMESTAMP WITH TIME ZONE",
                p(P::Timestamptz),
            ),
            ("c_timestamp_ltz", "TIMESTAMP_LTZ", p(P::Timestamptz)),
            ("c_varchar", "VARCHAR(10)", p(P::String)),
            ("c_varchar_bare", "VARCHAR", p(P::String)),
            ("c_char", "CHAR(3)", p(P::String)),
            ("c_text", "TEXT", p(P::String)),
            ("c_string", "STRING", p(P::String)),
            ("c_character_varying", "CHARACTER VARYING(20)", p(P::String)),
            ("c_clob", "CLOB", p(P::String)),
            ("c_uuid", "UUID", p(P::Uuid)),
            ("c_binary16", "BINARY(16)", p(P::Fixed(16))),
            ("c_fixed", "FIXED(8)", p(P::Fixed(8))),
            ("c_binary", "BINARY", p(P::Binary)),
            ("c_varbinary", "VARBINARY", p(P::Binary)),
            ("c_varbinary_n", "VARBINARY(100)", p(P::Binary)),
            ("c_blob", "BLOB", p(P::Binary)),
            ("c_bytea", "BYTEA", p(P::Binary)),
            ("c_bytes", "BYTES", p(P::Binary)),
            ("c_quoted", "\"string\"", p(P::String)),
        ];
        let body: Vec<String> = expected
            .iter()
            .map(|(name, ty, _)| format!("{name} {ty}"))
            .collect();
        let sql = format!("CREATE TABLE t ({})", body.join(", "));
        let (schema, defaults) = schema_from_column_defs(&columns(&sql)).expect("schema");
        assert!(defaults.is_empty());

        let fields = schema.as_struct().fields();
        assert_eq!(fields.len(), expected.len());
        for ((id, f), (name, sql_ty, iceberg_ty)) in (1..).zip(fields).zip(expected) {
            assert_eq!(f.id, id, "{name}");
            assert_eq!(f.name, *name);
            assert!(!f.required, "{name} should be optional");
            assert_eq!(*f.field_type, *iceberg_ty, "{name} {sql_ty}");
        }
        assert_eq!(
            schema.highest_field_id(),
            i32::try_from(expected.len()).unwrap()
        );
    }

    #[test]
    fn nested_types_get_ids_after_top_level_columns() {
        use PrimitiveType as P;
        let schema = schema(
            "CREATE TABLE t (
                id BIGINT NOT NULL,
                s STRUCT<a INT, b ARRAY<STRUCT<x DOUBLE, y VARCHAR>>>,
                tags VARCHAR[],
                m MAP(VARCHAR, ARRAY<INT>),
                r ROW(p INT, q STRING, ts TIMESTAMP WITH TIME ZONE),
                l LIST(BIGINT),
                name TEXT PRIMARY KEY
            )",
        );

        let top: Vec<(i32, &str, bool)> = schema
            .as_struct()
            .fields()
            .iter()
            .map(|f| (f.id, f.name.as_str(), f.required))
            .collect();
        assert_eq!(
            top,
            [
                (1, "id", true),
                (2, "s", false),
                (3, "tags", false),
                (4, "m", false),
                (5, "r", false),
                (6, "l", false),
                (7, "name", true),
            ]
        );

        // s: its fields first (a, b), then b's element and the element's fields.
        let element_struct = Type::Struct(StructType::new(vec![
            Arc::new(NestedField::optional(11, "x", p(P::Double))),
            Arc::new(NestedField::optional(12, "y", p(P::String))),
        ]));
        let s = Type::Struct(StructType::new(vec![
            Arc::new(NestedField::optional(8, "a", p(P::Int))),
            Arc::new(NestedField::optional(
                9,
                "b",
                Type::List(ListType::new(Arc::new(NestedField::list_element(
                    10,
                    element_struct,
                    false,
                )))),
            )),
        ]));
        assert_eq!(*field(&schema, "s").field_type, s);

        let tags = Type::List(ListType::new(Arc::new(NestedField::list_element(
            13,
            p(P::String),
            false,
        ))));
        assert_eq!(*field(&schema, "tags").field_type, tags);

        // m: key and value ids first, then the value's element.
        let m = Type::Map(MapType::new(
            Arc::new(NestedField::map_key_element(14, p(P::String))),
            Arc::new(NestedField::map_value_element(
                15,
                Type::List(ListType::new(Arc::new(NestedField::list_element(
                    16,
                    p(P::Int),
                    false,
                )))),
                false,
            )),
        ));
        assert_eq!(*field(&schema, "m").field_type, m);
        assert!(field(&schema, "m.key").required);
        assert!(!field(&schema, "m.value").required);

        let r = Type::Struct(StructType::new(vec![
            Arc::new(NestedField::optional(17, "p", p(P::Int))),
            Arc::new(NestedField::optional(18, "q", p(P::String))),
            Arc::new(NestedField::optional(19, "ts", p(P::Timestamptz))),
        ]));
        assert_eq!(*field(&schema, "r").field_type, r);

        let l = Type::List(ListType::new(Arc::new(NestedField::list_element(
            20,
            p(P::Long),
            false,
        ))));
        assert_eq!(*field(&schema, "l").field_type, l);

        assert_eq!(field(&schema, "s.b.element.y").id, 12);
        assert_eq!(schema.highest_field_id(), 20);
    }

    #[test]
    fn sql_type_to_iceberg_numbers_from_next_id() {
        let mut next_id = 100;
        let ty = sql_type_to_iceberg(
            "c",
            &sql_data_type("MAP(INT, STRUCT<a INT, b INT[]>)"),
            &mut next_id,
        )
        .expect("type");
        assert_eq!(next_id, 105);
        let Type::Map(map) = ty else {
            panic!("not a map")
        };
        assert_eq!(map.key_field.id, 100);
        assert_eq!(map.value_field.id, 101);
        let Type::Struct(value) = map.value_field.field_type.as_ref() else {
            panic!("not a struct")
        };
        let ids: Vec<i32> = value.fields().iter().map(|f| f.id).collect();
        assert_eq!(ids, [102, 103]);
        let Type::List(list) = value.fields()[1].field_type.as_ref() else {
            panic!("not a list")
        };
        assert_eq!(list.element_field.id, 104);

        let mut next_id = 7;
        assert_eq!(
            sql_type_to_iceberg("c", &sql_data_type("INT"), &mut next_id).expect("int"),
            p(PrimitiveType::Int)
        );
        assert_eq!(next_id, 7, "a primitive takes no id");
    }

    #[test]
    fn duckdb_spellings() {
        use PrimitiveType as P;
        let cols = columns_with(
            &DuckDbDialect {},
            "CREATE TABLE t (s STRUCT(a INT, b VARCHAR[]), m MAP(VARCHAR, INTEGER), l INTEGER[], u UTINYINT)",
        );
        let (schema, _) = schema_from_column_defs(&cols).expect("schema");
        let s = Type::Struct(StructType::new(vec![
            Arc::new(NestedField::optional(5, "a", p(P::Int))),
            Arc::new(NestedField::optional(
                6,
                "b",
                Type::List(ListType::new(Arc::new(NestedField::list_element(
                    7,
                    p(P::String),
                    false,
                )))),
            )),
        ]));
        assert_eq!(*field(&schema, "s").field_type, s);
        // DuckDbDialect leaves MAP(K, V) as a custom type; it is re-parsed here.
        let m = Type::Map(MapType::new(
            Arc::new(NestedField::map_key_element(8, p(P::String))),
            Arc::new(NestedField::map_value_element(9, p(P::Int), false)),
        ));
        assert_eq!(*field(&schema, "m").field_type, m);
        assert_eq!(field(&schema, "l.element").id, 10);
        assert_eq!(*field(&schema, "u").field_type, p(P::Int));
    }

    #[test]
    fn spellings_generic_dialect_cannot_parse() {
        // These need another dialect (STRUCT(...): DuckDB) or parse in none (MAP<...>, LIST<...>).
        for sql in [
            "CREATE TABLE t (m MAP<INT, INT>)",
            "CREATE TABLE t (l LIST<INT>)",
            "CREATE TABLE t (s STRUCT(a INT))",
        ] {
            assert!(
                Parser::parse_sql(&GenericDialect {}, sql).is_err(),
                "{sql} parsed"
            );
        }
    }

    #[test]
    fn not_null_primary_key_and_defaults() {
        let (schema, defaults) = schema_from_column_defs(&columns(
            "CREATE TABLE t (a INT DEFAULT 42 NOT NULL, b VARCHAR DEFAULT 'x', c INT PRIMARY KEY, d INT NULL)",
        ))
        .expect("schema");
        let required: Vec<bool> = schema
            .as_struct()
            .fields()
            .iter()
            .map(|f| f.required)
            .collect();
        assert_eq!(required, [true, false, true, false]);
        let defaults: Vec<(String, String)> = defaults
            .into_iter()
            .map(|(n, e)| (n, e.to_string()))
            .collect();
        assert_eq!(
            defaults,
            [
                ("a".to_string(), "42".to_string()),
                ("b".to_string(), "'x'".to_string())
            ]
        );
        assert_eq!(
            schema_error("CREATE TABLE t (a INT DEFAULT 1 DEFAULT 2)"),
            "column 'a' has more than one DEFAULT"
        );
    }

    #[test]
    fn duplicate_columns_are_rejected() {
        assert_eq!(
            schema_error("CREATE TABLE t (a INT, b INT, a BIGINT)"),
            "column 'a' is specified more than once"
        );
        // Names are compared as given: normalising identifiers is the caller's job.
        let schema = schema("CREATE TABLE t (a INT, \"A\" INT)");
        assert_eq!(schema.as_struct().fields().len(), 2);
        assert_eq!(
            schema_error("CREATE TABLE t (s STRUCT<a INT, a BIGINT>)"),
            "column 's' has a STRUCT type with more than one field named 'a'"
        );
    }

    #[test]
    fn unsupported_sql_types_are_rejected() {
        let cases = [
            (
                "c GEOMETRY",
                "column 'c' has type GEOMETRY, which Iceberg cannot store",
            ),
            (
                "c INTERVAL",
                "column 'c' has type INTERVAL, which Iceberg cannot store; store it as VARCHAR, or as a BIGINT count of a fixed unit",
            ),
            (
                "c JSON",
                "column 'c' has type JSON, which Iceberg cannot store; store it as VARCHAR",
            ),
            (
                "d DECIMAL(40,2)",
                "column 'd' has type DECIMAL(40,2), which Iceberg cannot store; decimal precision must be between 1 and 38",
            ),
            (
                "d NUMERIC(5,6)",
                "column 'd' has type NUMERIC(5,6), which Iceberg cannot store; decimal scale must be between 0 and the precision (5)",
            ),
            (
                "d DECIMAL(0)",
                "column 'd' has type DECIMAL(0), which Iceberg cannot store; decimal precision must be between 1 and 38",
            ),
            (
                "u UBIGINT",
                "column 'u' has type UBIGINT, which Iceberg cannot store; use DECIMAL(20,0), or BIGINT if the values fit",
            ),
            (
                "h HUGEINT",
                "column 'h' has type HUGEINT, which Iceberg cannot store; use DECIMAL(38,0) if the values fit",
            ),
            (
                "t TIMESTAMP(9)",
                "column 't' has type TIMESTAMP(9), which Iceberg cannot store; Iceberg keeps times and timestamps to the microsecond; use a precision of at most 6",
            ),
            (
                "t TIME WITH TIME ZONE",
                "column 't' has type TIME WITH TIME ZONE, which Iceberg cannot store; Iceberg has no time-with-time-zone type; use TIME or TIMESTAMPTZ",
            ),
            (
                "f FLOAT(54)",
                "column 'f' has type FLOAT(54), which Iceberg cannot store; FLOAT precision must be between 1 and 53",
            ),
            (
                "b BINARY(0)",
                "column 'b' has type BINARY(0), which Iceberg cannot store; a fixed-length binary type needs a length of at least 1",
            ),
            (
                "s STRUCT<a INT, b INTERVAL>",
                "column 's.b' has type INTERVAL, which Iceberg cannot store; store it as VARCHAR, or as a BIGINT count of a fixed unit",
            ),
            (
                "l ARRAY<GEOMETRY>",
                "column 'l.element' has type GEOMETRY, which Iceberg cannot store",
            ),
            (
                "m MAP(VARCHAR, UBIGINT)",
                "column 'm.value' has type UBIGINT, which Iceberg cannot store; use DECIMAL(20,0), or BIGINT if the values fit",
            ),
            (
                "s STRUCT<INT>",
                "column 's' has type STRUCT<INT>, which has a STRUCT field without a name; name every field, e.g. STRUCT<a INT>",
            ),
        ];
        for (column, message) in cases {
            assert_eq!(
                schema_error(&format!("CREATE TABLE t ({column})")),
                message,
                "{column}"
            );
        }
        // Custom types whose modifiers do not re-parse name the column and the type.
        assert_eq!(
            schema_error("CREATE TABLE t (l LIST(INT, BIGINT))"),
            "column 'l' has type LIST(INT, BIGINT), which floe cannot read: unexpected 'BIGINT'"
        );
        let message = schema_error("CREATE TABLE t (r ROW(a))");
        assert!(
            message.starts_with(
                "column 'r' has type ROW(a), which floe cannot read: sql parser error:"
            ),
            "{message}"
        );
    }

    fn arrow_type(ty: DataType) -> Type {
        arrow_type_to_iceberg("c", &ty, &mut 1).unwrap_or_else(|e| panic!("{e}"))
    }

    fn arrow_error(ty: DataType) -> String {
        plan_message(arrow_type_to_iceberg("c", &ty, &mut 1).expect_err("should be rejected"))
    }

    #[test]
    fn arrow_types_are_widened_without_loss() {
        use PrimitiveType as P;
        let utc: Option<Arc<str>> = Some("+00:00".into());
        let new_york: Option<Arc<str>> = Some("America/New_York".into());
        let cases = [
            (DataType::Boolean, p(P::Boolean)),
            (DataType::Int8, p(P::Int)),
            (DataType::Int16, p(P::Int)),
            (DataType::Int32, p(P::Int)),
            (DataType::UInt8, p(P::Int)),
            (DataType::UInt16, p(P::Int)),
            (DataType::UInt32, p(P::Long)),
            (DataType::Int64, p(P::Long)),
            (DataType::UInt64, dec(20, 0)),
            (DataType::Float16, p(P::Float)),
            (DataType::Float32, p(P::Float)),
            (DataType::Float64, p(P::Double)),
            (DataType::Utf8, p(P::String)),
            (DataType::LargeUtf8, p(P::String)),
            (DataType::Utf8View, p(P::String)),
            (DataType::Binary, p(P::Binary)),
            (DataType::LargeBinary, p(P::Binary)),
            (DataType::BinaryView, p(P::Binary)),
            (DataType::FixedSizeBinary(16), p(P::Fixed(16))),
            (DataType::Date32, p(P::Date)),
            (DataType::Date64, p(P::Timestamp)),
            (DataType::Time32(TimeUnit::Second), p(P::Time)),
            (DataType::Time32(TimeUnit::Millisecond), p(P::Time)),
            (DataType::Time64(TimeUnit::Microsecond), p(P::Time)),
            (DataType::Time64(TimeUnit::Nanosecond), p(P::Time)),
            (DataType::Timestamp(TimeUnit::Second, None), p(P::Timestamp)),
            (
                DataType::Timestamp(TimeUnit::Millisecond, None),
                p(P::Timestamp),
            ),
            (
                DataType::Timestamp(TimeUnit::Microsecond, None),
                p(P::Timestamp),
            ),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                p(P::Timestamp),
            ),
            (
                DataType::Timestamp(TimeUnit::Microsecond, utc),
                p(P::Timestamptz),
            ),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, new_york),
                p(P::Timestamptz),
            ),
            (DataType::Decimal32(9, 2), dec(9, 2)),
            (DataType::Decimal64(18, 3), dec(18, 3)),
            (DataType::Decimal128(38, 10), dec(38, 10)),
            (DataType::Decimal256(20, 5), dec(20, 5)),
            (DataType::Decimal128(5, -2), dec(7, 0)),
            (
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                p(P::String),
            ),
            (
                DataType::RunEndEncoded(
                    Arc::new(Field::new("run_ends", DataType::Int32, false)),
                    Arc::new(Field::new("values", DataType::Int64, true)),
                ),
                p(P::Long),
            ),
        ];
        for (arrow, iceberg) in cases {
            assert_eq!(arrow_type(arrow.clone()), iceberg, "{arrow}");
        }
    }

    #[test]
    fn arrow_schema_ids_and_nullability() {
        use PrimitiveType as P;
        let map_entries = Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Float16, true),
            ])),
            false,
        );
        let arrow = ArrowSchema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new(
                "s",
                DataType::Struct(Fields::from(vec![
                    Field::new("x", DataType::UInt8, false),
                    Field::new(
                        "y",
                        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8View, true))),
                        true,
                    ),
                ])),
                true,
            ),
            Field::new("m", DataType::Map(Arc::new(map_entries), false), true),
            Field::new(
                "f",
                DataType::FixedSizeList(Arc::new(Field::new_list_field(DataType::Int64, false)), 3),
                false,
            ),
            Field::new(
                "ll",
                DataType::LargeList(Arc::new(Field::new_list_field(DataType::Int16, true))),
                true,
            ),
        ]);
        let schema = arrow_schema_to_iceberg(&arrow).expect("schema");

        let top: Vec<(i32, &str, bool)> = schema
            .as_struct()
            .fields()
            .iter()
            .map(|f| (f.id, f.name.as_str(), f.required))
            .collect();
        assert_eq!(
            top,
            [
                (1, "a", true),
                (2, "s", false),
                (3, "m", false),
                (4, "f", true),
                (5, "ll", false)
            ]
        );

        let s = Type::Struct(StructType::new(vec![
            Arc::new(NestedField::required(6, "x", p(P::Int))),
            Arc::new(NestedField::optional(
                7,
                "y",
                Type::List(ListType::new(Arc::new(NestedField::list_element(
                    8,
                    p(P::String),
                    false,
                )))),
            )),
        ]));
        assert_eq!(*field(&schema, "s").field_type, s);

        let m = Type::Map(MapType::new(
            Arc::new(NestedField::map_key_element(9, p(P::String))),
            Arc::new(NestedField::map_value_element(10, p(P::Float), false)),
        ));
        assert_eq!(*field(&schema, "m").field_type, m);

        let f = Type::List(ListType::new(Arc::new(NestedField::list_element(
            11,
            p(P::Long),
            true,
        ))));
        assert_eq!(*field(&schema, "f").field_type, f);
        assert_eq!(field(&schema, "ll.element").id, 12);
        assert!(!field(&schema, "ll.element").required);
        assert_eq!(schema.highest_field_id(), 12);
    }

    #[test]
    fn arrow_rejections_name_the_column_and_type() {
        assert_eq!(
            arrow_error(DataType::Null),
            "column 'c' has type NULL; give it a type with CAST"
        );
        assert_eq!(
            arrow_error(DataType::Interval(IntervalUnit::MonthDayNano)),
            "column 'c' has type Interval(MonthDayNano), which Iceberg cannot store; cast it to VARCHAR"
        );
        assert_eq!(
            arrow_error(DataType::Duration(TimeUnit::Second)),
            "column 'c' has type Duration(s), which Iceberg cannot store; cast it to BIGINT"
        );
        assert_eq!(
            arrow_error(DataType::Decimal256(50, 2)),
            "column 'c' has type Decimal256(50, 2), which Iceberg cannot store; cast it to DECIMAL(38,2) if the values fit, or to DOUBLE"
        );
        assert_eq!(
            arrow_error(DataType::Decimal128(38, -1)),
            "column 'c' has type Decimal128(38, -1), which Iceberg cannot store; cast it to DECIMAL(38,0) if the values fit, or to DOUBLE"
        );
        let union = DataType::Union(
            UnionFields::from_fields([Field::new("i", DataType::Int32, true)]),
            arrow::datatypes::UnionMode::Dense,
        );
        let message = arrow_error(union);
        assert!(
            message.starts_with("column 'c' has type Union("),
            "{message}"
        );
        assert!(
            message.ends_with(", which Iceberg cannot store"),
            "{message}"
        );
        assert_eq!(
            arrow_error(DataType::Struct(Fields::empty())),
            "column 'c' has type Struct(), which Iceberg cannot store; a STRUCT needs at least one field"
        );

        // Nested rejections name the path to the field.
        let nested = ArrowSchema::new(vec![Field::new(
            "s",
            DataType::Struct(Fields::from(vec![
                Field::new("ok", DataType::Int32, true),
                Field::new("n", DataType::Null, true),
            ])),
            true,
        )]);
        assert_eq!(
            plan_message(arrow_schema_to_iceberg(&nested).expect_err("null field")),
            "column 's.n' has type NULL; give it a type with CAST"
        );
        let list_of_durations = DataType::List(Arc::new(Field::new_list_field(
            DataType::Duration(TimeUnit::Millisecond),
            true,
        )));
        assert_eq!(
            arrow_error(list_of_durations),
            "column 'c.element' has type Duration(ms), which Iceberg cannot store; cast it to BIGINT"
        );

        let duplicates = ArrowSchema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("a", DataType::Utf8, true),
        ]);
        assert_eq!(
            plan_message(arrow_schema_to_iceberg(&duplicates).expect_err("duplicates")),
            "column 'a' is specified more than once"
        );
    }

    #[test]
    fn iceberg_type_to_sql_spells_nested_types() {
        let schema = schema(
            "CREATE TABLE t (
                s STRUCT<a INT, b ARRAY<STRUCT<x DOUBLE, y VARCHAR>>, c DECIMAL(10,2)>,
                m MAP(VARCHAR, ARRAY<BIGINT>),
                r ROW(\"my field\" UUID, z TIMESTAMPTZ)
            )",
        );
        let sql = |name: &str| iceberg_type_to_sql(&field(&schema, name).field_type);
        assert_eq!(
            sql("s"),
            "struct<a int, b array<struct<x double, y varchar>>, c decimal(10,2)>"
        );
        assert_eq!(sql("m"), "map(varchar, array<bigint>)");
        assert_eq!(sql("r"), "struct<\"my field\" uuid, z timestamptz>");
        assert_eq!(
            iceberg_type_to_sql(&p(PrimitiveType::TimestampNs)),
            "timestamp_ns"
        );
        assert_eq!(
            iceberg_type_to_sql(&p(PrimitiveType::TimestamptzNs)),
            "timestamptz_ns"
        );
    }

    #[test]
    fn iceberg_type_to_sql_round_trips() {
        use PrimitiveType as P;
        let types = [
            p(P::Boolean),
            p(P::Int),
            p(P::Long),
            p(P::Float),
            p(P::Double),
            dec(10, 2),
            dec(38, 0),
            p(P::Date),
            p(P::Time),
            p(P::Timestamp),
            p(P::Timestamptz),
            p(P::String),
            p(P::Uuid),
            p(P::Fixed(16)),
            p(P::Binary),
            Type::List(ListType::new(Arc::new(NestedField::list_element(
                1,
                p(P::Long),
                false,
            )))),
            Type::List(ListType::new(Arc::new(NestedField::list_element(
                1,
                Type::List(ListType::new(Arc::new(NestedField::list_element(
                    2,
                    dec(5, 1),
                    false,
                )))),
                false,
            )))),
            Type::Struct(StructType::new(vec![
                Arc::new(NestedField::optional(1, "a", p(P::Int))),
                Arc::new(NestedField::optional(2, "my b", p(P::String))),
            ])),
            Type::Map(MapType::new(
                Arc::new(NestedField::map_key_element(1, p(P::String))),
                Arc::new(NestedField::map_value_element(2, p(P::Long), false)),
            )),
        ];
        for ty in types {
            let sql = iceberg_type_to_sql(&ty);
            let mut next_id = 1;
            let back = sql_type_to_iceberg("c", &sql_data_type(&sql), &mut next_id)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(back, ty, "{sql}");
        }
    }
}
