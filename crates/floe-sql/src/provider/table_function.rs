//! `floe_table(name, version)`: time travel for SQL that never passes through floe's
//! front end (an application's own `SessionContext`, where `FOR VERSION AS OF` cannot
//! be parsed). `version` is a snapshot id, a tag, branch or release name, or a
//! `TIMESTAMP`; the table is read as of that version with its historical schema, through
//! the same resolution (and so with the same errors) as the SQL clause.
//!
//! One function serves every floe catalog of a context: `name` is resolved like any table
//! name of that context (its default catalog and schema fill in missing parts), and the
//! catalog it names must be a floe catalog.

use std::sync::{Arc, Weak};

use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, TableReference, plan_err};
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use parking_lot::RwLock;

use super::FloeCatalogProvider;
use crate::time_travel::{VersionSpec, encode};

/// Name under which [`FloeTableFunction`] is registered.
pub const FLOE_TABLE: &str = "floe_table";

/// The `floe_table` table function of one context.
#[derive(Debug)]
pub struct FloeTableFunction {
    /// The context's state (weak: the state owns this function), read at each call for
    /// its catalogs and its current default catalog and schema.
    state: Weak<RwLock<SessionState>>,
}

impl FloeTableFunction {
    /// Registers `floe_table` in `ctx` (again, harmlessly, for each floe catalog added).
    pub fn register(ctx: &SessionContext) {
        let state = Arc::downgrade(&ctx.state_ref());
        ctx.register_udtf(FLOE_TABLE, Arc::new(Self { state }));
    }
}

/// The version argument as a version clause would read it.
fn version_spec(arg: &Expr) -> Result<VersionSpec> {
    let Expr::Literal(value, _) = arg else {
        return plan_err!(
            "{FLOE_TABLE}: the version must be a constant (a snapshot id, a tag, branch or release name, or a TIMESTAMP), not {arg}"
        );
    };
    let spec = match value {
        ScalarValue::Int8(Some(v)) => VersionSpec::Snapshot(i64::from(*v)),
        ScalarValue::Int16(Some(v)) => VersionSpec::Snapshot(i64::from(*v)),
        ScalarValue::Int32(Some(v)) => VersionSpec::Snapshot(i64::from(*v)),
        ScalarValue::Int64(Some(v)) => VersionSpec::Snapshot(*v),
        ScalarValue::UInt8(Some(v)) => VersionSpec::Snapshot(i64::from(*v)),
        ScalarValue::UInt16(Some(v)) => VersionSpec::Snapshot(i64::from(*v)),
        ScalarValue::UInt32(Some(v)) => VersionSpec::Snapshot(i64::from(*v)),
        ScalarValue::UInt64(Some(v)) => match i64::try_from(*v) {
            Ok(v) => VersionSpec::Snapshot(v),
            Err(_) => return plan_err!("{FLOE_TABLE}: snapshot id {v} is out of range"),
        },
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => VersionSpec::Ref(s.clone()),
        // Stored as UTC instants; one without a time zone is read as UTC, as
        // `FOR TIMESTAMP AS OF` reads it.
        ScalarValue::TimestampSecond(Some(v), _) => match v.checked_mul(1000) {
            Some(ms) => VersionSpec::Timestamp(ms),
            None => return plan_err!("{FLOE_TABLE}: the timestamp is out of range"),
        },
        ScalarValue::TimestampMillisecond(Some(v), _) => VersionSpec::Timestamp(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => VersionSpec::Timestamp(v.div_euclid(1000)),
        ScalarValue::TimestampNanosecond(Some(v), _) => {
            VersionSpec::Timestamp(v.div_euclid(1_000_000))
        }
        v if v.is_null() => {
            return plan_err!(
                "{FLOE_TABLE}: the version is NULL; name a snapshot id, a tag, branch or release, or a TIMESTAMP"
            );
        }
        v => {
            return plan_err!(
                "{FLOE_TABLE}: a version is a snapshot id, a tag, branch or release name, or a TIMESTAMP, not a value of type {}",
                v.data_type()
            );
        }
    };
    Ok(spec)
}

/// Runs `work` (which does catalog and file I/O) to completion from synchronous code
/// running on any runtime: on a thread of its own with a runtime of its own, so it never
/// blocks the caller's runtime from driving it (a current-thread runtime would deadlock).
fn run_io<T: Send>(work: impl Future<Output = Result<T>> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?
                .block_on(work)
        })
        .join()
        .unwrap_or_else(|_| plan_err!("{FLOE_TABLE}: reading the table failed unexpectedly"))
    })
}

impl TableFunctionImpl for FloeTableFunction {
    fn call(&self, args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let [name, version] = args else {
            return plan_err!(
                "{FLOE_TABLE} takes 2 arguments (table name, version), like {FLOE_TABLE}('lake.public.t', 'v1'); got {}",
                args.len()
            );
        };
        let name = match name {
            Expr::Literal(
                ScalarValue::Utf8(Some(s))
                | ScalarValue::Utf8View(Some(s))
                | ScalarValue::LargeUtf8(Some(s)),
                _,
            ) => s.clone(),
            other => {
                return plan_err!(
                    "{FLOE_TABLE}: the first argument is the table's name as a string, like 'lake.public.t', not {other}"
                );
            }
        };
        let spec = version_spec(version)?;
        let Some(state) = self.state.upgrade() else {
            return plan_err!("{FLOE_TABLE}: the context it was registered in no longer exists");
        };
        let (catalogs, default_catalog, default_schema) = {
            let state = state.read();
            let options = state.config().options();
            (
                state.catalog_list().clone(),
                options.catalog.default_catalog.clone(),
                options.catalog.default_schema.clone(),
            )
        };
        if name.contains('/') {
            return plan_err!("{FLOE_TABLE}: '{name}' is not a table name");
        }
        let resolved = TableReference::parse_str(&name).resolve(&default_catalog, &default_schema);
        let (catalog, schema, table) = (
            resolved.catalog.to_string(),
            resolved.schema.to_string(),
            resolved.table.to_string(),
        );
        let Some(provider) = catalogs.catalog(&catalog) else {
            return plan_err!("{FLOE_TABLE}: catalog '{catalog}' (of table '{name}') not found");
        };
        if provider
            .as_any()
            .downcast_ref::<FloeCatalogProvider>()
            .is_none()
        {
            return plan_err!(
                "{FLOE_TABLE}: time travel needs an Iceberg table; catalog '{catalog}' is not a floe catalog"
            );
        }
        let Some(schema_provider) = provider.schema(&schema) else {
            return plan_err!("{FLOE_TABLE}: schema '{catalog}.{schema}' not found");
        };
        let versioned = encode(&table, &spec);
        match run_io(async move { schema_provider.table(&versioned).await })? {
            Some(t) => Ok(t),
            None => plan_err!("{FLOE_TABLE}: table '{catalog}.{schema}.{table}' not found"),
        }
    }
}
