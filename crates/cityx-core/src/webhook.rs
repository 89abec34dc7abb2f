//! Webhooks: a station's own systems are told of the events the member feed carries by HTTP
//! POSTs, signed with HMAC-SHA-256 under a secret shown once, and retried through the job
//! queue. Each delivery is one event to one webhook; its id is the id of the job that sends it.

use crate::ids::{JobId, StationId, UserId, WebhookId};
use crate::notice::EventKind;
use crate::validate::{Checker, FieldError, Validated};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The kind of the job that sends a delivery. Stored data: never renamed.
pub const WEBHOOK_JOB: &str = "webhook";
/// The subject type of a delivery's job (its id is the delivery's).
pub const DELIVERY_SUBJECT: &str = "webhook_delivery";
/// Longest webhook address.
pub const MAX_URL_LEN: usize = 2048;
/// Webhooks one station may have.
pub const MAX_PER_STATION: usize = 10;
/// Attempts per delivery: with the queue's exponential backoff (5 s doubling, at most 10
/// minutes apart) the last comes about 40 minutes after the first.
pub const DELIVERY_ATTEMPTS: u32 = 10;

/// A station's webhook (the secret is never part of it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Webhook {
    pub id: WebhookId,
    pub station_id: StationId,
    pub url: String,
    /// The kinds of event it is sent; empty: all of them. (The repository matches them in
    /// the SQL that enqueues deliveries.)
    pub kinds: Vec<EventKind>,
    pub created_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Deliveries by state, over its lifetime.
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// A webhook's fields, checked (the address's host is checked by the outbound guard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookFields {
    pub url: String,
    pub kinds: Vec<EventKind>,
}

/// A webhook as sent by a form or the API.
#[derive(Clone, Debug, Default)]
pub struct WebhookInput<'a> {
    pub url: &'a str,
    /// Event kind names; empty: all.
    pub kinds: Vec<&'a str>,
}

impl WebhookInput<'_> {
    pub fn validate(&self) -> Validated<WebhookFields> {
        let mut c = Checker::new();
        let url = c.text("url", self.url, MAX_URL_LEN);
        let lower = url.to_ascii_lowercase();
        let http = lower.starts_with("https://") || lower.starts_with("http://");
        if !url.is_empty() && !http {
            c.push(FieldError::new(
                "url",
                "bad_format",
                "url must be an http or https address",
            ));
        }
        let mut kinds = Vec::new();
        for k in &self.kinds {
            match k.trim().parse::<EventKind>() {
                Ok(k) if !kinds.contains(&k) => kinds.push(k),
                Ok(_) => {}
                Err(_) => c.push(FieldError::new(
                    "kinds",
                    "unknown_kind",
                    format!("{k:?} is not an event kind"),
                )),
            }
        }
        // Every kind named is the same as none named.
        if kinds.len() == EventKind::ALL.len() {
            kinds.clear();
        }
        c.finish(WebhookFields { url, kinds })
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed, or the address is refused.
    Failed,
    /// Not sent: the station may no longer see the event's item, or the webhook was deleted.
    Skipped,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Failed,
        DeliveryState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Skipped => "skipped",
        }
    }
}

from_name!(DeliveryState);

/// One event sent (or to be sent) to one webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Delivery {
    /// Also the id of the job that sends it, and the `X-Cityx-Delivery` header.
    pub id: JobId,
    pub webhook_id: WebhookId,
    pub event_seq: i64,
    pub event_kind: EventKind,
    pub state: DeliveryState,
    pub attempts: i64,
    /// The receiver's last HTTP status.
    pub response_status: Option<i64>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What an attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        status: u16,
    },
    /// Will be tried again, unless it was the last attempt.
    Failed {
        status: Option<u16>,
        error: String,
    },
    /// Never to be tried again (a refused address).
    Refused {
        error: String,
    },
    Skipped {
        why: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_need_an_http_address_and_known_kinds() {
        let ok = WebhookInput {
            url: " https://news.example.cn/hook ",
            kinds: vec!["item.published", "notice.created", "item.published"],
        }
        .validate()
        .expect("valid");
        assert_eq!(ok.url, "https://news.example.cn/hook");
        assert_eq!(
            ok.kinds,
            [EventKind::ItemPublished, EventKind::NoticeCreated]
        );
        let all = WebhookInput {
            url: "http://a.example/h",
            kinds: EventKind::ALL.iter().map(|k| k.as_str()).collect(),
        }
        .validate()
        .expect("valid");
        assert!(all.kinds.is_empty(), "every kind is the same as none");

        let bad = WebhookInput {
            url: "ftp://a.example/h",
            kinds: vec!["item.deleted"],
        }
        .validate()
        .expect_err("invalid");
        let codes: Vec<_> = bad.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(codes, [("url", "bad_format"), ("kinds", "unknown_kind")]);
        let empty = WebhookInput::default().validate().expect_err("invalid");
        assert_eq!(empty[0].code, "required");
    }

    #[test]
    fn delivery_states_read_back() {
        for s in DeliveryState::ALL {
            assert_eq!(s.as_str().parse::<DeliveryState>().ok(), Some(s));
        }
    }
}
