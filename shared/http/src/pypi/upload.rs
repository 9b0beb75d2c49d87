//! Receiving an upload of the legacy upload API (the `multipart/form-data` POST that twine and
//! `uv publish` send): the text fields are collected, the `content` file is spooled to an
//! anonymous temporary file while its sha256, blake2b-256 and md5 are computed, so validation
//! can read it again and storing it streams it once more, and nothing of it stays in memory.
//!
//! The spool file has no name (it is unlinked at creation), so an interrupted upload leaves
//! nothing behind. This module never decides whether an upload is valid: that is
//! `stowage_core::python::service::prepare`.

use axum::body::Body;
use blake2::Blake2b;
use blake2::digest::consts::U32;
use bytes::Bytes;
use sha2::Digest as _;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use stowage_core::Error;
use stowage_core::python::service::UploadForm;

/// Largest text field accepted (the long description is the big one).
pub const MAX_TEXT_FIELD: u64 = 4 << 20;
/// Most form fields accepted in one upload.
pub const MAX_FIELDS: usize = 1000;
/// Room for the form fields around the file, on top of the file size limit.
const FORM_ALLOWANCE: u64 = 64 << 20;

/// The `content` file as it arrived.
pub struct Spooled {
    /// Positioned at the start.
    pub file: std::fs::File,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub blake2_256: String,
    pub md5: String,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

/// Writes chunks to an anonymous file on a blocking thread, hashing them on the way.
struct Spooler {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    done: tokio::task::JoinHandle<std::io::Result<(std::fs::File, u64, [String; 3])>>,
}

impl Spooler {
    fn start(dir: Option<PathBuf>) -> Spooler {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let done = tokio::task::spawn_blocking(move || {
            let mut file = match &dir {
                Some(d) => tempfile::tempfile_in(d)?,
                None => tempfile::tempfile()?,
            };
            let mut sha = sha2::Sha256::new();
            let mut blake = Blake2b::<U32>::new();
            let mut md5 = md5::Md5::new();
            let mut size = 0u64;
            {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut file);
                while let Some(chunk) = rx.blocking_recv() {
                    sha.update(&chunk);
                    blake.update(&chunk);
                    md5.update(&chunk);
                    size += chunk.len() as u64;
                    w.write_all(&chunk)?;
                }
                w.flush()?;
            }
            file.seek(SeekFrom::Start(0))?;
            Ok((
                file,
                size,
                [
                    hex::encode(sha.finalize()),
                    hex::encode(blake.finalize()),
                    hex::encode(md5.finalize()),
                ],
            ))
        });
        Spooler { tx, done }
    }

    /// `false` when the writer has stopped (its error comes from [`Spooler::finish`]).
    async fn write(&self, chunk: Bytes) -> bool {
        self.tx.send(chunk).await.is_ok()
    }

    async fn finish(self) -> Result<(std::fs::File, u64, [String; 3]), Error> {
        drop(self.tx);
        self.done
            .await
            .map_err(|e| Error::Storage(format!("spooling an upload: {e}")))?
            .map_err(|e| Error::Storage(format!("spooling an upload: {e}")))
    }
}

fn multipart_error(e: multer::Error, max_file_size: u64) -> Error {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. }
            if field_name.as_deref() == Some("content") =>
        {
            bad(format!(
                "the file is larger than this registry's limit of {max_file_size} bytes"
            ))
        }
        multer::Error::FieldSizeExceeded { field_name, .. } => bad(format!(
            "form field {:?} is larger than {} bytes",
            field_name.unwrap_or_default(),
            MAX_TEXT_FIELD
        )),
        multer::Error::StreamSizeExceeded { .. } => bad(format!(
            "the upload is larger than this registry's limit of {max_file_size} bytes for a file"
        )),
        other => bad(format!("malformed multipart/form-data body: {other}")),
    }
}

/// Reads an upload form: its fields, and the `content` file spooled to `spool_dir` (the
/// system's temporary directory when `None`).
pub async fn receive(
    body: Body,
    content_type: Option<&str>,
    max_file_size: u64,
    spool_dir: Option<PathBuf>,
) -> Result<(UploadForm, Spooled), Error> {
    let content_type = content_type.unwrap_or("");
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(bad(format!(
            "expected a multipart/form-data upload (the upload API twine and uv speak), got \
             Content-Type {:?}",
            content_type.chars().take(100).collect::<String>()
        )));
    }
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| bad(format!("multipart/form-data without a valid boundary: {e}")))?;
    let limits = multer::SizeLimit::new()
        .whole_stream(max_file_size.saturating_add(FORM_ALLOWANCE))
        .per_field(MAX_TEXT_FIELD)
        .for_field("content", max_file_size);
    let mut form = multer::Multipart::with_constraints(
        body.into_data_stream(),
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let mut fields = Vec::new();
    let mut spooled: Option<Spooled> = None;
    let err = |e| multipart_error(e, max_file_size);
    while let Some(mut field) = form.next_field().await.map_err(err)? {
        if fields.len() >= MAX_FIELDS {
            return Err(bad(format!("more than {MAX_FIELDS} form fields")));
        }
        let name = field.name().unwrap_or("").to_string();
        if name == "content" {
            if spooled.is_some() {
                return Err(bad("more than one file in the form field content"));
            }
            let filename = field
                .file_name()
                .ok_or_else(|| bad("the form field content has no filename"))?
                .to_string();
            let spooler = Spooler::start(spool_dir.clone());
            let mut read_error = None;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if !spooler.write(chunk).await {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        read_error = Some(err(e));
                        break;
                    }
                }
            }
            let finished = spooler.finish().await;
            if let Some(e) = read_error {
                return Err(e);
            }
            let (file, size, [sha256, blake2_256, md5]) = finished?;
            spooled = Some(Spooled {
                file,
                filename,
                size,
                sha256,
                blake2_256,
                md5,
            });
        } else if field.file_name().is_some() {
            // Other files (a `gpg_signature` from old twine): read and ignored, as PyPI does.
            while field.chunk().await.map_err(err)?.is_some() {}
        } else {
            let value = field.text().await.map_err(err)?;
            fields.push((name, value));
        }
    }
    let spooled = spooled.ok_or_else(|| {
        bad("the upload has no file: send it in the form field content, with a filename")
    })?;
    Ok((UploadForm { fields }, spooled))
}
