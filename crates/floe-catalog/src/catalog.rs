//! [`RedbCatalog`]: a complete `iceberg::Catalog` over one redb file, and its builder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use iceberg::Runtime;
use iceberg::io::{FileIO, FileIOBuilder, StorageFactory};
use iceberg::spec::{TableMetadata, TableMetadataBuilder};
use iceberg::table::Table;
use iceberg::{
    Catalog, CatalogBuilder, MetadataLocation, Namespace, NamespaceIdent, TableCommit,
    TableCreation, TableIdent, TableRequirement, TableUpdate,
};
use object_store::ObjectStore;
use redb::backends::InMemoryBackend;

use crate::error::{Error, Result};
use crate::ident::{namespace_display, table_display, validate_namespace, validate_table};
use crate::storage::{ObjectStoreStorage, WarehouseStorage, create_dir_all_durable, local_path};
use crate::store::{CommitOp, CurrentTable, Move, Store, TableRecord};

/// Catalog property: warehouse root (local path, `file://` URI, `memory://`, or an
/// object-store URI together with [`RedbCatalogBuilder::object_store`]). Required.
pub const PROP_WAREHOUSE: &str = "warehouse";
/// Catalog property: path of the redb file. Default `<warehouse>/catalog.redb`; required
/// for object-store warehouses.
pub const PROP_CATALOG_PATH: &str = "catalog_path";
/// Catalog property: `true` opens the catalog without write access.
pub const PROP_READ_ONLY: &str = "read_only";

/// File name of the catalog inside a local warehouse.
pub const CATALOG_FILE: &str = "catalog.redb";

/// Builds a [`RedbCatalog`] (implements `iceberg::CatalogBuilder`).
#[derive(Default)]
pub struct RedbCatalogBuilder {
    props: HashMap<String, String>,
    storage_factory: Option<Arc<dyn StorageFactory>>,
    runtime: Option<Runtime>,
    object_store: Option<Arc<dyn ObjectStore>>,
}

impl std::fmt::Debug for RedbCatalogBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbCatalogBuilder")
            .field("props", &self.props)
            .finish_non_exhaustive()
    }
}

impl RedbCatalogBuilder {
    /// Sets the warehouse root.
    pub fn warehouse(mut self, warehouse: impl Into<String>) -> Self {
        self.props.insert(PROP_WAREHOUSE.into(), warehouse.into());
        self
    }

    /// Sets where the redb file lives.
    pub fn catalog_path(mut self, path: impl Into<String>) -> Self {
        self.props.insert(PROP_CATALOG_PATH.into(), path.into());
        self
    }

    /// Opens without write access: mutations fail with a clear error.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.props
            .insert(PROP_READ_ONLY.into(), read_only.to_string());
        self
    }

    /// Sets a catalog property (for example Iceberg's `s3.endpoint` or `s3.region`).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.insert(key.into(), value.into());
        self
    }

    /// The object store holding an object-store warehouse's files.
    pub fn object_store(mut self, store: Arc<dyn ObjectStore>) -> Self {
        self.object_store = Some(store);
        self
    }

    /// Opens the catalog, returning floe's error type.
    pub async fn open(self, name: impl Into<String>) -> Result<RedbCatalog> {
        let name = name.into();
        let props = self.props.clone();
        self.open_with(name, props).await
    }

    async fn open_with(
        mut self,
        name: String,
        mut props: HashMap<String, String>,
    ) -> Result<RedbCatalog> {
        props.extend(std::mem::take(&mut self.props));
        let warehouse = props
            .get(PROP_WAREHOUSE)
            .filter(|w| !w.is_empty())
            .cloned()
            .ok_or_else(|| {
                Error::InvalidArgument("catalog property 'warehouse' is required".into())
            })?;
        let read_only = props
            .get(PROP_READ_ONLY)
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
            .unwrap_or(false);
        let runtime = match self.runtime.take() {
            Some(rt) => rt,
            None => Runtime::try_current().map_err(Error::Iceberg)?,
        };

        let (storage, display, db) = if let Some(rest) = warehouse.strip_prefix("memory://") {
            let authority = rest.trim_matches('/');
            let root = format!(
                "memory://{}",
                if authority.is_empty() {
                    "floe"
                } else {
                    authority
                }
            );
            let store: Arc<dyn ObjectStore> = self
                .object_store
                .take()
                .unwrap_or_else(|| Arc::new(object_store::memory::InMemory::new()));
            let storage = WarehouseStorage::Object {
                storage: ObjectStoreStorage::new(store),
                root: root.clone(),
            };
            let db = redb::Database::builder()
                .create_with_backend(InMemoryBackend::new())
                .map_err(|e| Error::Storage(e.to_string()))?;
            (
                Some(storage),
                root,
                OpenedDb::ReadWrite(db, "in-memory catalog".to_string()),
            )
        } else if warehouse.contains("://") && !warehouse.starts_with("file:") {
            let catalog_path = props.get(PROP_CATALOG_PATH).cloned().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "warehouse '{warehouse}' is in object storage: give a local catalog file for it (--catalog PATH, or property '{PROP_CATALOG_PATH}')"
                ))
            })?;
            let root =
                crate::storage::canonical_scheme(warehouse.trim_end_matches('/')).into_owned();
            let db = open_db(Path::new(&catalog_path), &root, read_only)?;
            let storage = match self.object_store.take() {
                Some(store) => Some(WarehouseStorage::Object {
                    storage: ObjectStoreStorage::new(store),
                    root: root.clone(),
                }),
                None if crate::storage::s3::is_s3(&root) => None,
                None => {
                    return Err(Error::InvalidArgument(format!(
                        "warehouse '{warehouse}': floe opens local directories, s3:// and memory:// warehouses; for another object store, give the catalog one"
                    )));
                }
            };
            (storage, root, db)
        } else {
            let dir = local_path(&warehouse_as_absolute(&warehouse)?);
            if read_only {
                if !dir.is_dir() {
                    return Err(Error::InvalidArgument(format!(
                        "warehouse '{}' does not exist",
                        dir.display()
                    )));
                }
            } else {
                create_dir_all_durable(&dir).map_err(|e| {
                    Error::io("cannot create warehouse directory", dir.display(), e)
                })?;
            }
            if !dir.is_dir() {
                return Err(Error::InvalidArgument(format!(
                    "warehouse '{}' is not a directory",
                    dir.display()
                )));
            }
            let dir = dir
                .canonicalize()
                .map_err(|e| Error::io("cannot open warehouse directory", dir.display(), e))?;
            let catalog_path = props
                .get(PROP_CATALOG_PATH)
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join(CATALOG_FILE));
            let display = dir.display().to_string();
            let db = open_db(&catalog_path, &display, read_only)?;
            (Some(WarehouseStorage::Local(dir)), display, db)
        };

        let store = match db {
            OpenedDb::ReadWrite(db, path) => Store::open_read_write(db, &path)?,
            OpenedDb::ReadOnly(db, path) => Store::open_read_only(db, &path)?,
        };
        let mut requests = None;
        // S3 settings: those stored when the warehouse was first opened, then the
        // environment, then this open's properties (also used for tables in other
        // buckets than the warehouse's, and for tables on S3 in a local warehouse).
        let stored = store.settings()?;
        let given = crate::storage::s3::settings_from(&props)?;
        let storage = match storage {
            Some(storage) => {
                if let WarehouseStorage::Object { root, .. } = &storage {
                    store.bind_warehouse(root, &Default::default(), &stored)?;
                }
                storage
            }
            None => {
                let s3 = crate::storage::s3::build(&display, &stored, &given)?;
                crate::storage::s3::probe(&s3, &display).await?;
                store.bind_warehouse(&display, &s3.to_store, &stored)?;
                requests = Some(s3.requests.clone());
                WarehouseStorage::Object {
                    storage: ObjectStoreStorage::for_base(s3.store, &s3.base, s3.write_options),
                    root: display.clone(),
                }
            }
        };
        let stores = storage.stores(stored, given);
        let file_io = match &self.storage_factory {
            Some(factory) => FileIOBuilder::new(factory.clone()).build(),
            None => crate::storage::routing::file_io(stores.clone()),
        };
        Ok(RedbCatalog {
            inner: Arc::new(Inner {
                name,
                warehouse: display,
                store: Arc::new(store),
                storage,
                file_io,
                runtime,
                tables: moka::sync::Cache::builder()
                    .max_capacity(256 << 20)
                    .weigher(|_, t: &Table| metadata_weight(t.metadata()))
                    .build(),
                manifest_lists: moka::sync::Cache::builder()
                    .max_capacity(64 << 20)
                    .weigher(|_, l: &Arc<iceberg::spec::ManifestList>| {
                        (256 + l.entries().len() * 512).min(u32::MAX as usize) as u32
                    })
                    .build(),
                manifests: moka::sync::Cache::builder()
                    .max_capacity(256 << 20)
                    .weigher(|_, m: &Arc<iceberg::spec::Manifest>| {
                        (256 + m.entries().len() * 1024).min(u32::MAX as usize) as u32
                    })
                    .build(),
                views: moka::sync::Cache::new(1024),
                metadata_json: moka::sync::Cache::builder()
                    .max_capacity(64 << 20)
                    .weigher(|_, b: &bytes::Bytes| b.len().min(u32::MAX as usize) as u32)
                    .build(),
                in_flight: Default::default(),
                requests,
                stores,
            }),
        })
    }
}

/// Rough in-memory size of parsed metadata, for the cache's budget.
fn metadata_weight(m: &TableMetadata) -> u32 {
    let n = m.snapshots().len()
        + m.history().len()
        + m.metadata_log().len()
        + m.schemas_iter().len() * 8;
    (4096 + n * 512).min(u32::MAX as usize) as u32
}

fn warehouse_as_absolute(warehouse: &str) -> Result<String> {
    if warehouse.starts_with("file:") || warehouse.starts_with('/') {
        return Ok(warehouse.to_string());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::io("cannot resolve relative warehouse path", warehouse, e))?;
    Ok(cwd.join(warehouse).display().to_string())
}

enum OpenedDb {
    ReadWrite(redb::Database, String),
    ReadOnly(redb::ReadOnlyDatabase, String),
}

fn open_db(path: &Path, warehouse: &str, read_only: bool) -> Result<OpenedDb> {
    let shown = path.display().to_string();
    let map = |e: redb::DatabaseError| -> Error {
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::WarehouseLocked(warehouse.to_string()),
            redb::DatabaseError::UpgradeRequired(v) => Error::CatalogCorrupt {
                path: shown.clone(),
                detail: format!("it was written in redb file format {v}, which this floe cannot read"),
            },
            redb::DatabaseError::RepairAborted => Error::CatalogCorrupt {
                path: shown.clone(),
                detail: "it was not closed cleanly and needs recovery; open the warehouse once without --read-only".into(),
            },
            redb::DatabaseError::Storage(redb::StorageError::Io(io)) => {
                if io.kind() == std::io::ErrorKind::WouldBlock {
                    Error::WarehouseLocked(warehouse.to_string())
                } else if io.kind() == std::io::ErrorKind::InvalidData {
                    Error::CatalogCorrupt {
                        path: shown.clone(),
                        detail: io.to_string(),
                    }
                } else {
                    Error::io("cannot open catalog file", &shown, io)
                }
            }
            redb::DatabaseError::Storage(redb::StorageError::DatabaseClosed)
            | redb::DatabaseError::Storage(redb::StorageError::Corrupted(_))
            | redb::DatabaseError::Storage(_) => Error::CatalogCorrupt {
                path: shown.clone(),
                detail: e.to_string(),
            },
            other => Error::CatalogCorrupt {
                path: shown.clone(),
                detail: other.to_string(),
            },
        }
    };
    if read_only {
        if !path.exists() {
            return Err(Error::InvalidArgument(format!(
                "catalog file '{shown}' does not exist (a read-only open cannot create it)"
            )));
        }
        let db = match redb::Builder::new().open_read_only(path) {
            // The last writer was killed or crashed: the file's committed state is intact
            // but redb must rebuild its allocator state before anyone reads it. As SQLite
            // rolls back a hot journal even for a read-only connection, recover it with
            // one writable open (which changes no committed data), then open read-only.
            Err(redb::DatabaseError::RepairAborted) => {
                match redb::Builder::new().open(path) {
                    Ok(db) => drop(db),
                    Err(redb::DatabaseError::Storage(redb::StorageError::Io(io)))
                        if io.kind() == std::io::ErrorKind::PermissionDenied =>
                    {
                        return Err(Error::CatalogCorrupt {
                            path: shown.clone(),
                            detail: "it was not closed cleanly (the last process was killed or crashed) and recovering it needs write access to the file".into(),
                        });
                    }
                    Err(e) => return Err(map(e)),
                }
                redb::Builder::new().open_read_only(path).map_err(map)?
            }
            other => other.map_err(map)?,
        };
        Ok(OpenedDb::ReadOnly(db, shown))
    } else {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            create_dir_all_durable(parent)
                .map_err(|e| Error::io("cannot create directory", parent.display(), e))?;
        }
        let existed = path.exists();
        let db = redb::Builder::new().create(path).map_err(map)?;
        if !existed && let Some(parent) = path.parent() {
            // The new file's directory entry must survive a crash too.
            let _ = crate::storage::sync_dir(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            });
        }
        Ok(OpenedDb::ReadWrite(db, shown))
    }
}

impl CatalogBuilder for RedbCatalogBuilder {
    type C = RedbCatalog;

    fn with_storage_factory(mut self, storage_factory: Arc<dyn StorageFactory>) -> Self {
        self.storage_factory = Some(storage_factory);
        self
    }

    fn with_runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    fn load(
        self,
        name: impl Into<String>,
        props: HashMap<String, String>,
    ) -> impl Future<Output = iceberg::Result<RedbCatalog>> + Send {
        let name = name.into();
        async move { self.open_with(name, props).await.map_err(Into::into) }
    }
}

/// An Iceberg catalog stored in one redb file. Cheap to clone; clones share state.
///
/// Guarantees:
/// * every mutation is one durable redb transaction, made after the files it points at
///   are durable (see `docs/design.md`);
/// * `table_exists`, `list_tables` and warm `load_table` read only memory (no file I/O,
///   no global lock);
/// * `update_table`/[`RedbCatalog::commit_table`] compare-and-swap the metadata pointer and
///   fail with a retryable `CatalogCommitConflicts` when someone committed first.
#[derive(Clone)]
pub struct RedbCatalog {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub name: String,
    pub warehouse: String,
    pub store: Arc<Store>,
    pub storage: WarehouseStorage,
    pub file_io: FileIO,
    pub runtime: Runtime,
    /// Loaded tables by metadata location (immutable, so never stale).
    pub tables: moka::sync::Cache<String, Table>,
    /// Parsed manifest lists by path (immutable files).
    pub manifest_lists: moka::sync::Cache<String, Arc<iceberg::spec::ManifestList>>,
    /// Parsed manifests by path (immutable files).
    pub manifests: moka::sync::Cache<String, Arc<iceberg::spec::Manifest>>,
    /// Parsed view metadata by location (immutable files).
    pub views: moka::sync::Cache<String, Arc<iceberg::spec::ViewMetadata>>,
    /// The JSON of metadata files this process wrote, by location (immutable files):
    /// what a REST client is sent for that version, without serializing it again.
    pub metadata_json: moka::sync::Cache<String, bytes::Bytes>,
    /// Writes in flight, whose files orphan removal must not take.
    pub in_flight: crate::in_flight::InFlight,
    /// Requests sent to the warehouse's object store (S3 warehouses).
    pub requests: Option<Arc<crate::storage::counting::RequestCounts>>,
    /// Every store the warehouse's locations reach.
    pub stores: Arc<crate::storage::routing::Stores>,
}

impl std::fmt::Debug for RedbCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbCatalog")
            .field("name", &self.inner.name)
            .field("warehouse", &self.inner.warehouse)
            .finish_non_exhaustive()
    }
}

/// What the mirror holds for a table, as [`RedbCatalog::current`] finds it.
enum Current {
    /// Its current version, parsed.
    Loaded(Table),
    /// Its current pointer; the version is not parsed yet.
    Cold(Arc<CurrentTable>),
    /// No table of that name, or its pointer names another version.
    Other,
}

/// Runs a synchronous store operation off the async runtime (redb commits fsync).
pub(crate) async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| Error::Storage(format!("catalog task failed: {e}")))?
}

impl RedbCatalog {
    /// Starts a builder.
    pub fn builder() -> RedbCatalogBuilder {
        RedbCatalogBuilder::default()
    }

    /// Opens a catalog for a local warehouse directory (created if missing).
    pub async fn open(warehouse: impl AsRef<Path>) -> Result<Self> {
        RedbCatalogBuilder::default()
            .warehouse(warehouse.as_ref().display().to_string())
            .open("floe")
            .await
    }

    /// A transient catalog: in-memory redb and in-memory files.
    pub async fn in_memory() -> Result<Self> {
        RedbCatalogBuilder::default()
            .warehouse("memory://")
            .open("floe")
            .await
    }

    /// The catalog's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The warehouse root (directory path or URI).
    pub fn warehouse(&self) -> &str {
        &self.inner.warehouse
    }

    /// Where table files live.
    pub fn storage(&self) -> &WarehouseStorage {
        &self.inner.storage
    }

    /// Releases the catalog file now, cleanly, though clones of this catalog live on:
    /// waits for a commit in progress, then closes redb so the next open needs no
    /// recovery. Every later operation on any clone fails with an error. For a process
    /// that is about to exit (the shell on SIGTERM or SIGHUP).
    pub fn close(&self) {
        self.inner.store.close();
    }

    /// Requests sent to the warehouse's object store so far (S3 warehouses; `None` for
    /// local and in-memory ones).
    pub fn object_store_requests(&self) -> Option<crate::storage::counting::Requests> {
        self.inner.requests.as_ref().map(|r| r.snapshot())
    }

    /// The object store holding `location` (`s3://bucket/...`: the warehouse's own, or
    /// another bucket's opened with the warehouse's S3 settings); `None` for local files.
    pub fn object_store_for(&self, location: &str) -> Result<Option<Arc<dyn ObjectStore>>> {
        self.inner
            .stores
            .object_store_for(location)
            .map_err(Error::Iceberg)
    }

    /// The FileIO tables use.
    pub fn file_io(&self) -> &FileIO {
        &self.inner.file_io
    }

    /// Whether the catalog was opened without write access.
    pub fn is_read_only(&self) -> bool {
        self.inner.store.is_read_only()
    }

    /// The pointer record of a table (memory only).
    pub fn table_record(&self, ident: &TableIdent) -> Result<Arc<TableRecord>> {
        self.inner
            .store
            .mirror
            .tables
            .pin()
            .get(ident)
            .map(|c| c.record.clone())
            .ok_or_else(|| Error::TableNotFound(table_display(ident)))
    }

    /// Loads the table whose metadata file is `location`, through the cache of parsed
    /// metadata (keyed by location, so never stale).
    pub async fn table_at_location(&self, ident: &TableIdent, location: &str) -> Result<Table> {
        self.table_at(ident, location).await
    }

    pub(crate) async fn table_at(&self, ident: &TableIdent, location: &str) -> Result<Table> {
        // The current version of a table (what nearly every statement reads) comes from
        // the mirror, lock-free; other versions from the metadata cache.
        match self.current(ident, Some(location)) {
            Current::Loaded(t) => Ok(t),
            Current::Cold(c) => self.load_current(ident, &c).await,
            Current::Other => self.table_at_cached(ident, location).await,
        }
    }

    /// The mirror's entry for `ident` — if it names `location`, when one is given.
    /// Entries are per name and replaced on every pointer move, so a loaded version is
    /// always the table's current one, under this name.
    fn current(&self, ident: &TableIdent, location: Option<&str>) -> Current {
        let tables = self.inner.store.mirror.tables.pin();
        match tables.get(ident) {
            Some(c) if location.is_none_or(|l| c.record.location == l) => match c.loaded.get() {
                Some(t) => Current::Loaded(t.clone()),
                None => Current::Cold(c.clone()),
            },
            _ => Current::Other,
        }
    }

    /// Loads the version a mirror entry names and keeps it in the entry.
    async fn load_current(&self, ident: &TableIdent, current: &CurrentTable) -> Result<Table> {
        let table = self
            .table_at_cached(ident, &current.record.location)
            .await?;
        let _ = current.loaded.set(table.clone());
        Ok(table)
    }

    async fn table_at_cached(&self, ident: &TableIdent, location: &str) -> Result<Table> {
        if let Some(t) = self.inner.tables.get(location) {
            if t.identifier() == ident {
                return Ok(t);
            }
            return self.build_table(ident, location, t.metadata_ref());
        }
        let metadata = crate::manifest_read::read_metadata(&self.inner.file_io, location)
            .await
            .map_err(|detail| Error::BadMetadata {
                table: table_display(ident),
                location: location.to_string(),
                detail,
            })?;
        let table = self.build_table(ident, location, Arc::new(metadata))?;
        self.inner
            .tables
            .insert(location.to_string(), table.clone());
        Ok(table)
    }

    /// `base` with `updates` applied, as a table handle whose metadata is not committed
    /// (say, a table as a replace will make it), to write data files with its schema and
    /// partition spec. Committing is still [`RedbCatalog::commit_table`]'s job.
    pub fn uncommitted_table(&self, base: &Table, updates: Vec<TableUpdate>) -> Result<Table> {
        let (metadata, _) = Self::apply_updates(base.identifier(), base, &[], updates)?;
        self.build_table(
            base.identifier(),
            base.metadata_location_result()?,
            Arc::new(metadata),
        )
    }

    pub(crate) fn build_table(
        &self,
        ident: &TableIdent,
        location: &str,
        metadata: Arc<TableMetadata>,
    ) -> Result<Table> {
        Ok(Table::builder()
            .identifier(ident.clone())
            .metadata(metadata)
            .metadata_location(location.to_string())
            .file_io(self.inner.file_io.clone())
            .runtime(self.inner.runtime.clone())
            .build()?)
    }

    /// Loads a table's current version, with floe's error type. Warm, this is one
    /// lock-free lookup in the mirror: no file I/O, no lock, no shared write.
    pub async fn table(&self, ident: &TableIdent) -> Result<Table> {
        match self.current(ident, None) {
            Current::Loaded(t) => Ok(t),
            Current::Cold(c) => self.load_current(ident, &c).await,
            Current::Other => Err(Error::TableNotFound(table_display(ident))),
        }
    }

    /// Caches a version just committed, by its metadata location, and as its table's
    /// current version if the pointer names it, so its first load is warm too.
    pub(crate) fn cache(&self, table: &Table) {
        let Some(location) = table.metadata_location() else {
            return;
        };
        self.inner
            .tables
            .insert(location.to_string(), table.clone());
        let tables = self.inner.store.mirror.tables.pin();
        if let Some(current) = tables.get(table.identifier())
            && current.record.location == location
        {
            let _ = current.loaded.set(table.clone());
        }
    }

    /// Marks a write in flight until the guard is dropped: files created meanwhile are
    /// never taken for orphans by [`remove_orphan_files`](Self::remove_orphan_files),
    /// whatever its `older_than`. Take one before writing the first file of a commit
    /// that is made outside this catalog's own methods (which guard themselves), e.g.
    /// data files, and hold it until the commit has returned.
    pub fn write_guard(&self) -> crate::WriteGuard {
        self.inner.in_flight.begin()
    }

    /// Declares writers in other processes (REST clients) for as long as the guard lives:
    /// orphan removal then leaves alone every file younger than
    /// [`REMOTE_WRITER_GRACE_MS`](crate::REMOTE_WRITER_GRACE_MS), since this process
    /// cannot see their writes in flight.
    pub fn remote_writers(&self) -> crate::RemoteWriters {
        self.inner.in_flight.remote()
    }

    /// Commit protocol step 1 for files this process did not write (a REST client's
    /// data files, manifests and manifest lists, possibly never fsynced): the next
    /// barrier makes the whole local warehouse filesystem durable (one `syncfs`), so the
    /// pointer move that follows cannot name a file a crash would lose. Call it before
    /// every commit made on a remote writer's behalf. Object stores need nothing: a
    /// completed PUT is durable.
    pub fn expect_remote_files(&self) {
        if let WarehouseStorage::Local(root) = &self.inner.storage {
            crate::storage::expect_external_files(root);
        }
    }

    /// Writes a new metadata file (durable at the next barrier) and keeps its JSON for
    /// [`metadata_json`](Self::metadata_json).
    pub(crate) async fn write_table_metadata(
        &self,
        metadata: &TableMetadata,
        location: &str,
    ) -> Result<()> {
        let json =
            crate::manifest_read::write_metadata(&self.inner.file_io, metadata, location).await?;
        self.inner.metadata_json.insert(location.to_string(), json);
        Ok(())
    }

    /// The JSON document of a metadata file this process wrote recently, if still kept:
    /// the REST server sends it as is instead of serializing the same metadata again.
    pub fn metadata_json(&self, location: &str) -> Option<bytes::Bytes> {
        self.inner.metadata_json.get(location)
    }

    pub(crate) fn check_writable(&self, action: &'static str) -> Result<()> {
        if self.is_read_only() {
            Err(Error::ReadOnly(action))
        } else {
            Ok(())
        }
    }

    /// Default location for a new table, avoiding directories already in use (say, by a
    /// dropped table whose files were kept).
    pub(crate) async fn new_table_location(&self, ident: &TableIdent) -> String {
        let mut base = self.inner.storage.root_location();
        for level in ident.namespace.iter() {
            base.push('/');
            base.push_str(level);
        }
        base.push('/');
        base.push_str(&ident.name);
        if !self.inner.storage.location_in_use(&base).await {
            return base;
        }
        loop {
            let candidate = format!("{base}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            if !self.inner.storage.location_in_use(&candidate).await {
                return candidate;
            }
        }
    }

    /// Checks that `location` lies inside the warehouse (or in a bucket its S3 settings
    /// reach), as every location a client names must: metadata, manifest lists, table
    /// locations.
    pub fn check_location(&self, location: &str) -> Result<()> {
        let root = self.inner.storage.root_location();
        let normalized = match &self.inner.storage {
            WarehouseStorage::Local(_) => format!("file://{}", local_path(location).display()),
            WarehouseStorage::Object { .. } => location.to_string(),
        };
        let inside = normalized
            .strip_prefix(&root)
            .is_some_and(|rest| rest.starts_with('/') && !rest.split('/').any(|s| s == ".."));
        if inside {
            Ok(())
        } else if crate::storage::s3::is_s3(location) {
            // A table on S3 outside the warehouse (in a local warehouse, or another
            // bucket): the bucket must be reachable with the warehouse's S3 settings.
            self.object_store_for(location).map(|_| ())
        } else {
            Err(Error::InvalidArgument(format!(
                "table location '{location}' is outside the warehouse '{}'",
                self.inner.warehouse
            )))
        }
    }

    /// Creates a table; see [`Catalog::create_table`].
    pub async fn create(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        let staged = self.stage_create(namespace, creation).await?;
        self.commit_create(&staged, Vec::new()).await
    }

    /// Prepares a new table without registering it: validates the name, picks the
    /// location and builds the initial metadata. The returned table's metadata file is
    /// not written yet; write its data (e.g. for CREATE TABLE AS SELECT) and then call
    /// [`RedbCatalog::commit_create`], so the table appears with its data in one step.
    pub async fn stage_create(
        &self,
        namespace: &NamespaceIdent,
        mut creation: TableCreation,
    ) -> Result<Table> {
        self.check_writable("create a table")?;
        let ident = TableIdent::new(namespace.clone(), creation.name.clone());
        validate_table(&ident)?;
        if !self.inner.store.mirror.namespaces.contains_key(namespace) {
            return Err(Error::NamespaceNotFound(namespace_display(namespace)));
        }
        if self.inner.store.mirror.tables.pin().contains_key(&ident) {
            return Err(Error::TableExists(table_display(&ident)));
        }
        if self.contains_view(&ident) {
            return Err(Error::IsAView(table_display(&ident)));
        }
        let location = match creation.location.take() {
            Some(loc) => {
                let loc = loc.trim_end_matches('/').to_string();
                self.check_location(&loc)?;
                loc
            }
            None => self.new_table_location(&ident).await,
        };
        creation.location = Some(location.clone());
        let metadata = TableMetadataBuilder::from_table_creation(creation)?
            .build()?
            .metadata;
        let metadata_location =
            MetadataLocation::new_with_metadata(&location, &metadata).to_string();
        self.build_table(&ident, &metadata_location, Arc::new(metadata))
    }

    /// Registers a table prepared by [`RedbCatalog::stage_create`], first applying
    /// `updates` (e.g. its first snapshot) to its metadata. The metadata file is written
    /// durably, then the table appears in one catalog transaction. Fails if the name was
    /// taken meanwhile; then nothing is registered.
    pub async fn commit_create(&self, staged: &Table, updates: Vec<TableUpdate>) -> Result<Table> {
        self.check_writable("create a table")?;
        let _writing = self.write_guard();
        let ident = staged.identifier().clone();
        let location = staged.metadata_location_result()?.to_string();
        let mut builder = staged.metadata().clone().into_builder(None);
        for update in updates {
            builder = update.apply(builder)?;
        }
        let metadata = builder.build()?.metadata;
        self.write_table_metadata(&metadata, &location).await?;
        let record = TableRecord {
            location: location.clone(),
            uuid: metadata.uuid().to_string(),
            snapshot_id: metadata.current_snapshot_id(),
        };
        let added = metadata.snapshots().map(|s| s.snapshot_id()).collect();
        let moves = vec![Move::Create {
            ident: ident.clone(),
            record,
            added_snapshots: added,
            op: CommitOp::Create,
        }];
        blocking(&self.inner.store, move |s| s.apply(&moves, None)).await?;
        let table = self.build_table(&ident, &location, Arc::new(metadata))?;
        self.cache(&table);
        Ok(table)
    }

    /// A consistent view of every table pointer at one instant (a redb read
    /// transaction): use it to resolve all tables of one statement, so a statement never
    /// sees part of a release.
    pub fn read_snapshot(&self) -> Result<crate::store::CatalogSnapshot> {
        self.inner.store.read_snapshot()
    }

    /// Builds the metadata that results from applying `updates` to `base` after checking
    /// `requirements` against it. Requirement failures are conflicts naming the table.
    pub(crate) fn apply_updates(
        ident: &TableIdent,
        base: &Table,
        requirements: &[TableRequirement],
        updates: Vec<TableUpdate>,
    ) -> Result<(TableMetadata, String)> {
        for req in requirements {
            req.check(Some(base.metadata()))
                .map_err(|e| Error::Conflict {
                    tables: vec![table_display(ident)],
                    detail: crate::error::iceberg_message(&e),
                })?;
        }
        let base_location = base.metadata_location_result()?.to_string();
        let mut builder = base
            .metadata()
            .clone()
            .into_builder(Some(base_location.clone()));
        for update in updates {
            builder = update.apply(builder)?;
        }
        let metadata = builder.build()?.metadata;
        let next = match MetadataLocation::from_str(&base_location) {
            Ok(loc) => loc.with_next_version().with_new_metadata(&metadata),
            Err(_) => MetadataLocation::new_with_metadata(metadata.location(), &metadata),
        };
        Ok((metadata, next.to_string()))
    }

    /// The commit primitive: checks `requirements` against the table's current metadata,
    /// applies `updates`, writes the new metadata file durably, then moves the pointer
    /// with a compare-and-swap. A lost race is a retryable conflict; the table is unchanged.
    pub async fn commit_table(
        &self,
        ident: &TableIdent,
        requirements: Vec<TableRequirement>,
        updates: Vec<TableUpdate>,
    ) -> Result<Table> {
        self.check_writable("commit")?;
        let _writing = self.write_guard();
        let current = self.table(ident).await?;
        if updates.is_empty() {
            for req in &requirements {
                req.check(Some(current.metadata()))
                    .map_err(|e| Error::Conflict {
                        tables: vec![table_display(ident)],
                        detail: crate::error::iceberg_message(&e),
                    })?;
            }
            return Ok(current);
        }
        let base_location = current.metadata_location_result()?.to_string();
        let (metadata, location) = Self::apply_updates(ident, &current, &requirements, updates)?;
        self.write_table_metadata(&metadata, &location).await?;
        let moves = vec![Move::Update {
            ident: ident.clone(),
            expected: base_location,
            record: TableRecord {
                location: location.clone(),
                uuid: metadata.uuid().to_string(),
                snapshot_id: metadata.current_snapshot_id(),
            },
            added_snapshots: added_snapshots(current.metadata(), &metadata),
        }];
        blocking(&self.inner.store, move |s| s.apply(&moves, None)).await?;
        let table = self.build_table(ident, &location, Arc::new(metadata))?;
        self.cache(&table);
        Ok(table)
    }

    /// Drops a table from the catalog; its files stay (see [`RedbCatalog::purge`]).
    pub async fn drop(&self, ident: &TableIdent) -> Result<()> {
        self.check_writable("drop a table")?;
        self.table_record(ident)?;
        let moves = vec![Move::Drop {
            ident: ident.clone(),
            expected: None,
        }];
        blocking(&self.inner.store, move |s| s.apply(&moves, None)).await?;
        Ok(())
    }

    /// Drops a table (keeping its files) from synchronous code.
    pub fn drop_blocking(&self, ident: &TableIdent) -> Result<()> {
        self.check_writable("drop a table")?;
        self.table_record(ident)?;
        let moves = vec![Move::Drop {
            ident: ident.clone(),
            expected: None,
        }];
        self.inner.store.apply(&moves, None).map(|_| ())
    }

    /// Drops a table and deletes its files. The pointer goes first, so a crash mid-way
    /// leaves orphans, never a table whose files are half gone.
    pub async fn purge(&self, ident: &TableIdent) -> Result<()> {
        self.check_writable("purge a table")?;
        let table = self.table(ident).await?;
        let moves = vec![Move::Drop {
            ident: ident.clone(),
            expected: table.metadata_location().map(str::to_string),
        }];
        blocking(&self.inner.store, move |s| s.apply(&moves, None)).await?;
        self.delete_table_files(&table).await?;
        if let WarehouseStorage::Local(_) = &self.inner.storage {
            remove_empty_dirs(&local_path(table.metadata().location()));
        }
        Ok(())
    }

    /// Renames (or moves to another namespace) a table; its files stay where they are.
    pub async fn rename(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.check_writable("rename a table")?;
        validate_table(dest)?;
        let moves = vec![Move::Rename {
            from: src.clone(),
            to: dest.clone(),
        }];
        blocking(&self.inner.store, move |s| s.apply(&moves, None)).await?;
        Ok(())
    }

    /// Adopts an existing Iceberg table from its metadata file.
    pub async fn register(&self, ident: &TableIdent, metadata_location: String) -> Result<Table> {
        self.check_writable("register a table")?;
        validate_table(ident)?;
        if !self
            .inner
            .store
            .mirror
            .namespaces
            .contains_key(&ident.namespace)
        {
            return Err(Error::NamespaceNotFound(namespace_display(
                &ident.namespace,
            )));
        }
        if self.inner.store.mirror.tables.pin().contains_key(ident) {
            return Err(Error::TableExists(table_display(ident)));
        }
        let metadata = crate::manifest_read::read_metadata(&self.inner.file_io, &metadata_location)
            .await
            .map_err(|detail| Error::BadMetadata {
                table: table_display(ident),
                location: metadata_location.clone(),
                detail,
            })?;
        let moves = vec![Move::Create {
            ident: ident.clone(),
            record: TableRecord {
                location: metadata_location.clone(),
                uuid: metadata.uuid().to_string(),
                snapshot_id: metadata.current_snapshot_id(),
            },
            added_snapshots: Vec::new(),
            op: CommitOp::Register,
        }];
        blocking(&self.inner.store, move |s| s.apply(&moves, None)).await?;
        let table = self.build_table(ident, &metadata_location, Arc::new(metadata))?;
        self.cache(&table);
        Ok(table)
    }

    /// Namespaces directly under `parent` (top level when `None`), sorted.
    pub fn namespaces(&self, parent: Option<&NamespaceIdent>) -> Result<Vec<NamespaceIdent>> {
        let mirror = &self.inner.store.mirror;
        if let Some(p) = parent
            && !mirror.namespaces.contains_key(p)
        {
            return Err(Error::NamespaceNotFound(namespace_display(p)));
        }
        let depth = parent.map(|p| p.len()).unwrap_or(0);
        let mut out: Vec<NamespaceIdent> = mirror
            .namespaces
            .iter()
            .map(|e| e.key().clone())
            .filter(|ns| ns.len() == depth + 1 && parent.is_none_or(|p| ns.starts_with(p.as_ref())))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Tables of a namespace, sorted by name.
    pub fn tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        let entry = self
            .inner
            .store
            .mirror
            .namespaces
            .get(namespace)
            .ok_or_else(|| Error::NamespaceNotFound(namespace_display(namespace)))?;
        Ok(entry
            .tables
            .iter()
            .map(|name| TableIdent::new(namespace.clone(), name.clone()))
            .collect())
    }

    /// Whether a table exists (memory only).
    pub fn contains_table(&self, ident: &TableIdent) -> bool {
        self.inner.store.mirror.tables.pin().contains_key(ident)
    }

    /// Whether a namespace exists (memory only).
    pub fn contains_namespace(&self, namespace: &NamespaceIdent) -> bool {
        self.inner.store.mirror.namespaces.contains_key(namespace)
    }

    /// Creates a namespace (its parent must exist).
    pub async fn create_ns(
        &self,
        namespace: &NamespaceIdent,
        props: HashMap<String, String>,
    ) -> Result<Namespace> {
        self.check_writable("create a namespace")?;
        validate_namespace(namespace)?;
        let (ns, p) = (namespace.clone(), props.clone());
        blocking(&self.inner.store, move |s| s.create_namespace(&ns, p)).await?;
        Ok(Namespace::with_properties(namespace.clone(), props))
    }

    /// A namespace and its properties.
    pub fn namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        let entry = self
            .inner
            .store
            .mirror
            .namespaces
            .get(namespace)
            .ok_or_else(|| Error::NamespaceNotFound(namespace_display(namespace)))?;
        Ok(Namespace::with_properties(
            namespace.clone(),
            (*entry.props).clone(),
        ))
    }

    /// Replaces a namespace's properties.
    pub async fn update_ns(
        &self,
        namespace: &NamespaceIdent,
        props: HashMap<String, String>,
    ) -> Result<()> {
        self.check_writable("update a namespace")?;
        let ns = namespace.clone();
        blocking(&self.inner.store, move |s| s.update_namespace(&ns, props)).await
    }

    /// Creates a namespace from synchronous code (DataFusion's `register_schema`). Does a
    /// durable write on the calling thread.
    pub fn create_ns_blocking(
        &self,
        namespace: &NamespaceIdent,
        props: HashMap<String, String>,
    ) -> Result<()> {
        self.check_writable("create a namespace")?;
        validate_namespace(namespace)?;
        self.inner.store.create_namespace(namespace, props)
    }

    /// Drops a namespace from synchronous code; with `cascade`, first drops (without
    /// purging files) every table and view in it and in its child namespaces.
    pub fn drop_ns_blocking(&self, namespace: &NamespaceIdent, cascade: bool) -> Result<()> {
        self.check_writable("drop a namespace")?;
        if !self.contains_namespace(namespace) {
            return Err(Error::NamespaceNotFound(namespace_display(namespace)));
        }
        if !cascade {
            return self.inner.store.drop_namespace(namespace);
        }
        let mut all = vec![namespace.clone()];
        let mut i = 0;
        while i < all.len() {
            let children = self.namespaces(Some(&all[i]))?;
            all.extend(children);
            i += 1;
        }
        let mut moves = Vec::new();
        for ns in &all {
            for t in self.tables(ns)? {
                moves.push(Move::Drop {
                    ident: t,
                    expected: None,
                });
            }
            for v in self.views(ns)? {
                moves.push(Move::DropView {
                    ident: v,
                    expected: None,
                });
            }
        }
        if !moves.is_empty() {
            self.inner.store.apply(&moves, None)?;
        }
        // Deepest first, so each namespace is empty when dropped.
        all.sort_by_key(|ns| std::cmp::Reverse(ns.len()));
        for ns in &all {
            self.inner.store.drop_namespace(ns)?;
        }
        Ok(())
    }

    /// Async form of [`RedbCatalog::drop_ns_blocking`].
    pub async fn drop_ns_cascade(&self, namespace: &NamespaceIdent) -> Result<()> {
        let this = self.clone();
        let ns = namespace.clone();
        tokio::task::spawn_blocking(move || this.drop_ns_blocking(&ns, true))
            .await
            .map_err(|e| Error::Storage(format!("catalog task failed: {e}")))?
    }

    /// Drops an empty namespace.
    pub async fn drop_ns(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.check_writable("drop a namespace")?;
        let ns = namespace.clone();
        blocking(&self.inner.store, move |s| s.drop_namespace(&ns)).await
    }
}

/// Snapshot ids present in `new` but not in `old`.
pub(crate) fn added_snapshots(old: &TableMetadata, new: &TableMetadata) -> Vec<i64> {
    new.snapshots()
        .map(|s| s.snapshot_id())
        .filter(|id| old.snapshot_by_id(*id).is_none())
        .collect()
}

/// Removes empty directories under (and including) `dir`, deepest first.
fn remove_empty_dirs(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_empty_dirs(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[async_trait]
impl Catalog for RedbCatalog {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        Ok(self.namespaces(parent)?)
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        Ok(self.create_ns(namespace, properties).await?)
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<Namespace> {
        Ok(self.namespace(namespace)?)
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> iceberg::Result<bool> {
        Ok(self.contains_namespace(namespace))
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        Ok(self.update_ns(namespace, properties).await?)
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<()> {
        Ok(self.drop_ns(namespace).await?)
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        Ok(self.tables(namespace)?)
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> iceberg::Result<Table> {
        Ok(self.create(namespace, creation).await?)
    }

    async fn load_table(&self, table: &TableIdent) -> iceberg::Result<Table> {
        Ok(self.table(table).await?)
    }

    async fn drop_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        Ok(self.drop(table).await?)
    }

    async fn purge_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        Ok(self.purge(table).await?)
    }

    async fn table_exists(&self, table: &TableIdent) -> iceberg::Result<bool> {
        Ok(self.contains_table(table))
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> iceberg::Result<()> {
        Ok(self.rename(src, dest).await?)
    }

    async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: String,
    ) -> iceberg::Result<Table> {
        Ok(self.register(table, metadata_location).await?)
    }

    async fn update_table(&self, mut commit: TableCommit) -> iceberg::Result<Table> {
        let ident = commit.identifier().clone();
        let requirements = commit.take_requirements();
        let updates = commit.take_updates();
        Ok(self.commit_table(&ident, requirements, updates).await?)
    }
}
