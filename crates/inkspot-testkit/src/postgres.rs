//! A real PostgreSQL server for the tests, in a temporary folder on a free
//! loopback port: `initdb` and `pg_ctl` from Debian's `postgresql` package
//! (found on the PATH or in /usr/lib/postgresql/*/bin). PostgreSQL refuses
//! to run as root, so as root it runs as the `postgres` user. It can take
//! only TLS connections, with a certificate the test made. Without the
//! binaries the tests that need it are `#[ignore]`d (`cargo test` lists
//! them as ignored); `scripts/test` installs them and runs those tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running server, stopped when dropped.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    options: String,
    pub url: String,
}

/// The folder holding `initdb` and `pg_ctl`, if installed.
fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"));
    on_path
        .chain(debian)
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

/// Whether PostgreSQL's server binaries are installed here.
pub fn available() -> bool {
    bin_dir().is_some()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program args`, as the `postgres` user when we are root.
fn run(bin: &Path, program: &str, args: &[&str]) {
    let path = bin.join(program);
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&path);
        c
    } else {
        Command::new(&path)
    };
    let out = command.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    /// Starts a server with the database `inkspot`. A test that needs one
    /// is `#[ignore]`d, so plain `cargo test` says it did not run it; when
    /// it does run (`scripts/test` runs it), a missing PostgreSQL fails it.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Like [`Postgres::start`], for a server that takes only TLS
    /// connections, with a certificate signed by an authority made for the
    /// test; `url` asks for `sslmode=verify-full` against that authority.
    pub fn start_tls() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        let Some(bin) = bin_dir() else {
            panic!(
                "PostgreSQL is not installed (Debian: apt-get install postgresql; scripts/test installs it)"
            );
        };
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let out = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "chown: {out:?}");
        }
        let data = dir.path().join("data");
        let data = data.to_str().unwrap();
        run(
            &bin,
            "initdb",
            &[
                "-D",
                data,
                "-A",
                "trust",
                "-U",
                "inkspot",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let port = crate::free_port();
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.path().display()
        );
        let mut url = format!("postgres://inkspot@127.0.0.1:{port}/postgres");
        if tls {
            let ca = only_tls(dir.path(), Path::new(data));
            options.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
            url.push_str(&format!(
                "?sslmode=verify-full&sslrootcert={}",
                ca.display()
            ));
        }
        let server = Self {
            dir,
            bin,
            options,
            url,
        };
        server.resume();
        server
    }

    /// Starts the server (again) on its port and data.
    pub fn resume(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let args = [
            "-D",
            data.to_str().unwrap(),
            "-o",
            &self.options,
            "-l",
            log.to_str().unwrap(),
            "-w",
            "start",
        ];
        run(&self.bin, "pg_ctl", &args);
    }

    /// Stops the server at once, as an outage would; its data stays.
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        let args = [
            "-D",
            data.to_str().unwrap(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ];
        run(&self.bin, "pg_ctl", &args);
    }
}

/// Gives the server in `data` a certificate and key, and takes TCP
/// connections only over TLS; returns the authority's certificate, written
/// in `dir`.
fn only_tls(dir: &Path, data: &Path) -> PathBuf {
    let certs = crate::tls::Certificates::new();
    std::fs::write(data.join("server.crt"), &certs.cert).unwrap();
    let key = data.join("server.key");
    std::fs::write(&key, &certs.key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\n";
    std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
    if is_root() {
        let out = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(data)
            .output()
            .unwrap();
        assert!(out.status.success(), "chown: {out:?}");
    }
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &certs.ca).unwrap();
    ca
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let path = self.bin.join("pg_ctl");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let _ = command
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
