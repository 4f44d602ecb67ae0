//! A batch of manifest texts judged: parse each, evaluate every document with the engine, gather a
//! [`Report`]. Pure (no files): the CLI reads the files, the server reads the body, and both call
//! [`check_inputs`], so they give the same verdict for the same manifest and policies.

use crate::engine::{self, Request};
use crate::manifest::{self, Document, ManifestError, Node, ParsedPart, Part, ReadLimits};
use crate::policy::PolicySet;
use crate::report::{DocumentResult, InputError, Report};
use std::collections::HashMap;

/// One input text and the name to report it by (a path, or `<stdin>`).
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub text: Vec<u8>,
}

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub limits: ReadLimits,
    /// The admission operation to evaluate as (CREATE by default).
    pub operation: String,
    /// Threads to evaluate with (1 = in the caller's thread).
    pub threads: usize,
    /// Run the mutating policies first and judge the mutated objects (`check --mutate`, `fix`).
    pub mutate: bool,
    /// Namespaces given by their labels (a `kind: Namespace` document in the input comes first),
    /// and what a namespace selector does for the others.
    pub namespaces: crate::namespaces::KnownNamespaces,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            limits: ReadLimits::default(),
            operation: "CREATE".into(),
            threads: 1,
            mutate: false,
            namespaces: Default::default(),
        }
    }
}

/// Parses and evaluates every input. Inputs that cannot be read are reported as errors, never
/// skipped; `kind: Namespace` documents (else `options.namespaces`) give the namespace labels and
/// `namespaceObject` of the other documents. A binding whose namespace selector needs labels
/// nobody gave leaves its document undecided (not allowed).
pub fn check_inputs(set: &PolicySet, inputs: &[Input], options: &CheckOptions) -> Report {
    check_inputs_keeping_documents(set, inputs, options).0
}

/// [`check_inputs`], also giving back the documents, in the order of the report's results.
pub fn check_inputs_keeping_documents(
    set: &PolicySet,
    inputs: &[Input],
    options: &CheckOptions,
) -> (Report, Vec<Document>) {
    let threads = options.threads.clamp(1, 64);
    let mut report = Report::default();
    let mut parsed: Vec<(usize, Vec<Document>)> = Vec::new();
    for (i, result) in parse_inputs(inputs, options, threads)
        .into_iter()
        .enumerate()
    {
        match result {
            Ok(documents) => parsed.push((i, documents)),
            Err(error) => report.errors.push(InputError {
                file: inputs[i].name.clone(),
                message: error.to_string(),
            }),
        }
    }
    let namespaces: HashMap<&str, &Node> = parsed
        .iter()
        .flat_map(|(_, docs)| docs.iter())
        .filter(|d| d.kind == "Namespace" && d.api_version == "v1")
        .map(|d| (d.name.as_str(), &d.root))
        .collect();
    let jobs: Vec<(&str, &Document)> = parsed
        .iter()
        .flat_map(|(i, docs)| docs.iter().map(move |d| (inputs[*i].name.as_str(), d)))
        .collect();
    let judge = |(file, document): &(&str, &Document)| {
        let mut request = Request::create(document);
        request.operation = options.operation.clone();
        request.namespace_object = namespaces
            .get(document.namespace.as_str())
            .copied()
            .or_else(|| options.namespaces.object(&document.namespace));
        request.unknown_namespaces = options.namespaces.unknown;
        let phases = if options.mutate {
            engine::Phases::ALL
        } else {
            engine::Phases::VALIDATE
        };
        let decision = engine::admit(set, &request, phases);
        DocumentResult::new(file, document, decision)
    };
    if threads == 1 || jobs.len() < 64 {
        report.results = jobs.iter().map(judge).collect();
    } else {
        let chunk = jobs.len().div_ceil(threads);
        report.results = in_parallel(jobs.chunks(chunk), |part| {
            part.iter().map(judge).collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
    }
    let documents = parsed.into_iter().flat_map(|(_, docs)| docs).collect();
    report.ignored_params = set.unselected_params().iter().map(Into::into).collect();
    (report, documents)
}

/// Below this size a text is parsed in one piece.
const SPLIT_BYTES: usize = 512 * 1024;

/// Parses every input; large YAML streams are split at document boundaries and their parts
/// parsed on `threads` threads. Positions and document numbers are those of the whole text.
fn parse_inputs(
    inputs: &[Input],
    options: &CheckOptions,
    threads: usize,
) -> Vec<Result<Vec<Document>, ManifestError>> {
    let limits = &options.limits;
    let mut results: Vec<Result<Vec<Document>, ManifestError>> = Vec::with_capacity(inputs.len());
    let mut tasks: Vec<(usize, u32, &str)> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match manifest::decode(&input.text, limits) {
            Ok(text) => {
                let text = text.strip_prefix('\u{feff}').unwrap_or(text);
                let parts = if threads > 1 && text.len() >= SPLIT_BYTES {
                    threads
                } else {
                    1
                };
                for (line_offset, piece) in manifest::split_stream(text, parts) {
                    tasks.push((i, line_offset, piece));
                }
                results.push(Ok(Vec::new()));
            }
            Err(error) => results.push(Err(error)),
        }
    }
    let parse = |&(_, line_offset, piece): &(usize, u32, &str)| {
        let part = Part {
            line_offset,
            ..Part::default()
        };
        manifest::parse_part(piece, limits, part)
    };
    let total: usize = tasks.iter().map(|t| t.2.len()).sum();
    let parsed: Vec<Result<ParsedPart, ManifestError>> = if threads == 1 || total < SPLIT_BYTES {
        tasks.iter().map(parse).collect()
    } else {
        in_parallel(tasks.chunks(tasks.len().div_ceil(threads)), |chunk| {
            chunk.iter().map(parse).collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect()
    };
    // Join the parts of each input in order, numbering their documents as in the whole text.
    let mut counts: Vec<(usize, usize)> = vec![(0, 0); inputs.len()];
    for ((input, _, _), part) in tasks.iter().zip(parsed) {
        let (yaml_before, objects_before) = counts[*input];
        let Ok(documents) = &mut results[*input] else {
            continue;
        };
        match part {
            Ok(mut part) => {
                for document in &mut part.documents {
                    document.index += objects_before;
                }
                counts[*input] = (
                    yaml_before + part.yaml_documents,
                    objects_before + part.documents.len(),
                );
                documents.append(&mut part.documents);
            }
            Err(error) => results[*input] = Err(error.shifted(yaml_before, objects_before)),
        }
    }
    for result in &mut results {
        if matches!(result, Ok(documents) if documents.is_empty()) {
            *result = Err(ManifestError::NoDocuments);
        }
    }
    results
}

/// Runs `work` on each chunk on its own thread and returns the results in order.
fn in_parallel<'a, T: Sync + 'a, R: Send>(
    chunks: impl Iterator<Item = &'a [T]>,
    work: impl Fn(&'a [T]) -> R + Sync,
) -> Vec<R> {
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = chunks
            .map(|chunk| scope.spawn(move || work(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a check thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Source;

    const POLICY: &str = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: prod-only
spec:
  matchConstraints:
    namespaceSelector:
      matchLabels: {env: prod}
    resourceRules:
      - {apiGroups: [serving.knative.dev], apiVersions: ['*'], resources: [services], operations: [CREATE]}
  validations:
    - expression: namespaceObject.metadata.labels.team == object.metadata.labels.team
      message: team differs from the namespace's
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: prod-only
spec:
  policyName: prod-only
  validationActions: [Deny]
";

    const MANIFESTS: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {env: prod, team: payments}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: a, namespace: shop, labels: {team: payments}}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: b, namespace: shop, labels: {team: search}}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: c, namespace: elsewhere, labels: {team: search}}
";

    #[test]
    fn namespace_documents_give_selector_labels_and_namespace_object() {
        let set = PolicySet::compile(
            &[Source {
                name: "p.yaml".into(),
                text: POLICY.into(),
            }],
            &[],
        )
        .unwrap();
        let input = Input {
            name: "m.yaml".into(),
            text: MANIFESTS.into(),
        };
        use crate::namespaces::KnownNamespaces;
        use crate::policy::matching::UnknownNamespaces;
        let known = |labels: &[&str], unknown| {
            let labels: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
            KnownNamespaces::parse(&labels, unknown).unwrap()
        };
        // `c` is in a namespace no document describes: (how, skipped, allowed, undecided).
        let cases = [
            (known(&[], UnknownNamespaces::Undecided), false, false, true),
            (known(&[], UnknownNamespaces::NoMatch), true, true, false),
            // Matched without a namespace object: the expression fails (failurePolicy Fail).
            (known(&[], UnknownNamespaces::MatchAll), false, false, false),
            (
                known(
                    &["elsewhere=env=prod,team=search"],
                    UnknownNamespaces::Undecided,
                ),
                false,
                true,
                false,
            ),
            (
                known(&["elsewhere=env=test"], UnknownNamespaces::Undecided),
                true,
                true,
                false,
            ),
            // A Namespace document comes before the labels given.
            (
                known(&["shop=env=test"], UnknownNamespaces::NoMatch),
                true,
                true,
                false,
            ),
        ];
        for (i, (namespaces, skipped, allowed, undecided)) in cases.into_iter().enumerate() {
            let options = CheckOptions {
                namespaces,
                ..CheckOptions::default()
            };
            let report = check_inputs(&set, std::slice::from_ref(&input), &options);
            let verdicts: Vec<_> = report
                .results
                .iter()
                .map(|r| {
                    (
                        r.name.as_str(),
                        r.skipped,
                        r.allowed,
                        !r.undecided.is_empty(),
                    )
                })
                .collect();
            assert_eq!(
                verdicts,
                vec![
                    ("shop", true, true, false),
                    ("a", false, true, false),
                    ("b", false, false, false),
                    ("c", skipped, allowed, undecided)
                ],
                "case {i}"
            );
            assert_eq!(
                report.exit_code(),
                if undecided { 2 } else { 1 },
                "case {i}"
            );
        }
    }

    /// 600 copies of the example (large enough to be split for parsing) and `tail`, checked on
    /// one thread and on two.
    fn one_and_two_threads(tail: &str) -> (Report, Report) {
        around_600_services("", tail)
    }

    /// `head`, 600 copies of the example and `tail`, checked on one thread and on two.
    fn around_600_services(head: &str, tail: &str) -> (Report, Report) {
        let set = PolicySet::compile(&crate::policy::embedded::sources(), &[]).unwrap();
        let service = include_str!("../examples/service.yaml");
        let mut text = head.to_string();
        text.extend((0..600).map(|_| format!("---\n{service}")));
        text.push_str(tail);
        assert!(
            text.len() > SPLIT_BYTES,
            "the text must be large enough to be split"
        );
        let input = Input {
            name: "many.yaml".into(),
            text: text.into_bytes(),
        };
        let one = check_inputs(&set, std::slice::from_ref(&input), &CheckOptions::default());
        let options = CheckOptions {
            threads: 2,
            ..CheckOptions::default()
        };
        (one, check_inputs(&set, &[input], &options))
    }

    #[test]
    fn threads_give_the_same_report_in_the_same_order() {
        let (one, two) = one_and_two_threads("");
        assert_eq!(one.results.len(), 600);
        assert_eq!(one, two);
    }

    #[test]
    fn split_parsing_reports_errors_as_the_whole_text_would() {
        let (one, two) = one_and_two_threads("---\napiVersion: v1\nkind: X\nmetadata: {name: [\n");
        assert!(
            one.errors[0].message.starts_with("document 600: line "),
            "{:?}",
            one.errors
        );
        assert_eq!(one, two);
    }

    /// An alias to an anchor of another document is refused whether or not the file is large
    /// enough to be split for parsing (kubectl and gcloud do not carry anchors across documents).
    #[test]
    fn aliases_across_documents_are_refused_whatever_the_size() {
        let head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: &l {data-classification: confidential}}\n";
        let tail = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, labels: *l}\n";
        let set = PolicySet::compile(&crate::policy::embedded::sources(), &[]).unwrap();
        let small = Input {
            name: "small.yaml".into(),
            text: format!("{head}{tail}").into_bytes(),
        };
        let small = check_inputs(&set, &[small], &CheckOptions::default());
        let (one, two) = around_600_services(head, tail);
        for report in [&small, &one, &two] {
            assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
            assert!(
                report.errors[0]
                    .message
                    .contains("alias to an unknown anchor"),
                "{:?}",
                report.errors
            );
            assert_eq!(report.exit_code(), 2);
        }
        assert!(
            small.errors[0].message.starts_with("document 1: line 7"),
            "{:?}",
            small.errors
        );
        assert!(one.errors[0].message.starts_with("document 601: line "));
        assert_eq!(one, two);
    }

    #[test]
    fn unreadable_inputs_are_errors_beside_the_others() {
        let set = PolicySet::compile(&crate::policy::embedded::sources(), &[]).unwrap();
        let inputs = [
            Input {
                name: "bad.yaml".into(),
                text: b"a: [\n".to_vec(),
            },
            Input {
                name: "good.yaml".into(),
                text: include_bytes!("../examples/service-compliant.yaml").to_vec(),
            },
        ];
        let report = check_inputs(&set, &inputs, &CheckOptions::default());
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].file, "bad.yaml");
        assert_eq!(report.results.len(), 1);
        assert_eq!(report.exit_code(), 2);
    }
}
