//! Supervised long-running processes: work that runs for hours (a channel's ingest, a pull
//! relay, a recording, a restream, a playout channel, a programme mixer). Each is a durable
//! row saying what should run (`desired`); nodes reconcile it: one node at a time holds it
//! under a lease, runs it, restarts it with backoff when it dies, and reports its state,
//! restarts and last log lines here. When its node dies, the lease runs out and another node
//! takes it over.

use crate::ids::{ProcessId, StationId};
pub use crate::subject::Subject;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Log lines a process keeps for people to read.
pub const LOG_LINES: usize = 20;
/// The longest log line kept (longer ones are cut, on a character boundary).
pub const LOG_LINE_LEN: usize = 400;

/// Whether a process should run: what operators and subsystems set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    Running,
    Stopped,
}

impl Desired {
    pub const ALL: [Desired; 2] = [Desired::Running, Desired::Stopped];
    pub fn as_str(self) -> &'static str {
        match self {
            Desired::Running => "running",
            Desired::Stopped => "stopped",
        }
    }
}

from_name!(Desired);

/// What a process is doing, as its node last reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessState {
    /// Waiting for a node to take it.
    Pending,
    /// Running on a node.
    Running,
    /// Died; waiting to be started again.
    Backoff,
    /// Stopped because it was asked to.
    Stopped,
    /// Ended by itself, its work done (a recording that reached its end); not restarted.
    Finished,
}

impl ProcessState {
    pub const ALL: [ProcessState; 5] = [
        ProcessState::Pending,
        ProcessState::Running,
        ProcessState::Backoff,
        ProcessState::Stopped,
        ProcessState::Finished,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessState::Pending => "pending",
            ProcessState::Running => "running",
            ProcessState::Backoff => "backoff",
            ProcessState::Stopped => "stopped",
            ProcessState::Finished => "finished",
        }
    }
}

from_name!(ProcessState);

/// A supervised process as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Process {
    pub id: ProcessId,
    /// The registered kind that runs it (stored data: never renamed).
    pub kind: String,
    pub subject: Subject,
    /// The station it belongs to; none for the network's own.
    pub station_id: Option<StationId>,
    /// What the kind needs to run it (addresses, options), as the subsystem wrote it.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    pub desired: Desired,
    pub state: ProcessState,
    /// The node that holds it, while one does.
    pub node: Option<String>,
    /// The operating-system process id of its child, while one runs.
    pub pid: Option<u32>,
    /// Times it was started again after dying.
    pub restarts: u32,
    /// Why it last died.
    pub last_error: Option<String>,
    /// Its last log lines, oldest first.
    pub log: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Query parameters whose values are secrets (stream keys, SRT passphrases, tokens).
const SECRET_PARAMS: [&str; 8] = [
    "key",
    "token",
    "passphrase",
    "password",
    "secret",
    "streamid",
    "auth",
    "sign",
];

/// A line with the secrets of the addresses in it masked: `user:password@` and the values of
/// query parameters such as `key`, `token`, `passphrase` or `streamid` become `***`. Tools
/// print their input and output addresses, and log lines are shown through the API.
pub fn redact_secrets(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    // user:password@ after a scheme.
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    // name=value pairs of secret names, in query strings and options.
    let mut masked = String::with_capacity(out.len());
    let mut chars = out.as_str();
    while let Some(eq) = chars.find('=') {
        let before = &chars[..eq];
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = before[name_start..].to_ascii_lowercase();
        masked.push_str(&chars[..=eq]);
        chars = &chars[eq + 1..];
        if SECRET_PARAMS.iter().any(|p| name.ends_with(p)) {
            let end = chars
                .find(|c: char| c.is_whitespace() || c == '&' || c == '\'' || c == '"')
                .unwrap_or(chars.len());
            if end > 0 {
                masked.push_str("***");
            }
            chars = &chars[end..];
        }
    }
    masked.push_str(chars);
    masked
}

/// Keeps the last [`LOG_LINES`] lines, each cut to [`LOG_LINE_LEN`] bytes, secrets masked
/// ([`redact_secrets`]).
pub fn push_log(log: &mut std::collections::VecDeque<String>, line: &str) {
    let line = redact_secrets(line.trim_end());
    let line = line.as_str();
    if line.is_empty() {
        return;
    }
    let mut end = line.len().min(LOG_LINE_LEN);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    if log.len() == LOG_LINES {
        log.pop_front();
    }
    log.push_back(line[..end].to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ProcessState::ALL {
            assert_eq!(s.as_str().parse::<ProcessState>().ok(), Some(s));
        }
        for d in Desired::ALL {
            assert_eq!(d.as_str().parse::<Desired>().ok(), Some(d));
        }
        assert!("sleeping".parse::<ProcessState>().is_err());
    }

    #[test]
    fn secrets_in_addresses_are_masked() {
        for (line, want) in [
            (
                "Output #0, flv, to 'rtmp://live.example.cn/app/stream?key=abc123&x=1':",
                "Output #0, flv, to 'rtmp://live.example.cn/app/stream?key=***&x=1':",
            ),
            (
                "Opening srt://10.0.0.5:9000?streamid=#!::r=live,u=cityx&passphrase=hunter22222 for reading",
                "Opening srt://10.0.0.5:9000?streamid=***&passphrase=*** for reading",
            ),
            (
                "rtmps://user:pa55@push.example.cn/live token=xyz",
                "rtmps://***@push.example.cn/live token=***",
            ),
            (
                "frame=  250 fps= 25 q=28.0 size=1024kB",
                "frame=  250 fps= 25 q=28.0 size=1024kB",
            ),
            (
                "an email a@b.cn is not an address",
                "an email a@b.cn is not an address",
            ),
        ] {
            assert_eq!(redact_secrets(line), want, "{line}");
        }
        let mut log = Default::default();
        push_log(&mut log, "to rtmp://u:p@h/app?key=k");
        assert_eq!(
            log.back().map(String::as_str),
            Some("to rtmp://***@h/app?key=***")
        );
    }

    #[test]
    fn the_log_keeps_the_last_lines_cut_on_characters() {
        let mut log = Default::default();
        for i in 0..30 {
            push_log(&mut log, &format!("line {i}\n"));
        }
        push_log(&mut log, "   ");
        assert_eq!(log.len(), LOG_LINES);
        assert_eq!(log.front().map(String::as_str), Some("line 10"));
        assert_eq!(log.back().map(String::as_str), Some("line 29"));
        push_log(&mut log, &"频".repeat(300));
        let last = log.back().expect("a line");
        assert!(last.len() <= LOG_LINE_LEN && last.chars().all(|c| c == '频'));
    }
}
