//! Tables: which requests are writes, regions from hosts, the v2 mapping, and verdicts.

use super::*;
use crate::policy::{embedded, Source};

/// The write a request is, through the whole plan (host, normalisation, routing).
fn write_of(method: &str, path: &str, query: Option<&str>) -> Option<Write> {
    let head = RequestHead {
        method,
        path,
        query,
        hosts: vec![b"europe-west1-gate.test"],
        has_body: true,
        ..RequestHead::default()
    };
    match plan(&head, None) {
        Ok(Plan {
            route: Route::Judge(write),
            ..
        }) => Some(write),
        _ => None,
    }
}

#[test]
fn writes_are_told_from_everything_else() {
    type Expected<'a> = Option<(&'a str, &'a str, Option<&'a str>)>;
    let cases: &[(&str, &str, Option<&str>, Expected)] = &[
        (
            "POST",
            "/apis/serving.knative.dev/v1/namespaces/123/services",
            None,
            Some(("Service", "CREATE", None)),
        ),
        (
            "PUT",
            "/apis/serving.knative.dev/v1/namespaces/123/services/api",
            None,
            Some(("Service", "UPDATE", Some("api"))),
        ),
        (
            "GET",
            "/apis/serving.knative.dev/v1/namespaces/123/services/api",
            None,
            None,
        ),
        (
            "DELETE",
            "/apis/serving.knative.dev/v1/namespaces/123/services/api",
            None,
            None,
        ),
        (
            "POST",
            "/apis/run.googleapis.com/v1/namespaces/p/jobs",
            None,
            Some(("Job", "CREATE", None)),
        ),
        (
            "PUT",
            "/apis/run.googleapis.com/v1/namespaces/p/workerpools/w",
            None,
            Some(("WorkerPool", "UPDATE", Some("w"))),
        ),
        (
            "POST",
            "/apis/run.googleapis.com/v1/namespaces/p/jobs/j:run",
            None,
            None,
        ),
        (
            "POST",
            "/apis/run.googleapis.com/v1/namespaces/p/executions",
            None,
            None,
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/services",
            Some("serviceId=api&validateOnly=false"),
            Some(("Service", "CREATE", Some("api"))),
        ),
        (
            "PATCH",
            "/v2/projects/p/locations/europe-west1/services/api",
            Some("allowMissing=true"),
            Some(("Service", "UPDATE", Some("api"))),
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/jobs",
            Some("jobId=j"),
            Some(("Job", "CREATE", Some("j"))),
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/jobs/j:run",
            None,
            None,
        ),
        (
            "POST",
            "/v2/projects/p/locations/europe-west1/workerPools",
            Some("workerPoolId=w"),
            Some(("WorkerPool", "CREATE", Some("w"))),
        ),
        (
            "POST",
            "/v1/projects/p/locations/europe-west1/services/api:setIamPolicy",
            None,
            None,
        ),
        (
            "GET",
            "/v2/projects/p/locations/europe-west1/operations/o",
            None,
            None,
        ),
    ];
    for (method, path, query, expected) in cases {
        let got = write_of(method, path, *query);
        let got = got
            .as_ref()
            .map(|w| (w.kind, w.operation, w.name.as_deref()));
        assert_eq!(got, *expected, "{method} {path}");
    }
    let v2 = write_of(
        "POST",
        "/v2/projects/p/locations/europe-west1/services",
        None,
    )
    .unwrap();
    assert_eq!(v2.location.as_deref(), Some("europe-west1"));
    assert_eq!(v2.namespace, "p");
}

fn v2_write(kind: &str) -> Write {
    let (plural, query) = match kind {
        "Job" => ("jobs", "jobId=nightly"),
        _ => ("services", "serviceId=api"),
    };
    write_of(
        "POST",
        &format!("/v2/projects/my-project/locations/europe-west1/{plural}"),
        Some(query),
    )
    .unwrap()
}

#[test]
fn a_v2_body_maps_onto_the_v1_shape() {
    let body = json!({
        "labels": {"data-classification": "confidential"},
        "annotations": {"run.googleapis.com/ingress": "all"},
        "template": {
            "labels": {"team": "pay"},
            "encryptionKey": "projects/k/locations/europe-west1/keyRings/r/cryptoKeys/c",
            "encryptionKeyRevocationAction": "SHUTDOWN",
            "encryptionKeyShutdownDuration": "7200s",
            "containers": [{"image": "x"}]
        }
    });
    let view = v2_to_v1(&body, &v2_write("Service"));
    assert_eq!(
        view,
        json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {
                "name": "api",
                "namespace": "my-project",
                "labels": {"data-classification": "confidential", "cloud.googleapis.com/location": "europe-west1"},
                "annotations": {"run.googleapis.com/ingress": "all"}
            },
            "spec": {"template": {"metadata": {
                "labels": {"team": "pay"},
                "annotations": {
                    "run.googleapis.com/encryption-key": "projects/k/locations/europe-west1/keyRings/r/cryptoKeys/c",
                    "run.googleapis.com/post-key-revocation-action-type": "shut-down",
                    "run.googleapis.com/encryption-key-shutdown-hours": "2"
                }
            }}}
        })
    );
    let job = json!({"template": {"template": {"encryptionKey": "projects/k/locations/europe-west1/keyRings/r/cryptoKeys/c"}}});
    let view = v2_to_v1(&job, &v2_write("Job"));
    assert_eq!(view["apiVersion"], "run.googleapis.com/v1");
    assert_eq!(
        view["spec"]["template"]["metadata"]["annotations"]["run.googleapis.com/encryption-key"],
        "projects/k/locations/europe-west1/keyRings/r/cryptoKeys/c"
    );
    assert_eq!(
        duration_to_hours(&json!("5400s")),
        "5400s",
        "not whole hours: kept for the policy"
    );
}

fn library(default_keys: bool) -> PolicySet {
    let params: Vec<Source> = default_keys
        .then(|| Source {
            name: "p".into(),
            text: "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {name: default}\nspec:\n  defaultKeys: {europe-west1: projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default}\n  defaultRevocationAction: shut-down\n".into(),
        })
        .into_iter()
        .collect();
    PolicySet::compile(&embedded::sources(), &params).unwrap()
}

#[test]
fn verdicts_on_v1_and_v2_bodies() {
    let set = library(false);
    let v1 = write_of(
        "POST",
        "/apis/serving.knative.dev/v1/namespaces/123/services",
        None,
    )
    .unwrap();
    // `gcloud run deploy` sends no location label: the host's region is used.
    let deploy = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "api", "namespace": "123", "labels": {"data-classification": "confidential"}},
        "spec": {"template": {"metadata": {"annotations": {"run.googleapis.com/encryption-key": "projects/kms-central/locations/us-east1/keyRings/r/cryptoKeys/k"}}}}});
    let Verdict::Refuse { code, body, .. } = judge_write(
        &set,
        &v1,
        deploy.to_string().as_bytes(),
        Some("europe-west1"),
        false,
        None,
    ) else {
        panic!("a key from another region is refused");
    };
    assert_eq!(code, 400);
    assert_eq!(body["error"]["status"], "FAILED_PRECONDITION");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("cmek-gate denied Service api: [cmek-key-location]"),
        "{message}"
    );
    let fixed = deploy.to_string().replace("us-east1", "europe-west1");
    assert!(matches!(
        judge_write(
            &set,
            &v1,
            fixed.as_bytes(),
            Some("europe-west1"),
            false,
            None
        ),
        Verdict::Forward { body: None, .. }
    ));
    let v2 = v2_write("Service");
    let no_key =
        json!({"labels": {"compliance": "hipaa"}, "template": {"containers": [{"image": "x"}]}});
    let Verdict::Refuse { body, .. } =
        judge_write(&set, &v2, no_key.to_string().as_bytes(), None, false, None)
    else {
        panic!("a v2 service without a key is refused");
    };
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("[cmek-required]"), "{message}");
    // Told in the v2 request's own words, not the v1 annotation's.
    assert!(message.contains("set template.encryptionKey "), "{message}");
    assert!(!message.contains("spec.template.metadata"), "{message}");
    for bad in ["not json", "[1]"] {
        let Verdict::Refuse { body, .. } =
            judge_write(&set, &v2, bad.as_bytes(), None, false, None)
        else {
            panic!("{bad}");
        };
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    }
}

#[test]
fn with_mutation_the_default_key_is_forwarded_in_each_version_s_own_shape() {
    let set = library(true);
    let v1 = write_of(
        "POST",
        "/apis/serving.knative.dev/v1/namespaces/123/services",
        None,
    )
    .unwrap();
    let body = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "api", "labels": {"data-classification": "confidential"}},
        "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
    let Verdict::Forward {
        body: Some(changed),
        added,
        ..
    } = judge_write(
        &set,
        &v1,
        body.to_string().as_bytes(),
        Some("europe-west1"),
        true,
        None,
    )
    else {
        panic!("mutated and forwarded");
    };
    let changed: Value = serde_json::from_slice(&changed).unwrap();
    assert_eq!(
        changed["spec"]["template"]["metadata"]["annotations"],
        json!({"run.googleapis.com/encryption-key": "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default",
               "run.googleapis.com/post-key-revocation-action-type": "shut-down"})
    );
    assert!(
        changed["metadata"]["labels"]
            .get("cloud.googleapis.com/location")
            .is_none(),
        "the host's region is not added to what is forwarded"
    );
    assert_eq!(added, ["spec.template.metadata"]);
    let v2 = v2_write("Service");
    let body = json!({"labels": {"data-classification": "confidential"}, "template": {"containers": [{"image": "x"}]}});
    let Verdict::Forward {
        body: Some(changed),
        ..
    } = judge_write(&set, &v2, body.to_string().as_bytes(), None, true, None)
    else {
        panic!("mutated and forwarded");
    };
    let changed: Value = serde_json::from_slice(&changed).unwrap();
    assert_eq!(
        changed["template"]["encryptionKey"],
        "projects/kms-central/locations/europe-west1/keyRings/run/cryptoKeys/default"
    );
    assert_eq!(
        changed["template"]["encryptionKeyRevocationAction"],
        "SHUTDOWN"
    );
    assert_eq!(changed["template"]["containers"], json!([{"image": "x"}]));
    // Without mutation the same body is refused.
    assert!(matches!(
        judge_write(&set, &v2, body.to_string().as_bytes(), None, false, None),
        Verdict::Refuse { .. }
    ));
}

#[test]
fn v1_worded_messages_speak_the_v2_fields() {
    let cases = [
        (
            "Service",
            "set the run.googleapis.com/encryption-key annotation in spec.template.metadata.annotations (Config Connector: spec.template.encryptionKeyRef) to K.",
            "set template.encryptionKey (Config Connector: spec.template.encryptionKeyRef) to K.",
        ),
        (
            "Job",
            "set the run.googleapis.com/encryption-key annotation in spec.template.metadata.annotations to K.",
            "set template.template.encryptionKey to K.",
        ),
        (
            "Service",
            "run.googleapis.com/encryption-key is set in metadata.annotations, where it encrypts nothing: it belongs in spec.template.metadata.annotations.",
            "run.googleapis.com/encryption-key is set in annotations, where it encrypts nothing: it belongs in template.annotations.",
        ),
        (
            "Service",
            "no owner label in metadata.labels or spec.template.metadata.labels; x.metadata.labels and metadata.labelsX stay",
            "no owner label in labels or template.labels; x.metadata.labels and metadata.labelsX stay",
        ),
        (
            "Service",
            "metadata.labels.team and metadata.labels['a'] stay, as does run.googleapis.com/encryption-key-shutdown-hours",
            "metadata.labels.team and metadata.labels['a'] stay, as does run.googleapis.com/encryption-key-shutdown-hours",
        ),
    ];
    for (kind, v1, v2) in cases {
        assert_eq!(v1_words_to_v2(v1, &v2_write(kind)), v2, "{kind}: {v1}");
    }
}
