//! CAI shapes as gcloud prints them, turned into v1 manifests.

use super::*;
use serde_json::json;

/// An export line: a v1 Service as CAI records it (numbers as the proto's doubles, the
/// namespace the project number, apiVersion and kind in the data).
const EXPORT_V1: &str = r#"{"name": "//run.googleapis.com/projects/shop-prod/locations/europe-west1/services/pay", "asset_type": "run.googleapis.com/Service", "resource": {"version": "v1", "discovery_document_uri": "https://run.googleapis.com/$discovery/rest", "discovery_name": "Service", "parent": "//cloudresourcemanager.googleapis.com/projects/123456789012", "data": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "pay", "namespace": "123456789012", "generation": 3.0, "labels": {"cloud.googleapis.com/location": "europe-west1", "data-classification": "confidential", "owner": "payments"}}, "spec": {"template": {"metadata": {"annotations": {"run.googleapis.com/encryption-key": "projects/kms-prod/locations/europe-west1/keyRings/run/cryptoKeys/pay"}}, "spec": {"containers": [{"image": "europe-docker.pkg.dev/shop-prod/app/pay:1"}]}}}}, "location": "europe-west1"}, "ancestors": ["projects/123456789012", "folders/42", "organizations/7"], "update_time": "2026-11-30T10:00:00Z"}"#;

/// An export line of a v2 Job (the REST resource), without a key.
const EXPORT_V2_JOB: &str = r#"{"name": "//run.googleapis.com/projects/shop-prod/locations/us-central1/jobs/nightly", "asset_type": "run.googleapis.com/Job", "resource": {"version": "v2", "discovery_name": "Job", "data": {"name": "projects/shop-prod/locations/us-central1/jobs/nightly", "labels": {"compliance": "pci-dss", "team": "ledger"}, "template": {"template": {"containers": [{"image": "us-docker.pkg.dev/shop-prod/app/nightly:2"}]}}}, "location": "us-central1"}}"#;

const EXPORT_OTHER: &str = r#"{"name": "//storage.googleapis.com/shop-prod-logs", "asset_type": "storage.googleapis.com/Bucket", "resource": {"version": "v1", "data": {"name": "shop-prod-logs"}, "location": "eu"}}"#;

fn export() -> String {
    format!("{EXPORT_V1}\n\n{EXPORT_OTHER}\n{EXPORT_V2_JOB}\n")
}

#[test]
fn the_shape_is_detected_from_the_first_asset() {
    let search = r#"[{"name": "//run.googleapis.com/projects/p/locations/l/services/s", "assetType": "run.googleapis.com/Service", "project": "projects/1", "versionedResources": [{"version": "v1", "resource": {}}]}]"#;
    let list = r#"[ {"name": "//run.googleapis.com/projects/p/locations/l/services/s", "assetType": "run.googleapis.com/Service", "resource": {"version": "v1", "data": {}}} ]"#;
    for (text, format) in [
        (export(), Some(CaiFormat::Export)),
        (format!("\u{feff}{EXPORT_V1}"), Some(CaiFormat::Export)),
        (search.to_owned(), Some(CaiFormat::Search)),
        (list.to_owned(), Some(CaiFormat::List)),
        // gcloud run services list --format json: manifests, not assets.
        (
            r#"[{"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "s"}}]"#.to_owned(),
            None,
        ),
        // A name that is not a full resource name.
        (
            r#"{"name": "projects/p/services/s", "asset_type": "run.googleapis.com/Service"}"#.to_owned(),
            None,
        ),
        ("apiVersion: v1\nkind: ConfigMap\n".to_owned(), None),
        ("[]".to_owned(), None),
        (String::new(), None),
    ] {
        assert_eq!(detect(&text), format, "{text:.60}");
    }
}

#[test]
fn an_export_becomes_v1_manifests_on_the_lines_of_their_assets() {
    let assets = read(&export(), CaiFormat::Export).unwrap();
    assert_eq!(assets.other_assets, 1);
    let lines: Vec<usize> = assets.manifests.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [1, 4]);
    let (_, service) = &assets.manifests[0];
    assert_eq!(service["kind"], "Service");
    assert_eq!(service["metadata"]["namespace"], "123456789012");
    // The proto's doubles are whole numbers again.
    assert_eq!(service["metadata"]["generation"], json!(3));
    // The v2 Job is mapped onto the v1 shape, its region from the asset's location.
    let (_, job) = &assets.manifests[1];
    assert_eq!(job["apiVersion"], "run.googleapis.com/v1");
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["metadata"]["name"], "nightly");
    // No project number in the asset: the project ID from its name.
    assert_eq!(job["metadata"]["namespace"], "shop-prod");
    assert_eq!(job["metadata"]["labels"]["compliance"], "pci-dss");
    assert_eq!(
        job["metadata"]["labels"]["cloud.googleapis.com/location"],
        "us-central1"
    );

    // The check reads the text it becomes with each resource on its asset's line.
    let text = to_check_text(&assets);
    let documents = crate::manifest::parse_documents(&text, &Default::default()).unwrap();
    let found: Vec<(u32, &str)> = documents
        .iter()
        .map(|d| (d.line, d.name.as_str()))
        .collect();
    assert_eq!(found, [(1, "pay"), (4, "nightly")]);
}

#[test]
fn a_v1_object_without_a_region_label_takes_the_assets_location() {
    let line = r#"{"name": "//run.googleapis.com/projects/p/locations/asia-east1/services/s", "asset_type": "run.googleapis.com/Service", "resource": {"version": "v1", "data": {"metadata": {"name": "s", "namespace": "9"}, "spec": {}}, "location": "asia-east1"}}"#;
    let assets = read(line, CaiFormat::Export).unwrap();
    let (_, service) = &assets.manifests[0];
    assert_eq!(service["apiVersion"], "serving.knative.dev/v1");
    assert_eq!(
        service["metadata"]["labels"]["cloud.googleapis.com/location"],
        "asia-east1"
    );
}

#[test]
fn a_search_reads_the_v1_resource_of_each_result() {
    let search = r#"[
      {"name": "//run.googleapis.com/projects/p/locations/europe-west1/services/a", "assetType": "run.googleapis.com/Service", "location": "europe-west1",
       "versionedResources": [{"version": "v2", "resource": {"name": "projects/p/locations/europe-west1/services/a"}},
                              {"version": "v1", "resource": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "a", "namespace": "1"}}}]},
      {"name": "//run.googleapis.com/projects/p/locations/europe-west1/jobs/b", "assetType": "run.googleapis.com/Job", "location": "europe-west1",
       "versionedResources": [{"version": "v2", "resource": {"name": "projects/p/locations/europe-west1/jobs/b", "template": {"template": {"encryptionKey": "projects/k/locations/europe-west1/keyRings/r/cryptoKeys/c"}}}}]}
    ]"#;
    let assets = read(search, CaiFormat::Search).unwrap();
    assert_eq!(assets.manifests.len(), 2);
    assert_eq!(assets.manifests[0].1["metadata"]["namespace"], "1");
    let job = &assets.manifests[1].1;
    assert_eq!(
        job["spec"]["template"]["metadata"]["annotations"]["run.googleapis.com/encryption-key"],
        "projects/k/locations/europe-west1/keyRings/r/cryptoKeys/c"
    );
}

#[test]
fn what_cannot_be_judged_is_an_error_naming_the_asset() {
    let no_mask = r#"[{"name": "//run.googleapis.com/projects/p/locations/l/services/s", "assetType": "run.googleapis.com/Service", "project": "projects/1"}]"#;
    let error = read(no_mask, CaiFormat::Search).unwrap_err().to_string();
    assert!(error.contains("--read-mask='*'"), "{error}");
    assert!(error.contains("services/s"), "{error}");

    let no_content = r#"{"name": "//run.googleapis.com/projects/p/locations/l/services/s", "asset_type": "run.googleapis.com/Service"}"#;
    let error = read(no_content, CaiFormat::Export).unwrap_err().to_string();
    assert!(error.contains("--content-type=resource"), "{error}");

    let broken = format!("{EXPORT_V1}\n{{\"name\": \n");
    assert_eq!(
        read(&broken, CaiFormat::Export).unwrap_err(),
        CaiError::Line {
            line: 2,
            message: "EOF while parsing a value at line 1 column 9".into()
        }
    );
}
