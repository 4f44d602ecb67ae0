//! Reviews in the form the API server sends them (`integration/fixtures/admission/`).

use super::*;
use crate::policy::{embedded, Source};

fn library() -> PolicySet {
    PolicySet::compile(&embedded::sources(), &[]).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/integration/fixtures/admission/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn answer(set: &PolicySet, name: &str) -> AdmissionReviewOut {
    let request = parse_review(&fixture(name)).unwrap();
    review(set, &request).review
}

#[test]
fn verdicts_uids_and_messages() {
    let set = library();
    let cases = [
        (
            "create-denied",
            false,
            "705ab4f5-6393-11e8-b7cc-42010a800002",
        ),
        (
            "create-allowed",
            true,
            "705ab4f5-6393-11e8-b7cc-42010a800003",
        ),
        (
            "update-removes-key",
            false,
            "705ab4f5-6393-11e8-b7cc-42010a800004",
        ),
        (
            "dry-run-denied",
            false,
            "705ab4f5-6393-11e8-b7cc-42010a800005",
        ),
        ("delete", true, "705ab4f5-6393-11e8-b7cc-42010a800006"),
        (
            "config-sync-apply-denied",
            false,
            "705ab4f5-6393-11e8-b7cc-42010a800007",
        ),
        (
            "config-sync-apply-allowed",
            true,
            "705ab4f5-6393-11e8-b7cc-42010a800008",
        ),
    ];
    for (name, allowed, uid) in cases {
        let out = answer(&set, name);
        assert_eq!(out.api_version, "admission.k8s.io/v1");
        assert_eq!(out.response.uid, uid, "{name}");
        assert_eq!(
            out.response.allowed, allowed,
            "{name}: {:?}",
            out.response.status
        );
        match &out.response.status {
            Some(status) => {
                assert!(!allowed, "{name}");
                assert_eq!(status.code, 403);
                assert_eq!(status.reason, "Forbidden");
                assert!(
                    status.message.starts_with(
                        "cmek-gate denied Service payments/payments-api: [cmek-required] "
                    ),
                    "{name}: {}",
                    status.message
                );
            }
            None => assert!(allowed, "{name}"),
        }
    }
}

#[test]
fn the_webhook_and_check_give_the_same_verdict() {
    let set = library();
    for (example, name) in [
        ("service.yaml", "create-denied"),
        ("service-compliant.yaml", "create-allowed"),
    ] {
        let text =
            std::fs::read(format!("{}/examples/{example}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let report = crate::batch::check_inputs(
            &set,
            &[crate::batch::Input {
                name: example.into(),
                text,
            }],
            &Default::default(),
        );
        let reviewed = review(&set, &parse_review(&fixture(name)).unwrap());
        let decision = reviewed.decision.unwrap();
        let policies = |v: Vec<&str>| v.join(",");
        assert_eq!(report.results[0].allowed, decision.allowed(), "{example}");
        assert_eq!(
            policies(
                report.results[0]
                    .violations
                    .iter()
                    .map(|v| v.policy.as_str())
                    .collect()
            ),
            policies(
                decision
                    .violations
                    .iter()
                    .map(|v| v.policy.as_str())
                    .collect()
            ),
        );
        assert_eq!(
            report.results[0]
                .violations
                .iter()
                .map(|v| &v.message)
                .collect::<Vec<_>>(),
            decision
                .violations
                .iter()
                .map(|v| &v.message)
                .collect::<Vec<_>>(),
        );
    }
}

#[test]
fn warnings_audit_annotations_and_old_object_reach_the_response() {
    let path = format!(
        "{}/integration/fixtures/admission/keep-key-policy.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let policy = std::fs::read_to_string(&path).unwrap();
    let set = PolicySet::compile(
        &[Source {
            name: path,
            text: policy,
        }],
        &[],
    )
    .unwrap();
    let out = answer(&set, "update-removes-key");
    assert!(out.response.allowed);
    assert_eq!(
        out.response.warnings,
        vec!["[keep-key] the encryption key may not be removed"]
    );
    assert_eq!(
        out.response.audit_annotations["keep-key.operation"],
        "UPDATE by system:serviceaccount:config-management-system:root-reconciler"
    );
    assert!(out
        .response
        .audit_annotations
        .contains_key("validation_failure"));
    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(
        json["response"]["auditAnnotations"]["keep-key.operation"],
        "UPDATE by system:serviceaccount:config-management-system:root-reconciler"
    );
    // CREATE is not matched by this policy.
    assert!(answer(&set, "create-denied").response.warnings.is_empty());
}

#[test]
fn audit_keys_stay_qualified_names_under_the_webhooks_name() {
    let cases = [
        ("keep-key/operation", "keep-key.operation"),
        (
            "validation.policy.admission.k8s.io/validation_failure",
            "validation_failure",
        ),
        ("plain", "plain"),
    ];
    for (engine_key, webhook_key) in cases {
        assert_eq!(
            super::webhook_audit_key(engine_key),
            webhook_key,
            "{engine_key}"
        );
    }
}

#[test]
fn bodies_that_are_not_reviews_are_errors() {
    let cases: [(&[u8], &str); 5] = [
        (b"not json", "the body is not an AdmissionReview"),
        (br#"{"apiVersion": "v1", "kind": "Pod"}"#, "kind is \"Pod\""),
        (
            br#"{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}}"#,
            "only admission.k8s.io/v1",
        ),
        (br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#, "has no request"),
        (
            br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": 5}}"#,
            "not an AdmissionReview",
        ),
    ];
    for (body, expected) in cases {
        let err = parse_review(body).unwrap_err().to_string();
        assert!(err.contains(expected), "{err:?} lacks {expected:?}");
    }
}
