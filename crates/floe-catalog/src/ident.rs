//! Identifier rules and the catalog's key encodings.
//!
//! Namespace, table, release and ref names become path segments (tables live at
//! `<warehouse>/<namespace...>/<table>/`), so every name is validated before it can reach
//! the filesystem: 1–255 bytes, no `/`, `\`, NUL or control characters, not `.` or `..`.
//! Because control characters are rejected, the unit separator `\u{1f}` can join
//! namespace levels into one redb key without ambiguity.

use iceberg::{NamespaceIdent, TableIdent};

use crate::error::{Error, Result};

/// Longest accepted name, in bytes (a common filesystem limit for one path segment).
pub const MAX_NAME_BYTES: usize = 255;

/// Separator between namespace levels inside redb keys; control characters never occur in names.
pub(crate) const LEVEL_SEP: char = '\u{1f}';

/// Checks one name against the identifier rules; `kind` names what it is for the error.
pub fn validate_name(kind: &'static str, name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            kind,
            name: printable(name),
            reason,
        })
    };
    if name.is_empty() {
        return bad("names cannot be empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return bad("names are at most 255 bytes");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if name.contains('/') || name.contains('\\') {
        return bad("names cannot contain '/' or '\\'");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("names cannot contain NUL or control characters");
    }
    Ok(())
}

/// Checks every level of a namespace.
pub fn validate_namespace(ns: &NamespaceIdent) -> Result<()> {
    if ns.is_empty() {
        return Err(Error::InvalidName {
            kind: "namespace",
            name: String::new(),
            reason: "names cannot be empty",
        });
    }
    for level in ns.iter() {
        validate_name("namespace", level)?;
    }
    Ok(())
}

/// Checks a table identifier (its namespace and its name).
pub fn validate_table(ident: &TableIdent) -> Result<()> {
    validate_namespace(&ident.namespace)?;
    validate_name("table", &ident.name)
}

/// The name as it may be shown in one error line: control characters escaped, long names cut.
pub(crate) fn printable(name: &str) -> String {
    let mut out: String = name.chars().flat_map(char::escape_debug).take(80).collect();
    if name.chars().count() > 80 {
        out.push_str("...");
    }
    out
}

/// redb key of a namespace.
pub(crate) fn ns_key(ns: &NamespaceIdent) -> String {
    let mut key = String::new();
    for (i, level) in ns.iter().enumerate() {
        if i > 0 {
            key.push(LEVEL_SEP);
        }
        key.push_str(level);
    }
    key
}

/// Inverse of [`ns_key`].
pub(crate) fn ns_from_key(key: &str) -> NamespaceIdent {
    // Keys are only ever written by `ns_key` from validated, non-empty namespaces.
    NamespaceIdent::from_vec(key.split(LEVEL_SEP).map(str::to_string).collect())
        .unwrap_or_else(|_| NamespaceIdent::new(key.to_string()))
}

/// Human form of a table: `ns.table` (nested namespaces joined by dots).
pub fn table_display(ident: &TableIdent) -> String {
    format!("{}.{}", ident.namespace.join("."), ident.name)
}

/// Human form of a namespace.
pub fn namespace_display(ns: &NamespaceIdent) -> String {
    ns.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "orders",
            "Order Lines",
            "a.b",
            "ünïcödé",
            "x-1_2",
            &"n".repeat(255),
        ] {
            validate_name("table", name).unwrap();
        }
    }

    #[test]
    fn rejects_names_that_could_escape_the_warehouse() {
        for name in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\0b",
            "tab\there",
            &"n".repeat(256),
        ] {
            let err = validate_name("table", name).unwrap_err().to_string();
            assert!(err.starts_with("invalid table name"), "{err}");
        }
    }

    #[test]
    fn error_shows_control_characters_escaped() {
        let err = validate_name("namespace", "a\0b").unwrap_err().to_string();
        assert!(err.contains("a\\0b"), "{err}");
    }

    #[test]
    fn namespace_keys_round_trip() {
        let ns = NamespaceIdent::from_strs(["a", "b.c", "d"]).unwrap();
        assert_eq!(ns_from_key(&ns_key(&ns)), ns);
    }
}
