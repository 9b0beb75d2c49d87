//! Items and expressions: building attribute values, reading them back with a clear error when
//! a stored item is malformed, and the placeholders every expression goes through (most of the
//! attribute names used here, `size`, `name`, `role`, `state`, …, are DynamoDB reserved words).
//!
//! Errors name the attribute that is missing or malformed, never its value: values may be
//! secrets (password hashes, token digests) or tenant data.

use super::{PK, SK};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::str::FromStr;
use stowage_core::{Error, Result};

/// One item (or one key) as the SDK carries it.
pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn b(v: impl Into<Vec<u8>>) -> AttributeValue {
    AttributeValue::B(Blob::new(v))
}

pub(crate) fn boolean(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

/// The primary key `pk`/`sk`.
pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// A new item with its primary key and `attrs`.
pub(crate) fn item<const N: usize>(
    pk: impl Into<String>,
    sk: impl Into<String>,
    attrs: [(&str, AttributeValue); N],
) -> Item {
    let mut i = key(pk, sk);
    i.extend(attrs.into_iter().map(|(k, v)| (k.to_string(), v)));
    i
}

/// Sets `name` to `v` when there is a value.
pub(crate) fn set_opt(item: &mut Item, name: &str, v: Option<AttributeValue>) {
    if let Some(v) = v {
        item.insert(name.to_string(), v);
    }
}

fn malformed(name: &str) -> Error {
    Error::Storage(format!(
        "a stored item's attribute `{name}` is missing or malformed"
    ))
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str> {
    opt_s(item, name).ok_or_else(|| malformed(name))
}

pub(crate) fn opt_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(crate) fn get_n<T: FromStr>(item: &Item, name: &str) -> Result<T> {
    opt_n(item, name)?.ok_or_else(|| malformed(name))
}

pub(crate) fn opt_n<T: FromStr>(item: &Item, name: &str) -> Result<Option<T>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(v) => v
            .as_n()
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| malformed(name)),
    }
}

pub(crate) fn get_bool(item: &Item, name: &str) -> Result<bool> {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .ok_or_else(|| malformed(name))
}

pub(crate) fn get_b<'a>(item: &'a Item, name: &str) -> Result<&'a [u8]> {
    item.get(name)
        .and_then(|v| v.as_b().ok())
        .map(|b| b.as_ref())
        .ok_or_else(|| malformed(name))
}

/// Parses a stored string attribute into a domain type (a digest, a name).
pub(crate) fn parse_s<T>(
    item: &Item,
    name: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T> {
    parse(get_s(item, name)?).ok_or_else(|| malformed(name))
}

/// The sort key of an item.
pub(crate) fn sk_of(item: &Item) -> Result<&str> {
    get_s(item, SK)
}

/// Unix seconds now.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Unix microseconds now.
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// A non-negative time or count as a fixed-width key component, so that lexical order is
/// numeric order.
pub(crate) fn padded(v: i64) -> String {
    format!("{:020}", v.max(0))
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(Error::storage)?;
    Ok(hex::encode(buf))
}

/// An expression's text with its `#name` and `:value` placeholders.
#[derive(Clone, Debug, Default)]
pub(crate) struct Expr {
    pub(crate) text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub(crate) fn new(text: impl Into<String>) -> Expr {
        Expr {
            text: text.into(),
            ..Expr::default()
        }
    }

    /// Binds `#placeholder` to the attribute `attr`.
    pub(crate) fn name(mut self, placeholder: &str, attr: &str) -> Expr {
        self.names.insert(placeholder.to_string(), attr.to_string());
        self
    }

    /// Binds `:placeholder` to `v`.
    pub(crate) fn value(mut self, placeholder: &str, v: AttributeValue) -> Expr {
        self.values.insert(placeholder.to_string(), v);
        self
    }

    /// Adds the placeholders of `other` (two expressions of one request share the maps).
    pub(crate) fn merge(mut self, other: &Expr) -> Expr {
        self.names.extend(other.names.clone());
        self.values.extend(other.values.clone());
        self
    }

    /// The name map, `None` when empty (DynamoDB refuses empty maps).
    pub(crate) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// The value map, `None` when empty.
    pub(crate) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// `attribute_not_exists(sk)`: the item is absent.
pub(crate) fn absent() -> Expr {
    Expr::new("attribute_not_exists(#sk)").name("#sk", SK)
}

/// `attribute_exists(sk)`: the item is present.
pub(crate) fn present() -> Expr {
    Expr::new("attribute_exists(#sk)").name("#sk", SK)
}
