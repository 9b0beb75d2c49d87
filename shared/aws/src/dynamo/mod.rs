//! DynamoDB metadata: every metadata port over ONE table.
//!
//! The table has a string partition key `pk`, a string sort key `sk`, two overloaded global
//! secondary indexes (`gsi1`: `gsi1pk`/`gsi1sk`, `gsi2`: `gsi2pk`/`gsi2sk`, all attributes
//! projected) and TTL on the number attribute `expires_at` (Unix seconds). Keys always carry
//! the tenant (organization, registry, repository), so one tenant's query can never return
//! another's items: isolation is structural.
//!
//! Access patterns → keys (each is one GetItem or one Query unless it says otherwise; "Query"
//! may take several pages; base-table reads are strongly consistent, GSI reads cannot be):
//!
//! | pattern | operation | key |
//! |---|---|---|
//! | S3 upload state at a size (`s3_blobs`) | GetItem | `UPLOAD#<id>` / `S3STATE#<size, 20 digits>` |
//! | every S3 upload state of an upload (cleanup) | Query | `UPLOAD#<id>` / begins_with `S3STATE#` |
//! | upload session (`uploads`) | GetItem | `UPLOAD#<id>` / `SESSION` |
//! | repository exists (`catalog`) | GetItem | `REPOS#<org>` / `<repo>` |
//! | repositories under a prefix (catalog listing) | Query per prefix, merged | `REPOS#<org>` / `<repo>` BETWEEN `<prefix or last>` AND `<prefix>~` |
//! | blob link check (HEAD/GET blob, mount from a repo) | GetItem | `REPO#<repo>` / `BLOB#<digest>` |
//! | blob linked in any repo under a prefix (mount) | Query gsi1, Limit 1 | `BLOB#<digest>` / begins_with `<prefix>` |
//! | blob linked anywhere (may its bytes be deleted?) | GetItem, consistent | `BLOBREF#<digest>` / `COUNT` (`links` > 0) |
//! | blobs and manifests missing in a repo (manifest push) | BatchGetItem | `REPO#<repo>` / `BLOB#<digest>`, `MANIFEST#<digest>` |
//! | pull by digest (manifest + its body parts) | Query (one page; ~6 for a 4 MiB manifest) | `REPO#<repo>` / BETWEEN `MANIFEST#<digest>` AND `MANIFEST#<digest>#PART$` |
//! | pull by tag | GetItem, then pull by digest | `REPO#<repo>` / `TAG#<tag>` (→ digest) |
//! | tag list page | Query, Limit n+1 | `REPO#<repo>` / BETWEEN `TAG#<last>` AND `TAG$` |
//! | referrers of a digest | Query | `REPO#<repo>` / begins_with `REFERRER#<subject>#` |
//! | artifacts of a repo, newest first (management) | Query without bodies, sorted in memory | `REPO#<repo>` / begins_with `MANIFEST#` |
//! | a manifest's head and tags (delete) | Query without bodies (a large manifest's parts are read, not transferred) | `REPO#<repo>` / begins_with `MANIFEST#<digest>` |
//! | current targets of the tags being pushed (+ a large manifest's head) | BatchGetItem | `REPO#<repo>` / `TAG#<tag>`…, `MANIFEST#<digest>` |
//! | organization (`tenancy`) | GetItem | `ORG#<org>` / `ORG` |
//! | registry (push path) | GetItem | `ORG#<org>` / `REGISTRY#<name>` |
//! | registries of an org | Query | `ORG#<org>` / begins_with `REGISTRY#` |
//! | a member's role | GetItem | `ORG#<org>` / `MEMBER#<user>` |
//! | members of an org | Query | `ORG#<org>` / begins_with `MEMBER#` |
//! | orgs of a user | Query | `USER#<user>` / begins_with `MEMBER#` |
//! | user | GetItem | `USER#<user>` / `PROFILE` |
//! | every user (management) | Query gsi1 | `USERS` / `<user>` |
//! | invitation | GetItem | `INVITE#<id>` / `INVITE` |
//! | invitations of an org (management) | Query gsi1 | `INVITES#<org>` / `<created, 20 digits>#<id>` |
//! | pending invitations by email (sign-up) | Query | `INVITEE#<email>` (copies of the pending ones) |
//! | API token (every token-authenticated request) | GetItem | `TOKEN#<id>` / `TOKEN` |
//! | API tokens of an org (management) | Query gsi1 | `TOKENS#<org>` / `<created, 20 digits>#<id>` |
//! | audit events of an org, newest first, before an id (`audit`) | Query backward, filtered | `AUDIT#<org>` / `<id, 20 digits>` (`< before`) |
//! | Python projects of a registry (`python`) | Query | `PY#<org>#<registry>` / begins_with `PROJECT#` |
//! | a Python project | GetItem | `PY#<org>#<registry>` / `PROJECT#<name>` |
//! | files of a project (Simple page) | Query | `PYPROJECT#<org>#<registry>#<project>` / begins_with `FILE#` |
//! | a Python file | GetItem | `PYPROJECT#<org>#<registry>#<project>` / `FILE#<filename>` |
//! | file, project and release sdist before an add/delete | BatchGetItem | the `FILE#`, `PROJECT#` and `SDIST#<release>` keys |
//!
//! Writes that two writers could race are transactions or conditional writes (each module's
//! documentation says which invariant each keeps):
//!
//! | write | how |
//! |---|---|
//! | link blob | TransactWriteItems: put link (if absent) + `ADD links 1` on `BLOBREF#` + repository index entry (`if_not_exists`) |
//! | unlink blob | TransactWriteItems: delete link (if present) + `ADD links -1`; then delete `BLOBREF#` if `links <= 0` |
//! | put manifest with N tags | BatchGetItem (tags) + TransactWriteItems: repository entry, head (update `if_not_exists`, or put if absent / check `nonce` for a large one), referrer, per moved tag: put tag (condition: still at the digest read) + delete old reverse entry + put new one; large bodies: BatchWriteItem of the parts first |
//! | delete manifest | Query + TransactWriteItems: delete head (condition: `pushed_us` and `tag_version` as read), referrer, each tag (condition: still at this digest) and its reverse entry; then BatchWriteItem deleting the parts |
//! | delete tag | GetItem + TransactWriteItems: delete tag (condition: digest as read) + reverse entry |
//! | upload session | PutItem (if absent), UpdateItem size (if present; refreshes `expires_at`), DeleteItem |
//! | create org | TransactWriteItems: org (if absent) + both membership items |
//! | create registry | TransactWriteItems: check org exists + put registry (if absent) |
//! | update / delete registry | UpdateItem / DeleteItem, condition present |
//! | set / remove member | TransactWriteItems: both membership items (remove: if present) |
//! | create invitation | PutItem (if absent); a pending one: TransactWriteItems with its `INVITEE#` copy |
//! | invitation state | GetItem + TransactWriteItems: update (condition `state = from`) + delete or put the `INVITEE#` copy |
//! | revoke token | UpdateItem, condition `org = :org AND attribute_not_exists(revoked_at)` |
//! | users, tokens created | PutItem, condition absent |
//! | audit events | BatchWriteItem, 25 per call (keys are unique ids) |
//! | add Python file | BatchGetItem + TransactWriteItems: file (if absent), sdist of the release (if absent), project (condition: as read) |
//! | delete Python file | BatchGetItem + TransactWriteItems: file (if present), its release's sdist item, project (condition: as read; deleted with its last file) |
//!
//! `gsi2` is not used yet (kept for the findings patterns: vulnerability id → manifests).
//!
//! A transaction that loses a race is retried from its read (a few times, with backoff).
//! Sort keys are built from validated names (no `#` in org, registry, repository, tag, digest
//! or project names), so one prefix never matches another's items. Times that order keys are
//! zero-padded to 20 digits.
//!
//! Conditional or transactional writes wherever two writers could race. This module decides
//! nothing about protocol or access; it stores what the domain hands it, and never puts a
//! request's content or a secret into an error or a log.

mod audit;
mod catalog;
mod item;
mod ops;
mod python;
mod tenancy;
mod upload_state;
mod uploads;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use stowage_core::{Error, Result};

/// Attribute names of the keys.
pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1PK: &str = "gsi1pk";
pub(crate) const GSI1SK: &str = "gsi1sk";
pub(crate) const GSI2PK: &str = "gsi2pk";
pub(crate) const GSI2SK: &str = "gsi2sk";
/// The TTL attribute (Unix seconds): DynamoDB deletes the item some time after it.
pub(crate) const EXPIRES_AT: &str = "expires_at";
pub(crate) const GSI1: &str = "gsi1";
pub(crate) const GSI2: &str = "gsi2";

/// The metadata store over one DynamoDB table. Cheap to clone (the SDK client is shared).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table with the layout above (on-demand billing, TTL on `expires_at`) and
    /// waits until it is active. For tests, emulators and `stowage aws create-table`; a
    /// deployment creates it with its infrastructure code, with the same layout.
    pub async fn create_table(&self) -> Result<()> {
        let s = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(Error::storage)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(Error::storage)
        };
        let gsi = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash)?)
                .key_schema(key(sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(Error::storage)
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(s(PK)?)
            .attribute_definitions(s(SK)?)
            .attribute_definitions(s(GSI1PK)?)
            .attribute_definitions(s(GSI1SK)?)
            .attribute_definitions(s(GSI2PK)?)
            .attribute_definitions(s(GSI2SK)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .global_secondary_indexes(gsi(GSI1, GSI1PK, GSI1SK)?)
            .global_secondary_indexes(gsi(GSI2, GSI2PK, GSI2SK)?)
            .send()
            .await
            .map_err(storage)?;
        for _ in 0..600 {
            let d = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(storage)?;
            let active = d
                .table()
                .and_then(|t| t.table_status())
                .is_some_and(|s| s.as_str() == "ACTIVE");
            if active {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(EXPIRES_AT)
                    .enabled(true)
                    .build()
                    .map_err(Error::storage)?,
            )
            .send()
            .await
            .map_err(storage)?;
        Ok(())
    }
}

/// A DynamoDB client for `config`, its calls counted ([`crate::metrics`]).
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> Client {
    Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(crate::metrics::CountCalls)
            .build(),
    )
}

/// An SDK error as a storage failure, with the service's own error code and message (never a
/// request's content).
pub(crate) fn storage<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Error::storage(aws_sdk_dynamodb::error::DisplayErrorContext(e))
}
