//! DELETE and UPDATE by merge-on-read, chosen per table with Iceberg's
//! `write.delete.mode` / `write.update.mode` (`copy-on-write`, the default as in Spark,
//! or `merge-on-read`; MERGE reads `write.merge.mode` in [`super::merge`]).
//!
//! One pass over the table version, each row carrying its data file and position
//! ([`crate::scan::positions`]): the rows the predicate holds for are recorded as
//! positions to delete, and UPDATE writes their new values as new data files in the same
//! pass. Then one position delete file (format v2) or deletion vector (v3) per touched
//! data file, and one snapshot (Iceberg's row delta) through
//! [`Session::commit_positions`]. Untouched rows are never rewritten.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::{Column, Result, plan_err};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, lit};
use datafusion::physical_plan::ExecutionPlan;
use floe_catalog::{LiveFile, SnapshotChange};
use iceberg::spec::FormatVersion;
use roaring::RoaringTreemap;

use super::{Shape, replace_scan, shape};
use crate::provider::FloeTable;
use crate::scan::FILE_COLUMN;
use crate::scan::positions::{CollectedPositions, POS_COLUMN, PositionSinkExec, SinkOutputs};
use crate::session::Session;
use crate::write::deletion_vectors::write_deletion_vectors;
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
    ///
    /// Format v2: one position delete file per touched data file. Format v3: one
    /// deletion vector per touched data file holding every position deleted from it so
    /// far (earlier vectors and position delete files included), replacing its earlier
    /// vector in the same snapshot — v3 allows one vector per data file, and readers
    /// ignore position delete files for a file that has one.
    pub(crate) async fn commit_positions(
        &self,
        table: &FloeTable,
        base: &iceberg::table::Table,
        (files, live_deletes): (&[LiveFile], &[LiveFile]),
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
        let v3 = base.metadata().format_version() >= FormatVersion::V3;
        let written = if v3 {
            self.deletion_vectors(table, base, live_deletes, deletes)
                .await
        } else {
            write_position_deletes(base, &table.display_name(), deletes, self.ctx.task_ctx())
                .await
                .map(|w| (w, HashSet::new()))
        };
        let (written, replaced) = match written {
            Ok(w) => w,
            Err(e) => {
                delete_files(base, &added).await;
                return Err(e);
            }
        };
        if added.is_empty() && written.is_empty() {
            return Ok(0);
        }
        let change = SnapshotChange {
            added,
            added_deletes: written,
            removed_deletes: replaced,
            ..Default::default()
        };
        self.commit_change(table, base, change).await?;
        Ok(rows)
    }

    /// The deletion vectors of a v3 merge-on-read statement: per data file, the new
    /// positions joined with every delete already applying to it (loaded as a scan
    /// would, sequence numbers respected). Returns the vectors written and the earlier
    /// vectors (path, offset) they replace.
    async fn deletion_vectors(
        &self,
        table: &FloeTable,
        base: &iceberg::table::Table,
        live_deletes: &[LiveFile],
        deletes: Vec<(LiveFile, Vec<i64>)>,
    ) -> Result<(
        Vec<(i32, iceberg::spec::DataFile)>,
        HashSet<(String, Option<i64>)>,
    )> {
        let name = table.display_name();
        let data: Vec<&LiveFile> = deletes.iter().map(|(f, _)| f).collect();
        let runtime = self.ctx.runtime_env();
        let earlier = crate::scan::deletes::plan_deletes(
            &runtime,
            &name,
            base.metadata(),
            &data,
            live_deletes,
            &table.schema,
        )
        .await?;
        let touched: HashSet<String> = data
            .iter()
            .map(|f| f.file.file_path().to_string())
            .collect();
        let mut vectors = Vec::with_capacity(deletes.len());
        for (live, positions) in deletes {
            let mut vector: RoaringTreemap = positions.into_iter().map(|p| p as u64).collect();
            if let Some(before) = earlier
                .as_ref()
                .and_then(|e| e.positions.get(live.file.file_path()))
            {
                vector |= before;
            }
            vectors.push((live, vector));
        }
        let replaced = live_deletes
            .iter()
            .filter(|d| {
                d.file.file_format() == iceberg::spec::DataFileFormat::Puffin
                    && d.file
                        .referenced_data_file()
                        .is_some_and(|r| touched.contains(&r))
            })
            .map(|d| (d.file.file_path().to_string(), d.file.content_offset()))
            .collect();
        let written = write_deletion_vectors(base, &name, vectors).await?;
        Ok((written, replaced))
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
        let Some((files, deletes)) =
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
        self.commit_positions(table, &base, (&files, &deletes), collected, added)
            .await
    }
}
