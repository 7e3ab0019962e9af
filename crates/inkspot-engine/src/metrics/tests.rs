//! The metrics' text: counts and gauges as Prometheus reads them.

use super::*;

#[test]
fn counts_show_in_the_text() {
    let m = Metrics::new();
    m.request("/image", 200, "hit", Duration::from_millis(2));
    m.request("/image", 200, "hit", Duration::from_millis(3));
    m.refuse("rate_limited");
    let text = m.encode(&Gauges {
        queued: 3,
        ..Gauges::default()
    });
    assert!(
        text.contains(
            "inkspot_http_requests_total{route=\"/image\",status=\"200\",cache=\"hit\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains("inkspot_requests_refused_total{reason=\"rate_limited\"} 1"));
    assert!(text.contains("inkspot_render_queue_depth 3"));
    assert!(text.contains("inkspot_build_info{version="));
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn services_and_pending_writes_show_as_gauges() {
    let m = Metrics::new();
    let text = m.encode(&Gauges {
        services: vec![("storage", false), ("database", true)],
        pending_writes: 4,
        ..Gauges::default()
    });
    assert!(
        text.contains("inkspot_service_up{service=\"storage\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("inkspot_service_up{service=\"database\"} 1"),
        "{text}"
    );
    assert!(
        !text.contains("service=\"coordination\""),
        "only services in use"
    );
    assert!(text.contains("inkspot_storage_pending_writes 4"), "{text}");
}
