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

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Weak};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage,
    StorageConfig, StorageFactory,
};
use iceberg::{Error as IcebergError, ErrorKind};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

type IcebergResult<T> = iceberg::Result<T>;

/// Suffix of in-flight files; a file with it is never referenced by any metadata.
pub const TEMP_SUFFIX: &str = ".tmp";

fn io_err(action: &str, path: &Path, e: std::io::Error) -> IcebergError {
    let kind = if e.kind() == std::io::ErrorKind::NotFound {
        ErrorKind::DataInvalid
    } else {
        ErrorKind::Unexpected
    };
    IcebergError::new(kind, format!("{action} '{}': {e}", path.display()))
}

fn join_err(e: tokio::task::JoinError) -> IcebergError {
    IcebergError::new(ErrorKind::Unexpected, format!("file IO task failed: {e}"))
}

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

/// One spelling of a location: a table may name one local file `file:/x`, `file:///x`
/// and `/x` in different places (writers differ), and all three give `/x`.
pub fn location_key(location: &str) -> String {
    if location.starts_with("file:") || location.starts_with('/') {
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

/// fsyncs a directory so the entries created or renamed in it are durable. A directory
/// that no longer exists has nothing to make durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match File::open(dir) {
        Ok(d) => d.sync_all(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// `create_dir_all`, durably: each directory it creates has its parent fsynced.
pub fn create_dir_all_durable(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.is_dir() {
            break;
        }
        missing.push(d);
        cur = d.parent();
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {}
            // A concurrent writer created it; it is durable once its creator's fsync returns,
            // and ours below covers it too.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(e),
        }
        if let Some(parent) = d.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = format!(".{name}.{}{TEMP_SUFFIX}", uuid::Uuid::new_v4().simple());
    path.with_file_name(tmp)
}

/// Files renamed into place whose data is not yet known to be durable, and directories
/// whose new entries are not: the work a commit must finish before moving pointers.
#[derive(Default)]
struct Pending {
    files: Vec<PathBuf>,
    dirs: std::collections::HashSet<PathBuf>,
}

static PENDING: LazyLock<parking_lot::Mutex<Pending>> = LazyLock::new(Default::default);
/// Serializes flushes, so a flush never returns while another one is still finishing
/// work it took from the pending set (work the first caller may rely on).
static FLUSH: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Renames the fully written `tmp` to `target` at once — so the file is readable under
/// its final name as soon as the write returns — and records it as pending: its data
/// and its directory entry become durable at the next [`sync_pending_dirs`], which the
/// catalog runs before any pointer moves (commit protocol step 1). A crash before then
/// can leave a final-named file with unsynced data, but no metadata references it yet:
/// it is an orphan, never read.
fn finish_write(file: File, tmp: PathBuf, target: PathBuf) -> std::io::Result<()> {
    start_writeback(&file);
    drop(file);
    if let Err(e) = fs::rename(&tmp, &target) {
        let _ = fs::remove_file(&tmp);
        return Err(std::io::Error::new(
            e.kind(),
            format!("cannot rename '{}' into place: {e}", target.display()),
        ));
    }
    let mut pending = PENDING.lock();
    if let Some(parent) = target.parent() {
        pending.dirs.insert(parent.to_path_buf());
    }
    pending.files.push(target);
    Ok(())
}

/// Starts writing the file's dirty pages back without waiting for them, so that by the
/// next barrier the data is on its way to disk and the barrier mostly waits for one
/// journal commit — the staged files of a release get their head start while the
/// transaction's later statements run. Only a hint: durability still comes from the
/// barrier, and a failure here changes nothing.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a valid open file descriptor; the call only schedules writeback.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File) {}

/// One `syncfs(2)` per filesystem holding pending directories: it writes back every
/// dirty page and inode of that filesystem and commits its journal once, which makes all
/// pending files and renames durable together — far cheaper than one `fdatasync` per file
/// plus one fsync per directory (measured here: 30 files in 1.0 ms instead of 8.3 ms).
/// Returns false when `syncfs` is unavailable or fails, so the caller falls back.
#[cfg(target_os = "linux")]
fn syncfs_all(dirs: &[PathBuf]) -> bool {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    let mut seen = std::collections::HashSet::new();
    for d in dirs {
        let Ok(meta) = fs::metadata(d) else {
            // Removed meanwhile (a purged table): nothing of it can be committed.
            continue;
        };
        if !seen.insert(meta.dev()) {
            continue;
        }
        let Ok(handle) = File::open(d) else {
            return false;
        };
        // SAFETY: a valid open file descriptor; syncfs has no other preconditions.
        if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
            return false;
        }
    }
    true
}

#[cfg(not(target_os = "linux"))]
fn syncfs_all(_dirs: &[PathBuf]) -> bool {
    false
}

/// The portable path: `fdatasync` every pending file (in parallel), then fsync every
/// pending directory (in parallel).
fn sync_each(files: &[PathBuf], dirs: &[PathBuf]) -> std::io::Result<()> {
    fn par<T: Sync>(
        items: &[T],
        f: impl Fn(&T) -> std::io::Result<()> + Sync,
    ) -> std::io::Result<()> {
        if items.len() <= 1 {
            return items.iter().try_for_each(&f);
        }
        let chunk = items.len().div_ceil(8);
        std::thread::scope(|scope| {
            let handles: Vec<_> = items
                .chunks(chunk)
                .map(|c| scope.spawn(|| c.iter().try_for_each(&f)))
                .collect();
            handles.into_iter().try_for_each(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a sync thread panicked")))
            })
        })
    }
    par(files, |f| match File::open(f) {
        Ok(file) => file.sync_data().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot make '{}' durable: {e}", f.display()),
            )
        }),
        // Deleted meanwhile (an abandoned write): no commit can name it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    })?;
    par(dirs, |d| match sync_dir(d) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(std::io::Error::new(
            e.kind(),
            format!("cannot sync directory '{}': {e}", d.display()),
        )),
        _ => Ok(()),
    })
}

/// Makes every file written by floe's storage so far durable under its final name. The
/// catalog calls it before every pointer move (commit protocol step 1). On failure the
/// work stays pending, so this commit fails and the next one retries it.
pub fn sync_pending_dirs() -> std::io::Result<()> {
    let _flush = FLUSH.lock();
    let (files, dirs) = {
        let mut p = PENDING.lock();
        (
            std::mem::take(&mut p.files),
            p.dirs.drain().collect::<Vec<_>>(),
        )
    };
    if files.is_empty() && dirs.is_empty() {
        return Ok(());
    }
    let result = if syncfs_all(&dirs) {
        Ok(())
    } else {
        sync_each(&files, &dirs)
    };
    if result.is_err() {
        let mut p = PENDING.lock();
        p.files.extend(files);
        p.dirs.extend(dirs);
    }
    result
}

/// [`sync_pending_dirs`] from async code (on the blocking pool).
pub async fn flush_pending() -> std::io::Result<()> {
    tokio::task::spawn_blocking(sync_pending_dirs)
        .await
        .map_err(|e| std::io::Error::other(format!("file sync task failed: {e}")))?
}

/// Writes `data` to `path`: a temporary file renamed into place (readable at once);
/// durable once [`sync_pending_dirs`] returns.
pub fn write_durable(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    create_dir_all_durable(parent)?;
    let tmp = temp_path_for(path);
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(data)?;
        Ok::<_, std::io::Error>(f)
    })();
    match written {
        Ok(f) => finish_write(f, tmp, path.to_path_buf()),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Local-disk storage whose writes are durable when they return.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DurableLocalStorage;

#[async_trait]
#[typetag::serde]
impl Storage for DurableLocalStorage {
    async fn exists(&self, path: &str) -> IcebergResult<bool> {
        Ok(local_path(path).exists())
    }

    async fn metadata(&self, path: &str) -> IcebergResult<FileMetadata> {
        let p = local_path(path);
        let m = fs::metadata(&p).map_err(|e| io_err("cannot stat file", &p, e))?;
        Ok(FileMetadata { size: m.len() })
    }

    async fn read(&self, path: &str) -> IcebergResult<Bytes> {
        let p = local_path(path);
        fs::read(&p)
            .map(Bytes::from)
            .map_err(|e| io_err("cannot read file", &p, e))
    }

    async fn reader(&self, path: &str) -> IcebergResult<Box<dyn FileRead>> {
        let p = local_path(path);
        let file = File::open(&p).map_err(|e| io_err("cannot open file", &p, e))?;
        Ok(Box::new(LocalRead { file, path: p }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> IcebergResult<()> {
        let p = local_path(path);
        write_durable(&p, &bs).map_err(|e| io_err("cannot write file", &p, e))
    }

    async fn writer(&self, path: &str) -> IcebergResult<Box<dyn FileWrite>> {
        let target = local_path(path);
        tokio::task::spawn_blocking(move || {
            let parent = target.parent().unwrap_or(Path::new("/")).to_path_buf();
            create_dir_all_durable(&parent)
                .map_err(|e| io_err("cannot create directory", &parent, e))?;
            let tmp = temp_path_for(&target);
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| io_err("cannot create file", &tmp, e))?;
            Ok(Box::new(LocalWrite {
                file: Some(BufWriter::with_capacity(1 << 20, file)),
                tmp,
                target,
            }) as Box<dyn FileWrite>)
        })
        .await
        .map_err(join_err)?
    }

    async fn delete(&self, path: &str) -> IcebergResult<()> {
        let p = local_path(path);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("cannot delete file", &p, e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> IcebergResult<()> {
        let p = local_path(path);
        if p.is_dir() {
            fs::remove_dir_all(&p).map_err(|e| io_err("cannot delete directory", &p, e))?;
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> IcebergResult<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
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

/// Positional reads; no shared cursor, so concurrent reads of one file do not serialize.
struct LocalRead {
    file: File,
    path: PathBuf,
}

#[async_trait]
impl FileRead for LocalRead {
    async fn read(&self, range: Range<u64>) -> IcebergResult<Bytes> {
        use std::os::unix::fs::FileExt;
        let len = range.end.saturating_sub(range.start) as usize;
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, range.start)
            .map_err(|e| io_err("cannot read file", &self.path, e))?;
        Ok(Bytes::from(buf))
    }
}

/// A file being written under a temporary name; `close` makes it durable and renames it.
/// Dropped without `close`, the temporary file is removed.
struct LocalWrite {
    file: Option<BufWriter<File>>,
    tmp: PathBuf,
    target: PathBuf,
}

#[async_trait]
impl FileWrite for LocalWrite {
    async fn write(&mut self, bs: Bytes) -> IcebergResult<()> {
        let file = self.file.as_mut().ok_or_else(|| {
            IcebergError::new(
                ErrorKind::Unexpected,
                "write to a file that is already closed",
            )
        })?;
        file.write_all(&bs)
            .map_err(|e| io_err("cannot write file", &self.tmp, e))
    }

    async fn close(&mut self) -> IcebergResult<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| IcebergError::new(ErrorKind::Unexpected, "file is already closed"))?;
        let (tmp, target) = (self.tmp.clone(), self.target.clone());
        match file.into_inner() {
            Ok(file) => finish_write(file, tmp, target)
                .map_err(|e| io_err("cannot write file", &self.target, e)),
            Err(e) => {
                let _ = fs::remove_file(&self.tmp);
                Err(io_err("cannot write file", &tmp, e.into_error()))
            }
        }
    }
}

impl Drop for LocalWrite {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Builds [`DurableLocalStorage`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DurableLocalStorageFactory;

#[typetag::serde]
impl StorageFactory for DurableLocalStorageFactory {
    fn build(&self, _config: &StorageConfig) -> IcebergResult<Arc<dyn Storage>> {
        Ok(Arc::new(DurableLocalStorage))
    }
}

// ---------------------------------------------------------------------------------------
// object_store-backed storage

/// Process-wide registry so that a storage holding an `Arc<dyn ObjectStore>` can satisfy
/// iceberg's requirement that storages be serializable: it serializes as a registry id.
static STORES: LazyLock<parking_lot::Mutex<HashMap<u64, Weak<dyn ObjectStore>>>> =
    LazyLock::new(Default::default);
static NEXT_STORE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Storage over an [`ObjectStore`]; locations look like `scheme://authority/path`, and
/// the object path is everything after the authority.
#[derive(Clone)]
pub struct ObjectStoreStorage {
    store: Arc<dyn ObjectStore>,
    id: u64,
}

impl std::fmt::Debug for ObjectStoreStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectStoreStorage({})", self.store)
    }
}

impl ObjectStoreStorage {
    /// Wraps an object store.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        let id = NEXT_STORE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut reg = STORES.lock();
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(id, Arc::downgrade(&store));
        Self { store, id }
    }

    /// The wrapped store (for engines that read the same files, e.g. DataFusion).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    fn object_path(location: &str) -> IcebergResult<ObjectPath> {
        let rest = location
            .split_once("://")
            .map(|(_, rest)| rest)
            .ok_or_else(|| {
                IcebergError::new(
                    ErrorKind::DataInvalid,
                    format!("location '{location}' has no scheme"),
                )
            })?;
        let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
        ObjectPath::parse(path).map_err(|e| {
            IcebergError::new(
                ErrorKind::DataInvalid,
                format!("invalid object location '{location}': {e}"),
            )
        })
    }
}

fn os_err(action: &str, location: &str, e: object_store::Error) -> IcebergError {
    let kind = match e {
        object_store::Error::NotFound { .. } => ErrorKind::DataInvalid,
        _ => ErrorKind::Unexpected,
    };
    IcebergError::new(kind, format!("{action} '{location}': {e}"))
}

impl Serialize for ObjectStoreStorage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.id)
    }
}

impl<'de> Deserialize<'de> for ObjectStoreStorage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = u64::deserialize(d)?;
        let store = STORES
            .lock()
            .get(&id)
            .and_then(Weak::upgrade)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("object store {id} is not open in this process"))
            })?;
        Ok(Self { store, id })
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for ObjectStoreStorage {
    async fn exists(&self, path: &str) -> IcebergResult<bool> {
        match self.store.head(&Self::object_path(path)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(os_err("cannot stat", path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> IcebergResult<FileMetadata> {
        let meta = self
            .store
            .head(&Self::object_path(path)?)
            .await
            .map_err(|e| os_err("cannot stat", path, e))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> IcebergResult<Bytes> {
        let r = self
            .store
            .get(&Self::object_path(path)?)
            .await
            .map_err(|e| os_err("cannot read", path, e))?;
        r.bytes().await.map_err(|e| os_err("cannot read", path, e))
    }

    async fn reader(&self, path: &str) -> IcebergResult<Box<dyn FileRead>> {
        Ok(Box::new(ObjectRead {
            store: self.store.clone(),
            path: Self::object_path(path)?,
            location: path.to_string(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> IcebergResult<()> {
        self.store
            .put(&Self::object_path(path)?, PutPayload::from_bytes(bs))
            .await
            .map(|_| ())
            .map_err(|e| os_err("cannot write", path, e))
    }

    async fn writer(&self, path: &str) -> IcebergResult<Box<dyn FileWrite>> {
        Ok(Box::new(ObjectWrite {
            store: self.store.clone(),
            path: Self::object_path(path)?,
            location: path.to_string(),
            buf: Some(Vec::new()),
        }))
    }

    async fn delete(&self, path: &str) -> IcebergResult<()> {
        match self.store.delete(&Self::object_path(path)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(os_err("cannot delete", path, e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> IcebergResult<()> {
        let prefix = Self::object_path(path)?;
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| os_err("cannot list", path, e))?;
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(os_err("cannot delete", path, e)),
            }
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> IcebergResult<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
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

/// Buffers the object and puts it whole on close: the object appears complete or not at all.
struct ObjectWrite {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    location: String,
    buf: Option<Vec<u8>>,
}

#[async_trait]
impl FileWrite for ObjectWrite {
    async fn write(&mut self, bs: Bytes) -> IcebergResult<()> {
        self.buf
            .as_mut()
            .ok_or_else(|| IcebergError::new(ErrorKind::Unexpected, "file is already closed"))?
            .extend_from_slice(&bs);
        Ok(())
    }

    async fn close(&mut self) -> IcebergResult<()> {
        let buf = self
            .buf
            .take()
            .ok_or_else(|| IcebergError::new(ErrorKind::Unexpected, "file is already closed"))?;
        self.store
            .put(&self.path, PutPayload::from(buf))
            .await
            .map(|_| ())
            .map_err(|e| os_err("cannot write", &self.location, e))
    }
}

/// Builds a fixed [`ObjectStoreStorage`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectStoreStorageFactory(pub ObjectStoreStorage);

#[typetag::serde]
impl StorageFactory for ObjectStoreStorageFactory {
    fn build(&self, _config: &StorageConfig) -> IcebergResult<Arc<dyn Storage>> {
        Ok(Arc::new(self.0.clone()))
    }
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
    /// A FileIO over this storage.
    pub fn file_io(&self) -> FileIO {
        match self {
            WarehouseStorage::Local(_) => {
                FileIOBuilder::new(Arc::new(DurableLocalStorageFactory)).build()
            }
            WarehouseStorage::Object { storage, .. } => {
                FileIOBuilder::new(Arc::new(ObjectStoreStorageFactory(storage.clone()))).build()
            }
        }
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
                let Ok(prefix) = ObjectStoreStorage::object_path(location) else {
                    return true;
                };
                let mut listing = storage.store.list(Some(&prefix));
                listing.next().await.is_some()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
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
