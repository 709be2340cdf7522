//! DataFusion catalog, schema and table providers over the floe catalog.
//!
//! They are **live**: namespaces and tables are looked up in the catalog when DataFusion
//! asks, never copied at construction, so a table created by another session (or through
//! the Rust API) is visible at the next statement.

mod catalog;
pub mod metadata;
mod schema;
mod table;
pub mod table_function;

pub use catalog::FloeCatalogProvider;
pub use schema::FloeSchemaProvider;
pub use table::{FloeTable, InsertExec, count_batch, count_schema};

use iceberg::NamespaceIdent;

/// DataFusion schema name of a namespace: levels joined by dots.
pub fn schema_name(ns: &NamespaceIdent) -> String {
    ns.join(".")
}

/// Namespace of a DataFusion schema name (`"a.b"` is the nested namespace `a` → `b`).
pub fn namespace_of(schema: &str) -> Option<NamespaceIdent> {
    NamespaceIdent::from_strs(schema.split('.')).ok()
}
