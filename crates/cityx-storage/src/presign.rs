//! Presigned `GET` URLs for an S3-compatible store (AWS Signature Version 4, query
//! parameters), so that a download is served by the store itself instead of passing
//! through an API node. Written here rather than taken from `object_store` because the
//! response headers (`response-content-disposition`, with an item's Chinese name) must be
//! part of what is signed, and `object_store`'s signer signs the path alone.

use crate::hex;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

/// What a presigned URL needs to know of the store: where clients reach it and the
/// credentials it checks signatures with.
#[derive(Clone)]
pub struct Presigner {
    /// `https://HOST[:PORT]`, as clients reach it.
    pub endpoint: String,
    pub bucket: String,
    pub virtual_hosted: bool,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// For temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Presigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presigner")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Headers the store sets on its answer instead of the object's own.
#[derive(Clone, Debug, Default)]
pub struct ResponseHeaders<'a> {
    pub content_disposition: Option<&'a str>,
    pub content_type: Option<&'a str>,
}

/// Everything but the unreserved characters is percent-encoded, as Signature Version 4
/// wants it (UTF-8 bytes, upper-case hex).
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping the path's `/`.
const RESERVED_IN_PATH: &AsciiSet = &RESERVED.remove(b'/');

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `(YYYYMMDD, YYYYMMDDTHHMMSSZ)` of a moment, in UTC.
fn stamps(at: SystemTime) -> (String, String) {
    let t = time::OffsetDateTime::from(at);
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let time = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    (date, time)
}

impl Presigner {
    /// A URL that fetches `object` (the whole key in the bucket) with `GET` until
    /// `expires_in` after `now` (at most seven days, as S3 allows), answered with `headers`.
    pub fn get_url(
        &self,
        object: &str,
        now: SystemTime,
        expires_in: Duration,
        headers: &ResponseHeaders<'_>,
    ) -> String {
        let (scheme, host) = self
            .endpoint
            .split_once("://")
            .unwrap_or(("https", self.endpoint.as_str()));
        let host = host.trim_end_matches('/');
        // A virtual-hosted endpoint may name the bucket already (`BUCKET.HOST`).
        let (host, path) = if self.virtual_hosted && !host.starts_with(&format!("{}.", self.bucket))
        {
            (format!("{}.{host}", self.bucket), format!("/{object}"))
        } else if self.virtual_hosted {
            (host.to_owned(), format!("/{object}"))
        } else {
            (host.to_owned(), format!("/{}/{object}", self.bucket))
        };
        let path = utf8_percent_encode(&path, RESERVED_IN_PATH).to_string();
        let (date, time) = stamps(now);
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let expires = expires_in.as_secs().clamp(1, 7 * 24 * 3600).to_string();
        let credential = format!("{}/{scope}", self.access_key_id);
        let mut query: Vec<(&str, &str)> = vec![
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", &credential),
            ("X-Amz-Date", &time),
            ("X-Amz-Expires", &expires),
            ("X-Amz-SignedHeaders", "host"),
        ];
        if let Some(token) = &self.session_token {
            query.push(("X-Amz-Security-Token", token));
        }
        if let Some(v) = headers.content_disposition {
            query.push(("response-content-disposition", v));
        }
        if let Some(v) = headers.content_type {
            query.push(("response-content-type", v));
        }
        let mut query: Vec<(String, String)> = query
            .into_iter()
            .map(|(k, v)| {
                let encode = |s| utf8_percent_encode(s, RESERVED).to_string();
                (encode(k), encode(v))
            })
            .collect();
        query.sort();
        let query = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let canonical = format!("GET\n{path}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{time}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let key = [date.as_str(), self.region.as_str(), "s3", "aws4_request"]
            .iter()
            .fold(
                format!("AWS4{}", self.secret_access_key).into_bytes(),
                |key, part| hmac(&key, part),
            );
        let signature = hex(&hmac(&key, &to_sign));
        format!("{scheme}://{host}{path}?{query}&X-Amz-Signature={signature}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Amazon's documentation ("Authenticating Requests: Using Query
    /// Parameters"): the same inputs must give its signature.
    #[test]
    fn signs_as_amazon_documents() {
        let p = Presigner {
            endpoint: "https://s3.amazonaws.com".into(),
            bucket: "examplebucket".into(),
            virtual_hosted: true,
            region: "us-east-1".into(),
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        // 2013-05-24T00:00:00Z
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let url = p.get_url(
            "test.txt",
            at,
            Duration::from_secs(86_400),
            &ResponseHeaders::default(),
        );
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        let at = |s| stamps(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), ("19700101".into(), "19700101T000000Z".into()));
        // 2000-02-29T23:59:59Z, a leap day.
        assert_eq!(
            at(951_868_799),
            ("20000229".into(), "20000229T235959Z".into())
        );
        // 2026-11-22T08:30:05Z
        assert_eq!(
            at(1_795_336_205),
            ("20261122".into(), "20261122T083005Z".into())
        );
    }

    #[test]
    fn path_style_names_the_bucket_and_signs_the_response_headers() {
        let p = Presigner {
            endpoint: "http://127.0.0.1:9000/".into(),
            bucket: "media".into(),
            virtual_hosted: false,
            region: "cn-east-1".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            session_token: Some("t/1".into()),
        };
        let url = p.get_url(
            "prod/assets/x y.mp4",
            SystemTime::UNIX_EPOCH,
            Duration::from_secs(30 * 24 * 3600),
            &ResponseHeaders {
                content_disposition: Some("attachment; filename*=UTF-8''%E6%96%B0%E9%97%BB"),
                content_type: Some("video/mp4"),
            },
        );
        assert!(
            url.starts_with("http://127.0.0.1:9000/media/prod/assets/x%20y.mp4?X-Amz-Algorithm="),
            "{url}"
        );
        // At most seven days; the token and both headers are in the signed query, encoded.
        assert!(url.contains("&X-Amz-Expires=604800&"), "{url}");
        assert!(url.contains("&X-Amz-Security-Token=t%2F1&"), "{url}");
        assert!(
            url.contains(
                "&response-content-disposition=attachment%3B%20filename%2A%3DUTF-8%27%27%25E6"
            ),
            "{url}"
        );
        assert!(
            url.contains("&response-content-type=video%2Fmp4&X-Amz-Signature="),
            "{url}"
        );
    }
}
