//! The door's connections: HTTP/1 over TCP with a time limit on request heads, a cap on
//! connections per address, and a graceful end.
//!
//! A connection must deliver each request's head within [`ConnOptions::header_read_timeout`],
//! counted from when it opened or from the end of its previous answer: so a client that
//! trickles a head (slow headers), opens a socket and says nothing, or holds an idle
//! keep-alive connection is let go after that time. While a request is being answered the
//! clock does not run, so long polls, tus uploads over slow links (their bodies have their
//! own idle limit) and media streaming are unaffected. One address may hold at most
//! [`ConnOptions::max_per_address`] connections; more are closed as soon as they are
//! accepted. Behind a trusted proxy every connection comes from the proxy, so the cap is
//! the proxy's to apply (see docs/deployment.md).

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// How connections are accepted and kept.
#[derive(Clone, Debug)]
pub struct ConnOptions {
    /// Longest a connection may take to deliver a request's head, from its opening or from
    /// the end of the previous answer (so also how long an idle keep-alive connection
    /// stays).
    pub header_read_timeout: Duration,
    /// Connections one address may hold at once; `0` for no limit.
    pub max_per_address: usize,
}

/// Connections open now, per address.
#[derive(Default)]
struct Open(Mutex<HashMap<IpAddr, usize>>);

/// One connection's place in [`Open`], given back when dropped.
struct Slot {
    open: Arc<Open>,
    ip: IpAddr,
}

impl Open {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            open: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.open.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets every open connection
/// finish its request in flight and returns when they have all closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    opts: ConnOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Open::default());
    // Every connection holds a receiver; the sender's `closed()` tells when all are gone.
    let (signal, watch_signal) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = open.take(peer.ip(), opts.max_per_address) else {
            metrics::counter!("cityx_connections_refused_total").increment(1);
            tracing::debug!(%peer, "connection refused: too many from this address");
            drop(tcp);
            continue;
        };
        // Small JSON answers must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            });
        let mut conn = hyper::server::conn::http1::Builder::new();
        conn.timer(TokioTimer::new())
            .header_read_timeout(opts.header_read_timeout);
        let mut stop = watch_signal.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let conn = conn.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service));
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                    return;
                }
                _ = stop.wait_for(|&stopping| stopping) => {}
            }
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    let _ = signal.send(true);
    drop(watch_signal);
    signal.closed().await;
    Ok(())
}
