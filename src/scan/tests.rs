//! Scans of small inputs checked with the shipped library.

use super::*;
use crate::batch::{check_inputs_keeping_documents, CheckOptions, Input};
use crate::policy::embedded;

const INPUT: &str = r#"[
 {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
  "metadata": {"name": "pay", "namespace": "123", "labels": {"cloud.googleapis.com/location": "europe-west1", "data-classification": "confidential", "owner": "payments"}},
  "spec": {"template": {"metadata": {"annotations": {"run.googleapis.com/encryption-key": "projects/kms-prod/locations/europe-west1/keyRings/r/cryptoKeys/k"}}, "spec": {"containers": [{"image": "x"}]}}}},
 {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
  "metadata": {"name": "ledger", "namespace": "123", "labels": {"cloud.googleapis.com/location": "europe-west1", "compliance": "PCI-DSS", "team": "ledger"}},
  "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
 {"apiVersion": "run.googleapis.com/v1", "kind": "Job",
  "metadata": {"name": "report", "namespace": "456", "labels": {"cloud.googleapis.com/location": "us-central1", "data-classification": "public", "owner": "bi"}},
  "spec": {"template": {"metadata": {"annotations": {"run.googleapis.com/encryption-key": "projects/kms-prod/locations/europe-west1/keyRings/r/cryptoKeys/k"}}, "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}}},
 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
]"#;

fn scanned() -> Scan {
    let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
    let input = Input {
        name: "list.json".into(),
        text: INPUT.into(),
    };
    let (report, documents) =
        check_inputs_keeping_documents(&set, &[input], &CheckOptions::default());
    scan(&ScanSettings::from_policy_set(&set), &documents, &report)
}

#[test]
fn counts_rates_breakdowns_and_keys() {
    let scan = scanned();
    assert_eq!(
        scan.total,
        Tally {
            resources: 3,
            sensitive: 2,
            compliant: 1,
            compliance_percent: 50.0
        }
    );
    assert_eq!(scan.by_project["123"].compliance_percent, 50.0);
    assert_eq!(scan.by_project["456"].compliance_percent, 100.0);
    assert_eq!(
        scan.by_owner.keys().collect::<Vec<_>>(),
        vec!["bi", "ledger", "payments"]
    );
    assert_eq!(
        scan.by_classification.keys().collect::<Vec<_>>(),
        vec!["(none)", "confidential", "public"]
    );
    let failing: Vec<(&str, Vec<String>)> = scan
        .non_compliant
        .iter()
        .map(|r| (r.name.as_str(), r.failing.clone()))
        .collect();
    assert_eq!(
        failing,
        vec![
            ("ledger", vec!["cmek-required".to_owned()]),
            ("report", vec!["cmek-key-location".to_owned()])
        ]
    );
    assert_eq!(scan.keys.len(), 1);
    assert_eq!((scan.keys[0].services, scan.keys[0].jobs), (1, 1));
    assert_eq!(
        scan.keys_not_needed
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        vec!["report"]
    );
}

#[test]
fn renderings() {
    let scan = scanned();
    let table = to_table(&scan);
    assert!(
        table.starts_with("3 Cloud Run resources, 2 sensitive, 1 compliant: compliance 50.00%\n"),
        "{table}"
    );
    assert!(
        table.contains("list.json:5 Service 123/ledger (owner ledger): cmek-required"),
        "{table}"
    );
    let csv = to_csv(&scan);
    assert_eq!(csv.lines().count(), 4);
    assert!(
        csv.contains(",ledger,(none),ledger,true,,false,cmek-required"),
        "{csv}"
    );
    let markdown = to_markdown(&scan);
    assert!(markdown.starts_with("## CMEK compliance: 50.00%"));
    assert!(
        markdown.contains("| payments | 1 | 1 | 1 | 100.00% |"),
        "{markdown}"
    );
    let prometheus = to_prometheus(&scan);
    for line in [
        "cmek_gate_scan_compliance_ratio 0.5",
        "cmek_gate_scan_compliance_ratio_by_project{project=\"123\"} 0.5",
        "cmek_gate_scan_keys_not_needed 1",
    ] {
        assert!(prometheus.contains(line), "{line} not in\n{prometheus}");
    }
}

/// CSV fields as RFC 4180 quotes them: only where needed, quotes doubled; and every row reads
/// back, field for field, with a CSV reader.
#[test]
fn csv_quotes_only_what_needs_quoting_and_reads_back() {
    for (owner, written) in [
        ("web", "web"),
        ("a,b", "\"a,b\""),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("two\nlines", "\"two\nlines\""),
        ("cr\rhere", "\"cr\rhere\""),
        ("", ""),
    ] {
        let resource = Resource {
            file: "list.json".into(),
            document: 0,
            line: 5,
            kind: "Service".into(),
            name: "api".into(),
            project: "123".into(),
            region: "europe-west1".into(),
            classification: "confidential".into(),
            owner: owner.into(),
            sensitive: true,
            key: String::new(),
            compliant: false,
            failing: vec!["cmek-required".into(), "owner-label".into()],
        };
        let scan = Scan {
            resources: vec![resource],
            ..Scan::default()
        };
        let csv = to_csv(&scan);
        let row = csv.split_once('\n').unwrap().1;
        assert_eq!(
            row,
            format!("list.json,0,5,Service,123,europe-west1,api,confidential,{written},true,,false,cmek-required owner-label\n"),
            "{owner:?}"
        );
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 1);
        assert_eq!(&records[0][8], owner);
    }
}

#[test]
fn empty_lists_are_told_from_inputs_with_nothing_in_them() {
    let limits = crate::manifest::ReadLimits::default();
    for (text, empty_list) in [
        ("[]", true),
        ("[ ]\n", true),
        ("\u{feff}[]", true),
        ("apiVersion: v1\nkind: List\nitems: []\n", true),
        ("apiVersion: v1\nkind: List\nitems:\n", true),
        ("# a comment\n---\n[]\n", true),
        ("", false),
        ("\n", false),
        ("# only a comment\n", false),
        ("---\n", false),
        ("null\n", false),
        ("{}", false),
        ("[{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"}}]", false),
        ("apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}]\n", false),
        ("[]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", false),
        ("[", false),
    ] {
        assert_eq!(
            is_empty_list(text.as_bytes(), &limits),
            empty_list,
            "{text:?}"
        );
    }
}

#[test]
fn nothing_scanned_is_fully_compliant() {
    assert_eq!(Scan::default().total.compliance_percent, 100.0);
    assert!(to_table(&Scan::default())
        .starts_with("0 Cloud Run resources, 0 sensitive, 0 compliant: compliance 100.00% (no sensitive resources)\n"));
    assert!(to_prometheus(&Scan::default()).contains("\ncmek_gate_scan_compliance_ratio 1.0\n"));
}

/// Label values are escaped as the exposition formats say (prometheus-client writes them as
/// they are), and the text ends with `# EOF`.
#[test]
fn prometheus_label_values_are_escaped() {
    for (owner, label) in [
        ("web", "web"),
        ("a\"b", "a\\\"b"),
        ("back\\slash", "back\\\\slash"),
        ("two\nlines", "two\\nlines"),
    ] {
        let mut scan = Scan::default();
        scan.by_owner.insert(owner.to_owned(), Tally::default());
        let text = to_prometheus(&scan);
        let line = format!("\ncmek_gate_scan_compliance_ratio_by_owner{{owner=\"{label}\"}} 1.0\n");
        assert!(text.contains(&line), "{owner:?}: {text}");
        assert!(text.ends_with("\n# EOF\n"), "{text}");
    }
}

/// With live data, compliant means the key works: a disabled key, and a service agent without
/// the role, are listed with the live policies' messages.
#[test]
fn live_scans_list_unusable_keys_and_agents_without_the_role() {
    let mut sources = embedded::sources();
    sources.extend(embedded::live_sources());
    let set = PolicySet::compile(&sources, &[]).unwrap();
    let key = "projects/kms-prod/locations/europe-west1/keyRings/r/cryptoKeys/k";
    let fixture: crate::live::Fixture = serde_json::from_value(serde_json::json!({
        "keys": {key: {"purpose": "ENCRYPT_DECRYPT", "rotationPeriod": "7776000s",
                       "primary": {"state": "DISABLED"}}},
    }))
    .unwrap();
    let live = crate::live::Live {
        source: crate::live::Source::Fixture(fixture),
        unreachable: crate::live::Unreachable::Deny,
    };
    let options = CheckOptions {
        live: Some(std::sync::Arc::new(live)),
        ..CheckOptions::default()
    };
    let input = Input {
        name: "list.json".into(),
        text: INPUT.into(),
    };
    let (report, documents) = check_inputs_keeping_documents(&set, &[input], &options);
    let scan = scan(&ScanSettings::from_policy_set(&set), &documents, &report);
    // pay was the one compliant resource: its key is disabled now.
    assert_eq!(scan.total.compliant, 0, "{:?}", scan.total);
    let names = |list: &[LiveProblem]| -> Vec<String> {
        list.iter().map(|p| p.resource.name.clone()).collect()
    };
    assert_eq!(names(&scan.key_not_usable), ["pay", "report"]);
    assert!(scan.key_not_usable[0]
        .message
        .contains("primary version is DISABLED"));
    // The key exists, and no policy grants the agents the role.
    assert_eq!(names(&scan.agent_without_role), ["pay", "report"]);
    assert!(scan.agent_without_role[0]
        .message
        .contains("gcloud kms keys add-iam-policy-binding k --keyring r"));
    let table = crate::scan::to_table(&scan);
    assert!(table.contains("key not usable (live) (2)"), "{table}");
    assert!(
        table.contains("Cloud Run service agent without the key role (live) (2)"),
        "{table}"
    );
}
