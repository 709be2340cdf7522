//! Output names for SELECT lists DataFusion refuses as ambiguous.
//!
//! DataFusion requires a projection's names to be unique, and names unaliased expressions
//! after their plan (`SELECT 1, 1` is `Int64(1)` twice; two scalar subqueries are both
//! `(<subquery>)`), so statements DuckDB and PostgreSQL run fail with "Projections require
//! unique expression names". When planning fails that way, the statement is planned
//! again with every SELECT list named the way DuckDB names it: an unaliased column keeps
//! its name, any other unaliased expression is named by its SQL text, and a name already
//! used in the list gets `_1`, `_2`, ... (`SELECT 1, 1` has columns `1` and `1_1`, as a
//! DuckDB table created from it does). Statements that plan as written keep DataFusion's
//! names.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::common::Result;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, Query, SelectItem, SetExpr, Statement, VisitMut, VisitorMut,
};

/// The part of DataFusion's error that this module answers.
const DUPLICATE_NAMES: &str = "Projections require unique expression names";

/// Plans `statement`; if DataFusion refuses it for duplicate output names (and `friendly`,
/// the session's `friendly_sql`, allows), plans it again with every SELECT list named as
/// DuckDB names it.
pub async fn plan_with_unique_names(
    state: &datafusion::execution::SessionState,
    statement: DFStatement,
    friendly: bool,
) -> Result<LogicalPlan> {
    let retry = statement.clone();
    match state.statement_to_plan(statement).await {
        Err(e) if friendly && e.to_string().contains(DUPLICATE_NAMES) => {
            let mut renamed = retry;
            if !name_select_lists(&mut renamed) {
                return Err(e);
            }
            state.statement_to_plan(renamed).await
        }
        other => other,
    }
}

/// Names every SELECT list of `statement` (see the module doc); whether any changed.
pub fn name_select_lists(statement: &mut DFStatement) -> bool {
    let stmt: &mut Statement = match statement {
        DFStatement::Statement(s) => s.as_mut(),
        _ => return false,
    };
    let mut namer = Namer { changed: false };
    let _ = stmt.visit(&mut namer);
    namer.changed
}

struct Namer {
    changed: bool,
}

impl VisitorMut for Namer {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Self::Break> {
        self.changed |= name_set_expr(query.body.as_mut());
        ControlFlow::Continue(())
    }
}

/// Names the SELECT lists of a query body (both sides of a set operation; nested
/// queries are visited on their own).
fn name_set_expr(body: &mut SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => name_list(&mut select.projection),
        SetExpr::SetOperation { left, right, .. } => {
            let l = name_set_expr(left);
            let r = name_set_expr(right);
            l || r
        }
        _ => false,
    }
}

/// The name an unaliased item has (a column's own name, or the expression's SQL text),
/// and whether it must be given as an alias to have it.
fn item_name(expr: &Expr) -> (String, bool) {
    match expr {
        Expr::Identifier(i) => (normalised(i), false),
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(i) => (normalised(i), false),
            None => (expr.to_string(), true),
        },
        other => (other.to_string(), true),
    }
}

/// Names one SELECT list, in order: each item keeps its name unless an earlier item has
/// it, in which case it gets the first free `name_k`. Wildcards are left alone.
fn name_list(items: &mut [SelectItem]) -> bool {
    let mut used: HashSet<String> = HashSet::new();
    let mut changed = false;
    for item in items.iter_mut() {
        match item {
            SelectItem::UnnamedExpr(expr) => {
                let (name, by_text) = item_name(expr);
                let unique = unique_name(&name, &mut used);
                if by_text || unique != name {
                    *item = SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: Ident::with_quote('"', unique),
                    };
                    changed = true;
                }
            }
            SelectItem::ExprWithAlias { alias, .. } => {
                let name = normalised(alias);
                let unique = unique_name(&name, &mut used);
                if unique != name {
                    *alias = Ident::with_quote('"', unique);
                    changed = true;
                }
            }
            _ => {}
        }
    }
    changed
}

/// An identifier as DataFusion resolves it: unquoted ones are lower-cased.
fn normalised(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// `name`, or `name_1`, `name_2`, ... — the first not in `used`, which it is added to.
fn unique_name(name: &str, used: &mut HashSet<String>) -> String {
    let mut candidate = name.to_string();
    let mut k = 0;
    while used.contains(&candidate) {
        k += 1;
        candidate = format!("{name}_{k}");
    }
    used.insert(candidate.clone());
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;

    fn named(sql: &str) -> String {
        let mut statements = DFParser::parse_sql(sql).unwrap();
        let mut s = statements.pop_front().unwrap();
        name_select_lists(&mut s);
        s.to_string()
    }

    #[test]
    fn duplicates_get_suffixes_and_expressions_their_text() {
        assert_eq!(named("SELECT 1, 1"), r#"SELECT 1 AS "1", 1 AS "1_1""#);
        assert_eq!(
            named("SELECT id, id, t.id FROM t"),
            r#"SELECT id, id AS "id_1", t.id AS "id_2" FROM t"#
        );
        assert_eq!(
            named("SELECT 1 AS x, 2 AS x, x FROM t"),
            r#"SELECT 1 AS x, 2 AS "x_1", x AS "x_2" FROM t"#
        );
        assert_eq!(
            named("SELECT (SELECT 1), (SELECT 1) UNION ALL SELECT a, a FROM t"),
            r#"SELECT (SELECT 1 AS "1") AS "(SELECT 1)", (SELECT 1 AS "1") AS "(SELECT 1)_1" UNION ALL SELECT a, a AS "a_1" FROM t"#
        );
    }
}
