//! Python versions (PEP 440), through `pep440_rs`: parsing, the normalized text form that keys
//! and pages use, and the OCI tag a version's files are reachable under.

use crate::names::Tag;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a version was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {value:?}: {reason} (versions follow PEP 440)")]
pub struct VersionError {
    pub value: String,
    pub reason: String,
}

/// A PEP 440 version, kept with its normalized text.
#[derive(Clone, Debug)]
pub struct PyVersion {
    parsed: pep440_rs::Version,
    normalized: String,
}

impl PyVersion {
    pub fn parse(s: &str) -> Result<PyVersion, VersionError> {
        let err = |reason: String| VersionError {
            value: s.chars().take(100).collect(),
            reason,
        };
        if s.is_empty() || s.len() > 128 || s.trim() != s {
            return Err(err("empty, too long, or surrounded by spaces".into()));
        }
        let parsed = pep440_rs::Version::from_str(s).map_err(|e| err(e.to_string()))?;
        let normalized = parsed.to_string();
        // Normalizing can lengthen a version (`1-1` is `1.post1`): bound the normalized form,
        // which keys and the OCI tag (at most 128 characters) are made of.
        if normalized.len() > 128 {
            return Err(err("longer than 128 characters once normalized".into()));
        }
        Ok(PyVersion { parsed, normalized })
    }

    /// The normalized form (`1.0.0rc1`, `2!1.0.post1`, `1.0+local.1`).
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The form in which PEP 440-equal versions are identical (`1.0`, `1.0.0` and `1` are one
    /// release): the normalized version with trailing zeros of its release segment removed,
    /// as `packaging.utils.canonicalize_version` writes it. Keys that must be unique per
    /// release use it.
    pub fn release_key(&self) -> String {
        let mut release = self.parsed.release().to_vec();
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }
        self.parsed.clone().with_release(release).to_string()
    }

    pub fn is_prerelease(&self) -> bool {
        self.parsed.any_prerelease()
    }

    /// The OCI tag of this version: the normalized form with `!` as `-` and `+` as `_` (neither
    /// is a legal tag character, and neither `-` nor `_` occurs in a normalized version, so the
    /// mapping is one to one).
    pub fn tag(&self) -> Tag {
        let t: String = self
            .normalized
            .chars()
            .map(|c| match c {
                '!' => '-',
                '+' => '_',
                c => c,
            })
            .collect();
        // A normalized version starts with a digit and holds [0-9a-z.!+], so this always
        // parses; the normalized length was bounded by `parse`.
        Tag::parse(&t).expect("a normalized PEP 440 version maps to a valid tag")
    }
}

impl PartialEq for PyVersion {
    fn eq(&self, other: &Self) -> bool {
        self.parsed == other.parsed
    }
}

impl Eq for PyVersion {}

impl PartialOrd for PyVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PyVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parsed.cmp(&other.parsed)
    }
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized)
    }
}

/// Checks a `Requires-Python` specifier set (`>=3.8, !=3.9.*`).
pub fn check_requires_python(s: &str) -> Result<(), String> {
    pep440_rs::VersionSpecifiers::from_str(s)
        .map(|_| ())
        .map_err(|e| format!("invalid Requires-Python {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        for (raw, norm, tag) in [
            ("1.0", "1.0", "1.0"),
            ("1.0.0-RC1", "1.0.0rc1", "1.0.0rc1"),
            ("v2.1", "2.1", "2.1"),
            ("1!2.0.post-3", "1!2.0.post3", "1-2.0.post3"),
            ("1.0+Ubuntu-1", "1.0+ubuntu.1", "1.0_ubuntu.1"),
            ("1.0.dev0", "1.0.dev0", "1.0.dev0"),
        ] {
            let v = PyVersion::parse(raw).unwrap();
            assert_eq!(v.normalized(), norm, "{raw}");
            assert_eq!(v.tag().as_str(), tag, "{raw}");
        }
    }

    #[test]
    fn release_keys_equate_pep_440_equal_versions() {
        for (a, b) in [("1.0", "1.0.0"), ("1", "1.0.0.0"), ("2!1.0rc1", "2!1rc1")] {
            let (a, b) = (PyVersion::parse(a).unwrap(), PyVersion::parse(b).unwrap());
            assert_eq!(a, b);
            assert_eq!(a.release_key(), b.release_key());
        }
        assert_eq!(PyVersion::parse("1.0.0").unwrap().release_key(), "1");
        assert_eq!(
            PyVersion::parse("1.10.0+local.0").unwrap().release_key(),
            "1.10+local.0"
        );
        assert_ne!(
            PyVersion::parse("1.0.1").unwrap().release_key(),
            PyVersion::parse("1.1").unwrap().release_key()
        );
    }

    #[test]
    fn orders_as_pep_440() {
        let mut v: Vec<PyVersion> = ["1.0", "1.0rc1", "1.0.post1", "0.9", "1.0.dev1", "2!0.1"]
            .iter()
            .map(|s| PyVersion::parse(s).unwrap())
            .collect();
        v.sort();
        let s: Vec<&str> = v.iter().map(|v| v.normalized()).collect();
        assert_eq!(
            s,
            ["0.9", "1.0.dev1", "1.0rc1", "1.0", "1.0.post1", "2!0.1"]
        );
        assert_eq!(
            PyVersion::parse("1.0").unwrap(),
            PyVersion::parse("1.0.0").unwrap()
        );
    }

    #[test]
    fn refuses_bad_versions() {
        for bad in ["", "abc", "1.0 ", "1.*", "1..0", &"1.".repeat(100)] {
            assert!(PyVersion::parse(bad).is_err(), "{bad:?}");
        }
        // 127 characters that normalize to 131 (`-1` is `.post1`): refused, not a panic in tag().
        let long = format!("1{}-1", ".0".repeat(62));
        assert_eq!(long.len(), 127);
        assert!(PyVersion::parse(&long).is_err());
        let fits = format!("1{}-1", ".0".repeat(60));
        assert_eq!(PyVersion::parse(&fits).unwrap().tag().as_str().len(), 127);
        assert!(check_requires_python(">=3.8, !=3.9.*").is_ok());
        assert!(check_requires_python(">=3.8; rm -rf").is_err());
    }
}
