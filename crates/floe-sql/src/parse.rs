//! How every statement is parsed: within the expression-depth limit, in the session's
//! dialect, on a grown stack, with the rewrites that make DataFusion's parser and planner
//! accept what Spark, Trino, DuckDB and PostgreSQL users write — and refuse what would
//! panic it.

use datafusion::common::{Result, plan_err};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::{GenericDialect, dialect_from_str};

/// Most binary operators one expression may chain, as DuckDB's `max_expression_depth`
/// (1000). sqlparser builds `a + b + c + ...` iteratively, but DataFusion clones, plans
/// and drops the resulting left-deep tree recursively, so a long enough chain overflows
/// the stack and aborts the process; the chain is refused before it is parsed.
pub const MAX_EXPRESSION_DEPTH: usize = 1000;

/// Estimates each expression's depth from the token stream — which needs no recursion —
/// and refuses a statement whose estimate exceeds [`MAX_EXPRESSION_DEPTH`]. Within one
/// expression (between parentheses, commas and clause keywords) operators are counted per
/// precedence class (OR, AND, comparison, arithmetic and the rest); a left-deep chain of
/// one class is as deep as its count, so the largest count is the estimate.
fn check_expression_depth(sql: &str) -> Result<()> {
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    const OR: usize = 0;
    const AND: usize = 1;
    const CMP: usize = 2;
    const ARITH: usize = 3;
    let dialect = GenericDialect {};
    // A statement the tokenizer rejects gets its error from the parser proper.
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return Ok(());
    };
    let mut counts: Vec<[usize; 4]> = vec![[0; 4]];
    for token in tokens {
        let top = counts.len() - 1;
        let class = match token {
            Token::LParen | Token::LBracket => {
                counts.push([0; 4]);
                None
            }
            Token::RParen | Token::RBracket => {
                if counts.len() > 1 {
                    counts.pop();
                }
                None
            }
            Token::Comma | Token::SemiColon => {
                counts[top] = [0; 4];
                None
            }
            Token::Eq
            | Token::DoubleEq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::Spaceship => Some(CMP),
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::StringConcat
            | Token::Ampersand
            | Token::Pipe
            | Token::Caret
            | Token::ShiftLeft
            | Token::ShiftRight => Some(ARITH),
            Token::Word(w) => match w.keyword {
                Keyword::OR | Keyword::XOR => Some(OR),
                Keyword::AND => Some(AND),
                Keyword::SELECT
                | Keyword::FROM
                | Keyword::WHERE
                | Keyword::GROUP
                | Keyword::HAVING
                | Keyword::ORDER
                | Keyword::LIMIT
                | Keyword::ON
                | Keyword::WHEN
                | Keyword::THEN
                | Keyword::ELSE
                | Keyword::END
                | Keyword::UNION
                | Keyword::SET
                | Keyword::VALUES
                | Keyword::JOIN => {
                    counts[top] = [0; 4];
                    None
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(class) = class {
            counts[top][class] += 1;
            if counts[top][class] > MAX_EXPRESSION_DEPTH {
                return plan_err!(
                    "expression too deep: more than {MAX_EXPRESSION_DEPTH} chained operators in one \
                     expression (split it, or use IN (...) for a long OR chain)"
                );
            }
        }
    }
    Ok(())
}

/// Runs `f` (parsing: recursion bounded by the parser's recursion limit, but with large
/// frames in unoptimized builds) on a fresh 8 MiB stack segment when the current thread
/// has less than 4 MiB left — e.g. a 2 MiB tokio worker of an embedding application.
fn with_parser_stack<T>(f: impl FnOnce() -> T) -> T {
    const NEEDED: usize = 4 << 20;
    if stacker::remaining_stack().is_some_and(|left| left >= NEEDED) {
        f()
    } else {
        stacker::grow(8 << 20, f)
    }
}

/// Inputs that DataFusion 53's planner panics on (found by fuzzing), turned into errors
/// before they reach it: a typed literal whose value is not a string (`INT 5`).
fn reject_known_planner_panics(statement: &Statement) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, visit_expressions};
    use std::ops::ControlFlow;
    let found = visit_expressions(statement, |e| match e {
        SqlExpr::TypedString(t) if t.value.clone().into_string().is_none() => {
            ControlFlow::Break(format!("{} {}", t.data_type, t.value))
        }
        _ => ControlFlow::Continue(()),
    });
    match found {
        ControlFlow::Break(text) => plan_err!(
            "typed literal '{text}' needs a quoted value, e.g. DATE '2026-01-01' or CAST(5 AS INT)"
        ),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Parses one statement the way every statement is parsed: within the
/// expression-depth limit, in the session's dialect (`SET
/// datafusion.sql_parser.dialect = ...`, as DataFusion's own `SessionContext::sql`
/// honours it), on a grown stack, refusing input known to panic DataFusion's planner.
pub fn parse_statement(
    ctx: &SessionContext,
    sql: &str,
    exponent_as_double: bool,
    friendly_sql: bool,
) -> Result<DFStatement> {
    check_expression_depth(sql)?;
    let (recursion_limit, dialect_name, decimal_literals) = {
        let state = ctx.state_ref();
        let state = state.read();
        let parser_options = &state.config().options().sql_parser;
        (
            parser_options.recursion_limit,
            parser_options.dialect,
            parser_options.parse_float_as_decimal,
        )
    };
    let dialect = dialect_from_str(dialect_name).ok_or_else(|| {
        datafusion::common::plan_datafusion_err!(
            "Unsupported SQL dialect: {dialect_name}. Available dialects: Generic, MySQL, \
             PostgreSQL, Hive, SQLite, Snowflake, Redshift, MsSQL, ClickHouse, BigQuery, \
             Ansi, DuckDB, Databricks."
        )
    })?;
    let parse = |sql: &str| {
        with_parser_stack(|| {
            DFParserBuilder::new(sql)
                .with_dialect(dialect.as_ref())
                .with_recursion_limit(recursion_limit)
                .build()?
                .parse_statements()
        })
    };
    // Other engines' type spellings are respelled only when the statement does not parse
    // as written, and used only if the respelling parses.
    use crate::frontend::type_spellings::respell;
    let mut statements = match parse(sql) {
        // Casts to Trino's ROW(...) parse but cannot be planned: respelled if present.
        Ok(s) => match sql
            .to_ascii_lowercase()
            .contains("row")
            .then(|| respell(sql, dialect.as_ref(), true))
            .flatten()
            .map(|respelled| parse(&respelled))
        {
            Some(Ok(respelled)) => respelled,
            _ => s,
        },
        Err(e) => match respell(sql, dialect.as_ref(), false).map(|respelled| parse(&respelled)) {
            Some(Ok(s)) => s,
            _ => return Err(e),
        },
    };
    if statements.len() != 1 {
        return plan_err!("expected one statement, found {}", statements.len());
    }
    let Some(mut statement) = statements.pop_front() else {
        return plan_err!("empty statement");
    };
    if let DFStatement::Statement(s) = &mut statement {
        reject_known_planner_panics(s)?;
        normalize_set(s)?;
        unalias_delete_target(s);
        if friendly_sql {
            crate::frontend::interval::rewrite_interval_arithmetic(s);
        }
        if decimal_literals && exponent_as_double {
            exponent_literals_as_double(s);
        }
    }
    Ok(statement)
}

/// `SET TIME ZONE x` (PostgreSQL, SQL standard) is DataFusion's `SET timezone = x`;
/// `SET TIME ZONE LOCAL` / `DEFAULT` goes back to UTC, DataFusion's default. `SET
/// TRANSACTION ...` gets a clear error (floe's transactions always read one snapshot per
/// table and publish atomically) instead of DataFusion's Debug dump of the statement.
fn normalize_set(statement: &mut Statement) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{
        Expr, Ident, ObjectName, ObjectNamePart, Set, Value, ValueWithSpan,
    };
    let Statement::Set(set) = statement else {
        return Ok(());
    };
    match set {
        Set::SetTimeZone { local, value } => {
            let value = match value {
                Expr::Identifier(i)
                    if *local
                        || i.value.eq_ignore_ascii_case("local")
                        || i.value.eq_ignore_ascii_case("default") =>
                {
                    Expr::Value(ValueWithSpan::from(Value::SingleQuotedString(
                        "+00:00".to_string(),
                    )))
                }
                other => other.clone(),
            };
            *set = Set::SingleAssignment {
                scope: None,
                hivevar: false,
                variable: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("timezone"))]),
                values: vec![value],
            };
            Ok(())
        }
        Set::SetTransaction { .. } => plan_err!(
            "SET TRANSACTION is not supported: floe transactions (BEGIN ... COMMIT) always read one snapshot of each table and publish all their changes atomically"
        ),
        _ => Ok(()),
    }
}

/// With decimal literals on, a number written with an exponent (`1e3`, `2.5E-7`) is
/// still a DOUBLE, as in Spark, Trino and DuckDB: DataFusion would make it a decimal with
/// a negative scale (`1e3` as DECIMAL(1, -3)), which no Iceberg column can hold, and
/// fail outright beyond scale 128 (`1e300`).
fn exponent_literals_as_double(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{
        DataType, ExactNumberInfo, Expr as SqlExpr, TypedString, Value, ValueWithSpan,
        visit_expressions_mut,
    };
    let _ = visit_expressions_mut(statement, |e| {
        if let SqlExpr::Value(v) = e
            && let Value::Number(n, _) = &v.value
            && n.contains(['e', 'E'])
        {
            *e = SqlExpr::TypedString(TypedString {
                data_type: DataType::Double(ExactNumberInfo::None),
                value: ValueWithSpan::from(Value::SingleQuotedString(n.clone())),
                uses_odbc_syntax: false,
            });
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// `DELETE FROM t AS x WHERE x.id = 1` (PostgreSQL, Spark, Trino): DataFusion's planner
/// drops the alias, so `x.id` names nothing. The alias is removed and every column
/// qualified by it (in the predicate, subqueries included) is qualified by the table.
fn unalias_delete_target(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{
        Delete, Expr as SqlExpr, FromTable, ObjectNamePart, TableFactor, visit_expressions_mut,
    };
    let Statement::Delete(Delete {
        from: FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from),
        selection,
        ..
    }) = statement
    else {
        return;
    };
    let [target] = from.as_mut_slice() else {
        return;
    };
    let TableFactor::Table { name, alias, .. } = &mut target.relation else {
        return;
    };
    let Some(a) = alias.take() else {
        return;
    };
    let table: Vec<_> = name
        .0
        .iter()
        .filter_map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    let Some(selection) = selection else {
        return;
    };
    let _ = visit_expressions_mut(selection, |e| {
        if let SqlExpr::CompoundIdentifier(parts) = e
            && parts.len() == 2
            && parts[0].value == a.name.value
        {
            let column = parts[1].clone();
            *parts = table.iter().cloned().chain([column]).collect();
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}
