//! `CALL drop_tag(table, tag)` and `CALL drop_branch(table, branch)`.

use datafusion::common::{Result, plan_err};
use iceberg::spec::MAIN_BRANCH;
use iceberg::{TableRequirement, TableUpdate};

use super::{Args, Kind, Procedure, p, ref_output};
use crate::error::to_df;
use crate::session::{Session, StatementOutput};

pub(super) const DROP_TAG: Procedure = Procedure {
    name: "drop_tag",
    params: &[p("table", Kind::Text, true), p("tag", Kind::Text, true)],
    doc: "Removes a tag (the snapshot stays until expired)",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args, false)),
};

pub(super) const DROP_BRANCH: Procedure = Procedure {
    name: "drop_branch",
    params: &[p("table", Kind::Text, true), p("branch", Kind::Text, true)],
    doc: "Removes a branch other than main",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args, true)),
};

async fn run(session: &Session, args: Args, branch: bool) -> Result<StatementOutput> {
    let kind = if branch { "branch" } else { "tag" };
    let ident = session.table_arg(&args.required_text("table")?)?;
    let name = args.required_text(kind)?;
    let catalog = &session.shared.engine.catalog;
    let table_name = floe_catalog::ident::table_display(&ident);
    if branch && name == MAIN_BRANCH {
        return plan_err!("the main branch of table '{table_name}' cannot be dropped");
    }
    let refs = catalog.table_refs(&ident).await.map_err(to_df)?;
    let Some((_, r)) = refs.iter().find(|(n, _)| *n == name) else {
        return plan_err!("table '{table_name}' has no {kind} named '{name}'");
    };
    if r.is_branch() != branch {
        return plan_err!(
            "'{name}' of table '{table_name}' is a {}, not a {kind}",
            if r.is_branch() { "branch" } else { "tag" }
        );
    }
    catalog
        .commit_table(
            &ident,
            vec![TableRequirement::RefSnapshotIdMatch {
                r#ref: name.clone(),
                snapshot_id: Some(r.snapshot_id),
            }],
            vec![TableUpdate::RemoveSnapshotRef {
                ref_name: name.clone(),
            }],
        )
        .await
        .map_err(to_df)?;
    ref_output(table_name, kind, name, r.snapshot_id)
}
