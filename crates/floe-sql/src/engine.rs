//! The state one warehouse shares between all its sessions.

use std::sync::Arc;

use datafusion::execution::object_store::ObjectStoreUrl;
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
