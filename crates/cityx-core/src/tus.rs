//! The grammar of the tus 1.0 headers cityx reads from clients: `Upload-Metadata` (pairs of
//! a key and a base64 value) and `Upload-Checksum` (an algorithm and a base64 digest).
//! Untrusted input: these parsers never panic and refuse what they do not fully understand
//! (fuzzed by `fuzz/fuzz_targets/tus_headers.rs`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Why a tus header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TusHeaderError {
    /// Not the header's grammar.
    Malformed,
    /// `Upload-Checksum` names an algorithm cityx does not offer.
    UnknownAlgorithm,
}

/// `Upload-Metadata`: comma-separated pairs `key base64(value)`, a key alone meaning an
/// empty value. Keys are unique; values must be UTF-8.
pub fn parse_metadata(raw: &str) -> Result<Vec<(String, String)>, TusHeaderError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts
            .next()
            .filter(|k| !k.is_empty())
            .ok_or(TusHeaderError::Malformed)?;
        let value = match parts.next() {
            Some(v) => {
                let bytes = B64.decode(v).map_err(|_| TusHeaderError::Malformed)?;
                String::from_utf8(bytes).map_err(|_| TusHeaderError::Malformed)?
            }
            None => String::new(),
        };
        if parts.next().is_some() || out.iter().any(|(k, _)| k == key) {
            return Err(TusHeaderError::Malformed);
        }
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

/// `Upload-Metadata` for these pairs, as a client writes it.
pub fn metadata_header(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", B64.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The checksum algorithms of `Upload-Checksum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumAlg {
    Sha1,
    Md5,
    Sha256,
}

impl ChecksumAlg {
    /// `Tus-Checksum-Algorithm`.
    pub const NAMES: &'static str = "sha1,md5,sha256";

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sha1" => Some(ChecksumAlg::Sha1),
            "md5" => Some(ChecksumAlg::Md5),
            "sha256" => Some(ChecksumAlg::Sha256),
            _ => None,
        }
    }
}

/// `Upload-Checksum`: `<algorithm> <base64 digest>`.
pub fn parse_checksum(raw: &str) -> Result<(ChecksumAlg, Vec<u8>), TusHeaderError> {
    let (alg, digest) = raw.split_once(' ').ok_or(TusHeaderError::Malformed)?;
    let alg = ChecksumAlg::parse(alg).ok_or(TusHeaderError::UnknownAlgorithm)?;
    let digest = B64
        .decode(digest.trim())
        .map_err(|_| TusHeaderError::Malformed)?;
    Ok((alg, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_pairs_decode_and_bad_ones_are_refused() {
        let m = parse_metadata("filename 5pq06ZuoLm1wNA==,is_confidential,title dGl0bGU=")
            .expect("parses");
        assert_eq!(
            m,
            vec![
                ("filename".into(), "暴雨.mp4".into()),
                ("is_confidential".into(), String::new()),
                ("title".into(), "title".into()),
            ]
        );
        for bad in ["filename !!!", "a YQ==,a YQ==", "a YQ== extra", "a /w=="] {
            assert_eq!(parse_metadata(bad), Err(TusHeaderError::Malformed), "{bad}");
        }
        assert_eq!(parse_metadata(""), Ok(vec![]));
        let header = metadata_header(&[("filename", "暴雨 现场.mp4"), ("title", "")]);
        assert_eq!(
            parse_metadata(&header),
            Ok(vec![
                ("filename".into(), "暴雨 现场.mp4".into()),
                ("title".into(), String::new())
            ])
        );
    }

    #[test]
    fn checksums_name_an_algorithm_and_a_digest() {
        assert_eq!(
            parse_checksum("sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0="),
            Ok((
                ChecksumAlg::Sha1,
                vec![
                    0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78,
                    0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
                ]
            ))
        );
        assert_eq!(
            parse_checksum("crc32 AAAA"),
            Err(TusHeaderError::UnknownAlgorithm)
        );
        assert_eq!(parse_checksum("sha1"), Err(TusHeaderError::Malformed));
        assert_eq!(parse_checksum("md5 !!"), Err(TusHeaderError::Malformed));
    }
}
