//! Iceberg data-file metrics in DataFusion terms.
//!
//! Every Iceberg `DataFile` in a manifest carries per-column metrics keyed by field id: lower
//! and upper bounds (`Datum`s, possibly truncated for strings and binaries), null counts,
//! NaN counts and value counts. This module turns them into:
//!
//! * [`datum_to_scalar`]: one bound as a [`ScalarValue`] of exactly the table column's Arrow
//!   type (handling the type promotions Iceberg allows: int→long, float→double, decimal
//!   precision widening, date→timestamp);
//! * [`file_statistics`]: a DataFusion [`Statistics`] for one file, to attach to the
//!   `PartitionedFile`s of a scan;
//! * [`FilePruningStats`]: a set of files as [`PruningStatistics`] (one container per file);
//! * [`prune_files`]: evaluates scan filters against those statistics with DataFusion's
//!   [`PruningPredicate`] and says which files may hold matching rows.
//!
//! Columns of the Arrow table schema are matched to Iceberg metrics through the
//! `PARQUET:field_id` field metadata that `iceberg::arrow::schema_to_arrow_schema` sets.
//!
//! Pruning is only an optimisation, so everything here errs towards keeping files:
//! * anything that cannot be converted exactly is reported as unknown (null);
//! * float/double bounds are used only when the file records a NaN count of zero for the
//!   column (Iceberg bounds exclude NaN, while Arrow orders NaN above every number);
//! * a zero float bound is widened to `-0.0` (lower) / `+0.0` (upper), since Arrow's total
//!   order puts `-0.0` below `+0.0` and writers differ on which zero they record;
//! * UUID bounds are not file statistics, and prune files only for `=`, `!=`, `IN` with
//!   canonical literals ([`prune_files`]): older Java writers ordered UUIDs as two signed
//!   longs, not in the unsigned byte order (which canonical text shares) newer writers use,
//!   and a file does not say which order its bounds are in;
//! * a filter (or conjunct) that cannot be planned or evaluated keeps every file, and a
//!   panic anywhere in the pruning path is caught and also keeps every file.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, ColumnStatistics, DFSchema, ScalarValue, Statistics};
use datafusion::logical_expr::execution_props::ExecutionProps;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::utils::split_conjunction_owned;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, Operator};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_optimizer::pruning::PruningPredicate;
use iceberg::spec::{DataFile, Datum, PrimitiveLiteral as Lit, PrimitiveType as Prim};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;

/// Largest precision of an Arrow `Decimal128`.
const DECIMAL128_MAX_PRECISION: u8 = 38;

/// Seconds in a day, for the Iceberg v3 date→timestamp promotion.
const SECONDS_PER_DAY: i64 = 86_400;

/// Converts an Iceberg bound to a DataFusion ScalarValue of exactly `target` Arrow type
/// (the table column's type). Returns None when the types don't correspond or the value
/// cannot be represented exactly (never panics).
///
/// Supported (target ← Iceberg type):
/// * `Boolean` ← boolean; `Int32` ← int; `Int64` ← long, int (promoted column);
/// * `Float32` ← float; `Float64` ← double, float (promoted column);
/// * `Decimal128(p, s)` ← decimal, rescaled only when exact and checked against `p`;
/// * `Date32` ← date; `Date64` ← date;
/// * `Time64(Microsecond | Nanosecond)` ← time;
/// * `Timestamp(unit, None)` ← timestamp, timestamp_ns, date (v3 promotion);
///   `Timestamp(unit, Some(tz))` ← timestamptz, timestamptz_ns. Unit changes must be exact
///   (e.g. nanoseconds → microseconds only for multiples of 1000);
/// * `Utf8`, `LargeUtf8`, `Utf8View` ← string, uuid (canonical text);
/// * `Binary`, `LargeBinary`, `BinaryView` ← binary, fixed, uuid (16 big-endian bytes);
/// * `FixedSizeBinary(n)` ← fixed, binary or uuid whose byte length is exactly `n`.
pub fn datum_to_scalar(datum: &Datum, target: &DataType) -> Option<ScalarValue> {
    let ty = datum.data_type();
    let lit = datum.literal();
    match target {
        DataType::Boolean => match (ty, lit) {
            (Prim::Boolean, Lit::Boolean(b)) => Some(ScalarValue::Boolean(Some(*b))),
            _ => None,
        },
        DataType::Int32 => match (ty, lit) {
            (Prim::Int, Lit::Int(v)) => Some(ScalarValue::Int32(Some(*v))),
            _ => None,
        },
        DataType::Int64 => match (ty, lit) {
            (Prim::Long, Lit::Long(v)) => Some(ScalarValue::Int64(Some(*v))),
            (Prim::Int, Lit::Int(v)) => Some(ScalarValue::Int64(Some(i64::from(*v)))),
            _ => None,
        },
        DataType::Float32 => match (ty, lit) {
            (Prim::Float, Lit::Float(v)) => Some(ScalarValue::Float32(Some(v.0))),
            _ => None,
        },
        DataType::Float64 => match (ty, lit) {
            (Prim::Double, Lit::Double(v)) => Some(ScalarValue::Float64(Some(v.0))),
            (Prim::Float, Lit::Float(v)) => Some(ScalarValue::Float64(Some(f64::from(v.0)))),
            _ => None,
        },
        DataType::Decimal128(precision, scale) => match (ty, lit) {
            (Prim::Decimal { scale: from, .. }, Lit::Int128(v)) => {
                decimal_to_scalar(*v, *from, *precision, *scale)
            }
            _ => None,
        },
        DataType::Date32 => match (ty, lit) {
            (Prim::Date, Lit::Int(v)) => Some(ScalarValue::Date32(Some(*v))),
            _ => None,
        },
        DataType::Date64 => match (ty, lit) {
            (Prim::Date, Lit::Int(v)) => {
                let millis = i64::from(*v).checked_mul(SECONDS_PER_DAY * 1_000)?;
                Some(ScalarValue::Date64(Some(millis)))
            }
            _ => None,
        },
        DataType::Time64(unit) => {
            let (Prim::Time, Lit::Long(v)) = (ty, lit) else {
                return None;
            };
            let v = convert_time_unit(*v, TimeUnit::Microsecond, *unit)?;
            match unit {
                TimeUnit::Microsecond => Some(ScalarValue::Time64Microsecond(Some(v))),
                TimeUnit::Nanosecond => Some(ScalarValue::Time64Nanosecond(Some(v))),
                TimeUnit::Second | TimeUnit::Millisecond => None,
            }
        }
        DataType::Timestamp(unit, tz) => {
            let (value, from, with_tz) = match (ty, lit) {
                (Prim::Timestamp, Lit::Long(v)) => (*v, TimeUnit::Microsecond, false),
                (Prim::Timestamptz, Lit::Long(v)) => (*v, TimeUnit::Microsecond, true),
                (Prim::TimestampNs, Lit::Long(v)) => (*v, TimeUnit::Nanosecond, false),
                (Prim::TimestamptzNs, Lit::Long(v)) => (*v, TimeUnit::Nanosecond, true),
                (Prim::Date, Lit::Int(days)) => (
                    i64::from(*days).checked_mul(SECONDS_PER_DAY)?,
                    TimeUnit::Second,
                    false,
                ),
                _ => return None,
            };
            if with_tz != tz.is_some() {
                return None;
            }
            let v = convert_time_unit(value, from, *unit)?;
            let tz = tz.clone();
            Some(match unit {
                TimeUnit::Second => ScalarValue::TimestampSecond(Some(v), tz),
                TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(v), tz),
                TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(v), tz),
                TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(Some(v), tz),
            })
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = match (ty, lit) {
                (Prim::String, Lit::String(s)) => s.clone(),
                // A top-level uuid column reads as its canonical text (`crate::uuid_text`).
                (Prim::Uuid, Lit::UInt128(u)) => crate::uuid_text::text_of_u128(*u),
                _ => return None,
            };
            let s = Some(s);
            Some(match target {
                DataType::Utf8 => ScalarValue::Utf8(s),
                DataType::LargeUtf8 => ScalarValue::LargeUtf8(s),
                _ => ScalarValue::Utf8View(s),
            })
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let bytes = Some(binary_bytes(ty, lit)?);
            Some(match target {
                DataType::Binary => ScalarValue::Binary(bytes),
                DataType::LargeBinary => ScalarValue::LargeBinary(bytes),
                _ => ScalarValue::BinaryView(bytes),
            })
        }
        DataType::FixedSizeBinary(width) => {
            let expected = usize::try_from(*width).ok().filter(|w| *w > 0)?;
            let bytes = binary_bytes(ty, lit)?;
            if bytes.len() != expected {
                return None;
            }
            Some(ScalarValue::FixedSizeBinary(*width, Some(bytes)))
        }
        _ => None,
    }
}

/// The bytes of a binary, fixed or uuid datum (uuid as 16 big-endian bytes).
fn binary_bytes(ty: &Prim, lit: &Lit) -> Option<Vec<u8>> {
    match (ty, lit) {
        (Prim::Binary | Prim::Fixed(_), Lit::Binary(b)) => Some(b.clone()),
        (Prim::Uuid, Lit::UInt128(u)) => Some(u.to_be_bytes().to_vec()),
        _ => None,
    }
}

/// Rescales an Iceberg decimal mantissa (at scale `from_scale`) to `Decimal128(precision,
/// scale)`; None unless the rescale is exact and the result fits the precision.
fn decimal_to_scalar(
    mantissa: i128,
    from_scale: u32,
    precision: u8,
    scale: i8,
) -> Option<ScalarValue> {
    if precision == 0 || precision > DECIMAL128_MAX_PRECISION {
        return None;
    }
    let diff = i64::from(scale) - i64::from(from_scale);
    let factor = 10i128.checked_pow(u32::try_from(diff.unsigned_abs()).ok()?)?;
    let value = if diff >= 0 {
        mantissa.checked_mul(factor)?
    } else if mantissa % factor == 0 {
        mantissa / factor
    } else {
        return None;
    };
    let limit = 10u128.checked_pow(u32::from(precision))?;
    if value.unsigned_abs() >= limit {
        return None;
    }
    Some(ScalarValue::Decimal128(Some(value), precision, scale))
}

fn units_per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// Converts a time value between units; None on overflow or when precision would be lost.
fn convert_time_unit(value: i64, from: TimeUnit, to: TimeUnit) -> Option<i64> {
    let from = units_per_second(from);
    let to = units_per_second(to);
    if to >= from {
        value.checked_mul(to / from)
    } else {
        let divisor = from / to;
        if value % divisor == 0 {
            Some(value / divisor)
        } else {
            None
        }
    }
}

/// The Iceberg field id carried by an Arrow field's metadata. `None` for a VARIANT
/// stand-in (`floe_catalog::variant`): its bounds describe the encoded group, not the
/// JSON text the column reads as, so they never prune.
fn field_id(field: &Field) -> Option<i32> {
    if crate::scan::variant::is_stand_in(field) {
        return None;
    }
    field
        .metadata()
        .get(PARQUET_FIELD_ID_META_KEY)?
        .trim()
        .parse()
        .ok()
}

/// How the bounds of a uuid column are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UuidBounds {
    /// Not at all: the default, and always for file statistics (DataFusion may use those
    /// for any predicate, ranges included).
    Unused,
    /// As written, in unsigned byte order (the spec's; floe's and iceberg-rust's).
    Unsigned,
    /// As older Java writers ordered them, each 8-byte half a signed long: with bits 127
    /// and 63 flipped ([`SIGN_BITS`]), which maps that order onto unsigned order. The
    /// literals compared with must be flipped alike ([`flip_uuid_literals`]).
    SignedLongs,
}

/// The sign bits of a uuid's two halves, read as signed longs.
const SIGN_BITS: u128 = (1 << 127) | (1 << 63);

/// A uuid bound as canonical text (`Utf8`, as floe reads a top-level uuid column), read as
/// `mode` says.
fn uuid_bound(datum: &Datum, target: &DataType, mode: UuidBounds) -> Option<ScalarValue> {
    let Lit::UInt128(v) = datum.literal() else {
        return None;
    };
    let v = match mode {
        UuidBounds::Unused => return None,
        UuidBounds::Unsigned => *v,
        UuidBounds::SignedLongs => *v ^ SIGN_BITS,
    };
    (target == &DataType::Utf8).then(|| ScalarValue::Utf8(Some(crate::uuid_text::text_of_u128(v))))
}

/// The file's lower (or upper) bound for field `id` as a scalar of type `target`, when it is
/// safe to use for pruning: for UUIDs only as `uuid` says, and for floating point only when
/// the file records that the column holds no NaN. Zero float bounds are widened across
/// `±0.0`.
fn usable_bound(
    file: &DataFile,
    id: i32,
    target: &DataType,
    upper: bool,
    uuid: UuidBounds,
) -> Option<ScalarValue> {
    let bounds = if upper {
        file.upper_bounds()
    } else {
        file.lower_bounds()
    };
    let datum = bounds.get(&id)?;
    let unusable = match datum.data_type() {
        Prim::Uuid => return uuid_bound(datum, target, uuid),
        Prim::Float | Prim::Double => {
            datum.is_nan() || file.nan_value_counts().get(&id) != Some(&0)
        }
        _ => false,
    };
    if unusable {
        return None;
    }
    let scalar = datum_to_scalar(datum, target)?;
    Some(match scalar {
        ScalarValue::Float32(Some(v)) if v.abs() == 0.0 => {
            ScalarValue::Float32(Some(if upper { 0.0 } else { -0.0 }))
        }
        ScalarValue::Float64(Some(v)) if v.abs() == 0.0 => {
            ScalarValue::Float64(Some(if upper { 0.0 } else { -0.0 }))
        }
        other => other,
    })
}

fn count_precision(value: u64, inexact: bool) -> Precision<usize> {
    match usize::try_from(value) {
        Ok(v) if inexact => Precision::Inexact(v),
        Ok(v) => Precision::Exact(v),
        Err(_) => Precision::Absent,
    }
}

/// Per-file statistics in DataFusion terms for the table schema `schema` (one
/// ColumnStatistics per top-level field, in order).
///
/// * `num_rows`: `Exact(record_count)`, or `Inexact` when `inexact` is true (e.g. the file
///   has row-level deletes applied on read, or the caller filters it further);
/// * `total_byte_size`: `Inexact(file_size_in_bytes)` (on-disk size, not Arrow size);
/// * per column with a field id: min/max from the lower/upper bounds as `Inexact` (Iceberg
///   string/binary bounds may be truncated; see the module docs for NaN and UUID rules),
///   `null_count` from `null_value_counts` as `Exact` (`Inexact` when `inexact`).
///
/// Nested (struct/list/map) columns, columns without a field id and columns without metrics
/// in this file get `ColumnStatistics::new_unknown()` (or whatever subset is known).
pub fn file_statistics(file: &DataFile, schema: &SchemaRef, inexact: bool) -> Statistics {
    let column_statistics = schema
        .fields()
        .iter()
        .map(|field| column_stats(file, field, inexact))
        .collect();
    Statistics {
        num_rows: count_precision(file.record_count(), inexact),
        total_byte_size: count_precision(file.file_size_in_bytes(), true),
        column_statistics,
    }
}

fn column_stats(file: &DataFile, field: &Field, inexact: bool) -> ColumnStatistics {
    let mut stats = ColumnStatistics::new_unknown();
    let target = field.data_type();
    if target.is_nested() {
        return stats;
    }
    let Some(id) = field_id(field) else {
        return stats;
    };
    if let Some(nulls) = file.null_value_counts().get(&id) {
        stats.null_count = count_precision(*nulls, inexact);
    }
    if let Some(min) = usable_bound(file, id, target, false, UuidBounds::Unused) {
        stats.min_value = Precision::Inexact(min);
    }
    if let Some(max) = usable_bound(file, id, target, true, UuidBounds::Unused) {
        stats.max_value = Precision::Inexact(max);
    }
    stats
}

/// A set of data files viewed as DataFusion [`PruningStatistics`] (one "container" per file,
/// in the order given), so a [`PruningPredicate`] built from the scan filters can drop files
/// at planning time.
///
/// Statistics arrays are built on demand, once per column the predicate needs. Unknown
/// values are nulls, which the predicate treats as "may match".
#[derive(Debug, Clone)]
pub struct FilePruningStats<'a> {
    files: &'a [&'a DataFile],
    schema: SchemaRef,
    /// How uuid bounds are read (not at all unless a conjunct allows it).
    uuid_bounds: UuidBounds,
}

impl<'a> FilePruningStats<'a> {
    /// Statistics for `files` (containers, in this order) against the table schema `schema`
    /// (whose top-level fields carry `PARQUET:field_id` metadata).
    pub fn new(files: &'a [&'a DataFile], schema: &SchemaRef) -> Self {
        Self {
            files,
            schema: Arc::clone(schema),
            uuid_bounds: UuidBounds::Unused,
        }
    }

    /// The same files, their uuid bounds read as `mode` says.
    fn with_uuid_bounds(&self, mode: UuidBounds) -> Self {
        Self {
            uuid_bounds: mode,
            ..self.clone()
        }
    }

    /// Whether any file bounds `column` with uuid values.
    fn is_uuid_column(&self, column: &str) -> bool {
        let Some((_, id)) = self.primitive_field(&Column::new_unqualified(column)) else {
            return false;
        };
        self.files.iter().any(|f| {
            f.lower_bounds()
                .get(&id)
                .or_else(|| f.upper_bounds().get(&id))
                .is_some_and(|d| matches!(d.data_type(), Prim::Uuid))
        })
    }

    /// The schema field named by `column` and its Iceberg field id, for non-nested columns.
    fn primitive_field(&self, column: &Column) -> Option<(&Field, i32)> {
        let field = self.schema.field_with_name(&column.name).ok()?;
        if field.data_type().is_nested() {
            return None;
        }
        Some((field, field_id(field)?))
    }

    /// One bound per file as an array of the column's exact type (null where unknown), or
    /// None when no file has a usable bound or the array cannot be built.
    fn bound_array(&self, column: &Column, upper: bool) -> Option<ArrayRef> {
        let (field, id) = self.primitive_field(column)?;
        let target = field.data_type();
        let null = ScalarValue::try_from(target).ok()?;
        let mut any_known = false;
        let scalars: Vec<ScalarValue> = self
            .files
            .iter()
            .map(
                |file| match usable_bound(file, id, target, upper, self.uuid_bounds) {
                    Some(bound) => {
                        any_known = true;
                        bound
                    }
                    None => null.clone(),
                },
            )
            .collect();
        if !any_known {
            return None;
        }
        let array = ScalarValue::iter_to_array(scalars).ok()?;
        (array.len() == self.files.len() && array.data_type() == target).then_some(array)
    }
}

impl PruningStatistics for FilePruningStats<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bound_array(column, false)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bound_array(column, true)
    }

    fn num_containers(&self) -> usize {
        self.files.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let (_, id) = self.primitive_field(column)?;
        let counts: UInt64Array = self
            .files
            .iter()
            .map(|file| file.null_value_counts().get(&id).copied())
            .collect();
        if counts.null_count() == counts.len() {
            return None;
        }
        Some(Arc::new(counts))
    }

    fn row_counts(&self, column: &Column) -> Option<ArrayRef> {
        self.schema.field_with_name(&column.name).ok()?;
        let counts: UInt64Array = self
            .files
            .iter()
            .map(|file| Some(file.record_count()))
            .collect();
        Some(Arc::new(counts))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// Returns, for each file, whether it may contain rows matching the conjunction of `filters`
/// (true = keep).
///
/// Each filter is split into its conjuncts; every conjunct has its column qualifiers
/// stripped, is type-coerced and simplified against `schema`, planned as a physical
/// expression and turned into a [`PruningPredicate`] evaluated over [`FilePruningStats`].
/// A file is dropped when any conjunct proves it cannot match. A conjunct that references a
/// column not in `schema`, or that fails anywhere along the way (unsupported expression,
/// type mismatch, unresolved placeholder, ...), simply prunes nothing; a panic keeps every
/// file. Pruning is only an optimisation and must never drop a file wrongly.
pub fn prune_files(files: &[&DataFile], schema: &SchemaRef, filters: &[Expr]) -> Vec<bool> {
    if files.is_empty() || filters.is_empty() {
        return vec![true; files.len()];
    }
    match catch_unwind(AssertUnwindSafe(|| prune_conjuncts(files, schema, filters))) {
        Ok(keep) if keep.len() == files.len() => keep,
        _ => vec![true; files.len()],
    }
}

/// Everything a single conjunct needs to be turned into a pruning result.
struct PruneContext<'s> {
    schema: &'s SchemaRef,
    df_schema: Arc<DFSchema>,
    simplifier: ExprSimplifier,
    props: ExecutionProps,
}

fn prune_conjuncts(files: &[&DataFile], schema: &SchemaRef, filters: &[Expr]) -> Vec<bool> {
    let mut keep = vec![true; files.len()];
    let Ok(df_schema) = DFSchema::try_from(Arc::clone(schema)) else {
        return keep;
    };
    let df_schema = Arc::new(df_schema);
    let ctx = PruneContext {
        schema,
        simplifier: ExprSimplifier::new(
            SimplifyContext::default().with_schema(Arc::clone(&df_schema)),
        ),
        df_schema,
        props: ExecutionProps::new(),
    };
    let stats = FilePruningStats::new(files, schema);
    for filter in filters {
        for conjunct in split_conjunction_owned(filter.clone()) {
            let Some(result) = prune_one(&ctx, conjunct, &stats) else {
                continue;
            };
            if result.len() != keep.len() {
                continue;
            }
            for (k, r) in keep.iter_mut().zip(result) {
                *k &= r;
            }
        }
    }
    keep
}

/// Pruning result of one conjunct, or None when it cannot be used.
fn prune_one(
    ctx: &PruneContext<'_>,
    expr: Expr,
    stats: &FilePruningStats<'_>,
) -> Option<Vec<bool>> {
    let expr = strip_qualifiers(expr)?;
    let all_known = expr
        .column_refs()
        .iter()
        .all(|c| ctx.schema.index_of(&c.name).is_ok());
    if !all_known {
        return None;
    }
    let df_schema: &DFSchema = &ctx.df_schema;
    let expr = ctx.simplifier.coerce(expr, df_schema).ok()?;
    let expr = ctx.simplifier.simplify(expr).ok()?;
    if expr.get_type(df_schema).ok()? != DataType::Boolean {
        return None;
    }
    // UUID bounds are in unsigned order or in older Java writers' signed-long order, and
    // nothing says which. A conjunct whose every uuid comparison is `=`, `!=` or `IN`
    // canonical literals holds exactly when it holds with the bounds and those literals
    // bit-flipped from one order into the other, so it is evaluated both ways and a file
    // is kept if either keeps it: the reading in the file's real order is right, and it
    // keeps every file that may match. Other conjuncts read no uuid bounds.
    let uuids: HashSet<String> = expr
        .column_refs()
        .iter()
        .map(|c| c.name.clone())
        .filter(|name| stats.is_uuid_column(name))
        .collect();
    if uuids.is_empty() || !uuid_faithful(&expr, &uuids) {
        return evaluate(ctx, &expr, stats);
    }
    let flipped = flip_uuid_literals(expr.clone(), &uuids)?;
    let unsigned = evaluate(ctx, &expr, &stats.with_uuid_bounds(UuidBounds::Unsigned))?;
    let signed = evaluate(
        ctx,
        &flipped,
        &stats.with_uuid_bounds(UuidBounds::SignedLongs),
    )?;
    (unsigned.len() == signed.len()).then(|| {
        unsigned
            .into_iter()
            .zip(signed)
            .map(|(a, b)| a || b)
            .collect()
    })
}

/// Which files `expr` (typed and simplified) may hold rows for, by `stats`; `None` when it
/// prunes nothing or cannot be evaluated.
fn evaluate(
    ctx: &PruneContext<'_>,
    expr: &Expr,
    stats: &FilePruningStats<'_>,
) -> Option<Vec<bool>> {
    let physical = create_physical_expr(expr, &ctx.df_schema, &ctx.props).ok()?;
    let predicate = PruningPredicate::try_new(physical, Arc::clone(ctx.schema)).ok()?;
    if predicate.always_true() {
        return None;
    }
    predicate.prune(stats).ok()
}

/// The bytes of `e` when it is a string literal holding a canonical UUID.
fn canonical_literal(e: &Expr) -> Option<[u8; 16]> {
    let Expr::Literal(value, _) = e else {
        return None;
    };
    crate::uuid_text::canonical(value.try_as_str()??)
}

fn uuid_operand(e: &Expr, uuids: &HashSet<String>) -> bool {
    matches!(e, Expr::Column(c) if uuids.contains(&c.name))
}

/// Whether every reference in `e` to a column of `uuids` is an operand of `=` or `!=`
/// with a canonical literal, of `[NOT] IN` a list of them, or of `IS [NOT] NULL`: the
/// comparisons that flipping bits 127 and 63 of both sides leaves true or false as they
/// were (ranges it does not).
fn uuid_faithful(e: &Expr, uuids: &HashSet<String>) -> bool {
    match e {
        Expr::BinaryExpr(b)
            if matches!(b.op, Operator::Eq | Operator::NotEq)
                && ((uuid_operand(&b.left, uuids) && canonical_literal(&b.right).is_some())
                    || (uuid_operand(&b.right, uuids) && canonical_literal(&b.left).is_some())) =>
        {
            true
        }
        Expr::InList(l) if uuid_operand(&l.expr, uuids) => {
            l.list.iter().all(|v| canonical_literal(v).is_some())
        }
        Expr::IsNull(x) | Expr::IsNotNull(x) if uuid_operand(x, uuids) => true,
        Expr::Column(c) => !uuids.contains(&c.name),
        other => {
            let mut faithful = true;
            let _ = other.apply_children(|child| {
                faithful = uuid_faithful(child, uuids);
                Ok(if faithful {
                    TreeNodeRecursion::Continue
                } else {
                    TreeNodeRecursion::Stop
                })
            });
            faithful
        }
    }
}

/// `e` bit-flipped as [`UuidBounds::SignedLongs`] flips the bounds, when it is a
/// canonical UUID literal; otherwise `e`.
fn flip_literal(e: Expr) -> Expr {
    match canonical_literal(&e) {
        Some(bytes) => Expr::Literal(
            ScalarValue::Utf8(Some(crate::uuid_text::text_of_u128(
                u128::from_be_bytes(bytes) ^ SIGN_BITS,
            ))),
            None,
        ),
        None => e,
    }
}

/// `expr` with every canonical literal compared with a column of `uuids` bit-flipped
/// ([`flip_literal`]).
fn flip_uuid_literals(expr: Expr, uuids: &HashSet<String>) -> Option<Expr> {
    expr.transform_up(|e| {
        Ok(match e {
            Expr::BinaryExpr(b)
                if uuid_operand(&b.left, uuids) || uuid_operand(&b.right, uuids) =>
            {
                let BinaryExpr { left, op, right } = b;
                Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(flip_literal(*left)),
                    op,
                    Box::new(flip_literal(*right)),
                )))
            }
            Expr::InList(l) if uuid_operand(&l.expr, uuids) => {
                let InList {
                    expr,
                    list,
                    negated,
                } = l;
                Transformed::yes(Expr::InList(InList::new(
                    expr,
                    list.into_iter().map(flip_literal).collect(),
                    negated,
                )))
            }
            other => Transformed::no(other),
        })
    })
    .data()
    .ok()
}

/// Rewrites every column reference to its unqualified form.
fn strip_qualifiers(expr: Expr) -> Option<Expr> {
    expr.transform(|e| match e {
        Expr::Column(c) if c.relation.is_some() => Ok(Transformed::yes(Expr::Column(
            Column::new_unqualified(c.name),
        ))),
        other => Ok(Transformed::no(other)),
    })
    .data()
    .ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use datafusion::arrow::array::{Float64Array, Int32Array, StringArray};
    use datafusion::arrow::datatypes::{Fields, Schema};
    use datafusion::logical_expr::{col, lit, placeholder};
    use iceberg::spec::{DataContentType, DataFileBuilder, DataFileFormat, Struct};

    use super::*;

    // ---------------------------------------------------------------- helpers

    fn field(name: &str, data_type: DataType, id: i32) -> Field {
        Field::new(name, data_type, true).with_metadata(HashMap::from([(
            PARQUET_FIELD_ID_META_KEY.to_string(),
            id.to_string(),
        )]))
    }

    /// a: int (1), s: string (2), d: double (3).
    fn table_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            field("a", DataType::Int32, 1),
            field("s", DataType::Utf8, 2),
            field("d", DataType::Float64, 3),
        ]))
    }

    #[derive(Default)]
    struct Metrics {
        lower: Vec<(i32, Datum)>,
        upper: Vec<(i32, Datum)>,
        nulls: Vec<(i32, u64)>,
        nans: Vec<(i32, u64)>,
    }

    fn data_file(path: &str, rows: u64, m: Metrics) -> DataFile {
        DataFileBuilder::default()
            .content(DataContentType::Data)
            .file_path(path.to_string())
            .file_format(DataFileFormat::Parquet)
            .partition(Struct::empty())
            .record_count(rows)
            .file_size_in_bytes(4096)
            .lower_bounds(m.lower.into_iter().collect())
            .upper_bounds(m.upper.into_iter().collect())
            .null_value_counts(m.nulls.into_iter().collect())
            .nan_value_counts(m.nans.into_iter().collect())
            .build()
            .expect("valid data file")
    }

    fn decimal(mantissa: i128, precision: u32, scale: u32) -> Datum {
        Datum::try_from_bytes(&mantissa.to_be_bytes(), Prim::Decimal { precision, scale })
            .expect("decimal datum")
    }

    fn utc() -> Option<Arc<str>> {
        Some("+00:00".into())
    }

    /// f1: a ∈ [1,5], s ∈ ["a","c"], d ∈ [0,1] (no NaN), no nulls.
    /// f2: a ∈ [11,20] with 2 nulls, s ∈ ["x","x"].
    /// f3: no metrics at all.
    /// f4: a ∈ [5,5], no nulls in a, nothing for s/d.
    fn sample_files() -> Vec<DataFile> {
        vec![
            data_file(
                "f1",
                100,
                Metrics {
                    lower: vec![
                        (1, Datum::int(1)),
                        (2, Datum::string("a")),
                        (3, Datum::double(0.0)),
                    ],
                    upper: vec![
                        (1, Datum::int(5)),
                        (2, Datum::string("c")),
                        (3, Datum::double(1.0)),
                    ],
                    nulls: vec![(1, 0), (2, 0), (3, 0)],
                    nans: vec![(3, 0)],
                },
            ),
            data_file(
                "f2",
                100,
                Metrics {
                    lower: vec![(1, Datum::int(11)), (2, Datum::string("x"))],
                    upper: vec![(1, Datum::int(20)), (2, Datum::string("x"))],
                    nulls: vec![(1, 2), (2, 0)],
                    nans: vec![],
                },
            ),
            data_file("f3", 10, Metrics::default()),
            data_file(
                "f4",
                100,
                Metrics {
                    lower: vec![(1, Datum::int(5))],
                    upper: vec![(1, Datum::int(5))],
                    nulls: vec![(1, 0)],
                    nans: vec![],
                },
            ),
        ]
    }

    fn keep(files: &[DataFile], filters: &[Expr]) -> Vec<bool> {
        let refs: Vec<&DataFile> = files.iter().collect();
        prune_files(&refs, &table_schema(), filters)
    }

    // ---------------------------------------------------------------- datum_to_scalar

    #[test]
    fn converts_booleans_and_integers() {
        assert_eq!(
            datum_to_scalar(&Datum::bool(true), &DataType::Boolean),
            Some(ScalarValue::Boolean(Some(true)))
        );
        assert_eq!(datum_to_scalar(&Datum::bool(true), &DataType::Int32), None);

        assert_eq!(
            datum_to_scalar(&Datum::int(7), &DataType::Int32),
            Some(ScalarValue::Int32(Some(7)))
        );
        // int → long promotion.
        assert_eq!(
            datum_to_scalar(&Datum::int(-7), &DataType::Int64),
            Some(ScalarValue::Int64(Some(-7)))
        );
        assert_eq!(
            datum_to_scalar(&Datum::long(1i64 << 40), &DataType::Int64),
            Some(ScalarValue::Int64(Some(1i64 << 40)))
        );
        // No narrowing, no cross-family conversion.
        assert_eq!(datum_to_scalar(&Datum::long(1), &DataType::Int32), None);
        assert_eq!(datum_to_scalar(&Datum::int(1), &DataType::Utf8), None);
        assert_eq!(datum_to_scalar(&Datum::int(1), &DataType::Float64), None);
        assert_eq!(datum_to_scalar(&Datum::string("1"), &DataType::Int64), None);
        assert_eq!(datum_to_scalar(&Datum::int(1), &DataType::Int16), None);
    }

    #[test]
    fn converts_floats() {
        assert_eq!(
            datum_to_scalar(&Datum::float(1.5f32), &DataType::Float32),
            Some(ScalarValue::Float32(Some(1.5)))
        );
        // float → double promotion.
        assert_eq!(
            datum_to_scalar(&Datum::float(1.5f32), &DataType::Float64),
            Some(ScalarValue::Float64(Some(1.5)))
        );
        assert_eq!(
            datum_to_scalar(&Datum::double(2.25), &DataType::Float64),
            Some(ScalarValue::Float64(Some(2.25)))
        );
        assert_eq!(
            datum_to_scalar(&Datum::double(2.25), &DataType::Float32),
            None
        );
        assert_eq!(datum_to_scalar(&Datum::double(2.0), &DataType::Int64), None);
    }

    #[test]
    fn converts_decimals() {
        let d = decimal(1234, 10, 2); // 12.34
        assert_eq!(
            datum_to_scalar(&d, &DataType::Decimal128(10, 2)),
            Some(ScalarValue::Decimal128(Some(1234), 10, 2))
        );
        // Precision widening keeps the value.
        assert_eq!(
            datum_to_scalar(&d, &DataType::Decimal128(20, 2)),
            Some(ScalarValue::Decimal128(Some(1234), 20, 2))
        );
        // Scaling up is exact.
        assert_eq!(
            datum_to_scalar(&d, &DataType::Decimal128(10, 4)),
            Some(ScalarValue::Decimal128(Some(123_400), 10, 4))
        );
        // Scaling down only when nothing is lost.
        assert_eq!(datum_to_scalar(&d, &DataType::Decimal128(10, 1)), None);
        assert_eq!(
            datum_to_scalar(&decimal(1230, 10, 2), &DataType::Decimal128(10, 1)),
            Some(ScalarValue::Decimal128(Some(123), 10, 1))
        );
        // Does not fit the target precision.
        assert_eq!(datum_to_scalar(&d, &DataType::Decimal128(3, 2)), None);
        assert_eq!(
            datum_to_scalar(&decimal(-999, 3, 2), &DataType::Decimal128(3, 2)),
            Some(ScalarValue::Decimal128(Some(-999), 3, 2))
        );
        assert_eq!(datum_to_scalar(&d, &DataType::Float64), None);
        assert_eq!(
            datum_to_scalar(&Datum::int(5), &DataType::Decimal128(10, 0)),
            None
        );
    }

    #[test]
    fn converts_dates_times_and_timestamps() {
        assert_eq!(
            datum_to_scalar(&Datum::date(19_000), &DataType::Date32),
            Some(ScalarValue::Date32(Some(19_000)))
        );
        assert_eq!(
            datum_to_scalar(
                &Datum::time_micros(3_000).unwrap(),
                &DataType::Time64(TimeUnit::Microsecond)
            ),
            Some(ScalarValue::Time64Microsecond(Some(3_000)))
        );
        assert_eq!(datum_to_scalar(&Datum::date(1), &DataType::Int32), None);

        let ts = Datum::timestamp_micros(1_000);
        assert_eq!(
            datum_to_scalar(&ts, &DataType::Timestamp(TimeUnit::Microsecond, None)),
            Some(ScalarValue::TimestampMicrosecond(Some(1_000), None))
        );
        assert_eq!(
            datum_to_scalar(&ts, &DataType::Timestamp(TimeUnit::Nanosecond, None)),
            Some(ScalarValue::TimestampNanosecond(Some(1_000_000), None))
        );
        // timestamp (no zone) never becomes a zoned timestamp, and vice versa.
        assert_eq!(
            datum_to_scalar(&ts, &DataType::Timestamp(TimeUnit::Microsecond, utc())),
            None
        );
        let tstz = Datum::timestamptz_micros(5);
        assert_eq!(
            datum_to_scalar(&tstz, &DataType::Timestamp(TimeUnit::Microsecond, utc())),
            Some(ScalarValue::TimestampMicrosecond(Some(5), utc()))
        );
        assert_eq!(
            datum_to_scalar(&tstz, &DataType::Timestamp(TimeUnit::Microsecond, None)),
            None
        );

        // Nanosecond variants: exact unit changes only.
        let ns = Datum::timestamp_nanos(2_000);
        assert_eq!(
            datum_to_scalar(&ns, &DataType::Timestamp(TimeUnit::Nanosecond, None)),
            Some(ScalarValue::TimestampNanosecond(Some(2_000), None))
        );
        assert_eq!(
            datum_to_scalar(&ns, &DataType::Timestamp(TimeUnit::Microsecond, None)),
            Some(ScalarValue::TimestampMicrosecond(Some(2), None))
        );
        assert_eq!(
            datum_to_scalar(
                &Datum::timestamp_nanos(1_500),
                &DataType::Timestamp(TimeUnit::Microsecond, None)
            ),
            None
        );
        assert_eq!(
            datum_to_scalar(
                &Datum::timestamptz_nanos(7),
                &DataType::Timestamp(TimeUnit::Nanosecond, utc())
            ),
            Some(ScalarValue::TimestampNanosecond(Some(7), utc()))
        );
        // Overflow is refused, not wrapped.
        assert_eq!(
            datum_to_scalar(
                &Datum::timestamp_micros(i64::MAX),
                &DataType::Timestamp(TimeUnit::Nanosecond, None)
            ),
            None
        );
        // Iceberg v3 date → timestamp promotion.
        assert_eq!(
            datum_to_scalar(
                &Datum::date(1),
                &DataType::Timestamp(TimeUnit::Microsecond, None)
            ),
            Some(ScalarValue::TimestampMicrosecond(
                Some(86_400_000_000),
                None
            ))
        );
    }

    #[test]
    fn converts_strings_and_binaries() {
        let s = Datum::string("x");
        assert_eq!(
            datum_to_scalar(&s, &DataType::Utf8),
            Some(ScalarValue::Utf8(Some("x".into())))
        );
        assert_eq!(
            datum_to_scalar(&s, &DataType::LargeUtf8),
            Some(ScalarValue::LargeUtf8(Some("x".into())))
        );
        assert_eq!(
            datum_to_scalar(&s, &DataType::Utf8View),
            Some(ScalarValue::Utf8View(Some("x".into())))
        );
        assert_eq!(datum_to_scalar(&s, &DataType::Binary), None);

        let b = Datum::binary(vec![1u8, 2]);
        assert_eq!(
            datum_to_scalar(&b, &DataType::Binary),
            Some(ScalarValue::Binary(Some(vec![1, 2])))
        );
        assert_eq!(
            datum_to_scalar(&b, &DataType::LargeBinary),
            Some(ScalarValue::LargeBinary(Some(vec![1, 2])))
        );
        assert_eq!(datum_to_scalar(&b, &DataType::Utf8), None);

        let f = Datum::fixed(vec![1u8, 2, 3]);
        assert_eq!(
            datum_to_scalar(&f, &DataType::FixedSizeBinary(3)),
            Some(ScalarValue::FixedSizeBinary(3, Some(vec![1, 2, 3])))
        );
        assert_eq!(datum_to_scalar(&f, &DataType::FixedSizeBinary(4)), None);
        assert_eq!(
            datum_to_scalar(&f, &DataType::Binary),
            Some(ScalarValue::Binary(Some(vec![1, 2, 3])))
        );

        let bytes: Vec<u8> = (0u8..16).collect();
        let uuid = Datum::try_from_bytes(&bytes, Prim::Uuid).expect("uuid datum");
        assert_eq!(
            datum_to_scalar(&uuid, &DataType::FixedSizeBinary(16)),
            Some(ScalarValue::FixedSizeBinary(16, Some(bytes.clone())))
        );
        assert_eq!(
            datum_to_scalar(&uuid, &DataType::Binary),
            Some(ScalarValue::Binary(Some(bytes)))
        );
        assert_eq!(datum_to_scalar(&uuid, &DataType::FixedSizeBinary(8)), None);
        assert_eq!(
            datum_to_scalar(&uuid, &DataType::Utf8),
            Some(ScalarValue::Utf8(Some(
                "00010203-0405-0607-0809-0a0b0c0d0e0f".to_string()
            )))
        );
        assert_eq!(datum_to_scalar(&uuid, &DataType::Int64), None);
    }

    // ---------------------------------------------------------------- file_statistics

    #[test]
    fn file_statistics_maps_metrics() {
        let schema = Arc::new(Schema::new(vec![
            field("a", DataType::Int32, 1),
            field("s", DataType::Utf8, 2),
            field("d", DataType::Float64, 3),
            field(
                "n",
                DataType::Struct(Fields::from(vec![field("x", DataType::Int32, 5)])),
                4,
            ),
            Field::new("no_id", DataType::Int64, true),
            field("missing", DataType::Int64, 6),
        ]));
        let file = data_file(
            "f",
            100,
            Metrics {
                lower: vec![
                    (1, Datum::int(1)),
                    (2, Datum::string("apple")),
                    (3, Datum::double(0.5)),
                ],
                upper: vec![
                    (1, Datum::int(50)),
                    (2, Datum::string("pear")),
                    (3, Datum::double(9.5)),
                ],
                nulls: vec![(1, 0), (2, 5), (3, 1), (4, 2), (5, 2)],
                nans: vec![(3, 2)],
            },
        );

        let st = file_statistics(&file, &schema, false);
        assert_eq!(st.num_rows, Precision::Exact(100));
        assert_eq!(st.total_byte_size, Precision::Inexact(4096));
        assert_eq!(st.column_statistics.len(), 6);

        let a = &st.column_statistics[0];
        assert_eq!(a.min_value, Precision::Inexact(ScalarValue::Int32(Some(1))));
        assert_eq!(
            a.max_value,
            Precision::Inexact(ScalarValue::Int32(Some(50)))
        );
        assert_eq!(a.null_count, Precision::Exact(0));

        let s = &st.column_statistics[1];
        assert_eq!(
            s.min_value,
            Precision::Inexact(ScalarValue::Utf8(Some("apple".into())))
        );
        assert_eq!(
            s.max_value,
            Precision::Inexact(ScalarValue::Utf8(Some("pear".into())))
        );
        assert_eq!(s.null_count, Precision::Exact(5));

        // NaNs present: bounds are not reported, the null count still is.
        let d = &st.column_statistics[2];
        assert_eq!(d.min_value, Precision::Absent);
        assert_eq!(d.max_value, Precision::Absent);
        assert_eq!(d.null_count, Precision::Exact(1));

        assert_eq!(st.column_statistics[3], ColumnStatistics::new_unknown());
        assert_eq!(st.column_statistics[4], ColumnStatistics::new_unknown());
        assert_eq!(st.column_statistics[5], ColumnStatistics::new_unknown());

        let st = file_statistics(&file, &schema, true);
        assert_eq!(st.num_rows, Precision::Inexact(100));
        assert_eq!(st.column_statistics[0].null_count, Precision::Inexact(0));
        assert_eq!(
            st.column_statistics[0].min_value,
            Precision::Inexact(ScalarValue::Int32(Some(1)))
        );
    }

    #[test]
    fn file_statistics_float_bounds_need_a_zero_nan_count() {
        let schema = Arc::new(Schema::new(vec![field("d", DataType::Float64, 3)]));
        let bounds = |nans: Vec<(i32, u64)>| {
            data_file(
                "f",
                10,
                Metrics {
                    lower: vec![(3, Datum::double(0.0))],
                    upper: vec![(3, Datum::double(2.0))],
                    nulls: vec![],
                    nans,
                },
            )
        };
        let clean = file_statistics(&bounds(vec![(3, 0)]), &schema, false);
        // A zero lower bound is widened to -0.0.
        let Precision::Inexact(ScalarValue::Float64(Some(min))) =
            &clean.column_statistics[0].min_value
        else {
            panic!("expected a float lower bound");
        };
        assert!(*min == 0.0 && min.is_sign_negative());
        assert_eq!(
            clean.column_statistics[0].max_value,
            Precision::Inexact(ScalarValue::Float64(Some(2.0)))
        );
        // NaN count unknown: bounds not trusted.
        let unknown = file_statistics(&bounds(vec![]), &schema, false);
        assert_eq!(unknown.column_statistics[0].min_value, Precision::Absent);
        assert_eq!(unknown.column_statistics[0].max_value, Precision::Absent);
    }

    // ---------------------------------------------------------------- FilePruningStats

    #[test]
    fn pruning_stats_arrays() {
        let files = sample_files();
        let refs: Vec<&DataFile> = files.iter().collect();
        let schema = table_schema();
        let stats = FilePruningStats::new(&refs, &schema);
        assert_eq!(stats.num_containers(), 4);

        let min = stats
            .min_values(&Column::from_name("a"))
            .expect("a has bounds");
        let min = min
            .as_any()
            .downcast_ref::<Int32Array>()
            .expect("Int32 array");
        assert_eq!(
            min.iter().collect::<Vec<_>>(),
            vec![Some(1), Some(11), None, Some(5)]
        );

        let max = stats
            .max_values(&Column::from_name("s"))
            .expect("s has bounds");
        let max = max
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("Utf8 array");
        assert_eq!(
            max.iter().collect::<Vec<_>>(),
            vec![Some("c"), Some("x"), None, None]
        );

        let dmin = stats
            .min_values(&Column::from_name("d"))
            .expect("d has bounds in f1");
        let dmin = dmin
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("Float64 array");
        assert_eq!(dmin.len(), 4);
        assert!(dmin.is_valid(0) && dmin.is_null(1) && dmin.is_null(2) && dmin.is_null(3));

        let nulls = stats
            .null_counts(&Column::from_name("a"))
            .expect("a has null counts");
        let nulls = nulls
            .as_any()
            .downcast_ref::<UInt64Array>()
            .expect("UInt64 array");
        assert_eq!(
            nulls.iter().collect::<Vec<_>>(),
            vec![Some(0), Some(2), None, Some(0)]
        );

        let rows = stats
            .row_counts(&Column::from_name("a"))
            .expect("row counts");
        let rows = rows
            .as_any()
            .downcast_ref::<UInt64Array>()
            .expect("UInt64 array");
        assert_eq!(
            rows.iter().collect::<Vec<_>>(),
            vec![Some(100), Some(100), Some(10), Some(100)]
        );

        assert!(stats.min_values(&Column::from_name("zzz")).is_none());
        assert!(stats.null_counts(&Column::from_name("zzz")).is_none());
        assert!(stats.row_counts(&Column::from_name("zzz")).is_none());
        assert!(
            stats
                .contained(&Column::from_name("a"), &HashSet::new())
                .is_none()
        );
    }

    // ---------------------------------------------------------------- prune_files

    #[test]
    fn prunes_on_range() {
        let files = sample_files();
        assert_eq!(
            keep(&files, &[col("a").gt(lit(10))]),
            vec![false, true, true, false]
        );
        // A wider literal is coerced (and the cast unwrapped) before pruning.
        assert_eq!(
            keep(&files, &[col("a").gt(lit(10i64))]),
            vec![false, true, true, false]
        );
        // Qualified columns are accepted.
        assert_eq!(
            keep(&files, &[col("t.a").gt(lit(10))]),
            vec![false, true, true, false]
        );
    }

    #[test]
    fn prunes_on_equality() {
        let files = sample_files();
        assert_eq!(
            keep(&files, &[col("a").eq(lit(5))]),
            vec![true, false, true, true]
        );
        assert_eq!(
            keep(&files, &[col("s").eq(lit("x"))]),
            vec![false, true, true, true]
        );
    }

    #[test]
    fn prunes_on_or_and_conjunctions() {
        let files = sample_files();
        let either = col("a").lt(lit(2)).or(col("a").gt(lit(18)));
        assert_eq!(keep(&files, &[either]), vec![true, true, true, false]);
        let neither = col("a").eq(lit(7)).or(col("a").eq(lit(30)));
        assert_eq!(keep(&files, &[neither]), vec![false, false, true, false]);
        // Several filters (and AND inside one filter) are all applied.
        let both = col("a").gt(lit(3)).and(col("s").eq(lit("x")));
        assert_eq!(keep(&files, &[both]), vec![false, true, true, true]);
        assert_eq!(
            keep(&files, &[col("a").gt(lit(3)), col("a").lt(lit(15))]),
            vec![true, true, true, true]
        );
        assert_eq!(
            keep(&files, &[col("a").gt(lit(3)), col("a").lt(lit(5))]),
            vec![true, false, true, false]
        );
    }

    #[test]
    fn prunes_on_null_counts() {
        let files = sample_files();
        assert_eq!(
            keep(&files, &[col("a").is_null()]),
            vec![false, true, true, false]
        );
        assert_eq!(
            keep(&files, &[col("a").is_not_null()]),
            vec![true, true, true, true]
        );
    }

    #[test]
    fn unsupported_filters_keep_everything() {
        let files = sample_files();
        let all = vec![true; files.len()];
        // Not expressible over min/max.
        assert_eq!(keep(&files, &[(col("a") % lit(2)).eq(lit(0))]), all);
        // Unknown column: skipped.
        assert_eq!(keep(&files, &[col("zzz").gt(lit(1))]), all);
        // Unbound placeholder: cannot be planned, skipped.
        assert_eq!(keep(&files, &[col("a").gt(placeholder("$1"))]), all);
        // Type mismatch that coercion cannot fix.
        assert_eq!(keep(&files, &[col("a").eq(lit(vec![1u8, 2]))]), all);
        // A skipped filter does not stop the others from pruning.
        assert_eq!(
            keep(&files, &[col("zzz").gt(lit(1)), col("a").gt(lit(10))]),
            vec![false, true, true, false]
        );
        assert_eq!(keep(&files, &[]), all);
        assert!(prune_files(&[], &table_schema(), &[col("a").gt(lit(1))]).is_empty());
    }

    #[test]
    fn nan_and_signed_zero_are_conservative() {
        let bounds = |lower: f64, upper: f64, nans: Vec<(i32, u64)>| {
            data_file(
                "f",
                10,
                Metrics {
                    lower: vec![(3, Datum::double(lower))],
                    upper: vec![(3, Datum::double(upper))],
                    nulls: vec![(3, 0)],
                    nans,
                },
            )
        };
        let files = vec![
            bounds(0.0, 1.0, vec![(3, 4)]), // has NaNs: NaN > 5 under Arrow's total order
            bounds(0.0, 1.0, vec![(3, 0)]), // no NaNs: can be dropped
            bounds(0.0, 1.0, vec![]),       // NaN count unknown: kept
        ];
        assert_eq!(
            keep(&files, &[col("d").gt(lit(5.0))]),
            vec![true, false, true]
        );

        // Bounds [0.0, 0.0] may hide -0.0, which Arrow orders below 0.0.
        let zeros = vec![bounds(0.0, 0.0, vec![(3, 0)])];
        assert_eq!(keep(&zeros, &[col("d").lt(lit(0.0))]), vec![true]);
        assert_eq!(keep(&zeros, &[col("d").gt(lit(0.5))]), vec![false]);
    }

    // ---------------------------------------------------------------- uuid pruning

    /// The uuid whose first byte is `b`, every other byte zero.
    fn uuid_from(b: u8) -> u128 {
        u128::from(b) << 120
    }

    fn uuid_literal(b: u8) -> Expr {
        lit(crate::uuid_text::text_of_u128(uuid_from(b)))
    }

    #[test]
    fn uuid_equality_prunes_in_either_bound_order_and_ranges_never() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![field("u", DataType::Utf8, 1)]));
        let file = |name: &str, lower: u8, upper: u8| {
            data_file(
                name,
                10,
                Metrics {
                    lower: vec![(1, Datum::uuid(uuid::Uuid::from_u128(uuid_from(lower))))],
                    upper: vec![(1, Datum::uuid(uuid::Uuid::from_u128(uuid_from(upper))))],
                    nulls: vec![(1, 0)],
                    nans: vec![],
                },
            )
        };
        // g1, g2: bounds in unsigned order. g3: bounds of {0x05.., 0xf0..} as an older
        // Java writer ordered them (as signed longs, 0xf0.. is the smaller).
        let files = [
            file("g1", 0x10, 0x20),
            file("g2", 0x30, 0x40),
            file("g3", 0xf0, 0x05),
        ];
        let refs: Vec<&DataFile> = files.iter().collect();
        let keep = |e: Expr| prune_files(&refs, &schema, &[e]);
        assert_eq!(
            keep(col("u").eq(uuid_literal(0x15))),
            vec![true, false, false]
        );
        assert_eq!(
            keep(col("u").eq(uuid_literal(0x05))),
            vec![false, false, true]
        );
        assert_eq!(
            keep(uuid_literal(0xf0).eq(col("u"))),
            vec![false, false, true]
        );
        assert_eq!(
            keep(col("u").in_list(vec![uuid_literal(0x35), uuid_literal(0x05)], false)),
            vec![false, true, true]
        );
        // A literal in another spelling compares as text: no pruning.
        let upper = crate::uuid_text::text_of_u128(uuid_from(0x1a)).to_uppercase();
        assert!(upper.starts_with("1A"), "{upper}");
        assert_eq!(keep(col("u").eq(lit(upper))), vec![true, true, true]);
        // Ranges read no uuid bounds, and neither do file statistics.
        assert_eq!(
            keep(col("u").gt(uuid_literal(0x50))),
            vec![true, true, true]
        );
        let stats = file_statistics(&files[0], &schema, false);
        assert_eq!(stats.column_statistics[0].min_value, Precision::Absent);
        assert_eq!(stats.column_statistics[0].max_value, Precision::Absent);
    }
}
