//! The one way a statement or procedure changes an existing table: its new files are
//! already durable; [`commit`] produces the snapshot (manifests, manifest list) and
//! commits it — or stages it in the session's transaction — with the catalog's
//! compare-and-swap on the table's `main` head (the commit protocol of
//! `crates/floe-catalog/docs/design.md`). On any failure the files the change added are
//! deleted and the table is unchanged.
//!
//! Conflict rules, by Iceberg action ([`Action`]):
//! * **append** (INSERT): appends commute, so a lost race is retried against the new
//!   head (outside transactions), up to [`APPEND_RETRIES`] times with jittered backoff —
//!   but only for a plain INSERT: a MERGE that happens to only insert decided which rows
//!   to insert from the base version, so it is never retried;
//! * **overwrite**, **row delta**, **rewrite**, **rewrite manifests** (INSERT
//!   OVERWRITE, DELETE/UPDATE/MERGE in either mode, compaction): they read the base
//!   version to decide what to write, so any concurrent commit fails them as a conflict
//!   naming the table — nothing is written, and the user runs the statement again.
//!   (A rewrite therefore also fails if a concurrent commit added deletes to a file it
//!   rewrote.)

use datafusion::common::{Result, exec_err};
use floe_catalog::{ProducedSnapshot, SnapshotChange};
use iceberg::TableIdent;
use iceberg::spec::DataFile;
use iceberg::table::Table;

use super::delete_files;
use crate::error::{catalog_error, to_df};
use crate::session::SessionShared;

/// Appends commute, so a lost race is retried against the new head this many times,
/// with jittered exponential backoff (as Iceberg's `commit.retry.*` does) so that many
/// writers on one table do not keep colliding in lockstep.
pub const APPEND_RETRIES: usize = 24;

/// The Iceberg action a change is, which decides its conflict rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Append,
    Overwrite,
    RowDelta,
    Rewrite,
    RewriteManifests,
}

impl Action {
    pub fn of(change: &SnapshotChange) -> Action {
        if change.rewrite_manifests {
            Action::RewriteManifests
        } else if change.rewrite {
            Action::Rewrite
        } else if !change.added_deletes.is_empty() {
            Action::RowDelta
        } else if change.remove_all || !change.removed.is_empty() {
            Action::Overwrite
        } else {
            Action::Append
        }
    }
}

/// Backoff before retry `attempt` (1-based): 2^attempt ms capped at 200 ms, scaled by a
/// random factor in [0.5, 1.5).
fn retry_backoff(attempt: usize) -> std::time::Duration {
    let base = (1u64 << attempt.min(8)).min(200) as f64;
    let jitter = 0.5 + (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
    std::time::Duration::from_micros((base * jitter * 1000.0) as u64)
}

/// The files a change adds (deleted again if it does not commit).
fn written(change: &SnapshotChange) -> Vec<DataFile> {
    change
        .added
        .iter()
        .cloned()
        .chain(change.added_deletes.iter().map(|(_, f)| f.clone()))
        .collect()
}

/// Produces the snapshot of `change` on `base` without committing it (CTAS and CREATE
/// OR REPLACE commit it together with the table's creation). On failure the change's
/// files are deleted.
pub async fn produce(
    shared: &SessionShared,
    base: &Table,
    change: SnapshotChange,
) -> Result<ProducedSnapshot> {
    let files = written(&change);
    match shared.engine.catalog.produce_snapshot(base, change).await {
        Ok(p) => Ok(p),
        Err(e) => {
            delete_files(base, &files).await;
            Err(to_df(e))
        }
    }
}

/// Commits `change` to the table `ident` read at `base`, in transaction `txn` if any.
/// `blind_append`: the change is an INSERT whose rows do not depend on the table, so a
/// lost race may be retried.
pub async fn commit(
    shared: &SessionShared,
    txn: Option<u64>,
    ident: &TableIdent,
    base: &Table,
    change: SnapshotChange,
    blind_append: bool,
) -> Result<ProducedSnapshot> {
    let action = Action::of(&change);
    let files = written(&change);
    let name = floe_catalog::ident::table_display(ident);
    let catalog = &shared.engine.catalog;
    let mut base = base.clone();
    let mut attempt = 0;
    loop {
        let produced = match catalog.produce_snapshot(&base, change.clone()).await {
            Ok(p) => p,
            Err(e) => {
                delete_files(&base, &files).await;
                return Err(to_df(e));
            }
        };
        let result = shared
            .commit_or_stage(
                txn,
                ident,
                &base,
                produced.requirements.clone(),
                produced.updates.clone(),
            )
            .await;
        let e = match result {
            Ok(_) => return Ok(produced),
            Err(e) => e,
        };
        let retryable = catalog_error(&e).is_some_and(|c| c.is_retryable());
        if retryable
            && blind_append
            && action == Action::Append
            && txn.is_none()
            && attempt < APPEND_RETRIES
        {
            attempt += 1;
            tokio::time::sleep(retry_backoff(attempt)).await;
            let head = catalog.table(ident).await.map_err(to_df)?;
            if head.metadata().uuid() != base.metadata().uuid() {
                delete_files(&base, &files).await;
                return exec_err!("table '{name}' was dropped and re-created while the INSERT ran");
            }
            base = head;
            continue;
        }
        delete_files(&base, &files).await;
        return Err(e);
    }
}
