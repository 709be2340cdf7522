//! The catalog file: redb tables, their records, and [`Store::apply`], the only code
//! that moves a table pointer.
//!
//! Commit protocol (see `docs/design.md`): callers first make every new file durable,
//! then call [`Store::apply`], which in ONE redb write transaction (immediate
//! durability) checks every expected base pointer (compare-and-swap), moves the
//! pointers, appends the commit log and, for a release, the release record. The
//! in-memory mirror is updated only after that transaction committed, while the writer
//! lock is still held, so the mirror never runs ahead of or behind the file.
//!
//! This process holds the redb file lock for as long as the catalog is open (redb refuses
//! a second opener), so the mirror is authoritative: reads never need the file.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use dashmap::DashMap;
use iceberg::{NamespaceIdent, TableIdent};
use redb::{
    Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ident::{namespace_display, ns_from_key, ns_key, table_display};

/// Version of the catalog file layout this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// namespace key → properties (JSON object).
const NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("namespaces");
/// (namespace key, table name) → [`TableRecord`] (JSON).
const TABLES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tables");
/// table uuid → (namespace key, table name): finds a table across renames.
const TABLE_UUIDS: TableDefinition<&str, (&str, &str)> = TableDefinition::new("table_uuids");
/// commit sequence number → [`CommitRecord`] (JSON). Append-only.
const COMMITS: TableDefinition<u64, &[u8]> = TableDefinition::new("commits");
/// (table uuid, snapshot id) → sequence number of the commit that added the snapshot.
const SNAPSHOTS: TableDefinition<(&str, i64), u64> = TableDefinition::new("snapshots");
/// release name → [`ReleaseRecord`] (JSON).
const RELEASES: TableDefinition<&str, &[u8]> = TableDefinition::new("releases");
/// Warehouse settings: `warehouse` (the object-store root this catalog file belongs to)
/// and an object store's non-secret settings (`s3.endpoint`, ...).
const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");
/// release id → release name (creation order).
const RELEASE_IDS: TableDefinition<u64, &str> = TableDefinition::new("release_ids");
/// (release id, table uuid) → [`ReleaseTable`] (JSON).
const RELEASE_TABLES: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("release_tables");
/// (namespace key, view name) → [`ViewRecord`] (JSON). Views and tables share one name
/// space: a name is in at most one of `tables` and `views`.
const VIEWS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("views");

/// What the catalog knows about a table without reading its metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRecord {
    /// Current metadata file.
    pub location: String,
    /// The table's Iceberg UUID.
    pub uuid: String,
    /// Current snapshot of `main`, if any.
    pub snapshot_id: Option<i64>,
}

/// What the catalog knows about a view: its current Iceberg view metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewRecord {
    /// Current view metadata file.
    pub location: String,
    /// The view's Iceberg UUID.
    pub uuid: String,
}

/// What a commit-log entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitOp {
    /// A table was created.
    Create,
    /// An existing Iceberg table was adopted.
    Register,
    /// A table's pointer moved to new metadata.
    Update,
    /// A table was dropped.
    Drop,
    /// A table was renamed.
    Rename,
    /// A view was created.
    CreateView,
    /// A view's pointer moved to a new version.
    ReplaceView,
    /// A view was dropped.
    DropView,
}

impl CommitOp {
    /// Lower-case name, as shown in `floe.system.commits`.
    pub fn as_str(self) -> &'static str {
        match self {
            CommitOp::Create => "create",
            CommitOp::Register => "register",
            CommitOp::Update => "update",
            CommitOp::Drop => "drop",
            CommitOp::Rename => "rename",
            CommitOp::CreateView => "create_view",
            CommitOp::ReplaceView => "replace_view",
            CommitOp::DropView => "drop_view",
        }
    }
}

/// One entry of the commit log: one pointer move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When the transaction that made it ran (ms since the epoch).
    pub timestamp_ms: i64,
    /// What happened.
    pub op: CommitOp,
    /// Namespace of the table (its name before a rename).
    pub namespace: Vec<String>,
    /// Table name (before a rename).
    pub table: String,
    /// Iceberg UUID of the table.
    pub table_uuid: String,
    /// Current `main` snapshot after the move.
    pub snapshot_id: Option<i64>,
    /// Metadata file the pointer names after the move (`None` after a drop).
    pub metadata_location: Option<String>,
    /// Metadata file the pointer named before the move.
    pub previous_location: Option<String>,
    /// The release this move was published in.
    pub release_id: Option<u64>,
    /// For renames: the new namespace and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_to: Option<(Vec<String>, String)>,
}

/// How a release came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseKind {
    /// Staged changes published atomically.
    Publish,
    /// A consistent cut of current heads (no pointer moved).
    Tag,
    /// Tables moved back to an earlier release's heads.
    Rollback,
}

impl ReleaseKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseKind::Publish => "publish",
            ReleaseKind::Tag => "tag",
            ReleaseKind::Rollback => "rollback",
        }
    }
}

/// A named, immutable record of a set of tables' heads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// Increasing id.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// Creation time (ms since the epoch).
    pub created_at_ms: i64,
    /// Free text.
    pub message: Option<String>,
    /// How it was made.
    pub kind: ReleaseKind,
    /// Number of tables recorded.
    pub table_count: u64,
}

/// One table's head as recorded in a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseTable {
    /// Namespace at release time.
    pub namespace: Vec<String>,
    /// Name at release time.
    pub table: String,
    /// Iceberg UUID (stable across renames).
    pub table_uuid: String,
    /// `main` snapshot at release time.
    pub snapshot_id: Option<i64>,
    /// Metadata file at release time.
    pub metadata_location: String,
}

impl ReleaseTable {
    /// The table's identifier at release time.
    pub fn ident(&self) -> TableIdent {
        TableIdent::new(
            NamespaceIdent::from_vec(self.namespace.clone())
                .unwrap_or_else(|_| NamespaceIdent::new(String::new())),
            self.table.clone(),
        )
    }
}

/// One pointer move requested of [`Store::apply`].
#[derive(Debug, Clone)]
pub(crate) enum Move {
    /// A new table (created or registered); its name and UUID must be free.
    Create {
        ident: TableIdent,
        record: TableRecord,
        added_snapshots: Vec<i64>,
        op: CommitOp,
    },
    /// Compare-and-swap: the pointer must still name `expected`.
    Update {
        ident: TableIdent,
        expected: String,
        record: TableRecord,
        added_snapshots: Vec<i64>,
    },
    /// Unregister; with `expected`, only if the pointer still names it.
    Drop {
        ident: TableIdent,
        expected: Option<String>,
    },
    Rename {
        from: TableIdent,
        to: TableIdent,
    },
    /// A new view; its name must be free (of tables and views).
    CreateView {
        ident: TableIdent,
        record: ViewRecord,
    },
    /// Compare-and-swap of a view's pointer: it must still name `expected`.
    ReplaceView {
        ident: TableIdent,
        expected: String,
        record: ViewRecord,
    },
    /// Unregister a view; with `expected`, only if its pointer still names it.
    DropView {
        ident: TableIdent,
        expected: Option<String>,
    },
}

impl Move {
    fn touched(&self) -> Vec<&TableIdent> {
        match self {
            Move::Create { ident, .. }
            | Move::Update { ident, .. }
            | Move::Drop { ident, .. }
            | Move::CreateView { ident, .. }
            | Move::ReplaceView { ident, .. }
            | Move::DropView { ident, .. } => vec![ident],
            Move::Rename { from, to } => vec![from, to],
        }
    }
}

/// Which tables a new release records (their state after the moves of the same transaction).
#[derive(Debug, Clone)]
pub(crate) enum ReleaseScope {
    Listed(Vec<TableIdent>),
    All,
}

#[derive(Debug, Clone)]
pub(crate) struct NewRelease {
    pub name: String,
    pub message: Option<String>,
    pub kind: ReleaseKind,
    pub scope: ReleaseScope,
}

/// What [`Store::apply`] did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub release: Option<ReleaseRecord>,
}

#[derive(Debug, Default)]
pub(crate) struct NsEntry {
    pub props: Arc<HashMap<String, String>>,
    pub tables: BTreeSet<String>,
}

/// In-memory copy of the namespace and table pointers; see the module docs for why it
/// is authoritative.
#[derive(Debug, Default)]
pub(crate) struct Mirror {
    pub namespaces: DashMap<NamespaceIdent, NsEntry, FastHash>,
    /// The hottest read path (`table_exists`, `load_table`): a lock-free map, whose reads
    /// write no shared memory, so they scale with threads.
    pub tables: papaya::HashMap<TableIdent, Arc<CurrentTable>, FastHash>,
    /// View pointers (few, read at planning only).
    pub views: DashMap<TableIdent, Arc<ViewRecord>, FastHash>,
}

/// A table's pointer in the mirror, and its parsed current version once someone loaded
/// it. Every pointer move installs a new entry, so `loaded` can never be stale.
#[derive(Debug)]
pub(crate) struct CurrentTable {
    pub record: Arc<TableRecord>,
    pub loaded: std::sync::OnceLock<iceberg::table::Table>,
}

impl CurrentTable {
    pub(crate) fn new(record: TableRecord) -> Arc<Self> {
        Arc::new(Self {
            record: Arc::new(record),
            loaded: std::sync::OnceLock::new(),
        })
    }
}

/// Names are not attacker-chosen keys of a network service; a fast hash keeps warm
/// lookups cheap.
type FastHash = foldhash::fast::RandomState;

/// A consistent, read-only view of every table pointer at one instant.
#[derive(Clone)]
pub struct CatalogSnapshot {
    txn: Arc<ReadTransaction>,
}

impl std::fmt::Debug for CatalogSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CatalogSnapshot")
    }
}

impl CatalogSnapshot {
    /// The table's pointer record as of this snapshot (`None`: no such table then).
    pub fn table(&self, ident: &TableIdent) -> Result<Option<TableRecord>> {
        let tables = self.txn.open_table(TABLES)?;
        let (ns, name) = ident_key(ident);
        match tables.get((ns.as_str(), name.as_str()))? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// The view's pointer at this instant.
    pub fn view(&self, ident: &TableIdent) -> Result<Option<ViewRecord>> {
        let views = match self.txn.open_table(VIEWS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let (ns, name) = ident_key(ident);
        match views.get((ns.as_str(), name.as_str()))? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }
}

fn closed() -> Error {
    Error::Storage("the catalog file is closed (the process is shutting down)".into())
}

enum Db {
    ReadWrite(Database),
    ReadOnly(ReadOnlyDatabase),
}

pub(crate) struct Store {
    /// `None` once [`Store::close`] released the file.
    db: parking_lot::RwLock<Option<Db>>,
    read_only: bool,
    /// Serializes writers so the mirror is updated in commit order.
    writer: parking_lot::Mutex<()>,
    pub mirror: Mirror,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ident_key(ident: &TableIdent) -> (String, String) {
    (ns_key(&ident.namespace), ident.name.clone())
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(bytes)?)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

impl Store {
    /// Opens (or creates) a catalog in `db`, checks its format version and loads the mirror.
    pub fn open_read_write(db: Database, path: &str) -> Result<Self> {
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let version = meta.get("format_version")?.map(|v| v.value());
            match version {
                Some(v) if v > FORMAT_VERSION => {
                    return Err(Error::UnsupportedFormat {
                        path: path.to_string(),
                        found: v,
                        supported: FORMAT_VERSION,
                    });
                }
                Some(_) => {}
                None => {
                    meta.insert("format_version", FORMAT_VERSION)?;
                }
            }
            // Create every table so readers never meet a missing one.
            txn.open_table(NAMESPACES)?;
            txn.open_table(TABLES)?;
            txn.open_table(TABLE_UUIDS)?;
            txn.open_table(COMMITS)?;
            txn.open_table(SNAPSHOTS)?;
            txn.open_table(RELEASES)?;
            txn.open_table(RELEASE_IDS)?;
            txn.open_table(RELEASE_TABLES)?;
            txn.open_table(VIEWS)?;
        }
        txn.commit()?;
        let store = Store {
            db: parking_lot::RwLock::new(Some(Db::ReadWrite(db))),
            read_only: false,
            writer: parking_lot::Mutex::new(()),
            mirror: Mirror::default(),
        };
        store.load_mirror()?;
        Ok(store)
    }

    /// Opens an existing catalog read-only.
    pub fn open_read_only(db: ReadOnlyDatabase, path: &str) -> Result<Self> {
        let store = Store {
            db: parking_lot::RwLock::new(Some(Db::ReadOnly(db))),
            read_only: true,
            writer: parking_lot::Mutex::new(()),
            mirror: Mirror::default(),
        };
        {
            let txn = store.begin_read()?;
            let version = match txn.open_table(META) {
                Ok(meta) => meta.get("format_version")?.map(|v| v.value()),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            };
            match version {
                Some(v) if v > FORMAT_VERSION => {
                    return Err(Error::UnsupportedFormat {
                        path: path.to_string(),
                        found: v,
                        supported: FORMAT_VERSION,
                    });
                }
                Some(_) => {}
                None => {
                    return Err(Error::CatalogCorrupt {
                        path: path.to_string(),
                        detail: "it is not a floe catalog (no format version)".into(),
                    });
                }
            }
        }
        store.load_mirror()?;
        Ok(store)
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Releases the catalog file now, cleanly (the next open needs no recovery): waits
    /// for a write transaction in progress to commit, then drops the database. Every
    /// later operation fails with an error saying the catalog is closed. For a process
    /// that must exit while other parts of it still hold the catalog (SIGTERM).
    pub fn close(&self) {
        let _w = self.writer.lock();
        drop(self.db.write().take());
    }

    fn begin_read(&self) -> Result<ReadTransaction> {
        Ok(match self.db.read().as_ref() {
            Some(Db::ReadWrite(db)) => db.begin_read()?,
            Some(Db::ReadOnly(db)) => db.begin_read()?,
            None => return Err(closed()),
        })
    }

    fn load_mirror(&self) -> Result<()> {
        let txn = self.begin_read()?;
        let namespaces = txn.open_table(NAMESPACES)?;
        for entry in namespaces.iter()? {
            let (k, v) = entry?;
            let props: HashMap<String, String> = decode(v.value())?;
            self.mirror.namespaces.insert(
                ns_from_key(k.value()),
                NsEntry {
                    props: Arc::new(props),
                    tables: BTreeSet::new(),
                },
            );
        }
        let tables = txn.open_table(TABLES)?;
        for entry in tables.iter()? {
            let (k, v) = entry?;
            let (ns, name) = k.value();
            let record: TableRecord = decode(v.value())?;
            let ident = TableIdent::new(ns_from_key(ns), name.to_string());
            self.mirror
                .namespaces
                .entry(ident.namespace.clone())
                .or_default()
                .tables
                .insert(ident.name.clone());
            self.mirror
                .tables
                .pin()
                .insert(ident, CurrentTable::new(record));
        }
        // A catalog file written before views existed, opened read-only, has no table.
        match txn.open_table(VIEWS) {
            Ok(views) => {
                for entry in views.iter()? {
                    let (k, v) = entry?;
                    let (ns, name) = k.value();
                    let record: ViewRecord = decode(v.value())?;
                    let ident = TableIdent::new(ns_from_key(ns), name.to_string());
                    self.mirror.views.insert(ident, Arc::new(record));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    fn begin_write(&self, action: &'static str) -> Result<WriteTransaction> {
        match self.db.read().as_ref() {
            Some(Db::ReadWrite(db)) => Ok(db.begin_write()?),
            Some(Db::ReadOnly(_)) => Err(Error::ReadOnly(action)),
            None => Err(closed()),
        }
    }

    // ------------------------------------------------------------------ settings

    /// The stored warehouse settings (empty for a catalog that has none).
    pub fn settings(&self) -> Result<std::collections::BTreeMap<String, String>> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(SETTINGS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Default::default()),
            Err(e) => return Err(e.into()),
        };
        let mut out = std::collections::BTreeMap::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.insert(k.value().to_string(), v.value().to_string());
        }
        Ok(out)
    }

    /// Ties this catalog file to the object-store warehouse `root` and records its
    /// non-secret `settings` (replacing `stored`, what [`Store::settings`] returned). A
    /// catalog file already tied to another root is refused: its tables live there, and
    /// new ones would not.
    pub fn bind_warehouse(
        &self,
        root: &str,
        settings: &std::collections::BTreeMap<String, String>,
        stored: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        if let Some(bound) = stored.get("warehouse")
            && bound != root
        {
            return Err(Error::InvalidArgument(format!(
                "this catalog file belongs to warehouse '{bound}', not '{root}'"
            )));
        }
        let mut wanted = settings.clone();
        wanted.insert("warehouse".into(), root.to_string());
        if wanted == *stored || self.is_read_only() {
            return Ok(());
        }
        let _w = self.writer.lock();
        let txn = self.begin_write("record warehouse settings")?;
        {
            let mut table = txn.open_table(SETTINGS)?;
            let old: Vec<String> = table
                .iter()?
                .map(|e| e.map(|(k, _)| k.value().to_string()))
                .collect::<std::result::Result<_, _>>()?;
            for k in old {
                table.remove(k.as_str())?;
            }
            for (k, v) in &wanted {
                table.insert(k.as_str(), v.as_str())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    // ------------------------------------------------------------------ namespaces

    pub fn create_namespace(
        &self,
        ns: &NamespaceIdent,
        props: HashMap<String, String>,
    ) -> Result<()> {
        let _w = self.writer.lock();
        let txn = self.begin_write("create a namespace")?;
        {
            let mut table = txn.open_table(NAMESPACES)?;
            let key = ns_key(ns);
            if table.get(key.as_str())?.is_some() {
                return Err(Error::NamespaceExists(namespace_display(ns)));
            }
            if let Some(parent) = ns.parent()
                && table.get(ns_key(&parent).as_str())?.is_none()
            {
                return Err(Error::NamespaceNotFound(namespace_display(&parent)));
            }
            table.insert(key.as_str(), encode(&props)?.as_slice())?;
        }
        txn.commit()?;
        self.mirror.namespaces.insert(
            ns.clone(),
            NsEntry {
                props: Arc::new(props),
                tables: BTreeSet::new(),
            },
        );
        Ok(())
    }

    pub fn update_namespace(
        &self,
        ns: &NamespaceIdent,
        props: HashMap<String, String>,
    ) -> Result<()> {
        let _w = self.writer.lock();
        let txn = self.begin_write("update a namespace")?;
        {
            let mut table = txn.open_table(NAMESPACES)?;
            let key = ns_key(ns);
            if table.get(key.as_str())?.is_none() {
                return Err(Error::NamespaceNotFound(namespace_display(ns)));
            }
            table.insert(key.as_str(), encode(&props)?.as_slice())?;
        }
        txn.commit()?;
        if let Some(mut entry) = self.mirror.namespaces.get_mut(ns) {
            entry.props = Arc::new(props);
        }
        Ok(())
    }

    pub fn drop_namespace(&self, ns: &NamespaceIdent) -> Result<()> {
        let _w = self.writer.lock();
        let txn = self.begin_write("drop a namespace")?;
        {
            let mut namespaces = txn.open_table(NAMESPACES)?;
            let key = ns_key(ns);
            if namespaces.get(key.as_str())?.is_none() {
                return Err(Error::NamespaceNotFound(namespace_display(ns)));
            }
            let tables = txn.open_table(TABLES)?;
            if let Some(entry) = tables.range((key.as_str(), "")..)?.next() {
                let (k, _) = entry?;
                let (table_ns, name) = k.value();
                if table_ns == key {
                    return Err(Error::NamespaceNotEmpty {
                        namespace: namespace_display(ns),
                        what: format!("table '{name}'"),
                    });
                }
            }
            let views = txn.open_table(VIEWS)?;
            if let Some(entry) = views.range((key.as_str(), "")..)?.next() {
                let (k, _) = entry?;
                let (view_ns, name) = k.value();
                if view_ns == key {
                    return Err(Error::NamespaceNotEmpty {
                        namespace: namespace_display(ns),
                        what: format!("view '{name}'"),
                    });
                }
            }
            let child_prefix = format!("{key}{}", crate::ident::LEVEL_SEP);
            if let Some(entry) = namespaces.range(child_prefix.as_str()..)?.next() {
                let (k, _) = entry?;
                if k.value().starts_with(&child_prefix) {
                    return Err(Error::NamespaceNotEmpty {
                        namespace: namespace_display(ns),
                        what: format!("namespace '{}'", namespace_display(&ns_from_key(k.value()))),
                    });
                }
            }
            namespaces.remove(key.as_str())?;
        }
        txn.commit()?;
        self.mirror.namespaces.remove(ns);
        Ok(())
    }

    // ------------------------------------------------------------------ pointer moves

    /// Moves pointers and records a release, all or nothing, in one durable redb
    /// transaction. Every expectation is checked before anything is written; when
    /// several bases moved, the error names all of them.
    pub fn apply(&self, moves: &[Move], release: Option<&NewRelease>) -> Result<Applied> {
        // Commit protocol step 1, completed: every file written so far is durable
        // (renames included) before any pointer can name it.
        crate::storage::sync_pending_dirs()
            .map_err(|e| Error::io("cannot make files durable", "warehouse", e))?;
        let _w = self.writer.lock();
        let txn = self.begin_write("commit")?;
        let now = now_ms();
        let mut applied = Applied::default();
        {
            let namespaces = txn.open_table(NAMESPACES)?;
            let mut tables = txn.open_table(TABLES)?;
            let mut uuids = txn.open_table(TABLE_UUIDS)?;
            let mut commits = txn.open_table(COMMITS)?;
            let mut snapshots = txn.open_table(SNAPSHOTS)?;
            let mut releases = txn.open_table(RELEASES)?;
            let mut release_ids = txn.open_table(RELEASE_IDS)?;
            let mut release_tables = txn.open_table(RELEASE_TABLES)?;
            let mut views = txn.open_table(VIEWS)?;

            // Pass 1: check everything against the committed state.
            let mut seen = HashSet::new();
            for m in moves {
                for ident in m.touched() {
                    if !seen.insert(ident.clone()) {
                        return Err(Error::InvalidArgument(format!(
                            "table '{}' appears more than once in one commit",
                            table_display(ident)
                        )));
                    }
                }
            }
            let get = |tables: &redb::Table<(&str, &str), &[u8]>,
                       ident: &TableIdent|
             -> Result<Option<TableRecord>> {
                let (ns, name) = ident_key(ident);
                match tables.get((ns.as_str(), name.as_str()))? {
                    Some(v) => Ok(Some(decode(v.value())?)),
                    None => Ok(None),
                }
            };
            let get_view = |views: &redb::Table<(&str, &str), &[u8]>,
                            ident: &TableIdent|
             -> Result<Option<ViewRecord>> {
                let (ns, name) = ident_key(ident);
                match views.get((ns.as_str(), name.as_str()))? {
                    Some(v) => Ok(Some(decode(v.value())?)),
                    None => Ok(None),
                }
            };
            let ns_exists = |ns: &NamespaceIdent| -> Result<bool> {
                Ok(namespaces.get(ns_key(ns).as_str())?.is_some())
            };
            let mut conflicts = Vec::new();
            let mut conflict_detail = String::new();
            for m in moves {
                match m {
                    Move::Create { ident, record, .. } => {
                        if !ns_exists(&ident.namespace)? {
                            return Err(Error::NamespaceNotFound(namespace_display(
                                &ident.namespace,
                            )));
                        }
                        if get(&tables, ident)?.is_some() {
                            return Err(Error::TableExists(table_display(ident)));
                        }
                        if get_view(&views, ident)?.is_some() {
                            return Err(Error::IsAView(table_display(ident)));
                        }
                        if let Some(other) = uuids.get(record.uuid.as_str())? {
                            let (ns, name) = other.value();
                            return Err(Error::InvalidArgument(format!(
                                "table uuid {} is already registered as '{}'",
                                record.uuid,
                                table_display(&TableIdent::new(ns_from_key(ns), name.to_string()))
                            )));
                        }
                    }
                    Move::Update {
                        ident, expected, ..
                    } => match get(&tables, ident)? {
                        None => return Err(Error::TableNotFound(table_display(ident))),
                        Some(cur) if &cur.location != expected => {
                            conflicts.push(table_display(ident));
                            conflict_detail = format!(
                                "expected metadata '{expected}' but the table is now at '{}'",
                                cur.location
                            );
                        }
                        Some(_) => {}
                    },
                    Move::Drop { ident, expected } => match get(&tables, ident)? {
                        None => return Err(Error::TableNotFound(table_display(ident))),
                        Some(cur) => {
                            if let Some(expected) = expected
                                && &cur.location != expected
                            {
                                conflicts.push(table_display(ident));
                                conflict_detail = format!(
                                    "expected metadata '{expected}' but the table is now at '{}'",
                                    cur.location
                                );
                            }
                        }
                    },
                    Move::Rename { from, to } => {
                        if get(&tables, from)?.is_none() {
                            return Err(Error::TableNotFound(table_display(from)));
                        }
                        if !ns_exists(&to.namespace)? {
                            return Err(Error::NamespaceNotFound(namespace_display(&to.namespace)));
                        }
                        if get(&tables, to)?.is_some() {
                            return Err(Error::TableExists(table_display(to)));
                        }
                        if get_view(&views, to)?.is_some() {
                            return Err(Error::IsAView(table_display(to)));
                        }
                    }
                    Move::CreateView { ident, .. } => {
                        if !ns_exists(&ident.namespace)? {
                            return Err(Error::NamespaceNotFound(namespace_display(
                                &ident.namespace,
                            )));
                        }
                        if get(&tables, ident)?.is_some() {
                            return Err(Error::IsATable(table_display(ident)));
                        }
                        if get_view(&views, ident)?.is_some() {
                            return Err(Error::ViewExists(table_display(ident)));
                        }
                    }
                    Move::ReplaceView {
                        ident, expected, ..
                    }
                    | Move::DropView {
                        ident,
                        expected: Some(expected),
                    } => match get_view(&views, ident)? {
                        None => return Err(Error::ViewNotFound(table_display(ident))),
                        Some(cur) if &cur.location != expected => {
                            conflicts.push(table_display(ident));
                            conflict_detail = format!(
                                "expected view metadata '{expected}' but the view is now at '{}'",
                                cur.location
                            );
                        }
                        Some(_) => {}
                    },
                    Move::DropView {
                        ident,
                        expected: None,
                    } => {
                        if get_view(&views, ident)?.is_none() {
                            return Err(Error::ViewNotFound(table_display(ident)));
                        }
                    }
                }
            }
            if !conflicts.is_empty() {
                if conflicts.len() > 1 {
                    conflict_detail =
                        "their metadata changed since it was read; nothing was committed".into();
                } else {
                    conflict_detail.push_str("; nothing was committed");
                }
                return Err(Error::Conflict {
                    tables: conflicts,
                    detail: conflict_detail,
                });
            }
            let release_id = match release {
                Some(r) => {
                    if releases.get(r.name.as_str())?.is_some() {
                        return Err(Error::ReleaseExists(r.name.clone()));
                    }
                    Some(release_ids.last()?.map(|(k, _)| k.value()).unwrap_or(0) + 1)
                }
                None => None,
            };

            // Pass 2: write.
            let mut seq = commits.last()?.map(|(k, _)| k.value()).unwrap_or(0);
            let mut log =
                |commits: &mut redb::Table<u64, &[u8]>, mut rec: CommitRecord| -> Result<u64> {
                    seq += 1;
                    rec.seq = seq;
                    commits.insert(seq, encode(&rec)?.as_slice())?;
                    Ok(seq)
                };
            for m in moves {
                match m {
                    Move::Create {
                        ident,
                        record,
                        added_snapshots,
                        op,
                    } => {
                        let (ns, name) = ident_key(ident);
                        tables.insert((ns.as_str(), name.as_str()), encode(record)?.as_slice())?;
                        uuids.insert(record.uuid.as_str(), (ns.as_str(), name.as_str()))?;
                        let s = log(
                            &mut commits,
                            CommitRecord {
                                seq: 0,
                                timestamp_ms: now,
                                op: *op,
                                namespace: ident.namespace.clone().inner(),
                                table: ident.name.clone(),
                                table_uuid: record.uuid.clone(),
                                snapshot_id: record.snapshot_id,
                                metadata_location: Some(record.location.clone()),
                                previous_location: None,
                                release_id,
                                renamed_to: None,
                            },
                        )?;
                        for id in added_snapshots {
                            if snapshots.get((record.uuid.as_str(), *id))?.is_none() {
                                snapshots.insert((record.uuid.as_str(), *id), s)?;
                            }
                        }
                    }
                    Move::Update {
                        ident,
                        expected,
                        record,
                        added_snapshots,
                    } => {
                        let (ns, name) = ident_key(ident);
                        tables.insert((ns.as_str(), name.as_str()), encode(record)?.as_slice())?;
                        let s = log(
                            &mut commits,
                            CommitRecord {
                                seq: 0,
                                timestamp_ms: now,
                                op: CommitOp::Update,
                                namespace: ident.namespace.clone().inner(),
                                table: ident.name.clone(),
                                table_uuid: record.uuid.clone(),
                                snapshot_id: record.snapshot_id,
                                metadata_location: Some(record.location.clone()),
                                previous_location: Some(expected.clone()),
                                release_id,
                                renamed_to: None,
                            },
                        )?;
                        for id in added_snapshots {
                            if snapshots.get((record.uuid.as_str(), *id))?.is_none() {
                                snapshots.insert((record.uuid.as_str(), *id), s)?;
                            }
                        }
                    }
                    Move::Drop { ident, .. } => {
                        let (ns, name) = ident_key(ident);
                        let old: TableRecord = match tables.remove((ns.as_str(), name.as_str()))? {
                            Some(v) => decode(v.value())?,
                            None => return Err(Error::TableNotFound(table_display(ident))),
                        };
                        uuids.remove(old.uuid.as_str())?;
                        log(
                            &mut commits,
                            CommitRecord {
                                seq: 0,
                                timestamp_ms: now,
                                op: CommitOp::Drop,
                                namespace: ident.namespace.clone().inner(),
                                table: ident.name.clone(),
                                table_uuid: old.uuid.clone(),
                                snapshot_id: old.snapshot_id,
                                metadata_location: None,
                                previous_location: Some(old.location.clone()),
                                release_id,
                                renamed_to: None,
                            },
                        )?;
                    }
                    Move::Rename { from, to } => {
                        let (fns, fname) = ident_key(from);
                        let (tns, tname) = ident_key(to);
                        let rec: TableRecord =
                            match tables.remove((fns.as_str(), fname.as_str()))? {
                                Some(v) => decode(v.value())?,
                                None => return Err(Error::TableNotFound(table_display(from))),
                            };
                        tables.insert((tns.as_str(), tname.as_str()), encode(&rec)?.as_slice())?;
                        uuids.insert(rec.uuid.as_str(), (tns.as_str(), tname.as_str()))?;
                        log(
                            &mut commits,
                            CommitRecord {
                                seq: 0,
                                timestamp_ms: now,
                                op: CommitOp::Rename,
                                namespace: from.namespace.clone().inner(),
                                table: from.name.clone(),
                                table_uuid: rec.uuid.clone(),
                                snapshot_id: rec.snapshot_id,
                                metadata_location: Some(rec.location.clone()),
                                previous_location: Some(rec.location.clone()),
                                release_id,
                                renamed_to: Some((to.namespace.clone().inner(), to.name.clone())),
                            },
                        )?;
                    }
                    Move::CreateView { ident, record }
                    | Move::ReplaceView { ident, record, .. } => {
                        let (ns, name) = ident_key(ident);
                        let previous = match views
                            .insert((ns.as_str(), name.as_str()), encode(record)?.as_slice())?
                        {
                            Some(v) => Some(decode::<ViewRecord>(v.value())?.location),
                            None => None,
                        };
                        let op = if previous.is_some() {
                            CommitOp::ReplaceView
                        } else {
                            CommitOp::CreateView
                        };
                        log(
                            &mut commits,
                            CommitRecord {
                                seq: 0,
                                timestamp_ms: now,
                                op,
                                namespace: ident.namespace.clone().inner(),
                                table: ident.name.clone(),
                                table_uuid: record.uuid.clone(),
                                snapshot_id: None,
                                metadata_location: Some(record.location.clone()),
                                previous_location: previous,
                                release_id,
                                renamed_to: None,
                            },
                        )?;
                    }
                    Move::DropView { ident, .. } => {
                        let (ns, name) = ident_key(ident);
                        let old: ViewRecord = match views.remove((ns.as_str(), name.as_str()))? {
                            Some(v) => decode(v.value())?,
                            None => return Err(Error::ViewNotFound(table_display(ident))),
                        };
                        log(
                            &mut commits,
                            CommitRecord {
                                seq: 0,
                                timestamp_ms: now,
                                op: CommitOp::DropView,
                                namespace: ident.namespace.clone().inner(),
                                table: ident.name.clone(),
                                table_uuid: old.uuid.clone(),
                                snapshot_id: None,
                                metadata_location: None,
                                previous_location: Some(old.location.clone()),
                                release_id,
                                renamed_to: None,
                            },
                        )?;
                    }
                }
            }

            if let (Some(r), Some(id)) = (release, release_id) {
                let idents: Vec<TableIdent> = match &r.scope {
                    ReleaseScope::Listed(list) => list.clone(),
                    ReleaseScope::All => {
                        let mut all = Vec::new();
                        for entry in tables.iter()? {
                            let (k, _) = entry?;
                            let (ns, name) = k.value();
                            all.push(TableIdent::new(ns_from_key(ns), name.to_string()));
                        }
                        all
                    }
                };
                let mut count = 0u64;
                let mut recorded = HashSet::new();
                for ident in &idents {
                    let Some(rec) = get(&tables, ident)? else {
                        return Err(Error::TableNotFound(table_display(ident)));
                    };
                    if !recorded.insert(rec.uuid.clone()) {
                        continue;
                    }
                    let entry = ReleaseTable {
                        namespace: ident.namespace.clone().inner(),
                        table: ident.name.clone(),
                        table_uuid: rec.uuid.clone(),
                        snapshot_id: rec.snapshot_id,
                        metadata_location: rec.location.clone(),
                    };
                    release_tables.insert((id, rec.uuid.as_str()), encode(&entry)?.as_slice())?;
                    count += 1;
                }
                let record = ReleaseRecord {
                    id,
                    name: r.name.clone(),
                    created_at_ms: now,
                    message: r.message.clone(),
                    kind: r.kind,
                    table_count: count,
                };
                releases.insert(r.name.as_str(), encode(&record)?.as_slice())?;
                release_ids.insert(id, r.name.as_str())?;
                applied.release = Some(record);
            }
        }
        txn.commit()?;

        // The transaction is durable: bring the mirror up to date (still under the writer lock).
        for m in moves {
            match m {
                Move::Create { ident, record, .. } | Move::Update { ident, record, .. } => {
                    self.mirror
                        .tables
                        .pin()
                        .insert(ident.clone(), CurrentTable::new(record.clone()));
                    self.mirror
                        .namespaces
                        .entry(ident.namespace.clone())
                        .or_default()
                        .tables
                        .insert(ident.name.clone());
                }
                Move::Drop { ident, .. } => {
                    self.mirror.tables.pin().remove(ident);
                    if let Some(mut ns) = self.mirror.namespaces.get_mut(&ident.namespace) {
                        ns.tables.remove(&ident.name);
                    }
                }
                Move::Rename { from, to } => {
                    let tables = self.mirror.tables.pin();
                    if let Some(current) = tables.remove(from) {
                        // A fresh entry: the loaded version carries the old name.
                        tables.insert(to.clone(), CurrentTable::new((*current.record).clone()));
                    }
                    if let Some(mut ns) = self.mirror.namespaces.get_mut(&from.namespace) {
                        ns.tables.remove(&from.name);
                    }
                    self.mirror
                        .namespaces
                        .entry(to.namespace.clone())
                        .or_default()
                        .tables
                        .insert(to.name.clone());
                }
                Move::CreateView { ident, record } | Move::ReplaceView { ident, record, .. } => {
                    self.mirror
                        .views
                        .insert(ident.clone(), Arc::new(record.clone()));
                }
                Move::DropView { ident, .. } => {
                    self.mirror.views.remove(ident);
                }
            }
        }
        Ok(applied)
    }

    // ------------------------------------------------------------------ reads (cold paths)

    pub fn read_snapshot(&self) -> Result<CatalogSnapshot> {
        Ok(CatalogSnapshot {
            txn: Arc::new(self.begin_read()?),
        })
    }

    /// Sequence number of the commit that added `snapshot_id` to the table with `uuid`.
    pub fn snapshot_commit(&self, uuid: &str, snapshot_id: i64) -> Result<Option<CommitRecord>> {
        let txn = self.begin_read()?;
        let snapshots = txn.open_table(SNAPSHOTS)?;
        let Some(seq) = snapshots.get((uuid, snapshot_id))?.map(|v| v.value()) else {
            return Ok(None);
        };
        let commits = txn.open_table(COMMITS)?;
        match commits.get(seq)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// Commit-log entries with `seq > after`, oldest first, at most `limit`.
    pub fn commits(&self, after: u64, limit: usize) -> Result<Vec<CommitRecord>> {
        let txn = self.begin_read()?;
        let commits = txn.open_table(COMMITS)?;
        let mut out = Vec::new();
        for entry in commits.range(after.saturating_add(1)..)?.take(limit) {
            let (_, v) = entry?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    /// The newest commit sequence number (0 when the log is empty).
    pub fn last_commit_seq(&self) -> Result<u64> {
        let txn = self.begin_read()?;
        let commits = txn.open_table(COMMITS)?;
        Ok(commits.last()?.map(|(k, _)| k.value()).unwrap_or(0))
    }

    pub fn release(&self, name: &str) -> Result<Option<ReleaseRecord>> {
        let txn = self.begin_read()?;
        let releases = txn.open_table(RELEASES)?;
        match releases.get(name)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// All releases, oldest first.
    pub fn releases(&self) -> Result<Vec<ReleaseRecord>> {
        let txn = self.begin_read()?;
        let ids = txn.open_table(RELEASE_IDS)?;
        let releases = txn.open_table(RELEASES)?;
        let mut out = Vec::new();
        for entry in ids.iter()? {
            let (_, name) = entry?;
            if let Some(v) = releases.get(name.value())? {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }

    pub fn release_tables(&self, release_id: u64) -> Result<Vec<ReleaseTable>> {
        let txn = self.begin_read()?;
        let t = txn.open_table(RELEASE_TABLES)?;
        let mut out = Vec::new();
        for entry in t.range((release_id, "")..)? {
            let (k, v) = entry?;
            if k.value().0 != release_id {
                break;
            }
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    pub fn release_table(&self, release_id: u64, uuid: &str) -> Result<Option<ReleaseTable>> {
        let txn = self.begin_read()?;
        let t = txn.open_table(RELEASE_TABLES)?;
        match t.get((release_id, uuid))? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// The current name of the table with this UUID.
    pub fn table_for_uuid(&self, uuid: &str) -> Result<Option<TableIdent>> {
        let txn = self.begin_read()?;
        let t = txn.open_table(TABLE_UUIDS)?;
        Ok(t.get(uuid)?.map(|v| {
            let (ns, name) = v.value();
            TableIdent::new(ns_from_key(ns), name.to_string())
        }))
    }
}
