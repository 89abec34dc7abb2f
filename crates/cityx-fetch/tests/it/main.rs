//! The guard against a real HTTP server on loopback (allowed by CIDR for the test): bodies
//! arrive, every redirect is checked again, and sizes are capped.

use cityx_fetch::{FetchError, Guard, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves canned answers by path; returns its port.
async fn server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let redirect = |to: String| {
                    format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n")
                        .into_bytes()
                };
                let answer: Vec<u8> = match path.as_str() {
                    "/clip.mp4" => {
                        let body = "新闻素材".repeat(1000);
                        let mut a =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                                .into_bytes();
                        a.extend_from_slice(body.as_bytes());
                        a
                    }
                    "/hop" => redirect("/clip.mp4".into()),
                    "/to-other-loopback" => redirect(format!("http://127.0.0.2:{port}/clip.mp4")),
                    "/to-v6-loopback" => redirect(format!("http://[::1]:{port}/clip.mp4")),
                    "/to-file" => redirect("file:///etc/passwd".into()),
                    "/loop" => redirect("/loop".into()),
                    "/big-announced" => {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n".to_vec()
                    }
                    "/big-chunked" => {
                        let mut a =
                            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                        for _ in 0..20 {
                            a.extend_from_slice(b"400\r\n");
                            a.extend_from_slice(&[b'x'; 1024]);
                            a.extend_from_slice(b"\r\n");
                        }
                        a.extend_from_slice(b"0\r\n\r\n");
                        a
                    }
                    _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                };
                let _ = s.write_all(&answer).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

fn guard() -> Guard {
    Guard::new(Options {
        allow: vec!["127.0.0.1/32".parse().expect("cidr")],
        max_redirects: 3,
        ..Options::default()
    })
}

async fn body(g: &Guard, url: &str, max: u64) -> Result<Vec<u8>, FetchError> {
    let mut d = g.get(url, max).await?;
    let mut out = Vec::new();
    while let Some(c) = d.chunk().await? {
        out.extend_from_slice(&c);
    }
    Ok(out)
}

#[tokio::test]
async fn fetches_follow_checked_redirects_within_limits() {
    let port = server().await;
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let g = guard();
    let want = "新闻素材".repeat(1000).into_bytes();
    assert_eq!(
        body(&g, &url("/clip.mp4"), 1 << 20).await.expect("clip"),
        want
    );
    let d = g.get(&url("/hop"), 1 << 20).await.expect("redirect");
    assert_eq!(d.url.path(), "/clip.mp4");
    assert_eq!(d.length, Some(want.len() as u64));

    // The default guard allows nothing local, not even the test server.
    let strict = Guard::default();
    assert_eq!(
        strict
            .get(&url("/clip.mp4"), 10)
            .await
            .err()
            .map(|e| e.code()),
        Some("forbidden_address")
    );

    for (path, code) in [
        ("/to-other-loopback", "forbidden_address"),
        ("/to-v6-loopback", "forbidden_address"),
        ("/to-file", "bad_url"),
        ("/loop", "too_many_redirects"),
        ("/missing", "http_status"),
        ("/big-announced", "too_large"),
    ] {
        let err = g.get(&url(path), 100_000).await.err().expect(path);
        assert_eq!(err.code(), code, "{path}: {err}");
    }
    // No length announced: the cap holds while the body arrives.
    let err = body(&g, &url("/big-chunked"), 10_000)
        .await
        .expect_err("cap");
    assert!(matches!(err, FetchError::TooLarge { max: 10_000 }), "{err}");
    assert_eq!(
        body(&g, &url("/big-chunked"), 1 << 20)
            .await
            .expect("fits")
            .len(),
        20 * 1024
    );
}
