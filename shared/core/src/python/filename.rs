//! Distribution filenames: wheels (`name-version(-build)?-python-abi-platform.whl`, the binary
//! distribution format spec) and source distributions (`name-version.tar.gz`, PEP 625, and the
//! legacy `.zip`). Parsing is strict about shape and lenient where old but valid uploads differ
//! (an sdist name written with dashes or capitals).

use crate::python::names::{NormalizedName, ProjectName};
use crate::python::version::PyVersion;
use std::fmt;

/// Longest filename accepted.
pub const MAX_FILENAME_LEN: usize = 255;

/// What kind of distribution a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DistKind {
    Wheel,
    SdistTarGz,
    SdistZip,
}

impl DistKind {
    /// The upload form's `filetype` value.
    pub fn filetype(self) -> &'static str {
        match self {
            DistKind::Wheel => "bdist_wheel",
            DistKind::SdistTarGz | DistKind::SdistZip => "sdist",
        }
    }

    pub fn is_sdist(self) -> bool {
        !matches!(self, DistKind::Wheel)
    }
}

/// A parsed distribution filename.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistFilename {
    pub filename: String,
    pub kind: DistKind,
    /// The name as the filename writes it (normalized for comparison).
    pub name: NormalizedName,
    pub version: PyVersion,
    /// Wheels: the build tag, python, abi and platform tags.
    pub wheel_tags: Option<WheelTags>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelTags {
    pub build: Option<String>,
    pub python: String,
    pub abi: String,
    pub platform: String,
}

/// Why a filename was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FilenameError {
    pub filename: String,
    pub reason: String,
}

impl fmt::Display for FilenameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid distribution filename {:?}: {}",
            self.filename, self.reason
        )
    }
}

fn tag_part_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

impl DistFilename {
    pub fn parse(filename: &str) -> Result<DistFilename, FilenameError> {
        let err = |reason: &str| FilenameError {
            filename: filename.chars().take(MAX_FILENAME_LEN).collect(),
            reason: reason.to_string(),
        };
        if filename.is_empty() || filename.len() > MAX_FILENAME_LEN {
            return Err(err("empty or longer than 255 bytes"));
        }
        if filename.contains(['/', '\\']) || filename.starts_with('.') {
            return Err(err(
                "a filename has no directory part and does not start with '.'",
            ));
        }
        if !filename
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+!".contains(&b))
        {
            return Err(err("only letters, digits and . _ - + ! may appear"));
        }
        if let Some(stem) = filename.strip_suffix(".whl") {
            let parts: Vec<&str> = stem.split('-').collect();
            let (name, version, build, py, abi, plat) = match parts.as_slice() {
                [n, v, p, a, pl] => (*n, *v, None, *p, *a, *pl),
                [n, v, b, p, a, pl] => (*n, *v, Some(*b), *p, *a, *pl),
                _ => {
                    return Err(err(
                        "a wheel is name-version(-build)?-python-abi-platform.whl",
                    ));
                }
            };
            if let Some(b) = build
                && (!b.as_bytes()[0].is_ascii_digit() || !tag_part_ok(b))
            {
                return Err(err("a wheel build tag starts with a digit"));
            }
            if ![py, abi, plat].iter().all(|t| tag_part_ok(t)) {
                return Err(err("wheel tags are letters, digits, '_' and '.'"));
            }
            let name = ProjectName::parse(name)
                .map_err(|e| err(&e.to_string()))?
                .normalized();
            let version =
                PyVersion::parse(&version.replace('_', "-")).map_err(|e| err(&e.to_string()))?;
            return Ok(DistFilename {
                filename: filename.to_string(),
                kind: DistKind::Wheel,
                name,
                version,
                wheel_tags: Some(WheelTags {
                    build: build.map(str::to_string),
                    python: py.to_string(),
                    abi: abi.to_string(),
                    platform: plat.to_string(),
                }),
            });
        }
        let (stem, kind) = if let Some(s) = filename.strip_suffix(".tar.gz") {
            (s, DistKind::SdistTarGz)
        } else if let Some(s) = filename.strip_suffix(".zip") {
            (s, DistKind::SdistZip)
        } else {
            return Err(err(
                "only wheels (.whl) and source distributions (.tar.gz, .zip) are accepted",
            ));
        };
        let (name, version) = stem
            .rsplit_once('-')
            .ok_or_else(|| err("a source distribution is name-version.tar.gz"))?;
        let name = ProjectName::parse(name)
            .map_err(|e| err(&e.to_string()))?
            .normalized();
        let version = PyVersion::parse(version).map_err(|e| err(&e.to_string()))?;
        Ok(DistFilename {
            filename: filename.to_string(),
            kind,
            name,
            version,
            wheel_tags: None,
        })
    }

    /// The directory an sdist's files live under (`name-version/`), as its first path
    /// component is written: compared loosely (normalized name and version).
    pub fn sdist_root_matches(&self, root: &str) -> bool {
        match root.rsplit_once('-') {
            Some((n, v)) => {
                NormalizedName::from_raw(n).is_ok_and(|n| n == self.name)
                    && PyVersion::parse(v).is_ok_and(|v| v == self.version)
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wheels() {
        let f = DistFilename::parse("typing_extensions-4.12.2-py3-none-any.whl").unwrap();
        assert_eq!(f.kind, DistKind::Wheel);
        assert_eq!(f.name.as_str(), "typing-extensions");
        assert_eq!(f.version.normalized(), "4.12.2");
        let t = f.wheel_tags.unwrap();
        assert_eq!(
            (t.python.as_str(), t.abi.as_str(), t.platform.as_str()),
            ("py3", "none", "any")
        );
        let f = DistFilename::parse(
            "MarkupSafe-2.1.5-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .unwrap();
        assert_eq!(f.name.as_str(), "markupsafe");
        assert_eq!(f.wheel_tags.unwrap().build.as_deref(), Some("1"));
        let f = DistFilename::parse("pkg-1.0+local_1-py3-none-any.whl").unwrap();
        assert_eq!(f.version.normalized(), "1.0+local.1");
    }

    #[test]
    fn parses_sdists() {
        let f = DistFilename::parse("my_pkg-1.0.0.tar.gz").unwrap();
        assert_eq!((f.kind, f.name.as_str()), (DistKind::SdistTarGz, "my-pkg"));
        let f = DistFilename::parse("Flask-SQLAlchemy-2.5.1.tar.gz").unwrap();
        assert_eq!(
            (f.name.as_str(), f.version.normalized()),
            ("flask-sqlalchemy", "2.5.1")
        );
        let f = DistFilename::parse("old-0.1.zip").unwrap();
        assert_eq!(f.kind, DistKind::SdistZip);
        assert!(f.sdist_root_matches("Old-0.1"));
        assert!(!f.sdist_root_matches("other-0.1"));
    }

    #[test]
    fn refuses_bad_filenames() {
        for bad in [
            "",
            "pkg.whl",
            "pkg-1.0-py3-none.whl",
            "pkg-1.0-x-py3-none-any.whl",
            "pkg-1.0-1-2-py3-none-any.whl",
            "pkg-1.0-py3-none-any.egg",
            "pkg-1.0.tar.bz2",
            "pkg.tar.gz",
            "../pkg-1.0.tar.gz",
            "dir/pkg-1.0.tar.gz",
            ".pkg-1.0.tar.gz",
            "pkg-one.tar.gz",
            "pkg-1.0-py3-none-any .whl",
            "pkg-1.0-py3-n%ne-any.whl",
        ] {
            assert!(DistFilename::parse(bad).is_err(), "{bad:?}");
        }
    }
}
