//! The outbound-fetch guard. Every request cityx makes to an address that a user or a
//! partner gave (URL imports and webhooks today; crawlers and stream pulls later) goes through
//! [`Guard`]: it resolves the host once, refuses loopback, private, link-local, multicast and
//! every other non-public address (IPv4-mapped, NAT64 and 6to4 forms included) unless the
//! operator allowed its CIDR, connects only to the addresses it checked (so a second DNS
//! answer cannot point elsewhere), follows redirects itself and checks every hop, ignores
//! proxy variables, and caps size and time. Streams over TLS (an `rtmps://` partner) take
//! their connector from it too ([`Guard::tls`]): the public roots and the operator's own.
//!
//! Depends on reqwest for HTTP and rustls for TLS, and on nothing of cityx; it must stay that way, so that every
//! caller can use it.

use bytes::Bytes;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use url::Host;
pub use url::Url;

/// Longest URL accepted.
const MAX_URL_LEN: usize = 2048;

/// Limits of outbound fetches.
#[derive(Clone, Debug)]
pub struct Options {
    /// Networks fetched from even though they are not public (an operator's own file
    /// server, a test host). Empty by default.
    pub allow: Vec<IpNet>,
    /// Whole request, body included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Longest silence while the body arrives.
    pub read_timeout: Duration,
    pub max_redirects: u32,
    /// Certificates trusted besides the public roots (partners on a private CA, test
    /// hosts), DER.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow: Vec::new(),
            timeout: Duration::from_secs(4 * 3600),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            max_redirects: 5,
            extra_roots: Vec::new(),
        }
    }
}

/// Why a fetch was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("only http and https URLs with a host and without a user name can be fetched")]
    BadUrl,
    #[error("{}", forbidden_message(host, addr))]
    Forbidden { host: String, addr: IpAddr },
    #[error("the host {0} cannot be resolved")]
    Resolve(String),
    #[error("more than {0} redirects")]
    TooManyRedirects(u32),
    #[error("the file is larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("the transfer failed: {0}")]
    Network(String),
}

/// "`host` is `addr`, …", or just the address when the URL named it.
fn forbidden_message(host: &str, addr: &IpAddr) -> String {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if literal == addr.to_string() {
        format!("{addr} is not a public address")
    } else {
        format!("{host} is {addr}, which is not a public address")
    }
}

impl FetchError {
    /// A stable code for messages and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::BadUrl => "bad_url",
            FetchError::Forbidden { .. } => "forbidden_address",
            FetchError::Resolve(_) => "unresolvable_host",
            FetchError::TooManyRedirects(_) => "too_many_redirects",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Status(_) => "http_status",
            FetchError::Network(_) => "network",
        }
    }

    /// Worth another try later: the network, DNS, or a server that is busy or failing.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Resolve(_) | FetchError::Network(_) => true,
            FetchError::Status(s) => *s == 408 || *s == 429 || *s >= 500,
            _ => false,
        }
    }
}

fn network(e: reqwest::Error) -> FetchError {
    FetchError::Network(
        std::error::Error::source(&e)
            .map(|s| format!("{e}: {s}"))
            .unwrap_or_else(|| e.to_string()),
    )
}

/// Whether an address is on the public Internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        // Carrier-grade NAT 100.64.0.0/10, benchmarking 198.18.0.0/15, IETF 192.0.0.0/24.
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 198 && (b & 0xfe) == 18)
        || (a == 192 && b == 0 && c == 0);
    !special
}

/// Only global unicast (2000::/3) counts, without the ranges that embed IPv4 addresses or
/// are reserved. IPv4-mapped (`::ffff:…`), NAT64 (`64:ff9b::/96`), unique local, link-local
/// and multicast addresses all lie outside 2000::/3.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        && s[0] != 0x2002 // 6to4
        && !(s[0] == 0x2001 && s[1] == 0) // Teredo
        && !(s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0010) // ORCHID
}

/// The guard; cheap to clone.
#[derive(Clone)]
pub struct Guard {
    opts: Options,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Default for Guard {
    fn default() -> Self {
        Guard::new(Options::default())
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("opts", &self.opts).finish()
    }
}

/// Reads PEM certificates (`fetch.ca_file`) into the DER that [`Options::extra_roots`]
/// takes; a file without one is a mistake.
pub fn read_pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let certs = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in it".into());
    }
    Ok(certs)
}

/// The TLS client settings: the public roots (webpki-roots) and `extra`; certificates
/// that do not parse are left out (they were checked when the settings were read). `None`
/// if ring's provider offered no safe protocol version (it always does).
fn tls_config(extra: &[Vec<u8>]) -> Option<std::sync::Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for der in extra {
        let _ = roots.add(rustls::pki_types::CertificateDer::from(der.clone()));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(std::sync::Arc::new(config))
}

/// A response on its way in, capped at the size its fetch allowed.
pub struct Download {
    /// Where the body comes from, after redirects.
    pub url: Url,
    /// `Content-Length`, when the server sent one.
    pub length: Option<u64>,
    response: reqwest::Response,
    max: u64,
    read: u64,
}

impl Download {
    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        let Some(chunk) = self.response.chunk().await.map_err(network)? else {
            return Ok(None);
        };
        self.read += chunk.len() as u64;
        if self.read > self.max {
            return Err(FetchError::TooLarge { max: self.max });
        }
        Ok(Some(chunk))
    }
}

impl Guard {
    pub fn new(opts: Options) -> Self {
        let tls = tls_config(&opts.extra_roots);
        Guard { opts, tls }
    }

    /// A TLS connector for a stream to an admitted address (verifying the server's
    /// certificate against the public roots and the operator's own).
    pub fn tls(&self) -> Option<tokio_rustls::TlsConnector> {
        self.tls.clone().map(tokio_rustls::TlsConnector::from)
    }

    /// Whether fetching from `ip` is allowed.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.opts.allow.iter().any(|net| net.contains(&ip))
    }

    /// Reads a URL a user gave: http or https, with a host, without credentials.
    pub fn parse(&self, raw: &str) -> Result<Url, FetchError> {
        if raw.len() > MAX_URL_LEN {
            return Err(FetchError::BadUrl);
        }
        let url = Url::parse(raw.trim()).map_err(|_| FetchError::BadUrl)?;
        check_shape(&url)?;
        Ok(url)
    }

    /// Resolves the URL's host once and checks every address it has; returns them, for the
    /// connection to use and no others.
    pub async fn admit(&self, url: &Url) -> Result<Vec<SocketAddr>, FetchError> {
        let port = url.port_or_known_default().ok_or(FetchError::BadUrl)?;
        let (name, addrs) = match url.host() {
            Some(Host::Ipv4(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
            Some(Host::Ipv6(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
            Some(Host::Domain(d)) => {
                let found: Vec<SocketAddr> = tokio::net::lookup_host((d, port))
                    .await
                    .map_err(|_| FetchError::Resolve(d.to_owned()))?
                    .collect();
                (d.to_owned(), found)
            }
            None => return Err(FetchError::BadUrl),
        };
        if addrs.is_empty() {
            return Err(FetchError::Resolve(name));
        }
        if let Some(bad) = addrs.iter().find(|a| !self.allowed(a.ip())) {
            return Err(FetchError::Forbidden {
                host: name,
                addr: bad.ip(),
            });
        }
        Ok(addrs)
    }

    /// A client that connects only to the checked addresses of `url`'s host, follows no
    /// redirect and ignores proxy variables.
    async fn client_for(
        &self,
        url: &Url,
        timeout: Duration,
    ) -> Result<reqwest::Client, FetchError> {
        let addrs = self.admit(url).await?;
        let host = url.host_str().ok_or(FetchError::BadUrl)?;
        let mut builder = reqwest::Client::builder();
        for der in &self.opts.extra_roots {
            if let Ok(cert) = reqwest::Certificate::from_der(der) {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .resolve_to_addrs(host, &addrs)
            .connect_timeout(self.opts.connect_timeout)
            .read_timeout(self.opts.read_timeout)
            .timeout(timeout)
            .user_agent(concat!("cityx/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(network)
    }

    /// POSTs `body` to a URL (webhooks) within `timeout`, and returns the 2xx status. A
    /// redirect is not followed: it counts as a failed answer, like any other non-2xx status.
    /// The answer's body is not read.
    pub async fn post(
        &self,
        raw: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<u16, FetchError> {
        let url = self.parse(raw)?;
        let client = self
            .client_for(&url, timeout.min(self.opts.timeout))
            .await?;
        let mut request = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.body(body).send().await.map_err(network)?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(FetchError::Status(status.as_u16()))
        }
    }

    /// GETs a URL, following up to the allowed number of redirects, each checked like the
    /// first. Refuses a body announced or found to be larger than `max_bytes`.
    pub async fn get(&self, raw: &str, max_bytes: u64) -> Result<Download, FetchError> {
        let mut url = self.parse(raw)?;
        for _ in 0..=self.opts.max_redirects {
            let client = self.client_for(&url, self.opts.timeout).await?;
            let response = client.get(url.clone()).send().await.map_err(network)?;
            let status = response.status();
            if status.is_redirection() {
                let next = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or(FetchError::Status(status.as_u16()))?;
                url = url.join(next).map_err(|_| FetchError::BadUrl)?;
                check_shape(&url)?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let length = response.content_length();
            if length.is_some_and(|n| n > max_bytes) {
                return Err(FetchError::TooLarge { max: max_bytes });
            }
            return Ok(Download {
                url,
                length,
                response,
                max: max_bytes,
                read: 0,
            });
        }
        Err(FetchError::TooManyRedirects(self.opts.max_redirects))
    }
}

fn check_shape(url: &Url) -> Result<(), FetchError> {
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none();
    if ok { Ok(()) } else { Err(FetchError::BadUrl) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
        ] {
            let ip: IpAddr = ip.parse().expect(ip);
            assert!(!is_public(ip), "{ip} must be refused");
        }
        for ip in [
            "1.1.1.1",
            "114.114.114.114",
            "2400:3200::1",
            "2606:4700::1111",
        ] {
            let ip: IpAddr = ip.parse().expect(ip);
            assert!(is_public(ip), "{ip} is public");
        }
    }

    #[test]
    fn operators_can_allow_networks() {
        let g = Guard::new(Options {
            allow: vec!["10.20.0.0/16".parse().expect("cidr")],
            ..Options::default()
        });
        assert!(g.allowed("10.20.3.4".parse().expect("ip")));
        assert!(!g.allowed("10.21.3.4".parse().expect("ip")));
        assert!(!g.allowed("127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn urls_must_be_plain_http_or_https() {
        let g = Guard::default();
        for bad in [
            "file:///etc/passwd",
            "ftp://example.com/a.mp4",
            "gopher://example.com/",
            "http://user:pw@example.com/a.mp4",
            "not a url",
            "",
            "data:video/mp4;base64,AAAA",
        ] {
            assert!(
                matches!(g.parse(bad), Err(FetchError::BadUrl)),
                "{bad} must be refused"
            );
        }
        assert!(
            g.parse(&format!("http://e.com/{}", "a".repeat(3000)))
                .is_err()
        );
        assert!(g.parse(" https://cdn.example.com/新闻.mp4?sig=1 ").is_ok());
    }

    #[test]
    fn refusals_name_the_host_only_when_it_is_a_name() {
        let addr: IpAddr = "127.0.0.1".parse().expect("ip");
        let by_name = FetchError::Forbidden {
            host: "localhost".into(),
            addr,
        };
        assert_eq!(
            by_name.to_string(),
            "localhost is 127.0.0.1, which is not a public address"
        );
        let literal = FetchError::Forbidden {
            host: "127.0.0.1".into(),
            addr,
        };
        assert_eq!(literal.to_string(), "127.0.0.1 is not a public address");
    }

    #[tokio::test]
    async fn local_names_and_literals_are_refused_before_any_connection() {
        let g = Guard::default();
        for url in [
            "http://127.0.0.1:9/x",
            "http://localhost:9/x",
            "http://[::1]:9/x",
            "http://[::ffff:127.0.0.1]:9/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://017700000001/",
        ] {
            let err = g.get(url, 10).await.err().expect(url);
            assert_eq!(err.code(), "forbidden_address", "{url}: {err}");
            assert!(
                err.to_string().ends_with("is not a public address"),
                "{err}"
            );
            let err = g
                .post(url, &[], b"{}".to_vec(), Duration::from_secs(1))
                .await
                .expect_err(url);
            assert_eq!(err.code(), "forbidden_address", "post {url}: {err}");
        }
    }
}
