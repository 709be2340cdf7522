//! Any `object_store` (in-memory warehouses, S3): a put is whole and durable when it
//! returns, so files need no rename and no flush before the pointer moves.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, LazyLock, Weak};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage};
use iceberg::{Error as IcebergError, ErrorKind};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::IcebergResult;

/// Process-wide registry so that a storage holding an `Arc<dyn ObjectStore>` can satisfy
/// iceberg's requirement that storages be serializable: it serializes as a registry id.
static STORES: LazyLock<parking_lot::Mutex<HashMap<u64, Registered>>> =
    LazyLock::new(Default::default);
static NEXT_STORE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

struct Registered {
    store: Weak<dyn ObjectStore>,
    base: Option<String>,
    options: WriteOptions,
}

/// Streamed files smaller than this are put whole (one conditional PUT); larger ones
/// are uploaded in parts of this size as they are written, so memory stays bounded.
pub const MULTIPART_PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one file uploaded at the same time.
const MULTIPART_CONCURRENCY: usize = 4;

/// How files are put.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    /// Put with `PutMode::Create` (`If-None-Match: *`): a put never replaces an object,
    /// so two writers can never overwrite each other's file. Off only for stores
    /// without conditional puts (`s3.conditional-put=disabled`).
    pub conditional_put: bool,
    /// Size of a multipart upload's parts (and the threshold for using one).
    pub part_size: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            conditional_put: true,
            part_size: MULTIPART_PART_SIZE,
        }
    }
}

/// Storage over an [`ObjectStore`]; locations look like `scheme://authority/path`, and
/// the object path is everything after the authority. When the storage knows its base
/// (`s3://bucket`), a location under any other base is refused, never read from or
/// written to this store under the same path.
#[derive(Clone)]
pub struct ObjectStoreStorage {
    store: Arc<dyn ObjectStore>,
    id: u64,
    base: Option<String>,
    options: WriteOptions,
}

impl std::fmt::Debug for ObjectStoreStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectStoreStorage({})", self.store)
    }
}

/// `s3a://` and `s3n://` (Hadoop's spellings, in tables Spark and Hive wrote) name the
/// same objects as `s3://`.
pub fn canonical_scheme(location: &str) -> std::borrow::Cow<'_, str> {
    for alias in ["s3a://", "s3n://"] {
        if let Some(rest) = location.strip_prefix(alias) {
            return format!("s3://{rest}").into();
        }
    }
    location.into()
}

impl ObjectStoreStorage {
    /// Wraps an object store that accepts any authority (in-memory warehouses, tests).
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self::register(store, None, WriteOptions::default())
    }

    /// Wraps the store of one bucket: `base` is `scheme://authority` (`s3://bucket`).
    pub fn for_base(store: Arc<dyn ObjectStore>, base: &str, options: WriteOptions) -> Self {
        Self::register(
            store,
            Some(canonical_scheme(base).trim_end_matches('/').to_string()),
            options,
        )
    }

    fn register(store: Arc<dyn ObjectStore>, base: Option<String>, options: WriteOptions) -> Self {
        let id = NEXT_STORE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut reg = STORES.lock();
        reg.retain(|_, r| r.store.strong_count() > 0);
        reg.insert(
            id,
            Registered {
                store: Arc::downgrade(&store),
                base: base.clone(),
                options,
            },
        );
        Self {
            store,
            id,
            base,
            options,
        }
    }

    /// The wrapped store (for engines that read the same files, e.g. DataFusion).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Whether `location` is in this storage's bucket (any non-local location when the
    /// storage has no fixed base).
    pub fn accepts(&self, location: &str) -> bool {
        match &self.base {
            Some(base) => canonical_scheme(location)
                .strip_prefix(base.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            None => true,
        }
    }

    /// The registry id, unique per wrapped store.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How this storage puts files.
    pub fn write_options(&self) -> WriteOptions {
        self.options
    }

    /// The object path of `location`, which must lie in this storage's bucket.
    pub fn object_path(&self, location: &str) -> IcebergResult<ObjectPath> {
        let canonical = canonical_scheme(location);
        let (scheme, rest) = canonical.split_once("://").ok_or_else(|| {
            IcebergError::new(
                ErrorKind::DataInvalid,
                format!("location '{location}' has no scheme"),
            )
        })?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if let Some(base) = &self.base
            && *base != format!("{scheme}://{authority}")
        {
            return Err(IcebergError::new(
                ErrorKind::DataInvalid,
                format!("file '{location}' is not in the warehouse's bucket ({base})"),
            ));
        }
        ObjectPath::parse(path).map_err(|e| {
            IcebergError::new(
                ErrorKind::DataInvalid,
                format!("invalid object location '{location}': {e}"),
            )
        })
    }

    fn put_options(&self) -> PutOptions {
        PutOptions {
            mode: if self.options.conditional_put {
                PutMode::Create
            } else {
                PutMode::Overwrite
            },
            ..Default::default()
        }
    }
}

pub(crate) fn os_err(action: &str, location: &str, e: object_store::Error) -> IcebergError {
    match e {
        object_store::Error::NotFound { .. } => IcebergError::new(
            ErrorKind::DataInvalid,
            format!("{action} '{location}': {}", super::s3::explain(&e)),
        ),
        // A conditional put found the object there: another writer made a file of the
        // same name, and it is left as it was.
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            IcebergError::new(
                ErrorKind::Unexpected,
                format!(
                    "{action} '{location}': the file already exists (written by another writer); nothing was overwritten"
                ),
            )
        }
        other => IcebergError::new(
            ErrorKind::Unexpected,
            format!("{action} '{location}': {}", super::s3::explain(&other)),
        ),
    }
}

impl Serialize for ObjectStoreStorage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.id)
    }
}

impl<'de> Deserialize<'de> for ObjectStoreStorage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = u64::deserialize(d)?;
        let reg = STORES.lock();
        let entry = reg.get(&id);
        let store = entry.and_then(|r| r.store.upgrade()).ok_or_else(|| {
            serde::de::Error::custom(format!("object store {id} is not open in this process"))
        })?;
        let entry = entry.expect("upgraded above");
        Ok(Self {
            store,
            id,
            base: entry.base.clone(),
            options: entry.options,
        })
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for ObjectStoreStorage {
    async fn exists(&self, path: &str) -> IcebergResult<bool> {
        match self.store.head(&self.object_path(path)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(os_err("cannot stat", path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> IcebergResult<FileMetadata> {
        let meta = self
            .store
            .head(&self.object_path(path)?)
            .await
            .map_err(|e| os_err("cannot stat", path, e))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> IcebergResult<Bytes> {
        let r = self
            .store
            .get(&self.object_path(path)?)
            .await
            .map_err(|e| os_err("cannot read", path, e))?;
        r.bytes().await.map_err(|e| os_err("cannot read", path, e))
    }

    async fn reader(&self, path: &str) -> IcebergResult<Box<dyn FileRead>> {
        Ok(Box::new(ObjectRead {
            store: self.store.clone(),
            path: self.object_path(path)?,
            location: path.to_string(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> IcebergResult<()> {
        self.store
            .put_opts(
                &self.object_path(path)?,
                PutPayload::from_bytes(bs),
                self.put_options(),
            )
            .await
            .map(|_| ())
            .map_err(|e| os_err("cannot write", path, e))
    }

    async fn writer(&self, path: &str) -> IcebergResult<Box<dyn FileWrite>> {
        Ok(Box::new(ObjectWrite {
            storage: self.clone(),
            path: self.object_path(path)?,
            location: path.to_string(),
            state: WriteState::Buffer(Vec::new()),
        }))
    }

    async fn delete(&self, path: &str) -> IcebergResult<()> {
        match self.store.delete(&self.object_path(path)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(os_err("cannot delete", path, e)),
        }
    }

    /// Deletes every object under `path` (a directory: `ns/t` never matches `ns/tt`),
    /// in bulk requests where the store has them (S3's DeleteObjects, 1,000 keys each).
    async fn delete_prefix(&self, path: &str) -> IcebergResult<()> {
        let prefix = self.object_path(path)?;
        let listing = self
            .store
            .list(Some(&prefix))
            .map(|m| m.map(|m| m.location))
            .boxed();
        let mut deleted = self.store.delete_stream(listing);
        while let Some(r) = deleted.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(os_err("cannot delete under", path, e)),
            }
        }
        Ok(())
    }

    async fn delete_stream(&self, paths: BoxStream<'static, String>) -> IcebergResult<()> {
        // Resolve every location first: one outside the bucket refuses the whole batch
        // before anything is deleted.
        let paths: Vec<String> = paths.collect().await;
        let objects = paths
            .iter()
            .map(|p| self.object_path(p))
            .collect::<IcebergResult<Vec<_>>>()?;
        let mut deleted = self
            .store
            .delete_stream(futures::stream::iter(objects.into_iter().map(Ok)).boxed());
        while let Some(r) = deleted.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(os_err("cannot delete", "files", e)),
            }
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

struct ObjectRead {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    location: String,
}

#[async_trait]
impl FileRead for ObjectRead {
    async fn read(&self, range: Range<u64>) -> IcebergResult<Bytes> {
        self.store
            .get_range(&self.path, range)
            .await
            .map_err(|e| os_err("cannot read", &self.location, e))
    }
}

enum WriteState {
    /// Bytes so far, below one part: put whole (conditionally) on close.
    Buffer(Vec<u8>),
    /// A multipart upload in progress: parts go out as they fill.
    Multipart(WriteMultipart),
    Closed,
}

/// Writes an object that appears complete or not at all: small files are put whole on
/// close; large ones stream as a multipart upload (bounded memory), completed on close
/// and aborted if the writer is dropped unclosed (a failed or cancelled statement), so
/// no parts are left behind.
struct ObjectWrite {
    storage: ObjectStoreStorage,
    path: ObjectPath,
    location: String,
    state: WriteState,
}

fn closed() -> IcebergError {
    IcebergError::new(ErrorKind::Unexpected, "file is already closed")
}

#[async_trait]
impl FileWrite for ObjectWrite {
    async fn write(&mut self, bs: Bytes) -> IcebergResult<()> {
        let part_size = self.storage.options.part_size;
        match &mut self.state {
            WriteState::Buffer(buf) => {
                buf.extend_from_slice(&bs);
                if buf.len() >= part_size {
                    let buf = std::mem::take(buf);
                    let upload = self
                        .storage
                        .store
                        .put_multipart(&self.path)
                        .await
                        .map_err(|e| os_err("cannot write", &self.location, e))?;
                    let mut upload = WriteMultipart::new_with_chunk_size(upload, part_size);
                    upload.write(&buf);
                    self.state = WriteState::Multipart(upload);
                }
            }
            WriteState::Multipart(upload) => {
                upload
                    .wait_for_capacity(MULTIPART_CONCURRENCY)
                    .await
                    .map_err(|e| os_err("cannot write", &self.location, e))?;
                upload.put(bs);
            }
            WriteState::Closed => return Err(closed()),
        }
        Ok(())
    }

    async fn close(&mut self) -> IcebergResult<()> {
        match std::mem::replace(&mut self.state, WriteState::Closed) {
            WriteState::Buffer(buf) => self
                .storage
                .store
                .put_opts(
                    &self.path,
                    PutPayload::from(buf),
                    self.storage.put_options(),
                )
                .await
                .map(|_| ())
                .map_err(|e| os_err("cannot write", &self.location, e)),
            WriteState::Multipart(upload) => upload
                .finish()
                .await
                .map(|_| ())
                .map_err(|e| os_err("cannot write", &self.location, e)),
            WriteState::Closed => Err(closed()),
        }
    }
}

impl Drop for ObjectWrite {
    fn drop(&mut self) {
        if let WriteState::Multipart(upload) =
            std::mem::replace(&mut self.state, WriteState::Closed)
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}
