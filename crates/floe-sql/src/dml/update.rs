//! UPDATE on an Iceberg table.
//!
//! With `write.update.mode = 'merge-on-read'` the old rows are marked deleted by
//! position delete files and the new ones appended ([`super::merge_on_read`]); otherwise
//! the files holding updated rows are rewritten ([`super::copy_on_write`]).

use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, when};

use super::has_subquery;
use super::merge_on_read::{self, Mode};
use crate::provider::FloeTable;
use crate::session::Session;

impl Session {
    /// Runs an UPDATE (its unoptimized input plan: one expression per table column over
    /// the target scan under an optional WHERE filter); returns the number of rows
    /// updated.
    pub(crate) async fn update(&self, table: &FloeTable, input: &LogicalPlan) -> Result<u64> {
        table.check_writable()?;
        if merge_on_read::mode(table, "write.update.mode")? == Mode::MergeOnRead {
            return self.merge_on_read(table, input, true).await;
        }
        self.copy_on_write(table, input, true).await
    }
}

/// Every row of `scan` (the rewritten files) as a copy-on-write UPDATE writes it: the
/// assigned `values` where `predicate` is true, the old values elsewhere.
pub(crate) fn updated_rows(
    scan: LogicalPlan,
    predicate: Option<&Expr>,
    values: &[Expr],
    table_columns: &[Column],
) -> Result<LogicalPlan> {
    if let Some(p) = predicate.filter(|p| has_subquery(p)) {
        // As for DELETE ([`super::delete::surviving_rows`]): a subquery predicate is
        // only exact as a top-level filter, so the matched rows (updated) are unioned
        // with the scanned rows minus the matched ones (unchanged, EXCEPT ALL).
        let columns: Vec<Expr> = table_columns.iter().cloned().map(Expr::Column).collect();
        let matched = LogicalPlanBuilder::from(scan.clone())
            .filter(p.clone())?
            .build()?;
        let untouched = LogicalPlanBuilder::except(
            LogicalPlanBuilder::from(scan)
                .project(columns.clone())?
                .build()?,
            LogicalPlanBuilder::from(matched.clone())
                .project(columns)?
                .build()?,
            true,
        )?;
        let assigned = values
            .iter()
            .zip(table_columns)
            .map(|(v, c)| v.clone().alias(c.name.clone()));
        return LogicalPlanBuilder::from(matched)
            .project(assigned)?
            .union(untouched)?
            .build();
    }
    let mut exprs = Vec::with_capacity(values.len());
    for (value, column) in values.iter().zip(table_columns) {
        let same = matches!(value, Expr::Column(c) if c.name == column.name);
        let e = match (same, predicate) {
            (true, _) => Expr::Column(column.clone()),
            (false, None) => value.clone(),
            (false, Some(p)) => {
                when(p.clone(), value.clone()).otherwise(Expr::Column(column.clone()))?
            }
        };
        exprs.push(e.alias(column.name.clone()));
    }
    LogicalPlanBuilder::from(scan).project(exprs)?.build()
}
