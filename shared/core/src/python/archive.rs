//! Archive inspection for uploaded distributions: the safety checks PyPI makes before it stores
//! a file, and the core metadata file found inside.
//!
//! Wheels and `.zip` sdists are checked as zip archives: the entry count the end record
//! declares is within the limit before the central directory is read; every entry name is a
//! relative path without `..`, backslashes or NUL, written in the header itself (no Info-ZIP
//! Unicode Path extra field, which tools disagree about); no name appears twice; only stored
//! and deflated entries; no encryption (in either header); each local header agrees with its
//! central directory entry (name, method, and CRC and sizes where the local header carries
//! them); entries do not overlap and nothing hides before the first one; and every entry is
//! actually decompressed, its CRC checked and its size counted against the limits, stopping as
//! soon as a limit is passed (so a zip bomb costs little to refuse). `.tar.gz` sdists are read
//! as one stream with the same path rules (one root directory, checked as entries come), only
//! regular files, directories and links (no devices, FIFOs or sparse files), links that stay
//! inside the archive and neither lie under nor pass through another symlink, and the same
//! size limits.
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
    if name.is_empty() {
        return Err(bad("an archive entry has an empty name"));
    }
    if name.contains('\0') {
        return Err(bad(format!(
            "archive entry {:?} has a NUL byte in its name",
            shown()
        )));
    }
    if name.contains('\\') {
        return Err(bad(format!(
            "archive entry {:?} has a backslash in its name (paths are separated by '/')",
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

/// Inspects an uploaded distribution, read from its start whatever the reader's position.
/// `size` is the upload's length in bytes.
pub fn inspect<R: Read + Seek>(
    file: &DistFilename,
    mut reader: R,
    size: u64,
    limits: &Limits,
) -> Result<Inspected, ArchiveError> {
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| bad(format!("reading the upload: {e}")))?;
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
    mut reader: R,
    size: u64,
    limits: &Limits,
) -> Result<Inspected, ArchiveError> {
    check_declared_entries(&mut reader, size, limits)?;
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
        // The zip crate reports the name of an Info-ZIP Unicode Path extra field in place of
        // the header's; other tools use the header's. Either may be what gets extracted.
        if f.extra_data_fields()
            .any(|x| matches!(x, zip::ExtraField::UnicodePath(_)))
        {
            return Err(unicode_path(&name));
        }
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
        // The CRC is checked here rather than by the zip crate, to say so plainly.
        let mut f = zip
            .by_index_with_options(i, zip::ZipReadOptions::new().ignore_crc32(true))
            .map_err(|e| bad(format!("zip entry {i} is unreadable: {e}")))?;
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        let declared = f.size();
        let declared_crc = f.crc32();
        let keep = name == metadata_name;
        let mut kept = Vec::new();
        let mut n_entry = 0u64;
        let mut crc = flate2::Crc::new();
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
            crc.update(&buf[..n]);
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
        if crc.sum() != declared_crc {
            return Err(bad(format!(
                "zip entry {name:?} fails its CRC-32 check (its data is corrupt)"
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

fn unicode_path(name: &str) -> ArchiveError {
    bad(format!(
        "zip entry {name:?} has an Info-ZIP Unicode Path extra field (0x7075); write the name \
         in the header itself, since tools disagree on which of the two names counts"
    ))
}

/// Refuses, before the zip crate reads the central directory, an archive whose end record
/// declares more entries than allowed: parsing a central directory costs memory per entry, so
/// the entry limit has to hold before it is read, not after. Every end record signature in
/// the tail is checked (and the ZIP64 record its locator points at, if any), whichever one the
/// reader settles on. (The count is checked again once the directory is read.)
fn check_declared_entries<R: Read + Seek>(
    reader: &mut R,
    size: u64,
    limits: &Limits,
) -> Result<(), ArchiveError> {
    const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
    const LOCATOR_SIG: u32 = 0x0706_4b50;
    const EOCD64_SIG: u32 = 0x0606_4b50;
    let io_err = |e: io::Error| bad(format!("reading the upload: {e}"));
    if size < 22 {
        return Ok(()); // too short for an end record: the zip reader will say so
    }
    let tail_len = size.min(22 + 65_535 + 20);
    let mut tail = vec![0u8; tail_len as usize];
    reader
        .seek(SeekFrom::Start(size - tail_len))
        .and_then(|_| reader.read_exact(&mut tail))
        .map_err(io_err)?;
    let too_many = |n: u64| {
        bad(format!(
            "the zip archive declares {n} entries, more than the {} allowed",
            limits.max_entries
        ))
    };
    let mut p = tail.len().saturating_sub(22);
    loop {
        if &tail[p..p + 4] == EOCD_SIG {
            // The zip reader takes a plain end record only if its two counts agree (anything
            // else would be a multi-disk archive), which also keeps stray signatures in
            // compressed data from tripping this.
            let (on_disk, total) = (read_u16(&tail, p + 8), read_u16(&tail, p + 10));
            if on_disk == total && u64::from(total) > limits.max_entries as u64 {
                return Err(too_many(total.into()));
            }
            if p >= 20 && read_u32(&tail, p - 20) == LOCATOR_SIG {
                let at = u64::from_le_bytes(tail[p - 12..p - 4].try_into().unwrap_or_default());
                let mut rec = [0u8; 56];
                let found = at.checked_add(56).is_some_and(|end| end <= size)
                    && reader.seek(SeekFrom::Start(at)).is_ok()
                    && reader.read_exact(&mut rec).is_ok()
                    && read_u32(&rec, 0) == EOCD64_SIG;
                if !found {
                    return Err(bad(
                        "the zip archive's ZIP64 end record is not where its locator says",
                    ));
                }
                let on_disk = u64::from_le_bytes(rec[24..32].try_into().unwrap_or_default());
                let total = u64::from_le_bytes(rec[32..40].try_into().unwrap_or_default());
                if on_disk.max(total) > limits.max_entries as u64 {
                    return Err(too_many(on_disk.max(total)));
                }
            }
        }
        if p == 0 {
            break;
        }
        p -= 1;
    }
    Ok(())
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
    if flags & 0x0001 != 0 {
        return Err(bad(format!(
            "zip entry {:?} is encrypted (its local header says so)",
            e.name
        )));
    }
    if read_u16(&h, 8) != e.method {
        return Err(mismatch("compression method"));
    }
    let name_len = read_u16(&h, 26) as usize;
    let extra_len = read_u16(&h, 28) as usize;
    let mut name = vec![0u8; name_len + extra_len];
    raw.read_exact(&mut name).map_err(|_| {
        bad(format!(
            "zip entry {:?} has a truncated local header",
            e.name
        ))
    })?;
    let extra = name.split_off(name_len);
    if name != e.name.as_bytes() {
        return Err(mismatch("file name"));
    }
    let mut fields = extra.as_slice();
    while fields.len() >= 4 {
        let (id, len) = (read_u16(fields, 0), read_u16(fields, 2) as usize);
        if id == 0x7075 {
            return Err(unicode_path(&e.name));
        }
        fields = fields.get(4 + len..).unwrap_or_default();
    }
    let data_start = e.header_start + 30 + (name_len + extra_len) as u64;
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
    let mut root: Option<String> = None;
    let mut symlinks: HashSet<String> = HashSet::new();
    // (entry, the directory its target is taken from, target)
    let mut links: Vec<(String, String, String)> = Vec::new();
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
        // One root directory, checked as entries come so that nothing is kept for others.
        let top = clean.split('/').next().unwrap_or(&clean);
        match &root {
            None => root = Some(top.to_string()),
            Some(r) if r != top => {
                return Err(bad(format!(
                    "a source distribution keeps every file under one directory; found {r:?} and {top:?}"
                )));
            }
            _ => {}
        }
        let kind = entry.header().entry_type();
        use tar::EntryType as T;
        if matches!(kind, T::Regular | T::Continuous | T::Symlink | T::Link)
            && !seen.insert(clean.clone())
        {
            return Err(bad(format!(
                "archive entry {clean:?} appears more than once"
            )));
        }
        match kind {
            T::Regular | T::Continuous | T::Directory => {}
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
                if kind == T::Symlink {
                    symlinks.insert(clean.clone());
                }
                links.push((clean.clone(), base.to_string(), target));
            }
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
            // Sparse files included: their holes are made up by the reader, not decompressed,
            // so they would pass the size limits uncounted.
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
    check_link_chains(&names, &symlinks, &links)?;
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

/// Links are checked one by one as they are read ([`link_stays_inside`]); together they could
/// still escape, since a symlink earlier in a path changes where the rest of it leads. So no
/// entry may lie under a symlink, and no link's target may pass through (or name) a symlink:
/// then every path resolves as it reads.
fn check_link_chains(
    names: &[String],
    symlinks: &HashSet<String>,
    links: &[(String, String, String)],
) -> Result<(), ArchiveError> {
    if symlinks.is_empty() {
        return Ok(());
    }
    for name in names {
        for (i, _) in name.match_indices('/') {
            let dir = &name[..i];
            if symlinks.contains(dir) {
                return Err(bad(format!(
                    "archive entry {name:?} is under the link {dir:?}"
                )));
            }
        }
    }
    for (name, base, target) in links {
        let mut path: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    path.pop();
                }
                p => {
                    path.push(p);
                    let joined = path.join("/");
                    if symlinks.contains(&joined) {
                        return Err(bad(format!(
                            "archive entry {name:?} is a link whose target {target:?} goes \
                             through another link ({joined:?})"
                        )));
                    }
                }
            }
        }
    }
    Ok(())
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
    fn path_messages_say_what_is_wrong() {
        for (name, phrase) in [
            ("a\\b", "backslash"),
            ("a\0b", "NUL"),
            ("", "empty name"),
            ("/a", "absolute"),
            ("a/../..", "path traversal"),
        ] {
            let e = check_path(name).unwrap_err();
            assert!(e.0.contains(phrase), "{name:?}: {e}");
        }
    }

    #[test]
    fn links() {
        assert!(link_stays_inside("pkg-1.0/docs", "../README"));
        assert!(!link_stays_inside("pkg-1.0", "../../etc/passwd"));
        assert!(!link_stays_inside("pkg-1.0", "/etc/passwd"));
        assert!(link_stays_inside("", "pkg-1.0/a"));
    }

    #[test]
    fn link_chains() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        let link = |n: &str, b: &str, t: &str| (n.to_string(), b.to_string(), t.to_string());
        // Alone, each stays inside; `out` resolves through `up` to outside.
        let e = check_link_chains(
            &names(&["p/a/b/up", "p/a/b/out"]),
            &set(&["p/a/b/up", "p/a/b/out"]),
            &[
                link("p/a/b/up", "p/a/b", "../.."),
                link("p/a/b/out", "p/a/b", "up/../.."),
            ],
        )
        .unwrap_err();
        assert!(e.0.contains("goes through another link"), "{e}");
        // A file under a symlink.
        let e = check_link_chains(
            &names(&["p/l", "p/l/x"]),
            &set(&["p/l"]),
            &[link("p/l", "p", ".")],
        )
        .unwrap_err();
        assert!(e.0.contains("is under the link \"p/l\""), "{e}");
        // A hard link to a symlink.
        let e = check_link_chains(
            &names(&["p/s", "p/h"]),
            &set(&["p/s"]),
            &[link("p/s", "p", "f"), link("p/h", "", "p/s")],
        )
        .unwrap_err();
        assert!(e.0.contains("goes through another link"), "{e}");
        // Links to files and directories are fine.
        check_link_chains(
            &names(&["p/d", "p/d/f", "p/s", "p/h"]),
            &set(&["p/s"]),
            &[link("p/s", "p", "d/f"), link("p/h", "", "p/d/f")],
        )
        .unwrap();
    }

    fn wheel_name() -> DistFilename {
        DistFilename::parse("pkg-1.0-py3-none-any.whl").unwrap()
    }

    /// A stored zip entry: name, data, local header flags, central extra field, CRC to declare.
    type RawEntry<'a> = (&'a str, &'a [u8], u16, &'a [u8], Option<u32>);

    /// A zip of stored entries.
    fn zip_of(entries: &[RawEntry<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data, local_flags, extra, crc) in entries {
            let mut c = flate2::Crc::new();
            c.update(data);
            let crc = crc.unwrap_or(c.sum());
            let offset = out.len() as u32;
            let fixed = |sig: u32, flags: u16| {
                let mut h = sig.to_le_bytes().to_vec();
                if sig == 0x0201_4b50 {
                    h.extend_from_slice(&20u16.to_le_bytes());
                }
                for v in [20u16, flags, 0, 0, 0] {
                    h.extend_from_slice(&v.to_le_bytes());
                }
                for v in [crc, data.len() as u32, data.len() as u32] {
                    h.extend_from_slice(&v.to_le_bytes());
                }
                h.extend_from_slice(&(name.len() as u16).to_le_bytes());
                h
            };
            out.extend_from_slice(&fixed(LOCAL_HEADER_SIG, *local_flags));
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(&fixed(0x0201_4b50, 0));
            central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0u8; 6]); // comment length, disk, internal attributes
            central.extend_from_slice(&0u32.to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
            central.extend_from_slice(extra);
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0u8; 4]);
        let n = (entries.len() as u16).to_le_bytes();
        out.extend_from_slice(&[n[0], n[1], n[0], n[1]]);
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn inspect_bytes(
        file: &DistFilename,
        bytes: Vec<u8>,
        limits: &Limits,
    ) -> Result<Inspected, ArchiveError> {
        let size = bytes.len() as u64;
        inspect(file, io::Cursor::new(bytes), size, limits)
    }

    const META: &[u8] = b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n";

    #[test]
    fn zip_checks() {
        let l = Limits::default();
        let ok: &[RawEntry<'_>] = &[
            ("pkg-1.0.dist-info/METADATA", META, 0, b"", None),
            (
                "pkg-1.0.dist-info/WHEEL",
                b"Wheel-Version: 1.0\n",
                0,
                b"",
                None,
            ),
        ];
        let i = inspect_bytes(&wheel_name(), zip_of(ok), &l).unwrap();
        assert_eq!(i.metadata, META);
        assert_eq!(i.entries, 2);
        let with = |extra: RawEntry<'static>| {
            let mut v = ok.to_vec();
            v.push(extra);
            inspect_bytes(&wheel_name(), zip_of(&v), &l).unwrap_err().0
        };
        // Data that does not match its CRC.
        let e = with(("pkg/a.py", b"x = 1\n", 0, b"", Some(0xdead_beef)));
        assert!(e.contains("fails its CRC-32 check"), "{e}");
        // Encryption flagged in the local header only.
        let e = with(("pkg/a.py", b"x = 1\n", 1, b"", None));
        assert!(e.contains("encrypted (its local header says so)"), "{e}");
        // An Info-ZIP Unicode Path extra field (version 1, CRC of the header name, a name).
        let mut upath = vec![0x75, 0x70, 13, 0, 1];
        let mut c = flate2::Crc::new();
        c.update(b"pkg/a.py");
        upath.extend_from_slice(&c.sum().to_le_bytes());
        upath.extend_from_slice(b"pkg/b.py");
        let upath: &'static [u8] = Vec::leak(upath);
        let e = with(("pkg/a.py", b"x = 1\n", 0, upath, None));
        assert!(e.contains("Unicode Path extra field"), "{e}");
    }

    #[test]
    fn declared_entry_counts_are_checked_before_the_central_directory_is_read() {
        let limits = Limits {
            max_entries: 1,
            ..Limits::default()
        };
        let two: &[RawEntry<'_>] = &[("a", b"", 0, b"", None), ("b", b"", 0, b"", None)];
        let mut bytes = zip_of(two);
        let size = bytes.len() as u64;
        let e = check_declared_entries(&mut io::Cursor::new(&bytes), size, &limits).unwrap_err();
        assert!(
            e.0.contains("declares 2 entries, more than the 1 allowed"),
            "{e}"
        );
        // A ZIP64 locator (before the end record) pointing at no ZIP64 end record.
        let eocd = bytes.len() - 22;
        let mut locator = 0x0706_4b50u32.to_le_bytes().to_vec();
        locator.extend_from_slice(&[0u8; 4]);
        locator.extend_from_slice(&0u64.to_le_bytes());
        locator.extend_from_slice(&1u32.to_le_bytes());
        bytes.splice(eocd..eocd, locator);
        let limits = Limits::default();
        let size = bytes.len() as u64;
        let e = check_declared_entries(&mut io::Cursor::new(&bytes), size, &limits).unwrap_err();
        assert!(e.0.contains("ZIP64 end record"), "{e}");
        assert!(check_declared_entries(&mut io::Cursor::new(b"PK"), 2, &limits).is_ok());
    }

    #[test]
    fn sparse_tar_entries_are_refused_unread() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_path("pkg-1.0/PKG-INFO").unwrap();
        h.set_size(META.len() as u64);
        h.set_cksum();
        tar.append(&h, META).unwrap();
        // 1 TiB of holes, then 512 bytes: reading it would take hours.
        let mut h = tar::Header::new_gnu();
        h.set_path("pkg-1.0/sparse").unwrap();
        h.set_size(512);
        h.set_entry_type(tar::EntryType::GNUSparse);
        let g = h.as_gnu_mut().unwrap();
        g.sparse[0].set_offset(1 << 40);
        g.sparse[0].set_length(512);
        g.set_real_size((1 << 40) + 512);
        h.set_cksum();
        tar.append(&h, &[1u8; 512][..]).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
        let file = DistFilename::parse("pkg-1.0.tar.gz").unwrap();
        let e = inspect_bytes(&file, gz.finish().unwrap(), &Limits::default()).unwrap_err();
        assert!(e.0.contains("only files, directories and links"), "{e}");
    }
}
