//! Names: repository names, tags, references, upload ids, and the `/v2/` path grammar.
//!
//! Every OCI name in Stowage is `<org>/<registry>/<repo…>`: at least three path components, each
//! matching the distribution-spec component grammar `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, at most
//! 255 characters in all. The organization is the access-control boundary, the registry a
//! namespace inside it. Parsing here is pure and table-tested; routers never split paths by hand.

use crate::digest::{Digest, DigestError};
use std::fmt;
use std::str::FromStr;

/// Longest repository name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "invalid repository name {0:?}: components must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*"
    )]
    Grammar(String),
    #[error("invalid repository name {0:?}: a name is <organization>/<registry>/<repository>")]
    TooShort(String),
    #[error("invalid repository name: longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("invalid tag {0:?}: tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    Tag(String),
    #[error(
        "invalid {what} name {value:?}: 2 to 64 characters of [a-z0-9], separated by single '.', '_' or '-'"
    )]
    Slug { what: &'static str, value: String },
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// A validated repository name `<org>/<registry>/<repo…>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(s: &str) -> Result<RepoName, NameError> {
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        if !s.split('/').all(valid_component) {
            return Err(NameError::Grammar(s.to_string()));
        }
        if s.split('/').count() < 3 {
            return Err(NameError::TooShort(s.to_string()));
        }
        Ok(RepoName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The organization (first component).
    pub fn org(&self) -> &str {
        self.0.split('/').next().unwrap_or_default()
    }

    /// The registry (second component).
    pub fn registry(&self) -> &str {
        self.0.split('/').nth(1).unwrap_or_default()
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Tag, NameError> {
        let b = s.as_bytes();
        let first_ok = b
            .first()
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_');
        let rest_ok = b
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
        if first_ok && rest_ok && b.len() <= 128 {
            Ok(Tag(s.to_string()))
        } else {
            Err(NameError::Tag(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `RepoName` and `Tag` travel as plain strings (in domain events) and are validated again when
/// read back, so a deserialized name is always a valid one.
macro_rules! string_serde {
    ($name:ident) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_serde!(RepoName);
string_serde!(Tag);

/// A manifest reference: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Tag(#[from] NameError),
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            Ok(Reference::Tag(Tag::parse(s)?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

/// An upload session id: 32 lowercase hex characters (a random UUID without dashes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    pub fn parse(s: &str) -> Option<UploadId> {
        (s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| UploadId(s.to_string()))
    }

    /// Builds an id from 16 random bytes supplied by the caller (the core has no RNG).
    pub fn from_random(bytes: [u8; 16]) -> UploadId {
        UploadId(hex::encode(bytes))
    }

    /// Another id derived from this one (its SHA-256, cut to 16 bytes): as unguessable as
    /// this one, for a second session that belongs to the same request.
    pub fn derived(&self) -> UploadId {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(self.0.as_bytes());
        UploadId(hex::encode(&hash[..16]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a path under `/v2/` addresses, before the name is validated.
///
/// The name is the raw text before the route's suffix; the last segment(s) are the route's own
/// (a tag, a digest, an upload id), also raw, so that handlers can answer each malformed part
/// with its own error code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2Path<'a> {
    /// `/v2/` itself.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    Manifest {
        name: &'a str,
        reference: &'a str,
    },
    Blob {
        name: &'a str,
        digest: &'a str,
    },
    UploadStart {
        name: &'a str,
    },
    Upload {
        name: &'a str,
        id: &'a str,
    },
    TagsList {
        name: &'a str,
    },
    Referrers {
        name: &'a str,
        digest: &'a str,
    },
}

/// Parses the part of a path after `/v2/` (e.g. `acme/prod/app/manifests/latest`).
/// Returns `None` when the path matches no route of the distribution API.
pub fn parse_v2_path(rest: &str) -> Option<V2Path<'_>> {
    if rest.is_empty() {
        return Some(V2Path::Base);
    }
    if rest == "_catalog" {
        return Some(V2Path::Catalog);
    }
    // Upload start: `<name>/blobs/uploads/` (trailing slash optional).
    let trimmed = rest.strip_suffix('/').unwrap_or(rest);
    if let Some(name) = trimmed.strip_suffix("/blobs/uploads") {
        return non_empty(name).map(|name| V2Path::UploadStart { name });
    }
    if let Some(name) = trimmed.strip_suffix("/tags/list") {
        return non_empty(name).map(|name| V2Path::TagsList { name });
    }
    let (head, last) = rest.rsplit_once('/')?;
    if last.is_empty() {
        return None;
    }
    let (name, kind) = head.rsplit_once('/')?;
    let name = non_empty(name)?;
    match kind {
        "manifests" => Some(V2Path::Manifest {
            name,
            reference: last,
        }),
        "blobs" => Some(V2Path::Blob { name, digest: last }),
        "referrers" => Some(V2Path::Referrers { name, digest: last }),
        "uploads" => {
            let name = name.strip_suffix("/blobs")?;
            non_empty(name).map(|name| V2Path::Upload { name, id: last })
        }
        _ => None,
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names() {
        for good in [
            "a/b/c",
            "acme/prod/app",
            "acme/prod/python/my-pkg",
            "a0/b.c/d__e/f---g",
            "org/reg/x_y",
        ] {
            let n = RepoName::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(n.as_str(), good);
        }
        let n = RepoName::parse("acme/prod/team/app").unwrap();
        assert_eq!((n.org(), n.registry()), ("acme", "prod"));
        for bad in [
            "",
            "a",
            "a/b",
            "A/b/c",
            "a//c/d",
            "a/b/c/",
            "/a/b/c",
            "a/b/-c",
            "a/b/c-",
            "a/b/c___d",
            "a/b/c..d",
            "a/b/c.",
            "a/b/_c",
            "a/b/c:d",
            "a/b/c d",
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            RepoName::parse(&"a/b/".repeat(100)),
            Err(NameError::TooLong)
        );
    }

    #[test]
    fn tags_and_references() {
        for good in ["latest", "v1.0.0", "_x", "A-b_c.d", &"a".repeat(128)] {
            assert!(Tag::parse(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
            assert!(Tag::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            "latest".parse::<Reference>(),
            Ok(Reference::Tag(_))
        ));
        assert!(matches!(
            "sha256:baddigeststring".parse::<Reference>(),
            Err(ReferenceError::Digest(_))
        ));
    }

    #[test]
    fn v2_paths() {
        use V2Path::*;
        let cases: &[(&str, Option<V2Path>)] = &[
            ("", Some(Base)),
            ("_catalog", Some(Catalog)),
            (
                "a/b/c/manifests/latest",
                Some(Manifest {
                    name: "a/b/c",
                    reference: "latest",
                }),
            ),
            (
                "a/b/manifests/manifests/x",
                Some(Manifest {
                    name: "a/b/manifests",
                    reference: "x",
                }),
            ),
            (
                "a/b/c/blobs/sha256:ab",
                Some(Blob {
                    name: "a/b/c",
                    digest: "sha256:ab",
                }),
            ),
            ("a/b/c/blobs/uploads/", Some(UploadStart { name: "a/b/c" })),
            ("a/b/c/blobs/uploads", Some(UploadStart { name: "a/b/c" })),
            (
                "a/b/c/blobs/uploads/0123",
                Some(Upload {
                    name: "a/b/c",
                    id: "0123",
                }),
            ),
            (
                "a/b/blobs/blobs/uploads/",
                Some(UploadStart { name: "a/b/blobs" }),
            ),
            ("a/b/c/tags/list", Some(TagsList { name: "a/b/c" })),
            (
                "a/b/c/referrers/sha256:ab",
                Some(Referrers {
                    name: "a/b/c",
                    digest: "sha256:ab",
                }),
            ),
            ("a/b/c/manifests/", None),
            ("manifests/latest", None),
            ("a/b/c/other/x", None),
            ("a/b/c", None),
        ];
        for (path, want) in cases {
            assert_eq!(&parse_v2_path(path), want, "{path}");
        }
    }
}
