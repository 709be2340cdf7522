//! `CALL check()`: verifies that every file the catalog references exists and parses.

use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;

use super::{Args, Procedure, table_output};
use crate::error::to_df;
use crate::session::{Session, StatementOutput};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "check",
    params: &[],
    doc: "Checks that every metadata, manifest and data file the catalog references is present and readable; one row per problem",
    in_transaction: true,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, _args: Args) -> Result<StatementOutput> {
    let problems = session.shared.engine.catalog.check().await.map_err(to_df)?;
    let column = |f: fn(&floe_catalog::Problem) -> String| {
        Arc::new(StringArray::from(
            problems.iter().map(f).collect::<Vec<_>>(),
        ))
    };
    table_output(
        &[
            ("object", DataType::Utf8),
            ("file", DataType::Utf8),
            ("problem", DataType::Utf8),
        ],
        vec![
            column(|p| p.object.clone()),
            column(|p| p.file.clone()),
            column(|p| p.problem.clone()),
        ],
    )
}
