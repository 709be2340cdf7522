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
pub use floe_sql::session::Warehouse;
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
    /// Catalog properties, such as Iceberg's `s3.endpoint`, `s3.region` or
    /// `s3.access-key-id` for a warehouse on S3.
    pub properties: HashMap<String, String>,
}

/// Opens a warehouse step by step: `Floe::builder().warehouse("s3://bucket/lake")
/// .catalog_path("./lake.redb").property("s3.region", "eu-west-1").open()`.
#[derive(Debug, Clone, Default)]
pub struct FloeBuilder {
    warehouse: Option<String>,
    options: OpenOptions,
}

impl FloeBuilder {
    /// The warehouse: a local directory, `s3://bucket/prefix` or `memory://`.
    pub fn warehouse(mut self, warehouse: impl Into<String>) -> Self {
        self.warehouse = Some(warehouse.into());
        self
    }

    /// Where the catalog file lives (required for an S3 warehouse).
    pub fn catalog_path(mut self, path: impl Into<String>) -> Self {
        self.options.catalog_path = Some(path.into());
        self
    }

    /// A catalog property (`s3.endpoint`, `s3.region`, `s3.path-style-access`, ...).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.properties.insert(key.into(), value.into());
        self
    }

    /// Opens without write access.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.options.read_only = read_only;
        self
    }

    /// Session settings of the default session.
    pub fn session_options(mut self, options: SessionOptions) -> Self {
        self.options.session = options;
        self
    }

    /// Opens the warehouse (an in-memory one when none was given).
    pub async fn open(self) -> Result<Floe> {
        match self.warehouse {
            Some(w) => Floe::open_with(w, self.options).await,
            None => Floe::open_with("memory://", self.options).await,
        }
    }
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
        for (k, v) in &options.properties {
            builder = builder.property(k.clone(), v.clone());
        }
        if let Some(p) = &options.catalog_path {
            builder = builder.catalog_path(p.clone());
        }
        let catalog = builder.open("floe").await.map_err(to_df)?;
        Self::with_catalog(catalog, options.session).await
    }

    /// Opens a warehouse step by step (S3 settings, catalog file, read-only).
    pub fn builder() -> FloeBuilder {
        FloeBuilder::default()
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

    /// Registers the warehouse in an existing DataFusion context as catalog `name`, with
    /// the table function `floe_table(name, version)` for time travel. Queries and
    /// INSERTs work through the plain context; for floe's other SQL (time-travel clauses,
    /// transactions and releases, CALL, Iceberg DDL including CREATE and DROP TABLE,
    /// UPDATE/DELETE/MERGE) run statements through [`Session::from_context`] over the
    /// same context. Several
    /// warehouses can be registered in one context, each under its own name.
    pub fn register(&self, ctx: &SessionContext, name: &str) -> Result<()> {
        if name.is_empty() {
            return datafusion::common::plan_err!(
                "the catalog name of a floe warehouse cannot be empty"
            );
        }
        let engine = Arc::new(Engine {
            catalog: self.engine.catalog.clone(),
            catalog_name: name.to_string(),
            object_store: self.engine.object_store.clone(),
        });
        floe_sql::session::attach(ctx, &SessionShared::new(engine));
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

impl floe_sql::session::Warehouse for Floe {
    fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}
