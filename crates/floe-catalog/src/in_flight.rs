//! Writes in flight: what keeps `remove_orphan_files` away from files that no metadata
//! names *yet*.
//!
//! A write creates its files (data, manifests, metadata) before the commit that makes
//! some metadata name them, and an open transaction's staged files stay unnamed until it
//! publishes. Because one process owns a warehouse, that process knows every write in
//! flight: each holds a [`WriteGuard`] from before it creates its first file until it
//! has committed or given up, and orphan removal never considers a file modified after
//! the oldest live guard started — whatever `older_than` it was asked for.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// Slack for file timestamps: filesystems stamp files from a coarse clock that can lag
/// the precise wall clock by a few milliseconds.
const CLOCK_SLACK_MS: i64 = 1_000;

#[derive(Debug, Default)]
struct Registry {
    next: u64,
    /// Start time (ms since the epoch, minus the slack) of every live guard, by id.
    started: BTreeMap<u64, i64>,
    /// Live [`RemoteWriters`] guards: writers in other processes (REST clients) whose
    /// files in flight this process cannot see.
    remote: usize,
}

/// How old a file must be before orphan removal may take it while remote writers are
/// served: a REST client writes its data and manifest files before it commits, and
/// nothing in this process knows those files exist until the commit arrives.
pub const REMOTE_WRITER_GRACE_MS: i64 = 60 * 60 * 1000;

/// The writes in flight of one catalog.
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight(Arc<Mutex<Registry>>);

impl InFlight {
    /// Registers a write starting now.
    pub(crate) fn begin(&self) -> WriteGuard {
        let mut r = self.0.lock();
        let id = r.next;
        r.next += 1;
        r.started.insert(id, now_ms() - CLOCK_SLACK_MS);
        WriteGuard {
            registry: self.0.clone(),
            id,
        }
    }

    /// Files modified at or after this instant may belong to a write in flight.
    pub(crate) fn oldest_start_ms(&self) -> Option<i64> {
        self.0.lock().started.values().copied().min()
    }

    /// Registers writers outside this process until the guard is dropped.
    pub(crate) fn remote(&self) -> RemoteWriters {
        self.0.lock().remote += 1;
        RemoteWriters {
            registry: self.0.clone(),
        }
    }

    /// Whether remote writers are being served.
    pub(crate) fn has_remote(&self) -> bool {
        self.0.lock().remote > 0
    }
}

/// Remote writers (REST clients) may be writing files this process cannot see while the
/// guard lives; orphan removal then refuses to take files younger than
/// [`REMOTE_WRITER_GRACE_MS`].
#[derive(Debug)]
pub struct RemoteWriters {
    registry: Arc<Mutex<Registry>>,
}

impl Drop for RemoteWriters {
    fn drop(&mut self) {
        self.registry.lock().remote -= 1;
    }
}

/// A write in flight (see the module docs); it ends when the guard is dropped.
#[derive(Debug)]
pub struct WriteGuard {
    registry: Arc<Mutex<Registry>>,
    id: u64,
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        self.registry.lock().started.remove(&self.id);
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_live_guard_bounds_orphan_removal() {
        let w = InFlight::default();
        assert_eq!(w.oldest_start_ms(), None);
        let a = w.begin();
        let first = w.oldest_start_ms().unwrap();
        assert!(first <= now_ms() - CLOCK_SLACK_MS);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = w.begin();
        assert_eq!(w.oldest_start_ms(), Some(first));
        drop(a);
        let second = w.oldest_start_ms().unwrap();
        assert!(second > first);
        drop(b);
        assert_eq!(w.oldest_start_ms(), None);
    }
}
