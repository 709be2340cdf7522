//! The SQL front end: what the shell, `floe-slt` and embedders run SQL through.
//!
//! It splits scripts into statements, handles floe's extensions (time-travel clauses,
//! transactions, `CALL`, Iceberg DDL, copy-on-write DML) and hands everything else to
//! DataFusion unchanged. No version clause ever reaches DataFusion unresolved.

pub mod insert_cast;
pub mod interval;
pub mod names;
pub mod split;
pub mod type_spellings;

pub use crate::parse::MAX_EXPRESSION_DEPTH;
pub use crate::session::{Session, StatementOutput};
pub use crate::time_travel;

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::{Result, plan_err};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{ObjectType, SchemaName, ShowCreateObject, Statement};
use futures::StreamExt;

use crate::provider::FloeTable;
use crate::time_travel::{VersionValue, find_clauses, literal_value, rewrite, to_spec};
use crate::types::sql_string;

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

impl Session {
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
    pub(crate) async fn parse(
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
            && let Some(out) = self.floe_statement(s, sql, &extras).await?
        {
            return Ok(out);
        }
        if extras.partitioned_by.is_some() {
            return plan_err!(
                "PARTITIONED BY is only supported for Iceberg tables in the floe catalog"
            );
        }
        let state = self.ctx.state();
        let plan = names::plan_with_unique_names(&state, statement, self.friendly_sql()).await?;
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
            let n = self.delete(table, &scan).await?;
            return StatementOutput::count(n);
        }
        if let LogicalPlan::Dml(dml) = &plan
            && matches!(dml.op, WriteOp::Delete | WriteOp::Update)
            && let Ok(provider) = source_as_provider(&dml.target)
            && let Some(table) = provider.as_any().downcast_ref::<FloeTable>()
        {
            let n = if dml.op == WriteOp::Update {
                self.update(table, &dml.input).await?
            } else {
                self.delete(table, &dml.input).await?
            };
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
        let plan = match &insert_target {
            Some((_, name)) => insert_cast::name_insert_casts(plan, name),
            None => plan,
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
        original: &str,
        extras: &crate::ddl::CreateExtras,
    ) -> Result<Option<StatementOutput>> {
        match s {
            // Views of floe schemas are the warehouse's (Iceberg views in the catalog);
            // temporary ones, and those reading tables only this session sees, are the
            // session's own.
            Statement::CreateView(v) => Ok(self
                .create_view(v, original)
                .await?
                .then(StatementOutput::empty)),
            Statement::ShowCreate {
                obj_type: ShowCreateObject::View,
                obj_name,
            } => Ok(Some(self.show_create_view(obj_name).await?)),
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
                ObjectType::View => Ok(self
                    .drop_views(names, *if_exists)
                    .await?
                    .then(StatementOutput::empty)),
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

    /// `SHOW CREATE VIEW v`: the view's definition, as `SHOW CREATE TABLE` shows a
    /// table's (DataFusion has only the latter).
    async fn show_create_view(
        &self,
        name: &datafusion::sql::sqlparser::ast::ObjectName,
    ) -> Result<StatementOutput> {
        let t = self.table_name(name)?;
        let reference = datafusion::common::TableReference::full(
            t.catalog.clone(),
            t.schema.clone(),
            t.table.clone(),
        );
        let shown = if self.is_floe(&t.catalog) {
            t.display()
        } else {
            format!("{}.{}", t.catalog, t.display())
        };
        match self.ctx.table_provider(reference).await {
            Ok(p) if p.table_type() == datafusion::logical_expr::TableType::View => {}
            Ok(_) => return plan_err!("'{shown}' is a table, not a view: use SHOW CREATE TABLE"),
            Err(_) => return plan_err!("view '{shown}' does not exist"),
        }
        let sql = format!(
            "SELECT table_catalog, table_schema, table_name, definition FROM information_schema.views WHERE table_catalog = {} AND table_schema = {} AND table_name = {}",
            sql_string(&t.catalog),
            sql_string(&t.schema),
            sql_string(&t.table)
        );
        self.run_query(&sql).await
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
