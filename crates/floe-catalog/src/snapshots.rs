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
    ManifestFile, ManifestList, ManifestListWriter, ManifestWriterBuilder, Operation,
    PartitionSpecRef, Snapshot, SnapshotReference, SnapshotRetention, SnapshotSummaryCollector,
    Summary, TableMetadata, UNASSIGNED_SEQUENCE_NUMBER,
};
use iceberg::table::Table;
use iceberg::{TableRequirement, TableUpdate};

use crate::catalog::RedbCatalog;
use crate::error::{Error, Result};
use crate::ident::table_display;

/// Data manifests per snapshot above which a commit merges them (as Java's merge-append).
pub const MANIFEST_MERGE_THRESHOLD: usize = 100;

/// What a new snapshot changes relative to the current `main` snapshot.
#[derive(Debug, Default, Clone)]
pub struct SnapshotChange {
    /// Data files to add (written with the table's default partition spec).
    pub added: Vec<DataFile>,
    /// Paths of live data files to remove.
    pub removed: HashSet<String>,
    /// Remove every live data and delete file (INSERT OVERWRITE of the whole table).
    pub remove_all: bool,
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

impl RedbCatalog {
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
        let bytes = self.file_io().new_input(path)?.read().await?;
        let list = Arc::new(ManifestList::parse_with_version(
            &bytes,
            md.format_version(),
        )?);
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
        let version = md.format_version();
        if version == FormatVersion::V3 {
            return Err(Error::InvalidArgument(format!(
                "table '{ident}' uses Iceberg format version 3, which floe cannot write yet"
            )));
        }
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
                _ => builder.build_v2_data(),
            })
        };

        let mut summary = SnapshotSummaryCollector::default();
        let mut kept: Vec<ManifestFile> = Vec::new();
        let mut removed_records = 0u64;
        let mut removed_found = HashSet::new();
        if let Some(p) = &parent {
            let list = self.manifest_list(md, p).await?;
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
                        kept.push(mf.clone());
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
                    let seq = e.sequence_number().unwrap_or(mf.sequence_number);
                    let file_seq = e.file_sequence_number.or(Some(seq));
                    if change.remove_all || change.removed.contains(e.file_path()) {
                        summary.remove_file(e.data_file(), schema.clone(), spec.clone());
                        removed_records += e.record_count();
                        removed_found.insert(e.file_path().to_string());
                        w.add_delete_file(e.data_file().clone(), seq, file_seq)?;
                    } else {
                        w.add_existing_file(
                            e.data_file().clone(),
                            e.snapshot_id().unwrap_or(mf.added_snapshot_id),
                            seq,
                            file_seq,
                        )?;
                    }
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

        // Merge data manifests once there are too many (keeping delete manifests as they are).
        let data_manifests = kept
            .iter()
            .filter(|m| m.content == ManifestContentType::Data)
            .count();
        if data_manifests + usize::from(!change.added.is_empty()) > MANIFEST_MERGE_THRESHOLD {
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
                for mf in &group {
                    let manifest = self.manifest(md, mf).await?;
                    for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                        let seq = e.sequence_number().unwrap_or(mf.sequence_number);
                        w.add_existing_file(
                            e.data_file().clone(),
                            e.snapshot_id().unwrap_or(mf.added_snapshot_id),
                            seq,
                            e.file_sequence_number.or(Some(seq)),
                        )?;
                        any = true;
                    }
                }
                if any {
                    kept.push(w.write_manifest_file().await?);
                }
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
        let mut list = match version {
            FormatVersion::V1 => ManifestListWriter::v1(writer, snapshot_id, parent_id),
            _ => ManifestListWriter::v2(writer, snapshot_id, parent_id, sequence_number),
        };
        list.add_manifests(kept.into_iter())?;
        list.close().await?;

        let mut props = change.properties;
        props.extend(summary.build());
        add_totals(&mut props, parent.as_ref().map(|p| p.summary()));
        let removed_any = removed_records > 0 || !removed_found.is_empty() || change.remove_all;
        let operation = match (has_adds, removed_any) {
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
            })
            .build();
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
        })
    }
}
