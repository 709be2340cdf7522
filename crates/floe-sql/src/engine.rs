//! The state one warehouse shares between all its sessions.

use std::sync::Arc;

use datafusion::execution::object_store::{
    DefaultObjectStoreRegistry, ObjectStoreRegistry, ObjectStoreUrl,
};
use floe_catalog::RedbCatalog;
use floe_catalog::storage::WarehouseStorage;
use object_store::ObjectStore;

/// One open warehouse: the catalog and the object store DataFusion reads its files with.
#[derive(Debug)]
pub struct Engine {
    /// The Iceberg catalog.
    pub catalog: RedbCatalog,
    /// Name the catalog is registered under in DataFusion (normally `floe`).
    pub catalog_name: String,
    /// For object-store warehouses: the URL and store DataFusion must know about.
    pub object_store: Option<(ObjectStoreUrl, Arc<dyn ObjectStore>)>,
}

impl Engine {
    /// Wraps a catalog.
    pub fn new(
        catalog: RedbCatalog,
        catalog_name: impl Into<String>,
    ) -> datafusion::error::Result<Arc<Self>> {
        let object_store = match catalog.storage() {
            WarehouseStorage::Local(_) => None,
            WarehouseStorage::Object { storage, root } => {
                let (url, _) = crate::scan::split_location(&format!("{root}/x"))?;
                Some((url, storage.object_store()))
            }
        };
        Ok(Arc::new(Self {
            catalog,
            catalog_name: catalog_name.into(),
            object_store,
        }))
    }
}

/// DataFusion's object stores in a floe session: DataFusion's default registry (local
/// files, and the warehouse's own store registered at start), and for an `s3://` bucket it
/// does not know, the store the catalog opens for it with the warehouse's S3 settings
/// (a table on S3 in a local warehouse, or in another bucket), registered for next time.
#[derive(Debug)]
pub struct FloeObjectStores {
    inner: DefaultObjectStoreRegistry,
    catalog: RedbCatalog,
}

impl FloeObjectStores {
    /// The registry of a session on `catalog`'s warehouse.
    pub fn new(catalog: RedbCatalog) -> Self {
        Self {
            inner: DefaultObjectStoreRegistry::new(),
            catalog,
        }
    }
}

impl ObjectStoreRegistry for FloeObjectStores {
    fn register_store(
        &self,
        url: &url::Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &url::Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &url::Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        match self.inner.get_store(url) {
            Ok(store) => Ok(store),
            Err(missing) if matches!(url.scheme(), "s3" | "s3a" | "s3n") => {
                match self.catalog.object_store_for(url.as_str()) {
                    Ok(Some(store)) => {
                        self.inner.register_store(url, store.clone());
                        Ok(store)
                    }
                    Ok(None) => Err(missing),
                    Err(e) => Err(crate::error::to_df(e)),
                }
            }
            Err(missing) => Err(missing),
        }
    }
}
