//! What the API gate does with a request, decided on its normalised form. Pure.
//!
//! [`plan`] checks the `Host` header ([`super::host`]), normalises the target ([`super::path`]),
//! refuses method overrides, and sorts the request into one of three routes: a write the gate
//! judges, a write on the [`PASS_THROUGH`] list, or a read (GET or HEAD without a body).
//! Everything else is refused with 403: a write the gate does not understand is never forwarded.

use super::host::{self, HostError};
use super::path::{self, PathError, Target};
use super::{ApiVersion, Write};

/// Request headers that ask a server to act as another method than the request line's. Google's
/// front end honours `X-HTTP-Method-Override`; the gate refuses every request that carries one
/// of these, whatever its value, rather than bet on which the upstream honours.
pub const METHOD_OVERRIDE_HEADERS: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Whether a query parameter name asks for another method (`$httpMethod`, `_method`,
/// `X-HTTP-Method-Override`, ...): refused like the headers.
fn is_method_override_parameter(name: &str) -> bool {
    let folded: String = name
        .trim_start_matches(['$', '_'])
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    matches!(
        folded.as_str(),
        "method"
            | "httpmethod"
            | "methodoverride"
            | "xhttpmethodoverride"
            | "xhttpmethod"
            | "xmethodoverride"
    )
}

/// A write that is forwarded without being judged: it cannot create a workload, nor change a
/// workload's key. One row per request shape, as the docs list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassThrough {
    pub method: &'static str,
    /// The normalised path: `*` is one segment (without `:`), `*:verb` a segment with that
    /// custom verb.
    pub path: &'static str,
    /// Why it is safe to forward unjudged.
    pub why: &'static str,
}

const DELETE: &str = "deletes: it creates nothing and changes no key";
const RUN: &str = "runs an execution of the job as it is; the overrides (args, env, task count, timeout) cannot change its key";
const CANCEL: &str = "stops an execution";
const IAM: &str = "changes who may call the resource, not what runs or how it is encrypted (`--allow-unauthenticated`, `add-iam-policy-binding`)";
const TEST_IAM: &str = "reads the caller's permissions";
const DOMAIN: &str = "maps a domain to a service; it runs nothing";
const WAIT: &str = "waits for an operation";
const BUILD: &str = "builds an image from uploaded source (`deploy --source`); it deploys nothing: the create or replace that follows is judged";

/// The writes forwarded unjudged. Anything else that is not a read or a judged write is refused.
pub const PASS_THROUGH: &[PassThrough] = &[
    PassThrough {
        method: "DELETE",
        path: "/apis/serving.knative.dev/v1/namespaces/*/services/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/apis/serving.knative.dev/v1/namespaces/*/revisions/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/apis/run.googleapis.com/v1/namespaces/*/jobs/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/apis/run.googleapis.com/v1/namespaces/*/executions/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/apis/run.googleapis.com/v1/namespaces/*/workerpools/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/apis/domains.cloudrun.com/v1/namespaces/*/domainmappings/*",
        why: DELETE,
    },
    PassThrough {
        method: "POST",
        path: "/apis/domains.cloudrun.com/v1/namespaces/*/domainmappings",
        why: DOMAIN,
    },
    PassThrough {
        method: "POST",
        path: "/apis/run.googleapis.com/v1/namespaces/*/jobs/*:run",
        why: RUN,
    },
    PassThrough {
        method: "POST",
        path: "/apis/run.googleapis.com/v1/namespaces/*/executions/*:cancel",
        why: CANCEL,
    },
    PassThrough {
        method: "DELETE",
        path: "/v1/projects/*/locations/*/services/*",
        why: DELETE,
    },
    PassThrough {
        method: "POST",
        path: "/v1/projects/*/locations/*/services/*:setIamPolicy",
        why: IAM,
    },
    PassThrough {
        method: "POST",
        path: "/v1/projects/*/locations/*/services/*:testIamPermissions",
        why: TEST_IAM,
    },
    PassThrough {
        method: "POST",
        path: "/v1/projects/*/locations/*/jobs/*:setIamPolicy",
        why: IAM,
    },
    PassThrough {
        method: "POST",
        path: "/v1/projects/*/locations/*/jobs/*:testIamPermissions",
        why: TEST_IAM,
    },
    PassThrough {
        method: "DELETE",
        path: "/v2/projects/*/locations/*/services/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/v2/projects/*/locations/*/services/*/revisions/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/v2/projects/*/locations/*/jobs/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/v2/projects/*/locations/*/jobs/*/executions/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/v2/projects/*/locations/*/workerPools/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/v2/projects/*/locations/*/operations/*",
        why: DELETE,
    },
    PassThrough {
        method: "POST",
        path: "/v2/projects/*/locations/*/jobs/*:run",
        why: RUN,
    },
    PassThrough {
        method: "POST",
        path: "/v2/projects/*/locations/*/jobs/*/executions/*:cancel",
        why: CANCEL,
    },
    PassThrough {
        method: "POST",
        path: "/v2/projects/*/locations/*/operations/*:wait",
        why: WAIT,
    },
    PassThrough {
        method: "POST",
        path: "/v2/projects/*/locations/*/services/*:setIamPolicy",
        why: IAM,
    },
    PassThrough {
        method: "POST",
        path: "/v2/projects/*/locations/*/services/*:testIamPermissions",
        why: TEST_IAM,
    },
    PassThrough {
        method: "POST",
        path: "/v2/projects/*/locations/*/jobs/*:setIamPolicy",
        why: IAM,
    },
    PassThrough {
        method: "POST",
        path: "/v2/projects/*/locations/*/jobs/*:testIamPermissions",
        why: TEST_IAM,
    },
    PassThrough {
        method: "POST",
        path: "/v2/projects/*/locations/*/workerPools/*:setIamPolicy",
        why: IAM,
    },
    PassThrough {
        method: "POST",
        path: "/v2/projects/*/locations/*/workerPools/*:testIamPermissions",
        why: TEST_IAM,
    },
    PassThrough {
        method: "DELETE",
        path: "/v1/projects/*/locations/*/revisions/*",
        why: DELETE,
    },
    PassThrough {
        method: "DELETE",
        path: "/v1/projects/*/locations/*/domainmappings/*",
        why: DELETE,
    },
    PassThrough {
        method: "POST",
        path: "/v1/projects/*/locations/*/domainmappings",
        why: DOMAIN,
    },
    PassThrough {
        method: "DELETE",
        path: "/v1/projects/*/locations/*/operations/*",
        why: DELETE,
    },
    PassThrough {
        method: "POST",
        path: "/v1/projects/*/locations/*/operations/*:wait",
        why: WAIT,
    },
    PassThrough {
        method: "POST",
        path: "/v1/projects/*/locations/*/workerpools/*:setIamPolicy",
        why: IAM,
    },
    PassThrough {
        method: "POST",
        path: "/v1/projects/*/locations/*/workerpools/*:testIamPermissions",
        why: TEST_IAM,
    },
    PassThrough {
        method: "DELETE",
        path: "/v2/projects/*/locations/*/workerPools/*/revisions/*",
        why: DELETE,
    },
    PassThrough {
        method: "POST",
        path: "/v2/projects/*/locations/*/builds:submit",
        why: BUILD,
    },
];

impl PassThrough {
    fn matches(&self, method: &str, segments: &[String]) -> bool {
        let pattern: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        method == self.method
            && pattern.len() == segments.len()
            && pattern
                .iter()
                .zip(segments)
                .all(|(p, s)| match p.split_once(':') {
                    None if *p == "*" => !s.is_empty() && !s.contains(':'),
                    None => p == s,
                    Some((name, verb)) => s.split_once(':').is_some_and(|(n, v)| {
                        !n.is_empty() && v == verb && !v.contains(':') && (name == "*" || name == n)
                    }),
                })
    }
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A create or replace: judged, then forwarded as judged.
    Judge(Write),
    /// A write on the pass-through list: forwarded unjudged (its body within the size limit).
    PassThrough(&'static PassThrough),
    /// GET or HEAD without a body: forwarded without a body.
    Read,
}

/// A request refused before it reaches the upstream: the HTTP status, Google's status name,
/// and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub status: &'static str,
    pub message: String,
}

impl Refusal {
    fn invalid(message: impl std::fmt::Display) -> Refusal {
        Refusal {
            code: 400,
            status: "INVALID_ARGUMENT",
            message: format!("cmek-gate: {message}"),
        }
    }

    fn forbidden(message: impl std::fmt::Display) -> Refusal {
        Refusal {
            code: 403,
            status: "PERMISSION_DENIED",
            message: format!("cmek-gate: {message}"),
        }
    }
}

impl From<HostError> for Refusal {
    fn from(e: HostError) -> Refusal {
        match e {
            HostError::NotThisGate { .. } => Refusal::forbidden(e),
            _ => Refusal::invalid(e),
        }
    }
}

impl From<PathError> for Refusal {
    fn from(e: PathError) -> Refusal {
        Refusal::invalid(e)
    }
}

/// The parts of a request the gate decides on, as received.
#[derive(Debug, Clone, Default)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// The path as received (percent-encoded).
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The request line carried a scheme or authority (absolute form): refused.
    pub absolute_form: bool,
    /// The values of every `Host` header.
    pub hosts: Vec<&'a [u8]>,
    /// The request carries one of [`METHOD_OVERRIDE_HEADERS`].
    pub method_override_header: bool,
    /// The request has a body (a non-zero `Content-Length`, or `Transfer-Encoding`).
    pub has_body: bool,
}

/// What the gate does with an accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The region parsed from the `Host` header: it alone selects the upstream.
    pub region: Option<String>,
    /// The normalised target: what is judged and what is forwarded.
    pub target: Target,
    pub route: Route,
}

/// Decides what to do with a request, or why it is refused.
pub fn plan(head: &RequestHead, gate_host: Option<&str>) -> Result<Plan, Refusal> {
    if head.absolute_form {
        return Err(Refusal::invalid(
            "the request target must be a path, not an absolute URL",
        ));
    }
    let region = host::region_from_host(&head.hosts, gate_host)?;
    let target = path::normalise(head.path, head.query)?;
    if head.method_override_header {
        return Err(Refusal::forbidden(
            "method-override headers (X-HTTP-Method-Override and the like) are refused",
        ));
    }
    if let Some((name, _)) = target
        .query
        .iter()
        .find(|(name, _)| is_method_override_parameter(name))
    {
        return Err(Refusal::forbidden(format!(
            "the method-override query parameter {name:?} is refused"
        )));
    }
    let route = classify(head.method, &target, head.has_body)?;
    Ok(Plan {
        region,
        target,
        route,
    })
}

const V1_RESOURCES: &[(&str, &str, &str)] = &[
    ("serving.knative.dev", "services", "Service"),
    ("run.googleapis.com", "jobs", "Job"),
    ("run.googleapis.com", "workerpools", "WorkerPool"),
];

const V2_RESOURCES: &[(&str, &str, &str, &str)] = &[
    ("services", "serviceId", "serving.knative.dev", "Service"),
    ("jobs", "jobId", "run.googleapis.com", "Job"),
    (
        "workerPools",
        "workerPoolId",
        "run.googleapis.com",
        "WorkerPool",
    ),
];

/// A resource name as Cloud Run allows it (lower-case letters, digits, hyphens).
fn is_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Sorts a normalised request into its route, or refuses it.
pub fn classify(method: &str, target: &Target, has_body: bool) -> Result<Route, Refusal> {
    if let Some(write) = classify_write(method, target)? {
        return Ok(Route::Judge(write));
    }
    if let Some(row) = PASS_THROUGH
        .iter()
        .find(|row| row.matches(method, &target.segments))
    {
        return Ok(Route::PassThrough(row));
    }
    if matches!(method, "GET" | "HEAD") && !has_body {
        return Ok(Route::Read);
    }
    Err(Refusal::forbidden(format!(
        "{method} {} is not a write the gate judges nor on its pass-through list, and is not forwarded (see docs/cloud-run-api-gate.md)",
        target.path()
    )))
}

/// The create or replace a request is, `None` when it is not one, or a refusal for one the gate
/// cannot judge (a partial update, a location that is not a region, a malformed name).
fn classify_write(method: &str, target: &Target) -> Result<Option<Write>, Refusal> {
    let segments: Vec<&str> = target.segments.iter().map(String::as_str).collect();
    let name_of = |name: &str| -> Result<Option<String>, Refusal> {
        if is_resource_name(name) {
            Ok(Some(name.to_owned()))
        } else {
            Err(Refusal::invalid(format!(
                "{name:?} is not a resource name (lower-case letters, digits and hyphens)"
            )))
        }
    };
    let region_of = |location: &str| -> Result<Option<String>, Refusal> {
        if host::is_region(location) {
            Ok(Some(location.to_owned()))
        } else {
            Err(Refusal::forbidden(format!(
                "the location {location:?} is not a region; writes are judged per region"
            )))
        }
    };
    let write = match segments.as_slice() {
        ["apis", group, "v1", "namespaces", ns, plural, rest @ ..] => {
            let Some((group, _, kind)) = V1_RESOURCES
                .iter()
                .find(|(g, p, _)| g == group && p == plural)
            else {
                return Ok(None);
            };
            let (operation, name) = match (method, rest) {
                ("POST", []) => ("CREATE", None),
                ("PUT", [name]) if !name.contains(':') => ("UPDATE", name_of(name)?),
                _ => return Ok(None),
            };
            Write {
                version: ApiVersion::V1,
                group,
                kind,
                namespace: (*ns).to_owned(),
                location: None,
                name,
                operation,
            }
        }
        ["v1", "projects", project, "locations", location, "services", rest @ ..] => {
            let (operation, name) = match (method, rest) {
                ("POST", []) => ("CREATE", None),
                ("PUT", [name]) if !name.contains(':') => ("UPDATE", name_of(name)?),
                _ => return Ok(None),
            };
            Write {
                version: ApiVersion::V1,
                group: "serving.knative.dev",
                kind: "Service",
                namespace: (*project).to_owned(),
                location: region_of(location)?,
                name,
                operation,
            }
        }
        ["v2", "projects", project, "locations", location, plural, rest @ ..] => {
            let Some((_, id_param, group, kind)) = V2_RESOURCES.iter().find(|(p, ..)| p == plural)
            else {
                return Ok(None);
            };
            let (operation, name) = match (method, rest) {
                ("POST", []) => (
                    "CREATE",
                    match target.parameter(id_param) {
                        Some(id) => name_of(id)?,
                        None => None,
                    },
                ),
                ("PATCH", [name]) if !name.contains(':') => ("UPDATE", name_of(name)?),
                _ => return Ok(None),
            };
            if target.parameter("updateMask").is_some() {
                return Err(Refusal::forbidden(
                    "a partial update (updateMask) cannot be judged without the current resource; send the whole resource",
                ));
            }
            Write {
                version: ApiVersion::V2,
                group,
                kind,
                namespace: (*project).to_owned(),
                location: region_of(location)?,
                name,
                operation,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(write))
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
