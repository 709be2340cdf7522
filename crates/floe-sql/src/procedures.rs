//! `CALL` procedures: `CALL name(args)` and `CALL floe.system.name(args)`.
//!
//! Arguments are positional, named with `=>`, or mixed with the positional ones first (as
//! in PostgreSQL). A positional argument after a named one, an unknown procedure, an
//! unknown, duplicate or missing argument, or a wrong type each get an error naming it.
//! Every procedure returns a small table describing what it did.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::{Result, plan_err};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use floe_catalog::{Error as CatalogError, RedbCatalog};
use iceberg::spec::{MAIN_BRANCH, SnapshotReference, SnapshotRetention};
use iceberg::{TableIdent, TableRequirement, TableUpdate};

use crate::ddl::normalize;
use crate::error::to_df;
use crate::frontend::time_travel::parse_timestamp_ms;
use crate::frontend::{Session, StatementOutput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    Timestamp,
    Bool,
    TextList,
    /// `map('k', 'v', ...)` (Spark) of strings or numbers.
    TextMap,
}

impl Kind {
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
enum Arg {
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

struct Param {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn p(name: &'static str, kind: Kind, required: bool) -> Param {
    Param {
        name,
        kind,
        required,
    }
}

/// Every procedure and its parameters, in positional order.
const PROCEDURES: &[(&str, &[Param])] = &[
    (
        "release",
        &[
            p("name", Kind::Text, true),
            p("message", Kind::Text, false),
            p("tables", Kind::TextList, false),
        ],
    ),
    (
        "rollback_release",
        &[
            p("name", Kind::Text, true),
            p("new_name", Kind::Text, false),
        ],
    ),
    (
        "rollback_to_snapshot",
        &[
            p("table", Kind::Text, true),
            p("snapshot_id", Kind::Int, true),
        ],
    ),
    (
        "rollback_to_timestamp",
        &[
            p("table", Kind::Text, true),
            p("timestamp", Kind::Timestamp, true),
        ],
    ),
    (
        "set_current_snapshot",
        &[
            p("table", Kind::Text, true),
            p("snapshot_id", Kind::Int, false),
            p("ref", Kind::Text, false),
        ],
    ),
    (
        "create_tag",
        &[
            p("table", Kind::Text, true),
            p("tag", Kind::Text, true),
            p("snapshot_id", Kind::Int, false),
        ],
    ),
    (
        "create_branch",
        &[
            p("table", Kind::Text, true),
            p("branch", Kind::Text, true),
            p("snapshot_id", Kind::Int, false),
        ],
    ),
    (
        "drop_tag",
        &[p("table", Kind::Text, true), p("tag", Kind::Text, true)],
    ),
    (
        "drop_branch",
        &[p("table", Kind::Text, true), p("branch", Kind::Text, true)],
    ),
    (
        "expire_snapshots",
        &[
            p("table", Kind::Text, true),
            p("older_than", Kind::Timestamp, false),
            p("retain_last", Kind::Int, false),
        ],
    ),
    (
        "remove_orphan_files",
        &[
            p("older_than", Kind::Timestamp, false),
            p("dry_run", Kind::Bool, false),
        ],
    ),
    (
        "register_table",
        &[
            p("table", Kind::Text, true),
            p("metadata_location", Kind::Text, true),
        ],
    ),
    ("check", &[]),
    (
        "rewrite_data_files",
        &[
            p("table", Kind::Text, true),
            p("strategy", Kind::Text, false),
            p("sort_order", Kind::Text, false),
            p("where", Kind::Text, false),
            p("options", Kind::TextMap, false),
        ],
    ),
    ("rewrite_manifests", &[p("table", Kind::Text, true)]),
];

/// Bound arguments of one call.
struct Args {
    procedure: &'static str,
    values: Vec<Option<Arg>>,
    params: &'static [Param],
}

impl Args {
    fn get(&self, name: &str) -> Option<&Arg> {
        let i = self.params.iter().position(|p| p.name == name)?;
        self.values[i].as_ref()
    }
    fn text(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(Arg::Text(s)) => Some(s.clone()),
            _ => None,
        }
    }
    fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Arg::Int(n)) => Some(*n),
            _ => None,
        }
    }
    fn timestamp(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Arg::Timestamp(t)) => Some(*t),
            _ => None,
        }
    }
    fn boolean(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(Arg::Bool(b)) => Some(*b),
            _ => None,
        }
    }
    fn list(&self, name: &str) -> Option<Vec<String>> {
        match self.get(name) {
            Some(Arg::TextList(l)) => Some(l.clone()),
            _ => None,
        }
    }
    fn map(&self, name: &str) -> Vec<(String, String)> {
        match self.get(name) {
            Some(Arg::TextMap(m)) => m.clone(),
            _ => Vec::new(),
        }
    }
    fn required_text(&self, name: &str) -> Result<String> {
        match self.text(name) {
            Some(s) => Ok(s),
            None => plan_err!("procedure '{}' needs argument '{name}'", self.procedure),
        }
    }
}

fn names(params: &[Param]) -> String {
    params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// Parses a `CALL` statement into the procedure name and raw argument expressions.
/// Arguments as written: optional name and expression.
type RawArgs = Vec<(Option<String>, SqlExpr)>;

fn parse_call(sql: &str) -> Result<(String, RawArgs)> {
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

    async fn bind(&self, name: &str, raw: RawArgs) -> Result<Args> {
        let Some((procedure, params)) = PROCEDURES.iter().find(|(n, _)| *n == name) else {
            let all: Vec<&str> = PROCEDURES.iter().map(|(n, _)| *n).collect();
            return plan_err!("unknown procedure '{name}'; available: {}", all.join(", "));
        };
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
            procedure,
            values,
            params,
        })
    }

    /// A table argument (`'t'`, `'schema.t'`) as an identifier of an existing table.
    fn table_arg(&self, text: &str) -> Result<TableIdent> {
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

    fn catalog(&self) -> &RedbCatalog {
        &self.shared.engine.catalog
    }

    async fn move_main(&self, ident: &TableIdent, target: i64) -> Result<StatementOutput> {
        let catalog = self.catalog();
        let table = catalog
            .table_with_snapshot(ident, target)
            .await
            .map_err(to_df)?;
        let previous = table.metadata().current_snapshot_id();
        catalog
            .commit_table(
                ident,
                vec![
                    TableRequirement::UuidMatch {
                        uuid: table.metadata().uuid(),
                    },
                    TableRequirement::RefSnapshotIdMatch {
                        r#ref: MAIN_BRANCH.into(),
                        snapshot_id: previous,
                    },
                ],
                vec![TableUpdate::SetSnapshotRef {
                    ref_name: MAIN_BRANCH.into(),
                    reference: SnapshotReference::new(
                        target,
                        SnapshotRetention::branch(None, None, None),
                    ),
                }],
            )
            .await
            .map_err(to_df)?;
        table_output(
            &[
                ("table", DataType::Utf8),
                ("previous_snapshot_id", DataType::Int64),
                ("current_snapshot_id", DataType::Int64),
            ],
            vec![
                Arc::new(StringArray::from(vec![floe_catalog::ident::table_display(
                    ident,
                )])),
                Arc::new(Int64Array::from(vec![previous])),
                Arc::new(Int64Array::from(vec![Some(target)])),
            ],
        )
    }

    async fn set_ref(
        &self,
        ident: &TableIdent,
        name: &str,
        snapshot: Option<i64>,
        branch: bool,
    ) -> Result<StatementOutput> {
        floe_catalog::ident::validate_name(if branch { "branch" } else { "tag" }, name)
            .map_err(to_df)?;
        let catalog = self.catalog();
        let table = catalog.table(ident).await.map_err(to_df)?;
        let md = table.metadata();
        let Some(id) = snapshot.or(md.current_snapshot_id()) else {
            return plan_err!(
                "table '{}' has no snapshot to {} yet",
                floe_catalog::ident::table_display(ident),
                if branch { "branch from" } else { "tag" }
            );
        };
        if md.snapshot_by_id(id).is_none() {
            return Err(to_df(CatalogError::UnknownSnapshot {
                table: floe_catalog::ident::table_display(ident),
                snapshot_id: id,
                available: "it is not (or no longer) a snapshot of the table".into(),
            }));
        }
        if md.snapshot_for_ref(name).is_some() {
            return plan_err!(
                "table '{}' already has a tag or branch named '{name}'",
                floe_catalog::ident::table_display(ident)
            );
        }
        let retention = if branch {
            SnapshotRetention::branch(None, None, None)
        } else {
            SnapshotRetention::Tag {
                max_ref_age_ms: None,
            }
        };
        catalog
            .commit_table(
                ident,
                vec![TableRequirement::RefSnapshotIdMatch {
                    r#ref: name.to_string(),
                    snapshot_id: None,
                }],
                vec![TableUpdate::SetSnapshotRef {
                    ref_name: name.to_string(),
                    reference: SnapshotReference::new(id, retention),
                }],
            )
            .await
            .map_err(to_df)?;
        table_output(
            &[
                ("table", DataType::Utf8),
                (if branch { "branch" } else { "tag" }, DataType::Utf8),
                ("snapshot_id", DataType::Int64),
            ],
            vec![
                Arc::new(StringArray::from(vec![floe_catalog::ident::table_display(
                    ident,
                )])),
                Arc::new(StringArray::from(vec![name.to_string()])),
                Arc::new(Int64Array::from(vec![id])),
            ],
        )
    }

    async fn drop_ref(
        &self,
        ident: &TableIdent,
        name: &str,
        branch: bool,
    ) -> Result<StatementOutput> {
        let catalog = self.catalog();
        let table_name = floe_catalog::ident::table_display(ident);
        if branch && name == MAIN_BRANCH {
            return plan_err!("the main branch of table '{table_name}' cannot be dropped");
        }
        let refs = catalog.table_refs(ident).await.map_err(to_df)?;
        let Some((_, r)) = refs.iter().find(|(n, _)| n == name) else {
            return plan_err!(
                "table '{table_name}' has no {} named '{name}'",
                if branch { "branch" } else { "tag" }
            );
        };
        if r.is_branch() != branch {
            return plan_err!(
                "'{name}' of table '{table_name}' is a {}, not a {}",
                if r.is_branch() { "branch" } else { "tag" },
                if branch { "branch" } else { "tag" }
            );
        }
        catalog
            .commit_table(
                ident,
                vec![TableRequirement::RefSnapshotIdMatch {
                    r#ref: name.to_string(),
                    snapshot_id: Some(r.snapshot_id),
                }],
                vec![TableUpdate::RemoveSnapshotRef {
                    ref_name: name.to_string(),
                }],
            )
            .await
            .map_err(to_df)?;
        table_output(
            &[
                ("table", DataType::Utf8),
                (if branch { "branch" } else { "tag" }, DataType::Utf8),
                ("snapshot_id", DataType::Int64),
            ],
            vec![
                Arc::new(StringArray::from(vec![table_name])),
                Arc::new(StringArray::from(vec![name.to_string()])),
                Arc::new(Int64Array::from(vec![r.snapshot_id])),
            ],
        )
    }
}

fn table_output(columns: &[(&str, DataType)], arrays: Vec<ArrayRef>) -> Result<StatementOutput> {
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    Ok(StatementOutput::from_batches(schema, vec![batch]))
}

fn release_output(r: &floe_catalog::ReleaseRecord) -> Result<StatementOutput> {
    table_output(
        &[
            ("release", DataType::Utf8),
            ("release_id", DataType::Int64),
            ("table_count", DataType::Int64),
            (
                "created_at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            ),
        ],
        vec![
            Arc::new(StringArray::from(vec![r.name.clone()])),
            Arc::new(Int64Array::from(vec![r.id as i64])),
            Arc::new(Int64Array::from(vec![r.table_count as i64])),
            Arc::new(
                TimestampMillisecondArray::from(vec![r.created_at_ms]).with_timezone("+00:00"),
            ),
        ],
    )
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs a `CALL` statement.
pub async fn call(session: &Session, sql: &str) -> Result<StatementOutput> {
    let (name, raw) = parse_call(sql)?;
    let args = session.bind(&name, raw).await?;
    if session.in_transaction() && name != "release" && name != "check" {
        return plan_err!(
            "CALL {name} is not allowed inside a transaction; only CALL release(...) is (it publishes the transaction)"
        );
    }
    let catalog = session.catalog().clone();
    match name.as_str() {
        "release" => {
            let release_name = args.required_text("name")?;
            let message = args.text("message");
            if session.in_transaction() {
                if args.list("tables").is_some() {
                    return plan_err!(
                        "inside a transaction, release() publishes the staged tables; 'tables' is not allowed"
                    );
                }
                let record = session
                    .commit(Some(&release_name), message.as_deref())
                    .await?;
                match record {
                    Some(r) => release_output(&r),
                    None => plan_err!(
                        "the transaction changed no table, so there is nothing to release"
                    ),
                }
            } else {
                let tables = match args.list("tables") {
                    Some(list) => Some(
                        list.iter()
                            .map(|t| session.table_arg(t))
                            .collect::<Result<Vec<_>>>()?,
                    ),
                    None => None,
                };
                let r = catalog
                    .tag_release(&release_name, tables, message.as_deref())
                    .await
                    .map_err(to_df)?;
                release_output(&r)
            }
        }
        "rollback_release" => {
            let r = catalog
                .rollback_release(
                    &args.required_text("name")?,
                    args.text("new_name").as_deref(),
                )
                .await
                .map_err(to_df)?;
            release_output(&r)
        }
        "rollback_to_snapshot" => {
            let ident = session.table_arg(&args.required_text("table")?)?;
            let Some(id) = args.int("snapshot_id") else {
                return plan_err!("procedure 'rollback_to_snapshot' needs argument 'snapshot_id'");
            };
            session.move_main(&ident, id).await
        }
        "rollback_to_timestamp" => {
            let ident = session.table_arg(&args.required_text("table")?)?;
            let Some(ts) = args.timestamp("timestamp") else {
                return plan_err!("procedure 'rollback_to_timestamp' needs argument 'timestamp'");
            };
            let version = catalog.snapshot_as_of(&ident, ts).await.map_err(to_df)?;
            let Some(id) = version.snapshot_id else {
                return plan_err!("the table had no snapshot at that time");
            };
            session.move_main(&ident, id).await
        }
        "set_current_snapshot" => {
            let ident = session.table_arg(&args.required_text("table")?)?;
            let id = match (args.int("snapshot_id"), args.text("ref")) {
                (Some(id), None) => id,
                (None, Some(r)) => {
                    let t = catalog.table(&ident).await.map_err(to_df)?;
                    match t.metadata().snapshot_for_ref(&r) {
                        Some(s) => s.snapshot_id(),
                        None => {
                            return plan_err!(
                                "table '{}' has no tag or branch named '{r}'",
                                floe_catalog::ident::table_display(&ident)
                            );
                        }
                    }
                }
                _ => {
                    return plan_err!(
                        "set_current_snapshot needs exactly one of 'snapshot_id' and 'ref'"
                    );
                }
            };
            session.move_main(&ident, id).await
        }
        "create_tag" | "create_branch" => {
            let branch = name == "create_branch";
            let ident = session.table_arg(&args.required_text("table")?)?;
            let ref_name = args.required_text(if branch { "branch" } else { "tag" })?;
            session
                .set_ref(&ident, &ref_name, args.int("snapshot_id"), branch)
                .await
        }
        "drop_tag" | "drop_branch" => {
            let branch = name == "drop_branch";
            let ident = session.table_arg(&args.required_text("table")?)?;
            let ref_name = args.required_text(if branch { "branch" } else { "tag" })?;
            session.drop_ref(&ident, &ref_name, branch).await
        }
        "expire_snapshots" => {
            let ident = session.table_arg(&args.required_text("table")?)?;
            // Iceberg's default maximum snapshot age: five days.
            let older_than = args
                .timestamp("older_than")
                .unwrap_or(now_ms() - 5 * 86_400_000);
            let retain = args.int("retain_last").unwrap_or(1);
            if retain < 1 {
                return plan_err!("retain_last must be at least 1, not {retain}");
            }
            let expired = catalog
                .expire_snapshots(&ident, older_than, retain as usize)
                .await
                .map_err(to_df)?;
            table_output(
                &[
                    ("expired_snapshots", DataType::Int64),
                    ("deleted_files", DataType::Int64),
                ],
                vec![
                    Arc::new(Int64Array::from(vec![expired.snapshots.len() as i64])),
                    Arc::new(Int64Array::from(vec![expired.deleted_files as i64])),
                ],
            )
        }
        "remove_orphan_files" => {
            // Files younger than this may belong to writes in flight; Spark's default.
            let older_than = args
                .timestamp("older_than")
                .unwrap_or(now_ms() - 3 * 86_400_000);
            let dry_run = args.boolean("dry_run").unwrap_or(false);
            let orphans = catalog
                .remove_orphan_files(older_than, dry_run)
                .await
                .map_err(to_df)?;
            let n = orphans.len();
            table_output(
                &[
                    ("orphan_file_location", DataType::Utf8),
                    ("deleted", DataType::Boolean),
                ],
                vec![
                    Arc::new(StringArray::from(orphans)),
                    Arc::new(BooleanArray::from(vec![!dry_run; n])),
                ],
            )
        }
        "register_table" => {
            let text = args.required_text("table")?;
            let (schema, table) = match text.rsplit_once('.') {
                Some((s, t)) => (s.to_string(), t.to_string()),
                None => ("public".to_string(), text.clone()),
            };
            let ident = crate::ddl::TableName {
                catalog: String::new(),
                schema,
                table,
            }
            .ident()?;
            let location = args.required_text("metadata_location")?;
            let t = catalog
                .register(&ident, location.clone())
                .await
                .map_err(to_df)?;
            table_output(
                &[
                    ("table", DataType::Utf8),
                    ("snapshot_id", DataType::Int64),
                    ("metadata_location", DataType::Utf8),
                ],
                vec![
                    Arc::new(StringArray::from(vec![floe_catalog::ident::table_display(
                        &ident,
                    )])),
                    Arc::new(Int64Array::from(vec![t.metadata().current_snapshot_id()])),
                    Arc::new(StringArray::from(vec![location])),
                ],
            )
        }
        "check" => {
            let problems = catalog.check().await.map_err(to_df)?;
            table_output(
                &[
                    ("object", DataType::Utf8),
                    ("file", DataType::Utf8),
                    ("problem", DataType::Utf8),
                ],
                vec![
                    Arc::new(StringArray::from(
                        problems
                            .iter()
                            .map(|p| p.object.clone())
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        problems.iter().map(|p| p.file.clone()).collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        problems
                            .iter()
                            .map(|p| p.problem.clone())
                            .collect::<Vec<_>>(),
                    )),
                ],
            )
        }
        "rewrite_data_files" => {
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
            table_output(
                &[
                    ("rewritten_data_files_count", DataType::Int64),
                    ("added_data_files_count", DataType::Int64),
                    ("rewritten_bytes_count", DataType::Int64),
                    ("failed_data_files_count", DataType::Int64),
                    ("removed_delete_files_count", DataType::Int64),
                ],
                vec![
                    Arc::new(Int64Array::from(vec![r.rewritten_data_files as i64])),
                    Arc::new(Int64Array::from(vec![r.added_data_files as i64])),
                    Arc::new(Int64Array::from(vec![r.rewritten_bytes as i64])),
                    Arc::new(Int64Array::from(vec![0i64])),
                    Arc::new(Int64Array::from(vec![r.removed_delete_files as i64])),
                ],
            )
        }
        "rewrite_manifests" => {
            let ident = session.table_arg(&args.required_text("table")?)?;
            let (rewritten, added) = session.rewrite_manifests(&ident).await?;
            table_output(
                &[
                    ("rewritten_manifests_count", DataType::Int64),
                    ("added_manifests_count", DataType::Int64),
                ],
                vec![
                    Arc::new(Int64Array::from(vec![rewritten as i64])),
                    Arc::new(Int64Array::from(vec![added as i64])),
                ],
            )
        }
        _ => plan_err!("unknown procedure '{name}'"),
    }
}
