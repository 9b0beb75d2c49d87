//! HTTP byte ranges (RFC 9110 §14) over a body of known size: the one parser that blob and
//! file downloads share.

use axum::http::{HeaderMap, header};
use stowage_core::Error;

/// Resolves a `Range: bytes=…` header against a blob of `size` bytes. `Ok(None)`: serve it
/// all (no header, or one we do not interpret, as RFC 9110 allows).
pub fn byte_range(h: &HeaderMap, size: u64) -> Result<Option<std::ops::Range<u64>>, Error> {
    let Some(spec) = h
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: serve the whole blob
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let unsatisfiable = Error::BlobRangeInvalid { size };
    let range = if a.is_empty() {
        let Ok(suffix) = b.parse::<u64>() else {
            return Ok(None);
        };
        if suffix == 0 || size == 0 {
            return Err(unsatisfiable);
        }
        size.saturating_sub(suffix)..size
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            size
        } else {
            let Ok(last) = b.parse::<u64>() else {
                return Ok(None);
            };
            if last < start {
                return Err(unsatisfiable);
            }
            last.saturating_add(1).min(size)
        };
        if start >= size {
            return Err(unsatisfiable);
        }
        start..end
    };
    Ok(Some(range))
}
