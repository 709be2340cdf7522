//! The one FileIO storage of a warehouse: each location goes to the store that holds it.
//!
//! A table may name files outside the warehouse's own store: a table registered from
//! local files in a warehouse on S3, a table on S3 in a local warehouse (`LOCATION
//! 's3://...'`, `register_table`). Local paths go to [`DurableLocalStorage`]; the
//! warehouse's object store takes its own locations; another S3 bucket gets a store
//! built on first use from the warehouse's S3 settings (its credentials, endpoint and
//! region), kept for the life of the catalog. A location no store can take is an error
//! naming it, never a read from the wrong place.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Weak};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage, StorageConfig,
    StorageFactory,
};
use iceberg::{Error as IcebergError, ErrorKind};
use object_store::ObjectStore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::object_store::{ObjectStoreStorage, canonical_scheme};
use super::{DurableLocalStorage, IcebergResult, is_local};

/// The stores a warehouse's locations may reach.
pub struct Stores {
    /// The warehouse's own object store (object-store warehouses).
    primary: Option<ObjectStoreStorage>,
    /// S3 settings for buckets other than the warehouse's: the stored ones and those
    /// given when opening (secrets included; kept in memory only).
    s3_stored: BTreeMap<String, String>,
    s3_given: BTreeMap<String, String>,
    /// Stores of other buckets, by `s3://bucket`.
    others: parking_lot::Mutex<HashMap<String, ObjectStoreStorage>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("primary", &self.primary)
            .finish_non_exhaustive()
    }
}

/// Where one location goes.
enum Route {
    Local,
    Object(ObjectStoreStorage),
}

impl Stores {
    /// The stores of a warehouse: its own object store if it has one, and the S3
    /// settings other buckets are opened with.
    pub fn new(
        primary: Option<ObjectStoreStorage>,
        s3_stored: BTreeMap<String, String>,
        s3_given: BTreeMap<String, String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            primary,
            s3_stored,
            s3_given,
            others: Default::default(),
        })
    }

    /// The object store and `scheme://authority` for a location outside local disk
    /// (for engines that read the same files, e.g. DataFusion); `None` for local paths.
    pub fn object_store_for(&self, location: &str) -> IcebergResult<Option<Arc<dyn ObjectStore>>> {
        match self.route(location)? {
            Route::Local => Ok(None),
            Route::Object(s) => Ok(Some(s.object_store())),
        }
    }

    fn route(&self, location: &str) -> IcebergResult<Route> {
        if is_local(location) {
            return Ok(Route::Local);
        }
        if let Some(p) = &self.primary
            && p.accepts(location)
        {
            return Ok(Route::Object(p.clone()));
        }
        let canonical = canonical_scheme(location);
        if let Some(rest) = canonical.strip_prefix("s3://") {
            let bucket = rest.split('/').next().unwrap_or_default();
            let base = format!("s3://{bucket}");
            if let Some(s) = self.others.lock().get(&base) {
                return Ok(Route::Object(s.clone()));
            }
            let built = super::s3::build(&base, &self.s3_stored, &self.s3_given).map_err(|e| {
                IcebergError::new(
                    ErrorKind::DataInvalid,
                    format!("cannot open '{location}': {e}"),
                )
            })?;
            let storage =
                ObjectStoreStorage::for_base(built.store, &built.base, built.write_options);
            self.others.lock().insert(base, storage.clone());
            return Ok(Route::Object(storage));
        }
        Err(IcebergError::new(
            ErrorKind::DataInvalid,
            format!(
                "no storage for '{location}': floe reads local files, S3 and this warehouse's own store"
            ),
        ))
    }
}

/// Process-wide registry so the storage can satisfy iceberg's requirement that storages
/// be serializable: it serializes as a registry id.
static REGISTRY: LazyLock<parking_lot::Mutex<HashMap<u64, Weak<Stores>>>> =
    LazyLock::new(Default::default);
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// [`Storage`] over a warehouse's [`Stores`].
#[derive(Clone, Debug)]
pub struct RoutingStorage {
    stores: Arc<Stores>,
    id: u64,
}

impl RoutingStorage {
    /// Routes over `stores`.
    pub fn new(stores: Arc<Stores>) -> Self {
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut reg = REGISTRY.lock();
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(id, Arc::downgrade(&stores));
        Self { stores, id }
    }

    /// The stores routed over.
    pub fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }

    fn storage(&self, location: &str) -> IcebergResult<Box<dyn Storage>> {
        Ok(match self.stores.route(location)? {
            Route::Local => Box::new(DurableLocalStorage),
            Route::Object(s) => Box::new(s),
        })
    }
}

impl Serialize for RoutingStorage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.id)
    }
}

impl<'de> Deserialize<'de> for RoutingStorage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = u64::deserialize(d)?;
        let stores = REGISTRY
            .lock()
            .get(&id)
            .and_then(Weak::upgrade)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "warehouse storage {id} is not open in this process"
                ))
            })?;
        Ok(Self { stores, id })
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for RoutingStorage {
    async fn exists(&self, path: &str) -> IcebergResult<bool> {
        self.storage(path)?.exists(path).await
    }

    async fn metadata(&self, path: &str) -> IcebergResult<FileMetadata> {
        self.storage(path)?.metadata(path).await
    }

    async fn read(&self, path: &str) -> IcebergResult<Bytes> {
        self.storage(path)?.read(path).await
    }

    async fn reader(&self, path: &str) -> IcebergResult<Box<dyn FileRead>> {
        self.storage(path)?.reader(path).await
    }

    async fn write(&self, path: &str, bs: Bytes) -> IcebergResult<()> {
        self.storage(path)?.write(path, bs).await
    }

    async fn writer(&self, path: &str) -> IcebergResult<Box<dyn FileWrite>> {
        self.storage(path)?.writer(path).await
    }

    async fn delete(&self, path: &str) -> IcebergResult<()> {
        self.storage(path)?.delete(path).await
    }

    async fn delete_prefix(&self, path: &str) -> IcebergResult<()> {
        self.storage(path)?.delete_prefix(path).await
    }

    /// Every path is routed before anything is deleted (one no store takes refuses the
    /// batch); then each store deletes its share in bulk.
    async fn delete_stream(&self, paths: BoxStream<'static, String>) -> IcebergResult<()> {
        let paths: Vec<String> = paths.collect().await;
        let mut local = Vec::new();
        let mut by_store: BTreeMap<u64, (ObjectStoreStorage, Vec<String>)> = BTreeMap::new();
        for p in paths {
            match self.stores.route(&p)? {
                Route::Local => local.push(p),
                Route::Object(s) => by_store
                    .entry(s.id())
                    .or_insert_with(|| (s, Vec::new()))
                    .1
                    .push(p),
            }
        }
        if !local.is_empty() {
            DurableLocalStorage
                .delete_stream(futures::stream::iter(local).boxed())
                .await?;
        }
        for (_, (s, paths)) in by_store {
            s.delete_stream(futures::stream::iter(paths).boxed())
                .await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> IcebergResult<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> IcebergResult<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

/// A FileIO that routes over `stores`.
pub fn file_io(stores: Arc<Stores>) -> iceberg::io::FileIO {
    iceberg::io::FileIOBuilder::new(Arc::new(RoutingStorageFactory(RoutingStorage::new(stores))))
        .build()
}

/// Builds a fixed [`RoutingStorage`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoutingStorageFactory(pub RoutingStorage);

#[typetag::serde]
impl StorageFactory for RoutingStorageFactory {
    fn build(&self, _config: &StorageConfig) -> IcebergResult<Arc<dyn Storage>> {
        Ok(Arc::new(self.0.clone()))
    }
}
