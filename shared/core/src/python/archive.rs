//! Archive inspection for uploaded distributions: the safety checks PyPI makes before it stores
//! a file, and the core metadata file found inside.
//!
//! Wheels and `.zip` sdists are checked as zip archives: every entry name is a relative path
//! without `..`, backslashes or NUL; no name appears twice; only stored and deflated entries;
//! no encryption; each local header agrees with its central directory entry (name, method, and
//! CRC and sizes where the local header carries them); entries do not overlap and nothing hides
//! before the first one; and every entry is actually decompressed, its CRC checked and its
//! size counted against the limits, stopping as soon as a limit is passed (so a zip bomb costs
//! little to refuse). `.tar.gz` sdists are read as one stream with the same path rules, only
//! files, directories and links that stay inside the archive, and the same size limits.
//!
//! Works on any `Read + Seek` (the upload spooled by the caller); it never touches the
//! filesystem and never trusts a size an archive declares.

use crate::python::filename::{DistFilename, DistKind};
use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

/// Limits against decompression bombs.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Total decompressed bytes allowed, whatever the ratio.
    pub max_uncompressed: u64,
    /// Decompressed ÷ compressed size allowed once more than `ratio_min_size` bytes come out
    /// (PyPI: 50 past 64 MiB).
    pub max_ratio: u64,
    pub ratio_min_size: u64,
    /// Entries allowed in one archive.
    pub max_entries: usize,
    /// Largest core metadata file read.
    pub max_metadata: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_uncompressed: 8 << 30,
            max_ratio: 50,
            ratio_min_size: 64 << 20,
            max_entries: 200_000,
            max_metadata: 16 << 20,
        }
    }
}

impl Limits {
    /// Decompressed bytes allowed for an archive of `compressed` bytes.
    fn allowance(&self, compressed: u64) -> u64 {
        self.ratio_min_size
            .max(compressed.saturating_mul(self.max_ratio))
            .min(self.max_uncompressed)
    }
}

/// Why an archive was refused: a message for the uploader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArchiveError(pub String);

fn bad(msg: impl Into<String>) -> ArchiveError {
    ArchiveError(msg.into())
}

/// What inspection found.
#[derive(Clone, Debug)]
pub struct Inspected {
    /// The bytes of the core metadata file (`*.dist-info/METADATA`, or the sdist's `PKG-INFO`).
    pub metadata: Vec<u8>,
    /// Entries in the archive.
    pub entries: usize,
    /// Total decompressed size.
    pub uncompressed: u64,
}

/// Checks a path inside an archive; returns it without a trailing `/`.
fn check_path(name: &str) -> Result<&str, ArchiveError> {
    let shown = || name.chars().take(200).collect::<String>();
    if name.is_empty() || name.contains('\0') || name.contains('\\') {
        return Err(bad(format!(
            "archive entry {:?} has an invalid name",
            shown()
        )));
    }
    if name.starts_with('/') || name.as_bytes().get(1) == Some(&b':') {
        return Err(bad(format!(
            "archive entry {:?} is an absolute path",
            shown()
        )));
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for part in trimmed.split('/') {
        match part {
            ".." => {
                return Err(bad(format!(
                    "archive entry {:?} escapes the archive (path traversal)",
                    shown()
                )));
            }
            "" | "." => {
                return Err(bad(format!(
                    "archive entry {:?} has an empty or '.' path component",
                    shown()
                )));
            }
            _ => {}
        }
    }
    Ok(trimmed)
}

/// Inspects an uploaded distribution. `size` is the upload's length in bytes.
pub fn inspect<R: Read + Seek>(
    file: &DistFilename,
    reader: R,
    size: u64,
    limits: &Limits,
) -> Result<Inspected, ArchiveError> {
    match file.kind {
        DistKind::Wheel | DistKind::SdistZip => inspect_zip(file, reader, size, limits),
        DistKind::SdistTarGz => inspect_tar_gz(file, reader, size, limits),
    }
}

/// Counts bytes through a reader and fails once more than `limit` have passed.
struct Counted<R> {
    inner: R,
    count: u64,
    limit: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::other(LimitExceeded));
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct LimitExceeded;

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompression limit exceeded")
    }
}

impl std::error::Error for LimitExceeded {}

fn is_limit(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<LimitExceeded>())
}

fn bomb(limits: &Limits, size: u64) -> ArchiveError {
    bad(format!(
        "the archive decompresses to more than {} bytes ({} compressed; at most {}× past {} MiB, \
         {} GiB in all): refused as a possible decompression bomb",
        limits.allowance(size),
        size,
        limits.max_ratio,
        limits.ratio_min_size >> 20,
        limits.max_uncompressed >> 30
    ))
}

/// A central directory entry, as far as the checks need it.
struct Entry {
    name: String,
    header_start: u64,
    data_start: u64,
    compressed_size: u64,
    size: u64,
    crc32: u32,
    method: u16,
}

const LOCAL_HEADER_SIG: u32 = 0x0403_4b50;

fn inspect_zip<R: Read + Seek>(
    file: &DistFilename,
    reader: R,
    size: u64,
    limits: &Limits,
) -> Result<Inspected, ArchiveError> {
    let mut zip =
        zip::ZipArchive::new(reader).map_err(|e| bad(format!("not a valid zip archive: {e}")))?;
    if zip.offset() != 0 {
        return Err(bad(
            "the zip archive has data before its first entry (prepended content)",
        ));
    }
    if zip.has_duplicate_names() {
        return Err(bad(
            "the zip archive lists the same entry name more than once",
        ));
    }
    if zip.len() > limits.max_entries {
        return Err(bad(format!(
            "the zip archive has {} entries, more than the {} allowed",
            zip.len(),
            limits.max_entries
        )));
    }
    let cd_start = zip.central_directory_start();

    // 1. Central directory: names, methods, where each entry's data lies.
    let mut entries = Vec::with_capacity(zip.len());
    let mut seen = HashSet::new();
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| bad(format!("zip entry {i} is unreadable: {e}")))?;
        let name = std::str::from_utf8(f.name_raw())
            .map_err(|_| bad(format!("zip entry {i} has a name that is not UTF-8")))?
            .to_string();
        let path = check_path(&name)?.to_string();
        if !seen.insert(path.clone()) {
            return Err(bad(format!("zip entry {path:?} appears more than once")));
        }
        if f.encrypted() {
            return Err(bad(format!("zip entry {name:?} is encrypted")));
        }
        let method = match f.compression() {
            zip::CompressionMethod::Stored => 0u16,
            zip::CompressionMethod::Deflated => 8u16,
            other => {
                return Err(bad(format!(
                    "zip entry {name:?} uses compression {other}; only stored and deflated are allowed"
                )));
            }
        };
        entries.push(Entry {
            name,
            header_start: f.header_start(),
            data_start: f.data_start().unwrap_or(0),
            compressed_size: f.compressed_size(),
            size: f.size(),
            crc32: f.crc32(),
            method,
        });
    }

    // 2. Local headers agree with the central directory; entries neither overlap nor leave
    //    room for hidden content.
    let mut raw = zip.into_inner();
    let mut by_offset: Vec<&Entry> = entries.iter().collect();
    by_offset.sort_by_key(|e| e.header_start);
    let mut expected_next = 0u64;
    for e in &by_offset {
        if e.header_start < expected_next {
            return Err(bad(format!(
                "zip entry {:?} overlaps the entry before it",
                e.name
            )));
        }
        check_local_header(&mut raw, e)?;
        let data_end = e.data_start.saturating_add(e.compressed_size);
        if data_end > cd_start {
            return Err(bad(format!(
                "zip entry {:?} runs into the central directory",
                e.name
            )));
        }
        expected_next = data_end;
    }
    if let Some(first) = by_offset.first()
        && first.header_start != 0
    {
        return Err(bad("the zip archive has data before its first entry"));
    }

    // 3. Decompress everything, with limits; keep the metadata file.
    raw.seek(SeekFrom::Start(0))
        .map_err(|e| bad(format!("reading the upload: {e}")))?;
    let mut zip = zip::ZipArchive::new(raw).map_err(|e| bad(format!("not a valid zip: {e}")))?;
    let metadata_name = find_metadata_name(file, &entries)?;
    let allowance = limits.allowance(size);
    let mut total = 0u64;
    let mut metadata = None;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| bad(format!("zip entry {i} is unreadable: {e}")))?;
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        let declared = f.size();
        let keep = name == metadata_name;
        let mut kept = Vec::new();
        let mut n_entry = 0u64;
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    return Err(bad(format!("zip entry {name:?} is corrupt: {e}")));
                }
            };
            n_entry += n as u64;
            total += n as u64;
            if total > allowance {
                return Err(bomb(limits, size));
            }
            if keep {
                if n_entry > limits.max_metadata {
                    return Err(bad(format!(
                        "{name} is larger than {} bytes",
                        limits.max_metadata
                    )));
                }
                kept.extend_from_slice(&buf[..n]);
            }
        }
        if n_entry != declared {
            return Err(bad(format!(
                "zip entry {name:?} decompresses to {n_entry} bytes but declares {declared}"
            )));
        }
        if keep {
            metadata = Some(kept);
        }
    }
    Ok(Inspected {
        metadata: metadata.ok_or_else(|| bad(format!("{metadata_name} is missing")))?,
        entries: entries.len(),
        uncompressed: total,
    })
}

fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn check_local_header<R: Read + Seek>(raw: &mut R, e: &Entry) -> Result<(), ArchiveError> {
    let mismatch = |what: &str| {
        bad(format!(
            "zip entry {:?}: the local header's {what} differs from the central directory's",
            e.name
        ))
    };
    let mut h = [0u8; 30];
    raw.seek(SeekFrom::Start(e.header_start))
        .and_then(|_| raw.read_exact(&mut h))
        .map_err(|_| bad(format!("zip entry {:?} has no local header", e.name)))?;
    if read_u32(&h, 0) != LOCAL_HEADER_SIG {
        return Err(bad(format!("zip entry {:?} has no local header", e.name)));
    }
    let flags = read_u16(&h, 6);
    if read_u16(&h, 8) != e.method {
        return Err(mismatch("compression method"));
    }
    let name_len = read_u16(&h, 26) as usize;
    let extra_len = read_u16(&h, 28) as u64;
    let mut name = vec![0u8; name_len];
    raw.read_exact(&mut name).map_err(|_| {
        bad(format!(
            "zip entry {:?} has a truncated local header",
            e.name
        ))
    })?;
    if name != e.name.as_bytes() {
        return Err(mismatch("file name"));
    }
    let data_start = e.header_start + 30 + name_len as u64 + extra_len;
    if e.data_start != 0 && data_start != e.data_start {
        return Err(mismatch("extra field"));
    }
    if flags & 0x0008 == 0 {
        // No data descriptor: the local header carries CRC and sizes (0xFFFFFFFF = in ZIP64).
        if read_u32(&h, 14) != e.crc32 {
            return Err(mismatch("CRC-32"));
        }
        let (csize, usize_) = (read_u32(&h, 18), read_u32(&h, 22));
        if csize != u32::MAX && u64::from(csize) != e.compressed_size {
            return Err(mismatch("compressed size"));
        }
        if usize_ != u32::MAX && u64::from(usize_) != e.size {
            return Err(mismatch("size"));
        }
    }
    Ok(())
}

/// The name of the core metadata file the archive must hold.
fn find_metadata_name(file: &DistFilename, entries: &[Entry]) -> Result<String, ArchiveError> {
    match file.kind {
        DistKind::Wheel => {
            // Exactly one top-level `<name>-<version>.dist-info/` with METADATA and WHEEL.
            let dirs: Vec<&str> = entries
                .iter()
                .filter_map(|e| {
                    let (dir, rest) = e.name.split_once('/')?;
                    (dir.ends_with(".dist-info") && rest == "METADATA").then_some(dir)
                })
                .collect();
            let dir = match dirs.as_slice() {
                [d] => *d,
                [] => return Err(bad("the wheel has no *.dist-info/METADATA")),
                _ => return Err(bad("the wheel has more than one *.dist-info/METADATA")),
            };
            let stem = dir.strip_suffix(".dist-info").unwrap_or(dir);
            if !file.sdist_root_matches(stem) {
                return Err(bad(format!(
                    "the wheel's metadata directory {dir:?} does not match its filename"
                )));
            }
            if !entries.iter().any(|e| e.name == format!("{dir}/WHEEL")) {
                return Err(bad(format!("the wheel has no {dir}/WHEEL")));
            }
            Ok(format!("{dir}/METADATA"))
        }
        _ => sdist_metadata_name(file, entries.iter().map(|e| e.name.as_str())),
    }
}

/// An sdist keeps its files under one `<name>-<version>/` directory, with `PKG-INFO` in it.
fn sdist_metadata_name<'a>(
    file: &DistFilename,
    names: impl Iterator<Item = &'a str>,
) -> Result<String, ArchiveError> {
    let mut root: Option<&str> = None;
    let mut has_pkg_info = false;
    for name in names {
        let top = name.split('/').next().unwrap_or(name);
        match root {
            None => root = Some(top),
            Some(r) if r != top => {
                return Err(bad(format!(
                    "a source distribution keeps every file under one directory; found {r:?} and {top:?}"
                )));
            }
            _ => {}
        }
        if name
            .split_once('/')
            .is_some_and(|(_, rest)| rest == "PKG-INFO")
        {
            has_pkg_info = true;
        }
    }
    let root = root.ok_or_else(|| bad("the source distribution is empty"))?;
    if !file.sdist_root_matches(root) {
        return Err(bad(format!(
            "the source distribution's directory {root:?} does not match its filename"
        )));
    }
    if !has_pkg_info {
        return Err(bad(format!(
            "the source distribution has no {root}/PKG-INFO"
        )));
    }
    Ok(format!("{root}/PKG-INFO"))
}

fn inspect_tar_gz<R: Read>(
    file: &DistFilename,
    reader: R,
    size: u64,
    limits: &Limits,
) -> Result<Inspected, ArchiveError> {
    let allowance = limits.allowance(size);
    let gz = flate2::read::MultiGzDecoder::new(reader);
    let counted = Counted {
        inner: gz,
        count: 0,
        limit: allowance,
    };
    let mut archive = tar::Archive::new(counted);
    let mut names: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut pkg_infos: Vec<(String, Vec<u8>)> = Vec::new();
    let map_io = |e: io::Error| {
        if is_limit(&e) {
            bomb(limits, size)
        } else {
            bad(format!("not a valid .tar.gz archive: {e}"))
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    for entry in archive.entries().map_err(map_io)? {
        let mut entry = entry.map_err(map_io)?;
        if names.len() >= limits.max_entries {
            return Err(bad(format!(
                "the archive has more than {} entries",
                limits.max_entries
            )));
        }
        let path = entry.path_bytes().into_owned();
        let path = String::from_utf8(path)
            .map_err(|_| bad("an archive entry has a name that is not UTF-8"))?;
        let clean = check_path(&path)?.to_string();
        let kind = entry.header().entry_type();
        use tar::EntryType as T;
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                if !seen.insert(clean.clone()) {
                    return Err(bad(format!(
                        "archive entry {clean:?} appears more than once"
                    )));
                }
            }
            T::Directory => {}
            T::Symlink | T::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let base = match kind {
                    // A symlink resolves from its own directory, a hard link from the root.
                    T::Symlink => clean.rsplit_once('/').map(|(d, _)| d).unwrap_or(""),
                    _ => "",
                };
                if !link_stays_inside(base, &target) {
                    return Err(bad(format!(
                        "archive entry {clean:?} links outside the archive ({target:?})"
                    )));
                }
            }
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
            other => {
                return Err(bad(format!(
                    "archive entry {clean:?} is a {other:?}; only files, directories and links are allowed"
                )));
            }
        }
        let is_pkg_info = clean.split_once('/').is_some_and(|(_, r)| r == "PKG-INFO");
        let mut kept = Vec::new();
        loop {
            let n = entry.read(&mut buf).map_err(map_io)?;
            if n == 0 {
                break;
            }
            if is_pkg_info {
                if kept.len() as u64 + n as u64 > limits.max_metadata {
                    return Err(bad(format!(
                        "{clean} is larger than {} bytes",
                        limits.max_metadata
                    )));
                }
                kept.extend_from_slice(&buf[..n]);
            }
        }
        if is_pkg_info {
            pkg_infos.push((clean.clone(), kept));
        }
        names.push(clean);
    }
    // Whatever follows the end-of-archive marker is decompressed and counted too.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(map_io)?;
    let uncompressed = rest.count;
    let want = sdist_metadata_name(file, names.iter().map(String::as_str))?;
    let metadata = pkg_infos
        .into_iter()
        .find(|(n, _)| *n == want)
        .map(|(_, b)| b)
        .ok_or_else(|| bad(format!("{want} is missing")))?;
    Ok(Inspected {
        metadata,
        entries: names.len(),
        uncompressed,
    })
}

/// Whether a link target, taken relative to `base`, stays inside the archive.
fn link_stays_inside(base: &str, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') || target.contains('\\') {
        return false;
    }
    let mut depth: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            p => depth.push(p),
        }
    }
    !depth.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for ok in ["a", "a/b", "a/b/", "pkg-1.0/PKG-INFO"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/../../b",
            "..",
            "a\\b",
            "C:/x",
            "a//b",
            "./a",
            "a\0b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn links() {
        assert!(link_stays_inside("pkg-1.0/docs", "../README"));
        assert!(!link_stays_inside("pkg-1.0", "../../etc/passwd"));
        assert!(!link_stays_inside("pkg-1.0", "/etc/passwd"));
        assert!(link_stays_inside("", "pkg-1.0/a"));
    }
}
