//! A session: one DataFusion `SessionContext` over the floe catalog, the consistent
//! catalog view of the statement being planned, and the session's open transaction.
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

use datafusion::catalog::TableProvider;
use datafusion::common::{Result, exec_err};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use floe_catalog::{CatalogSnapshot, StagedCommit};
use iceberg::table::Table;
use iceberg::{TableIdent, TableUpdate};
use parking_lot::Mutex;

use crate::engine::Engine;
use crate::error::{iceberg_to_df, to_df};
use crate::provider::FloeCatalogProvider;

/// Default schema (Iceberg namespace) of a session.
pub const DEFAULT_SCHEMA: &str = "public";

/// A table changed inside the open transaction.
#[derive(Debug, Clone)]
pub struct StagedTable {
    /// Metadata location the transaction started from (compared at publish).
    pub base_location: String,
    /// The table as this session sees it (base + staged updates).
    pub current: Table,
    /// Every update since `base_location`, in order.
    pub updates: Vec<TableUpdate>,
}

/// The open transaction of a session.
#[derive(Debug, Default)]
pub struct Txn {
    /// Tables read or written so far, at the version first seen.
    pub pinned: HashMap<TableIdent, Table>,
    /// Tables with staged changes, in the order they were first changed.
    pub staged: Vec<(TableIdent, StagedTable)>,
}

impl Txn {
    /// The staged version of a table, if the transaction changed it.
    pub fn staged(&self, ident: &TableIdent) -> Option<&StagedTable> {
        self.staged.iter().find(|(i, _)| i == ident).map(|(_, s)| s)
    }

    /// Staged commits for publishing.
    pub fn commits(&self) -> Vec<StagedCommit> {
        self.staged
            .iter()
            .map(|(ident, s)| StagedCommit {
                ident: ident.clone(),
                base_location: s.base_location.clone(),
                requirements: vec![iceberg::TableRequirement::UuidMatch {
                    uuid: s.current.metadata().uuid(),
                }],
                updates: s.updates.clone(),
            })
            .collect()
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
    /// Session-local tables that are not Iceberg tables (external tables, views), by
    /// (schema, name).
    pub local: dashmap::DashMap<(String, String), Arc<dyn TableProvider>>,
}

impl SessionShared {
    /// New shared state for a session over `engine`.
    pub fn new(engine: Arc<Engine>) -> Arc<Self> {
        Arc::new(Self {
            engine,
            statement: Mutex::new(None),
            txn: Mutex::new(None),
            local: dashmap::DashMap::new(),
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
                return Ok(Some(s.current.clone()));
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

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.txn.lock().is_some()
    }

    /// Applies `updates` (whose `requirements` were produced against `base`) to the
    /// table: inside a transaction they are staged; otherwise committed at once.
    /// Returns the table's new version.
    pub async fn commit_or_stage(
        &self,
        ident: &TableIdent,
        base: &Table,
        requirements: Vec<iceberg::TableRequirement>,
        updates: Vec<TableUpdate>,
    ) -> Result<Table> {
        let staging = self.txn.lock().is_some();
        if !staging {
            return self
                .engine
                .catalog
                .commit_table(ident, requirements, updates)
                .await
                .map_err(to_df);
        }
        // Stage: apply to the session's view of the table.
        for req in &requirements {
            req.check(Some(base.metadata())).map_err(iceberg_to_df)?;
        }
        let base_location = base
            .metadata_location_result()
            .map_err(iceberg_to_df)?
            .to_string();
        let mut builder = base
            .metadata()
            .clone()
            .into_builder(Some(base_location.clone()));
        for u in updates.clone() {
            builder = u.apply(builder).map_err(iceberg_to_df)?;
        }
        let metadata = builder.build().map_err(iceberg_to_df)?.metadata;
        let next = Table::builder()
            .identifier(ident.clone())
            .metadata(Arc::new(metadata))
            .metadata_location(base_location)
            .file_io(base.file_io().clone())
            .runtime(iceberg::Runtime::try_current().map_err(iceberg_to_df)?)
            .build()
            .map_err(iceberg_to_df)?;
        let mut guard = self.txn.lock();
        let Some(txn) = guard.as_mut() else {
            return exec_err!("the transaction ended while the statement ran");
        };
        match txn.staged.iter_mut().find(|(i, _)| i == ident) {
            Some((_, s)) => {
                s.updates.extend(updates);
                s.current = next.clone();
            }
            None => {
                let pinned_location = txn
                    .pinned
                    .get(ident)
                    .and_then(|t| t.metadata_location().map(str::to_string))
                    .unwrap_or_else(|| base.metadata_location().unwrap_or_default().to_string());
                txn.staged.push((
                    ident.clone(),
                    StagedTable {
                        base_location: pinned_location,
                        current: next.clone(),
                        updates,
                    },
                ));
            }
        }
        Ok(next)
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
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            floe_is_default: true,
            target_partitions: 0,
            information_schema: true,
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
    if options.target_partitions > 0 {
        config = config.with_target_partitions(options.target_partitions);
    }
    let runtime = RuntimeEnvBuilder::new().build_arc()?;
    if let Some((url, store)) = &engine.object_store {
        runtime.register_object_store(url.as_ref(), store.clone());
    }
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.register_catalog(
        engine.catalog_name.clone(),
        Arc::new(FloeCatalogProvider::new(shared.clone())),
    );
    Ok(ctx)
}
