//! File IO for floe: every file a write reports done is on stable storage.
//!
//! iceberg's `LocalFsStorage::write` neither fsyncs nor writes atomically, so floe brings
//! its own [`iceberg::io::Storage`] implementations:
//!
//! * [`DurableLocalStorage`] — local disks. A file is written under a temporary name in
//!   its final directory and renamed to its final name when complete (so a reader never
//!   sees a partial file); making it durable is *deferred*: the file and its directory
//!   join a pending set, and [`sync_pending_dirs`] makes the whole set durable at once —
//!   one `syncfs` per filesystem on Linux, else an `fdatasync` per file and an fsync per
//!   directory, in parallel. The catalog calls it before every pointer move, so all
//!   files a commit names are durable before the commit is, and a 10-table release costs
//!   about what one table's commit does. Missing directories are created durably
//!   (each new directory's parent is fsynced at once). Crashes leave at most `.*.tmp`
//!   files or unreferenced files (orphans).
//! * [`ObjectStoreStorage`] — any `object_store` (in-memory warehouses; object stores).
//!   A put either happens whole or not at all, and is durable when it returns.
//!
//! These are the only ways floe writes table files, which is what makes step 1 of the
//! commit protocol (files durable before the pointer moves) hold.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use iceberg::io::FileIO;

pub mod counting;
mod local;
mod object_store;
pub mod routing;
pub mod s3;

pub use self::object_store::{
    MULTIPART_PART_SIZE, ObjectStoreStorage, WriteOptions, canonical_scheme,
};
pub use local::{
    DurableLocalStorage, create_dir_all_durable, expect_external_files, flush_pending, sync_dir,
    sync_pending_dirs, write_durable,
};

type IcebergResult<T> = iceberg::Result<T>;

/// Suffix of in-flight files; a file with it is never referenced by any metadata.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Turns `file:///a/b`, `file:/a/b` or `/a/b` into a local path.
pub fn local_path(location: &str) -> PathBuf {
    let path = if let Some(rest) = location.strip_prefix("file://") {
        rest
    } else if let Some(rest) = location.strip_prefix("file:") {
        rest
    } else {
        location
    };
    if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        PathBuf::from(format!("/{path}"))
    }
}

/// Whether `location` names a local file (`file:` URI or absolute path).
pub fn is_local(location: &str) -> bool {
    location.starts_with("file:") || location.starts_with('/')
}

/// One spelling of a location: a table may name one local file `file:/x`, `file:///x`
/// and `/x` in different places (writers differ), and all three give `/x`.
pub fn location_key(location: &str) -> String {
    if is_local(location) {
        local_path(location).display().to_string()
    } else {
        location.to_string()
    }
}

/// Whether `location` lies inside `root` (both URIs or paths; `..` segments refused).
/// Guards reads and deletes against metadata that names files elsewhere.
pub fn is_within(location: &str, root: &str) -> bool {
    let (loc, root) = (location_key(location), location_key(root));
    let root = root.trim_end_matches('/');
    loc.strip_prefix(root)
        .is_some_and(|rest| rest.starts_with('/') && !rest.split('/').any(|seg| seg == ".."))
}

/// Where a warehouse's files live.
#[derive(Debug, Clone)]
pub enum WarehouseStorage {
    /// A local directory (absolute path).
    Local(PathBuf),
    /// An object store, with the URL prefix of the warehouse root (`memory://floe`, `s3://b/p`).
    Object {
        /// The store.
        storage: ObjectStoreStorage,
        /// Root URL of the warehouse, without trailing slash.
        root: String,
    },
}

impl WarehouseStorage {
    /// Every store this warehouse's locations may reach: local files, its own object
    /// store, and S3 buckets opened with these settings (stored, then given).
    pub fn stores(
        &self,
        s3_stored: std::collections::BTreeMap<String, String>,
        s3_given: std::collections::BTreeMap<String, String>,
    ) -> Arc<routing::Stores> {
        let primary = match self {
            WarehouseStorage::Object { storage, .. } => Some(storage.clone()),
            WarehouseStorage::Local(_) => None,
        };
        routing::Stores::new(primary, s3_stored, s3_given)
    }

    /// A FileIO over this storage (no S3 settings for other buckets).
    pub fn file_io(&self) -> FileIO {
        routing::file_io(self.stores(Default::default(), Default::default()))
    }

    /// Root location of the warehouse as stored in table metadata.
    pub fn root_location(&self) -> String {
        match self {
            WarehouseStorage::Local(p) => format!("file://{}", p.display()),
            WarehouseStorage::Object { root, .. } => root.clone(),
        }
    }

    /// Whether a table's directory is already in use (a dropped table's files, say), so a
    /// new table must pick another location rather than mix its files in.
    pub async fn location_in_use(&self, location: &str) -> bool {
        match self {
            WarehouseStorage::Local(_) => {
                let p = local_path(location);
                p.exists()
                    && fs::read_dir(&p)
                        .map(|mut d| d.next().is_some())
                        .unwrap_or(true)
            }
            WarehouseStorage::Object { storage, .. } => {
                let Ok(prefix) = storage.object_path(location) else {
                    return true;
                };
                let store = storage.object_store();
                let mut listing = store.list(Some(&prefix));
                listing.next().await.is_some()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::object_store::ObjectStore;
    use bytes::Bytes;
    use std::path::Path;

    #[tokio::test]
    async fn durable_write_is_atomic_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let io = WarehouseStorage::Local(dir.path().to_path_buf()).file_io();
        let loc = format!("file://{}/a/b/c.json", dir.path().display());
        io.new_output(&loc)
            .unwrap()
            .write(Bytes::from_static(b"{}"))
            .await
            .unwrap();
        sync_pending_dirs().unwrap();
        assert_eq!(
            io.new_input(&loc).unwrap().read().await.unwrap().as_ref(),
            b"{}"
        );
        let names: Vec<_> = fs::read_dir(dir.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("c.json")]);
    }

    #[tokio::test]
    async fn streamed_write_appears_only_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let io = WarehouseStorage::Local(dir.path().to_path_buf()).file_io();
        let loc = format!("{}/data/f.parquet", dir.path().display());
        let out = io.new_output(&loc).unwrap();
        let mut w = out.writer().await.unwrap();
        w.write(Bytes::from_static(b"hello ")).await.unwrap();
        w.write(Bytes::from_static(b"world")).await.unwrap();
        assert!(!Path::new(&loc).exists(), "file visible before close");
        w.close().await.unwrap();
        sync_pending_dirs().unwrap();
        assert_eq!(fs::read(&loc).unwrap(), b"hello world");
        let reader = io.new_input(&loc).unwrap().reader().await.unwrap();
        assert_eq!(reader.read(6..11).await.unwrap().as_ref(), b"world");
    }

    #[tokio::test]
    async fn abandoned_writer_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let io = WarehouseStorage::Local(dir.path().to_path_buf()).file_io();
        let loc = format!("{}/f.bin", dir.path().display());
        let mut w = io.new_output(&loc).unwrap().writer().await.unwrap();
        w.write(Bytes::from_static(b"x")).await.unwrap();
        drop(w);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn containment_checks() {
        assert!(is_within("file:///w/ns/t/data/a.parquet", "/w/ns/t"));
        assert!(is_within("/w/ns/t/data/a.parquet", "file:///w/ns/t/"));
        assert!(!is_within("/w/ns/tt/data/a.parquet", "/w/ns/t"));
        assert!(!is_within("/w/ns/t/../u/a.parquet", "/w/ns/t"));
        assert!(!is_within("/etc/passwd", "/w"));
        assert!(is_within("s3://b/p/ns/t/x", "s3://b/p"));
        assert!(!is_within("s3://b/other/x", "s3://b/p"));
    }

    #[tokio::test]
    async fn object_store_storage_round_trips() {
        let store: Arc<dyn ObjectStore> = Arc::new(::object_store::memory::InMemory::new());
        let ws = WarehouseStorage::Object {
            storage: ObjectStoreStorage::new(store),
            root: "memory://floe".into(),
        };
        let io = ws.file_io();
        let loc = "memory://floe/ns/t/metadata/x.json";
        assert!(!io.exists(loc).await.unwrap());
        io.new_output(loc)
            .unwrap()
            .write(Bytes::from_static(b"abc"))
            .await
            .unwrap();
        assert!(io.exists(loc).await.unwrap());
        assert!(ws.location_in_use("memory://floe/ns/t").await);
        assert!(!ws.location_in_use("memory://floe/ns/u").await);
        let r = io.new_input(loc).unwrap().reader().await.unwrap();
        assert_eq!(r.read(1..3).await.unwrap().as_ref(), b"bc");
        io.delete_prefix("memory://floe/ns").await.unwrap();
        assert!(!io.exists(loc).await.unwrap());
    }
}
