//! Table refs, snapshot expiry and orphan-file removal.
//!
//! Guarantees:
//! * `expire_snapshots` never removes a snapshot held by a branch, a tag or any release
//!   (catalog-wide), nor the current snapshot, and deletes only files that no remaining
//!   snapshot reaches;
//! * `remove_orphan_files` deletes only files under the warehouse that no live table
//!   metadata (current, its metadata log, the commit log), release or ref reaches, and
//!   that are older than the given time — never the catalog file itself.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use futures::StreamExt;
use iceberg::TableIdent;
use iceberg::spec::{DataContentType, DataFile, DataFileFormat, SnapshotReference, TableMetadata};
use iceberg::table::Table;

use crate::catalog::{RedbCatalog, blocking};
use crate::error::{Error, Result};
use crate::ident::table_display;
use crate::storage::local_path;

/// One problem found by [`RedbCatalog::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The table (or release) concerned.
    pub object: String,
    /// The file concerned.
    pub file: String,
    /// What is wrong.
    pub problem: String,
}

impl Problem {
    fn new(object: &str, file: &str, problem: String) -> Self {
        Self {
            object: object.to_string(),
            file: file.to_string(),
            problem,
        }
    }
}

/// What `expire_snapshots` did.
#[derive(Debug, Clone, Default)]
pub struct Expired {
    /// Snapshot ids removed from the table.
    pub snapshots: Vec<i64>,
    /// Data, manifest and manifest-list files deleted.
    pub deleted_files: usize,
}

/// A table's branches and tags (`main` included), sorted by name.
pub fn refs(md: &TableMetadata) -> Vec<(String, SnapshotReference)> {
    // TableMetadata keeps refs crate-private; its serialized form is the spec's.
    let Ok(value) = serde_json::to_value(md) else {
        return Vec::new();
    };
    let mut out: Vec<(String, SnapshotReference)> = value
        .get("refs")
        .and_then(|r| serde_json::from_value::<HashMap<String, SnapshotReference>>(r.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn normalize(location: &str) -> String {
    if location.starts_with("file:") || location.starts_with('/') {
        local_path(location).display().to_string()
    } else {
        location.to_string()
    }
}

impl RedbCatalog {
    /// Every file reachable from `snapshots` of `md`: manifest lists, manifests, data and
    /// delete files.
    async fn reachable(
        &self,
        md: &TableMetadata,
        snapshots: &[i64],
        out: &mut HashSet<String>,
    ) -> Result<()> {
        for id in snapshots {
            let Some(snapshot) = md.snapshot_by_id(*id) else {
                continue;
            };
            if let Some(list) = crate::manifest_list_file(snapshot) {
                out.insert(normalize(list));
            }
            let list = self.manifest_list(md, snapshot).await?;
            for mf in list.entries() {
                if !out.insert(normalize(&mf.manifest_path)) {
                    continue; // shared manifest, already walked
                }
                let manifest = self.manifest(md, mf).await?;
                for e in manifest.entries() {
                    out.insert(normalize(e.file_path()));
                }
            }
        }
        Ok(())
    }

    /// Snapshot ids of the table with `uuid` recorded by any release.
    async fn release_held(&self, uuid: &str) -> Result<HashSet<i64>> {
        let mut held = HashSet::new();
        for r in self.releases().await? {
            let id = r.id;
            let u = uuid.to_string();
            if let Some(entry) =
                blocking(&self.inner.store, move |s| s.release_table(id, &u)).await?
                && let Some(snap) = entry.snapshot_id
            {
                held.insert(snap);
            }
        }
        Ok(held)
    }

    /// Removes snapshots committed before `older_than_ms`, keeping the newest
    /// `retain_last` of `main`'s history, the current snapshot, and every snapshot a
    /// branch, tag or release holds; then deletes the files only they reached.
    pub async fn expire_snapshots(
        &self,
        ident: &TableIdent,
        older_than_ms: i64,
        retain_last: usize,
    ) -> Result<Expired> {
        if self.is_read_only() {
            return Err(Error::ReadOnly("expire snapshots"));
        }
        let table = self.table(ident).await?;
        let md = table.metadata();
        let mut keep: HashSet<i64> = self.release_held(&md.uuid().to_string()).await?;
        for (_, r) in refs(md) {
            keep.insert(r.snapshot_id);
        }
        // The newest `retain_last` ancestors of main.
        let mut cur = md.current_snapshot_id();
        let mut kept = 0;
        while let Some(id) = cur {
            if kept >= retain_last.max(1) {
                break;
            }
            keep.insert(id);
            kept += 1;
            cur = md.snapshot_by_id(id).and_then(|s| s.parent_snapshot_id());
        }
        let expire: Vec<i64> = md
            .snapshots()
            .filter(|s| s.timestamp_ms() < older_than_ms && !keep.contains(&s.snapshot_id()))
            .map(|s| s.snapshot_id())
            .collect();
        if expire.is_empty() {
            return Ok(Expired::default());
        }
        let remaining: Vec<i64> = md
            .snapshots()
            .map(|s| s.snapshot_id())
            .filter(|id| !expire.contains(id))
            .collect();
        let mut live = HashSet::new();
        self.reachable(md, &remaining, &mut live).await?;
        let mut dead = HashSet::new();
        self.reachable(md, &expire, &mut dead).await?;
        self.commit_table(
            ident,
            vec![iceberg::TableRequirement::UuidMatch { uuid: md.uuid() }],
            vec![iceberg::TableUpdate::RemoveSnapshots {
                snapshot_ids: expire.clone(),
            }],
        )
        .await?;
        // The pointer moved first: a crash now only leaves files to the orphan sweep.
        let mut deleted = 0;
        for f in dead.difference(&live) {
            // Never delete outside the table's own location, whatever the metadata says.
            if !crate::storage::is_within(f, md.location()) {
                continue;
            }
            if self.file_io().delete(f).await.is_ok() {
                deleted += 1;
            }
        }
        Ok(Expired {
            snapshots: expire,
            deleted_files: deleted,
        })
    }

    /// Files under the warehouse reachable from any live table, release or ref, and the
    /// locations of the live tables.
    async fn referenced_files(&self) -> Result<(HashSet<String>, BTreeSet<String>)> {
        let mut out = HashSet::new();
        let mut locations = BTreeSet::new();
        let mut live_uuids = HashSet::new();
        let mut queue = self.namespaces(None)?;
        while let Some(ns) = queue.pop() {
            queue.extend(self.namespaces(Some(&ns))?);
            for ident in self.tables(&ns)? {
                let table = self.table(&ident).await?;
                let md = table.metadata();
                live_uuids.insert(md.uuid().to_string());
                locations.insert(md.location().trim_end_matches('/').to_string());
                out.insert(normalize(table.metadata_location_result()?));
                for log in md.metadata_log() {
                    out.insert(normalize(&log.metadata_file));
                }
                let all: Vec<i64> = md.snapshots().map(|s| s.snapshot_id()).collect();
                self.reachable(md, &all, &mut out).await?;
            }
        }
        // Metadata files named by the commit log (exact time-travel schemas).
        let mut after = 0;
        loop {
            let page = self.commits(after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for c in page {
                if let Some(l) = c.metadata_location {
                    out.insert(normalize(&l));
                }
            }
        }
        // Releases, including those of tables dropped since.
        for r in self.releases().await? {
            for entry in self.release_tables(&r.name).await? {
                out.insert(normalize(&entry.metadata_location));
                if live_uuids.contains(&entry.table_uuid) {
                    continue;
                }
                if let Ok(t) = self
                    .table_at(&entry.ident(), &entry.metadata_location)
                    .await
                    && let Some(id) = entry.snapshot_id
                {
                    self.reachable(t.metadata(), &[id], &mut out).await?;
                }
            }
        }
        Ok((out, locations))
    }

    /// Finds (and unless `dry_run`, deletes) the files that nothing references in the
    /// `data/` and `metadata/` directories of the live tables, last modified before
    /// `older_than_ms` (and before the oldest write in flight). Returns them.
    ///
    /// Only live tables' own directories are looked at, as Iceberg's per-table orphan
    /// removal does: anything else under the warehouse — a user's own files, the files of
    /// a table dropped without PURGE (which `register_table` can still adopt whole) — is
    /// never touched.
    pub async fn remove_orphan_files(
        &self,
        older_than_ms: i64,
        dry_run: bool,
    ) -> Result<Vec<String>> {
        if !dry_run && self.is_read_only() {
            return Err(Error::ReadOnly("remove orphan files"));
        }
        // A REST client's files in flight are invisible here until its commit arrives;
        // only files older than any plausible write-to-commit interval may go.
        if self.inner.in_flight.has_remote()
            && older_than_ms > crate::in_flight::now_ms() - crate::in_flight::REMOTE_WRITER_GRACE_MS
        {
            return Err(Error::InvalidArgument(
                "the warehouse is served to remote writers (floe serve): they may have files in flight that no commit names yet, so remove_orphan_files needs older_than at least 1 hour ago".into(),
            ));
        }
        // Files younger than the oldest write in flight may be about to be named.
        let older_than_ms = match self.inner.in_flight.oldest_start_ms() {
            Some(start) => older_than_ms.min(start),
            None => older_than_ms,
        };
        let (referenced, locations) = self.referenced_files().await?;
        let roots: BTreeSet<String> = locations
            .iter()
            .flat_map(|l| [format!("{l}/data"), format!("{l}/metadata")])
            .collect();
        let mut orphans = BTreeSet::new();
        // Each table root is listed in the store that holds it: local directories, the
        // warehouse's bucket, or another bucket (a table on S3 in a local warehouse).
        // Names are compared with `s3a://`/`s3n://` read as `s3://`, so a table that
        // spells its files the Hadoop way never has them taken for orphans.
        let referenced_canon: BTreeSet<String> = referenced
            .iter()
            .map(|r| crate::storage::canonical_scheme(r).into_owned())
            .collect();
        for root in &roots {
            if crate::storage::is_local(root) {
                let mut stack = vec![crate::storage::local_path(root)];
                while let Some(dir) = stack.pop() {
                    let entries = match std::fs::read_dir(&dir) {
                        Ok(entries) => entries,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => {
                            return Err(Error::io("cannot list directory", dir.display(), e));
                        }
                    };
                    for entry in entries.flatten() {
                        let path = entry.path();
                        let Ok(meta) = entry.metadata() else { continue };
                        if meta.is_dir() {
                            stack.push(path);
                            continue;
                        }
                        let modified = meta
                            .modified()
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map(|d| d.as_millis() as i64)
                            .unwrap_or(i64::MAX);
                        let shown = path.display().to_string();
                        if modified < older_than_ms && !referenced.contains(&shown) {
                            orphans.insert(shown);
                        }
                    }
                }
            } else {
                let Some(store) = self.object_store_for(root)? else {
                    continue;
                };
                let canonical = crate::storage::canonical_scheme(root).into_owned();
                let (scheme, rest) = canonical.split_once("://").unwrap_or(("", &canonical));
                let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
                let prefix = object_store::path::Path::parse(path)
                    .map_err(|e| Error::Storage(format!("cannot list '{root}': {e}")))?;
                let mut listing = store.list(Some(&prefix));
                while let Some(meta) = listing.next().await {
                    let meta =
                        meta.map_err(|e| Error::Storage(format!("cannot list '{root}': {e}")))?;
                    let location = format!("{scheme}://{authority}/{}", meta.location);
                    if meta.last_modified.timestamp_millis() < older_than_ms
                        && !referenced_canon.contains(&location)
                    {
                        orphans.insert(location);
                    }
                }
            }
        }
        let orphans: Vec<String> = orphans.into_iter().collect();
        if !dry_run {
            for o in &orphans {
                let _ = self.file_io().delete(o).await;
            }
            for root in roots.iter().filter(|r| crate::storage::is_local(r)) {
                prune_empty_dirs(&crate::storage::local_path(root), true);
            }
        }
        Ok(orphans)
    }

    /// Deletes a dropped table's files: every file its snapshots reach and its metadata
    /// files — only those inside the table's location.
    pub(crate) async fn delete_table_files(&self, table: &Table) -> Result<usize> {
        let md = table.metadata();
        let mut files = HashSet::new();
        let all: Vec<i64> = md.snapshots().map(|s| s.snapshot_id()).collect();
        self.reachable(md, &all, &mut files).await?;
        for log in md.metadata_log() {
            files.insert(normalize(&log.metadata_file));
        }
        if let Some(l) = table.metadata_location() {
            files.insert(normalize(l));
        }
        let mut deleted = 0;
        for f in files {
            if crate::storage::is_within(&f, md.location())
                && self.file_io().delete(&f).await.is_ok()
            {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Verifies the warehouse without changing anything: every table's metadata parses,
    /// every snapshot's manifest list and manifests read, every data file the tables
    /// reference exists with its recorded size and lies inside the table or warehouse,
    /// and every release's metadata files read. Returns the problems found.
    pub async fn check(&self) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        let root = self.storage().root_location();
        let mut queue = self.namespaces(None)?;
        while let Some(ns) = queue.pop() {
            queue.extend(self.namespaces(Some(&ns))?);
            for ident in self.tables(&ns)? {
                let name = table_display(&ident);
                let table = match self.table(&ident).await {
                    Ok(t) => t,
                    Err(e) => {
                        let location = self
                            .table_record(&ident)
                            .map(|r| r.location.clone())
                            .unwrap_or_default();
                        problems.push(Problem::new(&name, &location, e.to_string()));
                        continue;
                    }
                };
                let md = table.metadata();
                let mut seen_manifests = HashSet::new();
                let mut seen_files = HashSet::new();
                for snapshot in md.snapshots() {
                    let list = match self.manifest_list(md, snapshot).await {
                        Ok(l) => l,
                        Err(e) => {
                            problems.push(Problem::new(
                                &name,
                                snapshot.manifest_list(),
                                e.to_string(),
                            ));
                            continue;
                        }
                    };
                    for mf in list.entries() {
                        if !seen_manifests.insert(mf.manifest_path.clone()) {
                            continue;
                        }
                        let manifest = match self.manifest(md, mf).await {
                            Ok(m) => m,
                            Err(e) => {
                                problems.push(Problem::new(
                                    &name,
                                    &mf.manifest_path,
                                    e.to_string(),
                                ));
                                continue;
                            }
                        };
                        for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                            let path = e.file_path().to_string();
                            if !seen_files.insert(path.clone()) {
                                continue;
                            }
                            let kind = match e.content_type() {
                                DataContentType::Data => "data file",
                                _ => "delete file",
                            };
                            if !crate::storage::is_within(&path, md.location())
                                && !crate::storage::is_within(&path, &root)
                            {
                                problems.push(Problem::new(
                                    &name,
                                    &path,
                                    format!(
                                        "{kind} is outside the table's location and the warehouse"
                                    ),
                                ));
                                continue;
                            }
                            if let Some(bad) = delete_file_problem(e.data_file()) {
                                problems.push(Problem::new(&name, &path, bad));
                            }
                            match self.file_io().new_input(&path)?.metadata().await {
                                Ok(meta) if meta.size != e.file_size_in_bytes() => {
                                    problems.push(Problem::new(
                                        &name,
                                        &path,
                                        format!(
                                            "file has {} bytes, the manifest says {}",
                                            meta.size,
                                            e.file_size_in_bytes()
                                        ),
                                    ))
                                }
                                Ok(_) => {}
                                Err(_) => problems.push(Problem::new(
                                    &name,
                                    &path,
                                    format!("{kind} is missing"),
                                )),
                            }
                        }
                    }
                }
            }
        }
        for r in self.releases().await? {
            for entry in self.release_tables(&r.name).await? {
                if let Err(e) = self
                    .table_at(&entry.ident(), &entry.metadata_location)
                    .await
                {
                    problems.push(Problem::new(
                        &format!("release {}", r.name),
                        &entry.metadata_location,
                        e.to_string(),
                    ));
                }
            }
        }
        Ok(problems)
    }

    /// Ref names (tags and branches) of a table.
    pub async fn table_refs(&self, ident: &TableIdent) -> Result<Vec<(String, SnapshotReference)>> {
        Ok(refs(self.table(ident).await?.metadata()))
    }

    /// Tables whose metadata a release references (for checks): (release, table, location).
    pub async fn release_locations(&self) -> Result<Vec<(String, String, String)>> {
        let mut out = Vec::new();
        for r in self.releases().await? {
            for e in self.release_tables(&r.name).await? {
                out.push((
                    r.name.clone(),
                    table_display(&e.ident()),
                    e.metadata_location,
                ));
            }
        }
        Ok(out)
    }

    /// The table a snapshot id belongs to, loaded (helper for procedures).
    pub async fn table_with_snapshot(&self, ident: &TableIdent, snapshot_id: i64) -> Result<Table> {
        let t = self.table(ident).await?;
        if t.metadata().snapshot_by_id(snapshot_id).is_none() {
            return Err(Error::UnknownSnapshot {
                table: table_display(ident),
                snapshot_id,
                available: "it is not (or no longer) a snapshot of the table".into(),
            });
        }
        Ok(t)
    }
}

/// Removes empty directories below `dir` (and `dir` unless `keep_root`).
fn prune_empty_dirs(dir: &Path, keep_root: bool) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                prune_empty_dirs(&e.path(), false);
            }
        }
    }
    if !keep_root {
        let _ = std::fs::remove_dir(dir);
    }
}

/// What makes a delete file's manifest entry unusable to a reader, if anything: a
/// deletion vector without its data file or blob range (or a range past the file's end),
/// an equality-delete file without equality ids, a format no reader applies.
fn delete_file_problem(f: &DataFile) -> Option<String> {
    match (f.content_type(), f.file_format()) {
        (DataContentType::Data, _) => None,
        (DataContentType::PositionDeletes, DataFileFormat::Puffin) => {
            if f.referenced_data_file().is_none() {
                return Some("deletion vector names no referenced data file".into());
            }
            match (f.content_offset(), f.content_size_in_bytes()) {
                (Some(offset), Some(size))
                    if offset >= 0
                        && size > 0
                        && offset + size <= f.file_size_in_bytes() as i64 =>
                {
                    None
                }
                (Some(offset), Some(size)) => Some(format!(
                    "deletion vector blob range {offset}+{size} lies outside the file's {} bytes",
                    f.file_size_in_bytes()
                )),
                _ => Some("deletion vector has no content_offset/content_size_in_bytes".into()),
            }
        }
        (DataContentType::PositionDeletes, DataFileFormat::Parquet) => None,
        (DataContentType::EqualityDeletes, DataFileFormat::Parquet) => f
            .equality_ids()
            .is_none_or(|ids| ids.is_empty())
            .then(|| "equality-delete file lists no equality field ids".into()),
        (_, format) => Some(format!(
            "delete file is in {format:?} format, which floe cannot apply"
        )),
    }
}

#[cfg(test)]
mod delete_file_tests {
    use super::*;
    use iceberg::spec::{DataFileBuilder, Struct};

    fn file(
        content: DataContentType,
        format: DataFileFormat,
        configure: impl FnOnce(&mut DataFileBuilder),
    ) -> DataFile {
        let mut b = DataFileBuilder::default();
        b.content(content)
            .file_path("/w/t/data/d".into())
            .file_format(format)
            .file_size_in_bytes(100)
            .record_count(1)
            .partition(Struct::empty())
            .partition_spec_id(0);
        configure(&mut b);
        b.build().unwrap()
    }

    #[test]
    fn check_names_what_makes_a_delete_file_unusable() {
        use DataContentType::*;
        use DataFileFormat::*;
        let none = |_: &mut DataFileBuilder| {};
        assert_eq!(delete_file_problem(&file(Data, Orc, none)), None);
        assert_eq!(
            delete_file_problem(&file(PositionDeletes, Parquet, none)),
            None
        );
        let dv = |offset: i64, size: i64| {
            file(PositionDeletes, Puffin, move |b| {
                b.referenced_data_file(Some("/w/t/data/x".into()))
                    .content_offset(Some(offset))
                    .content_size_in_bytes(Some(size));
            })
        };
        assert_eq!(delete_file_problem(&dv(4, 40)), None);
        assert!(
            delete_file_problem(&dv(90, 40))
                .unwrap()
                .contains("outside the file")
        );
        let unnamed = file(PositionDeletes, Puffin, none);
        assert!(
            delete_file_problem(&unnamed)
                .unwrap()
                .contains("referenced data file")
        );
        let no_ids = file(EqualityDeletes, Parquet, none);
        assert!(
            delete_file_problem(&no_ids)
                .unwrap()
                .contains("equality field ids")
        );
        let eq = file(EqualityDeletes, Parquet, |b| {
            b.equality_ids(Some(vec![1]));
        });
        assert_eq!(delete_file_problem(&eq), None);
        assert!(
            delete_file_problem(&file(PositionDeletes, Avro, none))
                .unwrap()
                .contains("Avro")
        );
    }
}
