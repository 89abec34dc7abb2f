//! RTMP as a client, in process (`rml_rtmp`'s client session over a TCP connection cityx
//! opens itself, or TLS over it for `rtmps://`, verified against the public roots and
//! `fetch.ca_file`): publishing to a partner (restream) and playing a remote stream (pulls).
//! The address is a user's, so the connection goes only to addresses the outbound-fetch
//! guard admitted, and the stream key never appears in an error.

use crate::flv::TagKind;
use bytes::Bytes;
use cityx_core::live::Trouble;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connecting, the handshake and the partner's answers must each come within this.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// The port of an `rtmp://` address that names none.
pub const DEFAULT_PORT: u16 = 1935;
/// The port of an `rtmps://` address that names none.
pub const DEFAULT_TLS_PORT: u16 = 443;

/// Why a connection failed: its code, and words fit for the target's state (never the key).
pub type ClientError = crate::Failure;

/// The connection or the stream broke.
fn failed(what: impl std::fmt::Display) -> ClientError {
    ClientError::new(Trouble::Broken, what)
}

fn unreachable(what: impl std::fmt::Display) -> ClientError {
    ClientError::new(Trouble::Unreachable, what)
}

fn refused(what: impl std::fmt::Display) -> ClientError {
    ClientError::new(Trouble::Refused, what)
}

fn bad_address(what: &str) -> ClientError {
    ClientError::new(Trouble::BadAddress, what)
}

/// A server address split: `rtmp[s]://host[:port]/app` → the URL to admit and the app.
pub fn split_address(address: &str) -> Result<(cityx_fetch::Url, String), ClientError> {
    let mut url =
        cityx_fetch::Url::parse(address).map_err(|_| bad_address("not an rtmp:// address"))?;
    let port = match url.scheme() {
        "rtmp" => DEFAULT_PORT,
        "rtmps" => DEFAULT_TLS_PORT,
        _ => return Err(bad_address("not an rtmp:// or rtmps:// address")),
    };
    if url.host().is_none() || !url.username().is_empty() {
        return Err(bad_address("not an rtmp://host/app address"));
    }
    if url.port().is_none() {
        let _ = url.set_port(Some(port));
    }
    let app = url.path().trim_matches('/').to_owned();
    if app.is_empty() {
        return Err(bad_address("the address names no application"));
    }
    Ok((url, app))
}

/// What the RTMP session runs over: TCP, or TLS over TCP.
trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

/// An RTMP connection that has connected to its application.
pub struct Client {
    stream: Box<dyn Conn>,
    session: ClientSession,
    events: Vec<ClientSessionEvent>,
    buf: Vec<u8>,
    /// Bytes written, for the target's report.
    pub sent: u64,
}

impl Client {
    /// Connects to `address` (`rtmp://host[:port]/app`) through `guard`'s admitted addresses
    /// and asks to connect to the application.
    pub async fn connect(guard: &cityx_fetch::Guard, address: &str) -> Result<Client, ClientError> {
        let (url, app) = split_address(address)?;
        let addrs = guard.admit(&url).await.map_err(ClientError::from)?;
        let mut last = unreachable("no address to connect to");
        let mut stream = None;
        for addr in addrs {
            match tokio::time::timeout(ANSWER_WITHIN, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    break;
                }
                Ok(Err(e)) => last = unreachable(format!("cannot connect to {addr}: {e}")),
                Err(_) => last = unreachable(format!("no answer from {addr}")),
            }
        }
        let tcp = stream.ok_or(last)?;
        tcp.set_nodelay(true).map_err(failed)?;
        let mut stream: Box<dyn Conn> = if url.scheme() == "rtmps" {
            Box::new(tls(guard, &url, tcp).await?)
        } else {
            Box::new(tcp)
        };
        let rest = tokio::time::timeout(ANSWER_WITHIN, handshake(&mut stream))
            .await
            .map_err(|_| unreachable("no RTMP handshake within 10 s"))??;
        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(format!("{}://{}/{app}", url.scheme(), host_port(&url)));
        let (session, first) = ClientSession::new(config).map_err(failed)?;
        let mut client = Client {
            stream,
            session,
            events: Vec::new(),
            buf: vec![0u8; 64 * 1024],
            sent: 0,
        };
        client.write(first).await?;
        if !rest.is_empty() {
            client.input(&rest).await?;
        }
        let asked = client.session.request_connection(app).map_err(failed)?;
        client.write(vec![asked]).await?;
        client
            .wait_for(|e| match e {
                ClientSessionEvent::ConnectionRequestAccepted => Some(Ok(())),
                ClientSessionEvent::ConnectionRequestRejected { description } => Some(Err(
                    refused(format!("the server refused the connection: {description}")),
                )),
                _ => None,
            })
            .await?;
        Ok(client)
    }

    /// Asks to publish as `key`; fails when the server refuses it.
    pub async fn publish(&mut self, key: &str) -> Result<(), ClientError> {
        let asked = self
            .session
            .request_publishing(key.to_owned(), PublishRequestType::Live)
            .map_err(|e| failed(hide(&e.to_string(), key)))?;
        self.write(vec![asked]).await?;
        self.wait_for(|e| match e {
            ClientSessionEvent::PublishRequestAccepted => Some(Ok(())),
            ClientSessionEvent::UnhandleableOnStatusCode { code } => Some(Err(refused(format!(
                "the server refused the stream: {}",
                hide(code, key)
            )))),
            _ => None,
        })
        .await
    }

    /// Asks to play `name`; fails when the server refuses it.
    pub async fn play(&mut self, name: &str) -> Result<(), ClientError> {
        let asked = self
            .session
            .request_playback(name.to_owned())
            .map_err(|e| failed(hide(&e.to_string(), name)))?;
        self.write(vec![asked]).await?;
        self.wait_for(|e| match e {
            ClientSessionEvent::PlaybackRequestAccepted => Some(Ok(())),
            ClientSessionEvent::UnhandleableOnStatusCode { code } => Some(Err(refused(format!(
                "the server refused the stream: {}",
                hide(code, name)
            )))),
            _ => None,
        })
        .await
    }

    /// Ends a published stream as an encoder does (`deleteStream`), so that the server
    /// takes it as ended rather than lost, and closes the connection.
    pub async fn unpublish(&mut self) -> Result<(), ClientError> {
        let results = self.session.stop_publishing().map_err(failed)?;
        self.write(results).await?;
        self.stream.shutdown().await.map_err(failed)
    }

    /// Sends the stream's metadata (published streams).
    pub async fn send_metadata(&mut self, metadata: &StreamMetadata) -> Result<(), ClientError> {
        let packet = self.session.publish_metadata(metadata).map_err(failed)?;
        self.write(vec![packet]).await
    }

    /// Sends one audio or video message (published streams).
    pub async fn send(
        &mut self,
        kind: TagKind,
        timestamp: u32,
        data: Bytes,
    ) -> Result<(), ClientError> {
        let at = RtmpTimestamp::new(timestamp);
        let packet = match kind {
            TagKind::Video => self.session.publish_video_data(data, at, false),
            TagKind::Audio => self.session.publish_audio_data(data, at, false),
        }
        .map_err(failed)?;
        self.write(vec![packet]).await
    }

    /// Waits for bytes from the server; `Ok(0)` never comes (an end is an error). Safe to
    /// cancel (in a `select!`): it only reads. Pass what it read to
    /// [`received`](Self::received).
    pub async fn read(&mut self) -> Result<usize, ClientError> {
        let n = self.stream.read(&mut self.buf).await.map_err(failed)?;
        if n == 0 {
            return Err(failed("the server closed the connection"));
        }
        Ok(n)
    }

    /// Handles `n` bytes [`read`](Self::read) brought and returns the media they carried
    /// (played streams), or nothing (a published stream's acknowledgements).
    pub async fn received(&mut self, n: usize) -> Result<Vec<Received>, ClientError> {
        let bytes = self.buf[..n].to_vec();
        self.input(&bytes).await?;
        let mut media = Vec::new();
        for event in std::mem::take(&mut self.events) {
            match event {
                ClientSessionEvent::VideoDataReceived { timestamp, data } => {
                    media.push(Received::Media(TagKind::Video, timestamp.value, data));
                }
                ClientSessionEvent::AudioDataReceived { timestamp, data } => {
                    media.push(Received::Media(TagKind::Audio, timestamp.value, data));
                }
                ClientSessionEvent::StreamMetadataReceived { metadata } => {
                    media.push(Received::Metadata(Box::new(metadata)));
                }
                ClientSessionEvent::UnhandleableOnStatusCode { code }
                    if matches!(
                        code.as_str(),
                        "NetStream.Play.UnpublishNotify"
                            | "NetStream.Play.Stop"
                            | "NetStream.Play.Complete"
                    ) =>
                {
                    media.push(Received::Ended);
                }
                _ => {}
            }
        }
        Ok(media)
    }

    async fn input(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        // Another crate's chunk parser on a peer's bytes: a panic ends this connection only.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.session.handle_input(bytes)
        }))
        .map_err(|_| failed("malformed RTMP chunks from the server"))?;
        let results = parsed.map_err(failed)?;
        self.write(results).await
    }

    async fn write(&mut self, results: Vec<ClientSessionResult>) -> Result<(), ClientError> {
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(packet) => {
                    self.stream
                        .write_all(&packet.bytes)
                        .await
                        .map_err(|e| failed(format!("the connection broke: {e}")))?;
                    self.sent += packet.bytes.len() as u64;
                }
                ClientSessionResult::RaisedEvent(e) => self.events.push(e),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        // TLS holds what it was given until it is flushed (TCP flushes nothing).
        self.stream
            .flush()
            .await
            .map_err(|e| failed(format!("the connection broke: {e}")))
    }

    /// Reads until `pick` answers for an event, within [`ANSWER_WITHIN`].
    async fn wait_for(
        &mut self,
        pick: impl Fn(&ClientSessionEvent) -> Option<Result<(), ClientError>>,
    ) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
        loop {
            // Other events stay for later: a server may send media before it confirms play.
            let mut answer = None;
            self.events.retain(|event| {
                if answer.is_some() {
                    return true;
                }
                match pick(event) {
                    Some(a) => {
                        answer = Some(a);
                        false
                    }
                    None => true,
                }
            });
            if let Some(answer) = answer {
                return answer;
            }
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut self.buf))
                .await
                .map_err(|_| unreachable("the server did not answer within 10 s"))?
                .map_err(failed)?;
            if n == 0 {
                return Err(failed("the server closed the connection"));
            }
            let bytes = self.buf[..n].to_vec();
            self.input(&bytes).await?;
        }
    }
}

/// What a played stream carried.
pub enum Received {
    Media(TagKind, u32, Bytes),
    Metadata(Box<StreamMetadata>),
    /// The server says the stream ended (its publisher left).
    Ended,
}

/// `host:port` of an admitted URL, for the tcUrl the server sees.
fn host_port(url: &cityx_fetch::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => String::new(),
    }
}

/// `text` with `secret` masked.
fn hide(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "***")
    }
}

/// TLS over `tcp` to `url`'s host, its certificate checked by the guard's roots.
async fn tls(
    guard: &cityx_fetch::Guard,
    url: &cityx_fetch::Url,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
    let connector = guard
        .tls()
        .ok_or_else(|| failed("TLS is not available here"))?;
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host)
        .map_err(|_| bad_address("the address's host is no TLS server name"))?;
    tokio::time::timeout(ANSWER_WITHIN, connector.connect(name, tcp))
        .await
        .map_err(|_| unreachable("no TLS handshake within 10 s"))?
        .map_err(|e| refused(format!("the TLS handshake failed: {e}")))
}

/// Completes the client side of the handshake; returns what the server sent after it.
async fn handshake(stream: &mut (impl Conn + ?Sized)) -> Result<Vec<u8>, ClientError> {
    let mut hs = Handshake::new(PeerType::Client);
    let first = hs.generate_outbound_p0_and_p1().map_err(failed)?;
    stream.write_all(&first).await.map_err(failed)?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.map_err(failed)?;
        if n == 0 {
            return Err(failed(
                "the server closed the connection during the handshake",
            ));
        }
        match hs.process_bytes(&buf[..n]).map_err(failed)? {
            HandshakeProcessResult::InProgress { response_bytes } => {
                stream.write_all(&response_bytes).await.map_err(failed)?;
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                stream.write_all(&response_bytes).await.map_err(failed)?;
                return Ok(remaining_bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_url_and_app() {
        let (url, app) = split_address("rtmp://push.example.org/live").expect("ok");
        assert_eq!(url.port(), Some(DEFAULT_PORT));
        assert_eq!(app, "live");
        let (url, app) = split_address("rtmp://10.1.2.3:1936/a/b/").expect("ok");
        assert_eq!(url.port(), Some(1936));
        assert_eq!(app, "a/b");
        let (url, _) = split_address("rtmps://push.example.org/live").expect("ok");
        assert_eq!(url.port(), Some(DEFAULT_TLS_PORT));
        for bad in ["http://h/app", "rtmp://h", "rtmp://u:p@h/app", "nonsense"] {
            assert!(split_address(bad).is_err(), "{bad}");
        }
        assert_eq!(
            hide("NetStream.Publish.BadName k123", "k123"),
            "NetStream.Publish.BadName ***"
        );
    }
}
