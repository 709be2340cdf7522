//! Namespace routes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use iceberg_catalog_rest::{
    CreateNamespaceRequest, ListNamespaceResponse, NamespaceResponse,
    UpdateNamespacePropertiesRequest, UpdateNamespacePropertiesResponse,
};

use crate::error::ApiResult;
use crate::{AppState, JsonBody, namespace};

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<ListNamespaceResponse>> {
    let parent = match query.get("parent") {
        Some(p) => Some(namespace(p)?),
        None => None,
    };
    let namespaces = state.catalog.namespaces(parent.as_ref())?;
    Ok(Json(ListNamespaceResponse {
        namespaces,
        next_page_token: None,
    }))
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(request): JsonBody<CreateNamespaceRequest>,
) -> ApiResult<Json<NamespaceResponse>> {
    floe_catalog::ident::validate_namespace(&request.namespace)?;
    let ns = state
        .catalog
        .create_ns(&request.namespace, request.properties)
        .await?;
    Ok(Json(NamespaceResponse::from(&ns)))
}

pub(crate) async fn load(
    State(state): State<Arc<AppState>>,
    Path(ns): Path<String>,
) -> ApiResult<Json<NamespaceResponse>> {
    let ns = state.catalog.namespace(&namespace(&ns)?)?;
    Ok(Json(NamespaceResponse::from(&ns)))
}

pub(crate) async fn exists(State(state): State<Arc<AppState>>, Path(ns): Path<String>) -> Response {
    match namespace(&ns) {
        Ok(ns) if state.catalog.contains_namespace(&ns) => StatusCode::NO_CONTENT,
        Ok(_) => StatusCode::NOT_FOUND,
        Err(e) => e.status,
    }
    .into_response()
}

pub(crate) async fn drop(
    State(state): State<Arc<AppState>>,
    Path(ns): Path<String>,
) -> ApiResult<StatusCode> {
    state.catalog.drop_ns(&namespace(&ns)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn update_properties(
    State(state): State<Arc<AppState>>,
    Path(ns): Path<String>,
    JsonBody(request): JsonBody<UpdateNamespacePropertiesRequest>,
) -> ApiResult<Json<UpdateNamespacePropertiesResponse>> {
    let ns = namespace(&ns)?;
    let removals = request.removals.unwrap_or_default();
    if let Some(key) = removals.iter().find(|k| request.updates.contains_key(*k)) {
        return Err(crate::ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UnprocessableEntityException",
            format!("property '{key}' is both updated and removed"),
        ));
    }
    let mut props = state.catalog.namespace(&ns)?.properties().clone();
    let mut removed = Vec::new();
    let mut missing = Vec::new();
    for key in removals {
        if props.remove(&key).is_some() {
            removed.push(key);
        } else {
            missing.push(key);
        }
    }
    let mut updated: Vec<String> = request.updates.keys().cloned().collect();
    updated.sort();
    props.extend(request.updates);
    state.catalog.update_ns(&ns, props).await?;
    Ok(Json(UpdateNamespacePropertiesResponse {
        updated,
        removed,
        missing: (!missing.is_empty()).then_some(missing),
    }))
}
