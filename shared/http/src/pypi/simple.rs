//! The Simple Repository API's pages: content negotiation (PEP 691) and rendering of the
//! project list and project pages as PEP 503 HTML (with PEP 592 yanks, PEP 658/714 metadata
//! attributes) and PEP 691 JSON (v1.1, with PEP 700's `versions`, `size` and `upload-time`).
//!
//! Pure functions over the index projection: no storage, no HTTP types beyond strings. Every
//! value that reaches HTML goes through [`escape`].

use serde_json::{Value, json};
use stowage_core::ports::{PythonFile, PythonProject};
use stowage_core::python::PyVersion;
use stowage_core::python::service::upload_time;

/// The API version Stowage serves (PEP 700 fields make it 1.1).
pub const API_VERSION: &str = "1.1";

/// A representation of a Simple page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/vnd.pypi.simple.v1+json`
    Json,
    /// `application/vnd.pypi.simple.v1+html`
    Html,
    /// `text/html` (the legacy name of the same HTML).
    TextHtml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/vnd.pypi.simple.v1+json",
            Format::Html => "application/vnd.pypi.simple.v1+html",
            Format::TextHtml => "text/html; charset=utf-8",
        }
    }
}

/// What each media range can name, in the order Stowage prefers on a tie.
const OFFERS: [(Format, &str, &str); 3] = [
    (Format::TextHtml, "text", "html"),
    (Format::Html, "application", "vnd.pypi.simple.v1+html"),
    (Format::Json, "application", "vnd.pypi.simple.v1+json"),
];

/// Picks the representation for an `Accept` header (or the `format` query parameter, which
/// takes its place). No header: HTML. `None`: nothing acceptable is offered (`406`).
///
/// Each offer takes the quality of the most specific range that matches it (an exact type,
/// then `type/*`, then `*/*`; `latest` stands for `v1`); the highest quality wins, then the
/// more specific match, then the range the client listed first, then HTML.
pub fn negotiate(accept: Option<&str>) -> Option<Format> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Some(Format::TextHtml);
    };
    // Rank of an offer: quality in thousandths, specificity of the matching range, and the
    // earlier position in the header ranking higher.
    type Rank = (u16, u8, std::cmp::Reverse<usize>);
    let mut best: Option<(Rank, usize)> = None;
    for (offer_pos, (_, otype, osub)) in OFFERS.iter().enumerate() {
        let mut matched: Option<(u8, u16, usize)> = None;
        for (pos, range) in accept.split(',').enumerate() {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    (k.trim() == "q").then(|| v.trim().parse::<f32>().ok())?
                })
                .next()
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            let q = (q * 1000.0).round() as u16;
            let Some((t, sub)) = media.split_once('/') else {
                continue;
            };
            let sub = sub.replace("simple.latest+", "simple.v1+");
            let specificity = match (t, sub.as_str()) {
                (t, s) if t == *otype && s == *osub => 3,
                (t, "*") if t == *otype => 2,
                ("*", "*") => 1,
                _ => continue,
            };
            if matched.is_none_or(|(s, _, _)| specificity > s) {
                matched = Some((specificity, q, pos));
            }
        }
        let Some((spec, q, pos)) = matched else {
            continue;
        };
        if q == 0 {
            continue;
        }
        let key = (q, spec, std::cmp::Reverse(pos));
        if best.is_none_or(|(k, _)| key > k) {
            best = Some((key, offer_pos));
        }
    }
    best.map(|(_, i)| OFFERS[i].0)
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn html_page(title: &str, links: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" \
         content=\"{API_VERSION}\">\n    <title>{t}</title>\n  </head>\n  <body>\n    \
         <h1>{t}</h1>\n{links}  </body>\n</html>\n",
        t = escape(title)
    )
}

/// The project list (`simple/`). `project_url` gives a project's page URL.
pub fn render_index(
    format: Format,
    projects: &[PythonProject],
    project_url: impl Fn(&PythonProject) -> String,
) -> String {
    match format {
        Format::Json => json!({
            "meta": {"api-version": API_VERSION},
            "projects": projects
                .iter()
                .map(|p| json!({"name": p.display_name}))
                .collect::<Vec<_>>(),
        })
        .to_string(),
        Format::Html | Format::TextHtml => {
            let mut links = String::new();
            for p in projects {
                links.push_str(&format!(
                    "    <a href=\"{}\">{}</a><br />\n",
                    escape(&project_url(p)),
                    escape(&p.display_name)
                ));
            }
            html_page("Simple index", &links)
        }
    }
}

/// Every distinct version of `files`, in PEP 440 order.
fn versions(files: &[PythonFile]) -> Vec<String> {
    let mut v: Vec<PyVersion> = files
        .iter()
        .filter_map(|f| PyVersion::parse(&f.version).ok())
        .collect();
    v.sort();
    v.dedup();
    v.into_iter().map(|v| v.normalized().to_string()).collect()
}

/// A project page (`simple/<project>/`). `file_url` gives a file's URL (without fragment).
pub fn render_project(
    format: Format,
    project: &str,
    files: &[PythonFile],
    file_url: impl Fn(&PythonFile) -> String,
) -> String {
    match format {
        Format::Json => {
            let entries: Vec<Value> = files
                .iter()
                .map(|f| {
                    let metadata = match &f.metadata {
                        Some((d, _)) => json!({"sha256": d.hex()}),
                        None => Value::Bool(false),
                    };
                    let yanked = match f.yanked.as_deref() {
                        None => Value::Bool(false),
                        Some("") => Value::Bool(true),
                        Some(reason) => Value::String(reason.to_string()),
                    };
                    let mut v = json!({
                        "filename": f.filename,
                        "url": file_url(f),
                        "hashes": {"sha256": f.digest.hex()},
                        "core-metadata": metadata,
                        "dist-info-metadata": metadata,
                        "yanked": yanked,
                        "size": f.size,
                        "upload-time": upload_time(f.uploaded_at_ms),
                    });
                    if let Some(rp) = &f.requires_python {
                        v["requires-python"] = Value::String(rp.clone());
                    }
                    v
                })
                .collect();
            json!({
                "meta": {"api-version": API_VERSION},
                "name": project,
                "versions": versions(files),
                "files": entries,
            })
            .to_string()
        }
        Format::Html | Format::TextHtml => {
            let mut links = String::new();
            for f in files {
                let mut attrs = String::new();
                if let Some(rp) = &f.requires_python {
                    attrs.push_str(&format!(" data-requires-python=\"{}\"", escape(rp)));
                }
                if let Some((d, _)) = &f.metadata {
                    attrs.push_str(&format!(
                        " data-dist-info-metadata=\"sha256={h}\" data-core-metadata=\"sha256={h}\"",
                        h = d.hex()
                    ));
                }
                if let Some(reason) = &f.yanked {
                    attrs.push_str(&format!(" data-yanked=\"{}\"", escape(reason)));
                }
                links.push_str(&format!(
                    "    <a href=\"{}#sha256={}\"{attrs}>{}</a><br />\n",
                    escape(&file_url(f)),
                    f.digest.hex(),
                    escape(&f.filename)
                ));
            }
            html_page(&format!("Links for {project}"), &links)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stowage_core::Digest;
    use stowage_core::python::NormalizedName;

    #[test]
    fn negotiates_as_pep_691() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; \
                   q=0.1, text/html; q=0.01";
        for (accept, want) in [
            (None, Some(Format::TextHtml)),
            (Some(""), Some(Format::TextHtml)),
            (Some(pip), Some(Format::Json)),
            (Some("text/html"), Some(Format::TextHtml)),
            (Some("*/*"), Some(Format::TextHtml)),
            (Some("application/*"), Some(Format::Html)),
            (
                Some("application/vnd.pypi.simple.latest+json"),
                Some(Format::Json),
            ),
            (
                Some("application/vnd.pypi.simple.v1+html"),
                Some(Format::Html),
            ),
            (
                Some("application/vnd.pypi.simple.v1+json, text/html"),
                Some(Format::Json),
            ),
            (
                Some("text/html, application/vnd.pypi.simple.v1+json"),
                Some(Format::TextHtml),
            ),
            (
                Some("text/html;q=0.5, application/vnd.pypi.simple.v1+json"),
                Some(Format::Json),
            ),
            (Some("application/json"), None),
            (Some("application/vnd.pypi.simple.v2+json"), None),
            (Some("text/html;q=0"), None),
            (Some("*/*;q=0.1, text/html;q=0"), Some(Format::Html)),
        ] {
            assert_eq!(negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
    }

    fn file(name: &str, version: &str, yanked: Option<&str>, wheel: bool) -> PythonFile {
        PythonFile {
            project: NormalizedName::parse_normalized("demo").unwrap(),
            filename: name.into(),
            version: version.into(),
            filetype: if wheel { "bdist_wheel" } else { "sdist" }.into(),
            size: 10,
            digest: Digest::sha256(name.as_bytes()),
            manifest: Digest::sha256(b"m"),
            metadata: wheel.then(|| (Digest::sha256(b"meta"), 4)),
            requires_python: Some(">=3.8,<4".into()),
            uploaded_at_ms: 1_700_000_000_123,
            uploaded_by: "user:a".into(),
            yanked: yanked.map(str::to_string),
        }
    }

    #[test]
    fn renders_project_pages() {
        let files = [
            file("demo-1.10-py3-none-any.whl", "1.10", None, true),
            file("demo-1.9.tar.gz", "1.9", Some(""), false),
            file("demo-2.0rc1.tar.gz", "2.0rc1", Some("bad <build>"), false),
        ];
        let url = |f: &PythonFile| format!("/files/demo/{}", f.filename);
        let j: Value =
            serde_json::from_str(&render_project(Format::Json, "demo", &files, url)).unwrap();
        assert_eq!(j["meta"]["api-version"], "1.1");
        assert_eq!(
            j["versions"],
            json!(["1.9", "1.10", "2.0rc1"]),
            "PEP 440 order"
        );
        let f0 = &j["files"][0];
        assert_eq!(
            f0["hashes"]["sha256"],
            Digest::sha256(b"demo-1.10-py3-none-any.whl").hex()
        );
        assert_eq!(f0["core-metadata"]["sha256"], Digest::sha256(b"meta").hex());
        assert_eq!(f0["dist-info-metadata"], f0["core-metadata"]);
        assert_eq!(f0["yanked"], false);
        assert_eq!(f0["requires-python"], ">=3.8,<4");
        assert_eq!(f0["upload-time"], "2023-11-14T22:13:20.123000Z");
        assert_eq!(f0["size"], 10);
        assert_eq!(j["files"][1]["yanked"], true, "yanked without a reason");
        assert_eq!(j["files"][1]["core-metadata"], false);
        assert_eq!(j["files"][2]["yanked"], "bad <build>");

        let h = render_project(Format::Html, "demo", &files, url);
        assert!(h.contains(r#"<meta name="pypi:repository-version" content="1.1">"#));
        assert!(h.contains(&format!(
            "href=\"/files/demo/demo-1.10-py3-none-any.whl#sha256={}\"",
            Digest::sha256(b"demo-1.10-py3-none-any.whl").hex()
        )));
        assert!(h.contains(r#"data-requires-python="&gt;=3.8,&lt;4""#));
        assert!(h.contains(&format!(
            r#"data-core-metadata="sha256={}""#,
            Digest::sha256(b"meta").hex()
        )));
        assert!(h.contains(r#"data-yanked="">demo-1.9.tar.gz</a>"#));
        assert!(h.contains(r#"data-yanked="bad &lt;build&gt;""#));
        assert!(!h.contains("<build>"), "nothing reaches HTML unescaped");
    }

    #[test]
    fn renders_the_index() {
        let projects = [PythonProject {
            name: NormalizedName::parse_normalized("my-pkg").unwrap(),
            display_name: "My<Pkg>".into(),
            files: 1,
            last_upload_ms: 0,
        }];
        let url = |p: &PythonProject| format!("/simple/{}/", p.name);
        let j: Value = serde_json::from_str(&render_index(Format::Json, &projects, url)).unwrap();
        assert_eq!(j["projects"], json!([{"name": "My<Pkg>"}]));
        let h = render_index(Format::TextHtml, &projects, url);
        assert!(h.contains(r#"<a href="/simple/my-pkg/">My&lt;Pkg&gt;</a>"#));
    }
}
