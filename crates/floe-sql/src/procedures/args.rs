//! Arguments of `CALL`: parsing, evaluation and binding to a procedure's parameters.
//!
//! Arguments are positional, named with `=>`, or mixed with the positional ones first (as
//! in PostgreSQL). A positional argument after a named one, an unknown, duplicate or
//! missing argument, or a wrong type each get an error naming it.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, plan_err};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use iceberg::TableIdent;

use super::Procedure;
use crate::ddl::normalize;
use crate::session::Session;
use crate::time_travel::parse_timestamp_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    Timestamp,
    Bool,
    TextList,
    /// `map('k', 'v', ...)` (Spark) of strings or numbers.
    TextMap,
}

impl Kind {
    /// The type as `floe.system.procedures` shows it.
    pub(crate) fn sql_name(self) -> &'static str {
        match self {
            Kind::Text => "VARCHAR",
            Kind::Int => "BIGINT",
            Kind::Timestamp => "TIMESTAMP",
            Kind::Bool => "BOOLEAN",
            Kind::TextList => "ARRAY<VARCHAR>",
            Kind::TextMap => "MAP<VARCHAR, VARCHAR>",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Int => "an integer",
            Kind::Timestamp => "a timestamp",
            Kind::Bool => "a boolean",
            Kind::TextList => "a list of strings (ARRAY['a', 'b'])",
            Kind::TextMap => "a map of strings (map('key', 'value', ...))",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Timestamp(i64),
    Bool(bool),
    TextList(Vec<String>),
    TextMap(Vec<(String, String)>),
}

impl Arg {
    fn describe(&self) -> String {
        match self {
            Arg::Text(s) => format!("the string '{s}'"),
            Arg::Int(n) => format!("the integer {n}"),
            Arg::Timestamp(_) => "a timestamp".into(),
            Arg::Bool(b) => format!("the boolean {b}"),
            Arg::TextList(_) => "a list".into(),
            Arg::TextMap(_) => "a map".into(),
        }
    }
}

pub(crate) struct Param {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) required: bool,
}

pub(crate) const fn p(name: &'static str, kind: Kind, required: bool) -> Param {
    Param {
        name,
        kind,
        required,
    }
}

/// Bound arguments of one call.
pub(crate) struct Args {
    procedure: &'static str,
    values: Vec<Option<Arg>>,
    params: &'static [Param],
}

impl Args {
    pub(crate) fn get(&self, name: &str) -> Option<&Arg> {
        let i = self.params.iter().position(|p| p.name == name)?;
        self.values[i].as_ref()
    }
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(Arg::Text(s)) => Some(s.clone()),
            _ => None,
        }
    }
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Arg::Int(n)) => Some(*n),
            _ => None,
        }
    }
    pub(crate) fn timestamp(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Arg::Timestamp(t)) => Some(*t),
            _ => None,
        }
    }
    pub(crate) fn boolean(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(Arg::Bool(b)) => Some(*b),
            _ => None,
        }
    }
    pub(crate) fn list(&self, name: &str) -> Option<Vec<String>> {
        match self.get(name) {
            Some(Arg::TextList(l)) => Some(l.clone()),
            _ => None,
        }
    }
    pub(crate) fn map(&self, name: &str) -> Vec<(String, String)> {
        match self.get(name) {
            Some(Arg::TextMap(m)) => m.clone(),
            _ => Vec::new(),
        }
    }
    pub(crate) fn required_text(&self, name: &str) -> Result<String> {
        match self.text(name) {
            Some(s) => Ok(s),
            None => plan_err!("procedure '{}' needs argument '{name}'", self.procedure),
        }
    }
}

pub(crate) fn names(params: &[Param]) -> String {
    params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// Parses a `CALL` statement into the procedure name and raw argument expressions.
/// Arguments as written: optional name and expression.
pub(crate) type RawArgs = Vec<(Option<String>, SqlExpr)>;

pub(crate) fn parse_call(sql: &str) -> Result<(String, RawArgs)> {
    let dialect = GenericDialect {};
    let statements = Parser::parse_sql(&dialect, sql).map_err(|e| {
        datafusion::error::DataFusionError::Plan(format!("invalid CALL statement: {e}"))
    })?;
    let [Statement::Call(f)] = statements.as_slice() else {
        return plan_err!("invalid CALL statement: expected CALL name(arguments)");
    };
    let parts: Vec<String> = f
        .name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(normalize))
        .collect();
    let name = match parts.as_slice() {
        [n] => n.clone(),
        [s, n] if s == "system" => n.clone(),
        [c, s, n] if s == "system" && c == "floe" => n.clone(),
        _ => {
            return plan_err!(
                "unknown procedure '{}'; procedures live in floe.system",
                f.name
            );
        }
    };
    let mut args = Vec::new();
    match &f.args {
        FunctionArguments::None => {}
        FunctionArguments::Subquery(_) => {
            return plan_err!("CALL {name} takes arguments, not a query");
        }
        FunctionArguments::List(list) => {
            for a in &list.args {
                match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push((None, e.clone())),
                    FunctionArg::Named {
                        name: n,
                        arg: FunctionArgExpr::Expr(e),
                        ..
                    } => args.push((Some(normalize(n)), e.clone())),
                    FunctionArg::ExprNamed {
                        name: SqlExpr::Identifier(n),
                        arg: FunctionArgExpr::Expr(e),
                        ..
                    } => args.push((Some(normalize(n)), e.clone())),
                    other => return plan_err!("unsupported argument '{other}' in CALL {name}"),
                }
            }
        }
    }
    Ok((name, args))
}

impl Session {
    /// Evaluates an argument: literals directly, anything else as a constant query.
    async fn argument(&self, e: &SqlExpr) -> Result<Arg> {
        match e {
            SqlExpr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
                    return Ok(Arg::Text(s.clone()));
                }
                Value::Number(n, _) => {
                    if let Ok(i) = n.parse::<i64>() {
                        return Ok(Arg::Int(i));
                    }
                }
                Value::Boolean(b) => return Ok(Arg::Bool(*b)),
                _ => {}
            },
            SqlExpr::UnaryOp { .. } => {}
            SqlExpr::Function(f)
                if f.name.to_string().eq_ignore_ascii_case("map")
                    && matches!(f.args, FunctionArguments::List(_)) =>
            {
                let FunctionArguments::List(list) = &f.args else {
                    unreachable!()
                };
                let mut items = Vec::new();
                for a in &list.args {
                    let FunctionArg::Unnamed(FunctionArgExpr::Expr(item)) = a else {
                        return plan_err!("map(...) takes plain values, not '{a}'");
                    };
                    items.push(match Box::pin(self.argument(item)).await? {
                        Arg::Text(s) => s,
                        Arg::Int(n) => n.to_string(),
                        Arg::Bool(b) => b.to_string(),
                        other => {
                            return plan_err!(
                                "map(...) keys and values must be strings or numbers, not {}",
                                other.describe()
                            );
                        }
                    });
                }
                if items.len() % 2 != 0 {
                    return plan_err!(
                        "map(...) takes key, value pairs; '{e}' has an odd number of items"
                    );
                }
                let pairs = items
                    .chunks(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect();
                return Ok(Arg::TextMap(pairs));
            }
            SqlExpr::Array(array) => {
                let mut items = Vec::new();
                for item in &array.elem {
                    match Box::pin(self.argument(item)).await? {
                        Arg::Text(s) => items.push(s),
                        other => {
                            return plan_err!(
                                "list items must be strings, not {}",
                                other.describe()
                            );
                        }
                    }
                }
                return Ok(Arg::TextList(items));
            }
            _ => {}
        }
        use datafusion::arrow::array::Array;
        let batches = self.select_constant(&e.to_string()).await?;
        let Some(b) = batches
            .first()
            .filter(|b| b.num_rows() == 1 && b.num_columns() == 1)
        else {
            return plan_err!("argument '{e}' must be a constant");
        };
        let col = b.column(0);
        if col.is_null(0) {
            return plan_err!("argument '{e}' is NULL");
        }
        let v = datafusion::common::ScalarValue::try_from_array(col, 0)?;
        Ok(match col.data_type() {
            DataType::Boolean => Arg::Bool(matches!(
                v,
                datafusion::common::ScalarValue::Boolean(Some(true))
            )),
            t if t.is_integer() => match v.cast_to(&DataType::Int64)? {
                datafusion::common::ScalarValue::Int64(Some(n)) => Arg::Int(n),
                _ => return plan_err!("argument '{e}' is not an integer"),
            },
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
                match v.cast_to(&DataType::Timestamp(TimeUnit::Millisecond, None))? {
                    datafusion::common::ScalarValue::TimestampMillisecond(Some(ms), _) => {
                        Arg::Timestamp(ms)
                    }
                    _ => return plan_err!("argument '{e}' is not a timestamp"),
                }
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Arg::Text(v.to_string()),
            DataType::List(_) | DataType::LargeList(_) => {
                let items = v.to_string();
                Arg::TextList(
                    items
                        .trim_matches(|c| c == '[' || c == ']')
                        .split(", ")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            }
            other => return plan_err!("argument '{e}' has unsupported type {other}"),
        })
    }

    pub(crate) async fn bind(&self, procedure: &'static Procedure, raw: RawArgs) -> Result<Args> {
        let (name, params) = (procedure.name, procedure.params);
        let mut values: Vec<Option<Arg>> = params.iter().map(|_| None).collect();
        let mut seen_named = false;
        let mut position = 0;
        for (arg_name, expr) in raw {
            let index = match arg_name {
                None => {
                    if seen_named {
                        return plan_err!(
                            "positional argument '{expr}' after a named argument in CALL {name}"
                        );
                    }
                    if position >= params.len() {
                        return plan_err!(
                            "procedure '{name}' takes at most {} arguments ({})",
                            params.len(),
                            names(params)
                        );
                    }
                    position += 1;
                    position - 1
                }
                Some(n) => {
                    seen_named = true;
                    match params.iter().position(|p| p.name == n) {
                        Some(i) => i,
                        None => {
                            return plan_err!(
                                "procedure '{name}' has no argument '{n}' (arguments: {})",
                                names(params)
                            );
                        }
                    }
                }
            };
            if values[index].is_some() {
                return plan_err!(
                    "argument '{}' of procedure '{name}' is given more than once",
                    params[index].name
                );
            }
            let value = self.argument(&expr).await?;
            let param = &params[index];
            let value = match (param.kind, value) {
                (Kind::Text, v @ Arg::Text(_))
                | (Kind::Int, v @ Arg::Int(_))
                | (Kind::Bool, v @ Arg::Bool(_)) => v,
                (Kind::Timestamp, v @ Arg::Timestamp(_))
                | (Kind::TextList, v @ Arg::TextList(_))
                | (Kind::TextMap, v @ Arg::TextMap(_)) => v,
                (Kind::Timestamp, Arg::Text(s)) => match parse_timestamp_ms(&s) {
                    Some(ms) => Arg::Timestamp(ms),
                    None => {
                        return plan_err!(
                            "argument '{}' of procedure '{name}' must be a timestamp; '{s}' is not one",
                            param.name
                        );
                    }
                },
                (Kind::TextList, Arg::Text(s)) => Arg::TextList(vec![s]),
                (kind, other) => {
                    return plan_err!(
                        "argument '{}' of procedure '{name}' must be {}, not {}",
                        param.name,
                        kind.name(),
                        other.describe()
                    );
                }
            };
            values[index] = Some(value);
        }
        for (param, value) in params.iter().zip(&values) {
            if param.required && value.is_none() {
                return plan_err!(
                    "procedure '{name}' needs argument '{}' (arguments: {})",
                    param.name,
                    names(params)
                );
            }
        }
        Ok(Args {
            procedure: name,
            values,
            params,
        })
    }

    /// A table argument (`'t'`, `'schema.t'`) as an identifier of an existing table.
    pub(crate) fn table_arg(&self, text: &str) -> Result<TableIdent> {
        let (schema, table) = match text.rsplit_once('.') {
            Some((s, t)) => (s.to_string(), t.to_string()),
            None => {
                let state = self.ctx.state();
                (
                    state.config().options().catalog.default_schema.clone(),
                    text.to_string(),
                )
            }
        };
        let ident = crate::ddl::TableName {
            catalog: String::new(),
            schema,
            table,
        }
        .ident()?;
        if !self.shared.engine.catalog.contains_table(&ident) {
            return plan_err!(
                "table '{}' does not exist",
                floe_catalog::ident::table_display(&ident)
            );
        }
        Ok(ident)
    }
}
