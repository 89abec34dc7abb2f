//! nginx as the tests' and benches' real peer: [`Nginx::start`] runs it on a configuration in
//! a temporary prefix and stops it (with its workers) when dropped; [`NginxRtmp`] is nginx
//! with its RTMP module (Debian's `libnginx-mod-rtmp`), an origin to pull from, a partner to
//! push to and the reference of the live bench.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx, on a loopback port of its own, in a temporary prefix.
pub struct Nginx {
    pub child: Child,
    pub port: u16,
    pub prefix: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with the configuration `conf` makes of the prefix and a free port (its
    /// text is `nginx.conf`), and waits until the port takes connections.
    pub fn start(conf: impl FnOnce(&Path, u16) -> String) -> Nginx {
        let prefix = tempfile::tempdir().expect("dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf(prefix.path(), port)).expect("conf");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(&conf_path)
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx {
            child,
            port,
            prefix,
        }
    }
}

impl Nginx {
    /// nginx serving the files under `root` over HTTP, tuned as a CDN edge would be
    /// (`sendfile`, an open-file cache, long keep-alive), the serving benches' reference.
    pub fn files(root: &Path) -> Nginx {
        Nginx::start(|p, port| {
            format!(
                "daemon off;\nmaster_process on;\nworker_processes 2;\nuser root;\n\
                 worker_rlimit_nofile 8192;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n\
                   keepalive_requests 100000;\n  open_file_cache max=1000 inactive=60s;\n\
                   client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
                   fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n\
                   scgi_temp_path {p}/scgi;\n\
                   types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/mp4 mp4; \
                   image/jpeg jpg; }}\n\
                   server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n",
                p = p.display(),
                root = root.display(),
            )
        })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: the master stops its workers too (SIGKILL would leave them running,
        // holding the port).
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// nginx with the RTMP module: application `live`, HLS of fragments, a directory per stream.
pub struct NginxRtmp {
    pub nginx: Nginx,
    pub port: u16,
    /// Where it writes HLS, a directory per stream.
    pub hls: PathBuf,
}

impl NginxRtmp {
    /// Starts nginx with its RTMP application `live` on a free loopback port, making HLS of
    /// `segment_secs` fragments.
    pub fn start(segment_secs: f64) -> NginxRtmp {
        let module = ["/usr/lib/nginx/modules/ngx_rtmp_module.so"]
            .into_iter()
            .find(|m| Path::new(m).exists())
            .expect("libnginx-mod-rtmp (scripts/test and scripts/bench live install it)");
        let nginx = Nginx::start(|p, port| {
            let hls = p.join("hls");
            std::fs::create_dir_all(&hls).expect("hls dir");
            format!(
                "load_module {module};\ndaemon off;\nmaster_process on;\nworker_processes 1;\n\
                 user root;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
                 events {{ worker_connections 1024; }}\n\
                 rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
                   application live {{ live on; hls on; hls_path {hls}; hls_nested on;\n\
                     hls_fragment {segment_secs}s; hls_playlist_length 10m; hls_cleanup on; }} }} }}\n",
                p = p.display(),
                hls = hls.display(),
            )
        });
        NginxRtmp {
            port: nginx.port,
            hls: nginx.prefix.path().join("hls"),
            nginx,
        }
    }
}
