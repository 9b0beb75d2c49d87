//! Core metadata (`METADATA`, `PKG-INFO`; versions 1.0 to 2.5): parsed with `python-pkginfo`,
//! then validated as PyPI does (known metadata version; `Metadata-Version`, `Name` and
//! `Version` each written once and none of them `Dynamic`; a valid name and version; a valid
//! `Requires-Python`), and projected into OCI annotations.

use crate::python::names::{NormalizedName, ProjectName};
use crate::python::version::{PyVersion, check_requires_python};
use std::collections::BTreeMap;

/// Metadata versions Stowage accepts.
pub const METADATA_VERSIONS: [&str; 9] = [
    "1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5",
];

/// Fields a core metadata file holds exactly once.
const SINGLE_FIELDS: [&str; 3] = ["Metadata-Version", "Name", "Version"];

/// The field names of the header block (up to the first empty line; continuation lines
/// skipped).
fn header_names(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim()))
}

/// Annotation key prefix for core metadata fields on a file's OCI layer.
pub const ANNOTATION_PREFIX: &str = "org.python.metadata.";

/// Validated core metadata of one distribution.
#[derive(Clone, Debug)]
pub struct CoreMetadata {
    pub metadata_version: String,
    pub name: ProjectName,
    pub version: PyVersion,
    pub summary: Option<String>,
    pub requires_python: Option<String>,
    pub requires_dist: Vec<String>,
    pub provides_extra: Vec<String>,
    pub classifiers: Vec<String>,
    pub license: Option<String>,
    pub license_expression: Option<String>,
    pub author: Option<String>,
    pub author_email: Option<String>,
    pub home_page: Option<String>,
    pub project_urls: Vec<String>,
    pub keywords: Option<String>,
    pub description_content_type: Option<String>,
}

/// Why metadata was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MetadataError(pub String);

impl CoreMetadata {
    /// Parses and validates a core metadata file. `source` names it in messages.
    pub fn parse(bytes: &[u8], source: &str) -> Result<CoreMetadata, MetadataError> {
        let err = |m: String| MetadataError(format!("{source}: {m}"));
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Err(err("is not UTF-8".into()));
        };
        // A parser keeps the first of repeated fields, another the last: the file must not
        // leave it to them which name or version it has.
        for field in SINGLE_FIELDS {
            if header_names(text)
                .filter(|k| k.eq_ignore_ascii_case(field))
                .count()
                > 1
            {
                return Err(err(format!("{field} appears more than once")));
            }
        }
        let m = python_pkginfo::Metadata::parse(bytes).map_err(|e| err(e.to_string()))?;
        if let Some(d) = m.dynamic.iter().find(|d| {
            SINGLE_FIELDS
                .iter()
                .any(|f| d.trim().eq_ignore_ascii_case(f))
        }) {
            return Err(err(format!(
                "Dynamic: {} is not allowed; Metadata-Version, Name and Version are never dynamic",
                d.trim()
            )));
        }
        let mv = m.metadata_version.trim().to_string();
        if !METADATA_VERSIONS.contains(&mv.as_str()) {
            return Err(err(format!(
                "Metadata-Version {mv:?} is not one of {}",
                METADATA_VERSIONS.join(", ")
            )));
        }
        let name = ProjectName::parse(m.name.trim()).map_err(|e| err(e.to_string()))?;
        let version = PyVersion::parse(m.version.trim()).map_err(|e| err(e.to_string()))?;
        let requires_python = m
            .requires_python
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(rp) = &requires_python {
            check_requires_python(rp).map_err(err)?;
        }
        Ok(CoreMetadata {
            metadata_version: mv,
            name,
            version,
            summary: m.summary,
            requires_python,
            requires_dist: m.requires_dist,
            provides_extra: m.provides_extras,
            classifiers: m.classifiers,
            license: m.license,
            license_expression: m.license_expression,
            author: m.author,
            author_email: m.author_email,
            home_page: m.home_page,
            project_urls: m.project_urls,
            keywords: m.keywords,
            description_content_type: m.description_content_type,
        })
    }

    pub fn normalized_name(&self) -> NormalizedName {
        self.name.normalized()
    }

    /// The fields as OCI annotations (`org.python.metadata.<field>`; several values as a JSON
    /// array). Values are cut at 4 KiB so a manifest stays small; the full file is a blob.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        const MAX: usize = 4096;
        let cut = |s: &str| -> String {
            if s.len() <= MAX {
                return s.to_string();
            }
            let mut end = MAX;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_string()
        };
        let mut a = BTreeMap::new();
        let mut one = |k: &str, v: Option<&str>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                a.insert(format!("{ANNOTATION_PREFIX}{k}"), cut(v));
            }
        };
        one("metadata-version", Some(&self.metadata_version));
        one("name", Some(self.name.as_str()));
        one("version", Some(&self.version.to_string()));
        one("summary", self.summary.as_deref());
        one("requires-python", self.requires_python.as_deref());
        one("license", self.license.as_deref());
        one("license-expression", self.license_expression.as_deref());
        one("author", self.author.as_deref());
        one("author-email", self.author_email.as_deref());
        one("home-page", self.home_page.as_deref());
        one("keywords", self.keywords.as_deref());
        one(
            "description-content-type",
            self.description_content_type.as_deref(),
        );
        for (k, v) in [
            ("requires-dist", &self.requires_dist),
            ("provides-extra", &self.provides_extra),
            ("classifier", &self.classifiers),
            ("project-url", &self.project_urls),
        ] {
            if !v.is_empty() {
                let json = serde_json::to_string(v).unwrap_or_default();
                a.insert(format!("{ANNOTATION_PREFIX}{k}"), cut(&json));
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = "Metadata-Version: 2.1\nName: My.Pkg\nVersion: 1.0.0\nSummary: A test\n\
Requires-Python: >=3.8\nRequires-Dist: requests>=2\nRequires-Dist: click; extra == \"cli\"\n\
Provides-Extra: cli\nClassifier: A :: B\n\nLong description\nwith lines\n";

    #[test]
    fn parses() {
        let m = CoreMetadata::parse(META.as_bytes(), "METADATA").unwrap();
        assert_eq!(m.name.as_str(), "My.Pkg");
        assert_eq!(m.normalized_name().as_str(), "my-pkg");
        assert_eq!(m.version.normalized(), "1.0.0");
        assert_eq!(m.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(m.requires_dist.len(), 2);
        let a = m.annotations();
        assert_eq!(a["org.python.metadata.name"], "My.Pkg");
        assert_eq!(
            a["org.python.metadata.requires-dist"],
            r#"["requests>=2","click; extra == \"cli\""]"#
        );
    }

    #[test]
    fn refuses() {
        for (bad, why) in [
            ("Name: x\nVersion: 1.0\n", "Metadata-Version"),
            ("Metadata-Version: 9.9\nName: x\nVersion: 1.0\n", "9.9"),
            ("Metadata-Version: 2.1\nVersion: 1.0\n", "Name"),
            (
                "Metadata-Version: 2.1\nName: -x\nVersion: 1.0\n",
                "project name",
            ),
            ("Metadata-Version: 2.1\nName: x\nVersion: one\n", "version"),
            (
                "Metadata-Version: 2.1\nName: x\nVersion: 1\nRequires-Python: >=>3\n",
                "Requires-Python",
            ),
            (
                "Metadata-Version: 2.1\nName: x\nname: y\nVersion: 1\n",
                "Name appears more than once",
            ),
            (
                "Metadata-Version: 2.1\nName: x\nVersion: 1\nVersion: 2\n",
                "Version appears more than once",
            ),
            (
                "Metadata-Version: 2.2\nName: x\nVersion: 1\nDynamic: version\n",
                "Dynamic: version is not allowed",
            ),
        ] {
            let e = CoreMetadata::parse(bad.as_bytes(), "PKG-INFO").unwrap_err();
            assert!(e.0.contains(why), "{bad:?}: {e}");
        }
        assert!(CoreMetadata::parse(b"Metadata-Version: 2.1\nName: \xff\n", "M").is_err());
    }

    #[test]
    fn repeated_names_in_the_body_or_folded_lines_are_not_fields() {
        let text = "Metadata-Version: 2.2\r\nName: x\r\nVersion: 1\r\nSummary: a\r\n \
                    Name: folded\r\nDynamic: Classifier\r\n\r\nName: body\nVersion: 2\n";
        let m = CoreMetadata::parse(text.as_bytes(), "PKG-INFO").unwrap();
        assert_eq!((m.name.as_str(), m.version.normalized()), ("x", "1"));
    }
}
