//! Scans of small inputs checked with the shipped library.

use super::*;
use crate::batch::{check_inputs_judging, CheckOptions, Input};
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
    let settings = ScanSettings::from_policy_set(&set).unwrap();
    let judged = check_inputs_judging(&set, &[input], &CheckOptions::default(), |d, _| {
        describe(&settings, &d)
    });
    scan(&settings, judged.kept, &judged.report)
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
            messages: Vec::new(),
            undecided: Vec::new(),
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
    // Long comments do not count towards the bound on what is parsed; long text does (a text
    // that long is no empty list, and the check reads it).
    let comments = "# a license header line that goes on and on\n".repeat(5_000);
    assert!(is_empty_list(format!("{comments}[]\n").as_bytes(), &limits));
    let padded = format!(
        "apiVersion: v1\nkind: List\nitems: []\nmetadata: {{annotations: {{a: \"{}\"}}}}\n",
        "x".repeat(70_000)
    );
    assert!(!is_empty_list(padded.as_bytes(), &limits));
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
    let settings = ScanSettings::from_policy_set(&set).unwrap();
    let judged = check_inputs_judging(&set, &[input], &options, |d, _| describe(&settings, &d));
    let scan = scan(&settings, judged.kept, &judged.report);
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
    // The live lists come with the rest of the scan: the keys and their cost estimate.
    assert_eq!(
        scan.keys.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(),
        [key]
    );
    assert!(scan.kms_cost.monthly_total > 0.0, "{:?}", scan.kms_cost);
    assert_streamed_json_is_the_whole_json(&scan);
    let table = crate::scan::to_table(&scan);
    assert!(table.contains("estimated KMS cost"), "{table}");
    assert!(table.contains("key not usable (live) (2)"), "{table}");
    assert!(
        table.contains("Cloud Run service agent without the key role (live) (2)"),
        "{table}"
    );
}

/// The shipped params carry the same price table as the gate's default, so a user who copies
/// them starts from what the gate would use.
#[test]
fn the_shipped_params_carry_the_default_price_table() {
    let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
    let settings = ScanSettings::from_policy_set(&set).unwrap();
    assert_eq!(settings.kms_prices, cost::KmsPrices::default());
    assert_eq!(settings.kms_usage, cost::KmsUsage::default());
}

/// A key's cost is its versions and operations at its protection level's prices, shared
/// equally among the resources using it; a level with no price is named, not guessed.
#[test]
fn kms_cost_is_estimated_per_key_and_shared_out_by_owner_and_project() {
    let params = crate::policy::Source {
        name: "params.yaml".into(),
        text: r#"apiVersion: cmek-gate.dev/v1alpha1
kind: CmekGateParams
metadata: {name: default}
spec:
  kmsPrices:
    asOf: "2026-01-01"
    keyVersionPerMonth: {SOFTWARE: 0.06, HSM: 1}
    per10kOperations: {SOFTWARE: 0.03, HSM: 0.05}
  kmsUsage:
    default: {operationsPerMonth: 10000}
    keys:
      projects/kms-prod/locations/europe-west1/keyRings/r/cryptoKeys/k: {protectionLevel: HSM, activeVersions: 3, operationsPerMonth: 2000000}
"#
        .into(),
    };
    let set = PolicySet::compile(&embedded::sources(), &[params]).unwrap();
    let settings = ScanSettings::from_policy_set(&set).unwrap();
    let text = format!(
        "{}\n{}",
        INPUT.trim_end().trim_end_matches(']'),
        r#",{"apiVersion": "serving.knative.dev/v1", "kind": "Service",
  "metadata": {"name": "ext", "namespace": "789", "labels": {"cloud.googleapis.com/location": "europe-west1", "data-classification": "confidential", "owner": "ops"}},
  "spec": {"template": {"metadata": {"annotations": {"run.googleapis.com/encryption-key": "projects/kms-prod/locations/europe-west1/keyRings/r/cryptoKeys/ekm"}}, "spec": {"containers": [{"image": "x"}]}}}}
]"#
    );
    let input = Input {
        name: "list.json".into(),
        text: text.into(),
    };
    let judged = check_inputs_judging(&set, &[input], &CheckOptions::default(), |d, _| {
        describe(&settings, &d)
    });
    let scan = scan(&settings, judged.kept, &judged.report);
    // k: 3 HSM versions (3.00) and 2,000,000 operations (200 × 0.05 = 10.00), used by `pay`
    // (payments, 123) and `report` (bi, 456). ekm: the default (SOFTWARE, 1 version, 10,000
    // operations): 0.06 + 0.03.
    let k = &scan.keys[1];
    assert_eq!(
        k.key,
        "projects/kms-prod/locations/europe-west1/keyRings/r/cryptoKeys/k"
    );
    assert_eq!(k.usage.protection_level, "HSM");
    assert_eq!(k.estimated_monthly_cost, Some(13.0));
    assert_eq!(scan.keys[0].estimated_monthly_cost, Some(0.09));
    let c = &scan.kms_cost;
    assert!(c.estimate);
    assert_eq!(
        (c.currency.as_str(), c.prices_as_of.as_str()),
        ("USD", "2026-01-01")
    );
    assert_eq!(c.monthly_total, 13.09);
    assert_eq!(c.monthly_by_owner["payments"], 6.5);
    assert_eq!(c.monthly_by_owner["bi"], 6.5);
    assert_eq!(c.monthly_by_owner["ops"], 0.09);
    assert_eq!(c.monthly_by_project["456"], 6.5);
    assert!(to_table(&scan).contains("estimated KMS cost: 13.09 USD a month (an estimate"));
    assert!(to_prometheus(&scan).contains("\ncmek_gate_scan_kms_estimated_monthly_cost 13.09\n"));

    // A protection level the table has no price for: named, not counted.
    let mut settings = settings;
    settings.kms_usage.default.protection_level = "EXTERNAL".into();
    let mut unpriced = scan.keys.clone();
    let estimate = super::tally::estimate_costs(&settings, &mut unpriced);
    assert_eq!(
        estimate.unpriced_keys,
        ["projects/kms-prod/locations/europe-west1/keyRings/r/cryptoKeys/ekm"]
    );
    assert_eq!(estimate.monthly_total, 13.0);
}

/// A price table or usage the gate cannot read is refused, naming the field: misread, it would
/// give wrong figures that look right.
#[test]
fn kms_prices_and_usage_that_cannot_be_read_are_refused_naming_the_field() {
    let spec = |text: &str| {
        let text = format!("apiVersion: v1\nkind: X\nmetadata: {{name: x}}\nspec:\n{text}");
        crate::manifest::parse_documents(&text, &Default::default()).unwrap()[0]
            .root
            .get("spec")
            .unwrap()
            .clone()
    };
    for (text, message) in [
        ("  kmsPrices: cheap\n", "spec.kmsPrices: must be a mapping"),
        (
            "  kmsPrices: {keyVersionPerMonth: {HSM: \"one\"}}\n",
            "spec.kmsPrices.keyVersionPerMonth.HSM: must be a number, zero or more",
        ),
        (
            "  kmsPrices: {per10kOperations: {SOFTWARE: -1}}\n",
            "spec.kmsPrices.per10kOperations.SOFTWARE: must be a number, zero or more",
        ),
        (
            "  kmsPrices: {keyVersionsPerMonth: {HSM: 1}}\n",
            "spec.kmsPrices.keyVersionsPerMonth: is not a field of kmsPrices",
        ),
    ] {
        let error = cost::prices_from(&spec(text)).unwrap_err().to_string();
        assert_eq!(error, message, "{text}");
    }
    for (text, message) in [
        (
            "  kmsUsage: {default: {activeVersions: many}}\n",
            "spec.kmsUsage.default.activeVersions: must be a number, zero or more",
        ),
        (
            "  kmsUsage: {keys: {k: {operations: 5}}}\n",
            "spec.kmsUsage.keys[k].operations: is not a field of a key's usage",
        ),
        (
            "  kmsUsage: {keys: []}\n",
            "spec.kmsUsage.keys: must be a mapping",
        ),
        (
            "  kmsUsage: {defaults: {}}\n",
            "spec.kmsUsage.defaults: is not a field of kmsUsage",
        ),
    ] {
        let error = cost::usage_from(&spec(text)).unwrap_err().to_string();
        assert_eq!(error, message, "{text}");
    }
    // What reads is read as before: the keys over the default, wherever it stands.
    let usage = cost::usage_from(&spec(
        "  kmsUsage: {keys: {k: {activeVersions: 2}}, default: {protectionLevel: HSM}}\n",
    ))
    .unwrap();
    assert_eq!(usage.keys["k"].protection_level, "HSM");
    assert_eq!(usage.keys["k"].active_versions, 2.0);
}

/// The JSON written list by list, one resource at a time, has the bytes of the whole scan's.
fn assert_streamed_json_is_the_whole_json(scan: &Scan) {
    let mut streamed = Vec::new();
    listing::write_json(scan, &mut listing::InMemory(scan), &mut streamed).unwrap();
    let whole = serde_json::to_string_pretty(scan).unwrap() + "\n";
    assert_eq!(String::from_utf8(streamed).unwrap(), whole);
}

#[test]
fn the_streamed_json_is_the_whole_json() {
    let mut scan = scanned();
    assert_streamed_json_is_the_whole_json(&scan);
    assert_streamed_json_is_the_whole_json(&Scan::default());
    scan.empty_lists = vec!["empty.json".into()];
    scan.errors = vec![crate::report::InputError {
        file: "bad.yaml".into(),
        message: "a \"quoted\"\nmessage".into(),
    }];
    let history = history::History::default();
    let mut history = history;
    let step = history
        .add(&history::snapshot_of(&scan.resources, 1_700_000_000))
        .unwrap();
    scan.history = Some(history.report(step));
    assert_streamed_json_is_the_whole_json(&scan);
}

/// The counts kept as resources come (memory by group and key, not by resource) are those of
/// the scan that holds every resource, and each resource is listed where the scan lists it.
#[test]
fn tallies_count_as_the_whole_scan_counts() {
    let whole = scanned();
    let mut tallies = Tallies::default();
    for r in &whole.resources {
        let listed = Listed {
            resource: r.clone(),
            key_not_usable: None,
            agent_without_role: None,
        };
        tallies.add(&listed);
    }
    assert_eq!(
        tallies.list_length(List::NonCompliant),
        whole.non_compliant.len()
    );
    assert_eq!(
        tallies.list_length(List::KeysNotNeeded),
        whole.keys_not_needed.len()
    );
    assert_eq!(tallies.list_length(List::Resources), 3);
    let settings = ScanSettings::default();
    let counted = tallies.finish(&settings);
    assert_eq!(counted.total, whole.total);
    assert_eq!(counted.by_owner, whole.by_owner);
    assert_eq!(counted.by_project, whole.by_project);
    assert_eq!(counted.keys, whole.keys);
    assert_eq!(counted.kms_cost, whole.kms_cost);
    assert!(counted.resources.is_empty() && counted.non_compliant.is_empty());
}
