//! The live policies (`policies/live/cmek-live.yaml`) judged with live data from a fixture:
//! key states, IAM levels, rotation, image repositories, Google unreachable under each
//! `--live-unreachable`, and the rounds of questions.

use super::*;
use crate::manifest::{self, Node};
use crate::policy::embedded;
use serde_json::json;

const KEY: &str = "projects/keys-prod/locations/europe-west1/keyRings/run/cryptoKeys/payments";
const AGENT: &str =
    "serviceAccount:service-123456789012@serverless-robot-prod.iam.gserviceaccount.com";

fn live_set() -> PolicySet {
    PolicySet::compile(&embedded::live_sources(), &[]).expect("the live policies compile")
}

fn service(image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "pay", "namespace": "run-project"},
        "spec": {"template": {
            "metadata": {"annotations": {"run.googleapis.com/encryption-key": KEY}},
            "spec": {"containers": [{"image": image}]}}}
    })
}

/// A world where the key is enabled, rotates every 90 days, and the agent holds the role on
/// the key; `adjust` changes it.
fn world(adjust: impl FnOnce(&mut serde_json::Value)) -> Fixture {
    let mut world = json!({
        "keys": {KEY: {"purpose": "ENCRYPT_DECRYPT", "rotationPeriod": "7776000s",
                       "nextRotationTime": "2027-01-01T00:00:00Z",
                       "primary": {"state": "ENABLED", "protectionLevel": "SOFTWARE"}}},
        "projects": {"run-project": "123456789012"},
        "iamPolicies": {KEY: {"bindings": [
            {"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": [AGENT]}]}},
        "repositories": {
            "projects/images/locations/europe-west1/repositories/cmek": {"kmsKeyName": KEY},
            "projects/images/locations/europe-west1/repositories/plain": {"format": "DOCKER"}}
    });
    adjust(&mut world);
    serde_json::from_value(world).unwrap()
}

fn judge_with(live: Option<&Live>, object: serde_json::Value) -> Decision {
    let set = live_set();
    let document = manifest::document_from_node(0, Node::from_json(&object)).unwrap();
    let request = Request::create(&document);
    admit(live, &set, &request, Phases::VALIDATE)
}

fn fixture_live(fixture: Fixture, unreachable: Unreachable) -> Live {
    Live {
        source: Source::Fixture(fixture),
        unreachable,
    }
}

/// (violations, warnings) by policy, and every message.
fn outcome(decision: &Decision) -> (Vec<String>, Vec<String>, String) {
    let violations = decision
        .violations
        .iter()
        .map(|v| v.policy.clone())
        .collect();
    let warnings = decision.warnings.iter().map(|w| w.policy.clone()).collect();
    let messages = decision
        .violations
        .iter()
        .map(|v| v.message.as_str())
        .chain(decision.warnings.iter().map(|w| w.message.as_str()))
        .collect::<Vec<_>>()
        .join("\n");
    (violations, warnings, messages)
}

#[test]
fn the_live_policies_judge_keys_iam_rotation_and_images() {
    let cmek_image = "europe-west1-docker.pkg.dev/images/cmek/app:1";
    /// (name, how the world differs, image, violations, warnings, a message part)
    type Case = (
        &'static str,
        fn(&mut serde_json::Value),
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
        &'static str,
    );
    let cases: Vec<Case> = vec![
        ("usable", |_| {}, cmek_image, &[], &[], ""),
        ("disabled", |w| w["keys"][KEY]["primary"]["state"] = json!("DISABLED"), cmek_image,
            &["cmek-key-usable"], &[], "primary version is DISABLED, not ENABLED"),
        ("destroyed", |w| w["keys"][KEY]["primary"]["state"] = json!("DESTROYED"), cmek_image,
            &["cmek-key-usable"], &[], "primary version is DESTROYED"),
        ("scheduled for destruction",
            |w| w["keys"][KEY]["primary"]["state"] = json!("DESTROY_SCHEDULED"), cmek_image,
            &["cmek-key-usable"], &[], "primary version is DESTROY_SCHEDULED"),
        ("no primary version", |w| { w["keys"][KEY].as_object_mut().unwrap().remove("primary"); },
            cmek_image, &["cmek-key-usable"], &[], "primary version is missing"),
        ("wrong purpose", |w| w["keys"][KEY]["purpose"] = json!("ASYMMETRIC_SIGN"), cmek_image,
            &["cmek-key-usable"], &[], "has purpose ASYMMETRIC_SIGN, not ENCRYPT_DECRYPT"),
        // A key that does not exist: its IAM is not judged, nor its rotation.
        ("missing", |w| w["keys"] = json!({}), cmek_image,
            &["cmek-key-usable"], &[], "does not exist"),
        ("granted on the key ring", |w| {
            let policy = w["iamPolicies"][KEY].take();
            w["iamPolicies"] = json!({"projects/keys-prod/locations/europe-west1/keyRings/run": policy});
        }, cmek_image, &[], &[], ""),
        ("granted on the project", |w| {
            let policy = w["iamPolicies"][KEY].take();
            w["iamPolicies"] = json!({"projects/keys-prod": policy});
        }, cmek_image, &[], &[], ""),
        ("granted to another agent", |w| {
            w["iamPolicies"][KEY]["bindings"][0]["members"] =
                json!(["serviceAccount:service-1@serverless-robot-prod.iam.gserviceaccount.com"]);
        }, cmek_image, &["cmek-key-iam"], &[],
            "gcloud kms keys add-iam-policy-binding payments --keyring run --location europe-west1 --project keys-prod --member serviceAccount:service-123456789012@serverless-robot-prod.iam.gserviceaccount.com --role roles/cloudkms.cryptoKeyEncrypterDecrypter"),
        ("not granted at all", |w| w["iamPolicies"] = json!({}), cmek_image,
            &["cmek-key-iam"], &[], "cannot use the encryption key"),
        ("a conditional grant does not count", |w| {
            w["iamPolicies"][KEY]["bindings"][0]["condition"] = json!({"expression": "true"});
        }, cmek_image, &["cmek-key-iam"], &[], "cannot use"),
        ("no rotation", |w| {
            let key = w["keys"][KEY].as_object_mut().unwrap();
            key.remove("rotationPeriod");
            key.remove("nextRotationTime");
        }, cmek_image, &[], &["cmek-key-rotation"], "does not rotate automatically"),
        ("rotation over a year", |w| w["keys"][KEY]["rotationPeriod"] = json!("34560000s"),
            cmek_image, &[], &["cmek-key-rotation"], "rotates every 400 days, less often than yearly"),
        ("a repository without CMEK", |_| {}, "europe-west1-docker.pkg.dev/images/plain/app@sha256:00",
            &[], &["cmek-image-key"], "without a customer-managed encryption key: projects/images/locations/europe-west1/repositories/plain"),
        ("another registry", |_| {}, "docker.io/library/nginx:1", &[], &[], ""),
    ];
    let mut failed = Vec::new();
    for (name, adjust, image, violations, warnings, message) in cases {
        let live = fixture_live(world(adjust), Unreachable::Deny);
        let decision = judge_with(Some(&live), service(image));
        let (got_violations, got_warnings, messages) = outcome(&decision);
        if got_violations != violations || got_warnings != warnings || !messages.contains(message) {
            failed.push(format!(
                "{name}: violations {got_violations:?}, warnings {got_warnings:?}, messages:\n{messages}"
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn without_live_mode_the_live_policies_do_not_apply() {
    let decision = judge_with(None, service("docker.io/library/nginx:1"));
    assert!(decision.matched);
    assert!(
        decision.violations.is_empty() && decision.warnings.is_empty(),
        "{decision:?}"
    );
}

#[test]
fn google_unreachable_denies_warns_or_allows_with_an_annotation() {
    let down = || world(|w| w["unreachable"] = json!(true));
    let image = "europe-west1-docker.pkg.dev/images/cmek/app:1";

    let denied = judge_with(
        Some(&fixture_live(down(), Unreachable::Deny)),
        service(image),
    );
    assert!(!denied.allowed());
    assert!(denied
        .violations
        .iter()
        .all(|v| v.reason == crate::engine::LIVE_UNAVAILABLE_REASON));
    let (_, _, messages) = outcome(&denied);
    assert!(
        messages.contains("live data unavailable: cloudkms: no answer"),
        "{messages}"
    );

    let warned = judge_with(
        Some(&fixture_live(down(), Unreachable::Warn)),
        service(image),
    );
    assert!(warned.allowed(), "{warned:?}");
    let (_, warnings, messages) = outcome(&warned);
    assert!(
        warnings.contains(&"cmek-key-usable".to_owned()),
        "{warnings:?}"
    );
    assert!(
        messages.contains("allowed without live data (--live-unreachable warn)"),
        "{messages}"
    );

    let allowed = judge_with(
        Some(&fixture_live(down(), Unreachable::Allow)),
        service(image),
    );
    assert!(allowed.allowed(), "{allowed:?}");
    let note = &allowed.audit_annotations[UNREACHABLE_ANNOTATION];
    assert!(
        note.contains("[cmek-key-usable]") && note.contains("live data unavailable"),
        "{note}"
    );
}

#[test]
fn questions_are_asked_in_rounds_each_once() {
    let fixture = world(|_| {});
    let set = live_set();
    let object = service("europe-west1-docker.pkg.dev/images/plain/app:1");
    let document = manifest::document_from_node(0, Node::from_json(&object)).unwrap();
    let request = Request::create(&document);
    let mut rounds: Vec<Vec<Question>> = Vec::new();
    let decision = judge(
        |snapshot| {
            let live = Request {
                live: Some(snapshot),
                ..request.clone()
            };
            engine::admit(&set, &live, Phases::VALIDATE)
        },
        |questions| {
            rounds.push(questions.to_vec());
            questions
                .iter()
                .map(|q| (q.clone(), fixture.reply(q)))
                .collect()
        },
    );
    assert_eq!(outcome(&decision).1, ["cmek-image-key"]);
    // First the key and the repository; then, the key existing, the project's number (the
    // IAM policy applies to existing keys only); then, the number known, the agent's access.
    assert_eq!(rounds.len(), 3, "{rounds:?}");
    assert_eq!(
        rounds[0],
        [
            Question::Key(KEY.into()),
            Question::Repository(
                "projects/images/locations/europe-west1/repositories/plain".into()
            ),
        ]
    );
    assert_eq!(rounds[1], [Question::ProjectNumber("run-project".into())]);
    assert_eq!(
        rounds[2],
        [Question::ServiceAgentAccess {
            key: KEY.into(),
            project_number: "123456789012".into()
        }]
    );
}
