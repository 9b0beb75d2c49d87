//! Content digests (`algorithm:hex`) and the streaming hashers that produce them.
//!
//! Only the algorithms Stowage can verify are accepted: `sha256` (canonical) and `sha512`.
//! A digest string with a well-formed but unknown algorithm is [`DigestError::Unsupported`],
//! anything else malformed is [`DigestError::Invalid`]; both are client errors.

use sha2::Digest as _;
use std::fmt;
use std::str::FromStr;

/// A digest algorithm Stowage verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the lowercase hex encoding.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest, e.g. `sha256:e3b0…`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {0:?}: expected <algorithm>:<hex>")]
    Invalid(String),
    #[error("unsupported digest algorithm {0:?}: sha256 and sha512 are supported")]
    Unsupported(String),
}

impl Digest {
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The digest of `bytes` under `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest::of(Algorithm::Sha256, bytes)
    }
}

fn valid_algorithm_component(s: &str) -> bool {
    // algorithm-component ::= [a-z0-9]+, separated by [+._-]
    !s.is_empty()
        && s.split(['+', '.', '_', '-']).all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || DigestError::Invalid(s.to_string());
        let (alg, hex) = s.split_once(':').ok_or_else(invalid)?;
        if !valid_algorithm_component(alg) || hex.is_empty() {
            return Err(invalid());
        }
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => {
                if hex
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b))
                {
                    return Err(DigestError::Unsupported(alg.to_string()));
                }
                return Err(invalid());
            }
        };
        if hex.len() != algorithm.hex_len()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid());
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A streaming hasher for one algorithm.
#[derive(Clone)]
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hasher({})", self.algorithm().as_str())
    }
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far (the hasher itself is left untouched).
    pub fn peek(&self) -> Digest {
        self.clone().finish()
    }

    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }
}

/// A SHA-256 whose running state can be saved and restored: the eight state words, the byte
/// count and the partial block. A stateless upload (one request per chunk, as on Lambda) keeps
/// this with the session, so finishing it never re-reads the bytes. The compression function
/// is `sha2`'s (SHA-NI where the CPU has it); this type only carries the state and pads.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResumableSha256 {
    state: [u32; 8],
    /// Bytes hashed so far, the partial block included.
    length: u64,
    /// The bytes after the last whole 64-byte block (fewer than 64).
    #[serde(with = "hex_bytes")]
    partial: Vec<u8>,
}

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

impl Default for ResumableSha256 {
    fn default() -> Self {
        ResumableSha256::new()
    }
}

impl ResumableSha256 {
    pub fn new() -> ResumableSha256 {
        ResumableSha256 {
            state: SHA256_IV,
            length: 0,
            partial: Vec::with_capacity(64),
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        use sha2::digest::generic_array::GenericArray;
        self.length += bytes.len() as u64;
        if !self.partial.is_empty() {
            let take = (64 - self.partial.len()).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() < 64 {
                return;
            }
            sha2::compress256(&mut self.state, &[*GenericArray::from_slice(&self.partial)]);
            self.partial.clear();
        }
        let mut blocks = bytes.chunks_exact(64);
        for block in &mut blocks {
            sha2::compress256(
                &mut self.state,
                std::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
        self.partial.extend_from_slice(blocks.remainder());
    }

    /// The digest of everything fed so far (the state is left untouched).
    pub fn finish(&self) -> Digest {
        use sha2::digest::generic_array::GenericArray;
        // FIPS 180-4, 5.1.1: a 1 bit, zeros, then the length in bits, to a multiple of 64 bytes.
        let mut state = self.state;
        let mut tail = self.partial.clone();
        tail.push(0x80);
        while tail.len() % 64 != 56 {
            tail.push(0);
        }
        tail.extend_from_slice(&(self.length.wrapping_mul(8)).to_be_bytes());
        let blocks: Vec<_> = tail
            .chunks_exact(64)
            .map(|b| *GenericArray::from_slice(b))
            .collect();
        sha2::compress256(&mut state, &blocks);
        let bytes: Vec<u8> = state.iter().flat_map(|w| w.to_be_bytes()).collect();
        Digest {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(bytes),
        }
    }
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        let v = hex::decode(s).map_err(serde::de::Error::custom)?;
        if v.len() >= 64 {
            return Err(serde::de::Error::custom(
                "a partial block has fewer than 64 bytes",
            ));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_prints() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(Digest::sha256(b""), d);
        let d512 = Digest::of(Algorithm::Sha512, b"");
        assert_eq!(d512.to_string().parse::<Digest>().unwrap(), d512);
    }

    #[test]
    fn rejects_bad_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "sha256:baddigeststring",
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            ":abc",
            "sha256::abc",
        ] {
            assert!(
                matches!(bad.parse::<Digest>(), Err(DigestError::Invalid(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "md5:d41d8cd98f00b204e9800998ecf8427e".parse::<Digest>(),
            Err(DigestError::Unsupported(_))
        ));
    }

    #[test]
    fn hasher_streams() {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.peek(), Digest::sha256(b"hello world"));
        assert_eq!(h.finish(), Digest::sha256(b"hello world"));
    }

    #[test]
    fn resumable_sha256_matches_sha2_across_saves() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for cuts in [
            &[][..],
            &[0][..],
            &[1, 63, 64, 65][..],
            &[55, 56, 57, 200, 9_999][..],
        ] {
            let mut h = ResumableSha256::new();
            let mut from = 0;
            for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
                h.update(&data[from..cut]);
                from = cut;
                // Save and restore between every chunk, as a stateless upload does.
                let saved = serde_json::to_string(&h).unwrap();
                h = serde_json::from_str(&saved).unwrap();
            }
            assert_eq!(h.len(), data.len() as u64);
            assert_eq!(h.finish(), Digest::sha256(&data), "cuts {cuts:?}");
        }
        for n in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 128] {
            let mut h = ResumableSha256::new();
            h.update(&data[..n]);
            assert_eq!(h.finish(), Digest::sha256(&data[..n]), "length {n}");
        }
        assert!(
            serde_json::from_str::<ResumableSha256>(&format!(
                r#"{{"state":[0,0,0,0,0,0,0,0],"length":64,"partial":"{}"}}"#,
                "00".repeat(64)
            ))
            .is_err()
        );
    }
}
