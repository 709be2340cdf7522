//! DELETE and UPDATE by merge-on-read, chosen per table with Iceberg's
//! `write.delete.mode` / `write.update.mode` (`copy-on-write`, the default as in Spark,
//! or `merge-on-read`; MERGE reads `write.merge.mode` in [`super::merge`]).
//!
//! One pass over the table version, each row carrying its data file and position
//! ([`crate::scan::positions`]): the rows the predicate holds for are recorded as
//! positions to delete, and UPDATE writes their new values as new data files in the same
//! pass. Then one position delete file per touched data file, and one snapshot (Iceberg's
//! row delta) through [`Session::commit_rewrite`]. Untouched rows are never rewritten.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::{Column, Result, plan_err};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, lit};
use datafusion::physical_plan::ExecutionPlan;
use floe_catalog::LiveFile;

use super::{Shape, replace_scan, shape};
use crate::provider::FloeTable;
use crate::scan::FILE_COLUMN;
use crate::scan::positions::{CollectedPositions, POS_COLUMN, PositionSinkExec, SinkOutputs};
use crate::session::Session;
use crate::write::position_deletes::write_position_deletes;
use crate::write::{delete_files, write_plan};

/// How a table's DELETE, UPDATE or MERGE changes rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    CopyOnWrite,
    MergeOnRead,
}

/// The mode `property` sets on `table` (copy-on-write when unset).
pub(crate) fn mode(table: &FloeTable, property: &str) -> Result<Mode> {
    let props = table.iceberg_table().metadata().properties();
    match props.get(property).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(Mode::CopyOnWrite),
        Some(v) if v == "copy-on-write" => Ok(Mode::CopyOnWrite),
        Some(v) if v == "merge-on-read" => {
            if table.iceberg_table().metadata().format_version() < iceberg::spec::FormatVersion::V2
            {
                return plan_err!(
                    "table '{}' sets {property} = 'merge-on-read', but it is Iceberg format version 1, which has no delete files; set 'format-version' = '2' or use copy-on-write",
                    table.display_name()
                );
            }
            Ok(Mode::MergeOnRead)
        }
        Some(v) => plan_err!(
            "table '{}' has {property} = '{v}'; expected 'copy-on-write' or 'merge-on-read'",
            table.display_name()
        ),
    }
}

impl Session {
    /// The session state for plans that read row positions: files are never split into
    /// byte ranges (positions are counted per whole file).
    pub(crate) fn position_state(&self) -> SessionState {
        let mut state = self.ctx.state();
        state
            .config_mut()
            .options_mut()
            .optimizer
            .repartition_file_scans = false;
        state
    }

    /// Physical plan of `rows` (`[table columns..., file, pos, delete, keep, matched]`)
    /// wrapped in a [`PositionSinkExec`] gathering into `outputs`.
    pub(crate) async fn position_sink(
        &self,
        rows: &LogicalPlan,
        width: usize,
        outputs: &SinkOutputs,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let physical = self.position_state().create_physical_plan(rows).await?;
        Ok(Arc::new(PositionSinkExec::new(
            physical,
            width,
            outputs.clone(),
        )?))
    }

    /// Writes the collected positions as delete files and commits them with the `added`
    /// data files in one snapshot. Returns the number of rows deleted. On failure every
    /// file written is deleted.
    pub(crate) async fn commit_positions(
        &self,
        table: &FloeTable,
        base: &iceberg::table::Table,
        files: &[LiveFile],
        collected: HashMap<String, Vec<i64>>,
        added: Vec<iceberg::spec::DataFile>,
    ) -> Result<u64> {
        let by_path: HashMap<&str, &LiveFile> =
            files.iter().map(|f| (f.file.file_path(), f)).collect();
        let mut deletes = Vec::with_capacity(collected.len());
        let mut rows = 0u64;
        for (path, positions) in collected {
            let Some(live) = by_path.get(path.as_str()) else {
                delete_files(base, &added).await;
                return plan_err!(
                    "table '{}': a row to delete is in data file '{path}', which the table version does not list",
                    table.display_name()
                );
            };
            rows += positions.len() as u64;
            deletes.push(((*live).clone(), positions));
        }
        let written =
            write_position_deletes(base, &table.display_name(), deletes, self.ctx.task_ctx()).await;
        let written = match written {
            Ok(w) => w,
            Err(e) => {
                delete_files(base, &added).await;
                return Err(e);
            }
        };
        self.commit_rewrite(table, base, added, written, HashSet::new())
            .await?;
        Ok(rows)
    }

    /// Runs a DELETE or UPDATE with a WHERE clause by merge-on-read; returns the number
    /// of rows deleted or updated.
    pub(crate) async fn merge_on_read(
        &self,
        table: &FloeTable,
        input: &LogicalPlan,
        update: bool,
    ) -> Result<u64> {
        // Until the commit returns, the new files are named by no metadata.
        let _writing = self.shared.engine.catalog.write_guard();
        let Shape {
            predicate,
            assignments,
            target,
        } = shape(input, update)?;
        let name = table.display_name();
        let base = table.iceberg_table().clone();
        let Some((files, _)) =
            crate::scan::snapshot_files(&self.shared.engine, &base, table.snapshot_id()).await?
        else {
            return Ok(0); // empty table
        };
        let scan = replace_scan(&target, Arc::new(table.with_positions()))?;
        let column = |name: &str| -> Result<Column> {
            Ok(Column::from(
                scan.schema().qualified_field_with_unqualified_name(name)?,
            ))
        };
        let file = Expr::Column(column(FILE_COLUMN)?);
        let pos = Expr::Column(column(POS_COLUMN)?);
        // A top-level filter keeps exactly the rows the predicate is TRUE for, subqueries
        // included (planned as semi/anti joins with SQL's NULL semantics).
        let mut rows = LogicalPlanBuilder::from(scan.clone());
        if let Some(p) = &predicate {
            rows = rows.filter(p.clone())?;
        }
        let outputs = SinkOutputs::default();
        let collected: CollectedPositions = outputs.deleted.clone();
        let mut added = Vec::new();
        match assignments {
            None => {
                let plan = rows
                    .project(vec![file.alias(FILE_COLUMN), pos.alias(POS_COLUMN)])?
                    .build()?;
                let physical = self.position_state().create_physical_plan(&plan).await?;
                let batches =
                    datafusion::physical_plan::collect(physical, self.ctx.task_ctx()).await?;
                let mut map = collected.lock().unwrap_or_else(|p| p.into_inner());
                for batch in batches {
                    let files = batch.column(0).as_string::<i32>();
                    let positions = batch.column(1).as_primitive::<Int64Type>();
                    for i in 0..batch.num_rows() {
                        if files.is_null(i) {
                            continue;
                        }
                        map.entry(files.value(i).to_string())
                            .or_default()
                            .push(positions.value(i));
                    }
                }
            }
            Some(values) => {
                let mut exprs = Vec::with_capacity(values.len() + 3);
                for (value, field) in values.iter().zip(table.schema.fields()) {
                    exprs.push(cast(value.clone(), field.data_type().clone()).alias(field.name()));
                }
                exprs.push(file.alias(FILE_COLUMN));
                exprs.push(pos.alias(POS_COLUMN));
                exprs.push(lit(true).alias("__floe_delete"));
                exprs.push(lit(true).alias("__floe_keep"));
                exprs.push(lit(false).alias("__floe_matched"));
                let plan = rows.project(exprs)?.build()?;
                let sink = self
                    .position_sink(&plan, table.schema.fields().len(), &outputs)
                    .await?;
                let (files, _) = write_plan(&base, &name, sink, self.ctx.task_ctx()).await?;
                added = files;
            }
        }
        let collected = std::mem::take(&mut *collected.lock().unwrap_or_else(|p| p.into_inner()));
        if collected.is_empty() {
            delete_files(&base, &added).await;
            return Ok(0);
        }
        self.commit_positions(table, &base, &files, collected, added)
            .await
    }
}
