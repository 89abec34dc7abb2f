//! Who may publish, for every ingest protocol (RTMP, SRT): a cap on connections per address
//! (or IPv6 /64) and in all, wrong keys limited per address, the stream key checked against
//! its hash, the channel's allow-list of publisher addresses and (SRT) whether the caller
//! encrypts as the channel's passphrase asks, the channel's hold taken for a new session,
//! and every refusal audited.

use crate::publish::HOLD;
use cityx_app::App;
use cityx_core::live::{Channel, Refusal, key_shape_ok, publisher_allowed};
use cityx_core::{AuditAction, NewAudit};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wrong keys from one address within [`FAILURE_WINDOW`] before it is refused outright.
const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Per-address bookkeeping: open connections and recent wrong keys.
#[derive(Default)]
pub struct Door {
    open: Mutex<HashMap<IpAddr, usize>>,
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
    /// Publishes per channel since start, to report reconnects.
    publishes: Mutex<HashMap<cityx_core::ChannelId, u32>>,
}

pub(crate) struct Slot<'a>(&'a Door, IpAddr);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut open = self.0.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// The address a limit counts by: an IPv4 address, or an IPv6 /64 (one subscriber's network,
/// whose addresses a peer can rotate at will).
fn counted(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Door {
    /// A connection's place: at most `per_address` from one address (or IPv6 /64) and
    /// `total` in all.
    pub(crate) fn enter(&self, ip: IpAddr, per_address: usize, total: usize) -> Option<Slot<'_>> {
        let ip = counted(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.values().sum::<usize>() >= total {
            return None;
        }
        let n = open.entry(ip).or_default();
        if *n >= per_address {
            return None;
        }
        *n += 1;
        Some(Slot(self, ip))
    }

    fn limited(&self, ip: IpAddr) -> bool {
        let ip = counted(ip);
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let list = f.entry(ip).or_default();
        list.retain(|t| t.elapsed() < FAILURE_WINDOW);
        list.len() >= MAX_FAILURES
    }

    pub(crate) fn failed(&self, ip: IpAddr) {
        let ip = counted(ip);
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() > 100_000 {
            f.retain(|_, l| l.iter().any(|t| t.elapsed() < FAILURE_WINDOW));
        }
        f.entry(ip).or_default().push(Instant::now());
    }

    pub(crate) fn publishes(&self, channel: cityx_core::ChannelId) -> u32 {
        let mut p = self.publishes.lock().unwrap_or_else(|e| e.into_inner());
        let n = p.entry(channel).or_default();
        let reconnects = *n;
        *n += 1;
        reconnects
    }
}

/// Checks a stream key, the publisher's address and (`encrypts`, for SRT: whether the caller
/// encrypts) the passphrase's use, and takes the channel for a new session.
pub(crate) async fn admit(
    app: &Arc<App>,
    door: &Door,
    peer: SocketAddr,
    key: &str,
    protocol: &'static str,
    encrypts: Option<bool>,
) -> Result<(Channel, String), Refusal> {
    let ip = peer.ip();
    if door.limited(ip) {
        return Err(Refusal::RateLimited);
    }
    let channel = if key_shape_ok(key) {
        app.repo()
            .channel_by_key(&cityx_app::secrets::hash_secret(key))
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let Some(channel) = channel else {
        door.failed(ip);
        refused(app, None, peer, Refusal::UnknownKey, protocol).await;
        return Err(Refusal::UnknownKey);
    };
    let why = if !publisher_allowed(&channel.publish_cidrs, ip) {
        Some(Refusal::AddressNotAllowed)
    } else if encrypts.is_some_and(|e| e == channel.srt_passphrase_hint.is_empty()) {
        Some(Refusal::Passphrase)
    } else {
        None
    };
    if let Some(why) = why {
        refused(app, Some(&channel), peer, why, protocol).await;
        return Err(why);
    }
    let session = session_id("");
    // A publisher takes the channel from its own pull or slate (the standby inputs).
    let held = app
        .repo()
        .take_over_channel(
            channel.id,
            &session,
            &cityx_queue::node_name(),
            cityx_core::now() + HOLD,
        )
        .await
        .unwrap_or(false);
    if !held {
        refused(app, Some(&channel), peer, Refusal::Busy, protocol).await;
        return Err(Refusal::Busy);
    }
    Ok((channel, session))
}

/// A session's id: `prefix` and 16 hex characters (also its folder in storage). Standby
/// sessions, which a publisher takes the channel from, are `pull-…` and `slate-…`.
pub(crate) fn session_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    format!("{prefix}{}", cityx_app::secrets::hex(&bytes))
}

/// Records a refused publish in the audit log.
pub(crate) async fn refused(
    app: &Arc<App>,
    channel: Option<&Channel>,
    peer: SocketAddr,
    why: Refusal,
    protocol: &'static str,
) {
    let audit = NewAudit {
        actor_user_id: None,
        actor_label: protocol.into(),
        station_id: channel.map(|c| c.station_id),
        action: AuditAction::PublishRefused,
        target_type: "channel",
        target_id: channel.map_or_else(|| "-".to_owned(), |c| c.id.to_string()),
        ok: false,
        ip: Some(peer.ip().to_string()),
        detail: serde_json::json!({ "reason": why.as_str(), "protocol": protocol }),
    };
    if let Err(e) = app.repo().insert_audit(&audit).await {
        tracing::warn!(error = %e, "could not audit a refused publish");
    }
    metrics::counter!("cityx_live_publish_refused_total", "reason" => why.as_str()).increment(1);
    tracing::info!(%peer, reason = why.as_str(), "publish refused");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_ipv4_alone_and_ipv6_by_network() {
        let door = Door::default();
        let v6 =
            |last: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        let a = door.enter(v6(1), 2, 10).expect("first");
        let b = door.enter(v6(2), 2, 10).expect("second of the /64");
        assert!(
            door.enter(v6(3), 2, 10).is_none(),
            "a third of the same /64"
        );
        let v4 = IpAddr::from([192, 0, 2, 1]);
        let c = door.enter(v4, 2, 3).expect("another address");
        assert!(
            door.enter(IpAddr::from([192, 0, 2, 2]), 2, 3).is_none(),
            "the total"
        );
        drop((a, b, c));
        assert!(door.enter(v6(3), 2, 10).is_some(), "places free again");
        for _ in 0..MAX_FAILURES {
            door.failed(v6(7));
        }
        assert!(door.limited(v6(8)), "wrong keys count by network");
        assert!(!door.limited(v4));
    }
}
