//! `CALL create_tag(table, tag, snapshot_id)` and `CALL create_branch(table, branch,
//! snapshot_id)`: a named reference to a snapshot (the current one by default).

use datafusion::common::{Result, plan_err};
use floe_catalog::Error as CatalogError;
use iceberg::spec::{SnapshotReference, SnapshotRetention};
use iceberg::{TableRequirement, TableUpdate};

use super::{Args, Kind, Procedure, p, ref_output};
use crate::error::to_df;
use crate::session::{Session, StatementOutput};

pub(super) const CREATE_TAG: Procedure = Procedure {
    name: "create_tag",
    params: &[
        p("table", Kind::Text, true),
        p("tag", Kind::Text, true),
        p("snapshot_id", Kind::Int, false),
    ],
    doc: "Names a snapshot (the current one by default) with a tag, for time travel with VERSION AS OF 'tag'",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args, false)),
};

pub(super) const CREATE_BRANCH: Procedure = Procedure {
    name: "create_branch",
    params: &[
        p("table", Kind::Text, true),
        p("branch", Kind::Text, true),
        p("snapshot_id", Kind::Int, false),
    ],
    doc: "Starts a branch at a snapshot (the current one by default)",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args, true)),
};

async fn run(session: &Session, args: Args, branch: bool) -> Result<StatementOutput> {
    let kind = if branch { "branch" } else { "tag" };
    let ident = session.table_arg(&args.required_text("table")?)?;
    let name = args.required_text(kind)?;
    floe_catalog::ident::validate_name(kind, &name).map_err(to_df)?;
    let catalog = &session.shared.engine.catalog;
    let table = catalog.table(&ident).await.map_err(to_df)?;
    let md = table.metadata();
    let table_name = floe_catalog::ident::table_display(&ident);
    let Some(id) = args.int("snapshot_id").or(md.current_snapshot_id()) else {
        return plan_err!(
            "table '{table_name}' has no snapshot to {} yet",
            if branch { "branch from" } else { "tag" }
        );
    };
    if md.snapshot_by_id(id).is_none() {
        return Err(to_df(CatalogError::UnknownSnapshot {
            table: table_name,
            snapshot_id: id,
            available: "it is not (or no longer) a snapshot of the table".into(),
        }));
    }
    if md.snapshot_for_ref(&name).is_some() {
        return plan_err!("table '{table_name}' already has a tag or branch named '{name}'");
    }
    let retention = if branch {
        SnapshotRetention::branch(None, None, None)
    } else {
        SnapshotRetention::Tag {
            max_ref_age_ms: None,
        }
    };
    // Requiring the reference to be absent makes two concurrent creations of one name
    // fail one of them instead of the later silently replacing the earlier.
    catalog
        .commit_table(
            &ident,
            vec![TableRequirement::RefSnapshotIdMatch {
                r#ref: name.clone(),
                snapshot_id: None,
            }],
            vec![TableUpdate::SetSnapshotRef {
                ref_name: name.clone(),
                reference: SnapshotReference::new(id, retention),
            }],
        )
        .await
        .map_err(to_df)?;
    ref_output(table_name, kind, name, id)
}
