//! Python packages: the PyPI side of Stowage, as pure domain code.
//!
//! - [`names`]: project names and their PEP 503 normalized form;
//! - [`version`]: PEP 440 versions, their normalized text and OCI tag;
//! - [`filename`]: wheel and sdist filenames;
//! - [`metadata`]: core metadata 1.0–2.4;
//! - [`archive`]: the safety checks on an uploaded archive (paths, duplicates, headers, bombs);
//! - [`artifact`]: how a file is kept as an OCI artifact;
//! - [`service`]: upload, index and management operations over the ports.
//!
//! What must never live here: HTTP, multipart parsing, files on disk, SQL. The HTTP layer
//! receives and spools the upload and renders the Simple API; adapters implement
//! [`crate::ports::PythonIndex`].

pub mod archive;
pub mod artifact;
pub mod filename;
pub mod metadata;
pub mod names;
pub mod service;
pub mod version;

pub use names::{NormalizedName, ProjectName};
pub use version::PyVersion;
