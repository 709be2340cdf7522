//! `CALL set_current_snapshot(table, snapshot_id | ref)`, as Spark's.

use datafusion::common::{Result, plan_err};

use super::{Args, Kind, Procedure, move_main, p};
use crate::error::to_df;
use crate::session::{Session, StatementOutput};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "set_current_snapshot",
    params: &[
        p("table", Kind::Text, true),
        p("snapshot_id", Kind::Int, false),
        p("ref", Kind::Text, false),
    ],
    doc: "Makes a snapshot, or the head of a tag or branch, the table's current one",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, args: Args) -> Result<StatementOutput> {
    let ident = session.table_arg(&args.required_text("table")?)?;
    let id = match (args.int("snapshot_id"), args.text("ref")) {
        (Some(id), None) => id,
        (None, Some(r)) => {
            let t = session
                .shared
                .engine
                .catalog
                .table(&ident)
                .await
                .map_err(to_df)?;
            match t.metadata().snapshot_for_ref(&r) {
                Some(s) => s.snapshot_id(),
                None => {
                    return plan_err!(
                        "table '{}' has no tag or branch named '{r}'",
                        floe_catalog::ident::table_display(&ident)
                    );
                }
            }
        }
        _ => {
            return plan_err!("set_current_snapshot needs exactly one of 'snapshot_id' and 'ref'");
        }
    };
    move_main(session, &ident, id).await
}
