//! Producing snapshots: the manifests, manifest list and table updates for an append, an
//! overwrite (data files replaced) or a delete. iceberg-rust's own producer is
//! crate-private and only appends, so floe writes snapshots itself, with public APIs.
//!
//! Guarantees:
//! * every manifest and the manifest list are written through the catalog's durable
//!   storage before the updates are returned, so a commit of those updates satisfies the
//!   commit protocol;
//! * the returned requirements pin the table (uuid) and the base snapshot of `main`, so a
//!   commit on a moved table fails as a conflict instead of losing the other change;
//! * removed files are recorded as `DELETED` manifest entries, as Iceberg readers expect;
//! * small data manifests are merged once a snapshot would carry more than
//!   [`MANIFEST_MERGE_THRESHOLD`] of them, so planning cost stays bounded as commits pile up.
//!
//! Parsed manifest lists and manifests are cached by path (files are immutable).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use iceberg::spec::{
    DataContentType, DataFile, FormatVersion, MAIN_BRANCH, Manifest, ManifestContentType,
    ManifestEntry, ManifestFile, ManifestList, ManifestListWriter, ManifestWriter,
    ManifestWriterBuilder, Operation, PartitionSpecRef, PrimitiveLiteral, Snapshot,
    SnapshotReference, SnapshotRetention, SnapshotSummaryCollector, Struct, Summary, TableMetadata,
    UNASSIGNED_SEQUENCE_NUMBER,
};
use iceberg::table::Table;
use iceberg::{TableRequirement, TableUpdate};

use crate::catalog::RedbCatalog;
use crate::error::{Error, Result};
use crate::ident::table_display;
use crate::storage;

/// Data manifests per snapshot above which a commit merges them (as Java's merge-append).
pub const MANIFEST_MERGE_THRESHOLD: usize = 100;

/// What a new snapshot changes relative to the current `main` snapshot.
#[derive(Debug, Default, Clone)]
pub struct SnapshotChange {
    /// Data files to add (written with the table's default partition spec).
    pub added: Vec<DataFile>,
    /// Paths of live data files to remove.
    pub removed: HashSet<String>,
    /// Position delete files to add (merge-on-read: Iceberg's row delta), each with the
    /// id of the partition spec of the data files it names (its partition tuple is in
    /// that spec).
    pub added_deletes: Vec<(i32, DataFile)>,
    /// Live delete files to remove, by path and (for a deletion vector, which shares its
    /// Puffin file with others) content offset: a format-v3 table keeps at most one
    /// deletion vector per data file, so a new one replaces the old.
    pub removed_deletes: HashSet<(String, Option<i64>)>,
    /// Remove every live data and delete file (INSERT OVERWRITE of the whole table).
    pub remove_all: bool,
    /// The change rewrites rows without changing them (compaction): Iceberg's `replace`.
    pub rewrite: bool,
    /// Merge every partition spec's data manifests into one (`rewrite_manifests`),
    /// however few there are.
    pub rewrite_manifests: bool,
    /// Extra summary properties.
    pub properties: HashMap<String, String>,
}

/// A produced (not yet committed) snapshot.
#[derive(Debug, Clone)]
pub struct ProducedSnapshot {
    /// The new snapshot's id.
    pub snapshot_id: i64,
    /// Checked at commit: same table, `main` still at the base snapshot.
    pub requirements: Vec<TableRequirement>,
    /// `AddSnapshot` + `SetSnapshotRef(main)`.
    pub updates: Vec<TableUpdate>,
    /// Rows in removed files (for DELETE/UPDATE row accounting).
    pub removed_records: u64,
    /// Data manifests merged into others, and the merged manifests written.
    pub manifests_rewritten: usize,
    /// See [`ProducedSnapshot::manifests_rewritten`].
    pub manifests_added: usize,
}

/// A live data file of a snapshot, with the manifest facts needed to rewrite it.
#[derive(Debug, Clone)]
pub struct LiveFile {
    /// The file.
    pub file: DataFile,
    /// Partition spec it was written with.
    pub spec_id: i32,
    /// Data sequence number.
    pub sequence_number: Option<i64>,
}

fn new_snapshot_id(md: &TableMetadata) -> i64 {
    loop {
        let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((a ^ b) as i64).wrapping_abs().max(1);
        if md.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

/// `new = previous + added - removed` for the summary totals, as Java and iceberg-rust do.
fn add_totals(props: &mut HashMap<String, String>, previous: Option<&Summary>) {
    const TOTALS: [(&str, &str, &str); 6] = [
        ("total-data-files", "added-data-files", "deleted-data-files"),
        (
            "total-delete-files",
            "added-delete-files",
            "removed-delete-files",
        ),
        ("total-records", "added-records", "deleted-records"),
        ("total-files-size", "added-files-size", "removed-files-size"),
        (
            "total-position-deletes",
            "added-position-deletes",
            "removed-position-deletes",
        ),
        (
            "total-equality-deletes",
            "added-equality-deletes",
            "removed-equality-deletes",
        ),
    ];
    let get = |m: &HashMap<String, String>, k: &str| -> u64 {
        m.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    for (total, added, removed) in TOTALS {
        let prev = match previous {
            Some(s) => match s.additional_properties.get(total) {
                Some(v) => v.parse::<u64>().unwrap_or(0),
                None => continue,
            },
            None => 0,
        };
        let value = (prev + get(props, added)).saturating_sub(get(props, removed));
        props.insert(total.to_string(), value.to_string());
    }
}

/// Reserved field id of a position-delete file's `file_path` column.
const DELETE_FILE_PATH_ID: i32 = 2147483546;

/// The data files a snapshot keeps, as far as deciding which delete files still apply.
struct RemainingData {
    /// Lowest data sequence number kept (`None`: no data file kept).
    min_sequence: Option<i64>,
    /// (spec id, partition) of every data file kept or added.
    partitions: HashSet<(i32, Struct)>,
    /// Spec ids without partition fields (their deletes apply in every partition).
    unpartitioned: HashSet<i32>,
    /// The removed data files, in one spelling ([`storage::location_key`]).
    removed: HashSet<String>,
}

impl RemainingData {
    /// Whether the live delete file of `entry` (in a manifest of sequence number
    /// `manifest_seq` written with `spec`) can apply to no data file left. Only what is
    /// known for certain counts: a delete file is dropped when every data file it could
    /// touch is older than it allows, is removed, or lies in a partition now empty.
    /// `added_seq` is the sequence number of data files this snapshot adds, if any.
    fn dangling(
        &self,
        entry: &ManifestEntry,
        manifest_seq: i64,
        spec: &PartitionSpecRef,
        added_seq: Option<i64>,
    ) -> bool {
        let f = entry.data_file();
        let seq = entry.sequence_number().unwrap_or(manifest_seq);
        // A position delete applies to data of sequence number <= its own, an equality
        // delete to data strictly below: below every kept file, it applies to none.
        let min = match (self.min_sequence, added_seq) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if min.is_none_or(|m| seq < m) {
            return true;
        }
        if f.content_type() != DataContentType::EqualityDeletes {
            // A deletion vector names its data file; a position-delete file whose
            // `file_path` bounds are equal holds positions of that one file.
            let referenced = f.referenced_data_file().or_else(|| {
                let lower = f.lower_bounds().get(&DELETE_FILE_PATH_ID)?;
                let upper = f.upper_bounds().get(&DELETE_FILE_PATH_ID)?;
                match (lower.literal(), upper.literal()) {
                    (PrimitiveLiteral::String(l), PrimitiveLiteral::String(u)) if l == u => {
                        Some(l.clone())
                    }
                    _ => None,
                }
            });
            if referenced.is_some_and(|r| self.removed.contains(&storage::location_key(&r))) {
                return true;
            }
        }
        !self.unpartitioned.contains(&spec.spec_id())
            && !self
                .partitions
                .contains(&(spec.spec_id(), f.partition().clone()))
    }
}

/// Writes a live entry of manifest `mf` into a rewrite of it: marked deleted when this
/// snapshot removes the file, else carried as existing with its sequence numbers.
fn carry_entry(
    w: &mut ManifestWriter,
    mf: &ManifestFile,
    e: &ManifestEntry,
    removed: bool,
) -> Result<()> {
    let seq = e.sequence_number().unwrap_or(mf.sequence_number);
    let file_seq = e.file_sequence_number.or(Some(seq));
    if removed {
        w.add_delete_file(e.data_file().clone(), seq, file_seq)?;
    } else {
        w.add_existing_file(
            e.data_file().clone(),
            e.snapshot_id().unwrap_or(mf.added_snapshot_id),
            seq,
            file_seq,
        )?;
    }
    Ok(())
}

impl RedbCatalog {
    /// What remains of the data files of `list` (the parent snapshot's manifests) once
    /// `change` removes and adds its files.
    async fn remaining_data(
        &self,
        md: &TableMetadata,
        list: &ManifestList,
        change: &SnapshotChange,
    ) -> Result<RemainingData> {
        let mut out = RemainingData {
            min_sequence: None,
            partitions: HashSet::new(),
            unpartitioned: md
                .partition_specs_iter()
                .filter(|s| s.is_unpartitioned())
                .map(|s| s.spec_id())
                .collect(),
            removed: change
                .removed
                .iter()
                .map(|p| storage::location_key(p))
                .collect(),
        };
        for mf in list.entries() {
            if mf.content != ManifestContentType::Data {
                continue;
            }
            let manifest = self.manifest(md, mf).await?;
            for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                if change.removed.contains(e.file_path()) {
                    continue;
                }
                let seq = e.sequence_number().unwrap_or(mf.sequence_number);
                out.min_sequence = Some(out.min_sequence.map_or(seq, |m| m.min(seq)));
                out.partitions
                    .insert((mf.partition_spec_id, e.data_file().partition().clone()));
            }
        }
        let spec_id = md.default_partition_spec_id();
        for f in &change.added {
            out.partitions.insert((spec_id, f.partition().clone()));
        }
        Ok(out)
    }

    /// The manifest list of a snapshot, cached by path.
    pub async fn manifest_list(
        &self,
        md: &TableMetadata,
        snapshot: &Snapshot,
    ) -> Result<Arc<ManifestList>> {
        let path = snapshot.manifest_list();
        if let Some(hit) = self.inner.manifest_lists.get(path) {
            return Ok(hit);
        }
        let list = match crate::manifest_read::inline_manifests(path) {
            Some(manifests) => Arc::new(
                crate::manifest_read::inline_manifest_list(
                    self.file_io(),
                    snapshot.snapshot_id(),
                    &manifests,
                )
                .await?,
            ),
            None => {
                let bytes = self.file_io().new_input(path)?.read().await?;
                Arc::new(crate::manifest_read::parse_manifest_list(&bytes, md)?)
            }
        };
        self.inner
            .manifest_lists
            .insert(path.to_string(), list.clone());
        Ok(list)
    }

    /// A manifest of a snapshot of `md`, cached by path (with inherited sequence numbers
    /// filled in). Manifests whose header lacks the schema or partition spec (Hive,
    /// Impala) take them from `md`, as Iceberg Java does.
    pub async fn manifest(&self, md: &TableMetadata, file: &ManifestFile) -> Result<Arc<Manifest>> {
        if let Some(hit) = self.inner.manifests.get(&file.manifest_path) {
            return Ok(hit);
        }
        if file.key_metadata.is_some() {
            return Err(Error::InvalidArgument(format!(
                "manifest '{}' is encrypted, which floe cannot read",
                file.manifest_path
            )));
        }
        let bytes = self
            .file_io()
            .new_input(&file.manifest_path)?
            .read()
            .await?;
        let manifest = Arc::new(crate::manifest_read::parse_manifest(&bytes, md, file)?);
        self.inner
            .manifests
            .insert(file.manifest_path.clone(), manifest.clone());
        Ok(manifest)
    }

    /// Every live data file of a snapshot, and every live delete file (position deletes,
    /// deletion vectors, equality deletes), each with its spec and data sequence number.
    pub async fn live_files(
        &self,
        md: &TableMetadata,
        snapshot: &Snapshot,
    ) -> Result<(Vec<LiveFile>, Vec<LiveFile>)> {
        let list = self.manifest_list(md, snapshot).await?;
        let manifests =
            futures::future::try_join_all(list.entries().iter().map(|mf| self.manifest(md, mf)))
                .await?;
        let mut files = Vec::new();
        let mut deletes = Vec::new();
        for (mf, manifest) in list.entries().iter().zip(manifests) {
            for entry in manifest.entries() {
                if !entry.is_alive() {
                    continue;
                }
                let live = LiveFile {
                    file: entry.data_file().clone(),
                    spec_id: mf.partition_spec_id,
                    sequence_number: entry.sequence_number(),
                };
                if mf.content == ManifestContentType::Deletes
                    || entry.content_type() != DataContentType::Data
                {
                    deletes.push(live);
                } else {
                    files.push(live);
                }
            }
        }
        Ok((files, deletes))
    }

    /// Writes the manifests and manifest list of a new `main` snapshot of `table` applying
    /// `change`, and returns the updates to commit. Nothing is visible until they are
    /// committed (directly or as part of a release).
    pub async fn produce_snapshot(
        &self,
        table: &Table,
        change: SnapshotChange,
    ) -> Result<ProducedSnapshot> {
        let md = table.metadata();
        let ident = table_display(table.identifier());
        if let Some(column) = crate::variant::variant_column(md.current_schema()) {
            return Err(Error::InvalidArgument(format!(
                "table '{ident}' has the VARIANT column '{column}': floe reads VARIANT values as JSON text but cannot write to such a table"
            )));
        }
        let version = md.format_version();
        let io = self.file_io();
        let schema = md.current_schema().clone();
        let snapshot_id = new_snapshot_id(md);
        let sequence_number = md.next_sequence_number();
        let parent = md.current_snapshot().cloned();
        let commit_uuid = uuid::Uuid::now_v7();
        let mut manifest_n = 0;
        let mut next_manifest_path = || {
            manifest_n += 1;
            format!(
                "{}/metadata/{commit_uuid}-m{}.avro",
                md.location(),
                manifest_n - 1
            )
        };
        let spec_for = |spec_id: i32| -> Result<PartitionSpecRef> {
            md.partition_spec_by_id(spec_id).cloned().ok_or_else(|| {
                Error::InvalidArgument(format!("table '{ident}' has no partition spec {spec_id}"))
            })
        };
        let new_writer = |path: String, spec: &PartitionSpecRef| -> Result<_> {
            let builder = ManifestWriterBuilder::new(
                io.new_output(&path)?,
                Some(snapshot_id),
                schema.clone(),
                (**spec).clone(),
            );
            Ok(match version {
                FormatVersion::V1 => builder.build_v1(),
                FormatVersion::V2 => builder.build_v2_data(),
                FormatVersion::V3 => builder.build_v3_data(),
            })
        };

        let mut summary = SnapshotSummaryCollector::default();
        let mut kept: Vec<ManifestFile> = Vec::new();
        let mut removed_records = 0u64;
        let mut removed_found = HashSet::new();
        let mut delete_manifests: Vec<ManifestFile> = Vec::new();
        let parent_list = match &parent {
            Some(p) => Some(self.manifest_list(md, p).await?),
            None => None,
        };
        if let Some(list) = &parent_list {
            for mf in list.entries() {
                if mf.content == ManifestContentType::Deletes {
                    if change.remove_all {
                        let manifest = self.manifest(md, mf).await?;
                        for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                            summary.remove_file(
                                e.data_file(),
                                schema.clone(),
                                spec_for(mf.partition_spec_id)?,
                            );
                        }
                    } else {
                        delete_manifests.push(mf.clone());
                    }
                    continue;
                }
                // A pure append keeps every data manifest as it is, unread.
                if !change.remove_all && change.removed.is_empty() {
                    kept.push(mf.clone());
                    continue;
                }
                let manifest = self.manifest(md, mf).await?;
                let touches = change.remove_all
                    || manifest
                        .entries()
                        .iter()
                        .any(|e| e.is_alive() && change.removed.contains(e.file_path()));
                if !touches {
                    kept.push(mf.clone());
                    continue;
                }
                let spec = spec_for(mf.partition_spec_id)?;
                let mut w = new_writer(next_manifest_path(), &spec)?;
                for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                    let gone = change.remove_all || change.removed.contains(e.file_path());
                    if gone {
                        summary.remove_file(e.data_file(), schema.clone(), spec.clone());
                        removed_records += e.record_count();
                        removed_found.insert(e.file_path().to_string());
                    }
                    carry_entry(&mut w, mf, e, gone)?;
                }
                kept.push(w.write_manifest_file().await?);
            }
        }
        if !change.remove_all
            && let Some(missing) = change.removed.iter().find(|p| !removed_found.contains(*p))
        {
            return Err(Error::Conflict {
                tables: vec![ident],
                detail: format!("data file '{missing}' is no longer part of the table"),
            });
        }

        // Delete files that can no longer apply to any data file (every file they could
        // apply to is removed here) go in the same snapshot, as Iceberg Java drops them.
        if let (Some(list), false) = (&parent_list, delete_manifests.is_empty()) {
            if change.removed.is_empty() && change.removed_deletes.is_empty() {
                kept.append(&mut delete_manifests);
            } else {
                let remaining = self.remaining_data(md, list, &change).await?;
                let mut removed_deletes_found = 0;
                let new_seq = (!change.added.is_empty()).then_some(sequence_number);
                for mf in delete_manifests {
                    let manifest = self.manifest(md, &mf).await?;
                    let spec = spec_for(mf.partition_spec_id)?;
                    let dangling: Vec<bool> = manifest
                        .entries()
                        .iter()
                        .map(|e| {
                            let named = e.is_alive()
                                && change.removed_deletes.contains(&(
                                    e.file_path().to_string(),
                                    e.data_file().content_offset(),
                                ));
                            removed_deletes_found += usize::from(named);
                            e.is_alive()
                                && (named
                                    || remaining.dangling(e, mf.sequence_number, &spec, new_seq))
                        })
                        .collect();
                    if !dangling.contains(&true) {
                        kept.push(mf);
                        continue;
                    }
                    let builder = ManifestWriterBuilder::new(
                        io.new_output(next_manifest_path())?,
                        Some(snapshot_id),
                        schema.clone(),
                        (*spec).clone(),
                    );
                    let mut w = match version {
                        FormatVersion::V3 => builder.build_v3_deletes(),
                        _ => builder.build_v2_deletes(),
                    };
                    for (e, gone) in manifest.entries().iter().zip(dangling) {
                        if !e.is_alive() {
                            continue;
                        }
                        if gone {
                            summary.remove_file(e.data_file(), schema.clone(), spec.clone());
                        }
                        carry_entry(&mut w, &mf, e, gone)?;
                    }
                    // Listed even when every entry is a removal, as for data manifests: the
                    // snapshot records what it removed.
                    kept.push(w.write_manifest_file().await?);
                }
                if removed_deletes_found < change.removed_deletes.len() {
                    return Err(Error::Conflict {
                        tables: vec![ident],
                        detail: "a delete file it replaces is no longer part of the table".into(),
                    });
                }
            }
        } else if !change.removed_deletes.is_empty() {
            return Err(Error::Conflict {
                tables: vec![ident],
                detail: "a delete file it replaces is no longer part of the table".into(),
            });
        }

        // Merge data manifests once there are too many (keeping delete manifests as they are).
        let data_manifests = kept
            .iter()
            .filter(|m| m.content == ManifestContentType::Data)
            .count();
        let mut manifests_rewritten = 0;
        let mut manifests_added = 0;
        if change.rewrite_manifests
            || data_manifests + usize::from(!change.added.is_empty()) > MANIFEST_MERGE_THRESHOLD
        {
            // Manifests rewritten above are read back below: finish writing them first.
            crate::storage::flush_pending()
                .await
                .map_err(|e| Error::io("cannot make manifests durable", md.location(), e))?;
            let mut by_spec: HashMap<i32, Vec<ManifestFile>> = HashMap::new();
            let mut others = Vec::new();
            for m in kept.drain(..) {
                if m.content == ManifestContentType::Data {
                    by_spec.entry(m.partition_spec_id).or_default().push(m);
                } else {
                    others.push(m);
                }
            }
            kept = others;
            let mut specs: Vec<_> = by_spec.into_iter().collect();
            specs.sort_by_key(|(id, _)| *id);
            for (spec_id, group) in specs {
                if group.len() == 1 {
                    kept.extend(group);
                    continue;
                }
                let spec = spec_for(spec_id)?;
                let mut w = new_writer(next_manifest_path(), &spec)?;
                let mut any = false;
                manifests_rewritten += group.len();
                for mf in &group {
                    let manifest = self.manifest(md, mf).await?;
                    for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                        carry_entry(&mut w, mf, e, false)?;
                        any = true;
                    }
                }
                if any {
                    kept.push(w.write_manifest_file().await?);
                    manifests_added += 1;
                }
            }
        }

        let has_delete_adds = !change.added_deletes.is_empty();
        if has_delete_adds {
            if version == FormatVersion::V1 {
                return Err(Error::InvalidArgument(format!(
                    "table '{ident}' uses Iceberg format version 1, which has no delete files; merge-on-read needs format-version 2"
                )));
            }
            let mut by_spec: HashMap<i32, Vec<DataFile>> = HashMap::new();
            for (spec_id, f) in change.added_deletes {
                by_spec.entry(spec_id).or_default().push(f);
            }
            let mut specs: Vec<_> = by_spec.into_iter().collect();
            specs.sort_by_key(|(id, _)| *id);
            for (spec_id, files) in specs {
                let spec = spec_for(spec_id)?;
                let builder = ManifestWriterBuilder::new(
                    io.new_output(next_manifest_path())?,
                    Some(snapshot_id),
                    schema.clone(),
                    (*spec).clone(),
                );
                let mut w = match version {
                    FormatVersion::V3 => builder.build_v3_deletes(),
                    _ => builder.build_v2_deletes(),
                };
                for f in files {
                    summary.add_file(&f, schema.clone(), spec.clone());
                    w.add_file(f, UNASSIGNED_SEQUENCE_NUMBER)?;
                }
                kept.push(w.write_manifest_file().await?);
            }
        }
        let has_adds = !change.added.is_empty();
        if has_adds {
            let spec = md.default_partition_spec().clone();
            let mut w = new_writer(next_manifest_path(), &spec)?;
            for f in change.added {
                summary.add_file(&f, schema.clone(), spec.clone());
                w.add_file(f, UNASSIGNED_SEQUENCE_NUMBER)?;
            }
            kept.push(w.write_manifest_file().await?);
        }

        let list_path = format!(
            "{}/metadata/snap-{snapshot_id}-1-{commit_uuid}.avro",
            md.location()
        );
        let writer = io.new_output(&list_path)?.writer().await?;
        let parent_id = parent.as_ref().map(|p| p.snapshot_id());
        // Format v3 (row lineage): new data manifests get first row ids from the table's
        // next row id on, and the snapshot records the range it assigned. Entries carried
        // into a rewritten manifest get new ids with it (their ids are not preserved).
        let first_row_id = md.next_row_id();
        let mut list = match version {
            FormatVersion::V1 => ManifestListWriter::v1(writer, snapshot_id, parent_id),
            FormatVersion::V2 => {
                ManifestListWriter::v2(writer, snapshot_id, parent_id, sequence_number)
            }
            FormatVersion::V3 => ManifestListWriter::v3(
                writer,
                snapshot_id,
                parent_id,
                sequence_number,
                Some(first_row_id),
            ),
        };
        list.add_manifests(kept.into_iter())?;
        let added_rows = list
            .next_row_id()
            .map(|next| next.saturating_sub(first_row_id));
        list.close().await?;

        let mut props = change.properties;
        props.extend(summary.build());
        add_totals(&mut props, parent.as_ref().map(|p| p.summary()));
        let removed_any = removed_records > 0 || !removed_found.is_empty() || change.remove_all;
        // As Iceberg Java names them: a row delta that only adds deletes is a `delete`,
        // one that also adds rows an `overwrite`.
        let operation = match (has_adds, removed_any || has_delete_adds) {
            _ if change.rewrite || change.rewrite_manifests => Operation::Replace,
            (true, false) => Operation::Append,
            (true, true) => Operation::Overwrite,
            (false, true) => Operation::Delete,
            (false, false) => Operation::Append,
        };
        let snapshot = Snapshot::builder()
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(parent_id)
            .with_sequence_number(sequence_number)
            .with_timestamp_ms(
                chrono::Utc::now()
                    .timestamp_millis()
                    .max(md.last_updated_ms()),
            )
            .with_manifest_list(list_path)
            .with_schema_id(md.current_schema_id())
            .with_summary(Summary {
                operation,
                additional_properties: props,
            });
        let snapshot = match (version, added_rows) {
            (FormatVersion::V3, Some(added)) => {
                snapshot.with_row_range(first_row_id, added).build()
            }
            _ => snapshot.build(),
        };
        Ok(ProducedSnapshot {
            snapshot_id,
            requirements: vec![
                TableRequirement::UuidMatch { uuid: md.uuid() },
                TableRequirement::RefSnapshotIdMatch {
                    r#ref: MAIN_BRANCH.to_string(),
                    snapshot_id: parent_id,
                },
            ],
            updates: vec![
                TableUpdate::AddSnapshot { snapshot },
                TableUpdate::SetSnapshotRef {
                    ref_name: MAIN_BRANCH.to_string(),
                    reference: SnapshotReference::new(
                        snapshot_id,
                        SnapshotRetention::branch(None, None, None),
                    ),
                },
            ],
            removed_records,
            manifests_rewritten,
            manifests_added,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{
        DataFileBuilder, DataFileFormat, Datum, Literal, ManifestStatus, NestedField,
        PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec,
    };

    fn delete(
        content: DataContentType,
        seq: i64,
        partition: Option<i32>,
        referenced: Option<&str>,
        path_bounds: Option<&str>,
    ) -> ManifestEntry {
        let mut b = DataFileBuilder::default();
        b.content(content)
            .file_path(format!("/w/t/data/delete-{seq}.parquet"))
            .file_format(DataFileFormat::Parquet)
            .file_size_in_bytes(10)
            .record_count(1)
            .partition_spec_id(0)
            .partition(match partition {
                Some(p) => Struct::from_iter([Some(Literal::int(p))]),
                None => Struct::empty(),
            })
            .referenced_data_file(referenced.map(str::to_string));
        if content == DataContentType::EqualityDeletes {
            b.equality_ids(Some(vec![1]));
        }
        if let Some(p) = path_bounds {
            b.lower_bounds(HashMap::from([(DELETE_FILE_PATH_ID, Datum::string(p))]));
            b.upper_bounds(HashMap::from([(DELETE_FILE_PATH_ID, Datum::string(p))]));
        }
        ManifestEntry::builder()
            .status(ManifestStatus::Existing)
            .snapshot_id(1)
            .sequence_number(seq)
            .file_sequence_number(seq)
            .data_file(b.build().unwrap())
            .build()
    }

    fn spec(partitioned: bool) -> PartitionSpecRef {
        let schema = Schema::builder()
            .with_fields(vec![Arc::new(NestedField::required(
                1,
                "p",
                Type::Primitive(PrimitiveType::Int),
            ))])
            .build()
            .unwrap();
        let mut b = UnboundPartitionSpec::builder().with_spec_id(0);
        if partitioned {
            b = b.add_partition_field(1, "p", Transform::Identity).unwrap();
        }
        Arc::new(b.build().bind(schema).unwrap())
    }

    fn remaining(min: Option<i64>, partitions: &[i32], unpartitioned: bool) -> RemainingData {
        RemainingData {
            min_sequence: min,
            partitions: partitions
                .iter()
                .map(|p| (0, Struct::from_iter([Some(Literal::int(*p))])))
                .collect(),
            unpartitioned: if unpartitioned {
                HashSet::from([0])
            } else {
                HashSet::new()
            },
            removed: HashSet::from(["/w/t/data/gone.parquet".to_string()]),
        }
    }

    #[test]
    fn deletes_older_than_every_kept_data_file_are_dangling() {
        let flat = spec(false);
        let r = remaining(Some(5), &[], true);
        let pos = |seq| delete(DataContentType::PositionDeletes, seq, None, None, None);
        let eq = |seq| delete(DataContentType::EqualityDeletes, seq, None, None, None);
        assert!(r.dangling(&pos(4), 0, &flat, None));
        assert!(
            !r.dangling(&pos(5), 0, &flat, None),
            "applies to data at its own sequence"
        );
        assert!(r.dangling(&eq(4), 0, &flat, None));
        assert!(!r.dangling(&eq(6), 0, &flat, None));
        // Files this snapshot adds are newer than every delete: they keep none alive.
        assert!(!r.dangling(&pos(7), 0, &flat, Some(9)));
        let none = remaining(None, &[], true);
        assert!(
            none.dangling(&pos(7), 0, &flat, Some(9)),
            "no old data file left"
        );
    }

    #[test]
    fn deletes_naming_a_removed_data_file_are_dangling_in_any_spelling() {
        let flat = spec(false);
        let r = remaining(Some(1), &[], true);
        let dv = |path: &str| delete(DataContentType::PositionDeletes, 3, None, Some(path), None);
        assert!(r.dangling(&dv("/w/t/data/gone.parquet"), 0, &flat, None));
        assert!(r.dangling(&dv("file:///w/t/data/gone.parquet"), 0, &flat, None));
        assert!(!r.dangling(&dv("/w/t/data/kept.parquet"), 0, &flat, None));
        let bounded =
            |path: &str| delete(DataContentType::PositionDeletes, 3, None, None, Some(path));
        assert!(r.dangling(&bounded("file:/w/t/data/gone.parquet"), 0, &flat, None));
        assert!(!r.dangling(&bounded("/w/t/data/kept.parquet"), 0, &flat, None));
        // Equality deletes name no file, whatever their bounds say.
        let eq = delete(
            DataContentType::EqualityDeletes,
            3,
            None,
            None,
            Some("/w/t/data/gone.parquet"),
        );
        assert!(!r.dangling(&eq, 0, &flat, None));
    }

    #[test]
    fn partitioned_deletes_of_an_emptied_partition_are_dangling() {
        let by_p = spec(true);
        let r = remaining(Some(1), &[1], false);
        for content in [
            DataContentType::PositionDeletes,
            DataContentType::EqualityDeletes,
        ] {
            assert!(!r.dangling(&delete(content, 3, Some(1), None, None), 0, &by_p, None));
            assert!(r.dangling(&delete(content, 3, Some(2), None, None), 0, &by_p, None));
        }
        // A delete of an unpartitioned spec applies in every partition.
        let global = remaining(Some(1), &[1], true);
        let flat = spec(false);
        let d = delete(DataContentType::EqualityDeletes, 3, None, None, None);
        assert!(!global.dangling(&d, 0, &flat, None));
    }
}
