//! # floe-rest
//!
//! A floe warehouse served as an Apache Iceberg REST catalog (the spec's
//! `rest-catalog-open-api.yaml`), so Spark, Trino, Flink, PyIceberg and DuckDB share one
//! warehouse with floe's shell and embedders. It depends on floe-catalog only: every
//! request is a catalog call, and every commit goes through the catalog's one commit
//! protocol (`floe-catalog/docs/design.md`), with two additions for writers in other
//! processes:
//!
//! * their files may not be durable: before each of their commits the catalog is told to
//!   flush the warehouse's filesystem ([`RedbCatalog::expect_remote_files`]);
//! * their files in flight are invisible to this process: while a server lives, orphan
//!   removal keeps every file younger than an hour ([`RedbCatalog::remote_writers`]).
//!
//! `POST /v1/transactions/commit` is floe's release machinery: every table's change is
//! staged, then all are published in one redb transaction, or none is.
//!
//! Safe by default: with a token, every route requires `Authorization: Bearer <token>`
//! (compared in constant time, never logged); request bodies are limited and requests
//! time out; [`Server::serve`] shuts down gracefully, finishing commits in flight.

mod commits;
mod error;
mod namespaces;
mod tables;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use floe_catalog::RedbCatalog;
use serde::de::DeserializeOwned;

pub use error::ApiError;
use error::ApiResult;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// When set, every request must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Largest request body accepted (bytes).
    pub body_limit: usize,
    /// How long one request may take before it is answered with 408. A commit that has
    /// started runs to its end regardless: it is never cut off half-way.
    pub request_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            token: None,
            body_limit: 16 << 20,
            request_timeout: Duration::from_secs(120),
        }
    }
}

pub(crate) struct AppState {
    pub catalog: RedbCatalog,
    token: Option<Vec<u8>>,
    pub body_limit: usize,
    /// Every commit in progress holds a read guard; shutdown takes the write guard, so it
    /// waits for them and no commit starts after it.
    pub commits: Arc<tokio::sync::RwLock<()>>,
    /// Orphan removal keeps young files while remote writers are served.
    _remote: floe_catalog::RemoteWriters,
}

/// A REST catalog server over one warehouse's catalog (the same live catalog the shell
/// or an embedder uses, so each side sees the other's commits at once).
#[derive(Clone)]
pub struct Server {
    state: Arc<AppState>,
    options: ServerOptions,
}

/// Every endpoint served, as `GET /v1/config` lists them: PyIceberg refuses endpoints a
/// server does not advertise, and DuckDB commits through `transactions/commit` only when
/// it is listed.
pub const ENDPOINTS: &[&str] = &[
    "GET /v1/{prefix}/namespaces",
    "POST /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/register",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
    "POST /v1/{prefix}/tables/rename",
    "POST /v1/{prefix}/transactions/commit",
];

impl Server {
    pub fn new(catalog: RedbCatalog, options: ServerOptions) -> Self {
        let state = Arc::new(AppState {
            _remote: catalog.remote_writers(),
            catalog,
            token: options.token.as_ref().map(|t| t.as_bytes().to_vec()),
            body_limit: options.body_limit,
            commits: Arc::new(tokio::sync::RwLock::new(())),
        });
        Self { state, options }
    }

    /// The routes, with authentication, body limit and timeout applied.
    pub fn router(&self) -> Router {
        let ns = "/v1/namespaces/{namespace}";
        let table = "/v1/namespaces/{namespace}/tables/{table}";
        Router::new()
            .route("/v1/config", get(config))
            .route(
                "/v1/namespaces",
                get(namespaces::list).post(namespaces::create),
            )
            .route(
                ns,
                get(namespaces::load)
                    .head(namespaces::exists)
                    .delete(namespaces::drop),
            )
            .route(
                "/v1/namespaces/{namespace}/properties",
                post(namespaces::update_properties),
            )
            .route(
                "/v1/namespaces/{namespace}/tables",
                get(tables::list).post(tables::create),
            )
            .route(
                table,
                get(tables::load)
                    .head(tables::exists)
                    .post(commits::commit_table)
                    .delete(tables::drop),
            )
            .route(&format!("{table}/metrics"), post(tables::metrics))
            .route(
                "/v1/namespaces/{namespace}/register",
                post(tables::register),
            )
            .route("/v1/tables/rename", post(tables::rename))
            .route("/v1/transactions/commit", post(commits::commit_transaction))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                authenticate,
            ))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                self.options.request_timeout,
            ))
            .with_state(self.state.clone())
    }

    /// Serves on `listener` in a background task until [`Running::stop`].
    pub fn spawn(self, listener: tokio::net::TcpListener) -> std::io::Result<Running> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            self.serve(listener, async move {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Running {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Serves until `shutdown` completes, then stops accepting, lets requests in flight
    /// finish and waits for every commit in progress. The caller closes the catalog.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await?;
        let _no_more_commits = self.state.commits.write().await;
        Ok(())
    }
}

/// A server running in the background ([`Server::spawn`]).
pub struct Running {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, the `uri` clients are given.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish and waits for every commit in
    /// progress.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task
            .await
            .map_err(|e| std::io::Error::other(format!("the REST server task failed: {e}")))?
    }
}

async fn config() -> Response {
    axum::Json(serde_json::json!({
        "defaults": {},
        "overrides": {},
        "endpoints": ENDPOINTS,
    }))
    .into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        request.method(),
        request.uri().path()
    ))
}

/// Requires the bearer token on every route (when one is set). The comparison takes the
/// same time wherever the presented token first differs.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(expected) = &state.token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .unwrap_or("");
        if !constant_time_eq(presented.as_bytes(), expected) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

/// Equal-length inputs are compared in time independent of their content; a length
/// difference is known to an attacker anyway (it shows in the response time of any
/// comparison), and is still checked without an early exit on the content.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, &x) in b.iter().enumerate() {
        diff |= x ^ a.get(i).copied().unwrap_or(!x);
    }
    diff == 0
}

/// A JSON request body, limited in size; malformed or oversized bodies are the spec's
/// 400 / 413 errors (axum's own extractors answer in plain text).
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> ApiResult<Self> {
        let bytes = axum::body::to_bytes(request.into_body(), state.body_limit)
            .await
            .map_err(|e| {
                let too_large = e.to_string().contains("length limit");
                if too_large {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "BadRequestException",
                        format!("request body is larger than {} bytes", state.body_limit),
                    )
                } else {
                    ApiError::bad_request(format!("cannot read the request body: {e}"))
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("malformed request body: {e}")))
    }
}

/// Parses a namespace from a path segment: levels separated by the unit separator
/// (`%1F`), each a valid floe name.
pub(crate) fn namespace(segment: &str) -> ApiResult<iceberg::NamespaceIdent> {
    let levels: Vec<String> = segment.split('\u{1f}').map(str::to_string).collect();
    let ns = iceberg::NamespaceIdent::from_vec(levels)
        .map_err(|_| ApiError::bad_request("empty namespace"))?;
    floe_catalog::ident::validate_namespace(&ns)?;
    Ok(ns)
}

/// Parses a table identifier from path segments.
pub(crate) fn table_ident(ns: &str, table: &str) -> ApiResult<iceberg::TableIdent> {
    let ident = iceberg::TableIdent::new(namespace(ns)?, table.to_string());
    floe_catalog::ident::validate_table(&ident)?;
    Ok(ident)
}
