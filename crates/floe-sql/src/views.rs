//! The warehouse's views. `CREATE [OR REPLACE] VIEW` on a floe schema stores an Iceberg
//! view (its SQL as written, dialect `datafusion`, its columns and default namespace) in
//! the catalog, through the catalog's commit protocol, so every session and every later
//! process sees it. A statement that names a view plans its SQL then, in the view's
//! default namespace and through floe's front end (a view may read a table `FOR VERSION
//! AS OF` a release), so a view always reads what its SQL says at the time it is read.
//!
//! A view that reads a session's own tables (external tables, temporary views) or
//! another catalog's tables is made temporary, as PostgreSQL does: those tables do not
//! exist for other sessions. `CREATE TEMP VIEW` is always session-local. Both are
//! floe's: DataFusion refuses `TEMP`, and a view DataFusion itself registers in a floe
//! schema (a plain context's CREATE VIEW) is refused, as it would silently vanish.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema as ArrowSchema, SchemaRef};
use datafusion::catalog::{Session as DfSession, TableProvider};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::datasource::ViewTable;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{CreateView, ObjectName, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use floe_catalog::ViewDefinition;
use floe_catalog::ident::table_display;
use iceberg::TableIdent;
use iceberg::spec::{ViewMetadata, ViewRepresentation};

use crate::error::{iceberg_to_df, to_df};
use crate::frontend::{names, split};
use crate::provider::{namespace_of, schema_name};
use crate::session::{Session, SessionShared};

/// The dialect floe writes its views' SQL in, and the only one it runs.
pub const DIALECT: &str = "datafusion";

tokio::task_local! {
    /// The views whose SQL is being planned (or created) by the current planning,
    /// outermost first: a view met again inside its own expansion refers to itself.
    static EXPANDING: Vec<TableIdent>;
}

/// The text of the query of `CREATE ... VIEW name [(columns)] [options] AS query`,
/// exactly as written (comments inside it included, the trailing `;` not).
pub fn query_text(sql: &str) -> Result<String> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| datafusion::error::DataFusionError::Plan(e.to_string()))?;
    let offset = crate::time_travel::byte_offsets(sql);
    let mut after_view = false;
    let mut depth = 0i32;
    for (i, t) in tokens.iter().enumerate() {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::VIEW => {
                after_view = true;
            }
            Token::Word(w)
                if after_view
                    && depth == 0
                    && w.quote_style.is_none()
                    && w.keyword == Keyword::AS =>
            {
                let start = tokens[i + 1..]
                    .iter()
                    .find(|t| !matches!(t.token, Token::Whitespace(_)))
                    .map(|t| offset(t.span.start))
                    .unwrap_or(sql.len());
                let text = sql[start..].trim_end();
                let text = text.strip_suffix(';').unwrap_or(text).trim_end();
                return Ok(text.to_string());
            }
            _ => {}
        }
    }
    plan_err!(
        "cannot find the query of the CREATE VIEW statement (expected AS followed by a query)"
    )
}

impl Session {
    /// CREATE VIEW on a floe schema: stored in the warehouse, or session-local when
    /// `TEMP` or when it reads tables other sessions cannot see. `false`: the view is not
    /// in the floe catalog, for DataFusion to make.
    pub(crate) async fn create_view(&self, v: &CreateView, original: &str) -> Result<bool> {
        let name = self.table_name(&v.name)?;
        if !self.is_floe(&name.catalog) {
            return Ok(false);
        }
        let ident = name.ident()?;
        let catalog = &self.shared.engine.catalog;
        if v.materialized {
            return plan_err!(
                "materialized views are not supported; create a table with CREATE TABLE {} AS SELECT ...",
                name.display()
            );
        }
        if catalog.contains_table(&ident) {
            return plan_err!(
                "'{}' is an Iceberg table, not a view: DROP TABLE it first to give a view its name",
                name.display()
            );
        }
        let local_key = (name.schema.clone(), name.table.clone());
        let exists = if v.temporary {
            self.shared.local.contains_key(&local_key)
        } else {
            catalog.contains_view(&ident)
        };
        if exists && !v.or_replace {
            if v.if_not_exists {
                return Ok(true);
            }
            return plan_err!("view '{}' already exists", name.display());
        }
        // Planned as the view will be planned when read, with the view itself marked as
        // being expanded: a query that would read the view it defines is refused here.
        let state = self.ctx.state();
        let statement = DFStatement::Statement(Box::new(Statement::Query(v.query.clone())));
        let temporary = v.temporary || reads_session_tables(&statement, &state, &self.shared)?;
        let plan = EXPANDING
            .scope(
                vec![ident.clone()],
                names::plan_with_unique_names(&state, statement, self.friendly_sql()),
            )
            .await?;
        let fields = view_fields(&plan, v, &name.display())?;
        if temporary {
            let plan = named(plan, fields.iter().map(|f| f.name().as_str()))?;
            let view = ViewTable::new(plan, Some(original.trim().to_string()));
            self.shared.local.insert(local_key, Arc::new(view));
            return Ok(true);
        }
        self.reject_in_transaction("CREATE VIEW")?;
        let schema = crate::types::arrow_schema_to_iceberg(&ArrowSchema::new(fields))
            .map_err(|e| e.context(format!("view '{}'", name.display())))?;
        let (_, default_schema) = self.defaults();
        let Some(default_namespace) = namespace_of(&default_schema) else {
            return plan_err!("invalid default schema '{default_schema}'");
        };
        let mut properties = HashMap::new();
        if let Some(comment) = &v.comment {
            properties.insert("comment".to_string(), comment.clone());
        }
        let definition = ViewDefinition {
            sql: query_text(original)?,
            dialect: DIALECT.to_string(),
            schema,
            default_namespace,
            properties,
        };
        catalog
            .create_view(&ident, definition, v.or_replace)
            .await
            .map_err(to_df)?;
        Ok(true)
    }

    /// DROP VIEW of floe views. `false`: none of `names` is in the floe catalog, so
    /// DataFusion drops them (another catalog's views).
    pub(crate) async fn drop_views(&self, names: &[ObjectName], if_exists: bool) -> Result<bool> {
        let mut floe = Vec::new();
        for n in names {
            let t = self.table_name(n)?;
            if self.is_floe(&t.catalog) {
                floe.push(t);
            }
        }
        if floe.is_empty() {
            return Ok(false);
        }
        if floe.len() != names.len() {
            return plan_err!("DROP VIEW cannot mix floe views and views of other catalogs");
        }
        let catalog = &self.shared.engine.catalog;
        let mut persistent = Vec::new();
        let mut local = Vec::new();
        for t in &floe {
            let key = (t.schema.clone(), t.table.clone());
            if let Some(entry) = self.shared.local.get(&key) {
                if entry.value().table_type() != TableType::View {
                    return plan_err!("'{}' is not a view", t.display());
                }
                local.push(key);
                continue;
            }
            let ident = t.ident()?;
            if catalog.contains_view(&ident) {
                persistent.push(ident);
            } else if catalog.contains_table(&ident) {
                return plan_err!("'{}' is a table, not a view: use DROP TABLE", t.display());
            } else if !if_exists {
                return plan_err!("view '{}' does not exist", t.display());
            }
        }
        if !persistent.is_empty() {
            self.reject_in_transaction("DROP VIEW")?;
        }
        for key in local {
            self.shared.local.remove(&key);
        }
        for ident in persistent {
            catalog.drop_view(&ident).await.map_err(to_df)?;
        }
        Ok(true)
    }
}

/// `plan` with its output columns renamed, by position, to `names` (the view's columns).
fn named<'a>(plan: LogicalPlan, names: impl Iterator<Item = &'a str>) -> Result<LogicalPlan> {
    let exprs: Vec<Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .zip(names)
        .map(|(c, name)| Expr::Column(c).alias(name))
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

/// The view's columns: the query's, named by the view's column list when it has one.
fn view_fields(
    plan: &LogicalPlan,
    v: &CreateView,
    view: &str,
) -> Result<Vec<datafusion::arrow::datatypes::Field>> {
    let mut fields: Vec<_> = plan
        .schema()
        .as_arrow()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if v.columns.is_empty() {
        return Ok(fields);
    }
    if v.columns.len() != fields.len() {
        return plan_err!(
            "view '{view}' names {} columns but its query returns {}",
            v.columns.len(),
            fields.len()
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (f, c) in fields.iter_mut().zip(&v.columns) {
        let name = crate::ddl::normalize(&c.name);
        if !seen.insert(name.clone()) {
            return plan_err!("view '{view}' names column '{name}' twice");
        }
        *f = f.clone().with_name(name);
    }
    Ok(fields)
}

/// Whether `statement` reads a table other sessions cannot see: a session-local table
/// of a floe schema (an external table, a temporary view), or a table of another catalog
/// of the context. Judged on the statement's table references, before planning inlines
/// the views it reads.
fn reads_session_tables(
    statement: &DFStatement,
    state: &datafusion::execution::SessionState,
    shared: &SessionShared,
) -> Result<bool> {
    let options = state.config().options();
    let (default_catalog, default_schema) = (
        options.catalog.default_catalog.clone(),
        options.catalog.default_schema.clone(),
    );
    let floe = &shared.engine.catalog_name;
    for reference in state.resolve_table_references(statement)? {
        let r = reference.resolve(&default_catalog, &default_schema);
        let session_only = if r.catalog.as_ref() == floe.as_str() {
            shared
                .local
                .contains_key(&(r.schema.to_string(), r.table.to_string()))
        } else {
            state.catalog_list().catalog(&r.catalog).is_some()
        };
        if session_only {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The provider of the view at `location` for a statement that names it: its SQL
/// planned now. An error of a view named directly by the statement is deferred to the
/// scan (a view whose table was dropped must not break `information_schema`), one of a
/// view inside another view's expansion goes up to it.
pub(crate) async fn provider(
    shared: &Arc<SessionShared>,
    ident: &TableIdent,
    location: &str,
) -> Result<Arc<dyn TableProvider>> {
    let outer = EXPANDING.try_with(|s| s.clone()).ok();
    let nested = outer.is_some();
    let mut stack = outer.unwrap_or_default();
    if stack.contains(ident) {
        return plan_err!("view '{}' refers to itself", table_display(ident));
    }
    stack.push(ident.clone());
    let metadata = shared
        .engine
        .catalog
        .view_at(ident, location)
        .await
        .map_err(to_df)?;
    let planned = EXPANDING
        .scope(stack, plan_view(shared, ident, &metadata))
        .await;
    match planned {
        Ok(p) => Ok(p),
        Err(e) if !nested => {
            let version = metadata.current_version();
            let schema = version.schema(&metadata).map_err(iceberg_to_df)?;
            let arrow = iceberg::arrow::schema_to_arrow_schema(&schema).map_err(iceberg_to_df)?;
            Ok(Arc::new(BrokenView {
                schema: Arc::new(arrow),
                definition: definition(ident, &view_sql(&metadata).unwrap_or_default()),
                error: format!(
                    "view '{}' cannot be read: {}",
                    table_display(ident),
                    crate::error::display_error(&e)
                ),
            }))
        }
        Err(e) => Err(e),
    }
}

/// The view's SQL in floe's dialect.
fn view_sql(metadata: &ViewMetadata) -> Option<String> {
    metadata
        .current_version()
        .representations()
        .iter()
        .find_map(|r| match r {
            ViewRepresentation::Sql(s) if s.dialect.eq_ignore_ascii_case(DIALECT) => {
                Some(s.sql.clone())
            }
            _ => None,
        })
}

fn definition(ident: &TableIdent, sql: &str) -> String {
    format!("CREATE VIEW {} AS {sql}", table_display(ident))
}

async fn plan_view(
    shared: &Arc<SessionShared>,
    ident: &TableIdent,
    metadata: &ViewMetadata,
) -> Result<Arc<dyn TableProvider>> {
    let version = metadata.current_version();
    let Some(sql) = view_sql(metadata) else {
        let dialects: Vec<String> = version
            .representations()
            .iter()
            .map(|r| match r {
                ViewRepresentation::Sql(s) => s.dialect.clone(),
            })
            .collect();
        return plan_err!(
            "view '{}' has no SQL in the {DIALECT} dialect (it has: {}); floe runs only SQL written for DataFusion",
            table_display(ident),
            dialects.join(", ")
        );
    };
    let Some(state) = shared.state.get().and_then(|w| w.upgrade()) else {
        return exec_err!(
            "view '{}' can only be read through the context the warehouse is registered in",
            table_display(ident)
        );
    };
    let mut state = state.read().clone();
    let options = state.config_mut().options_mut();
    options.catalog.default_catalog = shared.engine.catalog_name.clone();
    options.catalog.default_schema = schema_name(version.default_namespace());
    let decimal_literals = options.sql_parser.parse_float_as_decimal;
    let session = Session {
        ctx: SessionContext::new_with_state(state.clone()),
        shared: shared.clone(),
        decimal_literals,
    };
    let (statement, _) = session.parse(&sql, &split::leading_keyword(&sql)).await?;
    let plan = names::plan_with_unique_names(&state, statement, session.friendly_sql()).await?;
    let schema = version.schema(metadata).map_err(iceberg_to_df)?;
    let columns: Vec<String> = schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| f.name.clone())
        .collect();
    if columns.len() != plan.schema().fields().len() {
        return plan_err!(
            "its query now returns {} columns where the view has {} ({}); recreate it with CREATE OR REPLACE VIEW",
            plan.schema().fields().len(),
            columns.len(),
            columns.join(", ")
        );
    }
    let plan = named(plan, columns.iter().map(String::as_str))?;
    Ok(Arc::new(ViewTable::new(
        plan,
        Some(definition(ident, &sql)),
    )))
}

/// A view whose SQL cannot be planned now: listed with its stored columns and
/// definition, failing when read.
#[derive(Debug)]
struct BrokenView {
    schema: SchemaRef,
    definition: String,
    error: String,
}

#[async_trait]
impl TableProvider for BrokenView {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.definition)
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        exec_err!("{}", self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_text_is_taken_as_written() {
        assert_eq!(
            query_text("CREATE VIEW v AS SELECT a AS b FROM t;").unwrap(),
            "SELECT a AS b FROM t"
        );
        assert_eq!(
            query_text(
                "create or replace view s.v (x, y) as\n  -- keep\n  select * from t for version as of 'r1'"
            )
            .unwrap(),
            "select * from t for version as of 'r1'"
        );
        assert_eq!(
            query_text("CREATE VIEW \"as\" COMMENT 'x' AS (SELECT 1)").unwrap(),
            "(SELECT 1)"
        );
        assert!(query_text("CREATE VIEW v").is_err());
    }
}
