//! Python project names: the name as its author wrote it ([`ProjectName`]) and the PEP 503
//! normalized form ([`NormalizedName`]) that indexes, URLs and repository names use.
//!
//! The two are different types so that a raw name can never be used where a normalized one is
//! meant (comparisons, keys, URLs).

use std::fmt;

/// Why a project name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid project name {0:?}: names start and end with a letter or digit and contain only \
     letters, digits, '.', '_' and '-' (PEP 508)"
)]
pub struct ProjectNameError(pub String);

/// Longest project name accepted (PyPI's limit is lower in practice; this keeps keys bounded).
pub const MAX_PROJECT_NAME_LEN: usize = 128;

/// A project name as written in metadata: `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`,
/// case-insensitively (PEP 508).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProjectName(String);

impl ProjectName {
    pub fn parse(s: &str) -> Result<ProjectName, ProjectNameError> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= MAX_PROJECT_NAME_LEN
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c));
        if ok {
            Ok(ProjectName(s.to_string()))
        } else {
            Err(ProjectNameError(s.chars().take(200).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn normalized(&self) -> NormalizedName {
        NormalizedName(normalize(&self.0))
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// PEP 503: lowercase, every run of `-`, `_` and `.` becomes one `-`.
fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_sep = false;
    for c in s.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_sep = false;
        }
    }
    out
}

/// A PEP 503 normalized project name: `[a-z0-9]+(-[a-z0-9]+)*`. It is also a valid OCI
/// repository path component.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct NormalizedName(String);

impl NormalizedName {
    /// Normalizes any valid project name.
    pub fn from_raw(s: &str) -> Result<NormalizedName, ProjectNameError> {
        ProjectName::parse(s).map(|p| p.normalized())
    }

    /// Accepts only a name that is already normalized (a key read back from storage, or a
    /// URL segment after the redirect to the normalized form).
    pub fn parse_normalized(s: &str) -> Option<NormalizedName> {
        let n = NormalizedName::from_raw(s).ok()?;
        (n.0 == s).then_some(n)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NormalizedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_as_pep_503() {
        for (raw, norm) in [
            ("Django", "django"),
            ("zope.interface", "zope-interface"),
            ("Foo__Bar--baz", "foo-bar-baz"),
            ("a._-b", "a-b"),
            ("typing_extensions", "typing-extensions"),
            ("x", "x"),
            ("A1", "a1"),
        ] {
            assert_eq!(
                NormalizedName::from_raw(raw).unwrap().as_str(),
                norm,
                "{raw}"
            );
        }
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "-a",
            "a-",
            ".a",
            "a b",
            "a/b",
            "ä",
            "a\0",
            &"a".repeat(129),
        ] {
            assert!(ProjectName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parse_normalized_requires_normal_form() {
        assert!(NormalizedName::parse_normalized("foo-bar").is_some());
        assert!(NormalizedName::parse_normalized("Foo-bar").is_none());
        assert!(NormalizedName::parse_normalized("foo_bar").is_none());
        assert!(NormalizedName::parse_normalized("foo--bar").is_none());
    }
}
