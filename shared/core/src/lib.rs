//! Stowage's pure domain.
//!
//! What lives here: the names a registry deals in ([`names`]: repository names, tags,
//! references, the `/v2/` path grammar), content digests and streaming hashers ([`digest`]),
//! manifest parsing and validation ([`manifest`]), tenancy records ([`tenancy`]) and access
//! decisions ([`auth`]), Python packages ([`python`]: names, versions, filenames, metadata,
//! archive checks, and their OCI form), the domain error type ([`error`]), the ports every
//! storage adapter implements ([`ports`]), domain events and their wire format ([`events`]),
//! accepting invitations ([`invitations`]) and the user-sync consumer ([`user_sync`]).
//!
//! What must never live here: HTTP types or status codes, AWS SDKs, the filesystem, SQL.
//! Adapters (`stowage-local`, later `stowage-aws`) implement the ports; `stowage-http` maps
//! [`error::Error`] to protocol answers in one table.

pub mod auth;
pub mod digest;
pub mod error;
pub mod events;
pub mod invitations;
pub mod manifest;
pub mod names;
pub mod ports;
pub mod python;
pub mod registry;
pub mod tenancy;
pub mod user_sync;

pub use digest::{Algorithm, Digest, Hasher, ResumableSha256};
pub use error::{Error, Result};
pub use names::{Reference, RepoName, Tag, UploadId};
