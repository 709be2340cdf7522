//! `CALL expire_snapshots(table, older_than, retain_last)`, as Spark's.

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};

use super::{Args, Kind, Procedure, now_ms, p, table_output};
use crate::error::to_df;
use crate::session::{Session, StatementOutput};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "expire_snapshots",
    params: &[
        p("table", Kind::Text, true),
        p("older_than", Kind::Timestamp, false),
        p("retain_last", Kind::Int, false),
    ],
    doc: "Removes snapshots older than a time (default five days), keeping the last retain_last (default 1), and deletes the files only they used",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, args: Args) -> Result<StatementOutput> {
    let ident = session.table_arg(&args.required_text("table")?)?;
    // Iceberg's default maximum snapshot age: five days.
    let older_than = args
        .timestamp("older_than")
        .unwrap_or(now_ms() - 5 * 86_400_000);
    let retain = args.int("retain_last").unwrap_or(1);
    if retain < 1 {
        return plan_err!("retain_last must be at least 1, not {retain}");
    }
    let expired = session
        .shared
        .engine
        .catalog
        .expire_snapshots(&ident, older_than, retain as usize)
        .await
        .map_err(to_df)?;
    table_output(
        &[
            ("expired_snapshots", DataType::Int64),
            ("deleted_files", DataType::Int64),
        ],
        vec![
            Arc::new(Int64Array::from(vec![expired.snapshots.len() as i64])),
            Arc::new(Int64Array::from(vec![expired.deleted_files as i64])),
        ],
    )
}
