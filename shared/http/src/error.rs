//! The OCI error table: every domain [`Error`] becomes one status and one code, here and only
//! here, rendered as the spec's `{"errors":[{"code","message","detail"}]}` body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use stowage_core::Error;

/// An OCI error response.
#[derive(Debug)]
pub struct OciError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`, …).
    pub headers: Vec<(axum::http::HeaderName, HeaderValue)>,
}

impl OciError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> OciError {
        OciError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }
}

/// The table.
pub fn classify(e: &Error) -> (StatusCode, &'static str) {
    use StatusCode as S;
    match e {
        Error::NameInvalid(_) => (S::BAD_REQUEST, "NAME_INVALID"),
        Error::NameUnknown => (S::NOT_FOUND, "NAME_UNKNOWN"),
        Error::RegistryUnknown(_) => (S::NOT_FOUND, "NAME_UNKNOWN"),
        Error::Denied(_) => (S::FORBIDDEN, "DENIED"),
        Error::Unauthorized(_) => (S::UNAUTHORIZED, "UNAUTHORIZED"),
        Error::TooManyRequests { .. } => (S::TOO_MANY_REQUESTS, "TOOMANYREQUESTS"),
        Error::DigestInvalid(_) => (S::BAD_REQUEST, "DIGEST_INVALID"),
        Error::BlobUnknown => (S::NOT_FOUND, "BLOB_UNKNOWN"),
        Error::BlobUploadUnknown => (S::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
        Error::BlobUploadInvalid(_) => (S::BAD_REQUEST, "BLOB_UPLOAD_INVALID"),
        Error::RangeNotSatisfiable { .. } => (S::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID"),
        Error::BlobRangeInvalid { .. } => (S::RANGE_NOT_SATISFIABLE, "SIZE_INVALID"),
        Error::ManifestUnknown => (S::NOT_FOUND, "MANIFEST_UNKNOWN"),
        Error::ManifestInvalid(_) => (S::BAD_REQUEST, "MANIFEST_INVALID"),
        Error::ManifestBlobUnknown(_) => (S::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN"),
        Error::ManifestTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "SIZE_INVALID"),
        Error::TagInvalid(_) => (S::BAD_REQUEST, "TAG_INVALID"),
        Error::SizeInvalid(_) => (S::BAD_REQUEST, "SIZE_INVALID"),
        Error::Unsupported(_) => (S::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
        Error::BadRequest(_) => (S::BAD_REQUEST, "UNSUPPORTED"),
        // Raised by the Python API only; listed so that every error has one answer.
        Error::Conflict(_) => (S::CONFLICT, "DENIED"),
        Error::NotFound(_) => (S::NOT_FOUND, "NAME_UNKNOWN"),
        Error::Storage(_) => (S::INTERNAL_SERVER_ERROR, "UNKNOWN"),
    }
}

impl From<Error> for OciError {
    fn from(e: Error) -> Self {
        let (status, code) = classify(&e);
        let mut headers = Vec::new();
        if let Error::TooManyRequests { retry_after } = &e
            && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
        {
            headers.push((header::RETRY_AFTER, v));
        }
        let message = if status.is_server_error() {
            // Details stay in the log (written by the request logger with the request id).
            tracing::error!(error = %e, "storage failure");
            "internal error; the server log has the details under this request's id".to_string()
        } else {
            e.to_string()
        };
        OciError {
            status,
            code,
            message,
            headers,
        }
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "code": self.code, "message": self.message, "detail": null }]
        });
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}
