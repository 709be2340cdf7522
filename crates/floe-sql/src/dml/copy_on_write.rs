//! DELETE and UPDATE by copy-on-write: the files holding affected rows are rewritten.
//!
//! The front end takes the statement's *unoptimized* plan, so the predicate is exactly
//! what the user wrote (DataFusion's optimizer may fold `WHERE 1=0` away or turn
//! subqueries into joins, which would make a filter-based provider delete too much).
//!
//! 1. Find the affected files: scan the table version with each row's file path as an
//!    extra column, filter by the predicate, count matches per file.
//! 2. Files whose every row matches (DELETE) are simply removed. The others are
//!    rewritten with the rows [`super::delete::surviving_rows`] or
//!    [`super::update::updated_rows`] builds.
//! 3. One snapshot removes the affected files and adds the rewritten ones, committed (or
//!    staged) with the base snapshot as a requirement, so a concurrent change fails the
//!    statement as a conflict instead of being lost.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::common::{Column, Result};
use datafusion::logical_expr::{LogicalPlan, lit};

use super::{Shape, delete, replace_scan, shape, update};
use crate::provider::FloeTable;
use crate::session::Session;
use crate::write::write_plan;

impl Session {
    /// Runs a DELETE or UPDATE on an Iceberg table; returns the affected row count.
    pub(crate) async fn copy_on_write(
        &self,
        table: &FloeTable,
        input: &LogicalPlan,
        update: bool,
    ) -> Result<u64> {
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
            let rows = match &assignments {
                None => delete::surviving_rows(scan, predicate.as_ref(), &table_columns)?,
                Some(values) => {
                    update::updated_rows(scan, predicate.as_ref(), values, &table_columns)?
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
        self.commit_rewrite(table, &base, added, removed).await?;
        Ok(affected)
    }
}
