//! [`FloeCatalogProvider`]: Iceberg namespaces as DataFusion schemas.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::common::{Result, exec_err};
use iceberg::NamespaceIdent;

use super::metadata::{SYSTEM_SCHEMA, SystemSchemaProvider};
use super::{FloeSchemaProvider, namespace_of, schema_name};
use crate::error::to_df;
use crate::session::SessionShared;

/// The floe catalog as a DataFusion catalog. Live: every call reads the catalog.
#[derive(Debug)]
pub struct FloeCatalogProvider {
    shared: Arc<SessionShared>,
}

impl FloeCatalogProvider {
    /// A provider for one session.
    pub fn new(shared: Arc<SessionShared>) -> Self {
        Self { shared }
    }

    fn all_namespaces(&self) -> Vec<NamespaceIdent> {
        let catalog = &self.shared.engine.catalog;
        let mut out = Vec::new();
        let mut queue = catalog.namespaces(None).unwrap_or_default();
        while let Some(ns) = queue.pop() {
            if let Ok(children) = catalog.namespaces(Some(&ns)) {
                queue.extend(children);
            }
            out.push(ns);
        }
        out.sort();
        out
    }
}

impl CatalogProvider for FloeCatalogProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.all_namespaces().iter().map(schema_name).collect();
        if !names.iter().any(|n| n == SYSTEM_SCHEMA) {
            names.push(SYSTEM_SCHEMA.to_string());
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == SYSTEM_SCHEMA {
            return Some(Arc::new(SystemSchemaProvider::new(self.shared.clone())));
        }
        let ns = namespace_of(name)?;
        if !self.shared.engine.catalog.contains_namespace(&ns) {
            return None;
        }
        Some(Arc::new(FloeSchemaProvider::new(self.shared.clone(), ns)))
    }

    /// Reached by `CREATE SCHEMA` through a plain DataFusion context: creates the namespace.
    fn register_schema(
        &self,
        name: &str,
        _schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        let Some(ns) = namespace_of(name) else {
            return exec_err!("invalid schema name '{name}'");
        };
        if name == SYSTEM_SCHEMA {
            return exec_err!("schema name '{SYSTEM_SCHEMA}' is reserved for floe's system tables");
        }
        self.shared
            .engine
            .catalog
            .create_ns_blocking(&ns, HashMap::new())
            .map_err(to_df)?;
        Ok(None)
    }

    /// Reached by `DROP SCHEMA` through a plain DataFusion context.
    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        let Some(ns) = namespace_of(name) else {
            return Ok(None);
        };
        let catalog = &self.shared.engine.catalog;
        if !catalog.contains_namespace(&ns) {
            return Ok(None);
        }
        let provider: Arc<dyn SchemaProvider> =
            Arc::new(FloeSchemaProvider::new(self.shared.clone(), ns.clone()));
        catalog.drop_ns_blocking(&ns, cascade).map_err(to_df)?;
        Ok(Some(provider))
    }
}
