//! `CALL rollback_release(name, new_name)`: moves every table of a release back to the
//! snapshot it names, atomically, recorded as a new release.

use datafusion::common::Result;

use super::release::release_output;
use super::{Args, Kind, Procedure, p};
use crate::error::to_df;
use crate::session::{Session, StatementOutput};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "rollback_release",
    params: &[
        p("name", Kind::Text, true),
        p("new_name", Kind::Text, false),
    ],
    doc: "Moves every table of a release back to the snapshot it recorded, atomically, as a new release",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, args: Args) -> Result<StatementOutput> {
    let r = session
        .shared
        .engine
        .catalog
        .rollback_release(
            &args.required_text("name")?,
            args.text("new_name").as_deref(),
        )
        .await
        .map_err(to_df)?;
    release_output(&r)
}
