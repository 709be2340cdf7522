//! # floe — an embedded Apache Iceberg lakehouse
//!
//! One directory holds a single-file ACID catalog (`catalog.redb`) and Iceberg tables
//! (Parquet data, standard metadata). SQL runs on Apache DataFusion, with time travel
//! (`SELECT ... FOR VERSION AS OF`) and atomic multi-table releases
//! (`BEGIN; ...; CALL release('v1')`).
//!
//! ```no_run
//! # async fn demo() -> datafusion::error::Result<()> {
//! let floe = floe::Floe::open("./warehouse").await?;
//! floe.sql("CREATE TABLE t (id BIGINT, name VARCHAR)").await?;
//! floe.sql("INSERT INTO t VALUES (1, 'a'), (2, 'b')").await?;
//! let batches = floe.sql("SELECT * FROM t").await?;
//! # let _ = batches; Ok(()) }
//! ```
//!
//! To use the catalog from an existing DataFusion application, see [`Floe::register`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use floe_catalog::RedbCatalog;
use iceberg::NamespaceIdent;

pub use datafusion;
pub use floe_catalog;
pub use floe_sql;
pub use floe_sql::{Engine, Session, SessionOptions, StatementOutput, display_error};
pub use iceberg;

use floe_sql::error::to_df;
use floe_sql::session::{DEFAULT_SCHEMA, SessionShared};

/// How to open a warehouse.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Open without write access.
    pub read_only: bool,
    /// Where the catalog file lives (default `<warehouse>/catalog.redb`).
    pub catalog_path: Option<String>,
    /// Session settings.
    pub session: SessionOptions,
}

/// An open warehouse with a default SQL session.
pub struct Floe {
    engine: Arc<Engine>,
    session: Session,
}

impl std::fmt::Debug for Floe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Floe")
            .field("warehouse", &self.engine.catalog.warehouse())
            .finish()
    }
}

impl Floe {
    /// Opens (creating if needed) the warehouse in directory `dir`.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, OpenOptions::default()).await
    }

    /// Opens a warehouse with options.
    pub async fn open_with(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Self> {
        let mut builder = RedbCatalog::builder()
            .warehouse(dir.as_ref().display().to_string())
            .read_only(options.read_only);
        if let Some(p) = &options.catalog_path {
            builder = builder.catalog_path(p.clone());
        }
        let catalog = builder.open("floe").await.map_err(to_df)?;
        Self::with_catalog(catalog, options.session).await
    }

    /// A transient warehouse: nothing is written to disk.
    pub async fn in_memory() -> Result<Self> {
        let catalog = RedbCatalog::in_memory().await.map_err(to_df)?;
        Self::with_catalog(catalog, SessionOptions::default()).await
    }

    /// Wraps an open catalog; creates the default schema `public` if it is missing.
    pub async fn with_catalog(catalog: RedbCatalog, options: SessionOptions) -> Result<Self> {
        let public = NamespaceIdent::new(DEFAULT_SCHEMA.to_string());
        if !catalog.is_read_only() && !catalog.contains_namespace(&public) {
            match catalog.create_ns(&public, HashMap::new()).await {
                Ok(_) | Err(floe_catalog::Error::NamespaceExists(_)) => {}
                Err(e) => return Err(to_df(e)),
            }
        }
        let engine = Engine::new(catalog, "floe")?;
        let session = Session::new(engine.clone(), options)?;
        Ok(Self { engine, session })
    }

    /// Runs a script of one or more statements; returns the last statement's rows.
    pub async fn sql(&self, script: &str) -> Result<Vec<RecordBatch>> {
        self.session.sql(script).await
    }

    /// The default session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// A new, independent session on the same warehouse (its own transaction state).
    pub fn new_session(&self, options: SessionOptions) -> Result<Session> {
        Session::new(self.engine.clone(), options)
    }

    /// Registers the floe catalog in an existing DataFusion context under `name`.
    /// Queries and INSERTs work through the plain context; floe's extensions (time
    /// travel, transactions, CALL, Iceberg DDL) need [`Floe::sql`] or a [`Session`].
    pub fn register(&self, ctx: &SessionContext, name: &str) -> Result<()> {
        let engine = Arc::new(Engine {
            catalog: self.engine.catalog.clone(),
            catalog_name: name.to_string(),
            object_store: self.engine.object_store.clone(),
        });
        if let Some((url, store)) = &engine.object_store {
            ctx.register_object_store(url.as_ref(), store.clone());
        }
        let shared = SessionShared::new(engine);
        ctx.register_catalog(
            name,
            Arc::new(floe_sql::provider::FloeCatalogProvider::new(shared)),
        );
        Ok(())
    }

    /// The Iceberg catalog, for Rust-level use.
    pub fn catalog(&self) -> Arc<dyn iceberg::Catalog> {
        Arc::new(self.engine.catalog.clone())
    }

    /// The catalog with floe's extras (releases, time travel, commit log).
    pub fn redb_catalog(&self) -> &RedbCatalog {
        &self.engine.catalog
    }
}
