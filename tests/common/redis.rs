//! A real Redis server for the tests: Debian's `redis-server` on a free
//! loopback port, with nothing saved to disk. It can be stopped and started
//! again on the same port, as an outage would. Without `redis-server` a
//! test says so and is skipped; `.ci/run` installs it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running server, stopped when dropped.
pub struct Redis {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    /// `redis://127.0.0.1:<port>/0`.
    pub url: String,
}

impl Redis {
    /// Starts a server, or `None` (with a message) when `redis-server` is
    /// not installed.
    pub fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED: Redis is not installed (Debian: apt-get install redis-server)");
            return None;
        }
        let port = super::free_port();
        let mut redis = Self {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            port,
            url: format!("redis://127.0.0.1:{port}/0"),
        };
        redis.resume();
        Some(redis)
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
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
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

    /// Whether it answers PING, spoken over a plain socket.
    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut socket) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
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
