//! MERGE INTO by copy-on-write.
//!
//! `MERGE INTO t [AS x] USING src [AS s] ON cond WHEN ...` runs in three plans over the
//! same table version and source, then one snapshot:
//!
//! 1. **Which files change.** The target (every file, each row numbered) joined with the
//!    source — inner, or left when there are `NOT MATCHED BY SOURCE` clauses — gives each
//!    target row its clause (the first whose condition holds). A target row matched by
//!    two source rows is an error when the statement has `WHEN MATCHED` clauses (as the
//!    SQL standard and Spark): nothing is written. Files holding a row that a clause
//!    updates or deletes are the affected files.
//! 2. **Rewrite them.** The affected files joined (left) with the source again: deleted
//!    rows are dropped, updated rows take their clause's values, every other row is kept
//!    as it was.
//! 3. **Insert.** Source rows matching no target row at all (an anti join with the whole
//!    target, not just the affected files) take the first `NOT MATCHED` clause whose
//!    condition holds.
//!
//! Copy-on-write removes the affected files and adds the new ones in one snapshot
//! through [`Session::commit_rewrite`] (merge-on-read: [`Session::commit_positions`]), so the statement is all or nothing, stages inside a
//! transaction like any write, and fails as a conflict if the table moved meanwhile.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Int32Type, Int64Type};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{Column, DFSchema, Result, ScalarValue, TableReference, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::expr_fn::{count, max, min};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{
    Expr, JoinType, LogicalPlan, LogicalPlanBuilder, TableScan, cast, col, lit, when,
};
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Expr as SqlExpr, ExprWithAlias, Ident, Merge, MergeAction, MergeClauseKind,
    MergeInsertKind, ObjectName, ObjectNamePart, TableFactor,
};

use super::merge_on_read::{self, Mode};
use crate::provider::FloeTable;
use crate::scan::FILE_COLUMN;
use crate::scan::positions::{POS_COLUMN, SinkOutputs};
use crate::session::Session;
use crate::write::write_plan;

/// Marks "every column by name" (`UPDATE SET *`, `INSERT *`, DuckDB's bare `UPDATE` and
/// `INSERT`), which sqlparser does not parse: [`expand_star_actions`] writes them as an
/// assignment to / an insert of this one column before parsing.
const ALL_COLUMNS: &str = "__floe_all_columns";
const TARGET_PRESENT: &str = "__floe_target_row";
const SOURCE_PRESENT: &str = "__floe_source_row";
const ROW_ID: &str = "__floe_row_id";
const ACTION: &str = "__floe_action";

/// Rewrites `THEN UPDATE SET *`, `THEN UPDATE` (DuckDB), `THEN INSERT *` and `THEN
/// INSERT` (DuckDB) into forms sqlparser parses, naming [`ALL_COLUMNS`]. Other text is
/// returned unchanged.
pub(crate) fn expand_star_actions(sql: &str) -> String {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return sql.to_string();
    };
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |l: datafusion::sql::sqlparser::tokenizer::Location| -> usize {
        let line = (l.line as usize).saturating_sub(1);
        let start = line_starts.get(line).copied().unwrap_or(sql.len());
        // Columns count characters, not bytes.
        sql[start..]
            .char_indices()
            .nth((l.column as usize).saturating_sub(1))
            .map(|(i, _)| start + i)
            .unwrap_or(sql.len())
    };
    let significant: Vec<_> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let keyword = |i: usize| match significant.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) => Some(w.keyword),
        _ => None,
    };
    let ends_clause = |i: usize| match significant.get(i).map(|t| &t.token) {
        None | Some(Token::EOF) | Some(Token::SemiColon) => true,
        Some(Token::Word(w)) => w.keyword == Keyword::WHEN,
        _ => false,
    };
    let star = |i: usize| matches!(significant.get(i).map(|t| &t.token), Some(Token::Mul));
    // (start, end, replacement), in text order.
    let mut cuts: Vec<(usize, usize, String)> = Vec::new();
    for i in 0..significant.len() {
        if keyword(i) != Some(Keyword::THEN) {
            continue;
        }
        let assign = format!("UPDATE SET {ALL_COLUMNS} = {ALL_COLUMNS}");
        let insert = format!("INSERT ({ALL_COLUMNS}) VALUES ({ALL_COLUMNS})");
        let span = |from: usize, to: usize| {
            (
                offset(significant[from].span.start),
                offset(significant[to].span.end),
            )
        };
        match keyword(i + 1) {
            Some(Keyword::UPDATE) if keyword(i + 2) == Some(Keyword::SET) && star(i + 3) => {
                let (s, e) = span(i + 1, i + 3);
                cuts.push((s, e, assign));
            }
            Some(Keyword::UPDATE) if ends_clause(i + 2) => {
                let (s, e) = span(i + 1, i + 1);
                cuts.push((s, e, assign));
            }
            Some(Keyword::INSERT) if star(i + 2) => {
                let (s, e) = span(i + 1, i + 2);
                cuts.push((s, e, insert));
            }
            Some(Keyword::INSERT) if ends_clause(i + 2) => {
                let (s, e) = span(i + 1, i + 1);
                cuts.push((s, e, insert));
            }
            _ => {}
        }
    }
    let mut out = String::with_capacity(sql.len() + 64);
    let mut at = 0;
    for (s, e, text) in cuts {
        if s < at || e > sql.len() {
            return sql.to_string();
        }
        out.push_str(&sql[at..s]);
        out.push_str(&text);
        at = e;
    }
    out.push_str(&sql[at..]);
    out
}

/// One `WHEN` clause, planned against a join's schema.
enum Action {
    /// New value per table column (`None`: the column keeps its value).
    Update(Vec<Option<Expr>>),
    Delete,
    /// Value per table column (`None`: NULL).
    Insert(Vec<Option<Expr>>),
}

struct Clause {
    kind: MergeClauseKind,
    predicate: Option<SqlExpr>,
    action: MergeAction,
}

fn matched(kind: &MergeClauseKind) -> bool {
    matches!(kind, MergeClauseKind::Matched)
}
fn not_matched(kind: &MergeClauseKind) -> bool {
    matches!(
        kind,
        MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget
    )
}
fn by_source(kind: &MergeClauseKind) -> bool {
    matches!(kind, MergeClauseKind::NotMatchedBySource)
}

fn is_all_columns(name: &ObjectName) -> bool {
    matches!(name.0.as_slice(), [ObjectNamePart::Identifier(i)] if i.value == ALL_COLUMNS)
}

/// The column an identifier names, as DataFusion's planner normalizes identifiers.
fn normalize(ident: &Ident, normalize: bool) -> String {
    if ident.quote_style.is_none() && normalize {
        ident.value.to_lowercase()
    } else {
        ident.value.clone()
    }
}

/// Every column of `plan`, then `extra`.
fn with_columns(plan: &LogicalPlan, extra: impl IntoIterator<Item = Expr>) -> Vec<Expr> {
    plan.schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .chain(extra)
        .collect()
}

/// Which kinds of WHEN clauses a MERGE has.
#[derive(Debug, Clone, Copy)]
struct ClauseKinds {
    matched: bool,
    not_matched: bool,
    by_source: bool,
}

/// What the planning of one phase needs.
struct Planner<'a> {
    session: &'a Session,
    table: &'a FloeTable,
    clauses: &'a [Clause],
    target_alias: TableReference,
    source_alias: TableReference,
    normalize: bool,
}

impl Planner<'_> {
    /// Plans `e` against a join's columns. An unknown column is named with the columns
    /// the statement can see (not floe's internal ones).
    fn expr(&self, e: &SqlExpr, schema: &DFSchema) -> Result<Expr> {
        use datafusion::common::SchemaError;
        use datafusion::error::DataFusionError;
        let planned = self.session.ctx.state().create_logical_expr_from_sql_expr(
            ExprWithAlias {
                expr: e.clone(),
                alias: None,
            },
            schema,
        );
        let Err(error) = planned else {
            return planned;
        };
        let DataFusionError::SchemaError(err, _) = error.find_root() else {
            return Err(error);
        };
        let SchemaError::FieldNotFound { field, .. } = err.as_ref() else {
            return Err(error);
        };
        let visible: Vec<String> = schema
            .columns()
            .into_iter()
            .filter(|c| !c.name.starts_with("__floe_"))
            .map(|c| c.flat_name())
            .collect();
        plan_err!(
            "MERGE: no column {} in '{e}'; the statement's columns are {}",
            field.flat_name(),
            visible.join(", ")
        )
    }

    /// Index of the table column a SET or INSERT list names (`x.c` or `c`).
    fn column_index(&self, name: &ObjectName, what: &str) -> Result<usize> {
        let last = match name.0.last() {
            Some(ObjectNamePart::Identifier(i)) => normalize(i, self.normalize),
            _ => return plan_err!("MERGE {what}: '{name}' is not a column name"),
        };
        match self.table.schema.index_of(&last) {
            Ok(i) => Ok(i),
            Err(_) => plan_err!(
                "MERGE {what}: table '{}' has no column '{last}'",
                self.table.display_name()
            ),
        }
    }

    /// The source column named like table column `i` (for `*`).
    fn source_column(&self, i: usize, schema: &DFSchema) -> Result<Expr> {
        let name = self.table.schema.field(i).name();
        let column = Column::new(Some(self.source_alias.clone()), name);
        if schema.has_column(&column) {
            Ok(Expr::Column(column))
        } else {
            plan_err!(
                "MERGE ... *: the source has no column '{name}' for table '{}'s column of that name",
                self.table.display_name()
            )
        }
    }

    /// Plans the clauses of `keep` kinds against `schema`: (clause number, condition, action).
    fn clauses(
        &self,
        schema: &DFSchema,
        keep: fn(&MergeClauseKind) -> bool,
        with_values: bool,
    ) -> Result<Vec<(i32, Expr, Action)>> {
        let width = self.table.schema.fields().len();
        let mut out = Vec::new();
        for (n, clause) in self.clauses.iter().enumerate() {
            if !keep(&clause.kind) {
                continue;
            }
            let condition = match &clause.predicate {
                Some(p) => self.expr(p, schema)?,
                None => lit(true),
            };
            let action = match &clause.action {
                MergeAction::Delete { .. } => Action::Delete,
                MergeAction::Update(u) => {
                    if u.update_predicate.is_some() || u.delete_predicate.is_some() {
                        return plan_err!(
                            "MERGE: UPDATE ... WHERE / DELETE WHERE (Oracle) is not supported; put the condition after WHEN MATCHED AND ..."
                        );
                    }
                    let mut values = vec![None; width];
                    if with_values {
                        for a in &u.assignments {
                            let names = match &a.target {
                                AssignmentTarget::ColumnName(n) => vec![n.clone()],
                                AssignmentTarget::Tuple(_) => {
                                    return plan_err!(
                                        "MERGE UPDATE SET (a, b) = ... is not supported; assign each column"
                                    );
                                }
                            };
                            if names.len() == 1 && is_all_columns(&names[0]) {
                                for (i, v) in values.iter_mut().enumerate() {
                                    *v = Some(self.source_column(i, schema)?);
                                }
                                continue;
                            }
                            let i = self.column_index(&names[0], "UPDATE SET")?;
                            if values[i].is_some() {
                                return plan_err!(
                                    "MERGE UPDATE SET assigns column '{}' twice",
                                    self.table.schema.field(i).name()
                                );
                            }
                            values[i] = Some(self.expr(&a.value, schema)?);
                        }
                    }
                    Action::Update(values)
                }
                MergeAction::Insert(insert) => {
                    if insert.insert_predicate.is_some() {
                        return plan_err!(
                            "MERGE: INSERT ... WHERE (Oracle) is not supported; put the condition after WHEN NOT MATCHED AND ..."
                        );
                    }
                    let mut values = vec![None; width];
                    if with_values {
                        let all = insert.columns.len() == 1 && is_all_columns(&insert.columns[0]);
                        if all {
                            for (i, v) in values.iter_mut().enumerate() {
                                *v = Some(self.source_column(i, schema)?);
                            }
                        } else {
                            let row = match &insert.kind {
                                MergeInsertKind::Values(v) if v.rows.len() == 1 => &v.rows[0],
                                MergeInsertKind::Values(_) => {
                                    return plan_err!("MERGE INSERT takes exactly one VALUES row");
                                }
                                MergeInsertKind::Row => {
                                    return plan_err!(
                                        "MERGE INSERT ROW is not supported; use INSERT * or INSERT (cols) VALUES (...)"
                                    );
                                }
                            };
                            let columns: Vec<usize> = if insert.columns.is_empty() {
                                (0..width).collect()
                            } else {
                                insert
                                    .columns
                                    .iter()
                                    .map(|c| self.column_index(c, "INSERT"))
                                    .collect::<Result<_>>()?
                            };
                            if columns.len() != row.len() {
                                return plan_err!(
                                    "MERGE INSERT names {} columns but gives {} values",
                                    columns.len(),
                                    row.len()
                                );
                            }
                            for (i, v) in columns.into_iter().zip(row) {
                                if values[i].is_some() {
                                    return plan_err!(
                                        "MERGE INSERT names column '{}' twice",
                                        self.table.schema.field(i).name()
                                    );
                                }
                                values[i] = Some(self.expr(v, schema)?);
                            }
                        }
                    }
                    Action::Insert(values)
                }
            };
            out.push((n as i32 + 1, condition, action));
        }
        Ok(out)
    }

    /// Each table column's value after the statement, for rows carrying [`ACTION`]: the
    /// value the chosen UPDATE or INSERT clause gives it, else the target row's own
    /// (`keep_old`) or NULL; cast to the column's type.
    fn values(&self, groups: &[&[(i32, Expr, Action)]], keep_old: bool) -> Result<Vec<Expr>> {
        let mut exprs = Vec::new();
        for (i, field) in self.table.schema.fields().iter().enumerate() {
            let otherwise = if keep_old {
                col(Column::new(Some(self.target_alias.clone()), field.name()))
            } else {
                lit(ScalarValue::Null)
            };
            let values: Vec<(i32, &Expr)> = groups
                .iter()
                .flat_map(|g| g.iter())
                .filter_map(|(n, _, a)| match a {
                    Action::Update(values) | Action::Insert(values) => {
                        values[i].as_ref().map(|v| (*n, v))
                    }
                    Action::Delete => None,
                })
                .collect();
            let value = match values.split_first() {
                None => otherwise,
                Some(((n, v), rest)) => {
                    let mut b = when(col(ACTION).eq(lit(*n)), (*v).clone());
                    for (n, v) in rest {
                        b = b.when(col(ACTION).eq(lit(*n)), (*v).clone());
                    }
                    b.otherwise(otherwise)?
                }
            };
            exprs.push(cast(value, field.data_type().clone()).alias(field.name()));
        }
        Ok(exprs)
    }

    /// The number of the first clause whose condition holds (NULL: none).
    fn case(clauses: &[(i32, Expr, Action)]) -> Result<Expr> {
        let mut it = clauses.iter();
        let Some((n, c, _)) = it.next() else {
            return Ok(lit(ScalarValue::Int32(None)));
        };
        let mut builder = when(c.clone(), lit(*n));
        for (n, c, _) in it {
            builder = builder.when(c.clone(), lit(*n));
        }
        builder.end()
    }

    /// The target version as a plan: its columns under the target's alias, a presence
    /// flag, and optionally the data file path, restricted to `only` files.
    fn target(
        &self,
        only: Option<Arc<HashSet<String>>>,
        row_id: bool,
        with_file: bool,
        positions: bool,
    ) -> Result<LogicalPlan> {
        let provider: Arc<FloeTable> = Arc::new(if positions {
            self.table.with_positions()
        } else if with_file || only.is_some() {
            self.table.with_file_column(only)
        } else {
            self.table.clone()
        });
        let scan = LogicalPlan::TableScan(TableScan::try_new(
            self.target_alias.clone(),
            provider_as_source(provider),
            None,
            vec![],
            None,
        )?);
        let mut plan = scan;
        if row_id {
            // Unique per row within this one execution, which is all the cardinality
            // check needs.
            plan = LogicalPlanBuilder::from(plan)
                .window(vec![row_number().alias(ROW_ID)])?
                .build()?;
        }
        let exprs = with_columns(&plan, [lit(true).alias(TARGET_PRESENT)]);
        LogicalPlanBuilder::from(plan)
            .project(exprs)?
            .alias(self.target_alias.clone())?
            .build()
    }
}

impl Session {
    /// Runs `MERGE INTO`; returns the number of target rows updated, deleted or inserted.
    pub(crate) async fn merge(&self, m: &Merge) -> Result<u64> {
        if m.output.is_some() {
            return plan_err!("MERGE ... OUTPUT/RETURNING is not supported");
        }
        if m.clauses.is_empty() {
            return plan_err!("MERGE needs at least one WHEN clause");
        }
        let TableFactor::Table {
            name: target_name,
            alias: target_alias,
            ..
        } = &m.table
        else {
            return plan_err!("MERGE INTO needs a table name as its target");
        };
        let resolved = self.table_name(target_name)?;
        if !self.is_floe(&resolved.catalog) {
            return plan_err!(
                "MERGE INTO needs an Iceberg table in the floe catalog; '{target_name}' is in catalog '{}'",
                resolved.catalog
            );
        }
        let reference = TableReference::full(
            resolved.catalog.clone(),
            resolved.schema.clone(),
            resolved.table.clone(),
        );
        let provider = match self.ctx.table_provider(reference).await {
            Ok(p) => p,
            Err(_) => return plan_err!("table '{target_name}' does not exist"),
        };
        let Some(table) = provider.as_any().downcast_ref::<FloeTable>() else {
            return plan_err!("MERGE INTO needs an Iceberg table; '{target_name}' is not one");
        };
        table.check_writable()?;
        let normalize_idents = self
            .ctx
            .state()
            .config()
            .options()
            .sql_parser
            .enable_ident_normalization;
        let target_alias = TableReference::bare(match target_alias {
            Some(a) => normalize(&a.name, normalize_idents),
            None => resolved.table.clone(),
        });
        // The source: any table, subquery or time-travel version, as `SELECT *` of it.
        let source_alias = match &m.source {
            TableFactor::Table { alias: Some(a), .. }
            | TableFactor::Derived { alias: Some(a), .. } => normalize(&a.name, normalize_idents),
            TableFactor::Table {
                name, alias: None, ..
            } => match name.0.last() {
                Some(ObjectNamePart::Identifier(i)) => normalize(i, normalize_idents),
                _ => return plan_err!("MERGE USING '{name}': not a table name"),
            },
            _ => return plan_err!("MERGE USING (subquery) needs an alias: USING (...) AS s"),
        };
        let source_alias = TableReference::bare(source_alias);
        if source_alias == target_alias {
            return plan_err!(
                "MERGE: the target and the source are both called '{target_alias}'; give one of them an alias"
            );
        }
        let clauses: Vec<Clause> = m
            .clauses
            .iter()
            .map(|c| Clause {
                kind: c.clause_kind,
                predicate: c.predicate.clone(),
                action: c.action.clone(),
            })
            .collect();
        let statement = self.parse_checked(&format!("SELECT * FROM {}", m.source))?;
        let source_plan = self.ctx.state().statement_to_plan(statement).await?;
        let source_exprs = with_columns(&source_plan, [lit(true).alias(SOURCE_PRESENT)]);
        let source = LogicalPlanBuilder::from(source_plan)
            .project(source_exprs)?
            .alias(source_alias.clone())?
            .build()?;

        let _writing = self.shared.engine.catalog.write_guard();
        let planner = Planner {
            session: self,
            table,
            clauses: &clauses,
            target_alias,
            source_alias,
            normalize: normalize_idents,
        };
        let name = table.display_name();
        let base = table.iceberg_table().clone();
        let has_matched = clauses.iter().any(|c| matched(&c.kind));
        let has_by_source = clauses.iter().any(|c| by_source(&c.kind));
        let has_not_matched = clauses.iter().any(|c| not_matched(&c.kind));
        // Clause numbers that remove the target row from its file.
        let rewriting: HashSet<i32> = clauses
            .iter()
            .enumerate()
            .filter(|(_, c)| !matches!(c.action, MergeAction::Insert(_)))
            .map(|(n, _)| n as i32 + 1)
            .collect();
        let deleting: Vec<i32> = clauses
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.action, MergeAction::Delete { .. }))
            .map(|(n, _)| n as i32 + 1)
            .collect();
        let updating: HashSet<i32> = clauses
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.action, MergeAction::Update(_)))
            .map(|(n, _)| n as i32 + 1)
            .collect();
        let has_snapshot = table.snapshot_id().is_some();
        if merge_on_read::mode(table, "write.merge.mode")? == Mode::MergeOnRead && has_snapshot {
            let kinds = ClauseKinds {
                matched: has_matched,
                not_matched: has_not_matched,
                by_source: has_by_source,
            };
            return self
                .merge_single_pass(&planner, &base, &source, m, kinds, &rewriting, &updating)
                .await;
        }

        // 1. Which files change, and the cardinality check.
        let mut affected_rows = 0u64;
        let mut affected: HashSet<String> = HashSet::new();
        if has_snapshot && (has_matched || has_by_source) {
            let target = planner.target(None, has_matched, true, false)?;
            let join = if has_by_source {
                JoinType::Left
            } else {
                JoinType::Inner
            };
            let joined = self.join(&planner, target, source.clone(), join, m)?;
            let schema = joined.schema().clone();
            let matched_case = Planner::case(&planner.clauses(&schema, matched, false)?)?;
            let by_source_case = Planner::case(&planner.clauses(&schema, by_source, false)?)?;
            let source_present = col(Column::new(
                Some(planner.source_alias.clone()),
                SOURCE_PRESENT,
            ));
            let action = when(source_present.clone().is_not_null(), matched_case)
                .otherwise(by_source_case)?;
            let file = col(Column::new(Some(planner.target_alias.clone()), FILE_COLUMN));
            let plan = LogicalPlanBuilder::from(joined)
                .project(vec![
                    file.alias(FILE_COLUMN),
                    if has_matched {
                        col(Column::new(Some(planner.target_alias.clone()), ROW_ID)).alias(ROW_ID)
                    } else {
                        lit(0i64).alias(ROW_ID)
                    },
                    source_present.alias(SOURCE_PRESENT),
                    action.alias(ACTION),
                ])?
                .filter(
                    col(SOURCE_PRESENT)
                        .is_not_null()
                        .or(col(ACTION).is_not_null()),
                )?;
            let plan = if has_matched {
                plan.aggregate(
                    vec![col(ROW_ID)],
                    vec![
                        min(col(FILE_COLUMN)).alias(FILE_COLUMN),
                        count(col(SOURCE_PRESENT)).alias("n"),
                        max(col(ACTION)).alias(ACTION),
                    ],
                )?
                .project(vec![col(FILE_COLUMN), col("n"), col(ACTION)])?
            } else {
                plan.project(vec![col(FILE_COLUMN), lit(0i64).alias("n"), col(ACTION)])?
            }
            .build()?;
            for batch in self.collect_plan(plan).await? {
                let files = batch.column(0).as_string::<i32>();
                let n = batch.column(1).as_primitive::<Int64Type>();
                let actions = batch.column(2).as_primitive::<Int32Type>();
                for i in 0..batch.num_rows() {
                    if n.value(i) > 1 {
                        return plan_err!(
                            "MERGE: a row of table '{name}' (in file {}) matched {} source rows; each target row may match at most one source row",
                            files.value(i),
                            n.value(i)
                        );
                    }
                    if !actions.is_null(i) && rewriting.contains(&actions.value(i)) {
                        affected_rows += 1;
                        affected.insert(files.value(i).to_string());
                    }
                }
            }
        }

        let mut added = Vec::new();
        let result = async {
            // 2. Rewrite the affected files.
            if !affected.is_empty() {
                let only = Arc::new(affected.clone());
                let target = planner.target(Some(only), false, true, false)?;
                let joined = self.join(&planner, target, source.clone(), JoinType::Left, m)?;
                let schema = joined.schema().clone();
                let matched_clauses = planner.clauses(&schema, matched, true)?;
                let by_source_clauses = planner.clauses(&schema, by_source, true)?;
                let source_present = col(Column::new(
                    Some(planner.source_alias.clone()),
                    SOURCE_PRESENT,
                ));
                let action = when(
                    source_present.is_not_null(),
                    Planner::case(&matched_clauses)?,
                )
                .otherwise(Planner::case(&by_source_clauses)?)?;
                let exprs = planner.values(&[&matched_clauses, &by_source_clauses], true)?;
                let with_action = with_columns(&joined, [action.alias(ACTION)]);
                let mut builder = LogicalPlanBuilder::from(joined).project(with_action)?;
                if !deleting.is_empty() {
                    let deleted =
                        col(ACTION).in_list(deleting.iter().map(|n| lit(*n)).collect(), false);
                    builder = builder.filter(Expr::IsNotTrue(Box::new(deleted)))?;
                }
                let rows = builder.project(exprs)?.build()?;
                let physical = self.ctx.state().create_physical_plan(&rows).await?;
                let (files, _) = write_plan(&base, &name, physical, self.ctx.task_ctx()).await?;
                added.extend(files);
            }
            // 3. Insert source rows that match no target row.
            let mut inserted = 0u64;
            if has_not_matched {
                let target = planner.target(None, false, false, false)?;
                let anti = self.join(&planner, source.clone(), target, JoinType::LeftAnti, m)?;
                let schema = anti.schema().clone();
                let clauses = planner.clauses(&schema, not_matched, true)?;
                let action = Planner::case(&clauses)?;
                let exprs = planner.values(&[&clauses], false)?;
                let with_action = with_columns(&anti, [action.alias(ACTION)]);
                let rows = LogicalPlanBuilder::from(anti)
                    .project(with_action)?
                    .filter(col(ACTION).is_not_null())?
                    .project(exprs)?
                    .build()?;
                let physical = self.ctx.state().create_physical_plan(&rows).await?;
                let (files, n) = write_plan(&base, &name, physical, self.ctx.task_ctx()).await?;
                added.extend(files);
                inserted = n;
            }
            Ok::<_, datafusion::error::DataFusionError>(inserted)
        }
        .await;
        let inserted = match result {
            Ok(n) => n,
            Err(e) => {
                crate::write::delete_files(&base, &added).await;
                return Err(e);
            }
        };
        self.commit_rewrite(table, &base, added, affected).await?;
        Ok(affected_rows + inserted)
    }

    /// MERGE by merge-on-read, in one join of the target (each row with its data file
    /// and position) and the source — inner, left, right or full as the clause kinds
    /// need. Every joined row gets its clause; one [`PositionSinkExec`] pass records the
    /// positions of the target rows clauses update or delete, and of every matched target
    /// row for the cardinality check, while the updated rows' new values and the inserted
    /// rows stream into new data files. Then one delete file per touched data file and one
    /// row-delta snapshot.
    ///
    /// [`PositionSinkExec`]: crate::scan::positions::PositionSinkExec
    #[allow(clippy::too_many_arguments)]
    async fn merge_single_pass(
        &self,
        planner: &Planner<'_>,
        base: &iceberg::table::Table,
        source: &LogicalPlan,
        m: &Merge,
        kinds: ClauseKinds,
        rewriting: &HashSet<i32>,
        updating: &HashSet<i32>,
    ) -> Result<u64> {
        let table = planner.table;
        let name = table.display_name();
        let Some((files, deletes)) =
            crate::scan::snapshot_files(&self.shared.engine, base, table.snapshot_id()).await?
        else {
            return plan_err!("table '{name}' has no snapshot to merge into");
        };
        // NOT MATCHED clauses see only the source: planned against it alone first, so a
        // reference to a target column is an error (as in the copy-on-write plan).
        planner.clauses(source.schema(), not_matched, true)?;
        let target = planner.target(None, false, false, true)?;
        let join = match (kinds.not_matched, kinds.by_source) {
            (true, true) => JoinType::Full,
            (true, false) => JoinType::Right,
            (false, true) => JoinType::Left,
            (false, false) => JoinType::Inner,
        };
        let joined = self.join(planner, target, source.clone(), join, m)?;
        let schema = joined.schema().clone();
        let matched_clauses = planner.clauses(&schema, matched, true)?;
        let not_matched_clauses = planner.clauses(&schema, not_matched, true)?;
        let by_source_clauses = planner.clauses(&schema, by_source, true)?;
        let target_present = col(Column::new(
            Some(planner.target_alias.clone()),
            TARGET_PRESENT,
        ))
        .is_not_null();
        let source_present = col(Column::new(
            Some(planner.source_alias.clone()),
            SOURCE_PRESENT,
        ))
        .is_not_null();
        let both = target_present.clone().and(source_present.clone());
        let action = when(both.clone(), Planner::case(&matched_clauses)?)
            .when(source_present, Planner::case(&not_matched_clauses)?)
            .otherwise(Planner::case(&by_source_clauses)?)?;
        let inserting: HashSet<i32> = not_matched_clauses.iter().map(|(n, _, _)| *n).collect();
        // An INSERT clause without a value for a column gives NULL: the target side of a
        // source-only row is NULL.
        let mut exprs = planner.values(
            &[&matched_clauses, &by_source_clauses, &not_matched_clauses],
            true,
        )?;
        let in_list = |numbers: &HashSet<i32>| {
            Expr::IsTrue(Box::new(
                col(ACTION).in_list(numbers.iter().map(|n| lit(*n)).collect(), false),
            ))
        };
        let keep: HashSet<i32> = updating.union(&inserting).copied().collect();
        exprs.push(
            col(Column::new(Some(planner.target_alias.clone()), FILE_COLUMN)).alias(FILE_COLUMN),
        );
        exprs.push(
            col(Column::new(Some(planner.target_alias.clone()), POS_COLUMN)).alias(POS_COLUMN),
        );
        exprs.push(in_list(rewriting).alias("__floe_delete"));
        exprs.push(in_list(&keep).alias("__floe_keep"));
        exprs.push(
            if kinds.matched {
                col("__floe_both")
            } else {
                lit(false)
            }
            .alias("__floe_matched"),
        );
        let with_action = with_columns(&joined, [action.alias(ACTION), both.alias("__floe_both")]);
        let mut relevant = col(ACTION).is_not_null();
        if kinds.matched {
            relevant = relevant.or(col("__floe_both"));
        }
        let rows = LogicalPlanBuilder::from(joined)
            .project(with_action)?
            .filter(relevant)?
            .project(exprs)?
            .build()?;
        let outputs = SinkOutputs::default();
        let sink = self
            .position_sink(&rows, table.schema.fields().len(), &outputs)
            .await?;
        let (added, _) = write_plan(base, &name, sink, self.ctx.task_ctx()).await?;
        // A target row matched by two source rows: an error, and nothing is committed.
        let matched_positions =
            std::mem::take(&mut *outputs.matched.lock().unwrap_or_else(|p| p.into_inner()));
        for (file, mut positions) in matched_positions {
            positions.sort_unstable();
            let mut run = 1;
            for w in positions.windows(2) {
                run = if w[0] == w[1] { run + 1 } else { 1 };
                if run > 1 {
                    let n = positions.iter().filter(|p| **p == w[0]).count();
                    crate::write::delete_files(base, &added).await;
                    return plan_err!(
                        "MERGE: a row of table '{name}' (in file {file}) matched {n} source rows; each target row may match at most one source row"
                    );
                }
            }
        }
        let deleted =
            std::mem::take(&mut *outputs.deleted.lock().unwrap_or_else(|p| p.into_inner()));
        let inserted = outputs.inserted.load(std::sync::atomic::Ordering::Relaxed);
        let removed = self
            .commit_positions(table, base, (&files, &deletes), deleted, added)
            .await?;
        Ok(removed + inserted)
    }

    /// `left JOIN right ON <the statement's condition>`, the condition planned against
    /// the two sides' columns (target under its alias, source under its own).
    fn join(
        &self,
        planner: &Planner<'_>,
        left: LogicalPlan,
        right: LogicalPlan,
        join: JoinType,
        m: &Merge,
    ) -> Result<LogicalPlan> {
        let schema = left.schema().join(right.schema())?;
        let on = planner.expr(&m.on, &schema)?;
        if on.exists(|e| {
            Ok(matches!(
                e,
                Expr::Exists(_) | Expr::InSubquery(_) | Expr::ScalarSubquery(_)
            ))
        })? {
            return plan_err!("MERGE ... ON: subqueries in the join condition are not supported");
        }
        LogicalPlanBuilder::from(left)
            .join_on(right, join, vec![on])?
            .build()
    }
}
