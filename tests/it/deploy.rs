//! The deployment examples in `deploy/` stay true: the environment the
//! compose file gives each replica loads with the shipped config, and the
//! load balancer and Kubernetes probes ask the endpoints that exist.

use crate::common::{repo_path, text_of};

/// The `KEY: value` lines of the replicas' environment in the compose file.
fn compose_environment() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_path("deploy/docker-compose.yml")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("INKSPOT_") || l.starts_with("AWS_"))
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| {
            let v = v.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "password");
            (k.to_string(), v)
        })
        .collect()
}

#[test]
fn the_compose_environment_loads_with_the_shipped_config() {
    let env = compose_environment();
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    for needed in [
        "INKSPOT_DATABASE_URL",
        "INKSPOT_REDIS_URL",
        "INKSPOT_STORAGE_BACKEND",
        "INKSPOT_STORAGE_BUCKET",
        "INKSPOT_STORAGE_ENDPOINT",
        "INKSPOT_TRUSTED_PROXIES",
    ] {
        assert!(names.contains(&needed), "{needed} in {names:?}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .args(["check", "--config"])
        .arg(repo_path("config.toml"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text_of(&out));
    // And a mistake in it is caught by name.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .args(["check", "--config"])
        .arg(repo_path("config.toml"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("INKSPOT_REDIS_URL", "http://redis:6379")
        .output()
        .unwrap();
    let text = text_of(&out);
    assert!(
        !out.status.success() && text.contains("coordination.redis_url"),
        "{text}"
    );
}

#[test]
fn health_checks_ask_healthz_and_readyz() {
    let caddy = std::fs::read_to_string(repo_path("deploy/Caddyfile")).unwrap();
    assert!(caddy.contains("health_uri /readyz"), "{caddy}");
    let k8s = std::fs::read_to_string(repo_path("deploy/kubernetes/inkspot.yaml")).unwrap();
    let after = |probe: &str| {
        let at = k8s.find(probe).unwrap_or_else(|| panic!("{probe} missing"));
        k8s[at..].lines().nth(1).unwrap_or_default().to_string()
    };
    assert!(after("livenessProbe:").contains("path: /healthz"));
    assert!(after("readinessProbe:").contains("path: /readyz"));
    for kind in [
        "kind: Deployment",
        "kind: Service",
        "kind: HorizontalPodAutoscaler",
    ] {
        assert!(k8s.contains(kind), "{kind}");
    }
}
