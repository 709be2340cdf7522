//! Releases: named, immutable, catalog-wide records of a set of tables' heads, published
//! in one redb transaction so that all tables advance or none do.

use std::str::FromStr;
use std::sync::Arc;

use futures::future::try_join_all;
use iceberg::spec::{SnapshotReference, SnapshotRetention, TableMetadata};
use iceberg::table::Table;
use iceberg::{MetadataLocation, TableIdent, TableRequirement, TableUpdate};

use crate::catalog::{RedbCatalog, added_snapshots, blocking};
use crate::error::{Error, Result};
use crate::ident::{table_display, validate_name};
use crate::store::{
    Move, NewRelease, ReleaseKind, ReleaseRecord, ReleaseScope, ReleaseTable, TableRecord,
};

/// Changes to one table, prepared against a base version and not yet visible to anyone.
#[derive(Debug, Clone)]
pub struct StagedCommit {
    /// The table.
    pub ident: TableIdent,
    /// Metadata file the changes were made against; publishing fails if the table moved.
    pub base_location: String,
    /// Checked against the base metadata.
    pub requirements: Vec<TableRequirement>,
    /// Applied, in order, to the base metadata.
    pub updates: Vec<TableUpdate>,
}

/// What a publish did.
#[derive(Debug, Clone)]
pub struct Published {
    /// The release record, when the publish was named.
    pub release: Option<ReleaseRecord>,
    /// Every staged table at its new version.
    pub tables: Vec<Table>,
}

impl RedbCatalog {
    /// Publishes staged changes to several tables atomically: all new metadata files are
    /// written durably (concurrently), then ONE redb transaction checks every base and
    /// moves every pointer. If any base moved, nothing is published and the conflict
    /// error names every such table. With a `name`, the new heads are recorded as a
    /// release.
    pub async fn publish_release(
        &self,
        name: Option<&str>,
        message: Option<&str>,
        commits: Vec<StagedCommit>,
    ) -> Result<Published> {
        if self.is_read_only() {
            return Err(Error::ReadOnly("publish a release"));
        }
        if let Some(n) = name {
            validate_name("release", n)?;
            let n = n.to_string();
            if blocking(&self.inner.store, move |s| s.release(&n))
                .await?
                .is_some()
            {
                return Err(Error::ReleaseExists(name.unwrap_or_default().to_string()));
            }
        }
        // Fail before writing anything when a base already moved.
        let moved: Vec<String> = commits
            .iter()
            .filter(|c| {
                self.table_record(&c.ident)
                    .map(|r| r.location != c.base_location)
                    .unwrap_or(false)
            })
            .map(|c| table_display(&c.ident))
            .collect();
        if !moved.is_empty() {
            return Err(Error::Conflict {
                detail: format!(
                    "{} changed since this transaction read {}; nothing was published",
                    if moved.len() == 1 { "it" } else { "they" },
                    if moved.len() == 1 { "it" } else { "them" }
                ),
                tables: moved,
            });
        }
        let prepared = try_join_all(commits.into_iter().map(|c| self.prepare(c))).await?;
        let scope: Vec<TableIdent> = prepared.iter().map(|p| p.0.clone()).collect();
        let moves: Vec<Move> = prepared.iter().map(|p| p.2.clone()).collect();
        let release = name.map(|n| NewRelease {
            name: n.to_string(),
            message: message.map(str::to_string),
            kind: ReleaseKind::Publish,
            scope: ReleaseScope::Listed(scope),
        });
        let applied = blocking(&self.inner.store, move |s| {
            s.apply(&moves, release.as_ref())
        })
        .await?;
        let mut tables = Vec::with_capacity(prepared.len());
        for (ident, table, _) in prepared {
            self.inner.tables.insert(
                table.metadata_location().unwrap_or_default().to_string(),
                table.clone(),
            );
            debug_assert_eq!(table.identifier(), &ident);
            tables.push(table);
        }
        Ok(Published {
            release: applied.release,
            tables,
        })
    }

    /// Applies one staged commit to its base and writes the resulting metadata durably.
    async fn prepare(&self, c: StagedCommit) -> Result<(TableIdent, Table, Move)> {
        let base = self.table_at(&c.ident, &c.base_location).await?;
        let (metadata, location) =
            Self::apply_updates(&c.ident, &base, &c.requirements, c.updates)?;
        metadata
            .write_to(self.file_io(), &MetadataLocation::from_str(&location)?)
            .await?;
        let mv = Move::Update {
            ident: c.ident.clone(),
            expected: c.base_location,
            record: TableRecord {
                location: location.clone(),
                uuid: metadata.uuid().to_string(),
                snapshot_id: metadata.current_snapshot_id(),
            },
            added_snapshots: added_snapshots(base.metadata(), &metadata),
        };
        let table = Table::builder()
            .identifier(c.ident.clone())
            .metadata(Arc::new(metadata))
            .metadata_location(location)
            .file_io(self.file_io().clone())
            .runtime(self.inner.runtime.clone())
            .build()?;
        Ok((c.ident, table, mv))
    }

    /// Records a consistent cut of the current heads of `tables` (every table when
    /// `None`) under `name`. No pointer moves; the cut is read inside the same
    /// transaction that writes the record.
    pub async fn tag_release(
        &self,
        name: &str,
        tables: Option<Vec<TableIdent>>,
        message: Option<&str>,
    ) -> Result<ReleaseRecord> {
        if self.is_read_only() {
            return Err(Error::ReadOnly("create a release"));
        }
        validate_name("release", name)?;
        let release = NewRelease {
            name: name.to_string(),
            message: message.map(str::to_string),
            kind: ReleaseKind::Tag,
            scope: match tables {
                Some(list) => ReleaseScope::Listed(list),
                None => ReleaseScope::All,
            },
        };
        let applied = blocking(&self.inner.store, move |s| s.apply(&[], Some(&release))).await?;
        applied
            .release
            .ok_or_else(|| Error::Storage("release was not recorded".into()))
    }

    /// Moves every table of release `name` back to the snapshot it had in that release,
    /// as forward commits in ONE transaction, recorded as a new release called
    /// `new_name` (default: the first free `<name>-rollback-<k>`, k = 1, 2, ...). Fails, changing nothing, if a table of
    /// the release no longer exists or its snapshot has expired.
    pub async fn rollback_release(
        &self,
        name: &str,
        new_name: Option<&str>,
    ) -> Result<ReleaseRecord> {
        if self.is_read_only() {
            return Err(Error::ReadOnly("roll back a release"));
        }
        let release = self.release(name).await?;
        let entries = self.release_tables(name).await?;
        let mut staged = Vec::new();
        let mut listed = Vec::new();
        for entry in &entries {
            let uuid = entry.table_uuid.clone();
            let ident = blocking(&self.inner.store, move |s| s.table_for_uuid(&uuid))
                .await?
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "cannot roll back release '{name}': its table '{}' no longer exists",
                        table_display(&entry.ident())
                    ))
                })?;
            let current = self.table(&ident).await?;
            let meta = current.metadata();
            listed.push(ident.clone());
            let updates = rollback_updates(&ident, meta, entry.snapshot_id)?;
            if updates.is_empty() {
                continue;
            }
            staged.push(StagedCommit {
                ident,
                base_location: current.metadata_location_result()?.to_string(),
                requirements: vec![TableRequirement::UuidMatch { uuid: meta.uuid() }],
                updates,
            });
        }
        let new_name = match new_name {
            Some(n) => n.to_string(),
            None => {
                // The first free `<name>-rollback-<k>`; a race for it ends in ReleaseExists.
                let mut k = 1;
                loop {
                    let candidate = format!("{}-rollback-{k}", release.name);
                    let c = candidate.clone();
                    if blocking(&self.inner.store, move |s| s.release(&c))
                        .await?
                        .is_none()
                    {
                        break candidate;
                    }
                    k += 1;
                }
            }
        };
        validate_name("release", &new_name)?;
        let prepared = try_join_all(staged.into_iter().map(|c| self.prepare(c))).await?;
        let moves: Vec<Move> = prepared.iter().map(|p| p.2.clone()).collect();
        let new_release = NewRelease {
            name: new_name,
            message: Some(format!("rollback to release '{name}'")),
            kind: ReleaseKind::Rollback,
            scope: ReleaseScope::Listed(listed),
        };
        let applied = blocking(&self.inner.store, move |s| {
            s.apply(&moves, Some(&new_release))
        })
        .await?;
        for (_, table, _) in prepared {
            self.inner.tables.insert(
                table.metadata_location().unwrap_or_default().to_string(),
                table,
            );
        }
        applied
            .release
            .ok_or_else(|| Error::Storage("release was not recorded".into()))
    }

    /// A release by name.
    pub async fn release(&self, name: &str) -> Result<ReleaseRecord> {
        let n = name.to_string();
        blocking(&self.inner.store, move |s| s.release(&n))
            .await?
            .ok_or_else(|| Error::ReleaseNotFound(name.to_string()))
    }

    /// All releases, oldest first.
    pub async fn releases(&self) -> Result<Vec<ReleaseRecord>> {
        blocking(&self.inner.store, |s| s.releases()).await
    }

    /// The tables recorded by a release.
    pub async fn release_tables(&self, name: &str) -> Result<Vec<ReleaseTable>> {
        let release = self.release(name).await?;
        blocking(&self.inner.store, move |s| s.release_tables(release.id)).await
    }

    /// The commit log: entries after `after_seq`, oldest first, at most `limit`.
    pub async fn commits(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<crate::store::CommitRecord>> {
        blocking(&self.inner.store, move |s| s.commits(after_seq, limit)).await
    }

    /// Sequence number of the newest commit (0 if none).
    pub async fn last_commit_seq(&self) -> Result<u64> {
        blocking(&self.inner.store, |s| s.last_commit_seq()).await
    }
}

/// Updates that make `main` point at `target` again (forward commit).
fn rollback_updates(
    ident: &TableIdent,
    meta: &TableMetadata,
    target: Option<i64>,
) -> Result<Vec<TableUpdate>> {
    if meta.current_snapshot_id() == target {
        return Ok(Vec::new());
    }
    Ok(match target {
        Some(id) => {
            if meta.snapshot_by_id(id).is_none() {
                return Err(Error::UnknownSnapshot {
                    table: table_display(ident),
                    snapshot_id: id,
                    available: "it has expired, so the table cannot be rolled back to it".into(),
                });
            }
            vec![TableUpdate::SetSnapshotRef {
                ref_name: "main".into(),
                reference: SnapshotReference::new(id, SnapshotRetention::branch(None, None, None)),
            }]
        }
        None => vec![TableUpdate::RemoveSnapshotRef {
            ref_name: "main".into(),
        }],
    })
}
