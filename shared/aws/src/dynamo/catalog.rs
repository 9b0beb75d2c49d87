//! [`Catalog`] on the table: repositories, per-repository blob links, manifests, tags and
//! referrers.
//!
//! Keys (all of a repository's items live in its partition `REPO#<org>/<registry>/<path>`):
//!
//! | item | pk | sk | other keys |
//! |---|---|---|---|
//! | repository (index entry) | `REPOS#<org>` | `<repository name>` | |
//! | blob link | `REPO#<repo>` | `BLOB#<digest>` | gsi1: `BLOB#<digest>` / `<repo>` |
//! | blob reference count | `BLOBREF#<digest>` | `COUNT` | |
//! | manifest head | `REPO#<repo>` | `MANIFEST#<digest>` | |
//! | manifest body part | `REPO#<repo>` | `MANIFEST#<digest>#PART#<nonce>#<n, 4 digits>` | |
//! | tag of a manifest (reverse index) | `REPO#<repo>` | `MANIFEST#<digest>#TAG#<tag>` | |
//! | tag | `REPO#<repo>` | `TAG#<tag>` | |
//! | referrer | `REPO#<repo>` | `REFERRER#<subject>#<digest>` | |
//!
//! Invariants, each kept by one transaction per change:
//! - a tag item `TAG#t` → `d` exists exactly when `MANIFEST#d#TAG#t` does, and `d`'s head
//!   exists (tags are set in the transaction that writes or checks the head; a manifest delete
//!   removes its tags in the transaction that removes the head, conditioned on the head's
//!   `tag_version`, which every transaction adding a tag to it bumps);
//! - `BLOBREF#d` counts the repositories linking `d`: a link is created, and the count
//!   incremented, in one transaction conditioned on the link being new; an unlink likewise;
//!   `blob_linked_anywhere` reads it with a consistent GetItem (never a GSI: it decides
//!   whether blob bytes are deleted);
//! - a manifest whose head would not fit in an item (bodies above ~350 KB: the DynamoDB item
//!   limit is 400 KB, manifests go up to 4 MiB) keeps its body (and large annotations) in
//!   parts of ~350 KB, written before the head that names their `nonce`; the parts of a head
//!   are only deleted after the head is, and only that head's nonce, so a concurrent re-push
//!   never loses its parts. A crash between writing parts and the head leaves unreferenced
//!   parts (never read: every read filters by the head's nonce).
//!
//! Limits: a manifest push sets at most 32 tags (one transaction holds at most 100 actions);
//! a manifest with more than 45 tags is deleted in several transactions (tags first, the head
//! last), so a reader may see some of its tags gone before it is. `list_repositories` needs
//! prefixes that name an organization (`<org>/…`), which every caller passes.
//!
//! This module never decides access or protocol questions and never logs a body.

use super::DynamoStore;
use super::item::{
    Expr, Item, absent, b, boolean, get_b, get_n, get_s, item, key, n, now_micros, now_secs, opt_n,
    opt_s, parse_s, present, random_hex, s, set_opt, sk_of,
};
use super::ops::{ATTEMPTS, Query, Tx, backoff, contended};
use super::{GSI1, GSI1PK, GSI1SK, PK, SK};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use stowage_core::ports::{ArtifactSummary, Catalog, ManifestRecord, Referrer};
use stowage_core::{Digest, Error, Reference, RepoName, Result, Tag};

/// Largest head item (body + annotations + the small attributes) kept inline.
const INLINE_MAX: usize = 350_000;
/// Bytes per body part.
const PART_SIZE: usize = 350_000;
/// Largest annotations a referrer item carries; above, `referrers` reads the manifest.
const REFERRER_ANNOTATIONS_MAX: usize = 300_000;
/// Tags one push may set (3 actions each, plus 3, within the 100 of a transaction).
const MAX_TAGS_PER_PUT: usize = 32;
/// Tags removed per transaction when a manifest is deleted (2 actions each).
const TAGS_PER_DELETE: usize = 45;

const DIGEST: &str = "digest";
const MEDIA_TYPE: &str = "media_type";
const BODY: &str = "body";
const SIZE: &str = "size";
const SUBJECT: &str = "subject";
const ARTIFACT_TYPE: &str = "artifact_type";
const ANNOTATIONS: &str = "annotations";
/// On a split head: how many bytes of JSON annotations follow the body in the parts.
const ANNOTATIONS_LEN: &str = "annotations_len";
/// On a referrer item: its annotations were too large to copy, read the manifest.
const ANNOTATIONS_IN_MANIFEST: &str = "annotations_in_manifest";
const PUSHED_US: &str = "pushed_us";
/// On a tag item: when it was last set (microseconds).
const UPDATED_US: &str = "updated_us";
const TAG_VERSION: &str = "tag_version";
const PARTS: &str = "parts";
const NONCE: &str = "nonce";
const DATA: &str = "data";
const LINKS: &str = "links";
const CREATED_AT: &str = "created_at";

fn repo_pk(repo: &RepoName) -> String {
    format!("REPO#{repo}")
}

fn repo_index_key(repo: &RepoName) -> Item {
    key(format!("REPOS#{}", repo.org()), repo.as_str())
}

fn link_sk(d: &Digest) -> String {
    format!("BLOB#{d}")
}

fn count_key(d: &Digest) -> Item {
    key(format!("BLOBREF#{d}"), "COUNT")
}

fn head_sk(d: &Digest) -> String {
    format!("MANIFEST#{d}")
}

fn part_sk(d: &Digest, nonce: &str, i: usize) -> String {
    format!("MANIFEST#{d}#PART#{nonce}#{i:04}")
}

fn tagref_sk(d: &Digest, tag: &str) -> String {
    format!("MANIFEST#{d}#TAG#{tag}")
}

fn tag_sk(tag: &str) -> String {
    format!("TAG#{tag}")
}

fn referrer_sk(subject: &Digest, d: &Digest) -> String {
    format!("REFERRER#{subject}#{d}")
}

fn digest_attr(item: &Item, name: &str) -> Result<Digest> {
    parse_s(item, name, |v| v.parse().ok())
}

fn annotations_from(json: Option<&str>) -> Result<BTreeMap<String, String>> {
    match json {
        None => Ok(BTreeMap::new()),
        Some(j) => serde_json::from_str(j).map_err(Error::storage),
    }
}

/// Creates the repository's index entry if it is missing (never fails, never changes it).
fn ensure_repo(
    store: &DynamoStore,
    repo: &RepoName,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem> {
    store.tx_update(
        repo_index_key(repo),
        Expr::new("SET #c = if_not_exists(#c, :now)")
            .name("#c", CREATED_AT)
            .value(":now", n(now_secs())),
        None,
    )
}

impl DynamoStore {
    /// The manifest `d` of the repository with partition `pk`: its head and body parts, in one
    /// (paginated) consistent Query.
    async fn read_manifest(&self, pk: &str, d: &Digest) -> Result<Option<ManifestRecord>> {
        let head = head_sk(d);
        let q = Query::new(
            Expr::new("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .name("#pk", PK)
                .name("#sk", SK)
                .value(":pk", s(pk))
                .value(":lo", s(&head))
                .value(":hi", s(format!("{head}#PART$"))),
        );
        let items = self.query_all(&q).await?;
        let Some(h) = items.iter().find(|i| opt_s(i, SK) == Some(head.as_str())) else {
            return Ok(None);
        };
        let size: usize = get_n(h, SIZE)?;
        let (body, annotations) = if h.contains_key(BODY) {
            let body = Bytes::copy_from_slice(get_b(h, BODY)?);
            (body, annotations_from(opt_s(h, ANNOTATIONS))?)
        } else {
            let nonce = get_s(h, NONCE)?;
            let count: usize = get_n(h, PARTS)?;
            let prefix = format!("{head}#PART#{nonce}#");
            let mut parts: Vec<&Item> = items
                .iter()
                .filter(|i| opt_s(i, SK).is_some_and(|k| k.starts_with(&prefix)))
                .collect();
            parts.sort_by(|a, b| opt_s(a, SK).cmp(&opt_s(b, SK)));
            let ann_len: usize = opt_n(h, ANNOTATIONS_LEN)?.unwrap_or(0);
            let mut payload = Vec::with_capacity(size + ann_len);
            for p in &parts {
                payload.extend_from_slice(get_b(p, DATA)?);
            }
            if parts.len() != count || payload.len() != size + ann_len {
                return Err(Error::Storage(format!(
                    "manifest {d}: {} of {count} body parts found",
                    parts.len()
                )));
            }
            let annotations = if ann_len > 0 {
                serde_json::from_slice(&payload[size..]).map_err(Error::storage)?
            } else {
                BTreeMap::new()
            };
            payload.truncate(size);
            (Bytes::from(payload), annotations)
        };
        if body.len() != size {
            return Err(Error::Storage(format!("manifest {d}: stored size differs")));
        }
        Ok(Some(ManifestRecord {
            digest: d.clone(),
            media_type: get_s(h, MEDIA_TYPE)?.to_string(),
            body,
            subject: opt_s(h, SUBJECT)
                .map(str::parse::<Digest>)
                .transpose()
                .map_err(Error::storage)?,
            artifact_type: opt_s(h, ARTIFACT_TYPE).map(str::to_string),
            annotations,
        }))
    }

    /// Writes the body parts of a split manifest under a fresh nonce; returns the nonce and
    /// the part count.
    async fn write_parts(&self, pk: &str, d: &Digest, payload: &[u8]) -> Result<(String, usize)> {
        let nonce = random_hex(8)?;
        let parts: Vec<Item> = payload
            .chunks(PART_SIZE)
            .enumerate()
            .map(|(i, chunk)| item(pk, part_sk(d, &nonce, i), [(DATA, b(chunk))]))
            .collect();
        let count = parts.len();
        self.batch_write(parts, Vec::new()).await?;
        Ok((nonce, count))
    }

    async fn delete_parts(&self, pk: &str, d: &Digest, nonce: &str, count: usize) -> Result<()> {
        let keys = (0..count).map(|i| key(pk, part_sk(d, nonce, i))).collect();
        self.batch_write(Vec::new(), keys).await
    }

    /// The referrer item of manifest `m` (whose subject is `subject`).
    fn referrer_item(
        &self,
        pk: &str,
        m: &ManifestRecord,
        subject: &Digest,
        ann: Option<&str>,
    ) -> Item {
        let mut i = item(
            pk,
            referrer_sk(subject, &m.digest),
            [
                (DIGEST, s(m.digest.to_string())),
                (MEDIA_TYPE, s(&m.media_type)),
                (SIZE, n(m.body.len())),
            ],
        );
        set_opt(&mut i, ARTIFACT_TYPE, m.artifact_type.as_deref().map(s));
        match ann {
            Some(a) if a.len() > REFERRER_ANNOTATIONS_MAX => {
                i.insert(ANNOTATIONS_IN_MANIFEST.into(), boolean(true));
            }
            other => set_opt(&mut i, ANNOTATIONS, other.map(s)),
        }
        i
    }
}

#[async_trait]
impl Catalog for DynamoStore {
    async fn repo_exists(&self, repo: &RepoName) -> Result<bool> {
        Ok(self.get(repo_index_key(repo)).await?.is_some())
    }

    async fn link_blob(&self, repo: &RepoName, digest: &Digest, size: u64) -> Result<()> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let link = item(
                repo_pk(repo),
                link_sk(digest),
                [
                    (SIZE, n(size)),
                    (GSI1PK, s(format!("BLOB#{digest}"))),
                    (GSI1SK, s(repo.as_str())),
                ],
            );
            let actions = vec![
                self.tx_put(link, Some(absent()))?,
                self.tx_update(
                    count_key(digest),
                    Expr::new("ADD #links :one")
                        .name("#links", LINKS)
                        .value(":one", n(1)),
                    None,
                )?,
                ensure_repo(self, repo)?,
            ];
            match self.transact(actions).await? {
                Tx::Done => return Ok(()),
                // Already linked: nothing to count again.
                tx if tx.failed_at(0) => return Ok(()),
                Tx::Cancelled(_) => continue,
            }
        }
        Err(contended("link blob"))
    }

    async fn blob_link(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        match self.get(key(repo_pk(repo), link_sk(digest))).await? {
            Some(i) => Ok(Some(get_n(&i, SIZE)?)),
            None => Ok(None),
        }
    }

    async fn find_blob(&self, prefix: &str, digest: &Digest) -> Result<Option<u64>> {
        let mut k = Expr::new("#pk = :pk")
            .name("#pk", GSI1PK)
            .value(":pk", s(format!("BLOB#{digest}")));
        if !prefix.is_empty() {
            k = Expr::new("#pk = :pk AND begins_with(#sk, :prefix)")
                .merge(&k)
                .name("#sk", GSI1SK)
                .value(":prefix", s(prefix));
        }
        let q = Query::new(k).index(GSI1);
        let found = self.query_up_to(&q, Some(1), |_| true).await?;
        found.first().map(|i| get_n(i, SIZE)).transpose()
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let actions = vec![
                self.tx_delete(key(repo_pk(repo), link_sk(digest)), Some(present()))?,
                self.tx_update(
                    count_key(digest),
                    Expr::new("ADD #links :minus")
                        .name("#links", LINKS)
                        .value(":minus", n(-1)),
                    None,
                )?,
            ];
            match self.transact(actions).await? {
                Tx::Done => {
                    // Drop the count when it reached zero (a concurrent link makes the
                    // condition fail, which is fine: the count is then needed).
                    self.delete(
                        count_key(digest),
                        Some(
                            Expr::new("#links <= :zero")
                                .name("#links", LINKS)
                                .value(":zero", n(0)),
                        ),
                    )
                    .await?;
                    return Ok(true);
                }
                tx if tx.failed_at(0) => return Ok(false),
                Tx::Cancelled(_) => continue,
            }
        }
        Err(contended("unlink blob"))
    }

    async fn blob_linked_anywhere(&self, digest: &Digest) -> Result<bool> {
        match self.get(count_key(digest)).await? {
            Some(i) => Ok(get_n::<i64>(&i, LINKS)? > 0),
            None => Ok(false),
        }
    }

    async fn missing(
        &self,
        repo: &RepoName,
        blobs: &[Digest],
        manifests: &[Digest],
    ) -> Result<Vec<Digest>> {
        let pk = repo_pk(repo);
        let keys: Vec<Item> = blobs
            .iter()
            .map(|d| key(&pk, link_sk(d)))
            .chain(manifests.iter().map(|d| key(&pk, head_sk(d))))
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let projection = Expr::new("#pk, #sk").name("#pk", PK).name("#sk", SK);
        let found = self.batch_get(&keys, Some(&projection)).await?;
        let present: std::collections::HashSet<&str> =
            found.iter().filter_map(|i| opt_s(i, SK)).collect();
        let blobs = blobs
            .iter()
            .filter(|d| !present.contains(link_sk(d).as_str()));
        let manifests = manifests
            .iter()
            .filter(|d| !present.contains(head_sk(d).as_str()));
        Ok(blobs.chain(manifests).cloned().collect())
    }

    async fn put_manifest(&self, repo: &RepoName, m: &ManifestRecord, tags: &[Tag]) -> Result<()> {
        let mut wanted: Vec<&str> = Vec::with_capacity(tags.len());
        for t in tags {
            if !wanted.contains(&t.as_str()) {
                wanted.push(t.as_str());
            }
        }
        if wanted.len() > MAX_TAGS_PER_PUT {
            return Err(Error::Unsupported(format!(
                "a manifest push may set at most {MAX_TAGS_PER_PUT} tags at once"
            )));
        }
        let pk = repo_pk(repo);
        let d = &m.digest;
        let dstr = d.to_string();
        let ann = (!m.annotations.is_empty())
            .then(|| serde_json::to_string(&m.annotations))
            .transpose()
            .map_err(Error::storage)?;
        let small_attrs = 512
            + m.media_type.len()
            + m.artifact_type.as_ref().map_or(0, String::len)
            + m.subject.as_ref().map_or(0, |s| s.to_string().len());
        let inline = m.body.len() + ann.as_ref().map_or(0, String::len) + small_attrs <= INLINE_MAX;
        let pushed = now_micros();

        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            // Where each tag points now, and (split manifests) the head: one consistent read.
            let mut keys: Vec<Item> = wanted.iter().map(|t| key(&pk, tag_sk(t))).collect();
            if !inline {
                keys.push(key(&pk, head_sk(d)));
            }
            let current = if keys.is_empty() {
                Vec::new()
            } else {
                self.batch_get(&keys, None).await?
            };
            let mut points: HashMap<String, String> = HashMap::new();
            let mut head: Option<&Item> = None;
            for i in &current {
                let sk = sk_of(i)?;
                if let Some(t) = sk.strip_prefix("TAG#") {
                    points.insert(t.to_string(), get_s(i, DIGEST)?.to_string());
                } else {
                    head = Some(i);
                }
            }
            let adds_tags = wanted.iter().any(|t| points.get(*t) != Some(&dstr));
            let bump = n(u8::from(adds_tags));

            let mut actions = vec![ensure_repo(self, repo)?];
            let mut own_parts: Option<(String, usize)> = None;
            if inline {
                // Written as an update so a second push of the same manifest keeps the first
                // push time; the content of a digest never changes.
                let mut sets = vec![
                    "#d = if_not_exists(#d, :d)",
                    "#mt = if_not_exists(#mt, :mt)",
                    "#body = if_not_exists(#body, :body)",
                    "#size = if_not_exists(#size, :size)",
                    "#pushed = if_not_exists(#pushed, :pushed)",
                    "#tv = if_not_exists(#tv, :zero) + :bump",
                ];
                let mut e = Expr::default()
                    .name("#d", DIGEST)
                    .value(":d", s(d.to_string()))
                    .name("#mt", MEDIA_TYPE)
                    .value(":mt", s(&m.media_type))
                    .name("#body", BODY)
                    .value(":body", b(m.body.to_vec()))
                    .name("#size", SIZE)
                    .value(":size", n(m.body.len()))
                    .name("#pushed", PUSHED_US)
                    .value(":pushed", n(pushed))
                    .name("#tv", TAG_VERSION)
                    .value(":zero", n(0))
                    .value(":bump", bump.clone());
                if let Some(subject) = &m.subject {
                    sets.push("#subject = if_not_exists(#subject, :subject)");
                    e = e
                        .name("#subject", SUBJECT)
                        .value(":subject", s(subject.to_string()));
                }
                if let Some(at) = &m.artifact_type {
                    sets.push("#at = if_not_exists(#at, :at)");
                    e = e.name("#at", ARTIFACT_TYPE).value(":at", s(at));
                }
                if let Some(a) = &ann {
                    sets.push("#ann = if_not_exists(#ann, :ann)");
                    e = e.name("#ann", ANNOTATIONS).value(":ann", s(a));
                }
                let e = Expr::new(format!("SET {}", sets.join(", "))).merge(&e);
                actions.push(self.tx_update(key(&pk, head_sk(d)), e, None)?);
                if let Some(subject) = &m.subject {
                    actions.push(
                        self.tx_put(self.referrer_item(&pk, m, subject, ann.as_deref()), None)?,
                    );
                }
            } else if let Some(h) = head {
                // The body is stored: only check it is still this head, and count new tags.
                let cond = Expr::new("#nonce = :nonce")
                    .name("#nonce", NONCE)
                    .value(":nonce", s(get_s(h, NONCE)?));
                let e = Expr::new("ADD #tv :bump")
                    .name("#tv", TAG_VERSION)
                    .value(":bump", bump.clone());
                actions.push(self.tx_update(key(&pk, head_sk(d)), e, Some(cond))?);
            } else {
                let mut payload = m.body.to_vec();
                payload.extend_from_slice(ann.as_deref().unwrap_or_default().as_bytes());
                let (nonce, count) = self.write_parts(&pk, d, &payload).await?;
                let mut h = item(
                    &pk,
                    head_sk(d),
                    [
                        (DIGEST, s(d.to_string())),
                        (MEDIA_TYPE, s(&m.media_type)),
                        (SIZE, n(m.body.len())),
                        (PUSHED_US, n(pushed)),
                        (TAG_VERSION, bump.clone()),
                        (PARTS, n(count)),
                        (NONCE, s(&nonce)),
                        (ANNOTATIONS_LEN, n(ann.as_ref().map_or(0, String::len))),
                    ],
                );
                set_opt(
                    &mut h,
                    SUBJECT,
                    m.subject.as_ref().map(|v| s(v.to_string())),
                );
                set_opt(&mut h, ARTIFACT_TYPE, m.artifact_type.as_deref().map(s));
                own_parts = Some((nonce, count));
                actions.push(self.tx_put(h, Some(absent()))?);
                if let Some(subject) = &m.subject {
                    actions.push(
                        self.tx_put(self.referrer_item(&pk, m, subject, ann.as_deref()), None)?,
                    );
                }
            }
            for t in &wanted {
                let new_ref = item(&pk, tagref_sk(d, t), []);
                let tag_item = item(
                    &pk,
                    tag_sk(t),
                    [(DIGEST, s(d.to_string())), (UPDATED_US, n(pushed))],
                );
                match points.get(*t) {
                    Some(cur) if *cur == dstr => {}
                    Some(cur) => {
                        let cond = Expr::new("#d = :cur")
                            .name("#d", DIGEST)
                            .value(":cur", s(cur));
                        let cur: Digest = cur.parse().map_err(Error::storage)?;
                        actions.push(self.tx_put(tag_item, Some(cond))?);
                        actions.push(self.tx_delete(key(&pk, tagref_sk(&cur, t)), None)?);
                        actions.push(self.tx_put(new_ref, None)?);
                    }
                    None => {
                        actions.push(self.tx_put(tag_item, Some(absent()))?);
                        actions.push(self.tx_put(new_ref, None)?);
                    }
                }
            }
            match self.transact(actions).await? {
                Tx::Done => return Ok(()),
                Tx::Cancelled(_) => {
                    if let Some((nonce, count)) = own_parts {
                        self.delete_parts(&pk, d, &nonce, count).await?;
                    }
                }
            }
        }
        Err(contended("put manifest"))
    }

    async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<ManifestRecord>> {
        let pk = repo_pk(repo);
        let d = match reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => match self.get(key(&pk, tag_sk(t.as_str()))).await? {
                Some(i) => digest_attr(&i, DIGEST)?,
                None => return Ok(None),
            },
        };
        self.read_manifest(&pk, &d).await
    }

    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let pk = repo_pk(repo);
        let head = head_sk(digest);
        let tag_prefix = format!("{head}#TAG#");
        let tag_cond = || {
            Expr::new("#d = :d")
                .name("#d", DIGEST)
                .value(":d", s(digest.to_string()))
        };
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            // The head and the manifest's tags (bodies are not transferred).
            let q = Query::new(
                Expr::new("#pk = :pk AND begins_with(#sk, :head)")
                    .name("#pk", PK)
                    .name("#sk", SK)
                    .value(":pk", s(&pk))
                    .value(":head", s(&head)),
            )
            .projection(
                Expr::new("#pk, #sk, #nonce, #parts, #pushed, #tv, #subject")
                    .name("#nonce", NONCE)
                    .name("#parts", PARTS)
                    .name("#pushed", PUSHED_US)
                    .name("#tv", TAG_VERSION)
                    .name("#subject", SUBJECT),
            );
            let items = self.query_all(&q).await?;
            let Some(h) = items.iter().find(|i| opt_s(i, SK) == Some(head.as_str())) else {
                return Ok(false);
            };
            let tags: Vec<&str> = items
                .iter()
                .filter_map(|i| opt_s(i, SK)?.strip_prefix(tag_prefix.as_str()))
                .collect();
            let pair = |t: &str| -> Result<[aws_sdk_dynamodb::types::TransactWriteItem; 2]> {
                Ok([
                    self.tx_delete(key(&pk, tag_sk(t)), Some(tag_cond()))?,
                    self.tx_delete(key(&pk, tagref_sk(digest, t)), None)?,
                ])
            };
            // Tags beyond what one transaction holds go first, in their own transactions.
            let (early, last) = tags.split_at(tags.len().saturating_sub(TAGS_PER_DELETE));
            let mut raced = false;
            for chunk in early.chunks(TAGS_PER_DELETE) {
                let mut actions = Vec::new();
                for t in chunk {
                    actions.extend(pair(t)?);
                }
                if let Tx::Cancelled(_) = self.transact(actions).await? {
                    raced = true;
                    break;
                }
            }
            if raced {
                continue;
            }
            let pushed: i64 = get_n(h, PUSHED_US)?;
            let version: i64 = opt_n(h, TAG_VERSION)?.unwrap_or(0);
            let cond = Expr::new("#pushed = :pushed AND #tv = :tv")
                .name("#pushed", PUSHED_US)
                .value(":pushed", n(pushed))
                .name("#tv", TAG_VERSION)
                .value(":tv", n(version));
            let mut actions = vec![self.tx_delete(key(&pk, &head), Some(cond))?];
            if let Some(subject) = opt_s(h, SUBJECT) {
                let subject: Digest = subject.parse().map_err(Error::storage)?;
                actions.push(self.tx_delete(key(&pk, referrer_sk(&subject, digest)), None)?);
            }
            for t in last {
                actions.extend(pair(t)?);
            }
            match self.transact(actions).await? {
                Tx::Done => {
                    if let Some(nonce) = opt_s(h, NONCE) {
                        self.delete_parts(&pk, digest, nonce, get_n(h, PARTS)?)
                            .await?;
                    }
                    return Ok(true);
                }
                Tx::Cancelled(_) => continue,
            }
        }
        Err(contended("delete manifest"))
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool> {
        let pk = repo_pk(repo);
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let Some(i) = self.get(key(&pk, tag_sk(tag.as_str()))).await? else {
                return Ok(false);
            };
            let cur = digest_attr(&i, DIGEST)?;
            let cond = Expr::new("#d = :d")
                .name("#d", DIGEST)
                .value(":d", s(cur.to_string()));
            let actions = vec![
                self.tx_delete(key(&pk, tag_sk(tag.as_str())), Some(cond))?,
                self.tx_delete(key(&pk, tagref_sk(&cur, tag.as_str())), None)?,
            ];
            if let Tx::Done = self.transact(actions).await? {
                return Ok(true);
            }
        }
        Err(contended("delete tag"))
    }

    async fn list_artifacts(&self, repo: &RepoName, limit: usize) -> Result<Vec<ArtifactSummary>> {
        let q = Query::new(
            Expr::new("#pk = :pk AND begins_with(#sk, :m)")
                .name("#pk", PK)
                .name("#sk", SK)
                .value(":pk", s(repo_pk(repo)))
                .value(":m", s("MANIFEST#")),
        )
        .projection(
            Expr::new("#sk, #mt, #at, #size, #pushed")
                .name("#mt", MEDIA_TYPE)
                .name("#at", ARTIFACT_TYPE)
                .name("#size", SIZE)
                .name("#pushed", PUSHED_US),
        );
        let items = self.query_all(&q).await?;
        let mut heads: Vec<(i64, ArtifactSummary)> = Vec::new();
        let mut tags: HashMap<&str, Vec<String>> = HashMap::new();
        for i in &items {
            let rest = &sk_of(i)?["MANIFEST#".len()..];
            match rest.split_once('#') {
                None => {
                    let pushed: i64 = get_n(i, PUSHED_US)?;
                    heads.push((
                        pushed,
                        ArtifactSummary {
                            digest: rest.parse().map_err(Error::storage)?,
                            media_type: get_s(i, MEDIA_TYPE)?.to_string(),
                            artifact_type: opt_s(i, ARTIFACT_TYPE).map(str::to_string),
                            size: get_n(i, SIZE)?,
                            pushed_at: pushed.div_euclid(1_000_000),
                            tags: Vec::new(),
                        },
                    ));
                }
                Some((d, sub)) => {
                    if let Some(t) = sub.strip_prefix("TAG#") {
                        tags.entry(d).or_default().push(t.to_string());
                    }
                }
            }
        }
        heads.sort_by(|(pa, a), (pb, b)| pb.cmp(pa).then_with(|| b.digest.cmp(&a.digest)));
        heads.truncate(limit);
        Ok(heads
            .into_iter()
            .map(|(_, mut a)| {
                let mut t = tags
                    .remove(a.digest.to_string().as_str())
                    .unwrap_or_default();
                t.sort();
                a.tags = t;
                a
            })
            .collect())
    }

    async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let lo = tag_sk(last.unwrap_or(""));
        let q = Query::new(
            Expr::new("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .name("#pk", PK)
                .name("#sk", SK)
                .value(":pk", s(repo_pk(repo)))
                .value(":lo", s(&lo))
                .value(":hi", s("TAG$")),
        )
        .projection(Expr::new("#sk"));
        let items = self
            .query_up_to(&q, Some(limit), |i| opt_s(i, SK) != Some(lo.as_str()))
            .await?;
        items
            .iter()
            .map(|i| Ok(sk_of(i)?["TAG#".len()..].to_string()))
            .collect()
    }

    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Referrer>> {
        let pk = repo_pk(repo);
        let q = Query::new(
            Expr::new("#pk = :pk AND begins_with(#sk, :prefix)")
                .name("#pk", PK)
                .name("#sk", SK)
                .value(":pk", s(&pk))
                .value(":prefix", s(format!("REFERRER#{subject}#"))),
        );
        let mut out = Vec::new();
        for i in self.query_all(&q).await? {
            let digest = digest_attr(&i, DIGEST)?;
            let annotations = if i.contains_key(ANNOTATIONS_IN_MANIFEST) {
                match self.read_manifest(&pk, &digest).await? {
                    Some(m) => m.annotations,
                    None => continue,
                }
            } else {
                annotations_from(opt_s(&i, ANNOTATIONS))?
            };
            out.push(Referrer {
                digest,
                media_type: get_s(&i, MEDIA_TYPE)?.to_string(),
                size: get_n(&i, SIZE)?,
                artifact_type: opt_s(&i, ARTIFACT_TYPE).map(str::to_string),
                annotations,
            });
        }
        Ok(out)
    }

    async fn list_repositories(
        &self,
        prefixes: &[String],
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RepoName>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // One query per prefix, in the partition of the organization it names, merged.
        let mut names: Vec<String> = Vec::new();
        for prefix in prefixes {
            let Some((org, _)) = prefix.split_once('/') else {
                return Err(Error::Unsupported(
                    "repository listings need prefixes that name an organization (`<org>/`)".into(),
                ));
            };
            // Repository names are ASCII below `~`, so `<prefix>~` bounds the prefix's range.
            let hi = format!("{prefix}~");
            let lo = match last {
                Some(l) if l >= hi.as_str() => continue,
                Some(l) if l > prefix.as_str() => l.to_string(),
                _ => prefix.clone(),
            };
            let q = Query::new(
                Expr::new("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                    .name("#pk", PK)
                    .name("#sk", SK)
                    .value(":pk", s(format!("REPOS#{org}")))
                    .value(":lo", s(&lo))
                    .value(":hi", s(&hi)),
            )
            .projection(Expr::new("#sk"));
            let part = self
                .query_up_to(&q, Some(limit), |i| {
                    opt_s(i, SK).is_some_and(|k| Some(k) != last && k.starts_with(prefix.as_str()))
                })
                .await?;
            for i in &part {
                names.push(sk_of(i)?.to_string());
            }
        }
        names.sort();
        names.dedup();
        names.truncate(limit);
        Ok(names
            .iter()
            .filter_map(|n| RepoName::parse(n).ok())
            .collect())
    }
}
