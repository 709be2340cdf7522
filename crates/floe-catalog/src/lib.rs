//! # floe-catalog
//!
//! A complete [`iceberg::Catalog`] stored in ONE redb file, with the extras floe's SQL
//! layer builds on: a durable commit log, atomic multi-table **releases**, and
//! **time-travel resolution** (snapshot id, timestamp, tag/branch/release name).
//!
//! It has no DataFusion dependency and is usable alone:
//!
//! ```no_run
//! # async fn demo() -> Result<(), floe_catalog::Error> {
//! use iceberg::Catalog;
//! let catalog = floe_catalog::RedbCatalog::open("./warehouse").await?;
//! let namespaces = catalog.list_namespaces(None).await?;
//! # let _ = namespaces; Ok(()) }
//! ```
//!
//! The invariants and the commit protocol are written down in `docs/design.md`.

mod catalog;
mod error;
pub mod ident;
mod in_flight;
mod maintenance;
mod manifest_read;
mod releases;
mod snapshots;
pub mod storage;
mod store;
mod time_travel;
pub mod variant;
mod views;

pub use catalog::{
    CATALOG_FILE, PROP_CATALOG_PATH, PROP_READ_ONLY, PROP_WAREHOUSE, RedbCatalog,
    RedbCatalogBuilder,
};
pub use error::{Error, Result};
pub use in_flight::{REMOTE_WRITER_GRACE_MS, RemoteWriters, WriteGuard};
pub use maintenance::{Expired, Problem, refs};
pub use releases::{Published, StagedCommit};
pub use snapshots::{LiveFile, MANIFEST_MERGE_THRESHOLD, ProducedSnapshot, SnapshotChange};
pub use store::{
    CatalogSnapshot, CommitOp, CommitRecord, FORMAT_VERSION, ReleaseKind, ReleaseRecord,
    ReleaseTable, TableRecord, ViewRecord,
};
pub use time_travel::{TableVersion, VersionSource};
pub use views::ViewDefinition;

/// The manifest list file of a snapshot; `None` for a v1 snapshot that lists its
/// manifests inline (it has no such file).
pub fn manifest_list_file(snapshot: &iceberg::spec::Snapshot) -> Option<&str> {
    let path = snapshot.manifest_list();
    (!path.starts_with(manifest_read::INLINE_MANIFESTS)).then_some(path)
}
