//! `CALL remove_orphan_files(older_than, dry_run)`, as Spark's, over the whole warehouse.

use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;

use super::{Args, Kind, Procedure, now_ms, p, table_output};
use crate::error::to_df;
use crate::session::{Session, StatementOutput};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "remove_orphan_files",
    params: &[
        p("older_than", Kind::Timestamp, false),
        p("dry_run", Kind::Bool, false),
    ],
    doc: "Deletes files in the warehouse that no table, snapshot or release references, older than a time (default three days)",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, args: Args) -> Result<StatementOutput> {
    // Files younger than this may belong to writes in flight; Spark's default.
    let older_than = args
        .timestamp("older_than")
        .unwrap_or(now_ms() - 3 * 86_400_000);
    let dry_run = args.boolean("dry_run").unwrap_or(false);
    let orphans = session
        .shared
        .engine
        .catalog
        .remove_orphan_files(older_than, dry_run)
        .await
        .map_err(to_df)?;
    let n = orphans.len();
    table_output(
        &[
            ("orphan_file_location", DataType::Utf8),
            ("deleted", DataType::Boolean),
        ],
        vec![
            Arc::new(StringArray::from(orphans)),
            Arc::new(BooleanArray::from(vec![!dry_run; n])),
        ],
    )
}
