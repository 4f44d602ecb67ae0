//! The server's Prometheus metrics: requests by endpoint and verdict, violations by policy, a
//! latency histogram, the policy set's generation and load time, its parameter objects no
//! binding selects, reload failures, the
//! serving certificate's expiry, the evaluations running and refused for want of a slot, and the
//! live checks' calls to Google (calls, cache hits, errors per API).
//! Served as text on the metrics listener.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: String,
    pub verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// The Google API, by gcloud's name: `cloudkms`, `cloudresourcemanager`, `artifactregistry`.
    pub api: String,
}

/// The live checks' calls to Google, by API: requests sent (each attempt), answers from the
/// cache, calls that ended in an error. Clones count into the same series.
#[derive(Clone, Debug, Default)]
pub struct GoogleMetrics {
    pub calls: Family<ApiLabels, Counter>,
    pub cache_hits: Family<ApiLabels, Counter>,
    pub errors: Family<ApiLabels, Counter>,
}

impl crate::google::CallObserver for GoogleMetrics {
    fn observe(&self, api: crate::google::Api, event: crate::google::CallEvent) {
        use crate::google::CallEvent;
        let family = match event {
            CallEvent::Sent => &self.calls,
            CallEvent::CacheHit => &self.cache_hits,
            CallEvent::Failed => &self.errors,
        };
        family
            .get_or_create(&ApiLabels {
                api: api.name().to_owned(),
            })
            .inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `policies` or `certificate`.
    pub what: String,
    /// Why: `invalid` (does not parse or compile), `unreadable`, `unstable` (the files kept
    /// changing while read), `binds-nothing`, or `shrink` (fewer policies bound than serving).
    pub reason: String,
}

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub violations: Family<PolicyLabels, Counter>,
    pub latency: Family<EndpointLabels, Histogram>,
    pub policy_generation: Gauge,
    pub policy_loaded_seconds: Gauge<f64, AtomicU64>,
    pub policies_loaded: Gauge,
    /// Parameter objects in the serving set that no binding selects (the log names them).
    pub ignored_params: Gauge,
    pub reload_failures: Family<ReloadLabels, Counter>,
    pub certificate_expiry_seconds: Gauge<f64, AtomicU64>,
    /// Evaluations running on the evaluation threads now.
    pub evaluations_running: Gauge,
    /// Requests answered 429 because every evaluation slot stayed taken.
    pub evaluations_refused: Counter,
    /// The live checks' calls to Google (`--live`).
    pub google: GoogleMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cmek_gate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by endpoint and verdict",
            requests.clone(),
        );
        let violations = Family::<PolicyLabels, Counter>::default();
        registry.register(
            "violations",
            "Denying violations, by policy",
            violations.clone(),
        );
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        registry.register(
            "request_duration_seconds",
            "Time from a request's body being read to its answer, by endpoint",
            latency.clone(),
        );
        let policy_generation = Gauge::default();
        registry.register(
            "policy_set_generation",
            "How many policy sets have been loaded since start (1 = the first)",
            policy_generation.clone(),
        );
        let policy_loaded_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "policy_set_loaded_timestamp_seconds",
            "Unix time the serving policy set was loaded",
            policy_loaded_seconds.clone(),
        );
        let policies_loaded = Gauge::default();
        registry.register(
            "policies",
            "Policies in the serving set",
            policies_loaded.clone(),
        );
        let ignored_params = Gauge::default();
        registry.register(
            "ignored_params",
            "Parameter objects in the serving set that no binding selects: the policies never read them (the log names each)",
            ignored_params.clone(),
        );
        let reload_failures = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "reload_failures",
            "Reloads that failed and left the previous policies or certificate serving",
            reload_failures.clone(),
        );
        let certificate_expiry_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "Unix time the serving certificate expires",
            certificate_expiry_seconds.clone(),
        );
        let evaluations_running = Gauge::default();
        registry.register(
            "evaluations_running",
            "Evaluations running now (at most --max-concurrent-evaluations)",
            evaluations_running.clone(),
        );
        let evaluations_refused = Counter::default();
        registry.register(
            "evaluations_refused",
            "Requests answered 429 because no evaluation slot freed within the queue timeout",
            evaluations_refused.clone(),
        );
        let google = GoogleMetrics::default();
        registry.register(
            "google_calls",
            "Requests the live checks sent to a Google API (each attempt), by API",
            google.calls.clone(),
        );
        registry.register(
            "google_cache_hits",
            "Live-check questions answered from the cache, by API",
            google.cache_hits.clone(),
        );
        registry.register(
            "google_errors",
            "Live-check calls to a Google API that ended in an error (after retries), by API",
            google.errors.clone(),
        );
        Metrics {
            registry,
            requests,
            violations,
            latency,
            policy_generation,
            policy_loaded_seconds,
            policies_loaded,
            ignored_params,
            reload_failures,
            certificate_expiry_seconds,
            evaluations_running,
            evaluations_refused,
            google,
        }
    }

    pub fn request(&self, endpoint: &str, verdict: &str, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_owned(),
                verdict: verdict.to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_owned(),
            })
            .observe(seconds);
    }

    pub fn violation(&self, policy: &str) {
        self.violations
            .get_or_create(&PolicyLabels {
                policy: policy.to_owned(),
            })
            .inc();
    }

    pub fn reload_failed(&self, what: &str, reason: &str) {
        self.reload_failures
            .get_or_create(&ReloadLabels {
                what: what.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_was_counted() {
        let metrics = Metrics::new();
        metrics.request("validate", "denied", 0.0002);
        metrics.violation("cmek-required");
        metrics.reload_failed("policies", "shrink");
        metrics.policy_generation.set(3);
        let text = metrics.encode();
        for line in [
            "cmek_gate_requests_total{endpoint=\"validate\",verdict=\"denied\"} 1",
            "cmek_gate_violations_total{policy=\"cmek-required\"} 1",
            "cmek_gate_reload_failures_total{what=\"policies\",reason=\"shrink\"} 1",
            "cmek_gate_policy_set_generation 3",
            "cmek_gate_request_duration_seconds_count{endpoint=\"validate\"} 1",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
