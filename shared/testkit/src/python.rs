//! Python distribution fixtures, built in the test and never downloaded: valid wheels and
//! sdists ([`wheel`], [`sdist_tar_gz`], [`sdist_zip`] and their builders), the upload form and
//! multipart body twine sends ([`twine_form`], [`multipart_body`]), and in [`bad`] one
//! malformed archive for every check upload validation makes.
//!
//! Zips and tars are written by the small raw writers here ([`ZipBuilder`], [`TarBuilder`]),
//! not by the `zip` and `tar` crates, because most of [`bad`] is what those crates refuse to
//! write: `../` names, a local header that disagrees with the central directory, overlapping
//! entries, links out of the archive, devices.

use base64::Engine as _;
use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};
use sha2::Digest as _;
use std::io::{Cursor, Write};
use stowage_core::python::service::{ReceivedFile, UploadForm};

// ---------------------------------------------------------------------------------------------
// Names

/// A project name as wheel and PEP 625 sdist filenames write it: PEP 503 normalized, with `_`
/// for every run of `-`, `_` and `.` (`My.Pkg` → `my_pkg`).
pub fn dist_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('_');
            }
            in_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_sep = false;
        }
    }
    out
}

/// `my_pkg-1.0-py3-none-any.whl`.
pub fn wheel_filename(name: &str, version: &str) -> String {
    format!(
        "{}-{}-py3-none-any.whl",
        dist_name(name),
        version.replace('-', "_")
    )
}

/// `my_pkg-1.0.tar.gz` (PEP 625).
pub fn sdist_filename(name: &str, version: &str) -> String {
    format!("{}-{version}.tar.gz", dist_name(name))
}

/// `my_pkg-1.0.zip` (a legacy zip sdist).
pub fn sdist_zip_filename(name: &str, version: &str) -> String {
    format!("{}-{version}.zip", dist_name(name))
}

/// The upload form's `filetype` for a filename: `bdist_wheel` or `sdist`.
pub fn filetype(filename: &str) -> &'static str {
    if filename.ends_with(".whl") {
        "bdist_wheel"
    } else {
        "sdist"
    }
}

// ---------------------------------------------------------------------------------------------
// Core metadata

/// A core metadata file (`METADATA`, `PKG-INFO`): header fields in order, then an optional body
/// (the long description, where metadata 2.1 and later keep it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl Metadata {
    /// Metadata 2.1: `Name`, `Version`, `Summary`, `Requires-Python: >=3.8` and
    /// `Requires-Dist: requests>=2`.
    pub fn new(name: &str, version: &str) -> Metadata {
        Metadata {
            headers: vec![],
            body: None,
        }
        .header("Metadata-Version", "2.1")
        .header("Name", name)
        .header("Version", version)
        .header("Summary", &format!("The {name} test package"))
        .header("Requires-Python", ">=3.8")
        .header("Requires-Dist", "requests>=2")
    }

    /// Every field `metadata_version` (1.0 … 2.5) defines, several values for the multi-use
    /// ones, and from 2.1 a Markdown body whose text looks like headers (which a parser must
    /// not take for fields).
    pub fn full(metadata_version: &str, name: &str, version: &str) -> Metadata {
        let at_least = |v: &str| version_key(metadata_version) >= version_key(v);
        let mut m = Metadata {
            headers: vec![],
            body: None,
        }
        .header("Metadata-Version", metadata_version)
        .header("Name", name)
        .header("Version", version)
        .header("Platform", "linux")
        .header("Platform", "macos")
        .header("Summary", &format!("The {name} test package"))
        .header("Keywords", "test,fixture")
        .header("Home-page", "https://example.com/home")
        .header("Author", "A. Author")
        .header("Author-email", "author@example.com");
        if at_least("2.4") {
            m = m
                .header("License-Expression", "MIT OR Apache-2.0")
                .header("License-File", "LICENSE")
                .header("License-File", "NOTICE");
        } else {
            m = m.header("License", "MIT");
        }
        if at_least("1.1") {
            m = m
                .header("Classifier", "Programming Language :: Python :: 3")
                .header("Classifier", "Operating System :: OS Independent")
                .header("Download-URL", "https://example.com/download")
                .header("Supported-Platform", "x86_64-linux");
        }
        if at_least("1.2") {
            m = m
                .header("Maintainer", "M. Maintainer")
                .header("Maintainer-email", "maintainer@example.com")
                .header("Requires-Python", ">=3.8, !=3.9.*")
                .header("Requires-Dist", "requests>=2")
                .header("Requires-Dist", "click>=8; extra == \"cli\"")
                .header("Requires-External", "libc")
                .header("Project-URL", "Source, https://example.com/src")
                .header("Project-URL", "Issues, https://example.com/issues");
        }
        if at_least("2.1") {
            m = m
                .header("Provides-Extra", "cli")
                .header("Provides-Extra", "docs")
                .header("Description-Content-Type", "text/markdown")
                .body(&format!(
                    "# {name}\n\nA long description.\n\nName: not-a-header\nVersion: 0\n\n\
                     Metadata-Version: 9.9\n"
                ));
        } else {
            m = m.header("Description", "A long description on one line.");
        }
        if at_least("2.2") {
            m = m.header("Dynamic", "Classifier");
        }
        m
    }

    /// Appends a header field.
    pub fn header(mut self, key: &str, value: &str) -> Metadata {
        self.headers.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets a field: replaces its first occurrence and drops the others, or appends it.
    pub fn set(mut self, key: &str, value: &str) -> Metadata {
        match self
            .headers
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(key))
        {
            Some(i) => {
                self.headers[i].1 = value.to_string();
                let mut n = 0;
                self.headers.retain(|(k, _)| {
                    n += 1;
                    n - 1 == i || !k.eq_ignore_ascii_case(key)
                });
            }
            None => self.headers.push((key.to_string(), value.to_string())),
        }
        self
    }

    /// Removes every occurrence of a field.
    pub fn without(mut self, key: &str) -> Metadata {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        self
    }

    /// Sets the body (the long description).
    pub fn body(mut self, text: &str) -> Metadata {
        self.body = Some(text.to_string());
        self
    }

    /// The first value of a field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a field, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.headers {
            s.push_str(k);
            s.push_str(": ");
            s.push_str(v);
            s.push('\n');
        }
        if let Some(body) = &self.body {
            s.push('\n');
            s.push_str(body);
        }
        s
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.render().into_bytes()
    }
}

fn version_key(v: &str) -> (u32, u32) {
    let (a, b) = v.split_once('.').unwrap_or((v, "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Deflate

/// Raw deflate of `data`.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("deflate");
    e.finish().expect("deflate")
}

const MIB: usize = 1 << 20;

/// Raw deflate of `prefix`, then `zeros` zero bytes, then `suffix`, and the CRC-32 of all of
/// it, made quickly whatever `zeros` is: one MiB of zeros is compressed once, from a fresh
/// state and ended on a byte boundary (a sync flush), so the copies concatenate into one valid
/// stream. 200 MiB of zeros come to about 200 KiB.
pub fn deflate_with_zeros(prefix: &[u8], zeros: u64, suffix: &[u8]) -> (Vec<u8>, u32) {
    fn flushed(data: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).expect("deflate");
        e.flush().expect("deflate");
        e.get_ref().clone()
    }
    let zero_mib = vec![0u8; MIB];
    let mut crc = flate2::Crc::new();
    let mut out = Vec::new();
    if !prefix.is_empty() {
        out.extend_from_slice(&flushed(prefix));
        crc.update(prefix);
    }
    let chunk = flushed(&zero_mib);
    let (whole, rest) = (zeros / MIB as u64, (zeros % MIB as u64) as usize);
    for _ in 0..whole {
        out.extend_from_slice(&chunk);
        crc.update(&zero_mib);
    }
    let mut tail = vec![0u8; rest];
    tail.extend_from_slice(suffix);
    crc.update(&tail);
    out.extend_from_slice(&deflate(&tail));
    (out, crc.sum())
}

/// A gzip member around a raw deflate stream of `size` bytes with CRC `crc`.
pub fn gzip_member(deflated: &[u8], crc: u32, size: u64) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend_from_slice(deflated);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(size as u32).to_le_bytes());
    out
}

/// Gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

// ---------------------------------------------------------------------------------------------
// Zip

/// Compression methods (the numbers zip headers carry).
pub const STORED: u16 = 0;
pub const DEFLATED: u16 = 8;
/// General purpose flag bit 0: the entry is encrypted.
pub const FLAG_ENCRYPTED: u16 = 0x0001;
/// General purpose flag bit 11: the name is UTF-8.
pub const FLAG_UTF8: u16 = 0x0800;

/// One zip entry as it will be written: the central directory's view, and where the local
/// header should disagree with it.
#[derive(Clone, Debug)]
pub struct ZipEntry {
    /// The name in the central directory (and the local header, unless `local_name`).
    pub name: String,
    /// Method number written in both headers.
    pub method: u16,
    /// The entry's bytes as stored (compressed when `method` is deflate).
    pub compressed: Vec<u8>,
    /// CRC-32 and size of the uncompressed content, as both headers declare them.
    pub crc32: u32,
    pub size: u64,
    pub flags: u16,
    /// The local header's name, when it differs.
    pub local_name: Option<String>,
    /// The local header's CRC-32, when it differs.
    pub local_crc32: Option<u32>,
    /// The local header's flags, when they differ.
    pub local_flags: Option<u16>,
    pub local_extra: Vec<u8>,
    pub central_extra: Vec<u8>,
    /// Unix mode for the central directory's external attributes.
    pub unix_mode: u32,
}

impl ZipEntry {
    /// A deflated entry.
    pub fn deflated(name: &str, data: &[u8]) -> ZipEntry {
        ZipEntry::raw(
            name,
            DEFLATED,
            deflate(data),
            crc32(data),
            data.len() as u64,
        )
    }

    /// A stored (uncompressed) entry.
    pub fn stored(name: &str, data: &[u8]) -> ZipEntry {
        ZipEntry::raw(name, STORED, data.to_vec(), crc32(data), data.len() as u64)
    }

    /// A directory entry (`name` should end with `/`).
    pub fn dir(name: &str) -> ZipEntry {
        let mut e = ZipEntry::stored(name, b"");
        e.unix_mode = 0o040755;
        e
    }

    /// An entry whose stored bytes, method, CRC and size are given as they are.
    pub fn raw(name: &str, method: u16, compressed: Vec<u8>, crc32: u32, size: u64) -> ZipEntry {
        ZipEntry {
            name: name.to_string(),
            method,
            compressed,
            crc32,
            size,
            flags: FLAG_UTF8,
            local_name: None,
            local_crc32: None,
            local_flags: None,
            local_extra: vec![],
            central_extra: vec![],
            unix_mode: 0o100644,
        }
    }

    /// Declares another compression method in both headers (the bytes stay as they are).
    pub fn declare_method(mut self, method: u16) -> ZipEntry {
        self.method = method;
        self
    }

    /// Sets general purpose flags in both headers (on top of the UTF-8 flag).
    pub fn flags(mut self, flags: u16) -> ZipEntry {
        self.flags |= flags;
        self
    }

    /// Gives the local header another name than the central directory.
    pub fn local_name(mut self, name: &str) -> ZipEntry {
        self.local_name = Some(name.to_string());
        self
    }

    /// Gives the local header another CRC-32 than the central directory.
    pub fn local_crc32(mut self, crc: u32) -> ZipEntry {
        self.local_crc32 = Some(crc);
        self
    }

    /// Gives the local header other flags than the central directory.
    pub fn local_flags(mut self, flags: u16) -> ZipEntry {
        self.local_flags = Some(flags);
        self
    }

    /// Flips the bits of one stored byte after the CRC was computed (so the data no longer
    /// matches the CRC both headers declare).
    pub fn corrupt(mut self) -> ZipEntry {
        let n = self.compressed.len();
        if n > 0 {
            self.compressed[n / 2] ^= 0xff;
        }
        self
    }

    /// Adds an extra field (`id`, `data`) to the central directory record.
    pub fn central_extra(mut self, id: u16, data: &[u8]) -> ZipEntry {
        self.central_extra.extend_from_slice(&extra_field(id, data));
        self
    }

    /// Adds an extra field (`id`, `data`) to the local header.
    pub fn local_extra(mut self, id: u16, data: &[u8]) -> ZipEntry {
        self.local_extra.extend_from_slice(&extra_field(id, data));
        self
    }

    /// The local header and data, as written at the start of the entry.
    pub fn local_record(&self) -> Vec<u8> {
        let name = self.local_name.as_deref().unwrap_or(&self.name);
        let mut h = Vec::with_capacity(30 + name.len() + self.compressed.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes());
        h.extend_from_slice(&self.local_flags.unwrap_or(self.flags).to_le_bytes());
        h.extend_from_slice(&self.method.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // time
        h.extend_from_slice(&0x0021u16.to_le_bytes()); // 1980-01-01
        h.extend_from_slice(&self.local_crc32.unwrap_or(self.crc32).to_le_bytes());
        h.extend_from_slice(&(self.compressed.len() as u32).to_le_bytes());
        h.extend_from_slice(&(self.size as u32).to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(self.local_extra.len() as u16).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        h.extend_from_slice(&self.local_extra);
        h.extend_from_slice(&self.compressed);
        h
    }

    /// The central directory record, for a local header at `offset`.
    pub fn central_record(&self, offset: u64) -> Vec<u8> {
        let mut h = Vec::with_capacity(46 + self.name.len());
        h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        h.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: unix, 2.0
        h.extend_from_slice(&20u16.to_le_bytes());
        h.extend_from_slice(&self.flags.to_le_bytes());
        h.extend_from_slice(&self.method.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&0x0021u16.to_le_bytes());
        h.extend_from_slice(&self.crc32.to_le_bytes());
        h.extend_from_slice(&(self.compressed.len() as u32).to_le_bytes());
        h.extend_from_slice(&(self.size as u32).to_le_bytes());
        h.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(self.central_extra.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // comment
        h.extend_from_slice(&0u16.to_le_bytes()); // disk
        h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        let dos_dir = if self.unix_mode & 0o040000 != 0 {
            0x10
        } else {
            0
        };
        h.extend_from_slice(&((self.unix_mode << 16) | dos_dir).to_le_bytes());
        h.extend_from_slice(&(offset as u32).to_le_bytes());
        h.extend_from_slice(self.name.as_bytes());
        h.extend_from_slice(&self.central_extra);
        h
    }
}

/// One extra field: id, length, data.
pub fn extra_field(id: u16, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(4 + data.len());
    f.extend_from_slice(&id.to_le_bytes());
    f.extend_from_slice(&(data.len() as u16).to_le_bytes());
    f.extend_from_slice(data);
    f
}

/// The Info-ZIP Unicode Path extra field (0x7075): `name` as the entry's name, for a header
/// whose own name is `header_name`.
pub fn unicode_path_extra(header_name: &str, name: &str) -> Vec<u8> {
    let mut d = vec![1u8];
    d.extend_from_slice(&crc32(header_name.as_bytes()).to_le_bytes());
    d.extend_from_slice(name.as_bytes());
    d
}

/// A record the central directory holds besides those of the entries.
#[derive(Clone, Debug)]
enum Alias {
    /// Another central record for the local header of entry `of`, under `name`.
    SameHeader { name: String, of: String },
    /// An entry stored inside the data of entry `outer` (which is made stored, its data the
    /// inner entry's local record).
    Nested { outer: String, inner: ZipEntry },
}

/// A zip archive written byte by byte: entries in order, then the central directory, then the
/// end record. Every field can be made to lie.
#[derive(Clone, Debug, Default)]
pub struct ZipBuilder {
    pub entries: Vec<ZipEntry>,
    prefix: Vec<u8>,
    prefix_in_offsets: bool,
    aliases: Vec<Alias>,
    truncate: Option<usize>,
}

impl ZipBuilder {
    pub fn new() -> ZipBuilder {
        ZipBuilder::default()
    }

    /// Appends an entry.
    pub fn entry(mut self, e: ZipEntry) -> ZipBuilder {
        self.entries.push(e);
        self
    }

    /// Appends a deflated file.
    pub fn file(self, name: &str, data: &[u8]) -> ZipBuilder {
        self.entry(ZipEntry::deflated(name, data))
    }

    /// Replaces the first entry named `e.name` (or appends `e`).
    pub fn replace(mut self, e: ZipEntry) -> ZipBuilder {
        match self.entries.iter().position(|x| x.name == e.name) {
            Some(i) => self.entries[i] = e,
            None => self.entries.push(e),
        }
        self
    }

    /// Changes the entry named `name` in place.
    pub fn modify(mut self, name: &str, f: impl FnOnce(ZipEntry) -> ZipEntry) -> ZipBuilder {
        if let Some(i) = self.entries.iter().position(|x| x.name == name) {
            let e = self.entries.remove(i);
            self.entries.insert(i, f(e));
        }
        self
    }

    /// Removes every entry named `name`.
    pub fn remove(mut self, name: &str) -> ZipBuilder {
        self.entries.retain(|e| e.name != name);
        self
    }

    /// Puts `bytes` before the first entry. With `in_offsets`, the central directory's
    /// offsets count them (as a self-extracting archive does); without, the offsets are those
    /// of the archive alone (bytes simply prepended to it).
    pub fn prepend(mut self, bytes: &[u8], in_offsets: bool) -> ZipBuilder {
        self.prefix = bytes.to_vec();
        self.prefix_in_offsets = in_offsets;
        self
    }

    /// Adds a second central directory record, named `name`, for the local header of entry
    /// `of`: two entries share one local header.
    pub fn alias(mut self, name: &str, of: &str) -> ZipBuilder {
        self.aliases.push(Alias::SameHeader {
            name: name.to_string(),
            of: of.to_string(),
        });
        self
    }

    /// Makes entry `outer` stored, its data the local record of `inner`, and lists `inner` in
    /// the central directory too: the two entries overlap (the "overlapping files" zip bomb).
    pub fn nest(mut self, outer: &str, inner: ZipEntry) -> ZipBuilder {
        self.aliases.push(Alias::Nested {
            outer: outer.to_string(),
            inner,
        });
        self
    }

    /// Cuts the finished archive to its first `len` bytes.
    pub fn truncate(mut self, len: usize) -> ZipBuilder {
        self.truncate = Some(len);
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let mut entries = self.entries.clone();
        let mut nested: Vec<(usize, ZipEntry)> = vec![];
        for a in &self.aliases {
            if let Alias::Nested { outer, inner } = a
                && let Some(i) = entries.iter().position(|e| &e.name == outer)
            {
                let record = inner.local_record();
                let flags = entries[i].flags;
                entries[i] = ZipEntry::stored(outer, &record);
                entries[i].flags = flags;
                nested.push((i, inner.clone()));
            }
        }
        let base = if self.prefix_in_offsets {
            self.prefix.len() as u64
        } else {
            0
        };
        let mut body = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for e in &entries {
            offsets.push(base + body.len() as u64);
            body.extend_from_slice(&e.local_record());
        }
        let mut central = Vec::new();
        let mut count = 0u16;
        for (e, off) in entries.iter().zip(&offsets) {
            central.extend_from_slice(&e.central_record(*off));
            count += 1;
        }
        for a in &self.aliases {
            match a {
                Alias::SameHeader { name, of } => {
                    if let Some(i) = entries.iter().position(|e| &e.name == of) {
                        let mut e = entries[i].clone();
                        e.name = name.clone();
                        central.extend_from_slice(&e.central_record(offsets[i]));
                        count += 1;
                    }
                }
                Alias::Nested { .. } => {}
            }
        }
        for (i, inner) in &nested {
            let outer = &entries[*i];
            let data_start = offsets[*i] + 30 + outer.name.len() as u64;
            central.extend_from_slice(&inner.central_record(data_start));
            count += 1;
        }
        let cd_offset = base + body.len() as u64;
        let mut out = self.prefix.clone();
        out.extend_from_slice(&body);
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&(cd_offset as u32).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        if let Some(n) = self.truncate {
            out.truncate(n);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Wheels

/// A wheel under construction: `<module>/__init__.py`, `<dist>-<ver>.dist-info/METADATA`,
/// `WHEEL` and `RECORD` (computed over the other files unless replaced), deflated.
#[derive(Clone, Debug)]
pub struct WheelBuilder {
    name: String,
    version: String,
    metadata: Metadata,
    /// Path → content; `None` for the generated `METADATA` and `RECORD`.
    files: Vec<(String, Option<Vec<u8>>)>,
    stored: bool,
}

impl WheelBuilder {
    pub fn new(name: &str, version: &str) -> WheelBuilder {
        let module = dist_name(name);
        let di = format!("{module}-{version}.dist-info");
        WheelBuilder {
            name: name.to_string(),
            version: version.to_string(),
            metadata: Metadata::new(name, version),
            files: vec![
                (
                    format!("{module}/__init__.py"),
                    Some(format!("__version__ = \"{version}\"\n").into_bytes()),
                ),
                (format!("{di}/METADATA"), None),
                (
                    format!("{di}/WHEEL"),
                    Some(
                        b"Wheel-Version: 1.0\nGenerator: stowage-testkit\nRoot-Is-Purelib: true\n\
                          Tag: py3-none-any\n"
                            .to_vec(),
                    ),
                ),
                (format!("{di}/RECORD"), None),
            ],
            stored: false,
        }
    }

    /// `<dist>-<version>.dist-info`.
    pub fn dist_info(&self) -> String {
        format!("{}-{}.dist-info", dist_name(&self.name), self.version)
    }

    /// The wheel's filename.
    pub fn filename(&self) -> String {
        wheel_filename(&self.name, &self.version)
    }

    /// Replaces the metadata `METADATA` is rendered from.
    pub fn metadata(mut self, m: Metadata) -> WheelBuilder {
        self.metadata = m;
        self
    }

    /// Changes the metadata in place (`|m| m.set("Summary", "x")`).
    pub fn with_metadata(mut self, f: impl FnOnce(Metadata) -> Metadata) -> WheelBuilder {
        self.metadata = f(self.metadata);
        self
    }

    /// Sets `Metadata-Version`.
    pub fn metadata_version(self, v: &str) -> WheelBuilder {
        self.with_metadata(|m| m.set("Metadata-Version", v))
    }

    /// Writes these exact bytes as `METADATA`.
    pub fn metadata_bytes(self, bytes: &[u8]) -> WheelBuilder {
        let path = format!("{}/METADATA", self.dist_info());
        self.file(&path, bytes)
    }

    /// The `METADATA` bytes the wheel holds (if it holds one).
    pub fn metadata_file(&self) -> Option<Vec<u8>> {
        let path = format!("{}/METADATA", self.dist_info());
        self.files
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, c)| c.clone().unwrap_or_else(|| self.metadata.bytes()))
    }

    /// Adds a file, or replaces the one at `path`. New files go before `RECORD`.
    pub fn file(mut self, path: &str, data: &[u8]) -> WheelBuilder {
        if let Some(slot) = self.files.iter_mut().find(|(p, _)| p == path) {
            slot.1 = Some(data.to_vec());
            return self;
        }
        let record = format!("{}/RECORD", self.dist_info());
        let at = self
            .files
            .iter()
            .position(|(p, _)| *p == record)
            .unwrap_or(self.files.len());
        self.files
            .insert(at, (path.to_string(), Some(data.to_vec())));
        self
    }

    /// Removes a file (`METADATA`, `WHEEL` and `RECORD` included).
    pub fn remove(mut self, path: &str) -> WheelBuilder {
        self.files.retain(|(p, _)| p != path);
        self
    }

    /// Stores entries instead of deflating them.
    pub fn stored(mut self) -> WheelBuilder {
        self.stored = true;
        self
    }

    /// The files with their final content, in archive order.
    pub fn contents(&self) -> Vec<(String, Vec<u8>)> {
        let record = format!("{}/RECORD", self.dist_info());
        let metadata = format!("{}/METADATA", self.dist_info());
        let mut out: Vec<(String, Vec<u8>)> = vec![];
        for (p, c) in &self.files {
            let bytes = match c {
                Some(b) => b.clone(),
                None if *p == metadata => self.metadata.bytes(),
                None => {
                    let mut r = String::new();
                    for (q, b) in &out {
                        let h = sha2::Sha256::digest(b);
                        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h);
                        r.push_str(&format!("{q},sha256={h},{}\n", b.len()));
                    }
                    r.push_str(&format!("{record},,\n"));
                    r.into_bytes()
                }
            };
            out.push((p.clone(), bytes));
        }
        out
    }

    /// The zip, before it is written (to tweak further).
    pub fn zip(&self) -> ZipBuilder {
        self.contents()
            .into_iter()
            .fold(ZipBuilder::new(), |z, (p, b)| {
                z.entry(if self.stored {
                    ZipEntry::stored(&p, &b)
                } else {
                    ZipEntry::deflated(&p, &b)
                })
            })
    }

    pub fn build(&self) -> Vec<u8> {
        self.zip().build()
    }
}

/// A valid wheel of `name` `version` (see [`WheelBuilder`]).
pub fn wheel(name: &str, version: &str) -> Vec<u8> {
    WheelBuilder::new(name, version).build()
}

// ---------------------------------------------------------------------------------------------
// Tar

/// Tar entry types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TarKind {
    File,
    Dir,
    Symlink,
    HardLink,
    CharDevice,
    BlockDevice,
    Fifo,
    /// A GNU sparse file: `data` is its one data block, placed at `link`'s decimal value as an
    /// offset, and the header declares a real size of that offset plus the data.
    GnuSparse,
}

impl TarKind {
    fn flag(self) -> u8 {
        match self {
            TarKind::File => b'0',
            TarKind::HardLink => b'1',
            TarKind::Symlink => b'2',
            TarKind::CharDevice => b'3',
            TarKind::BlockDevice => b'4',
            TarKind::Dir => b'5',
            TarKind::Fifo => b'6',
            TarKind::GnuSparse => b'S',
        }
    }
}

/// One tar entry.
#[derive(Clone, Debug)]
pub struct TarEntry {
    pub path: String,
    pub kind: TarKind,
    pub data: Vec<u8>,
    /// Link target (symlinks and hard links).
    pub link: String,
    pub mode: u32,
}

impl TarEntry {
    pub fn file(path: &str, data: &[u8]) -> TarEntry {
        TarEntry {
            path: path.to_string(),
            kind: TarKind::File,
            data: data.to_vec(),
            link: String::new(),
            mode: 0o644,
        }
    }

    pub fn dir(path: &str) -> TarEntry {
        TarEntry {
            kind: TarKind::Dir,
            mode: 0o755,
            ..TarEntry::file(path, b"")
        }
    }

    pub fn symlink(path: &str, target: &str) -> TarEntry {
        TarEntry {
            kind: TarKind::Symlink,
            link: target.to_string(),
            mode: 0o777,
            ..TarEntry::file(path, b"")
        }
    }

    pub fn hard_link(path: &str, target: &str) -> TarEntry {
        TarEntry {
            kind: TarKind::HardLink,
            link: target.to_string(),
            ..TarEntry::file(path, b"")
        }
    }

    pub fn special(path: &str, kind: TarKind) -> TarEntry {
        TarEntry {
            kind,
            ..TarEntry::file(path, b"")
        }
    }

    /// A GNU sparse file of `offset` zero bytes then `data`.
    pub fn sparse(path: &str, offset: u64, data: &[u8]) -> TarEntry {
        TarEntry {
            kind: TarKind::GnuSparse,
            link: offset.to_string(),
            ..TarEntry::file(path, data)
        }
    }
}

/// A numeric header field: octal digits and a NUL, or GNU base-256 when they do not fit.
fn octal(field: &mut [u8], value: u64) {
    let s = format!("{value:0w$o}", w = field.len() - 1);
    if s.len() < field.len() {
        field[..s.len()].copy_from_slice(s.as_bytes());
        field[s.len()] = 0;
    } else {
        field.fill(0);
        let n = field.len();
        field[n - 8..].copy_from_slice(&value.to_be_bytes());
        field[0] |= 0x80;
    }
}

fn tar_header(path: &[u8], kind: TarKind, size: u64, link: &[u8], mode: u32) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..path.len().min(100)].copy_from_slice(&path[..path.len().min(100)]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 1000);
    octal(&mut h[116..124], 1000);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = kind.flag();
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    if kind == TarKind::GnuSparse {
        h[257..263].copy_from_slice(b"ustar ");
        h[263..265].copy_from_slice(b" \0");
    } else {
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
    }
    h[265..269].copy_from_slice(b"user");
    h[297..302].copy_from_slice(b"group");
    h
}

fn finish_header(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

fn pad512(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

/// A PAX extended header carrying `key=value` records.
fn pax_header(records: &[(&str, &str)]) -> Vec<u8> {
    let mut data = String::new();
    for (k, v) in records {
        let body = format!(" {k}={v}\n");
        let mut len = body.len() + 1;
        while format!("{len}").len() + body.len() != len {
            len += 1;
        }
        data.push_str(&format!("{len}{body}"));
    }
    let mut h = tar_header(
        b"././@PaxHeader",
        TarKind::File,
        data.len() as u64,
        b"",
        0o644,
    );
    h[156] = b'x';
    finish_header(&mut h);
    let mut out = h.to_vec();
    out.extend_from_slice(data.as_bytes());
    pad512(&mut out);
    out
}

/// The header (or PAX header and header) of one entry, without its data.
pub fn tar_entry_header(e: &TarEntry) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pax: Vec<(&str, &str)> = vec![];
    if e.path.len() > 100 {
        pax.push(("path", &e.path));
    }
    if e.kind != TarKind::GnuSparse && e.link.len() > 100 {
        pax.push(("linkpath", &e.link));
    }
    if !pax.is_empty() {
        out.extend_from_slice(&pax_header(&pax));
    }
    let link = if e.kind == TarKind::GnuSparse {
        &b""[..]
    } else {
        e.link.as_bytes()
    };
    let mut h = tar_header(e.path.as_bytes(), e.kind, e.data.len() as u64, link, e.mode);
    if e.kind == TarKind::GnuSparse {
        // One sparse block: (offset, data length); real size = offset + length.
        let offset: u64 = e.link.parse().unwrap_or(0);
        octal(&mut h[386..398], offset);
        octal(&mut h[398..410], e.data.len() as u64);
        octal(&mut h[483..495], offset + e.data.len() as u64);
    }
    finish_header(&mut h);
    out.extend_from_slice(&h);
    out
}

/// A tar archive written block by block.
#[derive(Clone, Debug, Default)]
pub struct TarBuilder {
    pub entries: Vec<TarEntry>,
}

impl TarBuilder {
    pub fn new() -> TarBuilder {
        TarBuilder::default()
    }

    pub fn entry(mut self, e: TarEntry) -> TarBuilder {
        self.entries.push(e);
        self
    }

    /// The tar, uncompressed, with its end-of-archive marker.
    pub fn tar(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.entries {
            out.extend_from_slice(&tar_entry_header(e));
            out.extend_from_slice(&e.data);
            pad512(&mut out);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    pub fn tar_gz(&self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

// ---------------------------------------------------------------------------------------------
// Sdists

/// An sdist under construction: everything under `<dist>-<version>/` — the directory,
/// `PKG-INFO`, `pyproject.toml`, `setup.cfg` and `src/<module>/__init__.py`. Written as
/// `.tar.gz` or `.zip`.
#[derive(Clone, Debug)]
pub struct SdistBuilder {
    name: String,
    version: String,
    root: String,
    metadata: Metadata,
    /// Entries in order; `true` marks `PKG-INFO` rendered from `metadata`.
    entries: Vec<(TarEntry, bool)>,
}

impl SdistBuilder {
    pub fn new(name: &str, version: &str) -> SdistBuilder {
        let module = dist_name(name);
        let root = format!("{module}-{version}");
        let pyproject = format!(
            "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \
             \"setuptools.build_meta\"\n\n[project]\nname = \"{name}\"\nversion = \
             \"{version}\"\nrequires-python = \">=3.8\"\ndependencies = [\"requests>=2\"]\n"
        );
        let setup_cfg = format!("[metadata]\nname = {name}\nversion = {version}\n");
        SdistBuilder {
            name: name.to_string(),
            version: version.to_string(),
            metadata: Metadata::new(name, version),
            entries: vec![
                (TarEntry::dir(&format!("{root}/")), false),
                (TarEntry::file(&format!("{root}/PKG-INFO"), b""), true),
                (
                    TarEntry::file(&format!("{root}/pyproject.toml"), pyproject.as_bytes()),
                    false,
                ),
                (
                    TarEntry::file(&format!("{root}/setup.cfg"), setup_cfg.as_bytes()),
                    false,
                ),
                (
                    TarEntry::file(
                        &format!("{root}/src/{module}/__init__.py"),
                        format!("__version__ = \"{version}\"\n").as_bytes(),
                    ),
                    false,
                ),
            ],
            root,
        }
    }

    /// The directory everything is under (`my_pkg-1.0`).
    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn filename_tar_gz(&self) -> String {
        sdist_filename(&self.name, &self.version)
    }

    pub fn filename_zip(&self) -> String {
        sdist_zip_filename(&self.name, &self.version)
    }

    /// Replaces the metadata `PKG-INFO` is rendered from.
    pub fn metadata(mut self, m: Metadata) -> SdistBuilder {
        self.metadata = m;
        self
    }

    /// Changes the metadata in place.
    pub fn with_metadata(mut self, f: impl FnOnce(Metadata) -> Metadata) -> SdistBuilder {
        self.metadata = f(self.metadata);
        self
    }

    /// Writes these exact bytes as `PKG-INFO`.
    pub fn pkg_info_bytes(self, bytes: &[u8]) -> SdistBuilder {
        let path = format!("{}/PKG-INFO", self.root);
        self.file(&path, bytes)
    }

    /// The `PKG-INFO` bytes the sdist holds (if it holds one).
    pub fn pkg_info(&self) -> Option<Vec<u8>> {
        let path = format!("{}/PKG-INFO", self.root);
        self.contents()
            .into_iter()
            .find(|e| e.path == path)
            .map(|e| e.data)
    }

    /// Adds a file at `path` (a full path in the archive, root included), or replaces it.
    pub fn file(self, path: &str, data: &[u8]) -> SdistBuilder {
        self.entry(TarEntry::file(path, data))
    }

    /// Adds an entry, or replaces the one at the same path.
    pub fn entry(mut self, e: TarEntry) -> SdistBuilder {
        match self.entries.iter().position(|(x, _)| x.path == e.path) {
            Some(i) => self.entries[i] = (e, false),
            None => self.entries.push((e, false)),
        }
        self
    }

    /// Appends an entry even if its path is already there.
    pub fn push(mut self, e: TarEntry) -> SdistBuilder {
        self.entries.push((e, false));
        self
    }

    /// Removes the entries at `path`.
    pub fn remove(mut self, path: &str) -> SdistBuilder {
        self.entries.retain(|(e, _)| e.path != path);
        self
    }

    /// The entries with their final content, in archive order.
    pub fn contents(&self) -> Vec<TarEntry> {
        self.entries
            .iter()
            .map(|(e, rendered)| {
                let mut e = e.clone();
                if *rendered {
                    e.data = self.metadata.bytes();
                }
                e
            })
            .collect()
    }

    pub fn tar(&self) -> TarBuilder {
        TarBuilder {
            entries: self.contents(),
        }
    }

    pub fn tar_gz(&self) -> Vec<u8> {
        self.tar().tar_gz()
    }

    /// The same files as a zip (directories as `name/` entries; files only otherwise).
    pub fn zip(&self) -> ZipBuilder {
        self.contents()
            .into_iter()
            .fold(ZipBuilder::new(), |z, e| match e.kind {
                TarKind::Dir => z.entry(ZipEntry::dir(&e.path)),
                _ => z.file(&e.path, &e.data),
            })
    }

    pub fn build_zip(&self) -> Vec<u8> {
        self.zip().build()
    }
}

/// A valid `.tar.gz` sdist of `name` `version` (see [`SdistBuilder`]).
pub fn sdist_tar_gz(name: &str, version: &str) -> Vec<u8> {
    SdistBuilder::new(name, version).tar_gz()
}

/// A valid `.zip` sdist of `name` `version` (see [`SdistBuilder`]).
pub fn sdist_zip(name: &str, version: &str) -> Vec<u8> {
    SdistBuilder::new(name, version).build_zip()
}

// ---------------------------------------------------------------------------------------------
// Uploads

/// The digests twine sends, as lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    pub sha256: String,
    pub md5: String,
    /// BLAKE2b with a 32-byte output.
    pub blake2_256: String,
}

pub fn digests(bytes: &[u8]) -> Digests {
    Digests {
        sha256: hex::encode(sha2::Sha256::digest(bytes)),
        md5: hex::encode(md5::Md5::digest(bytes)),
        blake2_256: hex::encode(blake2::Blake2b::<blake2::digest::consts::U32>::digest(
            bytes,
        )),
    }
}

/// The non-file fields twine sends for an upload, in twine's order: `name`, `version`,
/// `filetype`, `pyversion` (`py3` for a wheel, `source` for an sdist), `metadata_version`
/// (`2.1`), the three digests, then `:action=file_upload` and `protocol_version=1`.
pub fn twine_form(
    filename: &str,
    bytes: &[u8],
    name: &str,
    version: &str,
    filetype: &str,
) -> Vec<(String, String)> {
    let d = digests(bytes);
    let pyversion = if filename.ends_with(".whl") {
        "py3"
    } else {
        "source"
    };
    [
        ("name", name),
        ("version", version),
        ("filetype", filetype),
        ("pyversion", pyversion),
        ("metadata_version", "2.1"),
        ("md5_digest", d.md5.as_str()),
        ("sha256_digest", d.sha256.as_str()),
        ("blake2_256_digest", d.blake2_256.as_str()),
        (":action", "file_upload"),
        ("protocol_version", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Sets a field of a form (replacing every occurrence), or appends it.
pub fn set_field(fields: &mut Vec<(String, String)>, key: &str, value: &str) {
    remove_field(fields, key);
    fields.push((key.to_string(), value.to_string()));
}

/// Removes every occurrence of a field.
pub fn remove_field(fields: &mut Vec<(String, String)>, key: &str) {
    fields.retain(|(k, _)| k != key);
}

/// The form as the domain sees it.
pub fn upload_form(fields: &[(String, String)]) -> UploadForm {
    UploadForm {
        fields: fields.to_vec(),
    }
}

/// The file as a receiver hands it to `prepare`: its name, bytes, size and digests.
pub fn received(filename: &str, bytes: &[u8]) -> ReceivedFile<Cursor<Vec<u8>>> {
    let d = digests(bytes);
    ReceivedFile {
        filename: filename.to_string(),
        reader: Cursor::new(bytes.to_vec()),
        size: bytes.len() as u64,
        sha256: d.sha256,
        blake2_256: d.blake2_256,
        md5: d.md5,
    }
}

/// The `Content-Type` and body of twine's upload of `filename` (its [`twine_form`] and the
/// file as `content`), ready to `POST`.
pub fn twine_request(filename: &str, bytes: &[u8], name: &str, version: &str) -> (String, Vec<u8>) {
    let fields = twine_form(filename, bytes, name, version, filetype(filename));
    multipart_body(&fields, "content", filename, bytes)
}

/// Escapes a parameter value as urllib3 does for `Content-Disposition` (HTML5 form encoding).
fn form_param(value: &str) -> String {
    value
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A `multipart/form-data` body as twine (requests-toolbelt over urllib3) sends it: each field
/// `--boundary`, `Content-Disposition: form-data; name="…"`, a blank line, the value; the file
/// last with `filename="…"` and `Content-Type: application/octet-stream`; CRLF line ends; then
/// `--boundary--`. The boundary is 32 hex digits, derived from the content so a body is
/// reproducible. Returns the `Content-Type` header value and the body.
pub fn multipart_body(
    fields: &[(String, String)],
    file_field: &str,
    filename: &str,
    bytes: &[u8],
) -> (String, Vec<u8>) {
    let mut h = sha2::Sha256::new();
    for (k, v) in fields {
        h.update(k.as_bytes());
        h.update(v.as_bytes());
    }
    h.update(filename.as_bytes());
    h.update(bytes);
    let boundary = hex::encode(&h.finalize()[..16]);
    multipart_body_with_boundary(&boundary, fields, file_field, filename, bytes)
}

/// [`multipart_body`] with a given boundary.
pub fn multipart_body_with_boundary(
    boundary: &str,
    fields: &[(String, String)],
    file_field: &str,
    filename: &str,
    bytes: &[u8],
) -> (String, Vec<u8>) {
    let mut body = Vec::with_capacity(bytes.len() + 256 * (fields.len() + 1));
    for (k, v) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                form_param(k)
            )
            .as_bytes(),
        );
        body.extend_from_slice(v.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            form_param(file_field),
            form_param(filename)
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

// ---------------------------------------------------------------------------------------------
// Malformed archives

/// Malformed distributions: each a valid wheel or sdist of `name` `version` but for one flaw,
/// named after it. Wheels go with [`wheel_filename`], `tar_gz_*`/`sdist_*` with
/// [`sdist_filename`], `sdist_zip_*` with [`sdist_zip_filename`].
pub mod bad {
    use super::*;

    fn module(name: &str) -> String {
        dist_name(name)
    }

    fn w(name: &str, version: &str) -> WheelBuilder {
        WheelBuilder::new(name, version)
    }

    fn s(name: &str, version: &str) -> SdistBuilder {
        SdistBuilder::new(name, version)
    }

    /// A wheel with an entry `../evil.py`.
    pub fn zip_path_traversal(name: &str, version: &str) -> Vec<u8> {
        w(name, version).file("../evil.py", b"boom").build()
    }

    /// A wheel with an entry `/etc/x`.
    pub fn zip_absolute_path(name: &str, version: &str) -> Vec<u8> {
        w(name, version).file("/etc/x", b"boom").build()
    }

    /// A wheel with an entry `<module>\evil.py`.
    pub fn zip_backslash_path(name: &str, version: &str) -> Vec<u8> {
        let p = format!("{}\\evil.py", module(name));
        w(name, version).file(&p, b"boom").build()
    }

    /// A wheel whose central directory lists `<module>/__init__.py` twice (two entries, two
    /// contents).
    pub fn zip_duplicate_entry(name: &str, version: &str) -> Vec<u8> {
        let p = format!("{}/__init__.py", module(name));
        w(name, version)
            .zip()
            .entry(ZipEntry::deflated(&p, b"import os; os.system('boom')\n"))
            .build()
    }

    /// A wheel whose module's local header is named `evil.py` while the central directory says
    /// `<module>/__init__.py`.
    pub fn zip_local_header_name_mismatch(name: &str, version: &str) -> Vec<u8> {
        let p = format!("{}/__init__.py", module(name));
        w(name, version)
            .zip()
            .modify(&p, |e| e.local_name("evil.py"))
            .build()
    }

    /// A wheel whose module's local header declares another CRC-32 than its central entry.
    pub fn zip_local_header_crc_mismatch(name: &str, version: &str) -> Vec<u8> {
        let p = format!("{}/__init__.py", module(name));
        w(name, version)
            .zip()
            .modify(&p, |e| {
                let c = e.crc32 ^ 1;
                e.local_crc32(c)
            })
            .build()
    }

    /// A wheel whose module's data was changed after its CRC-32 was written (both headers
    /// agree, the data does not).
    pub fn zip_crc_mismatch(name: &str, version: &str) -> Vec<u8> {
        let p = format!("{}/__init__.py", module(name));
        w(name, version)
            .stored()
            .zip()
            .modify(&p, ZipEntry::corrupt)
            .build()
    }

    /// 1 KiB of other bytes before a wheel (offsets those of the wheel alone).
    pub fn zip_prepended_data(name: &str, version: &str) -> Vec<u8> {
        w(name, version).zip().prepend(&[b'#'; 1024], false).build()
    }

    /// 1 KiB of other bytes before a wheel, the central directory's offsets counting them
    /// (a self-extracting archive).
    pub fn zip_prepended_data_in_offsets(name: &str, version: &str) -> Vec<u8> {
        w(name, version).zip().prepend(&[b'#'; 1024], true).build()
    }

    /// A wheel with an entry `<module>/data.bin` whose stored data is the local record of
    /// another listed entry, `<module>/inner.py`: two entries overlap.
    pub fn zip_overlapping_entries(name: &str, version: &str) -> Vec<u8> {
        let m = module(name);
        let outer = format!("{m}/data.bin");
        w(name, version)
            .file(&outer, b"placeholder")
            .zip()
            .nest(
                &outer,
                ZipEntry::stored(&format!("{m}/inner.py"), b"print('inner')\n"),
            )
            .build()
    }

    /// A wheel whose central directory lists a second entry, `<module>/alias.py`, for the
    /// module's local header.
    pub fn zip_shared_local_header(name: &str, version: &str) -> Vec<u8> {
        let m = module(name);
        w(name, version)
            .zip()
            .alias(&format!("{m}/alias.py"), &format!("{m}/__init__.py"))
            .build()
    }

    /// A wheel whose module is flagged encrypted.
    pub fn zip_encrypted_entry(name: &str, version: &str) -> Vec<u8> {
        let p = format!("{}/__init__.py", module(name));
        w(name, version)
            .zip()
            .modify(&p, |e| e.flags(FLAG_ENCRYPTED))
            .build()
    }

    /// A wheel whose module's local header (only) is flagged encrypted.
    pub fn zip_local_header_encrypted(name: &str, version: &str) -> Vec<u8> {
        let p = format!("{}/__init__.py", module(name));
        w(name, version)
            .zip()
            .modify(&p, |e| {
                let f = e.flags | FLAG_ENCRYPTED;
                e.local_flags(f)
            })
            .build()
    }

    /// A wheel whose module declares compression method 12 (bzip2).
    pub fn zip_unsupported_compression(name: &str, version: &str) -> Vec<u8> {
        let p = format!("{}/__init__.py", module(name));
        w(name, version)
            .stored()
            .zip()
            .modify(&p, |e| e.declare_method(12))
            .build()
    }

    /// A wheel whose module's central directory name is `../evil.py`, with an Info-ZIP
    /// Unicode Path extra field (and a local header) saying `<module>/__init__.py`: tools that
    /// honour the extra field and tools that do not see different names.
    pub fn zip_unicode_path_extra(name: &str, version: &str) -> Vec<u8> {
        let p = format!("{}/__init__.py", module(name));
        w(name, version)
            .zip()
            .modify(&p, |mut e| {
                e.local_name = Some(e.name.clone());
                e.name = "../evil.py".into();
                e.central_extra(0x7075, &unicode_path_extra("../evil.py", &p))
            })
            .build()
    }

    /// A wheel plus `<module>/zeros.bin`: `uncompressed` zero bytes, deflated (200 MiB come to
    /// about 200 KiB). Quick to build whatever the size.
    pub fn zip_bomb(name: &str, version: &str, uncompressed: u64) -> Vec<u8> {
        let (data, crc) = deflate_with_zeros(b"", uncompressed, b"");
        let p = format!("{}/zeros.bin", module(name));
        let bomb = ZipEntry::raw(&p, DEFLATED, data, crc, uncompressed);
        let wheel = w(name, version).zip();
        // First, so it is decompressed before anything else.
        let mut entries = vec![bomb];
        entries.extend(wheel.entries);
        ZipBuilder {
            entries,
            ..ZipBuilder::new()
        }
        .build()
    }

    /// A valid wheel cut to half its length.
    pub fn zip_truncated(name: &str, version: &str) -> Vec<u8> {
        let mut b = wheel(name, version);
        b.truncate(b.len() / 2);
        b
    }

    /// A wheel with `count` extra small files.
    pub fn zip_many_entries(name: &str, version: &str, count: usize) -> Vec<u8> {
        let m = module(name);
        (0..count)
            .fold(w(name, version).zip(), |z, i| {
                z.entry(ZipEntry::stored(&format!("{m}/f{i}.py"), b""))
            })
            .build()
    }

    pub fn wheel_missing_metadata(name: &str, version: &str) -> Vec<u8> {
        let b = w(name, version);
        let p = format!("{}/METADATA", b.dist_info());
        b.remove(&p).build()
    }

    pub fn wheel_missing_wheel_file(name: &str, version: &str) -> Vec<u8> {
        let b = w(name, version);
        let p = format!("{}/WHEEL", b.dist_info());
        b.remove(&p).build()
    }

    /// A wheel with a second `other-1.0.dist-info/METADATA`.
    pub fn wheel_two_metadata(name: &str, version: &str) -> Vec<u8> {
        w(name, version)
            .file(
                "other-1.0.dist-info/METADATA",
                &Metadata::new("other", "1.0").bytes(),
            )
            .file("other-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n")
            .build()
    }

    /// A wheel whose only dist-info directory is `other-9.0.dist-info`.
    pub fn wheel_dist_info_mismatch(name: &str, version: &str) -> Vec<u8> {
        let b = w(name, version);
        let di = b.dist_info();
        let contents = b.contents();
        contents
            .into_iter()
            .fold(ZipBuilder::new(), |z, (p, data)| {
                z.file(&p.replace(&di, "other-9.0.dist-info"), &data)
            })
            .build()
    }

    /// `METADATA` names `other-project`.
    pub fn wheel_metadata_name_mismatch(name: &str, version: &str) -> Vec<u8> {
        w(name, version)
            .with_metadata(|m| m.set("Name", "other-project"))
            .build()
    }

    /// `METADATA` says version `99.0`.
    pub fn wheel_metadata_version_mismatch(name: &str, version: &str) -> Vec<u8> {
        w(name, version)
            .with_metadata(|m| m.set("Version", "99.0"))
            .build()
    }

    /// `Metadata-Version: 9.9`.
    pub fn wheel_bad_metadata_version(name: &str, version: &str) -> Vec<u8> {
        w(name, version).metadata_version("9.9").build()
    }

    /// `METADATA` with a Latin-1 byte in the summary.
    pub fn wheel_metadata_not_utf8(name: &str, version: &str) -> Vec<u8> {
        let b = w(name, version);
        let mut m = b.metadata_file().expect("metadata");
        m.extend_from_slice(b"Author: Ren\xe9\n");
        b.metadata_bytes(&m).build()
    }

    /// `Requires-Python: >=>3`.
    pub fn wheel_bad_requires_python(name: &str, version: &str) -> Vec<u8> {
        w(name, version)
            .with_metadata(|m| m.set("Requires-Python", ">=>3"))
            .build()
    }

    /// `METADATA` with two `Name` fields: the filename's first, `other-project` second.
    pub fn wheel_metadata_two_names(name: &str, version: &str) -> Vec<u8> {
        w(name, version)
            .with_metadata(|m| m.header("Name", "other-project"))
            .build()
    }

    /// Metadata 2.2 marking `Version` as dynamic.
    pub fn wheel_dynamic_version(name: &str, version: &str) -> Vec<u8> {
        w(name, version)
            .with_metadata(|m| {
                m.set("Metadata-Version", "2.2")
                    .header("Dynamic", "Version")
            })
            .build()
    }

    /// `METADATA` of about `size` bytes (a long body).
    pub fn wheel_large_metadata(name: &str, version: &str, size: usize) -> Vec<u8> {
        w(name, version)
            .with_metadata(|m| m.body(&"x".repeat(size)))
            .build()
    }

    /// An sdist with `<root>/../../evil.py`.
    pub fn tar_gz_path_traversal(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/../../evil.py", b.root());
        b.file(&p, b"boom").tar_gz()
    }

    /// An sdist with `/etc/x`.
    pub fn tar_gz_absolute_path(name: &str, version: &str) -> Vec<u8> {
        s(name, version).file("/etc/x", b"boom").tar_gz()
    }

    /// An sdist with a symlink `<root>/passwd` → `../../etc/passwd`.
    pub fn tar_gz_symlink_outside(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/passwd", b.root());
        b.entry(TarEntry::symlink(&p, "../../etc/passwd")).tar_gz()
    }

    /// An sdist with a symlink to an absolute path.
    pub fn tar_gz_symlink_absolute(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/passwd", b.root());
        b.entry(TarEntry::symlink(&p, "/etc/passwd")).tar_gz()
    }

    /// An sdist with a hard link `<root>/passwd` → `../etc/passwd`.
    pub fn tar_gz_hardlink_outside(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/passwd", b.root());
        b.entry(TarEntry::hard_link(&p, "../etc/passwd")).tar_gz()
    }

    /// An sdist whose symlinks each stay inside when read alone, but escape together:
    /// `<root>/a/b/up` → `../..` (the root), then `<root>/a/b/out` → `up/../..`, which
    /// resolves through `up` to the parent of the extraction directory.
    pub fn tar_gz_symlink_chain(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let r = b.root().to_string();
        b.entry(TarEntry::dir(&format!("{r}/a/")))
            .entry(TarEntry::dir(&format!("{r}/a/b/")))
            .entry(TarEntry::symlink(&format!("{r}/a/b/up"), "../.."))
            .entry(TarEntry::symlink(&format!("{r}/a/b/out"), "up/../.."))
            .tar_gz()
    }

    /// An sdist with a file written through a symlink: `<root>/link` → `.`, then
    /// `<root>/link/x.py`.
    pub fn tar_gz_file_through_symlink(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let r = b.root().to_string();
        b.entry(TarEntry::symlink(&format!("{r}/link"), "."))
            .file(&format!("{r}/link/x.py"), b"boom")
            .tar_gz()
    }

    /// An sdist with a character device `<root>/dev`.
    pub fn tar_gz_device(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/dev", b.root());
        b.entry(TarEntry::special(&p, TarKind::CharDevice)).tar_gz()
    }

    /// An sdist with a FIFO `<root>/fifo`.
    pub fn tar_gz_fifo(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/fifo", b.root());
        b.entry(TarEntry::special(&p, TarKind::Fifo)).tar_gz()
    }

    /// An sdist with a GNU sparse file of `hole` zero bytes then 512 bytes of data: a few
    /// hundred bytes in the archive, `hole` bytes when read.
    pub fn tar_gz_sparse(name: &str, version: &str, hole: u64) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/sparse.bin", b.root());
        b.entry(TarEntry::sparse(&p, hole, &[7u8; 512])).tar_gz()
    }

    /// An sdist listing `<root>/setup.cfg` twice.
    pub fn tar_gz_duplicate_file(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/setup.cfg", b.root());
        b.push(TarEntry::file(&p, b"[metadata]\nname = evil\n"))
            .tar_gz()
    }

    /// An sdist plus `<root>/zeros.bin` of `uncompressed` zero bytes (200 MiB come to about
    /// 200 KiB). Quick to build whatever the size.
    pub fn tar_gz_bomb(name: &str, version: &str, uncompressed: u64) -> Vec<u8> {
        let b = s(name, version);
        let mut head = TarBuilder {
            entries: b.contents(),
        }
        .tar();
        head.truncate(head.len() - 1024); // drop the end marker
        let bomb = TarEntry {
            data: vec![],
            ..TarEntry::file(&format!("{}/zeros.bin", b.root()), b"")
        };
        let header = tar_entry_header(&bomb);
        let (pax, block) = header.split_at(header.len() - 512);
        let mut h: [u8; 512] = block.try_into().expect("one block");
        octal(&mut h[124..136], uncompressed);
        finish_header(&mut h);
        head.extend_from_slice(pax);
        head.extend_from_slice(&h);
        let pad = (512 - (uncompressed % 512) as usize) % 512;
        let tail = vec![0u8; pad + 1024];
        let total = head.len() as u64 + uncompressed + tail.len() as u64;
        let (data, crc) = deflate_with_zeros(&head, uncompressed, &tail);
        gzip_member(&data, crc, total)
    }

    /// A `.tar.gz` sdist cut to half its length.
    pub fn tar_gz_truncated(name: &str, version: &str) -> Vec<u8> {
        let mut b = sdist_tar_gz(name, version);
        b.truncate(b.len() / 2);
        b
    }

    /// A `.tar.gz` sdist with a second top-level directory `other-1.0/`.
    pub fn sdist_two_roots(name: &str, version: &str) -> Vec<u8> {
        s(name, version)
            .file("other-1.0/PKG-INFO", &Metadata::new("other", "1.0").bytes())
            .tar_gz()
    }

    /// A `.tar.gz` sdist with a top-level file beside its directory.
    pub fn sdist_top_level_file(name: &str, version: &str) -> Vec<u8> {
        s(name, version).file("setup.py", b"boom").tar_gz()
    }

    /// A `.tar.gz` sdist without `PKG-INFO`.
    pub fn sdist_missing_pkg_info(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/PKG-INFO", b.root());
        b.remove(&p).tar_gz()
    }

    /// A `.tar.gz` sdist whose directory is `other-9.0/`.
    pub fn sdist_root_mismatch(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let root = b.root().to_string();
        TarBuilder {
            entries: b
                .contents()
                .into_iter()
                .map(|mut e| {
                    e.path = e.path.replacen(&root, "other-9.0", 1);
                    e
                })
                .collect(),
        }
        .tar_gz()
    }

    /// A `.tar.gz` sdist whose `PKG-INFO` names `other-project`.
    pub fn sdist_pkg_info_name_mismatch(name: &str, version: &str) -> Vec<u8> {
        s(name, version)
            .with_metadata(|m| m.set("Name", "other-project"))
            .tar_gz()
    }

    /// A `.zip` sdist with a second top-level directory `other-1.0/`.
    pub fn sdist_zip_two_roots(name: &str, version: &str) -> Vec<u8> {
        s(name, version)
            .file("other-1.0/PKG-INFO", &Metadata::new("other", "1.0").bytes())
            .build_zip()
    }

    /// A `.zip` sdist without `PKG-INFO`.
    pub fn sdist_zip_missing_pkg_info(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/PKG-INFO", b.root());
        b.remove(&p).build_zip()
    }

    /// A `.zip` sdist with an entry `<root>/../evil.py`.
    pub fn sdist_zip_path_traversal(name: &str, version: &str) -> Vec<u8> {
        let b = s(name, version);
        let p = format!("{}/../evil.py", b.root());
        b.file(&p, b"boom").build_zip()
    }

    /// Bytes that are not gzip at all (for a `.tar.gz` name).
    pub fn not_gzip() -> Vec<u8> {
        b"this is plain text, not a gzip stream\n".repeat(10)
    }

    /// Bytes that are not a zip at all (for a `.whl` or `.zip` name).
    pub fn not_zip() -> Vec<u8> {
        b"this is plain text, not a zip archive\n".repeat(10)
    }

    /// A gzip stream whose content is not a tar.
    pub fn gzip_not_tar() -> Vec<u8> {
        gzip(&b"this is plain text, not a tar archive\n".repeat(100))
    }

    /// An empty file.
    pub fn empty() -> Vec<u8> {
        Vec::new()
    }
}
