//! Time-travel resolution: which snapshot, and which metadata (hence which schema), a
//! `FOR VERSION AS OF` / `FOR TIMESTAMP AS OF` clause means.
//!
//! Nothing here scans history linearly: snapshot ids are a hash lookup in the current
//! metadata plus a keyed lookup in the commit log's `(table uuid, snapshot id)` index;
//! timestamps are a binary search of the snapshot log; refs are a hash lookup and then a
//! keyed release lookup.

use std::sync::Arc;

use iceberg::TableIdent;
use iceberg::spec::{SchemaRef, TableMetadata};
use iceberg::table::Table;

use crate::catalog::{RedbCatalog, blocking};
use crate::error::{Error, Result};
use crate::ident::table_display;

/// How a version was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSource {
    /// A snapshot id.
    Snapshot,
    /// A point in time.
    Timestamp,
    /// A branch or tag of the table.
    TableRef,
    /// A catalog release (its name).
    Release(String),
}

/// A table as of some version.
#[derive(Debug, Clone)]
pub struct TableVersion {
    /// The table, with the metadata that was current when the version was made (its
    /// current schema is the historical one). Do not read its current snapshot: use
    /// `snapshot_id`.
    pub table: Table,
    /// The snapshot to read (`None`: the table was empty at that version).
    pub snapshot_id: Option<i64>,
    /// Schema to read the snapshot with.
    pub schema: SchemaRef,
    /// How the version was named.
    pub source: VersionSource,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// "newest snapshots: 3, 2, 1" (at most five) or "it has no snapshots".
fn available_snapshots(meta: &TableMetadata) -> String {
    let mut snaps: Vec<_> = meta.snapshots().collect();
    if snaps.is_empty() {
        return "it has no snapshots".into();
    }
    snaps.sort_by_key(|s| std::cmp::Reverse((s.timestamp_ms(), s.sequence_number())));
    let ids: Vec<String> = snaps
        .iter()
        .take(5)
        .map(|s| s.snapshot_id().to_string())
        .collect();
    format!(
        "{} available: {}{}",
        if snaps.len() == 1 {
            "the only snapshot"
        } else {
            "newest snapshots"
        },
        ids.join(", "),
        if snaps.len() > 5 { ", ..." } else { "" }
    )
}

/// The schema a snapshot was written with, as known to `meta`.
fn schema_for(meta: &TableMetadata, snapshot_id: Option<i64>) -> SchemaRef {
    snapshot_id
        .and_then(|id| meta.snapshot_by_id(id))
        .and_then(|s| s.schema_id())
        .and_then(|sid| meta.schema_by_id(sid))
        .cloned()
        .unwrap_or_else(|| meta.current_schema().clone())
}

impl RedbCatalog {
    /// The table as of snapshot `snapshot_id`: the metadata that was current when that
    /// snapshot was committed (so the schema is the historical one). Falls back to the
    /// current metadata and the snapshot's recorded schema id when floe did not commit
    /// the snapshot itself (registered tables) or the old metadata file is gone.
    pub async fn metadata_at_snapshot(
        &self,
        ident: &TableIdent,
        snapshot_id: i64,
    ) -> Result<TableVersion> {
        let current = self.table(ident).await?;
        self.version_of(ident, &current, snapshot_id, VersionSource::Snapshot)
            .await
    }

    async fn version_of(
        &self,
        ident: &TableIdent,
        current: &Table,
        snapshot_id: i64,
        source: VersionSource,
    ) -> Result<TableVersion> {
        let meta = current.metadata();
        if meta.snapshot_by_id(snapshot_id).is_none() {
            return Err(Error::UnknownSnapshot {
                table: table_display(ident),
                snapshot_id,
                available: available_snapshots(meta),
            });
        }
        let uuid = meta.uuid().to_string();
        let commit = blocking(&self.inner.store, move |s| {
            s.snapshot_commit(&uuid, snapshot_id)
        })
        .await?;
        if let Some(location) = commit.and_then(|c| c.metadata_location)
            && let Ok(table) = self.table_at(ident, &location).await
            && table.metadata().snapshot_by_id(snapshot_id).is_some()
        {
            let schema = schema_for(table.metadata(), Some(snapshot_id));
            return Ok(TableVersion {
                table,
                snapshot_id: Some(snapshot_id),
                schema,
                source,
            });
        }
        Ok(TableVersion {
            table: current.clone(),
            snapshot_id: Some(snapshot_id),
            schema: schema_for(meta, Some(snapshot_id)),
            source,
        })
    }

    /// The table as it was at `timestamp_ms`: the snapshot that was current on `main`
    /// then (the newest snapshot-log entry at or before the time).
    pub async fn snapshot_as_of(
        &self,
        ident: &TableIdent,
        timestamp_ms: i64,
    ) -> Result<TableVersion> {
        let current = self.table(ident).await?;
        let meta = current.metadata();
        let log = meta.history();
        let idx = log.partition_point(|e| e.timestamp_ms <= timestamp_ms);
        if idx == 0 {
            return Err(Error::BeforeFirstSnapshot {
                table: table_display(ident),
                requested: rfc3339(timestamp_ms),
                first: log
                    .first()
                    .map(|e| rfc3339(e.timestamp_ms))
                    .unwrap_or_else(|| "never: the table has no snapshots".into()),
            });
        }
        let snapshot_id = log[idx - 1].snapshot_id;
        self.version_of(ident, &current, snapshot_id, VersionSource::Timestamp)
            .await
    }

    /// Resolves a name: the table's own tag or branch first, then a catalog release.
    pub async fn resolve_ref(&self, ident: &TableIdent, name: &str) -> Result<TableVersion> {
        let current = self.table(ident).await?;
        if let Some(snapshot) = current.metadata().snapshot_for_ref(name) {
            let id = snapshot.snapshot_id();
            return self
                .version_of(ident, &current, id, VersionSource::TableRef)
                .await;
        }
        let n = name.to_string();
        let Some(release) = blocking(&self.inner.store, move |s| s.release(&n)).await? else {
            return Err(Error::UnknownRef {
                table: table_display(ident),
                name: name.to_string(),
            });
        };
        let uuid = current.metadata().uuid().to_string();
        let id = release.id;
        let entry = blocking(&self.inner.store, move |s| s.release_table(id, &uuid))
            .await?
            .ok_or_else(|| Error::NotInRelease {
                table: table_display(ident),
                release: name.to_string(),
            })?;
        let table = self.table_at(ident, &entry.metadata_location).await?;
        let schema = schema_for(table.metadata(), entry.snapshot_id);
        Ok(TableVersion {
            table,
            snapshot_id: entry.snapshot_id,
            schema,
            source: VersionSource::Release(release.name),
        })
    }

    /// The current version (for symmetry with the resolvers above).
    pub async fn current_version(&self, ident: &TableIdent) -> Result<TableVersion> {
        let table = self.table(ident).await?;
        let snapshot_id = table.metadata().current_snapshot_id();
        let schema: SchemaRef = Arc::clone(table.metadata().current_schema());
        Ok(TableVersion {
            table,
            snapshot_id,
            schema,
            source: VersionSource::Snapshot,
        })
    }
}
