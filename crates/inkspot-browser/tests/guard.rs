//! The address guard alone, over real sockets: a guard opened ahead (for a
//! spare context) passes nothing until it is armed with its page's rules,
//! and is armed once.

use std::sync::Arc;

use inkspot_browser::guard::{Guard, Rules};
use inkspot_browser::policy::Policy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An upstream on loopback that answers every request with "hello".
async fn upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                    )
                    .await;
            });
        }
    });
    address
}

/// What the guard answers a plain-HTTP request for `target` through it.
async fn through(guard: &Guard, target: &str) -> String {
    let proxy = guard.proxy().trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let head = format!("GET http://{target}/ HTTP/1.1\r\nHost: {target}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        s.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the guard neither answered nor closed");
    String::from_utf8_lossy(&answer).to_string()
}

fn rules(allow: &[&str]) -> Rules {
    let allow: Vec<String> = allow.iter().map(|a| a.to_string()).collect();
    Rules {
        policy: Arc::new(Policy::new(&allow)),
        only: None,
        site: None,
        max_bytes: 1 << 20,
        max_requests: 10,
    }
}

#[tokio::test]
async fn an_unarmed_guard_passes_nothing_and_is_armed_once() {
    let target = upstream().await;
    let guard = Guard::start("127.0.0.1".parse().unwrap()).await.unwrap();
    assert_eq!(through(&guard, &target).await, "", "closed unanswered");

    assert!(guard.arm(rules(&["127.0.0.1"])));
    let answer = through(&guard, &target).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"),
        "{answer}"
    );

    // A second arming changes nothing: the first rules stay.
    assert!(!guard.arm(rules(&[])));
    let again = through(&guard, &target).await;
    assert!(again.ends_with("hello"), "{again}");
}

#[tokio::test]
async fn an_armed_guard_refuses_what_its_rules_refuse() {
    let target = upstream().await;
    let guard = Guard::start("127.0.0.1".parse().unwrap()).await.unwrap();
    assert!(guard.arm(rules(&[])));
    let answer = through(&guard, &target).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(!answer.contains("hello"));
    assert!(guard.usage().refused().is_some());
}
