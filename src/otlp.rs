//! Request traces exported over OTLP/HTTP (`[otlp]`, built with the `otlp`
//! feature): the spans the service already makes (a request's, with its
//! id and route, and the render it started) go to a collector in batches.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::registry::LookupSpan;

use crate::config::OtlpConfig;

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP exporter: {0}")]
pub struct OtlpError(String);

/// The provider, which must be shut down at exit to send what is left.
pub struct Exporter(SdkTracerProvider);

impl Exporter {
    /// Sends the spans not yet sent, and stops.
    pub fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("warning: OTLP export at shutdown: {e}");
        }
    }
}

/// The tracing layer that exports to `config.endpoint`, and its exporter.
pub fn layer<S>(
    config: &OtlpConfig,
    endpoint: &str,
) -> Result<(impl tracing_subscriber::Layer<S>, Exporter), OtlpError>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_headers(Default::default())
        .build()
        .map_err(|e| OtlpError(e.to_string()))?;
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::TraceIdRatioBased(config.sample_ratio))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("inkspot");
    let layer = tracing_opentelemetry::layer().with_tracer(tracer);
    Ok((layer, Exporter(provider)))
}
