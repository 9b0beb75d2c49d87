//! The domain error: what went wrong, in the registry's terms, without any HTTP in it.
//!
//! `stowage-http` maps each variant to an OCI error code and status in one table. Variants carry
//! the message a client sees; they never carry secrets or filesystem paths.

use crate::digest::DigestError;
use crate::names::NameError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository name is malformed.
    #[error("{0}")]
    NameInvalid(#[from] NameError),
    /// The repository does not exist (or the caller may not know that it does).
    #[error("repository name not known to registry")]
    NameUnknown,
    /// The registry (second name component) does not exist in the organization.
    #[error("registry {0} does not exist; an organization admin creates registries")]
    RegistryUnknown(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Denied(String),
    /// The caller must authenticate (or authenticate with other credentials).
    #[error("{0}")]
    Unauthorized(String),
    /// Too many failed attempts; try again after `retry_after` seconds.
    #[error("too many failed sign-in attempts; try again in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
    /// A digest in the request is malformed, unsupported, or does not match the content.
    #[error("{0}")]
    DigestInvalid(String),
    /// The blob is not in this repository.
    #[error("blob unknown to registry")]
    BlobUnknown,
    /// The upload session does not exist (never did, finished, cancelled, or expired).
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    /// The upload request is inconsistent (bad Content-Range, bad length, …).
    #[error("{0}")]
    BlobUploadInvalid(String),
    /// A chunk does not start where the upload currently ends.
    #[error("{message}")]
    RangeNotSatisfiable { message: String, size: u64 },
    /// The requested byte range of a blob cannot be served.
    #[error("requested range not satisfiable")]
    BlobRangeInvalid { size: u64 },
    /// The manifest is not in this repository.
    #[error("manifest unknown to registry")]
    ManifestUnknown,
    /// The manifest is malformed or inconsistent.
    #[error("{0}")]
    ManifestInvalid(String),
    /// The manifest references blobs or manifests that are not in this repository.
    #[error("manifest references {0} which is not in this repository")]
    ManifestBlobUnknown(String),
    /// The manifest is larger than the registry accepts.
    #[error("manifest is {size} bytes, larger than the {limit}-byte limit")]
    ManifestTooLarge { size: u64, limit: u64 },
    /// A tag is malformed.
    #[error("{0}")]
    TagInvalid(String),
    /// A size or length in the request is inconsistent with the content.
    #[error("{0}")]
    SizeInvalid(String),
    /// The operation is not supported here.
    #[error("{0}")]
    Unsupported(String),
    /// A request is malformed (a query parameter, an upload form, a package file).
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with what is stored (a different file under an existing name).
    #[error("{0}")]
    Conflict(String),
    /// The thing asked for does not exist (a Python project or file).
    #[error("{0}")]
    NotFound(String),
    /// A failure of the storage underneath (I/O, database). Details go to the log, not the client.
    #[error("storage failure: {0}")]
    Storage(String),
}

impl Error {
    pub fn storage(e: impl std::fmt::Display) -> Error {
        Error::Storage(e.to_string())
    }
}

impl From<DigestError> for Error {
    fn from(e: DigestError) -> Self {
        Error::DigestInvalid(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Storage(e.to_string())
    }
}
