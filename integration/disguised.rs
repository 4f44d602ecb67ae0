//! Files that hide a sensitive Service with no key behind a construct kubectl or gcloud read
//! differently from YAML 1.2 (issue 13): each must be refused (exit 2, HTTP 400) with a message
//! naming the construct and its line, by `check`, `fix` and `/v1/check`.

/// A Service in europe-west1 with `labels` (indented under `metadata:`) and no key.
fn service(name: &str, labels: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {name}
  namespace: '123456789012'
  labels:
    cloud.googleapis.com/location: europe-west1
{labels}spec:
  template:
    spec:
      containers:
      - image: europe-docker.pkg.dev/p/r/app:1.0.0
"
    )
}

/// One disguise: its name, the file's text, what the message says and the line it names.
pub struct Disguised {
    pub name: &'static str,
    pub text: Vec<u8>,
    pub message: &'static str,
    pub line: u32,
}

pub fn variants() -> Vec<Disguised> {
    let public = "    data-classification: public\n";
    let v = |name, text: String, message, line| Disguised {
        name,
        text: text.into_bytes(),
        message,
        line,
    };
    vec![
        // To YAML 1.1 the U+2028 ends the comment: the label is real to kubectl and gcloud.
        v(
            "line-break-in-comment",
            service("a", "    owner: x # note\u{2028}    data-classification: confidential\n"),
            "a YAML 1.1 line break (U+2028)",
            8,
        ),
        v(
            "merge-key",
            service(
                "a",
                "    data-classification: public\n    <<: {data-classification: confidential}\n",
            ),
            "a merge key (<<)",
            9,
        ),
        v(
            "control-character",
            service("a", "    data-classification: confidential\u{1}\n"),
            "a control character (U+0001)",
            8,
        ),
        v(
            "anchor-of-another-document",
            format!(
                "{}---\n{}",
                service("a", "    sensitive: &c confidential\n"),
                service("b", "    data-classification: *c\n")
            ),
            "alias to an unknown anchor",
            22,
        ),
        v(
            "yaml-1.1-key",
            service("a", &format!("{public}    n: confidential\n")),
            "an unquoted key that kubectl or gcloud (YAML 1.1) read as a boolean",
            9,
        ),
        v(
            "yaml-1.1-value",
            service("a", "    data-classification: confidential\n    pci: yes\n"),
            "an unquoted value that kubectl or gcloud (YAML 1.1) read as a boolean",
            9,
        ),
        v(
            "binary-tag",
            service("a", "    data-classification: !!binary Y29uZmlkZW50aWFs\n"),
            "unsupported tag !!binary",
            8,
        ),
        v(
            "document-end-marker",
            format!(
                "{}...\n{}",
                service("a", public),
                service("b", "    data-classification: confidential\n")
            ),
            "a document end marker (...)",
            14,
        ),
        v(
            "items-outside-a-list",
            format!(
                "{}items:\n- {}\n",
                service("a", public),
                "{apiVersion: serving.knative.dev/v1, kind: Service, metadata: {name: b, labels: {data-classification: confidential}}}"
            ),
            "an object with an `items` field outside a List",
            14,
        ),
        v(
            "list-in-a-list",
            format!(
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n  - {}\n",
                "{apiVersion: serving.knative.dev/v1, kind: Service, metadata: {name: b, labels: {data-classification: confidential}}}"
            ),
            "an object with an `items` field in a List",
            6,
        ),
        v(
            "json-lone-surrogate",
            "{\"apiVersion\": \"serving.knative.dev/v1\", \"kind\": \"Service\",\n \"metadata\": {\"name\": \"a\", \"labels\": {\"data-classification\": \"confidential\\ud800\"}}}\n".into(),
            "invalid Unicode character escape code",
            2,
        ),
    ]
}
