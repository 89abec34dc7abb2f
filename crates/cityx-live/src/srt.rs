//! The SRT ingest (`srt-tokio`, in process): a caller publishes MPEG-TS with its stream key in
//! the streamid, as the SRT access-control convention has it (`#!::r=<key>,m=publish`; the key
//! alone also does). The key is checked while the connection is being made, so a wrong key is
//! refused in the handshake (and audited and limited per address, as for RTMP); an accepted
//! stream goes through the remuxer into an ordinary session.

use crate::door::{Door, admit, refused};
use crate::publish::Publish;
use crate::{Failure, IngestOptions};
use cityx_app::App;
use cityx_core::live::{Refusal, Trouble};
use futures_util::StreamExt;
use srt_protocol::options::{KeySize, Passphrase};
use srt_protocol::settings::KeySettings;
use srt_tokio::access::{RejectReason, ServerRejectReason};
use srt_tokio::{ConnectionRequest, SrtListener, SrtSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// What the caller's streamid asks for: the stream key to publish with, or why it cannot.
pub fn streamid_key(id: &str) -> Result<&str, &'static str> {
    let id = id.trim();
    let Some(pairs) = id.strip_prefix("#!::") else {
        return if id.is_empty() {
            Err("no streamid: give the stream key as streamid")
        } else {
            Ok(id.rsplit('/').next().unwrap_or(id))
        };
    };
    let mut resource = None;
    for pair in pairs.split(',') {
        match pair.split_once('=') {
            Some(("r", r)) => resource = Some(r),
            Some(("m", "publish")) | Some(("u" | "s" | "h" | "t", _)) => {}
            Some(("m", _)) => return Err("only publishing (m=publish) is taken here"),
            _ => {}
        }
    }
    let resource = resource.ok_or("the streamid names no resource (r=<stream key>)")?;
    Ok(resource.rsplit('/').next().unwrap_or(resource))
}

/// Accepts SRT callers on `socket` until `stop` resolves.
pub async fn serve(
    socket: tokio::net::UdpSocket,
    app: Arc<App>,
    opts: Arc<IngestOptions>,
    door: Arc<Door>,
    stop: impl std::future::Future<Output = ()>,
) {
    let local = match socket.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "the SRT ingest has no address");
            return;
        }
    };
    let bound = SrtListener::builder()
        .latency(Duration::from_millis(200))
        .socket(socket)
        .bind(local)
        .await;
    let (_listener, mut incoming) = match bound {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "the SRT ingest did not start");
            return;
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            request = incoming.incoming().next() => {
                let Some(request) = request else { return };
                let (app, opts, door) = (app.clone(), opts.clone(), door.clone());
                tokio::spawn(async move { caller(request, app, opts, door).await });
            }
        }
    }
}

async fn caller(
    request: ConnectionRequest,
    app: Arc<App>,
    opts: Arc<IngestOptions>,
    door: Arc<Door>,
) {
    let peer = request.remote();
    let reject = |r: ServerRejectReason| RejectReason::Server(r);
    let Some(_slot) = door.enter(peer.ip(), opts.max_connections_per_ip, opts.max_connections)
    else {
        metrics::counter!("cityx_live_connections_refused_total").increment(1);
        let _ = request.reject(reject(ServerRejectReason::Overload)).await;
        return;
    };
    let streamid = request
        .stream_id()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let key = match streamid_key(&streamid) {
        Ok(k) => k.to_owned(),
        Err(why) => {
            tracing::info!(%peer, why, "SRT caller refused");
            door.failed(peer.ip());
            refused(&app, None, peer, Refusal::UnknownKey, "srt").await;
            let _ = request.reject(reject(ServerRejectReason::BadMode)).await;
            return;
        }
    };
    let encrypts = request.key_size() != KeySize::Unspecified;
    let (channel, session) = match admit(&app, &door, peer, &key, "srt", Some(encrypts)).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let why = match refusal {
                Refusal::UnknownKey => ServerRejectReason::Forbidden,
                Refusal::RateLimited => ServerRejectReason::Overload,
                Refusal::Busy => ServerRejectReason::Conflict,
                Refusal::OverLimits => ServerRejectReason::Unacceptable,
                Refusal::AddressNotAllowed => ServerRejectReason::Forbidden,
                Refusal::Passphrase => ServerRejectReason::Unauthorized,
            };
            let _ = request.reject(reject(why)).await;
            return;
        }
    };
    // The passphrase the caller encrypts with: a wrong one fails the key exchange.
    let keys = if encrypts {
        let sealed = app
            .repo()
            .channel_passphrase(channel.id)
            .await
            .ok()
            .flatten();
        let opened = sealed.and_then(|s| {
            app.sealer()
                .ok()?
                .open(&crate::context::passphrase_binding(channel.id), &s)
        });
        match opened.map(Passphrase::try_from) {
            Some(Ok(passphrase)) => Some(KeySettings {
                key_size: request.key_size(),
                passphrase,
            }),
            _ => {
                tracing::warn!(channel = %channel.id, "the channel's SRT passphrase cannot be opened on this node");
                let _ = app
                    .repo()
                    .release_channel(channel.id, &session, &Default::default())
                    .await;
                let _ = request
                    .reject(reject(ServerRejectReason::Unauthorized))
                    .await;
                return;
            }
        }
    } else {
        None
    };
    let reconnects = door.publishes(channel.id);
    let socket = match request.accept(keys).await {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(%peer, error = %e, "an SRT caller left during the handshake");
            let _ = app
                .repo()
                .release_channel(channel.id, &session, &Default::default())
                .await;
            return;
        }
    };
    let publish = match Publish::start(
        channel.clone(),
        session,
        peer.ip().to_string(),
        reconnects,
        app.clone(),
        opts.clone(),
    ) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(channel = %channel.id, error = %e, "could not start an SRT session");
            return;
        }
    };
    tracing::info!(channel = %channel.id, session = %publish.session, %peer, "live session started (SRT)");
    let ran = crate::remux::run(&publish, &channel, &opts, None, move |stdin| {
        pump(socket, stdin)
    })
    .await;
    if let Err((_, e)) = &ran {
        tracing::info!(channel = %channel.id, error = %e, "an SRT session ended");
        publish.note_error(e.clone()).await;
    }
    if publish.cut().await == Some(crate::publish::Cut::OverLimits) {
        refused(&app, Some(&channel), peer, Refusal::OverLimits, "srt").await;
    }
    publish.finish(ran.is_ok()).await;
}

/// A connection that ends this long after the caller's last data timed out (the caller
/// died, or its network did) rather than being shut down.
const ENDED_WITHIN: Duration = Duration::from_secs(2);

/// Writes what the peer sends (a publishing caller, or a listener a pull called) into the
/// remuxer until it ends or goes silent.
pub(crate) async fn pump(
    mut socket: SrtSocket,
    mut stdin: crate::remux::Input,
) -> Result<(), Failure> {
    let mut last = Instant::now();
    loop {
        match tokio::time::timeout(crate::remux::SILENCE, socket.next()).await {
            Err(_) => {
                return Err(Failure::new(
                    Trouble::Silent,
                    format!(
                        "the publisher sent nothing for {} s",
                        crate::remux::SILENCE.as_secs()
                    ),
                ));
            }
            Ok(None) if last.elapsed() >= ENDED_WITHIN => {
                return Err(Failure::new(
                    Trouble::Dropped,
                    format!(
                        "the publisher went away without ending the stream ({} s without data)",
                        last.elapsed().as_secs()
                    ),
                ));
            }
            Ok(None) => {
                let _ = stdin.shutdown().await;
                return Ok(());
            }
            Ok(Some(Err(e))) => {
                return Err(Failure::new(
                    Trouble::Broken,
                    format!("the SRT connection broke: {e}"),
                ));
            }
            Ok(Some(Ok((_, data)))) => {
                last = Instant::now();
                stdin.write_all(&data).await.map_err(|e| {
                    Failure::new(
                        Trouble::Broken,
                        format!("the remuxer stopped taking the stream: {e}"),
                    )
                })?;
            }
        }
    }
}

/// Calls a remote SRT listener at `address` (`srt://host:port`), on an address the outbound
/// guard admits (a pull's source, a restream target), within [`crate::rtmp_client::ANSWER_WITHIN`].
pub(crate) async fn call(
    app: &cityx_app::App,
    address: &str,
    streamid: Option<&str>,
    passphrase: Option<&str>,
) -> Result<srt_tokio::SrtSocket, Failure> {
    let url = cityx_fetch::Url::parse(address)
        .map_err(|_| Failure::new(Trouble::BadAddress, "not an srt://host:port address"))?;
    let addrs = app.fetch_guard().admit(&url).await?;
    let addr = addrs
        .first()
        .copied()
        .ok_or_else(|| Failure::new(Trouble::Unreachable, "no address to call"))?;
    let mut builder = srt_tokio::SrtSocket::builder();
    if let Some(p) = passphrase {
        // Checked when the address was saved: 10 to 79 characters.
        builder = builder.encryption(16, p);
    }
    match tokio::time::timeout(
        crate::rtmp_client::ANSWER_WITHIN,
        builder.call(addr, streamid),
    )
    .await
    {
        Ok(Ok(socket)) => Ok(socket),
        Ok(Err(e)) => Err(Failure::new(
            Trouble::Refused,
            format!("the SRT listener at {addr} refused the call: {e}"),
        )),
        Err(_) => Err(Failure::new(
            Trouble::Unreachable,
            format!("no SRT answer from {addr}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamids_give_the_key() {
        let key = "sk_0123";
        assert_eq!(streamid_key(&format!("#!::r={key},m=publish")), Ok(key));
        assert_eq!(streamid_key(&format!("#!::u=studio,r=live/{key}")), Ok(key));
        assert_eq!(streamid_key(key), Ok(key));
        assert_eq!(streamid_key(&format!("live/{key}")), Ok(key));
        assert!(streamid_key(&format!("#!::r={key},m=request")).is_err());
        assert!(streamid_key("#!::m=publish").is_err());
        assert!(streamid_key("").is_err());
    }
}
