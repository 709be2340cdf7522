//! Row-level DML: one file per statement ([`delete`], [`update`], [`merge`]), each in
//! two modes chosen by the table's `write.{delete,update,merge}.mode` property:
//! [`copy_on_write`] rewrites the files holding affected rows, [`merge_on_read`] writes
//! position delete files next to them. The pieces they share — the shape of the
//! statement's plan, swapping in a scan with extra columns, the one commit — live here.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::count::count;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableScan, col, lit};
use datafusion::physical_plan::collect;
use floe_catalog::SnapshotChange;

use crate::provider::FloeTable;
use crate::scan::FILE_COLUMN;
use crate::session::Session;

pub mod copy_on_write;
pub mod delete;
pub mod merge;
pub mod merge_on_read;
pub mod update;

/// The pieces of a DELETE/UPDATE input plan.
pub(crate) struct Shape {
    pub(crate) predicate: Option<Expr>,
    /// UPDATE: one expression per table column (already cast to the column's type).
    pub(crate) assignments: Option<Vec<Expr>>,
    /// The target table's scan (under its alias, if any), below the WHERE filter.
    pub(crate) target: LogicalPlan,
}

pub(crate) fn shape(input: &LogicalPlan, update: bool) -> Result<Shape> {
    let (assignments, rest) = if update {
        match input {
            LogicalPlan::Projection(p) => (
                Some(p.expr.iter().map(|e| e.clone().unalias()).collect()),
                p.input.as_ref(),
            ),
            _ => return plan_err!("unexpected UPDATE plan shape"),
        }
    } else {
        (None, input)
    };
    // The target, possibly under its alias (`UPDATE t AS x SET ... WHERE x.id = 1`).
    let is_target = |p: &LogicalPlan| match p {
        LogicalPlan::TableScan(_) => true,
        LogicalPlan::SubqueryAlias(a) => matches!(a.input.as_ref(), LogicalPlan::TableScan(_)),
        _ => false,
    };
    let (predicate, target) = match rest {
        LogicalPlan::Filter(f) if is_target(&f.input) => {
            (Some(f.predicate.clone()), f.input.as_ref().clone())
        }
        LogicalPlan::Filter(_) => {
            return plan_err!("unsupported DELETE/UPDATE form (only WHERE is supported)");
        }
        p if is_target(p) => (None, p.clone()),
        LogicalPlan::Limit(_) => return plan_err!("DELETE ... LIMIT is not supported"),
        _ => return plan_err!("unsupported DELETE/UPDATE form (only WHERE is supported)"),
    };
    Ok(Shape {
        predicate,
        assignments,
        target,
    })
}

/// Whether `e` contains a subquery (EXISTS, IN (SELECT ...), or a scalar subquery).
pub(crate) fn has_subquery(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(matches!(
            e,
            Expr::Exists(_) | Expr::InSubquery(_) | Expr::ScalarSubquery(_)
        ))
    })
    .unwrap_or(false)
}

/// Replaces the scan of the target table with a scan of `provider`.
pub(crate) fn replace_scan(plan: &LogicalPlan, provider: Arc<FloeTable>) -> Result<LogicalPlan> {
    plan.clone()
        .transform_up(|node| match node {
            LogicalPlan::TableScan(ts) => {
                let scan = TableScan::try_new(
                    ts.table_name.clone(),
                    provider_as_source(provider.clone()),
                    None,
                    vec![],
                    None,
                )?;
                Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
            }
            // An alias above the scan must take the new scan's schema (the file column).
            other @ LogicalPlan::SubqueryAlias(_) => {
                Ok(Transformed::yes(other.recompute_schema()?))
            }
            other => Ok(Transformed::no(other)),
        })
        .data()
}

impl Session {
    /// The end of every copy-on-write statement (DELETE, UPDATE, MERGE): one snapshot
    /// that removes `removed` and adds `added` data files (already durable). Merge-on-read
    /// ends in [`Session::commit_positions`]; both go through [`Session::commit_change`].
    pub(crate) async fn commit_rewrite(
        &self,
        table: &FloeTable,
        base: &iceberg::table::Table,
        added: Vec<iceberg::spec::DataFile>,
        removed: HashSet<String>,
    ) -> Result<()> {
        if added.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let change = SnapshotChange {
            added,
            removed,
            ..Default::default()
        };
        self.commit_change(table, base, change).await.map(|_| ())
    }

    /// Commits `change` (its new files already durable) to `table` read at `base`, in
    /// the session's transaction if the table was resolved in one, never retried (the
    /// statement decided what to write from `base`): see
    /// [`crate::write::commit`], the one commit path of every writer.
    pub(crate) async fn commit_change(
        &self,
        table: &FloeTable,
        base: &iceberg::table::Table,
        change: SnapshotChange,
    ) -> Result<floe_catalog::ProducedSnapshot> {
        crate::write::commit::commit(&self.shared, table.txn, table.ident(), base, change, false)
            .await
    }

    pub(crate) async fn collect_plan(
        &self,
        plan: LogicalPlan,
    ) -> Result<Vec<datafusion::arrow::array::RecordBatch>> {
        let state = self.ctx.state();
        let physical = state.create_physical_plan(&plan).await?;
        collect(physical, self.ctx.task_ctx()).await
    }

    /// Matched row count per data file path.
    pub(crate) async fn matches_per_file(
        &self,
        table: &FloeTable,
        filter_input: &LogicalPlan,
        predicate: &Expr,
    ) -> Result<HashMap<String, u64>> {
        let provider = Arc::new(table.with_file_column(None));
        let scan = replace_scan(filter_input, provider)?;
        let plan = LogicalPlanBuilder::from(scan)
            .filter(predicate.clone())?
            .aggregate(vec![col(FILE_COLUMN)], vec![count(lit(1)).alias("n")])?
            .build()?;
        let mut out = HashMap::new();
        for batch in self.collect_plan(plan).await? {
            let files = batch.column(0).as_string::<i32>();
            let counts = batch.column(1).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                if !files.is_null(i) {
                    out.insert(files.value(i).to_string(), counts.value(i) as u64);
                }
            }
        }
        Ok(out)
    }
}
