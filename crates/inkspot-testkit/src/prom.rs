//! Reading `/metrics` in the tests: parsed by a third-party Prometheus
//! text parser, after a strict check of every line's grammar (the parser
//! skips lines it cannot read, which would hide a malformed one).

use prometheus_parse::{Sample, Scrape, Value};

/// The metrics text of the service at `base` (or `base` is the full URL).
pub async fn scrape_text(url: &str) -> String {
    let r = crate::client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let kind = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    r.text().await.unwrap()
}

/// Checks every line of `text` against the OpenMetrics text grammar and
/// parses it.
pub fn parse(text: &str) -> Scrape {
    let name = r"[a-zA-Z_:][a-zA-Z0-9_:]*";
    let label = r#"[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*""#;
    let value = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|Inf|NaN))";
    let sample = format!(r"^{name}(?:\{{(?:{label})(?:,{label})*\}})? {value}$");
    let sample = regex::Regex::new(&sample).unwrap();
    let meta = regex::Regex::new(&format!(
        r"^# (?:HELP {name} .*|TYPE {name} (?:counter|gauge|histogram|info|unknown)|UNIT {name} \w+)$"
    ))
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "OpenMetrics ends with # EOF");
    for line in &lines[..lines.len() - 1] {
        assert!(
            sample.is_match(line) || meta.is_match(line),
            "not a metrics line: {line:?}"
        );
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of `name` with `labels` in the metrics at `base`/metrics,
/// scraped and checked now.
pub async fn value_at(base: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(
        &parse(&scrape_text(&format!("{base}/metrics")).await),
        name,
        labels,
    )
}

/// The value of the sample `name` with (at least) `labels`; 0 when absent.
pub fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let matches = |s: &&Sample| {
        s.metric == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(k).is_some_and(|x| x == *v))
    };
    scrape
        .samples
        .iter()
        .filter(matches)
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

/// Every series `text` has: each sample line's name and labels.
pub fn series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(k, _)| k.to_string()))
        .collect()
}
