//! Table routes other than commits.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use iceberg::TableCreation;
use iceberg::spec::FormatVersion;
use iceberg::table::Table;
use iceberg_catalog_rest::{
    CreateTableRequest, ListTablesResponse, RegisterTableRequest, RenameTableRequest,
};

use crate::commits::check_properties;
use crate::error::{ApiError, ApiResult};
use crate::{AppState, JsonBody, namespace, table_ident};

/// A table as `loadTable`, `createTable` and a commit return it (`LoadTableResult`,
/// `CommitTableResponse`): its metadata location (none for a staged create) and its
/// metadata document — the very bytes of the metadata file when the catalog still keeps
/// them (every version this process wrote recently), so a commit serializes its
/// metadata once, not twice.
pub(crate) fn table_response(
    catalog: &floe_catalog::RedbCatalog,
    table: &Table,
    committed: bool,
) -> ApiResult<Response> {
    let location = committed.then(|| table.metadata_location()).flatten();
    let metadata = match location.and_then(|l| catalog.metadata_json(l)) {
        Some(bytes) => bytes.to_vec(),
        None => serde_json::to_vec(table.metadata()).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServerErrorException",
                format!("cannot encode the table metadata: {e}"),
            )
        })?,
    };
    let mut body = Vec::with_capacity(metadata.len() + 256);
    body.extend_from_slice(b"{\"metadata-location\":");
    body.extend_from_slice(
        serde_json::to_string(&location)
            .unwrap_or_else(|_| "null".into())
            .as_bytes(),
    );
    body.extend_from_slice(b",\"metadata\":");
    body.extend_from_slice(&metadata);
    body.push(b'}');
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Path(ns): Path<String>,
) -> ApiResult<Json<ListTablesResponse>> {
    let identifiers = state.catalog.tables(&namespace(&ns)?)?;
    Ok(Json(ListTablesResponse {
        identifiers,
        next_page_token: None,
    }))
}

/// The format version a client asked for in the reserved `format-version` property.
pub(crate) fn take_format_version(
    properties: &mut HashMap<String, String>,
) -> ApiResult<FormatVersion> {
    match properties.remove("format-version").as_deref() {
        None | Some("2") => Ok(FormatVersion::V2),
        Some("1") => Ok(FormatVersion::V1),
        Some("3") => Ok(FormatVersion::V3),
        Some(other) => Err(ApiError::bad_request(format!(
            "unsupported format-version '{other}' (1, 2 or 3)"
        ))),
    }
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    Path(ns): Path<String>,
    JsonBody(request): JsonBody<CreateTableRequest>,
) -> ApiResult<Response> {
    let ns = namespace(&ns)?;
    let CreateTableRequest {
        name,
        location,
        schema,
        partition_spec,
        write_order,
        stage_create,
        mut properties,
    } = request;
    floe_catalog::ident::validate_table(&iceberg::TableIdent::new(ns.clone(), name.clone()))?;
    check_properties(&state.catalog, &properties)?;
    let format_version = take_format_version(&mut properties)?;
    let creation = TableCreation {
        name,
        location,
        schema,
        partition_spec,
        sort_order: write_order,
        properties,
        format_version,
    };
    if stage_create.unwrap_or(false) {
        // Nothing is registered: the client commits the create later with
        // `assert-create`, as one step with its first data.
        let staged = state.catalog.stage_create(&ns, creation).await?;
        make_table_dirs(&staged)?;
        return table_response(&state.catalog, &staged, false);
    }
    let table = state.catalog.create(&ns, creation).await?;
    make_table_dirs(&table)?;
    table_response(&state.catalog, &table, true)
}

/// Creates a local table's `data/` and `metadata/` directories: clients write there
/// before any commit, and DuckDB creates `data/` only one level deep and never
/// `metadata/`. Object stores have no directories.
fn make_table_dirs(table: &Table) -> ApiResult<()> {
    let location = table.metadata().location();
    if floe_catalog::storage::is_local(location) {
        let root = floe_catalog::storage::local_path(location);
        for dir in ["data", "metadata"] {
            floe_catalog::storage::create_dir_all_durable(&root.join(dir)).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServerErrorException",
                    format!(
                        "cannot create directory '{}': {e}",
                        root.join(dir).display()
                    ),
                )
            })?;
        }
    }
    Ok(())
}

pub(crate) async fn load(
    State(state): State<Arc<AppState>>,
    Path((ns, table)): Path<(String, String)>,
) -> ApiResult<Response> {
    let table = state.catalog.table(&table_ident(&ns, &table)?).await?;
    table_response(&state.catalog, &table, true)
}

pub(crate) async fn exists(
    State(state): State<Arc<AppState>>,
    Path((ns, table)): Path<(String, String)>,
) -> Response {
    match table_ident(&ns, &table) {
        Ok(ident) if state.catalog.contains_table(&ident) => StatusCode::NO_CONTENT,
        Ok(_) => StatusCode::NOT_FOUND,
        Err(e) => e.status,
    }
    .into_response()
}

pub(crate) async fn drop(
    State(state): State<Arc<AppState>>,
    Path((ns, table)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let ident = table_ident(&ns, &table)?;
    // PyIceberg sends Python's spelling (`True`/`False`).
    let purge = match query
        .get("purgeRequested")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "purgeRequested must be true or false, not '{other}'"
            )));
        }
    };
    if purge {
        state.catalog.purge(&ident).await?;
    } else {
        state.catalog.drop(&ident).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Scan and commit reports: accepted and discarded (the spec makes them advisory).
pub(crate) async fn metrics(
    State(state): State<Arc<AppState>>,
    Path((ns, table)): Path<(String, String)>,
    JsonBody(_report): JsonBody<serde_json::Value>,
) -> ApiResult<StatusCode> {
    let ident = table_ident(&ns, &table)?;
    if !state.catalog.contains_table(&ident) {
        return Err(
            floe_catalog::Error::TableNotFound(floe_catalog::ident::table_display(&ident)).into(),
        );
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn register(
    State(state): State<Arc<AppState>>,
    Path(ns): Path<String>,
    JsonBody(request): JsonBody<RegisterTableRequest>,
) -> ApiResult<Response> {
    let ident = iceberg::TableIdent::new(namespace(&ns)?, request.name);
    floe_catalog::ident::validate_table(&ident)?;
    if request.overwrite == Some(true) {
        return Err(ApiError::bad_request(
            "register with overwrite is refused: drop the table first, then register it",
        ));
    }
    state.catalog.check_location(&request.metadata_location)?;
    let table = state
        .catalog
        .register(&ident, request.metadata_location)
        .await?;
    table_response(&state.catalog, &table, true)
}

pub(crate) async fn rename(
    State(state): State<Arc<AppState>>,
    JsonBody(request): JsonBody<RenameTableRequest>,
) -> ApiResult<StatusCode> {
    floe_catalog::ident::validate_table(&request.source)?;
    floe_catalog::ident::validate_table(&request.destination)?;
    state
        .catalog
        .rename(&request.source, &request.destination)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
