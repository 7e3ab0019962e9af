//! The test kit: what inkspot's tests start and talk to, apart from
//! inkspot itself. Real servers on random ports (Redis, PostgreSQL and
//! SeaweedFS's S3, with TLS certificates of their own), a faulty upstream
//! for the fault matrix, a TRMNL firmware that calls like the real one,
//! and a reader of the Prometheus text. A server that is not installed
//! fails its test loudly: `scripts/test` installs them all.

pub mod faulty;
pub mod firmware;
pub mod postgres;
pub mod prom;
pub mod redis;
pub mod seaweed;
pub mod tls;

/// A surf report page in the shape of a real one.
pub fn report_page(wave: &str, headline: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html><head><title>Surf</title></head><body>
<h1>{headline}</h1>
<section id="waves"><h2>Waves</h2><span class="value"> {wave} ft</span></section>
</body></html>"#
    )
}

/// A loopback port free now, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP client for the tests' calls.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}
