//! `CALL rollback_to_snapshot(table, snapshot_id)`, as Spark's.

use datafusion::common::{Result, plan_err};

use super::{Args, Kind, Procedure, move_main, p};
use crate::session::{Session, StatementOutput};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "rollback_to_snapshot",
    params: &[
        p("table", Kind::Text, true),
        p("snapshot_id", Kind::Int, true),
    ],
    doc: "Makes an earlier snapshot the table's current one",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, args: Args) -> Result<StatementOutput> {
    let ident = session.table_arg(&args.required_text("table")?)?;
    let Some(id) = args.int("snapshot_id") else {
        return plan_err!("procedure 'rollback_to_snapshot' needs argument 'snapshot_id'");
    };
    move_main(session, &ident, id).await
}
