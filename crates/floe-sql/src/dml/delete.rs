//! DELETE (and TRUNCATE) on an Iceberg table.
//!
//! With `write.delete.mode = 'merge-on-read'` a DELETE with a WHERE clause writes
//! position delete files ([`super::merge_on_read`]); otherwise, and always for a DELETE
//! without WHERE (whole files go, nothing is rewritten), it is copy-on-write
//! ([`super::copy_on_write`]).

use datafusion::common::{Column, Result, internal_err};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};

use super::has_subquery;
use super::merge_on_read::{self, Mode};
use crate::provider::FloeTable;
use crate::session::Session;

impl Session {
    /// Runs a DELETE (its unoptimized input plan: the target scan under an optional
    /// WHERE filter); returns the number of rows deleted.
    pub(crate) async fn delete(&self, table: &FloeTable, input: &LogicalPlan) -> Result<u64> {
        table.check_writable()?;
        let has_predicate = !matches!(
            input,
            LogicalPlan::TableScan(_) | LogicalPlan::SubqueryAlias(_)
        );
        if has_predicate && merge_on_read::mode(table, "write.delete.mode")? == Mode::MergeOnRead {
            return self.merge_on_read(table, input, false).await;
        }
        self.copy_on_write(table, input, false).await
    }
}

/// The rows a copy-on-write DELETE keeps from `scan` (the rewritten files' rows): those
/// for which `predicate` is not true, projected to the table's columns.
pub(crate) fn surviving_rows(
    scan: LogicalPlan,
    predicate: Option<&Expr>,
    table_columns: &[Column],
) -> Result<LogicalPlan> {
    let columns: Vec<Expr> = table_columns.iter().cloned().map(Expr::Column).collect();
    let Some(p) = predicate else {
        return internal_err!("a DELETE without WHERE removes whole files, it rewrites none");
    };
    if has_subquery(p) {
        // A subquery in the predicate is only planned with SQL's three-valued logic as
        // a top-level filter (DataFusion turns it into a semi/anti join); nested in `IS
        // NOT TRUE` it either fails to plan or becomes a mark join that reads NULL as
        // false (`NULL NOT IN (...)` would count as true and delete the row). So the
        // rows kept are the scanned rows minus those the top-level filter matches
        // (EXCEPT ALL, NULLs equal): identical rows get the same verdict from a
        // deterministic predicate, so removing every copy of a matched row is exact.
        let matched = LogicalPlanBuilder::from(scan.clone())
            .filter(p.clone())?
            .project(columns.clone())?
            .build()?;
        let all = LogicalPlanBuilder::from(scan).project(columns)?.build()?;
        return LogicalPlanBuilder::except(all, matched, true);
    }
    LogicalPlanBuilder::from(scan)
        .filter(Expr::IsNotTrue(Box::new(p.clone())))?
        .project(columns)?
        .build()
}
