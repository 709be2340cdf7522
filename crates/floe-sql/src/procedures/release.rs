//! `CALL release(name, message, tables)`: publishes the open transaction as a named
//! release, or (outside one) tags the tables' current snapshots as one.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, plan_err};

use super::{Args, Kind, Procedure, p, table_output};
use crate::error::to_df;
use crate::session::{Session, StatementOutput};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "release",
    params: &[
        p("name", Kind::Text, true),
        p("message", Kind::Text, false),
        p("tables", Kind::TextList, false),
    ],
    doc: "Publishes the open transaction as a named release (all tables at once), or tags the current snapshots of the given (or all) tables as one",
    in_transaction: true,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, args: Args) -> Result<StatementOutput> {
    let release_name = args.required_text("name")?;
    let message = args.text("message");
    if session.in_transaction() {
        if args.list("tables").is_some() {
            return plan_err!(
                "inside a transaction, release() publishes the staged tables; 'tables' is not allowed"
            );
        }
        let record = session
            .commit(Some(&release_name), message.as_deref())
            .await?;
        return match record {
            Some(r) => release_output(&r),
            None => plan_err!("the transaction changed no table, so there is nothing to release"),
        };
    }
    let tables = match args.list("tables") {
        Some(list) => Some(
            list.iter()
                .map(|t| session.table_arg(t))
                .collect::<Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let r = session
        .shared
        .engine
        .catalog
        .tag_release(&release_name, tables, message.as_deref())
        .await
        .map_err(to_df)?;
    release_output(&r)
}

/// What `release` and `rollback_release` return: the release they created.
pub(super) fn release_output(r: &floe_catalog::ReleaseRecord) -> Result<StatementOutput> {
    table_output(
        &[
            ("release", DataType::Utf8),
            ("release_id", DataType::Int64),
            ("table_count", DataType::Int64),
            (
                "created_at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            ),
        ],
        vec![
            Arc::new(StringArray::from(vec![r.name.clone()])),
            Arc::new(Int64Array::from(vec![r.id as i64])),
            Arc::new(Int64Array::from(vec![r.table_count as i64])),
            Arc::new(
                TimestampMillisecondArray::from(vec![r.created_at_ms]).with_timezone("+00:00"),
            ),
        ],
    )
}
