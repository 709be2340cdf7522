//! Compaction: `CALL rewrite_data_files(table, strategy, sort_order, where, options)`,
//! with Spark's procedure, argument and option names.
//!
//! `rewrite_data_files` picks, per partition, the files worth rewriting — too small
//! (< `min-file-size-bytes`, 75% of the target), too large (> `max-file-size-bytes`,
//! 180%), carrying delete files, or written with an older partition spec — and rewrites
//! a partition's picks when there are at least `min-input-files` (5) of them, when they
//! hold more than a target file's worth of bytes, or when one carries deletes. The picked
//! files are read as the table shows them (deletes applied) and written as target-size
//! files (`binpack`), or sorted (`sort` with `sort_order`). One `replace` snapshot
//! removes them and adds the new files; delete files left with nothing to apply to go in
//! the same snapshot. It commits with the base snapshot as a requirement, so a
//! concurrent write fails the compaction (nothing is lost) rather than being undone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::DataType;

use datafusion::common::{Column, DFSchema, Result, TableReference, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, SortExpr, TableScan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use floe_catalog::SnapshotChange;
use iceberg::TableIdent;
use iceberg::TableUpdate;

use super::{Args, Kind, Procedure, p, table_output};
use crate::provider::FloeTable;
use crate::scan::deletes::index::DeleteIndex;
use crate::scan::deletes::unpartitioned_specs;
use crate::session::{Session, StatementOutput};
use crate::write::{target_file_size, write_plan_sized};

pub(super) const PROCEDURE: Procedure = Procedure {
    name: "rewrite_data_files",
    params: &[
        p("table", Kind::Text, true),
        p("strategy", Kind::Text, false),
        p("sort_order", Kind::Text, false),
        p("where", Kind::Text, false),
        p("options", Kind::TextMap, false),
    ],
    doc: "Compacts small files and files carrying deletes into target-size files (binpack, or sort with sort_order), in one replace snapshot",
    in_transaction: false,
    run: |session, args| Box::pin(run(session, args)),
};

async fn run(session: &Session, args: Args) -> Result<StatementOutput> {
    let ident = session.table_arg(&args.required_text("table")?)?;
    let r = session
        .rewrite_data_files(
            &ident,
            args.text("strategy").as_deref(),
            args.text("sort_order").as_deref(),
            args.text("where").as_deref(),
            &args.map("options"),
        )
        .await?;
    let int = |n: i64| Arc::new(Int64Array::from(vec![n])) as ArrayRef;
    table_output(
        &[
            ("rewritten_data_files_count", DataType::Int64),
            ("added_data_files_count", DataType::Int64),
            ("rewritten_bytes_count", DataType::Int64),
            ("failed_data_files_count", DataType::Int64),
            ("removed_delete_files_count", DataType::Int64),
        ],
        vec![
            int(r.rewritten_data_files as i64),
            int(r.added_data_files as i64),
            int(r.rewritten_bytes as i64),
            // Spark's column: file groups that failed in a partial-progress run. floe
            // commits all groups or none, so a failure is the statement's error.
            int(0),
            int(r.removed_delete_files as i64),
        ],
    )
}

/// What `rewrite_data_files` did.
#[derive(Debug, Default)]
pub struct RewriteResult {
    pub rewritten_data_files: usize,
    pub added_data_files: usize,
    pub rewritten_bytes: u64,
    pub removed_delete_files: u64,
}

/// The options Spark's `rewrite_data_files` takes that floe honours.
const OPTIONS: &[&str] = &[
    "target-file-size-bytes",
    "min-file-size-bytes",
    "max-file-size-bytes",
    "min-input-files",
    "rewrite-all",
];

fn parse_options(
    table: &str,
    options: &[(String, String)],
    default_target: u64,
) -> Result<(u64, u64, u64, usize, bool)> {
    let mut map: HashMap<&str, &str> = HashMap::new();
    for (k, v) in options {
        if !OPTIONS.contains(&k.as_str()) {
            return plan_err!(
                "rewrite_data_files: unknown option '{k}' (options: {})",
                OPTIONS.join(", ")
            );
        }
        map.insert(k.as_str(), v.as_str());
    }
    let number = |key: &str| -> Result<Option<u64>> {
        match map.get(key) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) => Ok(Some(n)),
                Err(_) => plan_err!(
                    "rewrite_data_files on '{table}': option '{key}' must be a whole number, not '{v}'"
                ),
            },
        }
    };
    let target = number("target-file-size-bytes")?.unwrap_or(default_target);
    if target == 0 {
        return plan_err!("rewrite_data_files: target-file-size-bytes must be positive");
    }
    let min_size = number("min-file-size-bytes")?.unwrap_or(target / 4 * 3);
    let max_size = number("max-file-size-bytes")?.unwrap_or(target / 5 * 9);
    let min_input = number("min-input-files")?.unwrap_or(5).max(1) as usize;
    let rewrite_all = match map
        .get("rewrite-all")
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(v) => {
            return plan_err!(
                "rewrite_data_files: option 'rewrite-all' must be true or false, not '{v}'"
            );
        }
    };
    Ok((target, min_size, max_size, min_input, rewrite_all))
}

/// `a DESC, b ASC NULLS FIRST` as sort expressions over the table's columns.
fn parse_sort_order(text: &str, table: &FloeTable) -> Result<Vec<SortExpr>> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let words: Vec<String> = item.split_whitespace().map(str::to_string).collect();
        let Some(name) = words.first() else {
            return plan_err!("sort_order '{text}' has an empty item");
        };
        if name.contains('(') {
            return plan_err!(
                "sort_order '{text}': only column names are supported (no zorder or transforms)"
            );
        }
        let name = name.trim_matches('"');
        let Some(field) = table
            .schema
            .fields()
            .iter()
            .find(|f| f.name() == name || f.name().eq_ignore_ascii_case(name))
        else {
            return plan_err!(
                "sort_order '{text}': table '{}' has no column '{name}'",
                table.display_name()
            );
        };
        let rest: Vec<String> = words[1..].iter().map(|w| w.to_ascii_uppercase()).collect();
        let (asc, nulls) = match rest
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [] => (true, None),
            ["ASC"] => (true, None),
            ["DESC"] => (false, None),
            ["NULLS", "FIRST"] => (true, Some(true)),
            ["NULLS", "LAST"] => (true, Some(false)),
            ["ASC", "NULLS", "FIRST"] => (true, Some(true)),
            ["ASC", "NULLS", "LAST"] => (true, Some(false)),
            ["DESC", "NULLS", "FIRST"] => (false, Some(true)),
            ["DESC", "NULLS", "LAST"] => (false, Some(false)),
            _ => {
                return plan_err!(
                    "sort_order '{text}': expected 'column [ASC|DESC] [NULLS FIRST|LAST]' in '{}'",
                    item.trim()
                );
            }
        };
        // Iceberg's defaults: NULLS FIRST ascending, NULLS LAST descending.
        let nulls_first = nulls.unwrap_or(asc);
        out.push(SortExpr::new(
            Expr::Column(Column::new_unqualified(field.name())),
            asc,
            nulls_first,
        ));
    }
    Ok(out)
}

impl Session {
    /// `CALL rewrite_data_files(table, strategy, sort_order, where, options)`.
    async fn rewrite_data_files(
        &self,
        ident: &TableIdent,
        strategy: Option<&str>,
        sort_order: Option<&str>,
        filter: Option<&str>,
        options: &[(String, String)],
    ) -> Result<RewriteResult> {
        let table = self.floe_table(ident).await?;
        table.check_writable()?;
        let name = table.display_name();
        let sort = match (strategy.map(|s| s.trim().to_ascii_lowercase()), sort_order) {
            (None, None) => None,
            (Some(s), None) if s == "binpack" => None,
            (Some(s), Some(_)) if s == "binpack" => {
                return plan_err!(
                    "rewrite_data_files: sort_order needs strategy => 'sort', not 'binpack'"
                );
            }
            (Some(s), None) if s == "sort" => {
                return plan_err!(
                    "rewrite_data_files: strategy 'sort' needs sort_order => 'column [ASC|DESC], ...'"
                );
            }
            (Some(s), Some(order)) if s == "sort" => Some(parse_sort_order(order, &table)?),
            (None, Some(order)) => Some(parse_sort_order(order, &table)?),
            (Some(s), _) => {
                return plan_err!(
                    "rewrite_data_files: unknown strategy '{s}' (strategies: binpack, sort)"
                );
            }
        };
        let base = table.iceberg_table().clone();
        let (target, min_size, max_size, min_input, rewrite_all) =
            parse_options(&name, options, target_file_size(&base)? as u64)?;
        // Until the commit returns, the new files are named by no metadata.
        let _writing = self.shared.engine.catalog.write_guard();
        let Some((files, deletes)) =
            crate::scan::snapshot_files(&self.shared.engine, &base, table.snapshot_id()).await?
        else {
            return Ok(RewriteResult::default());
        };
        let md = base.metadata();
        let unpartitioned = unpartitioned_specs(md);
        let index = DeleteIndex::new(&deletes, &unpartitioned).map_err(|e| {
            datafusion::error::DataFusionError::Plan(format!("table '{name}': {e}"))
        })?;
        // Files that may hold rows matching `where` (by their column bounds).
        let matching: Vec<bool> = match filter {
            None => vec![true; files.len()],
            Some(text) => {
                let schema = DFSchema::try_from(table.schema.as_ref().clone())?;
                let expr = self
                    .ctx
                    .state()
                    .create_logical_expr(text, &schema)
                    .map_err(|e| {
                        datafusion::error::DataFusionError::Plan(format!(
                            "rewrite_data_files: where '{text}': {}",
                            crate::error::display_error(&e)
                        ))
                    })?;
                let data: Vec<&iceberg::spec::DataFile> = files.iter().map(|f| &f.file).collect();
                crate::stats::prune_files(&data, &table.schema, &[expr])
            }
        };
        let default_spec = md.default_partition_spec_id();
        // Per partition (spec and tuple): the candidate files and whether one carries deletes.
        let mut groups: BTreeMap<String, (Vec<usize>, u64, bool)> = BTreeMap::new();
        for (i, f) in files.iter().enumerate() {
            if !matching[i] {
                continue;
            }
            let size = f.file.file_size_in_bytes();
            let has_deletes = !index.applicable(f, &unpartitioned).is_empty();
            let candidate = rewrite_all
                || size < min_size
                || size > max_size
                || has_deletes
                || f.spec_id != default_spec;
            if !candidate {
                continue;
            }
            let key = format!("{}/{:?}", f.spec_id, f.file.partition());
            let g = groups.entry(key).or_default();
            g.0.push(i);
            g.1 += size;
            g.2 |= has_deletes || f.spec_id != default_spec;
        }
        let mut chosen: HashSet<String> = HashSet::new();
        let mut rewritten_bytes = 0u64;
        for (_, (members, bytes, forced)) in groups {
            let one_too_large = members
                .iter()
                .any(|&i| files[i].file.file_size_in_bytes() > max_size);
            let worth = rewrite_all
                || forced
                || members.len() >= min_input
                || (members.len() > 1 && bytes > target)
                || one_too_large;
            if worth {
                rewritten_bytes += bytes;
                chosen.extend(
                    members
                        .iter()
                        .map(|&i| files[i].file.file_path().to_string()),
                );
            }
        }
        if chosen.is_empty() {
            return Ok(RewriteResult::default());
        }
        let provider = Arc::new(table.with_file_column(Some(Arc::new(chosen.clone()))));
        let scan = LogicalPlan::TableScan(TableScan::try_new(
            TableReference::bare("t"),
            provider_as_source(provider),
            None,
            vec![],
            None,
        )?);
        let columns: Vec<Expr> = table
            .schema
            .fields()
            .iter()
            .map(|f| Expr::Column(Column::new(Some(TableReference::bare("t")), f.name())))
            .collect();
        let mut builder = LogicalPlanBuilder::from(scan).project(columns)?;
        if let Some(sort) = sort {
            builder = builder.sort(sort)?;
        }
        let plan = builder.build()?;
        let mut physical = self.ctx.state().create_physical_plan(&plan).await?;
        // One writer, so each partition gets as few files as the target size allows.
        if physical.properties().partitioning.partition_count() > 1 {
            physical = Arc::new(CoalescePartitionsExec::new(physical)) as Arc<dyn ExecutionPlan>;
        }
        let (added, _) = write_plan_sized(
            &base,
            &name,
            physical,
            self.ctx.task_ctx(),
            Some(target as usize),
        )
        .await?;
        let added_count = added.len();
        let change = SnapshotChange {
            added,
            removed: chosen.clone(),
            rewrite: true,
            ..Default::default()
        };
        let produced = self.commit_change(&table, &base, change).await?;
        let removed_delete_files = produced
            .updates
            .iter()
            .find_map(|u| match u {
                TableUpdate::AddSnapshot { snapshot } => snapshot
                    .summary()
                    .additional_properties
                    .get("removed-delete-files")
                    .and_then(|v| v.parse().ok()),
                _ => None,
            })
            .unwrap_or(0);
        Ok(RewriteResult {
            rewritten_data_files: chosen.len(),
            added_data_files: added_count,
            rewritten_bytes,
            removed_delete_files,
        })
    }
}
