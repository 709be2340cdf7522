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
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
