//! Upload validation (`stowage_core::python::service::prepare`) over the fixtures of
//! `stowage_testkit::python`: every valid kind of distribution passes with the right metadata,
//! and every malformed archive, form and filename is refused with a message that says why.

use std::collections::HashSet;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stowage_core::Error;
use stowage_core::python::archive::Limits;
use stowage_core::python::filename::DistKind;
use stowage_core::python::service::{Prepared, ReceivedFile, prepare};
use stowage_testkit::python::{self as py, Metadata, SdistBuilder, WheelBuilder, bad};

const NAME: &str = "Demo.Pkg";
const VERSION: &str = "1.0.0";
const MAX_FILE: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn whl() -> String {
    py::wheel_filename(NAME, VERSION)
}

fn tgz() -> String {
    py::sdist_filename(NAME, VERSION)
}

fn szip() -> String {
    py::sdist_zip_filename(NAME, VERSION)
}

/// The form twine would send for this file of `NAME` `VERSION`.
fn form(filename: &str, bytes: &[u8]) -> Vec<(String, String)> {
    py::twine_form(filename, bytes, NAME, VERSION, py::filetype(filename))
}

fn upload_with(
    fields: &[(String, String)],
    filename: &str,
    bytes: &[u8],
    limits: &Limits,
    max_file_size: u64,
) -> stowage_core::Result<Prepared> {
    prepare(
        &py::upload_form(fields),
        py::received(filename, bytes),
        limits,
        max_file_size,
    )
}

/// Uploads as twine would, with the default limits.
fn upload(filename: &str, bytes: &[u8]) -> stowage_core::Result<Prepared> {
    upload_with(
        &form(filename, bytes),
        filename,
        bytes,
        &Limits::default(),
        MAX_FILE,
    )
}

/// `None` if `result` is a `BadRequest` whose message contains `phrase`, else what is wrong.
fn refusal_problem(
    result: stowage_core::Result<Prepared>,
    phrase: &str,
    case: &str,
) -> Option<String> {
    match result {
        Err(Error::BadRequest(msg)) if msg.contains(phrase) => None,
        Err(Error::BadRequest(msg)) => Some(format!(
            "{case}: expected a message containing {phrase:?}, got {msg:?}"
        )),
        Err(other) => Some(format!(
            "{case}: expected BadRequest containing {phrase:?}, got {other:?}"
        )),
        Ok(p) => Some(format!(
            "{case}: expected BadRequest containing {phrase:?}, but it was accepted: {:?}",
            p.file.filename
        )),
    }
}

#[track_caller]
fn assert_refused(result: stowage_core::Result<Prepared>, phrase: &str, case: &str) {
    if let Some(problem) = refusal_problem(result, phrase, case) {
        panic!("{problem}");
    }
}

/// Runs every case of a table and reports every failure at once.
#[track_caller]
fn assert_table(problems: impl Iterator<Item = Option<String>>) {
    let problems: Vec<String> = problems.flatten().collect();
    assert!(
        problems.is_empty(),
        "{} case(s) failed:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Limits small enough that a bomb of a few MiB is refused quickly.
fn small_limits() -> Limits {
    Limits {
        max_uncompressed: 4 * MIB,
        max_ratio: 10,
        ratio_min_size: MIB,
        max_entries: 1000,
        max_metadata: 64 << 10,
    }
}

// ---------------------------------------------------------------------------------------------
// Valid uploads

#[test]
fn a_wheel_passes_with_its_metadata() {
    let b = WheelBuilder::new(NAME, VERSION);
    let bytes = b.build();
    let p = upload(&b.filename(), &bytes).expect("valid wheel");
    assert_eq!(p.file.filename, "demo_pkg-1.0.0-py3-none-any.whl");
    assert_eq!(p.file.kind, DistKind::Wheel);
    assert_eq!(p.file.name.as_str(), "demo-pkg");
    assert_eq!(p.file.version.normalized(), "1.0.0");
    assert_eq!(p.metadata.metadata_version, "2.1");
    assert_eq!(p.metadata.name.as_str(), NAME);
    assert_eq!(p.metadata.normalized_name().as_str(), "demo-pkg");
    assert_eq!(p.metadata.version.normalized(), "1.0.0");
    assert_eq!(
        p.metadata.summary.as_deref(),
        Some("The Demo.Pkg test package")
    );
    assert_eq!(p.metadata.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(p.metadata.requires_dist, ["requests>=2"]);
    assert_eq!(p.metadata_file, b.metadata_file());
    assert_eq!(
        p.metadata_file.as_deref(),
        Some(Metadata::new(NAME, VERSION).bytes().as_slice())
    );
    assert_eq!(p.size, bytes.len() as u64);
    assert_eq!(p.digest.hex(), py::digests(&bytes).sha256);
}

#[test]
fn the_short_wheel_helper_is_the_builder() {
    assert_eq!(
        py::wheel(NAME, VERSION),
        WheelBuilder::new(NAME, VERSION).build()
    );
    assert!(upload(&whl(), &py::wheel(NAME, VERSION)).is_ok());
}

#[test]
fn a_stored_wheel_passes() {
    let b = WheelBuilder::new(NAME, VERSION).stored();
    upload(&b.filename(), &b.build()).expect("stored wheel");
}

#[test]
fn sdists_pass_as_tar_gz_and_zip() {
    let b = SdistBuilder::new(NAME, VERSION);
    assert_eq!(b.root(), "demo_pkg-1.0.0");
    for (filename, bytes, kind) in [
        (b.filename_tar_gz(), b.tar_gz(), DistKind::SdistTarGz),
        (b.filename_zip(), b.build_zip(), DistKind::SdistZip),
    ] {
        let p = upload(&filename, &bytes).unwrap_or_else(|e| panic!("{filename}: {e}"));
        assert_eq!(p.file.kind, kind);
        assert_eq!(p.file.name.as_str(), "demo-pkg");
        assert_eq!(p.file.version.normalized(), "1.0.0");
        assert_eq!(p.metadata.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(p.metadata.requires_dist, ["requests>=2"]);
        assert_eq!(
            p.metadata_file, None,
            "{filename}: only wheels keep METADATA"
        );
        assert_eq!(p.digest.hex(), py::digests(&bytes).sha256);
    }
    assert_eq!(py::sdist_tar_gz(NAME, VERSION), b.tar_gz());
    assert_eq!(py::sdist_zip(NAME, VERSION), b.build_zip());
    assert_eq!(tgz(), "demo_pkg-1.0.0.tar.gz");
    assert_eq!(szip(), "demo_pkg-1.0.0.zip");
}

#[test]
fn every_metadata_version_passes_with_its_fields() {
    for mv in [
        "1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5",
    ] {
        let m = Metadata::full(mv, NAME, VERSION);
        let at_least = |v: &str| mv >= v;
        let wheel = WheelBuilder::new(NAME, VERSION).metadata(m.clone());
        let sdist = SdistBuilder::new(NAME, VERSION).metadata(m.clone());
        for (filename, bytes) in [
            (wheel.filename(), wheel.build()),
            (sdist.filename_tar_gz(), sdist.tar_gz()),
            (sdist.filename_zip(), sdist.build_zip()),
        ] {
            let case = format!("metadata {mv} in {filename}");
            let p = upload(&filename, &bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
            let md = &p.metadata;
            assert_eq!(md.metadata_version, mv, "{case}");
            // The body says `Name: not-a-header`: it is not a field.
            assert_eq!(md.name.as_str(), NAME, "{case}");
            assert_eq!(md.version.normalized(), VERSION, "{case}");
            assert_eq!(
                md.summary.as_deref(),
                Some("The Demo.Pkg test package"),
                "{case}"
            );
            assert_eq!(md.author.as_deref(), Some("A. Author"), "{case}");
            assert_eq!(
                md.home_page.as_deref(),
                Some("https://example.com/home"),
                "{case}"
            );
            assert_eq!(md.keywords.as_deref(), Some("test,fixture"), "{case}");
            if at_least("2.4") {
                assert_eq!(
                    md.license_expression.as_deref(),
                    Some("MIT OR Apache-2.0"),
                    "{case}"
                );
                assert_eq!(md.license, None, "{case}");
            } else {
                assert_eq!(md.license.as_deref(), Some("MIT"), "{case}");
            }
            if at_least("1.1") {
                assert_eq!(
                    md.classifiers,
                    [
                        "Programming Language :: Python :: 3",
                        "Operating System :: OS Independent"
                    ],
                    "{case}"
                );
            } else {
                assert!(md.classifiers.is_empty(), "{case}");
            }
            if at_least("1.2") {
                assert_eq!(
                    md.requires_python.as_deref(),
                    Some(">=3.8, !=3.9.*"),
                    "{case}"
                );
                assert_eq!(
                    md.requires_dist,
                    ["requests>=2", "click>=8; extra == \"cli\""],
                    "{case}"
                );
                assert_eq!(
                    md.project_urls,
                    [
                        "Source, https://example.com/src",
                        "Issues, https://example.com/issues"
                    ],
                    "{case}"
                );
            } else {
                assert_eq!(md.requires_python, None, "{case}");
                assert!(md.requires_dist.is_empty(), "{case}");
            }
            if at_least("2.1") {
                assert_eq!(md.provides_extra, ["cli", "docs"], "{case}");
                assert_eq!(
                    md.description_content_type.as_deref(),
                    Some("text/markdown"),
                    "{case}"
                );
            }
            if filename.ends_with(".whl") {
                assert_eq!(p.metadata_file, Some(m.bytes()), "{case}");
            }
            let a = md.annotations();
            if at_least("1.2") {
                assert_eq!(
                    a["org.python.metadata.requires-dist"],
                    r#"["requests>=2","click>=8; extra == \"cli\""]"#,
                    "{case}"
                );
            }
            assert_eq!(a["org.python.metadata.metadata-version"], mv, "{case}");
        }
    }
}

#[test]
fn names_and_versions_compare_normalized() {
    // A legacy sdist name (capitals, dots) and a version written differently in the metadata.
    let b = SdistBuilder::new(NAME, VERSION).with_metadata(|m| m.set("Version", "1.0.0.0"));
    let legacy = "Demo.Pkg-1.0.0.tar.gz";
    let p = upload(legacy, &b.tar_gz()).expect("legacy sdist name");
    assert_eq!(p.file.name.as_str(), "demo-pkg");
    // The form may write the name in any spelling that normalizes the same.
    let bytes = py::wheel(NAME, VERSION);
    let fields = py::twine_form(&whl(), &bytes, "DEMO_pkg", "1.0", "bdist_wheel");
    upload_with(&fields, &whl(), &bytes, &Limits::default(), MAX_FILE)
        .expect("name and version spelled differently");
}

#[test]
fn versions_with_local_and_epoch_parts_pass() {
    for v in ["1.0+local.1", "1!2.0", "2.0rc1", "3.0.post1.dev2"] {
        let b = WheelBuilder::new(NAME, v);
        let bytes = b.build();
        let fields = py::twine_form(&b.filename(), &bytes, NAME, v, "bdist_wheel");
        upload_with(&fields, &b.filename(), &bytes, &Limits::default(), MAX_FILE)
            .unwrap_or_else(|e| panic!("{v}: {e}"));
        let s = SdistBuilder::new(NAME, v);
        let bytes = s.tar_gz();
        let fields = py::twine_form(&s.filename_tar_gz(), &bytes, NAME, v, "sdist");
        upload_with(
            &fields,
            &s.filename_tar_gz(),
            &bytes,
            &Limits::default(),
            MAX_FILE,
        )
        .unwrap_or_else(|e| panic!("{v}: {e}"));
    }
}

#[test]
fn an_sdist_may_hold_links_that_stay_inside() {
    let b = SdistBuilder::new(NAME, VERSION);
    let r = b.root().to_string();
    let b = b
        .entry(py::TarEntry::dir(&format!("{r}/docs/")))
        .entry(py::TarEntry::symlink(
            &format!("{r}/docs/README"),
            "../setup.cfg",
        ))
        .entry(py::TarEntry::hard_link(
            &format!("{r}/setup2.cfg"),
            &format!("{r}/setup.cfg"),
        ));
    upload(&tgz(), &b.tar_gz()).expect("links inside the root");
}

#[test]
fn long_names_pass_through_pax_headers() {
    let b = SdistBuilder::new(NAME, VERSION);
    let long = format!("{}/{}/file.py", b.root(), "d".repeat(150));
    let b = b.file(&long, b"x = 1\n");
    upload(&tgz(), &b.tar_gz()).expect("a 170-byte path");
}

// ---------------------------------------------------------------------------------------------
// Malformed archives

#[test]
fn malformed_archives_are_refused_with_the_reason() {
    let (n, v) = (NAME, VERSION);
    let root = SdistBuilder::new(n, v).root().to_string();
    let di = WheelBuilder::new(n, v).dist_info();
    let missing_pkg_info = format!("has no {root}/PKG-INFO");
    let missing_wheel = format!("has no {di}/WHEEL");
    let small = small_limits();
    let cases: Vec<(&str, Vec<u8>, String, &str)> = vec![
        // Zip structure.
        (
            "zip ../ entry",
            bad::zip_path_traversal(n, v),
            whl(),
            "path traversal",
        ),
        (
            "zip absolute entry",
            bad::zip_absolute_path(n, v),
            whl(),
            "absolute path",
        ),
        (
            "zip backslash entry",
            bad::zip_backslash_path(n, v),
            whl(),
            "backslash",
        ),
        (
            "zip duplicate entry",
            bad::zip_duplicate_entry(n, v),
            whl(),
            "more than once",
        ),
        (
            "zip local header name",
            bad::zip_local_header_name_mismatch(n, v),
            whl(),
            "local header's file name differs",
        ),
        (
            "zip local header crc",
            bad::zip_local_header_crc_mismatch(n, v),
            whl(),
            "local header's CRC-32 differs",
        ),
        (
            "zip local header encrypted",
            bad::zip_local_header_encrypted(n, v),
            whl(),
            "encrypted",
        ),
        (
            "zip corrupt data",
            bad::zip_crc_mismatch(n, v),
            whl(),
            "CRC-32 check",
        ),
        (
            "zip prepended data",
            bad::zip_prepended_data(n, v),
            whl(),
            "before its first entry",
        ),
        (
            "zip prepended data in offsets",
            bad::zip_prepended_data_in_offsets(n, v),
            whl(),
            "before its first entry",
        ),
        (
            "zip overlapping entries",
            bad::zip_overlapping_entries(n, v),
            whl(),
            "overlaps",
        ),
        (
            "zip shared local header",
            bad::zip_shared_local_header(n, v),
            whl(),
            "overlaps",
        ),
        (
            "zip encrypted entry",
            bad::zip_encrypted_entry(n, v),
            whl(),
            "encrypted",
        ),
        (
            "zip bzip2 entry",
            bad::zip_unsupported_compression(n, v),
            whl(),
            "only stored and deflated",
        ),
        (
            "zip unicode path extra field",
            bad::zip_unicode_path_extra(n, v),
            whl(),
            "Unicode Path",
        ),
        (
            "zip truncated",
            bad::zip_truncated(n, v),
            whl(),
            "not a valid zip",
        ),
        ("not a zip", bad::not_zip(), whl(), "not a valid zip"),
        (
            "tar.gz named .whl",
            py::sdist_tar_gz(n, v),
            whl(),
            "not a valid zip",
        ),
        // Wheel content.
        (
            "wheel without METADATA",
            bad::wheel_missing_metadata(n, v),
            whl(),
            "has no *.dist-info/METADATA",
        ),
        (
            "wheel without WHEEL",
            bad::wheel_missing_wheel_file(n, v),
            whl(),
            &missing_wheel,
        ),
        (
            "wheel with two METADATA",
            bad::wheel_two_metadata(n, v),
            whl(),
            "more than one *.dist-info/METADATA",
        ),
        (
            "wheel dist-info of another project",
            bad::wheel_dist_info_mismatch(n, v),
            whl(),
            "does not match its filename",
        ),
        (
            "wheel dist-info of another version",
            WheelBuilder::new(n, "2.0").build(),
            whl(),
            "metadata directory \"demo_pkg-2.0.dist-info\" does not match",
        ),
        (
            "METADATA of another name",
            bad::wheel_metadata_name_mismatch(n, v),
            whl(),
            "METADATA names project \"other-project\"",
        ),
        (
            "METADATA of another version",
            bad::wheel_metadata_version_mismatch(n, v),
            whl(),
            "METADATA has version \"99.0\"",
        ),
        (
            "Metadata-Version 9.9",
            bad::wheel_bad_metadata_version(n, v),
            whl(),
            "Metadata-Version \"9.9\"",
        ),
        (
            "METADATA not UTF-8",
            bad::wheel_metadata_not_utf8(n, v),
            whl(),
            "not UTF-8",
        ),
        (
            "invalid Requires-Python",
            bad::wheel_bad_requires_python(n, v),
            whl(),
            "invalid Requires-Python",
        ),
        (
            "METADATA with two Names",
            bad::wheel_metadata_two_names(n, v),
            whl(),
            "Name appears more than once",
        ),
        (
            "dynamic Version",
            bad::wheel_dynamic_version(n, v),
            whl(),
            "Dynamic",
        ),
        // Tar structure.
        (
            "tar ../ entry",
            bad::tar_gz_path_traversal(n, v),
            tgz(),
            "path traversal",
        ),
        (
            "tar absolute entry",
            bad::tar_gz_absolute_path(n, v),
            tgz(),
            "absolute path",
        ),
        (
            "tar symlink outside",
            bad::tar_gz_symlink_outside(n, v),
            tgz(),
            "links outside the archive",
        ),
        (
            "tar absolute symlink",
            bad::tar_gz_symlink_absolute(n, v),
            tgz(),
            "links outside the archive",
        ),
        (
            "tar hard link outside",
            bad::tar_gz_hardlink_outside(n, v),
            tgz(),
            "links outside the archive",
        ),
        (
            "tar symlink chain",
            bad::tar_gz_symlink_chain(n, v),
            tgz(),
            "goes through another link",
        ),
        (
            "tar file under a symlink",
            bad::tar_gz_file_through_symlink(n, v),
            tgz(),
            "is under the link",
        ),
        (
            "tar character device",
            bad::tar_gz_device(n, v),
            tgz(),
            "only files, directories and links",
        ),
        (
            "tar fifo",
            bad::tar_gz_fifo(n, v),
            tgz(),
            "only files, directories and links",
        ),
        (
            "tar sparse file",
            bad::tar_gz_sparse(n, v, 1 << 30),
            tgz(),
            "only files, directories and links",
        ),
        (
            "tar duplicate file",
            bad::tar_gz_duplicate_file(n, v),
            tgz(),
            "more than once",
        ),
        (
            "tar.gz truncated",
            bad::tar_gz_truncated(n, v),
            tgz(),
            "not a valid .tar.gz",
        ),
        ("not gzip", bad::not_gzip(), tgz(), "not a valid .tar.gz"),
        (
            "gzip but not tar",
            bad::gzip_not_tar(),
            tgz(),
            "not a valid .tar.gz",
        ),
        (
            "wheel named .tar.gz",
            py::wheel(n, v),
            tgz(),
            "not a valid .tar.gz",
        ),
        // Sdist content.
        (
            "sdist with two roots",
            bad::sdist_two_roots(n, v),
            tgz(),
            "under one directory",
        ),
        (
            "sdist with a top-level file",
            bad::sdist_top_level_file(n, v),
            tgz(),
            "under one directory",
        ),
        (
            "sdist without PKG-INFO",
            bad::sdist_missing_pkg_info(n, v),
            tgz(),
            &missing_pkg_info,
        ),
        (
            "sdist root of another project",
            bad::sdist_root_mismatch(n, v),
            tgz(),
            "does not match its filename",
        ),
        (
            "PKG-INFO of another name",
            bad::sdist_pkg_info_name_mismatch(n, v),
            tgz(),
            "PKG-INFO names project \"other-project\"",
        ),
        (
            "zip sdist with two roots",
            bad::sdist_zip_two_roots(n, v),
            szip(),
            "under one directory",
        ),
        (
            "zip sdist without PKG-INFO",
            bad::sdist_zip_missing_pkg_info(n, v),
            szip(),
            &missing_pkg_info,
        ),
        (
            "zip sdist ../ entry",
            bad::sdist_zip_path_traversal(n, v),
            szip(),
            "path traversal",
        ),
        ("empty file", bad::empty(), whl(), "empty"),
    ];
    assert_table(cases.iter().map(|(case, bytes, filename, phrase)| {
        refusal_problem(upload(filename, bytes), phrase, case)
    }));
    // Bombs and sizes, against small limits.
    let small_cases: Vec<(&str, Vec<u8>, String, &str)> = vec![
        (
            "zip bomb",
            bad::zip_bomb(n, v, 16 * MIB),
            whl(),
            "decompression bomb",
        ),
        (
            "tar.gz bomb",
            bad::tar_gz_bomb(n, v, 16 * MIB),
            tgz(),
            "decompression bomb",
        ),
        (
            "too many zip entries",
            bad::zip_many_entries(n, v, 1000),
            whl(),
            "more than the 1000 allowed",
        ),
        (
            "METADATA too large",
            bad::wheel_large_metadata(n, v, 100 << 10),
            whl(),
            "METADATA is larger than 65536 bytes",
        ),
    ];
    assert_table(small_cases.iter().map(|(case, bytes, filename, phrase)| {
        let result = upload_with(&form(filename, bytes), filename, bytes, &small, MAX_FILE);
        refusal_problem(result, phrase, case)
    }));
}

#[test]
fn the_bad_fixtures_are_otherwise_valid() {
    // The bombs are only bombs because of the limits: with room enough they pass, so the
    // refusals above are for the size and nothing else.
    let roomy = Limits {
        ratio_min_size: 64 * MIB,
        ..Limits::default()
    };
    for (filename, bytes) in [
        (whl(), bad::zip_bomb(NAME, VERSION, 8 * MIB)),
        (tgz(), bad::tar_gz_bomb(NAME, VERSION, 8 * MIB)),
        (whl(), bad::zip_many_entries(NAME, VERSION, 1000)),
        (whl(), bad::wheel_large_metadata(NAME, VERSION, 100 << 10)),
    ] {
        upload_with(
            &form(&filename, &bytes),
            &filename,
            &bytes,
            &roomy,
            MAX_FILE,
        )
        .unwrap_or_else(|e| panic!("{filename}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Bombs stop early

/// A reader that records which 4 KiB pages of the file were read, however often.
struct Counting {
    inner: Cursor<Vec<u8>>,
    pages: Arc<Mutex<HashSet<u64>>>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let at = self.inner.position();
        let n = self.inner.read(buf)?;
        if n > 0 {
            let mut pages = self.pages.lock().unwrap();
            pages.extend(at / 4096..=(at + n as u64 - 1) / 4096);
        }
        Ok(n)
    }
}

impl Seek for Counting {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Uploads `bytes`, returning the result and how many bytes of the file were read (in whole
/// 4 KiB pages, each counted once).
fn upload_counting(
    filename: &str,
    bytes: &[u8],
    limits: &Limits,
) -> (stowage_core::Result<Prepared>, u64) {
    let r = py::received(filename, bytes);
    let pages = Arc::new(Mutex::new(HashSet::new()));
    let received = ReceivedFile {
        filename: r.filename,
        reader: Counting {
            inner: r.reader,
            pages: pages.clone(),
        },
        size: r.size,
        sha256: r.sha256,
        blake2_256: r.blake2_256,
        md5: r.md5,
    };
    let result = prepare(
        &py::upload_form(&form(filename, bytes)),
        received,
        limits,
        MAX_FILE,
    );
    let read = pages.lock().unwrap().len() as u64 * 4096;
    (result, read)
}

#[test]
fn bombs_are_refused_after_reading_a_small_part() {
    let limits = small_limits();
    for (filename, bytes) in [
        (whl(), bad::zip_bomb(NAME, VERSION, 1 << 30)),
        (tgz(), bad::tar_gz_bomb(NAME, VERSION, 1 << 30)),
    ] {
        let (result, read) = upload_counting(&filename, &bytes, &limits);
        assert_refused(result, "decompression bomb", &filename);
        // At most 4 MiB come out, about 4 KiB of deflate; with the zip's end (the last 64 KiB
        // are searched for its end record) that is a few percent of the 1 MiB file.
        assert!(
            read < bytes.len() as u64 / 8,
            "{filename}: read {read} of {} bytes",
            bytes.len()
        );
    }
}

#[test]
fn the_default_limits_refuse_a_200_mib_zip_bomb_quickly() {
    let started = Instant::now();
    let bytes = bad::zip_bomb(NAME, VERSION, 200 * MIB);
    assert!(
        bytes.len() < 400 << 10,
        "200 MiB of zeros deflate to {} bytes",
        bytes.len()
    );
    let (result, read) = upload_counting(&whl(), &bytes, &Limits::default());
    assert_refused(result, "decompression bomb", "200 MiB zip bomb");
    // 64 MiB (the default floor) come out of the first third of the file; the last 64 KiB are
    // read for the end record.
    assert!(
        read < bytes.len() as u64 * 3 / 4,
        "read {read} of {}",
        bytes.len()
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn the_default_limits_refuse_a_200_mib_tar_gz_bomb_quickly() {
    let started = Instant::now();
    let bytes = bad::tar_gz_bomb(NAME, VERSION, 200 * MIB);
    assert!(bytes.len() < 400 << 10, "{} bytes", bytes.len());
    let (result, read) = upload_counting(&tgz(), &bytes, &Limits::default());
    assert_refused(result, "decompression bomb", "200 MiB tar.gz bomb");
    assert!(
        read < bytes.len() as u64 / 2,
        "read {read} of {}",
        bytes.len()
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_sparse_tar_entry_is_refused_before_it_is_read() {
    // 1 TiB of holes in a few hundred bytes: the gzip stream is small, the entry is not.
    let started = Instant::now();
    let bytes = bad::tar_gz_sparse(NAME, VERSION, 1 << 40);
    assert_refused(
        upload(&tgz(), &bytes),
        "only files, directories and links",
        "sparse",
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ---------------------------------------------------------------------------------------------
// The form

/// Applies `change` to twine's form for a valid wheel and uploads.
fn upload_form_change(
    change: impl FnOnce(&mut Vec<(String, String)>),
) -> stowage_core::Result<Prepared> {
    let bytes = py::wheel(NAME, VERSION);
    let mut fields = form(&whl(), &bytes);
    change(&mut fields);
    upload_with(&fields, &whl(), &bytes, &Limits::default(), MAX_FILE)
}

#[test]
fn form_errors_are_refused_with_the_reason() {
    type Change = Box<dyn FnOnce(&mut Vec<(String, String)>)>;
    let set =
        |k: &'static str, v: &'static str| -> Change { Box::new(move |f| py::set_field(f, k, v)) };
    let remove = |k: &'static str| -> Change { Box::new(move |f| py::remove_field(f, k)) };
    let zeros = "0".repeat(64);
    let wrong_sha = format!("sha256_digest {zeros:?} does not match the uploaded file");
    let wrong_md5 = format!("md5_digest {:?} does not match", "0".repeat(32));
    let wrong_blake = format!("blake2_256_digest {:?} does not match", "f".repeat(64));
    let cases: Vec<(&str, Change, &str)> = vec![
        ("no :action", remove(":action"), "missing :action"),
        ("empty :action", set(":action", ""), "missing :action"),
        (
            "other :action",
            set(":action", "remove_pkg"),
            "unsupported :action \"remove_pkg\"",
        ),
        (
            "protocol_version 2",
            set("protocol_version", "2"),
            "unsupported protocol_version",
        ),
        (
            "no digest",
            Box::new(|f| {
                for k in ["md5_digest", "sha256_digest", "blake2_256_digest"] {
                    py::remove_field(f, k);
                }
            }),
            "include at least one of sha256_digest",
        ),
        (
            "wrong sha256",
            Box::new(move |f| py::set_field(f, "sha256_digest", &zeros)),
            &wrong_sha,
        ),
        (
            "wrong md5",
            set("md5_digest", "00000000000000000000000000000000"),
            &wrong_md5,
        ),
        (
            "wrong blake2",
            Box::new(|f| py::set_field(f, "blake2_256_digest", &"f".repeat(64))),
            &wrong_blake,
        ),
        ("no name", remove("name"), "missing name"),
        (
            "another name",
            set("name", "other-project"),
            "is not for project \"other-project\"",
        ),
        ("invalid name", set("name", "-x-"), "invalid project name"),
        ("no version", remove("version"), "missing version"),
        (
            "another version",
            set("version", "2.0"),
            "is not for version \"2.0\"",
        ),
        ("invalid version", set("version", "one"), "invalid version"),
        ("no filetype", remove("filetype"), "missing filetype"),
        (
            "sdist filetype for a wheel",
            set("filetype", "sdist"),
            "filetype \"sdist\" does not match",
        ),
        (
            "egg filetype",
            set("filetype", "bdist_egg"),
            "filetype \"bdist_egg\"",
        ),
    ];
    assert_table(
        cases.into_iter().map(|(case, change, phrase)| {
            refusal_problem(upload_form_change(change), phrase, case)
        }),
    );
}

#[test]
fn any_one_correct_digest_is_enough_and_case_does_not_matter() {
    for keep in ["md5_digest", "sha256_digest", "blake2_256_digest"] {
        upload_form_change(|f| {
            f.retain(|(k, _)| !k.ends_with("_digest") || k == keep);
        })
        .unwrap_or_else(|e| panic!("only {keep}: {e}"));
    }
    upload_form_change(|f| {
        for (k, v) in f.iter_mut() {
            if k.ends_with("_digest") {
                *v = v.to_uppercase();
            }
        }
    })
    .expect("uppercase digests");
    // A digest that is right is not excused by another that is missing, and one that is wrong
    // is not excused by others that are right.
    assert_refused(
        upload_form_change(|f| py::set_field(f, "md5_digest", "0")),
        "md5_digest",
        "one wrong digest among right ones",
    );
}

#[test]
fn the_digests_are_those_of_the_bytes() {
    let d = py::digests(b"");
    assert_eq!(
        d.sha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(d.md5, "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(
        d.blake2_256,
        "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
    );
    let d = py::digests(b"abc");
    assert_eq!(
        d.blake2_256,
        "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
    );
}

#[test]
fn file_size_limits() {
    let bytes = py::wheel(NAME, VERSION);
    let size = bytes.len() as u64;
    let fields = form(&whl(), &bytes);
    upload_with(&fields, &whl(), &bytes, &Limits::default(), size).expect("exactly the limit");
    assert_refused(
        upload_with(&fields, &whl(), &bytes, &Limits::default(), size - 1),
        "larger than this registry's limit",
        "one byte over",
    );
    assert_refused(upload(&whl(), b""), "the uploaded file is empty", "empty");
    assert_refused(
        upload(&tgz(), b""),
        "the uploaded file is empty",
        "empty sdist",
    );
}

#[test]
fn bad_filenames_are_refused() {
    let bytes = py::wheel(NAME, VERSION);
    for filename in [
        "pkg.whl",
        "demo_pkg-1.0.0.egg",
        "demo_pkg-1.0.0-py3.7.egg",
        "demo_pkg-1.0.0.exe",
        "demo_pkg-1.0.0.tar.bz2",
        "demo_pkg-1.0.0.tgz",
        "../demo_pkg-1.0.0.tar.gz",
        "dir/demo_pkg-1.0.0.tar.gz",
        "dir\\demo_pkg-1.0.0.tar.gz",
        ".demo_pkg-1.0.0.tar.gz",
        "demo_pkg-one.tar.gz",
        "demo_pkg.tar.gz",
        "demo pkg-1.0.0.tar.gz",
        "demo_pkg-1.0.0-py3-none.whl",
        "demo_pkg-1.0.0-x-py3-none-any.whl",
        "demo_pkg-1.0.0-1-2-py3-none-any.whl",
        "demo_pkg-1.0.0-py3-none-any.WHL",
        "demo_pkg-1.0.0-py3-none-any.whl\0",
        "-demo_pkg-1.0.0.tar.gz",
    ] {
        let fields = py::twine_form(filename, &bytes, NAME, VERSION, "bdist_wheel");
        assert_refused(
            upload_with(&fields, filename, &bytes, &Limits::default(), MAX_FILE),
            "invalid distribution filename",
            filename,
        );
    }
    let long = format!("{}-1.0.0.tar.gz", "a".repeat(250));
    assert_refused(
        upload(&long, &bytes),
        "invalid distribution filename",
        "256 bytes",
    );
}

// ---------------------------------------------------------------------------------------------
// What twine sends

#[test]
fn twine_form_has_twines_fields() {
    let bytes = py::wheel(NAME, VERSION);
    let f = py::twine_form(&whl(), &bytes, NAME, VERSION, "bdist_wheel");
    let keys: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "name",
            "version",
            "filetype",
            "pyversion",
            "metadata_version",
            "md5_digest",
            "sha256_digest",
            "blake2_256_digest",
            ":action",
            "protocol_version"
        ]
    );
    let get = |k: &str| f.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
    assert_eq!(get(":action"), Some("file_upload"));
    assert_eq!(get("protocol_version"), Some("1"));
    assert_eq!(get("pyversion"), Some("py3"));
    assert_eq!(
        get("sha256_digest"),
        Some(py::digests(&bytes).sha256.as_str())
    );
    let s = py::twine_form(&tgz(), b"x", NAME, VERSION, "sdist");
    assert!(s.contains(&("pyversion".into(), "source".into())));
    assert_eq!(py::filetype(&whl()), "bdist_wheel");
    assert_eq!(py::filetype(&tgz()), "sdist");
    assert_eq!(py::filetype(&szip()), "sdist");
}

#[test]
fn multipart_body_is_laid_out_as_requests_does() {
    let fields = vec![
        ("name".to_string(), "Demo.Pkg".to_string()),
        ("classifiers".to_string(), "A :: B".to_string()),
        ("classifiers".to_string(), "C :: D".to_string()),
    ];
    let (ct, body) =
        py::multipart_body_with_boundary("b0undary", &fields, "content", "x.whl", b"\x00\x01PK");
    assert_eq!(ct, "multipart/form-data; boundary=b0undary");
    let expected =
        b"--b0undary\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nDemo.Pkg\r\n\
--b0undary\r\nContent-Disposition: form-data; name=\"classifiers\"\r\n\r\nA :: B\r\n\
--b0undary\r\nContent-Disposition: form-data; name=\"classifiers\"\r\n\r\nC :: D\r\n\
--b0undary\r\nContent-Disposition: form-data; name=\"content\"; filename=\"x.whl\"\r\n\
Content-Type: application/octet-stream\r\n\r\n\x00\x01PK\r\n--b0undary--\r\n";
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(expected)
    );
    let (ct1, body1) = py::multipart_body(&fields, "content", "x.whl", b"PK");
    let (ct2, body2) = py::multipart_body(&fields, "content", "x.whl", b"PK");
    assert_eq!((&ct1, &body1), (&ct2, &body2), "reproducible");
    let boundary = ct1.strip_prefix("multipart/form-data; boundary=").unwrap();
    assert_eq!(boundary.len(), 32);
    assert!(boundary.bytes().all(|b| b.is_ascii_hexdigit()));
}

/// The body parses with the multipart parser the server uses, and what comes out uploads.
#[tokio::test]
async fn multipart_body_round_trips_through_multer() {
    let bytes = py::wheel(NAME, VERSION);
    let fields = form(&whl(), &bytes);
    let (ct, body) = py::multipart_body(&fields, "content", &whl(), &bytes);
    let boundary = multer::parse_boundary(&ct).expect("boundary");
    let stream =
        futures_util::stream::once(
            async move { Ok::<_, std::io::Error>(bytes::Bytes::from(body)) },
        );
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut got = vec![];
    let mut file = None;
    while let Some(field) = mp.next_field().await.expect("field") {
        let name = field.name().unwrap_or_default().to_string();
        if let Some(filename) = field.file_name().map(str::to_string) {
            assert_eq!(
                field.content_type().map(|m| m.to_string()).as_deref(),
                Some("application/octet-stream")
            );
            file = Some((name, filename, field.bytes().await.expect("file").to_vec()));
        } else {
            got.push((name, field.text().await.expect("text")));
        }
    }
    assert_eq!(got, fields);
    let (field, filename, data) = file.expect("a file part");
    assert_eq!(
        (field.as_str(), filename.as_str()),
        ("content", whl().as_str())
    );
    assert_eq!(data, bytes);
    upload_with(&got, &filename, &data, &Limits::default(), MAX_FILE).expect("uploads");
    assert_eq!(
        py::twine_request(&whl(), &bytes, NAME, VERSION),
        (ct, py::multipart_body(&fields, "content", &whl(), &bytes).1)
    );
}

#[test]
fn the_reader_is_read_from_its_start() {
    for (filename, bytes) in [
        (whl(), py::wheel(NAME, VERSION)),
        (tgz(), py::sdist_tar_gz(NAME, VERSION)),
    ] {
        let mut r = py::received(&filename, &bytes);
        r.reader.set_position(bytes.len() as u64);
        prepare(
            &py::upload_form(&form(&filename, &bytes)),
            r,
            &Limits::default(),
            MAX_FILE,
        )
        .unwrap_or_else(|e| panic!("{filename}: {e}"));
    }
}
