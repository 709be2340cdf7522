//! `CALL` procedures: `CALL name(args)` and `CALL floe.system.name(args)`.
//!
//! Each procedure is one file holding a [`Procedure`]: its name, parameters, one-line
//! doc and the function that runs it; [`REGISTRY`] lists them. Binding arguments to
//! parameters ([`args`]) is shared, so every procedure gets the same errors for an
//! unknown, duplicate, missing or mistyped argument. Every procedure returns a small
//! table describing what it did; `floe.system.procedures` lists them all.

mod args;
mod check;
mod create_ref;
mod drop_ref;
mod expire_snapshots;
mod register_table;
mod release;
mod remove_orphan_files;
mod rewrite_data_files;
mod rewrite_manifests;
mod rollback_release;
mod rollback_to_snapshot;
mod rollback_to_timestamp;
mod set_current_snapshot;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{Result, plan_err};
use futures::future::BoxFuture;
use iceberg::TableIdent;
use iceberg::spec::{MAIN_BRANCH, SnapshotReference, SnapshotRetention};
use iceberg::{TableRequirement, TableUpdate};

pub(crate) use args::{Args, Kind, Param, p};

use crate::error::to_df;
use crate::session::{Session, StatementOutput};

/// What runs a procedure: the session and its bound arguments.
pub(crate) type Run = for<'a> fn(&'a Session, Args) -> BoxFuture<'a, Result<StatementOutput>>;

/// One procedure of the registry.
pub(crate) struct Procedure {
    pub(crate) name: &'static str,
    /// Parameters in positional order.
    pub(crate) params: &'static [Param],
    /// One line for `floe.system.procedures`.
    pub(crate) doc: &'static str,
    /// Allowed between BEGIN and the end of the transaction (procedures that publish or
    /// only read; every other one commits on its own and would escape the transaction).
    pub(crate) in_transaction: bool,
    pub(crate) run: Run,
}

/// Every procedure, in the order `floe.system.procedures` lists them.
const REGISTRY: &[&Procedure] = &[
    &release::PROCEDURE,
    &rollback_release::PROCEDURE,
    &rollback_to_snapshot::PROCEDURE,
    &rollback_to_timestamp::PROCEDURE,
    &set_current_snapshot::PROCEDURE,
    &create_ref::CREATE_TAG,
    &create_ref::CREATE_BRANCH,
    &drop_ref::DROP_TAG,
    &drop_ref::DROP_BRANCH,
    &expire_snapshots::PROCEDURE,
    &remove_orphan_files::PROCEDURE,
    &register_table::PROCEDURE,
    &check::PROCEDURE,
    &rewrite_data_files::PROCEDURE,
    &rewrite_manifests::PROCEDURE,
];

fn find(name: &str) -> Result<&'static Procedure> {
    match REGISTRY.iter().find(|p| p.name == name) {
        Some(p) => Ok(p),
        None => {
            let all: Vec<&str> = REGISTRY.iter().map(|p| p.name).collect();
            plan_err!("unknown procedure '{name}'; available: {}", all.join(", "))
        }
    }
}

/// Runs a `CALL` statement.
pub async fn call(session: &Session, sql: &str) -> Result<StatementOutput> {
    let (name, raw) = args::parse_call(sql)?;
    let procedure = find(&name)?;
    let args = session.bind(procedure, raw).await?;
    if session.in_transaction() && !procedure.in_transaction {
        return plan_err!(
            "CALL {name} is not allowed inside a transaction; only CALL release(...) is (it publishes the transaction)"
        );
    }
    (procedure.run)(session, args).await
}

/// The rows of `floe.system.procedures`: name, arguments (`name type`, optional ones in
/// brackets), description.
pub(crate) fn listing() -> Result<RecordBatch> {
    let arguments = |p: &Procedure| {
        p.params
            .iter()
            .map(|a| {
                let spelled = format!("{} {}", a.name, a.kind.sql_name());
                if a.required {
                    spelled
                } else {
                    format!("[{spelled}]")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("procedure_name", DataType::Utf8, false),
        Field::new("arguments", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                REGISTRY.iter().map(|p| p.name),
            )),
            Arc::new(StringArray::from_iter_values(
                REGISTRY.iter().map(|p| arguments(p)),
            )),
            Arc::new(StringArray::from_iter_values(
                REGISTRY.iter().map(|p| p.doc),
            )),
        ],
    )?)
}

/// A one-row result of the given columns.
pub(crate) fn table_output(
    columns: &[(&str, DataType)],
    arrays: Vec<ArrayRef>,
) -> Result<StatementOutput> {
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    Ok(StatementOutput::from_batches(schema, vec![batch]))
}

/// What the tag and branch procedures return: the table, the reference and its snapshot.
pub(crate) fn ref_output(
    table: String,
    kind: &str,
    name: String,
    snapshot_id: i64,
) -> Result<StatementOutput> {
    table_output(
        &[
            ("table", DataType::Utf8),
            (kind, DataType::Utf8),
            ("snapshot_id", DataType::Int64),
        ],
        vec![
            Arc::new(StringArray::from(vec![table])),
            Arc::new(StringArray::from(vec![name])),
            Arc::new(Int64Array::from(vec![snapshot_id])),
        ],
    )
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Moves a table's main branch to snapshot `target` (the rollback procedures), requiring
/// main to still be where it was read, so a concurrent commit is never undone silently.
pub(crate) async fn move_main(
    session: &Session,
    ident: &TableIdent,
    target: i64,
) -> Result<StatementOutput> {
    let catalog = &session.shared.engine.catalog;
    let table = catalog
        .table_with_snapshot(ident, target)
        .await
        .map_err(to_df)?;
    let previous = table.metadata().current_snapshot_id();
    catalog
        .commit_table(
            ident,
            vec![
                TableRequirement::UuidMatch {
                    uuid: table.metadata().uuid(),
                },
                TableRequirement::RefSnapshotIdMatch {
                    r#ref: MAIN_BRANCH.into(),
                    snapshot_id: previous,
                },
            ],
            vec![TableUpdate::SetSnapshotRef {
                ref_name: MAIN_BRANCH.into(),
                reference: SnapshotReference::new(
                    target,
                    SnapshotRetention::branch(None, None, None),
                ),
            }],
        )
        .await
        .map_err(to_df)?;
    table_output(
        &[
            ("table", DataType::Utf8),
            ("previous_snapshot_id", DataType::Int64),
            ("current_snapshot_id", DataType::Int64),
        ],
        vec![
            Arc::new(StringArray::from(vec![floe_catalog::ident::table_display(
                ident,
            )])),
            Arc::new(Int64Array::from(vec![previous])),
            Arc::new(Int64Array::from(vec![Some(target)])),
        ],
    )
}
