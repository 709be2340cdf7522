//! DELETE and UPDATE by copy-on-write (MERGE in [`merge`]).
//!
//! The front end takes the statement's *unoptimized* plan, so the predicate is exactly
//! what the user wrote (DataFusion's optimizer may fold `WHERE 1=0` away or turn
//! subqueries into joins, which would make a filter-based provider delete too much).
//!
//! 1. Find the affected files: scan the table version with each row's file path as an
//!    extra column, filter by the predicate, count matches per file.
//! 2. Files whose every row matches (DELETE) are simply removed. The others are
//!    rewritten: DELETE keeps the rows where the predicate is not true; UPDATE writes
//!    every row, with `CASE WHEN p THEN new ELSE old END` per assigned column.
//! 3. One snapshot removes the affected files and adds the rewritten ones, committed (or
//!    staged) with the base snapshot as a requirement, so a concurrent change fails the
//!    statement as a conflict instead of being lost.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, Result, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::count::count;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableScan, col, lit, when};
use datafusion::physical_plan::collect;
use floe_catalog::SnapshotChange;

use crate::frontend::Session;
use crate::provider::FloeTable;
use crate::scan::FILE_COLUMN;
use crate::write::write_plan;

pub mod merge;
pub mod merge_on_read;

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
fn has_subquery(e: &Expr) -> bool {
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
    /// The end of every rewriting statement (DELETE, UPDATE, MERGE): one snapshot that
    /// removes `removed` and adds `added` data files and `added_deletes` position delete
    /// files (all already durable). See [`Session::commit_change`].
    pub(crate) async fn commit_rewrite(
        &self,
        table: &FloeTable,
        base: &iceberg::table::Table,
        added: Vec<iceberg::spec::DataFile>,
        added_deletes: Vec<(i32, iceberg::spec::DataFile)>,
        removed: HashSet<String>,
    ) -> Result<()> {
        if added.is_empty() && added_deletes.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let change = SnapshotChange {
            added,
            added_deletes,
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
    async fn matches_per_file(
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

    /// Runs a DELETE or UPDATE on an Iceberg table; returns the affected row count.
    pub(crate) async fn copy_on_write(
        &self,
        table: &FloeTable,
        input: &LogicalPlan,
        update: bool,
    ) -> Result<u64> {
        table.check_writable()?;
        let property = if update {
            "write.update.mode"
        } else {
            "write.delete.mode"
        };
        // Merge-on-read marks rows deleted; a DELETE without WHERE (and TRUNCATE) removes
        // whole files, which copy-on-write does without rewriting anything.
        let has_predicate = update
            || !matches!(
                input,
                LogicalPlan::TableScan(_) | LogicalPlan::SubqueryAlias(_)
            );
        if has_predicate
            && merge_on_read::mode(table, property)? == merge_on_read::Mode::MergeOnRead
        {
            return self.merge_on_read(table, input, update).await;
        }
        // Until the commit returns, the rewritten files are named by no metadata.
        let _writing = self.shared.engine.catalog.write_guard();
        let Shape {
            predicate,
            assignments,
            target: filter_input,
        } = shape(input, update)?;
        let name = table.display_name();
        let base = table.iceberg_table().clone();
        // Rows other engines deleted (delete files) are applied by the scans below, so a
        // rewritten file holds exactly the surviving rows.
        let Some((files, deletes)) =
            crate::scan::snapshot_files(&self.shared.engine, &base, table.snapshot_id()).await?
        else {
            return Ok(0); // empty table
        };
        // Rows per file as the statement sees them: the manifests' record counts, less
        // the rows delete files remove (counted by a scan, only when there are any).
        let live_counts: HashMap<String, u64> = if deletes.is_empty() {
            files
                .iter()
                .map(|f| (f.file.file_path().to_string(), f.file.record_count()))
                .collect()
        } else {
            self.matches_per_file(table, &filter_input, &lit(true))
                .await?
        };
        // Which files the statement touches, and how many of their rows match.
        let matched: HashMap<String, u64> = match &predicate {
            Some(p) => self.matches_per_file(table, &filter_input, p).await?,
            None => live_counts.clone(),
        };
        let affected: u64 = matched.values().sum();
        if matched.is_empty() {
            return Ok(0);
        }
        let fully: HashSet<String> = matched
            .iter()
            .filter(|(path, n)| !update && live_counts.get(*path) == Some(*n))
            .map(|(p, _)| p.clone())
            .collect();
        let rewrite: HashSet<String> = matched
            .keys()
            .filter(|p| !fully.contains(*p))
            .cloned()
            .collect();

        let mut added = Vec::new();
        if !rewrite.is_empty() {
            let provider = Arc::new(table.with_file_column(Some(Arc::new(rewrite.clone()))));
            let scan = replace_scan(&filter_input, provider)?;
            let table_columns: Vec<Column> = table
                .schema
                .fields()
                .iter()
                .map(|f| {
                    let qualified = scan
                        .schema()
                        .qualified_field_with_unqualified_name(f.name())?;
                    Ok(Column::from(qualified))
                })
                .collect::<Result<_>>()?;
            // A subquery in the predicate is only planned with SQL's three-valued logic
            // as a top-level filter (DataFusion turns it into a semi/anti join); nested
            // in `IS NOT TRUE` or `CASE WHEN` it either fails to plan or becomes a mark
            // join that reads NULL as false (`NULL NOT IN (...)` would count as true and
            // delete the row). So the rows a subquery predicate leaves alone are the
            // scanned rows minus those the top-level filter keeps (EXCEPT ALL, NULLs
            // equal): identical rows get the same verdict from a deterministic
            // predicate, so removing every copy of a matched row is exact.
            let subquery = predicate.as_ref().is_some_and(has_subquery);
            let rows = match (&assignments, &predicate) {
                (assignments, Some(p)) if subquery => {
                    let project = |plan: LogicalPlan, exprs: Vec<Expr>| {
                        LogicalPlanBuilder::from(plan).project(exprs)?.build()
                    };
                    let columns: Vec<Expr> =
                        table_columns.iter().cloned().map(Expr::Column).collect();
                    let matched = LogicalPlanBuilder::from(scan.clone())
                        .filter(p.clone())?
                        .build()?;
                    let untouched = LogicalPlanBuilder::except(
                        project(scan, columns.clone())?,
                        project(matched.clone(), columns)?,
                        true,
                    )?;
                    match assignments {
                        None => untouched,
                        Some(values) => {
                            let exprs = values
                                .iter()
                                .zip(&table_columns)
                                .map(|(v, c)| v.clone().alias(c.name.clone()))
                                .collect();
                            LogicalPlanBuilder::from(project(matched, exprs)?)
                                .union(untouched)?
                                .build()?
                        }
                    }
                }
                (None, Some(p)) => LogicalPlanBuilder::from(scan)
                    .filter(Expr::IsNotTrue(Box::new(p.clone())))?
                    .project(table_columns.iter().map(|c| Expr::Column(c.clone())))?
                    .build()?,
                (None, None) => unreachable!("a DELETE without WHERE removes whole files"),
                (Some(values), p) => {
                    let mut exprs = Vec::with_capacity(values.len());
                    for (value, column) in values.iter().zip(&table_columns) {
                        let same = matches!(value, Expr::Column(c) if c.name == column.name);
                        let e = match (same, p) {
                            (true, _) => Expr::Column(column.clone()),
                            (false, None) => value.clone(),
                            (false, Some(p)) => when(p.clone(), value.clone())
                                .otherwise(Expr::Column(column.clone()))?,
                        };
                        exprs.push(e.alias(column.name.clone()));
                    }
                    LogicalPlanBuilder::from(scan).project(exprs)?.build()?
                }
            };
            let physical = self.ctx.state().create_physical_plan(&rows).await?;
            let (files, _) = write_plan(&base, &name, physical, self.ctx.task_ctx()).await?;
            added = files;
        }
        let mut removed: HashSet<String> = matched.keys().cloned().collect();
        // Data files whose every row delete files removed show nothing: they go in the
        // same commit, and with them the delete files that only they kept applicable.
        if !deletes.is_empty() {
            removed.extend(
                files
                    .iter()
                    .map(|f| f.file.file_path())
                    .filter(|p| !live_counts.contains_key(*p))
                    .map(str::to_string),
            );
        }
        self.commit_rewrite(table, &base, added, Vec::new(), removed)
            .await?;
        Ok(affected)
    }
}
