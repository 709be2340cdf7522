//! The catalog's error type.
//!
//! Every variant renders as one readable line that names the thing involved
//! (table, namespace, snapshot, release, file). Each maps onto an
//! [`iceberg::ErrorKind`] so code written against `iceberg::Catalog` can match
//! on kinds (`TableNotFound`, retryable `CatalogCommitConflicts`, ...) and sees
//! the same text.

use iceberg::ErrorKind;

/// Result alias for floe-catalog operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the catalog.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A namespace, table, release or ref name breaks the identifier rules.
    #[error("invalid {kind} name '{name}': {reason}")]
    InvalidName {
        /// What was being named ("table", "namespace", "release", ...).
        kind: &'static str,
        /// The offending name, printable form.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The namespace does not exist.
    #[error("namespace '{0}' does not exist")]
    NamespaceNotFound(String),
    /// A namespace of that name already exists.
    #[error("namespace '{0}' already exists")]
    NamespaceExists(String),
    /// Dropping a namespace that still holds tables or child namespaces.
    #[error("namespace '{namespace}' is not empty: it still contains {what}")]
    NamespaceNotEmpty {
        /// The namespace.
        namespace: String,
        /// What it still contains, e.g. "table 'orders'".
        what: String,
    },
    /// The table does not exist.
    #[error("table '{0}' does not exist")]
    TableNotFound(String),
    /// A table of that name already exists.
    #[error("table '{0}' already exists")]
    TableExists(String),
    /// The view does not exist.
    #[error("view '{0}' does not exist")]
    ViewNotFound(String),
    /// A view of that name already exists.
    #[error("view '{0}' already exists")]
    ViewExists(String),
    /// A table cannot take the name of a view (tables and views share names).
    #[error("'{0}' is a view: a table cannot have its name (DROP VIEW it first)")]
    IsAView(String),
    /// A view cannot take the name of a table.
    #[error("'{0}' is a table: a view cannot have its name (DROP TABLE it first)")]
    IsATable(String),
    /// A compare-and-swap on one or more table pointers failed: somebody
    /// committed first. Retryable.
    #[error("commit conflict on {}: {detail}", quoted_list(.tables))]
    Conflict {
        /// The tables whose base moved.
        tables: Vec<String>,
        /// What was expected and what was found.
        detail: String,
    },
    /// A time-travel request names a snapshot the table never had (or that expired).
    #[error("table '{table}' has no snapshot {snapshot_id}; {available}")]
    UnknownSnapshot {
        /// The table.
        table: String,
        /// The requested snapshot id.
        snapshot_id: i64,
        /// Which snapshot ids do exist (newest first), or that none do.
        available: String,
    },
    /// A time-travel timestamp earlier than the table's first snapshot.
    #[error(
        "timestamp {requested} is before the first snapshot of table '{table}' (committed {first})"
    )]
    BeforeFirstSnapshot {
        /// The table.
        table: String,
        /// The requested time, RFC 3339.
        requested: String,
        /// The first snapshot's commit time, RFC 3339, or "never" when the table has none.
        first: String,
    },
    /// A name that is neither a tag or branch of the table nor a release.
    #[error(
        "table '{table}' has no tag or branch named '{name}', and there is no release '{name}'"
    )]
    UnknownRef {
        /// The table.
        table: String,
        /// The name looked up.
        name: String,
    },
    /// The release exists but does not contain the table.
    #[error("table '{table}' is not part of release '{release}'")]
    NotInRelease {
        /// The table.
        table: String,
        /// The release.
        release: String,
    },
    /// No release of that name.
    #[error("release '{0}' does not exist")]
    ReleaseNotFound(String),
    /// Release names are unique.
    #[error("release '{0}' already exists; release names cannot be reused")]
    ReleaseExists(String),
    /// Another process holds the catalog file.
    #[error("warehouse '{0}' is already open in another process")]
    WarehouseLocked(String),
    /// The catalog file is damaged.
    #[error("catalog file '{path}' is corrupt: {detail}")]
    CatalogCorrupt {
        /// The redb file.
        path: String,
        /// What redb reported.
        detail: String,
    },
    /// The catalog file was written by a newer floe.
    #[error(
        "catalog file '{path}' has format version {found}, but this floe understands up to version {supported}; upgrade floe to open it"
    )]
    UnsupportedFormat {
        /// The redb file.
        path: String,
        /// Version found in the file.
        found: u64,
        /// Newest version this build writes.
        supported: u64,
    },
    /// A mutation on a catalog opened read-only.
    #[error("the catalog is open read-only; cannot {0}")]
    ReadOnly(&'static str),
    /// A bad argument to a catalog call (bad property, bad location, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// A filesystem error with the path it concerned.
    #[error("{action} '{path}': {source}")]
    Io {
        /// What was being done ("cannot write file", ...).
        action: &'static str,
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A table's metadata file could not be read or parsed.
    #[error("cannot read metadata file '{location}' of table '{table}': {detail}")]
    BadMetadata {
        /// The table.
        table: String,
        /// The metadata file.
        location: String,
        /// What went wrong.
        detail: String,
    },
    /// redb reported an error (I/O on the catalog file, corruption found mid-transaction).
    #[error("catalog storage error: {0}")]
    Storage(String),
    /// The warehouse's object store cannot be used (no such bucket, access denied,
    /// endpoint unreachable); the message names the bucket and the setting to check.
    #[error("{0}")]
    ObjectStore(String),
    /// An error raised by the iceberg crate (building metadata, applying updates, file IO).
    #[error("{}", iceberg_message(.0))]
    Iceberg(#[from] iceberg::Error),
}

fn quoted_list(tables: &[String]) -> String {
    let names: Vec<String> = tables.iter().map(|t| format!("'{t}'")).collect();
    match names.len() {
        1 => format!("table {}", names[0]),
        _ => format!("tables {}", names.join(", ")),
    }
}

/// iceberg's `Display` prefixes the kind and appends context; users want the message and
/// the context, on one line.
pub(crate) fn iceberg_message(e: &iceberg::Error) -> String {
    let full = e.to_string();
    // `Kind => message` or `Kind, context: {..} => message, source: ..`: keep it, minus the kind.
    let kind = e.kind().into_static();
    let rest = full.strip_prefix(kind).unwrap_or(&full);
    let rest = rest.strip_prefix(" => ").unwrap_or(rest);
    rest.trim_start_matches(", ").replace('\n', " ")
}

impl Error {
    /// The iceberg error kind this error corresponds to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NamespaceNotFound(_) => ErrorKind::NamespaceNotFound,
            Error::NamespaceExists(_) => ErrorKind::NamespaceAlreadyExists,
            Error::TableNotFound(_) => ErrorKind::TableNotFound,
            Error::TableExists(_) | Error::IsAView(_) => ErrorKind::TableAlreadyExists,
            Error::ViewExists(_) | Error::IsATable(_) => ErrorKind::TableAlreadyExists,
            Error::ViewNotFound(_) => ErrorKind::TableNotFound,
            Error::Conflict { .. } => ErrorKind::CatalogCommitConflicts,
            Error::NamespaceNotEmpty { .. }
            | Error::ReadOnly(_)
            | Error::WarehouseLocked(_)
            | Error::ReleaseExists(_) => ErrorKind::PreconditionFailed,
            Error::UnsupportedFormat { .. } => ErrorKind::FeatureUnsupported,
            Error::InvalidName { .. }
            | Error::UnknownSnapshot { .. }
            | Error::BeforeFirstSnapshot { .. }
            | Error::UnknownRef { .. }
            | Error::NotInRelease { .. }
            | Error::ReleaseNotFound(_)
            | Error::InvalidArgument(_)
            | Error::BadMetadata { .. }
            | Error::CatalogCorrupt { .. } => ErrorKind::DataInvalid,
            Error::Io { .. } | Error::Storage(_) | Error::ObjectStore(_) => ErrorKind::Unexpected,
            Error::Iceberg(e) => e.kind(),
        }
    }

    /// Whether retrying the same operation (after reloading) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Conflict { .. } => true,
            Error::Iceberg(e) => e.retryable(),
            _ => false,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl std::fmt::Display,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.to_string(),
            source,
        }
    }
}

impl From<Error> for iceberg::Error {
    fn from(e: Error) -> Self {
        match e {
            // Keep iceberg's own error (and its source chain) intact.
            Error::Iceberg(inner) => inner,
            other => {
                let retryable = other.is_retryable();
                iceberg::Error::new(other.kind(), other.to_string()).with_retryable(retryable)
            }
        }
    }
}

macro_rules! storage_error {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Storage(e.to_string())
            }
        }
    )*};
}
storage_error!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Storage(format!("undecodable catalog record: {e}"))
    }
}
