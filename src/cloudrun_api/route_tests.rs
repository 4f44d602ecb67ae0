//! Tables: hostile request heads are refused, writes are judged or passed through by the table,
//! everything else that writes is refused, reads are forwarded.

use super::*;

const HOST: &[u8] = b"europe-west1-gate.test";
const SVC: &str = "/apis/serving.knative.dev/v1/namespaces/1/services";

fn head<'a>(method: &'a str, path: &'a str, query: Option<&'a str>) -> RequestHead<'a> {
    RequestHead {
        method,
        path,
        query,
        hosts: vec![HOST],
        has_body: matches!(method, "POST" | "PUT" | "PATCH"),
        ..RequestHead::default()
    }
}

/// What a plan comes to, in one word, for the tables.
fn outcome(result: &Result<Plan, Refusal>) -> String {
    match result {
        Ok(Plan {
            route: Route::Judge(write),
            target,
            ..
        }) => format!("judge {} {} {}", write.kind, write.operation, target.path()),
        Ok(Plan {
            route: Route::PassThrough(row),
            target,
            ..
        }) => format!("pass {} {}", row.method, target.path()),
        Ok(Plan {
            route: Route::Read,
            target,
            ..
        }) => format!("read {}", target.path()),
        Err(refusal) => format!("refuse {}", refusal.code),
    }
}

#[test]
fn requests_are_judged_passed_through_read_or_refused() {
    let cases: &[(&str, &str, Option<&str>, &str)] = &[
        (
            "POST",
            SVC,
            None,
            "judge Service CREATE /apis/serving.knative.dev/v1/namespaces/1/services",
        ),
        (
            "PUT",
            &format!("{SVC}/api"),
            None,
            "judge Service UPDATE /apis/serving.knative.dev/v1/namespaces/1/services/api",
        ),
        // Other spellings of the same write: normalised, then judged.
        (
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1/%73ervices",
            None,
            "judge Service CREATE /apis/serving.knative.dev/v1/namespaces/1/services",
        ),
        (
            "POST",
            "//apis/serving.knative.dev/v1/namespaces/1/services",
            None,
            "judge Service CREATE /apis/serving.knative.dev/v1/namespaces/1/services",
        ),
        (
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1/services/",
            None,
            "judge Service CREATE /apis/serving.knative.dev/v1/namespaces/1/services",
        ),
        (
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1/x/../services",
            None,
            "judge Service CREATE /apis/serving.knative.dev/v1/namespaces/1/services",
        ),
        (
            "PUT",
            "/apis/serving.knative.dev/v1/namespaces/1/services/./api/",
            None,
            "judge Service UPDATE /apis/serving.knative.dev/v1/namespaces/1/services/api",
        ),
        (
            "POST",
            "/apis/run.googleapis.com/v1/namespaces/p/jobs",
            None,
            "judge Job CREATE /apis/run.googleapis.com/v1/namespaces/p/jobs",
        ),
        (
            "PUT",
            "/apis/run.googleapis.com/v1/namespaces/p/workerpools/w",
            None,
            "judge WorkerPool UPDATE /apis/run.googleapis.com/v1/namespaces/p/workerpools/w",
        ),
        (
            "POST",
            "/v1/projects/p/locations/europe-west1/services",
            None,
            "judge Service CREATE /v1/projects/p/locations/europe-west1/services",
        ),
        (
            "PUT",
            "/v1/projects/p/locations/europe-west1/services/api",
            None,
            "judge Service UPDATE /v1/projects/p/locations/europe-west1/services/api",
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/services",
            Some("serviceId=api"),
            "judge Service CREATE /v2/projects/p/locations/europe-west1/services",
        ),
        (
            "PATCH",
            "/v2/projects/p/locations/europe-west1/services/api",
            Some("allowMissing=true"),
            "judge Service UPDATE /v2/projects/p/locations/europe-west1/services/api",
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/workerPools",
            Some("workerPoolId=w"),
            "judge WorkerPool CREATE /v2/projects/p/locations/europe-west1/workerPools",
        ),
        // Writes the gate cannot judge: refused.
        (
            "PATCH",
            "/v2/projects/p/locations/europe-west1/services/api",
            Some("updateMask=template"),
            "refuse 403",
        ),
        (
            "POST",
            "/v2/projects/p/locations/-/services",
            Some("serviceId=api"),
            "refuse 403",
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/services",
            Some("serviceId=API"),
            "refuse 400",
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/services",
            Some("serviceId=a+b"),
            "refuse 400",
        ),
        ("PATCH", SVC, None, "refuse 403"),
        ("PATCH", &format!("{SVC}/api"), None, "refuse 403"),
        ("POST", &format!("{SVC}/api"), None, "refuse 403"),
        ("PUT", SVC, None, "refuse 403"),
        ("PUT", &format!("{SVC}/api/x"), None, "refuse 403"),
        ("PUT", &format!("{SVC}/api:run"), None, "refuse 403"),
        (
            "POST",
            "/apis/run.googleapis.com/v1/namespaces/1/services",
            None,
            "refuse 403",
        ),
        (
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1/configurations",
            None,
            "refuse 403",
        ),
        (
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1/sERVICES",
            None,
            "refuse 403",
        ),
        (
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1/%2573ervices",
            None,
            "refuse 400",
        ),
        (
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1%2Fservices",
            None,
            "refuse 400",
        ),
        (
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/1/services;x",
            None,
            "refuse 400",
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1:exportImage",
            None,
            "refuse 403",
        ),
        ("OPTIONS", SVC, None, "refuse 403"),
        ("TRACE", SVC, None, "refuse 403"),
        ("CONNECT", SVC, None, "refuse 403"),
        ("DELETE", SVC, None, "refuse 403"),
        (
            "DELETE",
            "/v2/projects/p/locations/europe-west1",
            None,
            "refuse 403",
        ),
        // The pass-through list.
        (
            "DELETE",
            &format!("{SVC}/api"),
            None,
            "pass DELETE /apis/serving.knative.dev/v1/namespaces/1/services/api",
        ),
        (
            "DELETE",
            &format!("{SVC}//api/"),
            None,
            "pass DELETE /apis/serving.knative.dev/v1/namespaces/1/services/api",
        ),
        (
            "POST",
            "/apis/run.googleapis.com/v1/namespaces/p/jobs/j:run",
            None,
            "pass POST /apis/run.googleapis.com/v1/namespaces/p/jobs/j:run",
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/jobs/j%3Arun",
            None,
            "pass POST /v2/projects/p/locations/europe-west1/jobs/j:run",
        ),
        (
            "POST",
            "/v1/projects/p/locations/europe-west1/services/api:setIamPolicy",
            None,
            "pass POST /v1/projects/p/locations/europe-west1/services/api:setIamPolicy",
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/operations/o:wait",
            None,
            "pass POST /v2/projects/p/locations/europe-west1/operations/o:wait",
        ),
        (
            "POST",
            "/apis/run.googleapis.com/v1/namespaces/p/jobs/:run",
            None,
            "refuse 403",
        ),
        (
            "POST",
            "/apis/run.googleapis.com/v1/namespaces/p/jobs/j:run:x",
            None,
            "refuse 403",
        ),
        (
            "POST",
            "/apis/run.googleapis.com/v1/namespaces/p/jobs/j:runx",
            None,
            "refuse 403",
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/services/api:run",
            None,
            "refuse 403",
        ),
        (
            "GET",
            "/apis/run.googleapis.com/v1/namespaces/p/jobs/j:run",
            None,
            "read /apis/run.googleapis.com/v1/namespaces/p/jobs/j:run",
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/builds:submit",
            None,
            "pass POST /v2/projects/p/locations/europe-west1/builds:submit",
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/xbuilds:submit",
            None,
            "refuse 403",
        ),
        (
            "DELETE",
            "/v2/projects/p/locations/europe-west1/workerPools/w/revisions/r",
            None,
            "pass DELETE /v2/projects/p/locations/europe-west1/workerPools/w/revisions/r",
        ),
        // Reads.
        (
            "GET",
            &format!("{SVC}/api"),
            None,
            "read /apis/serving.knative.dev/v1/namespaces/1/services/api",
        ),
        (
            "HEAD",
            &format!("{SVC}//api"),
            None,
            "read /apis/serving.knative.dev/v1/namespaces/1/services/api",
        ),
        (
            "GET",
            "/v2/projects/p/locations/europe-west1/operations/o",
            None,
            "read /v2/projects/p/locations/europe-west1/operations/o",
        ),
    ];
    for (method, path, query, expected) in cases {
        let got = plan(&head(method, path, *query), None);
        assert_eq!(outcome(&got), *expected, "{method} {path} {query:?}");
    }
}

#[test]
fn hostile_heads_are_refused() {
    type Edit = fn(&mut RequestHead<'static>);
    let cases: &[(&str, Edit, &str)] = &[
        ("a GET with a body", |h| h.has_body = true, "refuse 403"),
        (
            "X-HTTP-Method-Override",
            |h| h.method_override_header = true,
            "refuse 403",
        ),
        (
            "$httpMethod",
            |h| h.query = Some("$httpMethod=PATCH"),
            "refuse 403",
        ),
        ("_method", |h| h.query = Some("_method=PUT"), "refuse 403"),
        (
            "encoded _method",
            |h| h.query = Some("%5Fmethod=PUT"),
            "refuse 403",
        ),
        (
            "X-HTTP-Method-Override as a parameter",
            |h| h.query = Some("X-HTTP-Method-Override=PUT"),
            "refuse 403",
        ),
        ("absolute form", |h| h.absolute_form = true, "refuse 400"),
        ("no Host", |h| h.hosts.clear(), "refuse 400"),
        (
            "two Hosts",
            |h| h.hosts.push(b"europe-west1-gate.test"),
            "refuse 400",
        ),
        (
            "a Host with a fragment",
            |h| h.hosts = vec![b"localhost:19999#-gate.example.com"],
            "refuse 400",
        ),
        (
            "a Host with userinfo",
            |h| h.hosts = vec![b"evil@europe-west1-gate.test"],
            "refuse 400",
        ),
        (
            "an IP Host",
            |h| h.hosts = vec![b"127.0.0.1:19999"],
            "refuse 400",
        ),
        (
            "an upper-case Host",
            |h| h.hosts = vec![b"EUROPE-WEST1-gate.test"],
            "refuse 400",
        ),
        (
            "a trailing dot",
            |h| h.hosts = vec![b"europe-west1-gate.test."],
            "refuse 400",
        ),
        (
            "a fine read",
            |_| {},
            "read /apis/serving.knative.dev/v1/namespaces/1/services/api",
        ),
        (
            "fields is not an override",
            |h| h.query = Some("fields=method"),
            "read /apis/serving.knative.dev/v1/namespaces/1/services/api",
        ),
    ];
    for (name, edit, expected) in cases {
        let mut request = head(
            "GET",
            "/apis/serving.knative.dev/v1/namespaces/1/services/api",
            None,
        );
        edit(&mut request);
        assert_eq!(outcome(&plan(&request, None)), *expected, "{name}");
    }
    // With the gate's host configured, another host is refused with 403.
    let mut request = head("GET", "/", None);
    request.hosts = vec![b"europe-west1-other.test"];
    assert_eq!(outcome(&plan(&request, Some("gate.test"))), "refuse 403");
    request.hosts = vec![b"europe-west1-gate.test"];
    let planned = plan(&request, Some("gate.test")).unwrap();
    assert_eq!(planned.region.as_deref(), Some("europe-west1"));
}

#[test]
fn override_parameter_names() {
    for name in [
        "method",
        "$method",
        "_method",
        "httpMethod",
        "$httpMethod",
        "HTTP_METHOD",
        "x-http-method-override",
        "X-Method-Override",
        "$x-http-method",
    ] {
        assert!(is_method_override_parameter(name), "{name}");
    }
    for name in [
        "fields",
        "alt",
        "serviceId",
        "methods",
        "updateMask",
        "$.xgafv",
    ] {
        assert!(!is_method_override_parameter(name), "{name}");
    }
}

/// The pass-through table is the one in the docs: every row appears there, as `METHOD PATH`.
#[test]
fn the_pass_through_list_is_documented() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cloud-run-api-gate.md"),
    )
    .unwrap();
    for row in PASS_THROUGH {
        let line = format!("| `{}` | `{}` |", row.method, row.path);
        assert!(
            docs.contains(&line),
            "docs/cloud-run-api-gate.md lacks the row {line}"
        );
        assert!(
            PASS_THROUGH.iter().filter(|r| r == &row).count() == 1,
            "{line} is listed twice"
        );
    }
    let documented = docs
        .lines()
        .filter(|l| l.starts_with("| `DELETE` |") || l.starts_with("| `POST` |"))
        .count();
    assert_eq!(
        documented,
        PASS_THROUGH.len(),
        "the docs list rows the code does not have"
    );
}
