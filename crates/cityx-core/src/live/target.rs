//! Restream targets (转推): partner addresses a channel is pushed to while it is live, each
//! with its own state. A target is a server address (`rtmp[s]://host[:port]/app`, or an SRT
//! listener's `srt://host:port`) and the partner's stream key (for SRT, the streamid), which is a secret: kept encrypted, never returned in full (only its
//! last characters), and masked in logs.

use crate::ids::{ChannelId, TargetId};
use crate::validate::{Checker, FieldError, Validated};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The most targets one channel pushes to.
pub const MAX_PER_CHANNEL: i64 = 10;
/// The longest server address and stream key taken.
const MAX_URL: usize = 512;
const MAX_KEY: usize = 512;

/// Where a target's push stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// The channel is not live, or the target is switched off.
    Idle,
    /// Connecting to the partner.
    Connecting,
    /// Pushing.
    Live,
    /// The last attempt failed; another follows after a pause that grows to a minute.
    Retrying,
}

impl TargetState {
    pub const ALL: [TargetState; 4] = [
        TargetState::Idle,
        TargetState::Connecting,
        TargetState::Live,
        TargetState::Retrying,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Idle => "idle",
            TargetState::Connecting => "connecting",
            TargetState::Live => "live",
            TargetState::Retrying => "retrying",
        }
    }
}

from_name!(TargetState);

/// What a running push reports, every few seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetReport {
    pub state: Option<TargetState>,
    /// Why the last attempt failed (empty when none did), with the key masked.
    pub error: String,
    #[serde(default)]
    pub error_code: Option<super::Trouble>,
    /// Bytes sent since the channel went live.
    pub bytes: u64,
    /// Rate over the last report's interval.
    pub kbps: u32,
    /// Connections made since the channel went live, the first included.
    pub attempts: u32,
}

/// A restream target as its channel's managers see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Target {
    #[schema(value_type = String)]
    pub id: TargetId,
    #[schema(value_type = String)]
    pub channel_id: ChannelId,
    pub name: String,
    /// The partner's server address, without the key.
    pub url: String,
    /// The stream key's last characters.
    pub key_hint: String,
    /// An SRT target is called with a passphrase (kept encrypted, never returned).
    #[serde(default)]
    pub has_passphrase: bool,
    /// Pushed whenever the channel is live (when false, never).
    pub enabled: bool,
    pub state: TargetState,
    /// Why the last attempt failed, in English for operators; `error_code` says it for
    /// everyone.
    pub error: String,
    pub error_code: Option<super::Trouble>,
    pub bytes: u64,
    pub kbps: u32,
    pub attempts: u32,
    /// When the state was last reported.
    pub reported_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// A target's fields, checked. `key` is `None` when a change keeps the stored key.
#[derive(Clone, PartialEq, Eq)]
pub struct TargetFields {
    pub name: String,
    pub url: String,
    pub key: Option<String>,
    pub enabled: bool,
    /// What becomes of the SRT passphrase.
    pub passphrase: PassphraseChange,
}

/// A target's SRT passphrase, as a change asks.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum PassphraseChange {
    /// As it is (none on a new target).
    #[default]
    Keep,
    Clear,
    Set(String),
}

impl std::fmt::Debug for TargetFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetFields")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "***"))
            .field("enabled", &self.enabled)
            .field(
                "passphrase",
                &match self.passphrase {
                    PassphraseChange::Keep => "keep",
                    PassphraseChange::Clear => "clear",
                    PassphraseChange::Set(_) => "***",
                },
            )
            .finish()
    }
}

/// A target as a form or the API sends it. An empty key keeps the stored one on a change
/// and is a mistake on a new target.
#[derive(Clone, Debug, Default)]
pub struct TargetInput<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub key: &'a str,
    pub enabled: bool,
    /// An SRT target's passphrase: `None` keeps it (none on a new target), empty removes it.
    pub passphrase: Option<&'a str>,
}

/// The part of a partner's key shown to tell keys apart: its last four characters (all of a
/// key shorter than twelve are hidden).
pub fn key_hint_of(key: &str) -> String {
    // An SRT streamid's secret is its resource (`#!::r=…,m=publish`), not its mode.
    let secret = key
        .strip_prefix("#!::")
        .and_then(|pairs| pairs.split(',').find_map(|p| p.strip_prefix("r=")))
        .unwrap_or(key);
    if secret.chars().count() < 12 {
        return "****".into();
    }
    super::key_hint(secret)
}

/// Schemes a target may use: RTMP and RTMPS (server address and stream key) and SRT (the
/// partner's listener, called with the key as streamid).
pub const SCHEMES: [&str; 3] = ["rtmp", "rtmps", "srt"];

/// Whether a target's address is an SRT listener's.
pub fn is_srt(url: &str) -> bool {
    url.get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("srt://"))
}

impl TargetInput<'_> {
    /// Checks a target; `new` when it is being added (the key is then required).
    pub fn validate(&self, new: bool) -> Validated<TargetFields> {
        let mut c = Checker::new();
        let name = c.text("name", self.name, 100);
        let url = self.url.trim();
        if let Some(e) = url_mistake(url) {
            c.push(e);
        }
        let key = self.key.trim();
        let key = if key.is_empty() {
            if new {
                c.push(FieldError::new(
                    "key",
                    "required",
                    "give the stream key the partner issued",
                ));
            }
            None
        } else if key.len() > MAX_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
            c.push(FieldError::new(
                "key",
                "bad_format",
                format!("a stream key is up to {MAX_KEY} visible ASCII characters"),
            ));
            None
        } else if !is_srt(url) && key.contains(['/', '?', '#']) {
            // An SRT streamid may hold them (`#!::r=live/stream,m=publish`); an RTMP key
            // is a path's last part.
            c.push(FieldError::new(
                "key",
                "bad_format",
                "an RTMP stream key has no / ? #",
            ));
            None
        } else {
            Some(key.to_owned())
        };
        let passphrase = match self.passphrase {
            None => PassphraseChange::Keep,
            Some("") => PassphraseChange::Clear,
            Some(_) if !is_srt(url) => {
                c.push(FieldError::new(
                    "passphrase",
                    "bad_value",
                    "only SRT targets take a passphrase",
                ));
                PassphraseChange::Keep
            }
            Some(p) => match super::check_srt_passphrase(p) {
                Ok(()) => PassphraseChange::Set(p.to_owned()),
                Err(e) => {
                    c.push(e);
                    PassphraseChange::Keep
                }
            },
        };
        c.finish(TargetFields {
            name,
            url: url.trim_end_matches('/').to_owned(),
            key,
            enabled: self.enabled,
            passphrase,
        })
    }
}

/// What is wrong with a target's server address, if anything: `srt://host:port`, or
/// `rtmp://host[:port]/app`
/// without credentials, a query or a fragment.
fn url_mistake(url: &str) -> Option<FieldError> {
    let bad = |msg: &str| Some(FieldError::new("url", "bad_format", msg.to_owned()));
    if url.is_empty() {
        return Some(FieldError::new(
            "url",
            "required",
            "give the partner's server address",
        ));
    }
    if url.len() > MAX_URL {
        return bad("the address is too long");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("the address is rtmp://host/app");
    };
    if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Some(FieldError::new(
            "url",
            "unsupported_scheme",
            format!("targets use {}://", SCHEMES.join(":// or ")),
        ));
    }
    if rest.contains(['@', '?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("the address has no user name, query or fragment: the key goes in its field");
    }
    if is_srt(url) {
        let port = rest
            .rsplit_once(':')
            .filter(|(host, _)| !host.is_empty())
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .filter(|p| *p > 0);
        if port.is_none() || rest.contains('/') {
            return bad("an SRT address is srt://host:port; the streamid goes in the key field");
        }
        return None;
    }
    let (host, app) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() || app.trim_matches('/').is_empty() {
        return bad("the address names a host and an application: rtmp://host/app");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked() {
        let ok = TargetInput {
            name: " 央视频 ",
            url: "rtmp://push.example.org:1935/live/",
            key: "abc-123",
            enabled: true,
            passphrase: None,
        }
        .validate(true)
        .expect("valid");
        assert_eq!(ok.name, "央视频");
        assert_eq!(ok.url, "rtmp://push.example.org:1935/live");
        assert_eq!(ok.key.as_deref(), Some("abc-123"));
        assert!(!format!("{ok:?}").contains("abc-123"), "the key is masked");
        assert_eq!(key_hint_of("abc-123"), "****", "a short key shows nothing");
        assert_eq!(key_hint_of("live_0123456789"), "6789");
        assert_eq!(
            key_hint_of("#!::r=sk_0123456789abcd,m=publish"),
            "abcd",
            "not the mode"
        );
        TargetInput {
            name: "国际平台",
            url: "rtmps://live-api-s.example.com:443/rtmp",
            key: "FB-1234-abcd",
            enabled: true,
            passphrase: None,
        }
        .validate(true)
        .expect("RTMPS");
        let srt = TargetInput {
            name: "省台",
            url: "SRT://push.example.org:9000",
            key: "#!::r=live/city-7?sign=abc,m=publish",
            enabled: true,
            passphrase: None,
        }
        .validate(true)
        .expect("an SRT streamid may hold # / ? , =");
        assert!(is_srt(&srt.url));
        let sealed = TargetInput {
            name: "省台",
            url: "srt://push.example.org:9000",
            key: "k",
            enabled: true,
            passphrase: Some("partner-pass-01"),
        }
        .validate(true)
        .expect("a passphrase");
        assert!(sealed.passphrase == PassphraseChange::Set("partner-pass-01".into()));
        assert!(!format!("{sealed:?}").contains("partner-pass-01"), "masked");
        for (url, passphrase) in [
            ("srt://h:9000", "short"),
            ("rtmp://h/app", "long-enough-01"),
        ] {
            let errors = TargetInput {
                name: "n",
                url,
                key: "k",
                enabled: true,
                passphrase: Some(passphrase),
            }
            .validate(true)
            .expect_err(url);
            assert!(
                errors.iter().any(|e| e.field == "passphrase"),
                "{url}: {errors:?}"
            );
        }
        assert!(!is_srt("rtmp://h/app") && !is_srt("srt:"));
        let change = TargetInput {
            name: "x",
            url: "rtmp://h/app",
            key: "",
            enabled: false,
            passphrase: None,
        }
        .validate(false)
        .expect("a change keeps the key");
        assert_eq!(change.key, None);
        for (url, key, field, code) in [
            ("rtmp://h/app", "", "key", "required"),
            ("http://h/app", "k", "url", "unsupported_scheme"),
            ("rtmp://user:pw@h/app", "k", "url", "bad_format"),
            ("rtmp://h", "k", "url", "bad_format"),
            ("rtmp://h/app?key=1", "k", "url", "bad_format"),
            ("rtmp://h/app", "a b", "key", "bad_format"),
            ("rtmp://h/app", "a/b", "key", "bad_format"),
            ("srt://h", "k", "url", "bad_format"),
            ("srt://h:9000/live", "k", "url", "bad_format"),
            ("srt://h:9000?streamid=k", "k", "url", "bad_format"),
            ("srt://h:0", "k", "url", "bad_format"),
            ("srt://h:9000", "", "key", "required"),
            ("srt://h:9000", "a b", "key", "bad_format"),
            ("", "k", "url", "required"),
        ] {
            let errors = TargetInput {
                name: "n",
                url,
                key,
                enabled: true,
                passphrase: None,
            }
            .validate(true)
            .expect_err(url);
            assert!(
                errors.iter().any(|e| e.field == field && e.code == code),
                "{url} {key}: {errors:?}"
            );
        }
    }
}
