//! Releases: named, immutable, catalog-wide records of a set of tables' heads, published
//! in one redb transaction so that all tables advance or none do.

use std::sync::Arc;

use futures::future::try_join_all;
use iceberg::spec::{SnapshotReference, SnapshotRetention, TableMetadata};
use iceberg::table::Table;
use iceberg::{TableIdent, TableRequirement, TableUpdate};

use crate::catalog::{RedbCatalog, added_snapshots, blocking};
use crate::error::{Error, Result};
use crate::ident::{table_display, validate_name};
use crate::store::{
    Move, NewRelease, ReleaseKind, ReleaseRecord, ReleaseScope, ReleaseTable, TableRecord,
};

/// Changes to one table, written but visible to nobody until published.
///
/// Staging does all of a commit's file work: [`RedbCatalog::stage_commit`] applies the
/// changes to a committed base and writes the resulting metadata file (made durable by
/// the publish's barrier), so [`RedbCatalog::publish_release`] only checks the bases and
/// moves every pointer in one redb transaction. A staged file that is never published is
/// an orphan: no pointer and no metadata log names it.
#[derive(Debug, Clone)]
pub struct StagedCommit {
    /// The committed version the changes were made against; publishing fails if the
    /// table has moved from it.
    base: Table,
    /// The table as publishing makes it; its metadata file is already written.
    table: Table,
    /// Every change since `base`, in order: a restage rebuilds from `base` with all of
    /// them, so the result is exactly one Iceberg commit of the whole transaction (its
    /// intermediate snapshots are not in the snapshot log, as in Iceberg's own
    /// transactions).
    updates: Vec<TableUpdate>,
    /// Keeps orphan removal away from the staged files while any copy of this staged
    /// commit (or of one restaged from it) lives.
    _writing: Arc<crate::WriteGuard>,
}

impl StagedCommit {
    /// The table.
    pub fn ident(&self) -> &TableIdent {
        self.table.identifier()
    }

    /// The committed version the changes were made against.
    pub fn base(&self) -> &Table {
        &self.base
    }

    /// Metadata file of the base version.
    pub fn base_location(&self) -> &str {
        self.base.metadata_location().unwrap_or_default()
    }

    /// The table as it will be once published (its staged metadata file is written).
    pub fn table(&self) -> &Table {
        &self.table
    }
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
    /// Publishes staged changes to several tables atomically: ONE redb transaction makes
    /// every staged file durable (one barrier), checks every base and moves every pointer.
    /// If any base moved, nothing is published and the conflict error names every such
    /// table. With a `name`, the new heads are recorded as a release.
    pub async fn publish_release(
        &self,
        name: Option<&str>,
        message: Option<&str>,
        commits: Vec<StagedCommit>,
    ) -> Result<Published> {
        if self.is_read_only() {
            return Err(Error::ReadOnly("publish a release"));
        }
        // A taken release name is refused by the transaction itself, before it writes.
        if let Some(n) = name {
            validate_name("release", n)?;
        }
        // Fail early, with every moved table named, when a base already moved (the redb
        // transaction checks again, atomically).
        let moved: Vec<String> = commits
            .iter()
            .filter(|c| {
                self.table_record(c.ident())
                    .map(|r| r.location != c.base_location())
                    .unwrap_or(false)
            })
            .map(|c| table_display(c.ident()))
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
        let scope: Vec<TableIdent> = commits.iter().map(|c| c.ident().clone()).collect();
        let moves: Vec<Move> = commits.iter().map(StagedCommit::pointer_move).collect();
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
        let tables: Vec<Table> = commits
            .into_iter()
            .map(|c| self.cache_published(c))
            .collect();
        Ok(Published {
            release: applied.release,
            tables,
        })
    }

    /// Stages `updates` on `base`, a committed version of its table: checks
    /// `requirements` against it, builds the new metadata and writes its file (durable
    /// once a publish's barrier runs). Nothing is visible until
    /// [`RedbCatalog::publish_release`].
    pub async fn stage_commit(
        &self,
        base: &Table,
        requirements: &[TableRequirement],
        updates: Vec<TableUpdate>,
    ) -> Result<StagedCommit> {
        self.check_writable("stage a commit")?;
        let writing = Arc::new(self.write_guard());
        let (metadata, location) =
            Self::apply_updates(base.identifier(), base, requirements, updates.clone())?;
        let table = self
            .write_staged(base.identifier(), metadata, location)
            .await?;
        Ok(StagedCommit {
            base: base.clone(),
            table,
            updates,
            _writing: writing,
        })
    }

    /// Stages more `updates` on top of `staged` (the next statement of the same
    /// transaction): `requirements` are checked against the staged version, then the
    /// table is rebuilt from the base with every change so far. `staged` is left as it
    /// is: once the caller has recorded the result in place of `staged` (and only then,
    /// so a concurrent publish of `staged` can never lose its metadata file), it should
    /// [`discard`](Self::discard) `staged`.
    pub async fn restage(
        &self,
        staged: &StagedCommit,
        requirements: &[TableRequirement],
        updates: Vec<TableUpdate>,
    ) -> Result<StagedCommit> {
        self.check_writable("stage a commit")?;
        let ident = staged.ident();
        for req in requirements {
            req.check(Some(staged.table.metadata()))
                .map_err(|e| Error::Conflict {
                    tables: vec![table_display(ident)],
                    detail: crate::error::iceberg_message(&e),
                })?;
        }
        let mut all = staged.updates.clone();
        all.extend(updates);
        let (metadata, location) = Self::apply_updates(ident, &staged.base, &[], all.clone())?;
        let table = self.write_staged(ident, metadata, location).await?;
        Ok(StagedCommit {
            base: staged.base.clone(),
            table,
            updates: all,
            _writing: staged._writing.clone(),
        })
    }

    /// Deletes the metadata file of a staged commit that will never be published (a
    /// later statement restaged it, or the statement that staged it lost a race).
    /// The caller guarantees no publish can name it. Best effort: a file left behind is
    /// an orphan, which `remove_orphan_files` sweeps.
    pub async fn discard(&self, staged: &StagedCommit) {
        if let Some(location) = staged.table.metadata_location()
            && location != staged.base_location()
        {
            let _ = self.file_io().delete(location).await;
        }
    }

    async fn write_staged(
        &self,
        ident: &TableIdent,
        metadata: TableMetadata,
        location: String,
    ) -> Result<Table> {
        self.write_table_metadata(&metadata, &location).await?;
        self.build_table(ident, &location, Arc::new(metadata))
    }

    /// Caches a published table (keyed by its metadata location, so never stale).
    fn cache_published(&self, c: StagedCommit) -> Table {
        self.cache(&c.table);
        c.table
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
            staged.push((current, updates));
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
        let staged = try_join_all(
            staged
                .iter()
                .map(|(current, updates)| self.stage_commit(current, &[], updates.clone())),
        )
        .await?;
        let moves: Vec<Move> = staged.iter().map(StagedCommit::pointer_move).collect();
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
        for c in staged {
            self.cache_published(c);
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

impl StagedCommit {
    /// The pointer move that publishes this commit: from the base's metadata file to the
    /// staged one, if the table is still at its base.
    fn pointer_move(&self) -> Move {
        let metadata = self.table.metadata();
        Move::Update {
            ident: self.ident().clone(),
            expected: self.base_location().to_string(),
            record: TableRecord {
                location: self
                    .table
                    .metadata_location()
                    .unwrap_or_default()
                    .to_string(),
                uuid: metadata.uuid().to_string(),
                snapshot_id: metadata.current_snapshot_id(),
            },
            added_snapshots: added_snapshots(self.base.metadata(), metadata),
        }
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
