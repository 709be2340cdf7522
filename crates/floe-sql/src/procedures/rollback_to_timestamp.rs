//! `CALL rollback_to_timestamp(table, timestamp)`, as Spark's.

use datafusion::common::{Result, plan_err};

use super::{Args, Kind, Procedure, move_main, p};
use crate::error::to_df;
use crate::session::{Session, StatementOutput};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "rollback_to_timestamp",
    params: &[
        p("table", Kind::Text, true),
        p("timestamp", Kind::Timestamp, true),
    ],
    doc: "Makes the snapshot that was current at a time the table's current one",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, args: Args) -> Result<StatementOutput> {
    let ident = session.table_arg(&args.required_text("table")?)?;
    let Some(ts) = args.timestamp("timestamp") else {
        return plan_err!("procedure 'rollback_to_timestamp' needs argument 'timestamp'");
    };
    let version = session
        .shared
        .engine
        .catalog
        .snapshot_as_of(&ident, ts)
        .await
        .map_err(to_df)?;
    let Some(id) = version.snapshot_id else {
        return plan_err!("the table had no snapshot at that time");
    };
    move_main(session, &ident, id).await
}
