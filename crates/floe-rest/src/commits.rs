//! Commits: `POST .../tables/{table}` (one table, or a staged create) and
//! `POST /v1/transactions/commit` (several tables, all or nothing).
//!
//! Every commit runs in its own task holding a read guard of the server's commit lock:
//! a client that disconnects or times out never cuts a commit off half-way, and shutdown
//! waits for every commit in progress. Before a commit the catalog is told the client's
//! files may not be durable yet ([`floe_catalog::RedbCatalog::expect_remote_files`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use floe_catalog::RedbCatalog;
use floe_catalog::ident::table_display;
use iceberg::spec::FormatVersion;
use iceberg::{TableCreation, TableIdent, TableRequirement, TableUpdate};
use iceberg_catalog_rest::CommitTableRequest;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::{AppState, JsonBody, table_ident};

/// Table properties that name where clients write files: they must stay inside the
/// warehouse like every other location.
const PATH_PROPERTIES: &[&str] = &[
    "write.data.path",
    "write.metadata.path",
    "write.object-storage.path",
    "write.folder-storage.path",
];

pub(crate) fn check_properties(
    catalog: &RedbCatalog,
    properties: &HashMap<String, String>,
) -> ApiResult<()> {
    for key in PATH_PROPERTIES {
        if let Some(location) = properties.get(*key) {
            catalog
                .check_location(location)
                .map_err(|e| ApiError::bad_request(format!("table property '{key}': {e}")))?;
        }
    }
    Ok(())
}

/// Refuses updates that would make the catalog name files outside the warehouse.
fn check_updates(
    catalog: &RedbCatalog,
    ident: &TableIdent,
    updates: &[TableUpdate],
) -> ApiResult<()> {
    let outside = |what: &str, e: floe_catalog::Error| {
        ApiError::bad_request(format!("table '{}': {what}: {e}", table_display(ident)))
    };
    for update in updates {
        match update {
            TableUpdate::SetLocation { location } => catalog
                .check_location(location)
                .map_err(|e| outside("set-location", e))?,
            TableUpdate::AddSnapshot { snapshot } => catalog
                .check_location(snapshot.manifest_list())
                .map_err(|e| outside("manifest list", e))?,
            TableUpdate::SetStatistics { statistics } => catalog
                .check_location(&statistics.statistics_path)
                .map_err(|e| outside("statistics file", e))?,
            TableUpdate::SetPartitionStatistics {
                partition_statistics,
            } => catalog
                .check_location(&partition_statistics.statistics_path)
                .map_err(|e| outside("partition statistics file", e))?,
            TableUpdate::SetProperties { updates } => check_properties(catalog, updates)?,
            _ => {}
        }
    }
    Ok(())
}

/// Runs a commit to its end in its own task, under a read guard of the commit lock.
async fn run_commit<T: Send + 'static>(
    state: &Arc<AppState>,
    commit: impl Future<Output = ApiResult<T>> + Send + 'static,
) -> ApiResult<T> {
    let guard = state.commits.clone().try_read_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            "the catalog server is shutting down; nothing was committed",
        )
    })?;
    let catalog = state.catalog.clone();
    tokio::spawn(async move {
        let _commit = guard;
        catalog.expect_remote_files();
        commit.await
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerErrorException",
            format!("the commit task failed: {e}"),
        )
    })?
}

pub(crate) async fn commit_table(
    State(state): State<Arc<AppState>>,
    Path((ns, table)): Path<(String, String)>,
    JsonBody(request): JsonBody<CommitTableRequest>,
) -> ApiResult<axum::response::Response> {
    let ident = table_ident(&ns, &table)?;
    if let Some(named) = &request.identifier
        && named != &ident
    {
        return Err(ApiError::bad_request(format!(
            "the body names table '{}' but the path names '{}'",
            table_display(named),
            table_display(&ident)
        )));
    }
    check_updates(&state.catalog, &ident, &request.updates)?;
    let creates = request
        .requirements
        .iter()
        .any(|r| matches!(r, TableRequirement::NotExist));
    let catalog = state.catalog.clone();
    let table = run_commit(&state, async move {
        if creates {
            create_by_commit(&catalog, &ident, request.updates).await
        } else {
            Ok(catalog
                .commit_table(&ident, request.requirements, request.updates)
                .await?)
        }
    })
    .await?;
    crate::tables::table_response(&state.catalog, &table, true)
}

/// Completes a staged create (`stage-create`, then a commit with `assert-create`): the
/// table appears with its first data in one step. The initial schema, spec, sort order,
/// location and properties build the table as a plain create would; the remaining
/// updates (uuid, snapshots, refs, ...) are applied on top.
async fn create_by_commit(
    catalog: &RedbCatalog,
    ident: &TableIdent,
    updates: Vec<TableUpdate>,
) -> ApiResult<iceberg::table::Table> {
    let mut schema = None;
    let mut spec = None;
    let mut order = None;
    let mut location = None;
    let mut properties = HashMap::new();
    let mut format_version = FormatVersion::V2;
    let mut rest = Vec::new();
    for update in updates {
        match update {
            TableUpdate::AddSchema { schema: s } if schema.is_none() => schema = Some(s),
            TableUpdate::SetCurrentSchema { .. } if rest.is_empty() => {}
            TableUpdate::AddSpec { spec: s } if spec.is_none() => spec = Some(s),
            TableUpdate::SetDefaultSpec { .. } if rest.is_empty() => {}
            TableUpdate::AddSortOrder { sort_order } if order.is_none() => order = Some(sort_order),
            TableUpdate::SetDefaultSortOrder { .. } if rest.is_empty() => {}
            TableUpdate::SetLocation { location: l } => location = Some(l),
            TableUpdate::SetProperties { updates } => properties.extend(updates),
            TableUpdate::UpgradeFormatVersion { format_version: v } => format_version = v,
            other => rest.push(other),
        }
    }
    let Some(schema) = schema else {
        return Err(ApiError::bad_request(format!(
            "creating table '{}' by commit needs an add-schema update",
            table_display(ident)
        )));
    };
    if properties.contains_key("format-version") {
        format_version = crate::tables::take_format_version(&mut properties)?;
    }
    let creation = TableCreation {
        name: ident.name.clone(),
        location,
        schema,
        partition_spec: spec,
        sort_order: order,
        properties,
        format_version,
    };
    let staged = catalog.stage_create(&ident.namespace, creation).await?;
    Ok(catalog.commit_create(&staged, rest).await?)
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct CommitTransactionRequest {
    table_changes: Vec<CommitTableRequest>,
}

/// `POST /v1/transactions/commit`: every table's change is staged against its current
/// version (requirements checked there), then all are published in ONE redb
/// transaction that compare-and-swaps every table — floe's releases. Any failure
/// publishes nothing and removes the staged metadata files.
pub(crate) async fn commit_transaction(
    State(state): State<Arc<AppState>>,
    JsonBody(request): JsonBody<CommitTransactionRequest>,
) -> ApiResult<StatusCode> {
    if request.table_changes.is_empty() {
        return Err(ApiError::bad_request("table-changes is empty"));
    }
    let mut changes = Vec::new();
    let mut seen = HashSet::new();
    for change in request.table_changes {
        let Some(ident) = change.identifier.clone() else {
            return Err(ApiError::bad_request(
                "every table change of a transaction needs its identifier",
            ));
        };
        floe_catalog::ident::validate_table(&ident)?;
        if !seen.insert(ident.clone()) {
            return Err(ApiError::bad_request(format!(
                "table '{}' appears more than once in one transaction",
                table_display(&ident)
            )));
        }
        if change
            .requirements
            .iter()
            .any(|r| matches!(r, TableRequirement::NotExist))
        {
            return Err(ApiError::bad_request(format!(
                "table '{}': creating tables inside transactions/commit is refused; create it with its own commit first",
                table_display(&ident)
            )));
        }
        check_updates(&state.catalog, &ident, &change.updates)?;
        changes.push((ident, change.requirements, change.updates));
    }
    let catalog = state.catalog.clone();
    run_commit(&state, async move {
        let mut staged = Vec::new();
        let mut failure = None;
        for (ident, requirements, updates) in changes {
            let result = match catalog.table(&ident).await {
                Ok(base) => catalog.stage_commit(&base, &requirements, updates).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(s) => staged.push(s),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let result = match failure {
            Some(e) => Err(e),
            None => catalog
                .publish_release(None, None, staged.clone())
                .await
                .map(|_| ()),
        };
        if let Err(e) = result {
            for s in &staged {
                catalog.discard(s).await;
            }
            return Err(e.into());
        }
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
