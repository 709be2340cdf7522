//! Errors in the REST spec's model: `{"error": {"message", "type", "code"}}` with the
//! spec's status codes. A 409 always means nothing was committed (clients delete the
//! files they wrote for the commit after one); a 500 means the outcome is unknown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use floe_catalog::Error;
use iceberg::ErrorKind;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequestException", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "NotAuthorizedException",
            "this catalog requires 'Authorization: Bearer <token>' with the server's token",
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFoundException", message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        let (status, kind) = match &e {
            Error::NamespaceNotFound(_) => (StatusCode::NOT_FOUND, "NoSuchNamespaceException"),
            Error::TableNotFound(_) => (StatusCode::NOT_FOUND, "NoSuchTableException"),
            Error::ViewNotFound(_) => (StatusCode::NOT_FOUND, "NoSuchViewException"),
            Error::NamespaceExists(_)
            | Error::TableExists(_)
            | Error::ViewExists(_)
            | Error::IsAView(_)
            | Error::IsATable(_) => (StatusCode::CONFLICT, "AlreadyExistsException"),
            Error::NamespaceNotEmpty { .. } => (StatusCode::CONFLICT, "NamespaceNotEmptyException"),
            Error::Conflict { .. } => (StatusCode::CONFLICT, "CommitFailedException"),
            Error::ReadOnly(_) => (StatusCode::FORBIDDEN, "ForbiddenException"),
            Error::InvalidName { .. }
            | Error::InvalidArgument(_)
            | Error::BadMetadata { .. }
            | Error::UnknownSnapshot { .. }
            | Error::BeforeFirstSnapshot { .. }
            | Error::UnknownRef { .. }
            | Error::NotInRelease { .. }
            | Error::ReleaseNotFound(_)
            | Error::ReleaseExists(_) => (StatusCode::BAD_REQUEST, "BadRequestException"),
            Error::Iceberg(inner) => match inner.kind() {
                // Applying the client's updates failed before anything was written.
                ErrorKind::DataInvalid
                | ErrorKind::FeatureUnsupported
                | ErrorKind::PreconditionFailed => (StatusCode::BAD_REQUEST, "BadRequestException"),
                ErrorKind::CatalogCommitConflicts => {
                    (StatusCode::CONFLICT, "CommitFailedException")
                }
                ErrorKind::TableNotFound => (StatusCode::NOT_FOUND, "NoSuchTableException"),
                ErrorKind::NamespaceNotFound => (StatusCode::NOT_FOUND, "NoSuchNamespaceException"),
                ErrorKind::TableAlreadyExists | ErrorKind::NamespaceAlreadyExists => {
                    (StatusCode::CONFLICT, "AlreadyExistsException")
                }
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "ServerErrorException"),
            },
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "ServerErrorException"),
        };
        Self::new(status, kind, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "code": self.status.as_u16(),
            }
        });
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;
