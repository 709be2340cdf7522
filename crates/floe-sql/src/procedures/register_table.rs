//! `CALL register_table(table, metadata_location)`: adopts a table another engine wrote.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;

use super::{Args, Kind, Procedure, p, table_output};
use crate::error::to_df;
use crate::session::{Session, StatementOutput};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "register_table",
    params: &[
        p("table", Kind::Text, true),
        p("metadata_location", Kind::Text, true),
    ],
    doc: "Adds an existing Iceberg table (any writer's) to the catalog by its metadata file",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, args: Args) -> Result<StatementOutput> {
    let text = args.required_text("table")?;
    let (schema, table) = match text.rsplit_once('.') {
        Some((s, t)) => (s.to_string(), t.to_string()),
        None => ("public".to_string(), text.clone()),
    };
    let ident = crate::ddl::TableName {
        catalog: String::new(),
        schema,
        table,
    }
    .ident()?;
    let location = args.required_text("metadata_location")?;
    let t = session
        .shared
        .engine
        .catalog
        .register(&ident, location.clone())
        .await
        .map_err(to_df)?;
    table_output(
        &[
            ("table", DataType::Utf8),
            ("snapshot_id", DataType::Int64),
            ("metadata_location", DataType::Utf8),
        ],
        vec![
            Arc::new(StringArray::from(vec![floe_catalog::ident::table_display(
                &ident,
            )])),
            Arc::new(Int64Array::from(vec![t.metadata().current_snapshot_id()])),
            Arc::new(StringArray::from(vec![location])),
        ],
    )
}
