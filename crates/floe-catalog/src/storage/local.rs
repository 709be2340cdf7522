//! Local disks: files appear whole (temporary name, rename) and become durable in one
//! batch before the next pointer move.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage};
use iceberg::{Error as IcebergError, ErrorKind};
use serde::{Deserialize, Serialize};

use super::{IcebergResult, TEMP_SUFFIX, local_path};

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
    /// Some pending directory holds files written by another process, which this
    /// process cannot list: only a whole-filesystem flush covers them.
    external: bool,
}

/// Files under `dir` were written by another process (a REST client) and may not be
/// durable: the next [`sync_pending_dirs`] flushes `dir`'s whole filesystem (`syncfs`,
/// else `sync`) before any pointer moves.
pub fn expect_external_files(dir: &Path) {
    let mut pending = PENDING.lock();
    pending.dirs.insert(dir.to_path_buf());
    pending.external = true;
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
    let (files, dirs, external) = {
        let mut p = PENDING.lock();
        (
            std::mem::take(&mut p.files),
            p.dirs.drain().collect::<Vec<_>>(),
            std::mem::take(&mut p.external),
        )
    };
    if files.is_empty() && dirs.is_empty() {
        return Ok(());
    }
    let result = if syncfs_all(&dirs) {
        Ok(())
    } else {
        if external {
            // Files another process wrote cannot be listed here: flush everything.
            // SAFETY: sync(2) takes no arguments and cannot fail.
            unsafe { libc::sync() };
        }
        sync_each(&files, &dirs)
    };
    if result.is_err() {
        let mut p = PENDING.lock();
        p.files.extend(files);
        p.dirs.extend(dirs);
        p.external |= external;
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

// ---------------------------------------------------------------------------------------
// object_store-backed storage
