//! A real Redis server for the tests: Debian's `redis-server` on a free
//! loopback port, with nothing saved to disk, speaking plain RESP or TLS
//! with a certificate from a certificate authority made for the test. It
//! can be stopped and started again on the same port, as an outage would.
//! The tests that need it are `#[ignore]`d: `cargo test` lists them as
//! ignored, and `scripts/test` installs `redis-server` and runs them.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running server, stopped when dropped.
pub struct Redis {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    /// `redis://127.0.0.1:<port>/0`, or `rediss://` with TLS.
    pub url: String,
    /// With TLS, the PEM file of the certificate authority that signed the
    /// server's certificate.
    pub ca: Option<std::path::PathBuf>,
}

impl Redis {
    /// Starts a server. A test that needs one is `#[ignore]`d, so plain
    /// `cargo test` says it did not run it; when it does run (`scripts/test`
    /// runs it), a missing `redis-server` fails it: nothing is skipped.
    pub fn start() -> Self {
        let mut redis = Self::installed();
        redis.resume();
        redis
    }

    /// A server not started yet, on a free port, if one can be.
    fn installed() -> Self {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            panic!(
                "Redis is not installed (Debian: apt-get install redis-server; scripts/test installs it)"
            );
        }
        let port = crate::free_port();
        Self {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            port,
            url: format!("redis://127.0.0.1:{port}/0"),
            ca: None,
        }
    }

    /// Starts a server that speaks only TLS, with a certificate for
    /// 127.0.0.1 signed by a certificate authority of its own (in `ca`).
    pub fn start_tls() -> Self {
        let mut redis = Self::installed();
        let dir = redis.dir.path();
        let certs = crate::tls::Certificates::new();
        for (name, pem) in [
            ("ca.pem", &certs.ca),
            ("cert.pem", &certs.cert),
            ("key.pem", &certs.key),
        ] {
            std::fs::write(dir.join(name), pem).unwrap();
        }
        redis.ca = Some(dir.join("ca.pem"));
        redis.url = format!("rediss://127.0.0.1:{}/0", redis.port);
        redis.resume();
        redis
    }

    /// Stops the server at once, as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on its port, and waits until it answers.
    pub fn resume(&mut self) {
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        command.arg("--dir").arg(self.dir.path());
        if self.ca.is_some() {
            command.args(["--port", "0", "--tls-port", &port]);
            command.args(["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"]);
            command.args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"]);
        } else {
            command.args(["--port", &port]);
        }
        let child = command
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..200 {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    /// Whether it answers PING, spoken over a plain socket; with TLS,
    /// whether it listens.
    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut socket) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        if self.ca.is_some() {
            return true;
        }
        let _ = socket.set_read_timeout(Some(Duration::from_millis(500)));
        let mut answer = [0u8; 7];
        socket.write_all(b"PING\r\n").is_ok()
            && socket.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
