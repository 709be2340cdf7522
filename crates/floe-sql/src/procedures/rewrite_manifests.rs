//! `CALL rewrite_manifests(table)`, as Spark's: every partition spec's data manifests
//! merged into one, in a `replace` snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use floe_catalog::SnapshotChange;
use iceberg::TableIdent;

use super::{Args, Kind, Procedure, p, table_output};
use crate::session::{Session, StatementOutput};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "rewrite_manifests",
    params: &[p("table", Kind::Text, true)],
    doc: "Merges each partition spec's data manifests into one, in one replace snapshot",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, args: Args) -> Result<StatementOutput> {
    let ident = session.table_arg(&args.required_text("table")?)?;
    let (rewritten, added) = session.rewrite_manifests(&ident).await?;
    table_output(
        &[
            ("rewritten_manifests_count", DataType::Int64),
            ("added_manifests_count", DataType::Int64),
        ],
        vec![
            Arc::new(Int64Array::from(vec![rewritten as i64])),
            Arc::new(Int64Array::from(vec![added as i64])),
        ],
    )
}

impl Session {
    /// `CALL rewrite_manifests(table)`: every partition spec's data manifests merged into
    /// one, in a `replace` snapshot. Returns (manifests rewritten, manifests added).
    async fn rewrite_manifests(&self, ident: &TableIdent) -> Result<(usize, usize)> {
        let table = self.floe_table(ident).await?;
        table.check_writable()?;
        let base = table.iceberg_table().clone();
        if table.snapshot_id().is_none() {
            return Ok((0, 0));
        }
        // Nothing to merge: no snapshot.
        let md = base.metadata();
        if let Some(snapshot) = md.current_snapshot() {
            let list = self
                .shared
                .engine
                .catalog
                .manifest_list(md, snapshot)
                .await
                .map_err(crate::error::to_df)?;
            let mut per_spec: HashMap<i32, usize> = HashMap::new();
            for m in list.entries() {
                if m.content == iceberg::spec::ManifestContentType::Data {
                    *per_spec.entry(m.partition_spec_id).or_default() += 1;
                }
            }
            if per_spec.values().all(|n| *n <= 1) {
                return Ok((0, 0));
            }
        }
        let _writing = self.shared.engine.catalog.write_guard();
        let change = SnapshotChange {
            rewrite_manifests: true,
            ..Default::default()
        };
        let produced = self.commit_change(&table, &base, change).await?;
        Ok((produced.manifests_rewritten, produced.manifests_added))
    }
}
