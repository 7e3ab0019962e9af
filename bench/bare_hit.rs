//! The floor for a cache hit: a bare hyper server that answers every request
//! with the same bytes and the same headers as inkspot's hit, and does
//! nothing else. `bench/serve.sh` runs it beside inkspot and nginx, so the
//! cost of the framework and of inkspot's own work can be told apart.
//!
//!     cargo run --release --example bare_hit -- FILE PORT

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_hit FILE PORT");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(&file)?);
    let etag = format!("\"{}\"", &blake3::hash(&body).to_hex()[..32]);
    let port: u16 = port.parse().expect("a port number");
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let (body, etag) = (body.clone(), etag.clone());
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<Incoming>| {
                let response = Response::builder()
                    .header("content-type", "image/png")
                    .header("content-length", body.len())
                    .header("etag", etag.as_str())
                    .header("last-modified", "Sun, 22 Nov 2026 17:30:00 GMT")
                    .header("cache-control", "public, max-age=3600")
                    .header("x-cache", "hit")
                    .body(Full::new(body.clone()))
                    .expect("valid headers");
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
