//! A session: one DataFusion `SessionContext` over the floe catalog, the consistent
//! catalog view of the statement being planned, and the session's open transaction.
//!
//! [`Session`] is defined here, below everything that runs statements on it (the front
//! end's dispatch, DDL, DML, procedures), so those depend on this module and never on
//! each other or on the front end.
//!
//! Guarantees:
//! * every table a statement reads is resolved from ONE catalog snapshot (a redb read
//!   transaction), so no statement observes part of a release;
//! * inside `BEGIN ... COMMIT`, a table is pinned at the version the transaction first
//!   touched; the session's own staged changes are visible to it and to nobody else;
//!   `COMMIT` publishes all staged tables in one catalog transaction, failing (and
//!   publishing nothing) if any of them moved since it was pinned.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::{Result, TableReference, exec_err, plan_err};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use floe_catalog::{CatalogSnapshot, StagedCommit};
use futures::StreamExt;
use iceberg::table::Table;
use iceberg::{TableIdent, TableUpdate};
use parking_lot::Mutex;

use crate::engine::Engine;
use crate::error::to_df;
use crate::provider::{FloeCatalogProvider, FloeTable, count_batch, count_schema};

/// Default schema (Iceberg namespace) of a session.
pub const DEFAULT_SCHEMA: &str = "public";

/// The open transaction of a session.
#[derive(Debug)]
pub struct Txn {
    /// Tables read or written so far, at the version first seen.
    pub pinned: HashMap<TableIdent, Table>,
    /// Tables with staged changes (metadata written, unpublished), in the order they
    /// were first changed.
    pub staged: Vec<StagedCommit>,
    /// Unique in the process: a statement that started staging in one transaction never
    /// records its work in a later one.
    id: u64,
    /// A COMMIT or release is publishing the staged commits: the transaction can take no
    /// more work and cannot be rolled back until the publish has ended.
    publishing: bool,
    /// Held from BEGIN to the end: every file the transaction's statements write is
    /// younger, so orphan removal leaves them alone until the transaction ends.
    _writing: floe_catalog::WriteGuard,
}

impl Txn {
    /// A new, empty transaction of the warehouse whose write guard is `writing`.
    pub fn new(writing: floe_catalog::WriteGuard) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self {
            pinned: HashMap::new(),
            staged: Vec::new(),
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            publishing: false,
            _writing: writing,
        }
    }

    /// Whether a COMMIT or release of this transaction is under way.
    pub fn is_publishing(&self) -> bool {
        self.publishing
    }

    /// Marks the start (true) or the failed end (false) of a publish.
    pub fn set_publishing(&mut self, publishing: bool) {
        self.publishing = publishing;
    }

    /// The staged version of a table, if the transaction changed it.
    pub fn staged(&self, ident: &TableIdent) -> Option<&StagedCommit> {
        self.staged.iter().find(|s| s.ident() == ident)
    }

    /// Staged commits for publishing.
    pub fn commits(&self) -> Vec<StagedCommit> {
        self.staged.clone()
    }
}

/// Catalog view of one statement.
#[derive(Debug)]
pub struct StatementView {
    snapshot: CatalogSnapshot,
}

/// State shared by a session's providers and its front end.
#[derive(Debug)]
pub struct SessionShared {
    /// The warehouse.
    pub engine: Arc<Engine>,
    statement: Mutex<Option<Arc<StatementView>>>,
    /// The open transaction, if any.
    pub txn: Mutex<Option<Txn>>,
    /// [`SessionOptions::friendly_sql`] of the session.
    pub friendly_sql: std::sync::atomic::AtomicBool,
    /// Session-local tables that are not Iceberg tables (external tables, temporary
    /// views), by (schema, name).
    pub local: dashmap::DashMap<(String, String), Arc<dyn TableProvider>>,
    /// The context the session's statements are planned in, for planning the SQL of the
    /// warehouse's views when a statement names one (weak: the context owns this).
    pub(crate) state: std::sync::OnceLock<
        std::sync::Weak<parking_lot::RwLock<datafusion::execution::SessionState>>,
    >,
}

impl SessionShared {
    /// New shared state for a session over `engine`.
    pub fn new(engine: Arc<Engine>) -> Arc<Self> {
        Arc::new(Self {
            engine,
            statement: Mutex::new(None),
            txn: Mutex::new(None),
            local: dashmap::DashMap::new(),
            friendly_sql: std::sync::atomic::AtomicBool::new(true),
            state: std::sync::OnceLock::new(),
        })
    }

    /// Pins one catalog snapshot for the statement about to be planned; dropped when the
    /// guard is.
    pub fn begin_statement(self: &Arc<Self>) -> Result<StatementGuard> {
        let snapshot = self.engine.catalog.read_snapshot().map_err(to_df)?;
        *self.statement.lock() = Some(Arc::new(StatementView { snapshot }));
        Ok(StatementGuard {
            shared: self.clone(),
        })
    }

    /// The committed table as the current statement sees it (or, outside a statement,
    /// as it is now); inside a transaction, the pinned or staged version.
    pub async fn resolve(&self, ident: &TableIdent) -> Result<Option<Table>> {
        if let Some(txn) = self.txn.lock().as_ref() {
            if let Some(s) = txn.staged(ident) {
                return Ok(Some(s.table().clone()));
            }
            if let Some(t) = txn.pinned.get(ident) {
                return Ok(Some(t.clone()));
            }
        }
        let view = self.statement.lock().clone();
        let record = match view {
            Some(v) => v.snapshot.table(ident).map_err(to_df)?,
            None => self
                .engine
                .catalog
                .table_record(ident)
                .ok()
                .map(|r| (*r).clone()),
        };
        let Some(record) = record else {
            return Ok(None);
        };
        let table = self
            .engine
            .catalog
            .table_at_location(ident, &record.location)
            .await
            .map_err(to_df)?;
        if let Some(txn) = self.txn.lock().as_mut() {
            txn.pinned
                .entry(ident.clone())
                .or_insert_with(|| table.clone());
        }
        Ok(Some(table))
    }

    /// The view's pointer as the current statement sees it (or, outside a statement,
    /// as it is now).
    pub fn resolve_view(&self, ident: &TableIdent) -> Result<Option<floe_catalog::ViewRecord>> {
        let view = self.statement.lock().clone();
        match view {
            Some(v) => v.snapshot.view(ident).map_err(to_df),
            None => Ok(self.engine.catalog.view_record(ident).map(|r| (*r).clone())),
        }
    }

    /// The open transaction's id, if one is open.
    pub fn txn_id(&self) -> Option<u64> {
        self.txn.lock().as_ref().map(|t| t.id)
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.txn.lock().is_some()
    }

    /// Applies `updates` (whose `requirements` were produced against `base`) to the
    /// table: staged into transaction `txn` (the one the statement started in), or
    /// committed at once when the statement started outside one. Fails, changing
    /// nothing, when the session's transaction is no longer `txn`. Returns the table's
    /// new version.
    pub async fn commit_or_stage(
        &self,
        txn: Option<u64>,
        ident: &TableIdent,
        base: &Table,
        requirements: Vec<iceberg::TableRequirement>,
        updates: Vec<TableUpdate>,
    ) -> Result<Table> {
        // The table's staged version in the statement's transaction, read together with
        // the check that the session is still in that transaction.
        let previous = {
            let guard = self.txn.lock();
            match (guard.as_ref(), txn) {
                (None, None) => None,
                (Some(t), Some(id)) if t.id == id => {
                    if t.publishing {
                        return exec_err!(
                            "the transaction is being published; nothing of this statement was staged"
                        );
                    }
                    t.staged(ident).cloned()
                }
                (_, Some(_)) => {
                    return exec_err!(
                        "the transaction ended while the statement ran; nothing of it was staged"
                    );
                }
                (Some(_), None) => {
                    return exec_err!(
                        "a transaction began while the statement ran; nothing of it was committed"
                    );
                }
            }
        };
        let Some(txn_id) = txn else {
            return self
                .engine
                .catalog
                .commit_table(ident, requirements, updates)
                .await
                .map_err(to_df);
        };
        // Stage: the file work of the commit happens now (the new metadata file is
        // written), so publishing is one pointer move per table. A table's first change
        // is staged on its pinned base; later ones on the staged version.
        let catalog = &self.engine.catalog;
        let staged = match &previous {
            Some(prev) => catalog.restage(prev, &requirements, updates).await,
            None => catalog.stage_commit(base, &requirements, updates).await,
        }
        .map_err(to_df)?;
        let table = staged.table().clone();
        // Record it only if the transaction still holds exactly what this statement
        // built on (compare-and-swap): otherwise another statement of the session
        // changed the table meanwhile, or the transaction ended or is publishing, and
        // recording would silently drop that other work or escape the transaction.
        let refused = {
            let mut guard = self.txn.lock();
            match guard.as_mut() {
                Some(txn) if txn.id == txn_id && !txn.publishing => {
                    let expected = previous
                        .as_ref()
                        .and_then(|p| p.table().metadata_location());
                    let slot = txn.staged.iter_mut().find(|s| s.ident() == ident);
                    let current = slot.as_ref().and_then(|s| s.table().metadata_location());
                    if current != expected {
                        Some(format!(
                            "another statement of this session changed table '{}' at the same time; nothing of this statement was staged, run it again",
                            floe_catalog::ident::table_display(ident)
                        ))
                    } else {
                        match slot {
                            Some(s) => *s = staged.clone(),
                            None => txn.staged.push(staged.clone()),
                        }
                        None
                    }
                }
                _ => Some(
                    "the transaction ended while the statement ran; nothing of it was staged"
                        .to_string(),
                ),
            }
        };
        match refused {
            None => {
                // The replaced staged version is now named by nothing: not by the
                // transaction (swapped out above, under its lock), not by any publish
                // (a publish takes its commits from the transaction, under that lock).
                if let Some(prev) = previous {
                    catalog.discard(&prev).await;
                }
                Ok(table)
            }
            Some(msg) => {
                catalog.discard(&staged).await;
                exec_err!("{msg}")
            }
        }
    }
}

/// Ends the statement's catalog view when dropped.
pub struct StatementGuard {
    shared: Arc<SessionShared>,
}

impl Drop for StatementGuard {
    fn drop(&mut self) {
        *self.shared.statement.lock() = None;
    }
}

/// Options for a new session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Make the floe catalog the default catalog (otherwise DataFusion's in-memory
    /// `datafusion` catalog is the default and floe is reachable by its name).
    pub floe_is_default: bool,
    /// `datafusion.execution.target_partitions` (0: number of cores).
    pub target_partitions: usize,
    /// Enable `information_schema` (and so SHOW TABLES / SHOW COLUMNS).
    pub information_schema: bool,
    /// Read `1.5` as an exact DECIMAL literal, as Spark, Trino, DuckDB and PostgreSQL do
    /// (DataFusion's default reads a DOUBLE, which silently rounds
    /// `12345678901234567890.12` on its way into a DECIMAL(38,2) column). Literals with an
    /// exponent (`1e3`) stay DOUBLE. `SET datafusion.sql_parser.parse_float_as_decimal`
    /// changes it per session.
    pub decimal_literals: bool,
    /// Accept SQL that DuckDB and PostgreSQL accept and DataFusion refuses: repeated
    /// output names (`SELECT 1, 1`) named as DuckDB names them, and intervals scaled by
    /// numbers (`3 * INTERVAL '1 day'`). Off, DataFusion refuses them as it does (its own
    /// test suites expect the refusals).
    pub friendly_sql: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            floe_is_default: true,
            target_partitions: 0,
            information_schema: true,
            decimal_literals: true,
            friendly_sql: true,
        }
    }
}

/// Builds a DataFusion context with the floe catalog registered.
pub fn build_context(
    shared: &Arc<SessionShared>,
    options: &SessionOptions,
) -> Result<SessionContext> {
    let engine = &shared.engine;
    let mut config = SessionConfig::new()
        .with_information_schema(options.information_schema)
        .with_create_default_catalog_and_schema(!options.floe_is_default);
    if options.floe_is_default {
        config =
            config.with_default_catalog_and_schema(engine.catalog_name.clone(), DEFAULT_SCHEMA);
    }
    config.options_mut().sql_parser.parse_float_as_decimal = options.decimal_literals;
    if options.target_partitions > 0 {
        config = config.with_target_partitions(options.target_partitions);
    }
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(crate::engine::FloeObjectStores::new(
            engine.catalog.clone(),
        )))
        .build_arc()?;
    if let Some((url, store)) = &engine.object_store {
        runtime.register_object_store(url.as_ref(), store.clone());
    }
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_type_planner(Arc::new(FloeTypes))
        .build();
    let ctx = SessionContext::new_with_state(state);
    attach(&ctx, shared);
    Ok(ctx)
}

/// SQL types DataFusion does not plan itself: `UUID` is `Utf8`, the canonical text floe
/// reads uuid columns as (`crate::uuid_text`), so `'...'::uuid` and `CAST(x AS UUID)`
/// plan. CREATE TABLE and ALTER TABLE read column types from the SQL text
/// (`crate::types`), never through this, so a `UUID` column is still Iceberg `uuid`.
#[derive(Debug)]
struct FloeTypes;

impl datafusion::logical_expr::planner::TypePlanner for FloeTypes {
    fn plan_type(
        &self,
        sql_type: &datafusion::sql::sqlparser::ast::DataType,
    ) -> Result<Option<datafusion::arrow::datatypes::DataType>> {
        Ok(
            matches!(sql_type, datafusion::sql::sqlparser::ast::DataType::Uuid)
                .then_some(datafusion::arrow::datatypes::DataType::Utf8),
        )
    }
}

/// Makes the warehouse of `shared` reachable in `ctx` under its catalog name: the catalog
/// (replacing any catalog of that name), the object store its files are read from, and
/// the `floe_table` time-travel function.
pub fn attach(ctx: &SessionContext, shared: &Arc<SessionShared>) {
    let engine = &shared.engine;
    let _ = shared.state.set(ctx.state_weak_ref());
    if let Some((url, store)) = &engine.object_store {
        ctx.register_object_store(url.as_ref(), store.clone());
    }
    ctx.register_catalog(
        engine.catalog_name.clone(),
        Arc::new(FloeCatalogProvider::new(shared.clone())),
    );
    crate::provider::table_function::FloeTableFunction::register(ctx);
    // Called by the front end's rewrite of interval arithmetic (`3 * INTERVAL '1 day'`).
    ctx.register_udf(crate::frontend::interval::interval_mul_udf());
    ctx.register_udf(crate::frontend::interval::interval_div_udf());
}

/// Something that holds an open warehouse (the `floe` crate's `Floe`, or an [`Engine`]).
pub trait Warehouse {
    /// The warehouse's engine.
    fn engine(&self) -> &Arc<Engine>;
}

impl Warehouse for Arc<Engine> {
    fn engine(&self) -> &Arc<Engine> {
        self
    }
}

/// What one statement produced: a schema and a stream of batches.
pub struct StatementOutput {
    /// Result schema (empty for statements without a result).
    pub schema: SchemaRef,
    /// The rows.
    pub stream: SendableRecordBatchStream,
}

impl StatementOutput {
    pub(crate) fn empty() -> Self {
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

    pub(crate) fn count(n: u64) -> Result<Self> {
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

/// A SQL session on a warehouse.
pub struct Session {
    pub(crate) ctx: SessionContext,
    pub(crate) shared: Arc<SessionShared>,
    /// floe's literal typing (`SessionOptions::decimal_literals`): exponent literals stay
    /// DOUBLE while decimal literals are on. Off, DataFusion's own rules apply throughout.
    pub(crate) decimal_literals: bool,
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
        shared
            .friendly_sql
            .store(options.friendly_sql, std::sync::atomic::Ordering::Relaxed);
        let ctx = build_context(&shared, &options)?;
        Ok(Self {
            ctx,
            shared,
            decimal_literals: options.decimal_literals,
        })
    }

    /// A session whose statements run in the application's own context `ctx` — its
    /// functions, options and other catalogs stay — with floe's SQL (time travel,
    /// transactions and releases, `CALL`, Iceberg DDL and DML, metadata tables) on the
    /// warehouse, registered in `ctx` as catalog `catalog_name` (replacing a catalog of
    /// that name). `ctx`'s default catalog and schema are left as they are.
    /// Statements run through `ctx.sql()` directly still reach the same catalog,
    /// without floe's extensions. `ctx` keeps its own SQL type planning: the `UUID`
    /// spelling in a cast (`'...'::uuid`) plans only if it knows it — casting to VARCHAR
    /// works everywhere, since uuid columns read as text.
    pub fn from_context(
        ctx: SessionContext,
        warehouse: &impl Warehouse,
        catalog_name: &str,
    ) -> Result<Self> {
        if catalog_name.is_empty() {
            return plan_err!("the catalog name of a floe warehouse cannot be empty");
        }
        let base = warehouse.engine();
        let engine = Arc::new(Engine {
            catalog: base.catalog.clone(),
            catalog_name: catalog_name.to_string(),
            object_store: base.object_store.clone(),
        });
        let shared = SessionShared::new(engine);
        attach(&ctx, &shared);
        let decimal_literals = ctx
            .state()
            .config()
            .options()
            .sql_parser
            .parse_float_as_decimal;
        Ok(Self {
            ctx,
            shared,
            decimal_literals,
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

    /// Parses one statement the way every statement is parsed ([`crate::parse`]).
    pub(crate) fn parse_checked(&self, sql: &str) -> Result<DFStatement> {
        crate::parse::parse_statement(&self.ctx, sql, self.decimal_literals, self.friendly_sql())
    }

    /// [`SessionOptions::friendly_sql`].
    pub(crate) fn friendly_sql(&self) -> bool {
        self.shared
            .friendly_sql
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Evaluates the constant expression `expr` (a time-travel value, a procedure
    /// argument) through the same parsing checks as any statement.
    pub(crate) async fn select_constant(&self, expr: &str) -> Result<Vec<RecordBatch>> {
        let statement = self.parse_checked(&format!("SELECT {expr}"))?;
        let plan = self.ctx.state().statement_to_plan(statement).await?;
        self.ctx.execute_logical_plan(plan).await?.collect().await
    }

    /// `BEGIN`: starts staging.
    pub fn begin(&self) -> Result<()> {
        let mut txn = self.shared.txn.lock();
        if txn.is_some() {
            return plan_err!("a transaction is already open; COMMIT or ROLLBACK it first");
        }
        *txn = Some(Txn::new(self.shared.engine.catalog.write_guard()));
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
                Err(to_df(e))
            }
        }
    }

    /// The table's current version as a provider (in the session's transaction, if any).
    pub(crate) async fn floe_table(&self, ident: &TableIdent) -> Result<FloeTable> {
        let reference = TableReference::full(
            self.shared.engine.catalog_name.clone(),
            ident.namespace().as_ref().join("."),
            ident.name().to_string(),
        );
        let shown = floe_catalog::ident::table_display(ident);
        let provider = match self.ctx.table_provider(reference).await {
            Ok(p) => p,
            Err(_) => return plan_err!("table '{shown}' does not exist"),
        };
        match provider.as_any().downcast_ref::<FloeTable>() {
            Some(t) => Ok(t.clone()),
            None => plan_err!("'{shown}' is not an Iceberg table"),
        }
    }
}
