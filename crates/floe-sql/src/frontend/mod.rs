//! The SQL front end: what the shell, `floe-slt` and embedders run SQL through.
//!
//! It splits scripts into statements, handles floe's extensions (time-travel clauses,
//! transactions, `CALL`, Iceberg DDL, copy-on-write DML) and hands everything else to
//! DataFusion unchanged. No version clause ever reaches DataFusion unresolved.

pub mod split;
pub mod time_travel;

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::source_as_provider;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{ObjectType, SchemaName, Statement};
use datafusion::sql::sqlparser::dialect::{GenericDialect, dialect_from_str};
use futures::StreamExt;

use crate::engine::Engine;
use crate::provider::FloeTable;
use crate::provider::{count_batch, count_schema};
use crate::session::{SessionOptions, SessionShared, build_context};
use crate::types::sql_string;
use time_travel::{VersionValue, find_clauses, literal_value, rewrite, to_spec};

/// What one statement produced: a schema and a stream of batches.
pub struct StatementOutput {
    /// Result schema (empty for statements without a result).
    pub schema: SchemaRef,
    /// The rows.
    pub stream: SendableRecordBatchStream,
}

impl StatementOutput {
    fn empty() -> Self {
        let schema = Arc::new(Schema::empty());
        Self {
            schema: schema.clone(),
            stream: Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::empty(),
            )),
        }
    }

    /// An output of ready batches.
    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        let stream = futures::stream::iter(batches.into_iter().map(Ok));
        Self {
            schema: schema.clone(),
            stream: Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
        }
    }

    fn count(n: u64) -> Result<Self> {
        Ok(Self::from_batches(count_schema(), vec![count_batch(n)?]))
    }

    /// Collects every batch.
    pub async fn collect(mut self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(b) = self.stream.next().await {
            out.push(b?);
        }
        Ok(out)
    }
}

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

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> datafusion::error::DataFusionError {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    datafusion::error::DataFusionError::Internal(format!(
        "internal error (please report it): {msg}"
    ))
}

/// A SQL session on a warehouse.
pub struct Session {
    pub(crate) ctx: SessionContext,
    pub(crate) shared: Arc<SessionShared>,
    /// floe's literal typing (`SessionOptions::decimal_literals`): exponent literals stay
    /// DOUBLE while decimal literals are on. Off, DataFusion's own rules apply throughout.
    decimal_literals: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// A new session over `engine`.
    pub fn new(engine: Arc<Engine>, options: SessionOptions) -> Result<Self> {
        let shared = SessionShared::new(engine);
        let ctx = build_context(&shared, &options)?;
        Ok(Self {
            ctx,
            shared,
            decimal_literals: options.decimal_literals,
        })
    }

    /// The DataFusion context (for registering functions, tables, options).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The warehouse.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.shared.engine
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.shared.in_transaction()
    }

    /// Runs a script (one or more statements) and collects the last statement's rows.
    pub async fn sql(&self, script: &str) -> Result<Vec<RecordBatch>> {
        let mut last = Vec::new();
        for stmt in split::split_statements(script) {
            last = self.execute(&stmt.text).await?.collect().await?;
        }
        Ok(last)
    }

    /// Runs one statement (text without the trailing `;`). A panic anywhere in planning
    /// or execution (a bug, in floe or a library) becomes an error; the session stays
    /// usable.
    pub async fn execute(&self, sql: &str) -> Result<StatementOutput> {
        use futures::FutureExt;
        let planned = std::panic::AssertUnwindSafe(self.execute_inner(sql))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(panic_error(panic)))?;
        let schema = planned.schema.clone();
        let stream = std::panic::AssertUnwindSafe(planned.stream)
            .catch_unwind()
            .map(|item| item.unwrap_or_else(|panic| Err(panic_error(panic))));
        Ok(StatementOutput {
            schema: schema.clone(),
            stream: Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
        })
    }

    /// The physical plan of a query, through the full front end (time travel included),
    /// without running it. For benchmarks and tools.
    pub async fn physical_plan(
        &self,
        sql: &str,
    ) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let (statement, _) = self.parse(sql, &split::leading_keyword(sql)).await?;
        let _view = self.shared.begin_statement()?;
        let plan = self.ctx.state().statement_to_plan(statement).await?;
        self.ctx.state().create_physical_plan(&plan).await
    }

    /// Resolves time-travel clauses, cuts out CREATE TABLE extras and parses one statement.
    async fn parse(
        &self,
        sql: &str,
        keyword: &str,
    ) -> Result<(DFStatement, crate::ddl::CreateExtras)> {
        // Time travel: resolve each clause's value, then rewrite to synthetic names.
        let clauses = find_clauses(sql)?;
        let mut resolved = Vec::with_capacity(clauses.len());
        for c in clauses {
            self.check_time_travel_target(&c.parts)?;
            let value = match literal_value(&c.value_text) {
                Some(v) => v,
                None => self.evaluate_version_value(&c.value_text).await?,
            };
            let spec = to_spec(&c, value)?;
            resolved.push((c, spec));
        }
        let sql = if resolved.is_empty() {
            sql.to_string()
        } else {
            rewrite(sql, &resolved)
        };
        let sql = if keyword == "MERGE" {
            crate::dml::merge::expand_star_actions(&sql)
        } else {
            sql
        };
        let (sql, extras) = if keyword == "CREATE" {
            crate::ddl::extract_create_extras(&sql)?
        } else {
            (sql, Default::default())
        };
        let statement = self.parse_checked(&sql)?;
        Ok((statement, extras))
    }

    /// Parses one statement the way every statement is parsed: within the
    /// expression-depth limit, in the session's dialect (`SET
    /// datafusion.sql_parser.dialect = ...`, as DataFusion's own `SessionContext::sql`
    /// honours it), on a grown stack, refusing input known to panic DataFusion's planner.
    pub(crate) fn parse_checked(&self, sql: &str) -> Result<DFStatement> {
        check_expression_depth(sql)?;
        let (recursion_limit, dialect_name, decimal_literals) = {
            let state = self.ctx.state_ref();
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
        let mut statements = with_parser_stack(|| {
            DFParserBuilder::new(sql)
                .with_dialect(dialect.as_ref())
                .with_recursion_limit(recursion_limit)
                .build()?
                .parse_statements()
        })?;
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
            if decimal_literals && self.decimal_literals {
                exponent_literals_as_double(s);
            }
        }
        Ok(statement)
    }

    /// Evaluates the constant expression `expr` (a time-travel value, a procedure
    /// argument) through the same parsing checks as any statement.
    pub(crate) async fn select_constant(&self, expr: &str) -> Result<Vec<RecordBatch>> {
        let statement = self.parse_checked(&format!("SELECT {expr}"))?;
        let plan = self.ctx.state().statement_to_plan(statement).await?;
        self.ctx.execute_logical_plan(plan).await?.collect().await
    }

    async fn execute_inner(&self, sql: &str) -> Result<StatementOutput> {
        let keyword = split::leading_keyword(sql);
        match keyword.as_str() {
            "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" => {
                return self.transaction_statement(sql, &keyword).await;
            }
            "CALL" => return self.call(sql).await,
            _ => {}
        }
        let (statement, extras) = self.parse(sql, &keyword).await?;
        let _view = self.shared.begin_statement()?;
        if let DFStatement::Statement(s) = &statement
            && let Some(out) = self.floe_statement(s, &extras).await?
        {
            return Ok(out);
        }
        if extras.partitioned_by.is_some() {
            return plan_err!(
                "PARTITIONED BY is only supported for Iceberg tables in the floe catalog"
            );
        }
        let state = self.ctx.state();
        let plan = state.statement_to_plan(statement).await?;
        // TRUNCATE is DELETE without WHERE: the same commit, and a row count that leaves
        // out rows delete files already removed.
        if let LogicalPlan::Dml(dml) = &plan
            && dml.op == WriteOp::Truncate
            && let Ok(provider) = source_as_provider(&dml.target)
            && let Some(table) = provider.as_any().downcast_ref::<FloeTable>()
        {
            let scan = LogicalPlan::TableScan(datafusion::logical_expr::TableScan::try_new(
                dml.table_name.clone(),
                dml.target.clone(),
                None,
                vec![],
                None,
            )?);
            let n = self.copy_on_write(table, &scan, false).await?;
            return StatementOutput::count(n);
        }
        if let LogicalPlan::Dml(dml) = &plan
            && matches!(dml.op, WriteOp::Delete | WriteOp::Update)
            && let Ok(provider) = source_as_provider(&dml.target)
            && let Some(table) = provider.as_any().downcast_ref::<FloeTable>()
        {
            let n = self
                .copy_on_write(table, &dml.input, dml.op == WriteOp::Update)
                .await?;
            return StatementOutput::count(n);
        }
        // Errors of INSERTs into Iceberg tables are reworded to name the table's columns.
        let insert_target = match &plan {
            LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)) => {
                source_as_provider(&dml.target).ok().and_then(|p| {
                    p.as_any()
                        .downcast_ref::<FloeTable>()
                        .map(|t| (t.schema.clone(), t.display_name()))
                })
            }
            _ => None,
        };
        let explain = |e| match &insert_target {
            Some((schema, name)) => crate::write::explain_input_error(e, schema, name),
            None => e,
        };
        let df = self.ctx.execute_logical_plan(plan).await.map_err(explain)?;
        let stream = df.execute_stream().await.map_err(explain)?;
        // The executed plan's schema, i.e. the batches' own: the logical schema can still
        // say `Null` where optimization settled a type (`SELECT NULL a UNION ALL ...`).
        let schema = stream.schema();
        Ok(StatementOutput { schema, stream })
    }

    /// Statements floe runs itself; `None` hands the statement to DataFusion.
    async fn floe_statement(
        &self,
        s: &Statement,
        extras: &crate::ddl::CreateExtras,
    ) -> Result<Option<StatementOutput>> {
        match s {
            Statement::Merge(m) => {
                let n = self.merge(m).await?;
                Ok(Some(StatementOutput::count(n)?))
            }
            Statement::CreateTable(ct) if !ct.external => {
                let name = self.table_name(&ct.name)?;
                if !self.is_floe(&name.catalog) {
                    crate::ddl::check_not_floe_only(extras, &name.catalog)?;
                    return Ok(None);
                }
                let rows = self.create_table(ct, extras).await?;
                Ok(Some(if ct.query.is_some() {
                    StatementOutput::count(rows)?
                } else {
                    StatementOutput::empty()
                }))
            }
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => {
                let name = match schema_name {
                    SchemaName::Simple(n) | SchemaName::NamedAuthorization(n, _) => n,
                    SchemaName::UnnamedAuthorization(_) => return Ok(None),
                };
                let (catalog, _) = self.schema_name(name)?;
                if !self.is_floe(&catalog) {
                    return Ok(None);
                }
                self.create_schema(name, *if_not_exists, Default::default())
                    .await?;
                Ok(Some(StatementOutput::empty()))
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                purge,
                ..
            } => match object_type {
                ObjectType::Table => {
                    let mut floe = 0;
                    for n in names {
                        if self.is_floe(&self.table_name(n)?.catalog) {
                            floe += 1;
                        }
                    }
                    if floe == 0 {
                        return Ok(None);
                    }
                    if floe != names.len() {
                        return plan_err!(
                            "DROP TABLE cannot mix floe tables and tables of other catalogs"
                        );
                    }
                    self.drop_tables(names, *if_exists, *purge).await?;
                    Ok(Some(StatementOutput::empty()))
                }
                ObjectType::Schema => {
                    let [name] = names.as_slice() else {
                        return plan_err!("DROP SCHEMA takes one schema");
                    };
                    let (catalog, _) = self.schema_name(name)?;
                    if !self.is_floe(&catalog) {
                        return Ok(None);
                    }
                    self.drop_schema(name, *if_exists, *cascade).await?;
                    Ok(Some(StatementOutput::empty()))
                }
                _ => Ok(None),
            },
            Statement::AlterTable(alter) => {
                let name = self.table_name(&alter.name)?;
                if !self.is_floe(&name.catalog) {
                    return Ok(None);
                }
                self.alter_table(alter).await?;
                Ok(Some(StatementOutput::empty()))
            }
            Statement::Use(u) => {
                use datafusion::sql::sqlparser::ast::Use;
                let name = match u {
                    Use::Object(n) | Use::Schema(n) | Use::Database(n) => n,
                    other => return plan_err!("USE {other} is not supported; use USE schema"),
                };
                self.use_schema(name)?;
                Ok(Some(StatementOutput::empty()))
            }
            Statement::ShowSchemas { show_options, .. }
            | Statement::ShowDatabases { show_options, .. } => {
                let catalog = match show_parent(show_options) {
                    Some(c) => crate::ddl::name_parts(c)?.join("."),
                    None => self.defaults().0,
                };
                let sql = format!(
                    "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = {} AND schema_name <> 'information_schema' ORDER BY schema_name",
                    sql_string(&catalog)
                );
                Ok(Some(self.run_query(&sql).await?))
            }
            Statement::ShowTables { show_options, .. } => {
                let Some(parent) = show_parent(show_options) else {
                    return Ok(None);
                };
                let (catalog, schema) = self.schema_name(parent)?;
                let sql = format!(
                    "SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables WHERE table_catalog = {} AND table_schema = {} ORDER BY table_name",
                    sql_string(&catalog),
                    sql_string(&schema)
                );
                Ok(Some(self.run_query(&sql).await?))
            }
            _ => Ok(None),
        }
    }

    /// Time travel reads Iceberg tables only: a table of another catalog, of
    /// `information_schema` or `system`, or a session's external table or view gets an
    /// error saying so (the synthetic versioned name would otherwise surface in a
    /// "not found" error).
    fn check_time_travel_target(&self, parts: &[String]) -> Result<()> {
        let Some(name) = self.table_name_of(parts) else {
            return Ok(());
        };
        let floe = self.is_floe(&name.catalog);
        let shown = if floe {
            name.display()
        } else {
            format!("{}.{}", name.catalog, name.display())
        };
        let not_iceberg = !floe
            || name.schema == "information_schema"
            || name.schema == crate::provider::metadata::SYSTEM_SCHEMA
            || self.shared.local.contains_key(&(name.schema, name.table));
        if not_iceberg {
            return plan_err!("time travel needs an Iceberg table; '{shown}' is not one");
        }
        Ok(())
    }

    /// A query floe writes itself (over information_schema), run as a statement output.
    async fn run_query(&self, sql: &str) -> Result<StatementOutput> {
        let df = self.ctx.sql(sql).await?;
        let stream = df.execute_stream().await?;
        Ok(StatementOutput {
            schema: stream.schema(),
            stream,
        })
    }

    /// `USE s` / `USE catalog.s`: later unqualified names resolve in that schema.
    fn use_schema(&self, name: &datafusion::sql::sqlparser::ast::ObjectName) -> Result<()> {
        let (catalog, schema) = self.schema_name(name)?;
        let exists = self
            .ctx
            .catalog(&catalog)
            .is_some_and(|c| c.schema(&schema).is_some());
        if !exists {
            return plan_err!("schema '{catalog}.{schema}' does not exist");
        }
        let state = self.ctx.state_ref();
        let mut state = state.write();
        let options = state.config_mut().options_mut();
        options.catalog.default_catalog = catalog;
        options.catalog.default_schema = schema;
        Ok(())
    }

    /// Evaluates a non-literal version value (e.g. `now() - INTERVAL '1' DAY`).
    async fn evaluate_version_value(&self, text: &str) -> Result<VersionValue> {
        use datafusion::arrow::array::Array;
        use datafusion::arrow::datatypes::{DataType, TimeUnit};
        let batches = self.select_constant(text).await?;
        let Some(batch) = batches
            .first()
            .filter(|b| b.num_rows() == 1 && b.num_columns() == 1)
        else {
            return plan_err!("the time-travel value '{text}' must be one constant");
        };
        let column = batch.column(0);
        if column.is_null(0) {
            return plan_err!("the time-travel value '{text}' is NULL");
        }
        let value = datafusion::common::ScalarValue::try_from_array(column, 0)?;
        Ok(match column.data_type() {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => {
                let v = value.cast_to(&DataType::Int64)?;
                match v {
                    datafusion::common::ScalarValue::Int64(Some(n)) => VersionValue::Integer(n),
                    _ => return plan_err!("the time-travel value '{text}' is not a number"),
                }
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                VersionValue::Text(value.to_string())
            }
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
                let v = value.cast_to(&DataType::Timestamp(TimeUnit::Millisecond, None))?;
                match v {
                    datafusion::common::ScalarValue::TimestampMillisecond(Some(ms), _) => {
                        VersionValue::TimestampMs(ms)
                    }
                    _ => return plan_err!("the time-travel value '{text}' is not a timestamp"),
                }
            }
            other => {
                return plan_err!(
                    "the time-travel value '{text}' has type {other}; use a snapshot id, a name or a timestamp"
                );
            }
        })
    }

    async fn transaction_statement(&self, sql: &str, keyword: &str) -> Result<StatementOutput> {
        let words: Vec<String> = sql
            .split_whitespace()
            .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match (keyword, words.as_slice()) {
            ("BEGIN", ["BEGIN"] | ["BEGIN", "TRANSACTION" | "WORK"])
            | ("START", ["START", "TRANSACTION"]) => {
                self.begin()?;
            }
            ("COMMIT" | "END", ["COMMIT" | "END"] | ["COMMIT" | "END", "TRANSACTION" | "WORK"]) => {
                self.commit(None, None).await?;
            }
            (
                "ROLLBACK" | "ABORT",
                ["ROLLBACK" | "ABORT"] | ["ROLLBACK" | "ABORT", "TRANSACTION" | "WORK"],
            ) => {
                self.rollback()?;
            }
            _ => return plan_err!("unsupported transaction statement '{sql}'"),
        }
        Ok(StatementOutput::empty())
    }

    /// `BEGIN`: starts staging.
    pub fn begin(&self) -> Result<()> {
        let mut txn = self.shared.txn.lock();
        if txn.is_some() {
            return plan_err!("a transaction is already open; COMMIT or ROLLBACK it first");
        }
        *txn = Some(crate::session::Txn::new(
            self.shared.engine.catalog.write_guard(),
        ));
        Ok(())
    }

    /// `ROLLBACK`: discards staged changes (their files become orphans).
    pub fn rollback(&self) -> Result<()> {
        let mut txn = self.shared.txn.lock();
        match txn.as_ref() {
            None => plan_err!("there is no open transaction to roll back"),
            Some(t) if t.is_publishing() => {
                plan_err!("the transaction is being published and can no longer be rolled back")
            }
            Some(_) => {
                *txn = None;
                Ok(())
            }
        }
    }

    /// `COMMIT` (unnamed) or `CALL release(name)` inside a transaction: publishes every
    /// staged table in one catalog transaction.
    pub async fn commit(
        &self,
        name: Option<&str>,
        message: Option<&str>,
    ) -> Result<Option<floe_catalog::ReleaseRecord>> {
        // The transaction stays in place (marked as publishing, so no statement can
        // stage into it or escape it) until the publish has ended.
        let commits = {
            let mut guard = self.shared.txn.lock();
            let Some(txn) = guard.as_mut() else {
                return plan_err!("there is no open transaction to commit");
            };
            if txn.is_publishing() {
                return plan_err!("the transaction is already being published");
            }
            let commits = txn.commits();
            if commits.is_empty() {
                *guard = None;
                if name.is_none() {
                    return Ok(None);
                }
                // A named release of nothing staged records nothing; make that explicit.
                return plan_err!(
                    "the transaction changed no table, so there is nothing to release"
                );
            }
            txn.set_publishing(true);
            commits
        };
        let result = self
            .shared
            .engine
            .catalog
            .publish_release(name, message, commits)
            .await;
        let mut guard = self.shared.txn.lock();
        match result {
            Ok(published) => {
                *guard = None;
                Ok(published.release)
            }
            Err(e) => {
                // A bad or taken release name published nothing and the staged work is
                // still valid: the transaction stays open, to be released under another
                // name. Any other failure (a table moved, storage) ends it.
                if matches!(
                    e,
                    floe_catalog::Error::ReleaseExists(_) | floe_catalog::Error::InvalidName { .. }
                ) {
                    if let Some(txn) = guard.as_mut() {
                        txn.set_publishing(false);
                    }
                } else {
                    *guard = None;
                }
                Err(crate::error::to_df(e))
            }
        }
    }

    async fn call(&self, sql: &str) -> Result<StatementOutput> {
        crate::procedures::call(self, sql).await
    }
}

/// The schema or catalog a `SHOW ... FROM/IN x` names.
fn show_parent(
    options: &datafusion::sql::sqlparser::ast::ShowStatementOptions,
) -> Option<&datafusion::sql::sqlparser::ast::ObjectName> {
    options.show_in.as_ref()?.parent_name.as_ref()
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
