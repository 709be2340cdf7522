//! Error plumbing between floe-catalog, iceberg and DataFusion.
//!
//! floe's own errors travel inside `DataFusionError::External` so callers can downcast
//! them (e.g. to see that a conflict is retryable) and print one readable line; see
//! [`display_error`].

use datafusion::error::DataFusionError;

/// A floe-catalog error as a DataFusion error (downcastable with [`catalog_error`]).
pub fn to_df(e: floe_catalog::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// An iceberg error as a DataFusion error, keeping only the readable message.
pub fn iceberg_to_df(e: iceberg::Error) -> DataFusionError {
    to_df(floe_catalog::Error::Iceberg(e))
}

/// The floe-catalog error inside a DataFusion error, if there is one.
pub fn catalog_error(e: &DataFusionError) -> Option<&floe_catalog::Error> {
    match e {
        DataFusionError::External(inner) => inner.downcast_ref::<floe_catalog::Error>(),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            catalog_error(inner)
        }
        DataFusionError::Shared(inner) => catalog_error(inner),
        _ => None,
    }
}

/// One line for users: DataFusion's wrapping ("External error: ", "Error during
/// planning: ", contexts, backtraces) removed where it adds nothing, newlines folded.
pub fn display_error(e: &DataFusionError) -> String {
    let inner = e.find_root();
    let text = match inner {
        DataFusionError::External(err) => err.to_string(),
        DataFusionError::Plan(msg)
        | DataFusionError::Execution(msg)
        | DataFusionError::NotImplemented(msg)
        | DataFusionError::Configuration(msg) => msg.clone(),
        DataFusionError::SQL(err, _) => format!("SQL error: {err}"),
        DataFusionError::SchemaError(err, _) => err.to_string(),
        other => other.to_string(),
    };
    let text = text.split("\n\nbacktrace").next().unwrap_or(&text);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    strip_debug_dump(&text)
}

/// Cuts a Rust `Debug` dump of a syntax tree or plan node out of a message (DataFusion
/// writes some "not implemented" errors with `{:?}`: `... yet: SetNames { charset_name:
/// Ident { value: ...`): the message keeps the node's name and loses the dump.
fn strip_debug_dump(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut search = 0;
    while let Some(pos) = text[search..].find(" { ").map(|p| p + search) {
        // The word before " { " must be a CamelCase type name, and a field follows.
        let start = text[..pos]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |p| p + 1);
        let word = &text[start..pos];
        let field = text[pos + 3..]
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        let follows_field = text[pos + 3 + field.len()..].starts_with(": ");
        if word.starts_with(|c: char| c.is_ascii_uppercase()) && !field.is_empty() && follows_field
        {
            // Back over enclosing `Name(` wrappers: `InSubquery(InSubquery { ...`.
            let mut cut = start;
            while cut > 0 && bytes[cut - 1] == b'(' {
                let outer = text[..cut - 1]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(0, |p| p + 1);
                if !text[outer..cut - 1].starts_with(|c: char| c.is_ascii_uppercase()) {
                    break;
                }
                cut = outer;
            }
            let name_end = text[cut..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(text.len(), |p| p + cut);
            return format!("{} (details omitted)", text[..name_end].trim_end());
        }
        search = pos + 3;
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::strip_debug_dump;

    #[test]
    fn debug_dumps_are_cut_to_the_node_name() {
        assert_eq!(
            strip_debug_dump(
                "SET variant not implemented yet: SetNames { charset_name: Ident { value: \"x\" } }"
            ),
            "SET variant not implemented yet: SetNames (details omitted)"
        );
        assert_eq!(
            strip_debug_dump(
                "Physical plan does not support logical expression InSubquery(InSubquery { expr: Column(a) })"
            ),
            "Physical plan does not support logical expression InSubquery (details omitted)"
        );
        // Ordinary messages, braces included, are left alone.
        let plain = "table 'orders' not found; struct {a: 1} is fine";
        assert_eq!(strip_debug_dump(plain), plain);
        assert_eq!(strip_debug_dump("Int64 { x }"), "Int64 { x }");
    }
}
