//! nginx with its RTMP module (Debian's `libnginx-mod-rtmp`): a real RTMP server for tests
//! (an origin to pull from, a partner to push to) and the reference of the live bench.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// nginx with the RTMP module: HLS of 2-second fragments, one directory per stream.
pub struct NginxRtmp {
    pub child: Child,
    pub port: u16,
    /// Where it writes HLS, a directory per stream.
    pub hls: PathBuf,
    _prefix: tempfile::TempDir,
}

impl NginxRtmp {
    /// Starts nginx with its RTMP application `live` on a free loopback port, making HLS of
    /// `segment_secs` fragments.
    pub fn start(segment_secs: f64) -> NginxRtmp {
        let prefix = tempfile::tempdir().expect("dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let hls = prefix.path().join("hls");
        std::fs::create_dir_all(&hls).expect("hls dir");
        let module = ["/usr/lib/nginx/modules/ngx_rtmp_module.so"]
            .into_iter()
            .find(|m| Path::new(m).exists())
            .expect("libnginx-mod-rtmp (scripts/test and scripts/bench live install it)");
        let conf = format!(
            "load_module {module};\ndaemon off;\nmaster_process on;\nworker_processes 1;\n\
             user root;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
               application live {{ live on; hls on; hls_path {hls}; hls_nested on;\n\
                 hls_fragment {segment_secs}s; hls_playlist_length 10m; hls_cleanup on; }} }} }}\n",
            p = prefix.path().display(),
            hls = hls.display(),
        );
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("conf");
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
        NginxRtmp {
            child,
            port,
            hls,
            _prefix: prefix,
        }
    }
}

impl Drop for NginxRtmp {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
