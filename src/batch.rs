//! A batch of manifest texts judged: parse each, evaluate every document with the engine, gather a
//! [`Report`]. Pure (no files): the CLI reads the files, the server reads the body, and both call
//! [`check_inputs`], so they give the same verdict for the same manifest and policies.

use crate::engine::{self, Request};
use crate::manifest::{self, Document, ManifestError, Node, Part, ReadLimits};
use crate::policy::PolicySet;
use crate::report::{DocumentResult, IgnoredParam, InputError, Report};
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
    /// Live mode (`--live`): the `kms` extension answered from Google.
    pub live: Option<std::sync::Arc<crate::live::Live>>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            limits: ReadLimits::default(),
            operation: "CREATE".into(),
            threads: 1,
            mutate: false,
            namespaces: Default::default(),
            live: None,
        }
    }
}

/// Receives a check's findings as they are decided (see [`check_inputs_streaming`]).
pub trait ReportSink {
    /// The results of one input, in document order, once the whole input has been read: an input
    /// that cannot be read gives an error and no results.
    fn input_results(&mut self, results: Vec<DocumentResult>);
    /// An input that could not be read.
    fn input_error(&mut self, error: InputError);
    /// The parameter objects no binding selects (told once, before the results).
    fn ignored_params(&mut self, params: Vec<IgnoredParam>);
}

impl ReportSink for Report {
    fn input_results(&mut self, mut results: Vec<DocumentResult>) {
        self.results.append(&mut results);
    }

    fn input_error(&mut self, error: InputError) {
        self.errors.push(error);
    }

    fn ignored_params(&mut self, params: Vec<IgnoredParam>) {
        self.ignored_params = params;
    }
}

/// Parses and evaluates every input. Inputs that cannot be read are reported as errors, never
/// skipped; `kind: Namespace` documents (else `options.namespaces`) give the namespace labels and
/// `namespaceObject` of the other documents. A binding whose namespace selector needs labels
/// nobody gave leaves its document undecided (not allowed).
pub fn check_inputs(set: &PolicySet, inputs: &[Input], options: &CheckOptions) -> Report {
    let mut report = Report::default();
    check_inputs_streaming(set, inputs, options, &mut report);
    report
}

/// A check's report with what the caller kept of each judged document (by `keep`, in the order
/// of the report's results).
#[derive(Debug)]
pub struct Judged<K> {
    pub report: Report,
    pub kept: Vec<K>,
    /// For each result: whether its verdict is the one validation alone gives for the document as
    /// written (see [`engine::admit_telling`]).
    pub validation_alone: Vec<bool>,
    /// For each input: what its text spent of the budgets of [`ReadLimits`] (nothing for an
    /// input that could not be read).
    pub counts: Vec<manifest::yaml::Counts>,
}

/// [`check_inputs`], also telling which verdicts validation alone gives, and keeping what `keep`
/// makes of each document and its result. `keep` runs on the check's threads as each piece is
/// judged, so a caller that needs a few facts of each document (not the document) keeps memory
/// from growing with the input. The result's document number given to `keep` counts within its
/// piece: the report's results have the final numbers.
pub fn check_inputs_judging<K: Send>(
    set: &PolicySet,
    inputs: &[Input],
    options: &CheckOptions,
    keep: impl Fn(Document, &DocumentResult) -> K + Sync,
) -> Judged<K> {
    let mut report = Report::default();
    let (kept, validation_alone, counts) =
        check(set, inputs, options, &mut report, Some(&keep), None);
    Judged {
        report,
        kept,
        validation_alone,
        counts,
    }
}

/// A verdict to take instead of judging a document: given the input's index and the document
/// (its line is its line in the whole text), the result validation alone gave for the same text,
/// if there is one (see [`recheck_inputs`]). The result's document number is set by the check.
pub type Earlier<'a> = dyn Fn(usize, &Document) -> Option<DocumentResult> + Sync + 'a;

/// [`check_inputs`] of texts that are mostly judged already (`fix`'s fixed texts): every text is
/// parsed and read whole, and each document is judged unless `earlier` gives its verdict.
pub fn recheck_inputs(
    set: &PolicySet,
    inputs: &[Input],
    options: &CheckOptions,
    earlier: &Earlier,
) -> Report {
    let mut report = Report::default();
    check::<()>(set, inputs, options, &mut report, None, Some(earlier));
    report
}

/// [`check_inputs`], giving each input's results to `sink` as soon as the input is decided.
/// Texts are parsed and judged piece by piece (a few hundred kilobytes of whole documents at a
/// time, on `options.threads` threads), and each piece's documents are released once judged, so
/// memory does not grow with the number of documents beyond their (small) results.
pub fn check_inputs_streaming(
    set: &PolicySet,
    inputs: &[Input],
    options: &CheckOptions,
    sink: &mut dyn ReportSink,
) {
    check::<()>(set, inputs, options, sink, None, None);
}

/// One piece's verdicts: the results, whether validation alone gave each, and what was kept of
/// its documents.
type PieceVerdicts<K> = (Vec<DocumentResult>, Vec<bool>, Vec<K>);

/// What a check keeps of each document it judged (see [`check_inputs_judging`]).
type Keep<'a, K> = dyn Fn(Document, &DocumentResult) -> K + Sync + 'a;

/// Whether a document gives namespace labels to the others (a `kind: Namespace`, `v1`).
pub fn is_namespace(document: &Document) -> bool {
    document.kind == "Namespace" && document.api_version == "v1"
}

/// Judges one document of the input `file` as the check does: its verdict, and whether
/// validation alone gives it.
fn judge_document(
    set: &PolicySet,
    options: &CheckOptions,
    namespaces: &HashMap<&str, &Node>,
    file: &str,
    document: &Document,
) -> (DocumentResult, bool) {
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
    let (decision, validation_alone) =
        crate::live::admit_telling(options.live.as_deref(), set, &request, phases);
    (
        DocumentResult::new(file, document, decision),
        validation_alone,
    )
}

/// Judges some documents of the input `file` as [`check_inputs`] judges them, the namespace
/// labels given by `documents_read` (every document of the inputs, or at least their
/// `kind: Namespace` documents, in order) and `options.namespaces`. Each result keeps its
/// document's index.
pub fn judge_documents(
    set: &PolicySet,
    options: &CheckOptions,
    documents_read: &[&Document],
    file: &str,
    documents: &[Document],
) -> Vec<DocumentResult> {
    let namespaces: HashMap<&str, &Node> = documents_read
        .iter()
        .filter(|d| is_namespace(d))
        .map(|d| (d.name.as_str(), &d.root))
        .collect();
    documents
        .iter()
        .map(|d| judge_document(set, options, &namespaces, file, d).0)
        .collect()
}

fn check<K: Send>(
    set: &PolicySet,
    inputs: &[Input],
    options: &CheckOptions,
    sink: &mut dyn ReportSink,
    keep: Option<&Keep<K>>,
    earlier: Option<&Earlier>,
) -> (Vec<K>, Vec<bool>, Vec<manifest::yaml::Counts>) {
    sink.ignored_params(set.unselected_params().iter().map(Into::into).collect());
    let threads = options.threads.clamp(1, 64);
    let namespace_documents = namespace_documents(inputs, options, threads);
    let namespaces: HashMap<&str, &Node> = namespace_documents
        .iter()
        .map(|d| (d.name.as_str(), &d.root))
        .collect();
    let judge = |input: usize, document: &Document| {
        let file = inputs[input].name.as_str();
        if let Some(mut result) = earlier.and_then(|earlier| earlier(input, document)) {
            // Numbered within its piece, like the documents the check judges itself.
            result.document = document.index;
            return (result, true);
        }
        judge_document(set, options, &namespaces, file, document)
    };
    let (mut kept, mut alone) = (Vec::new(), Vec::new());
    let mut counts = vec![manifest::yaml::Counts::default(); inputs.len()];
    let texts: Vec<&[u8]> = inputs.iter().map(|i| i.text.as_slice()).collect();
    for_each_piece(
        &texts,
        options,
        threads,
        |input, documents| -> PieceVerdicts<K> {
            let mut results = Vec::with_capacity(documents.len());
            let mut validation_alone = Vec::with_capacity(documents.len());
            let mut kept = Vec::new();
            for document in documents {
                let (result, alone) = judge(input, &document);
                if let Some(keep) = keep {
                    kept.push(keep(document, &result));
                }
                results.push(result);
                validation_alone.push(alone);
            }
            (results, validation_alone, kept)
        },
        |input, decided| match decided {
            Ok((pieces, spent)) => {
                counts[input] = spent;
                let mut results = Vec::new();
                for (objects_before, (mut piece_results, mut validation_alone, mut piece_kept)) in
                    pieces
                {
                    for result in &mut piece_results {
                        result.document += objects_before;
                    }
                    results.append(&mut piece_results);
                    if keep.is_some() {
                        alone.append(&mut validation_alone);
                        kept.append(&mut piece_kept);
                    }
                }
                sink.input_results(results);
            }
            Err(error) => sink.input_error(InputError {
                file: inputs[input].name.clone(),
                message: error.to_string(),
            }),
        },
    );
    (kept, alone, counts)
}

/// The `kind: Namespace` documents (apiVersion v1) of the inputs that can be read, in order.
/// Only the inputs whose text could spell `Namespace` (the word itself, or an escape) are parsed
/// for them: the others cannot hold one.
fn namespace_documents(inputs: &[Input], options: &CheckOptions, threads: usize) -> Vec<Document> {
    let could_hold_one = |input: &Input| {
        let text = &input.text;
        memchr::memchr(b'\\', text).is_some() || memchr::memmem::find(text, b"Namespace").is_some()
    };
    let candidates: Vec<&[u8]> = inputs
        .iter()
        .filter(|i| could_hold_one(i))
        .map(|i| i.text.as_slice())
        .collect();
    let mut found = Vec::new();
    if candidates.is_empty() {
        return found;
    }
    for_each_piece(
        &candidates,
        options,
        threads,
        |_, documents| {
            documents
                .into_iter()
                .filter(is_namespace)
                .collect::<Vec<_>>()
        },
        |_, pieces| {
            if let Ok((pieces, _)) = pieces {
                found.extend(pieces.into_iter().flat_map(|(_, documents)| documents));
            }
        },
    );
    found
}

/// A text is parsed and judged in pieces of about this size (whole YAML documents).
const PIECE_BYTES: usize = 256 * 1024;

/// One piece of an input to parse: where it starts in its text, and whether it is the last.
struct Piece<'a> {
    input: usize,
    line_offset: u32,
    text: &'a str,
    last: bool,
}

/// An input as its pieces are joined, in order.
struct Joined<R> {
    yaml_documents: usize,
    objects: usize,
    counts: manifest::yaml::Counts,
    pieces: Vec<(usize, R)>,
    error: Option<ManifestError>,
}

impl<R> Default for Joined<R> {
    fn default() -> Self {
        Joined {
            yaml_documents: 0,
            objects: 0,
            counts: Default::default(),
            pieces: Vec::new(),
            error: None,
        }
    }
}

/// Cuts every input into pieces at YAML document boundaries, parses each piece and gives its
/// documents to `work` (on a pool of `threads` threads, each taking the next piece when done
/// with its last, so that only the pieces being worked on hold their documents). `done` gets
/// each input, in order, once all its pieces are parsed: every piece's result with the number of
/// objects before it, and what the text spent of the budgets; or the first error, named as in
/// the whole text (document numbers, lines and the budgets of [`ReadLimits`] count over the
/// whole text, as if it were parsed in one piece).
fn for_each_piece<R: Send>(
    inputs: &[&[u8]],
    options: &CheckOptions,
    threads: usize,
    work: impl Fn(usize, Vec<Document>) -> R + Sync,
    mut done: impl FnMut(usize, Result<(Vec<(usize, R)>, manifest::yaml::Counts), ManifestError>),
) {
    let limits = &options.limits;
    let mut pieces: Vec<Piece> = Vec::new();
    let mut decoded: Vec<Result<(), ManifestError>> = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        match manifest::decode(input, limits) {
            Ok(text) => {
                let text = text.strip_prefix('\u{feff}').unwrap_or(text);
                let split = manifest::split_stream(text, text.len().div_ceil(PIECE_BYTES));
                let count = split.len();
                pieces.extend(
                    split
                        .into_iter()
                        .enumerate()
                        .map(|(k, (line_offset, text))| Piece {
                            input: i,
                            line_offset,
                            text,
                            last: k + 1 == count,
                        }),
                );
                decoded.push(Ok(()));
            }
            Err(error) => decoded.push(Err(error)),
        }
    }
    let parse = |piece: &Piece| {
        let part = Part {
            line_offset: piece.line_offset,
            ..Part::default()
        };
        manifest::parse_part(piece.text, limits, part).map(|parsed| {
            let objects = parsed.documents.len();
            let (yaml_documents, counts) = (parsed.yaml_documents, parsed.counts);
            (
                yaml_documents,
                objects,
                counts,
                work(piece.input, parsed.documents),
            )
        })
    };
    // Inputs are handed to `done` in order; those that could not be decoded have no pieces.
    let mut next_input = 0;
    let flush_undecoded = |next_input: &mut usize, upto: usize, done: &mut dyn FnMut(_, _)| {
        while *next_input < upto {
            if let Err(error) = &decoded[*next_input] {
                done(*next_input, Err(error.clone()));
            }
            *next_input += 1;
        }
    };
    let mut joined: Joined<R> = Joined::default();
    // Joins a piece's result (pieces come in order) and hands each input that is complete to
    // `done`.
    type Parsed<R> = Result<(usize, usize, manifest::yaml::Counts, R), ManifestError>;
    let mut join = |piece: &Piece, result: Parsed<R>| {
        flush_undecoded(&mut next_input, piece.input, &mut done);
        // The piece parsed again from the counts before it: the budgets run out where they
        // would in the whole text.
        let part = Part {
            line_offset: piece.line_offset,
            yaml_documents: joined.yaml_documents,
            objects: joined.objects,
            counts: joined.counts,
        };
        if joined.error.is_none() {
            match result {
                Ok((yaml_documents, objects, counts, output)) => {
                    let total = counts.after(joined.counts);
                    if total.exceed(&limits.yaml) {
                        joined.error = manifest::parse_part(piece.text, limits, part).err();
                    }
                    if joined.error.is_none() {
                        joined.pieces.push((joined.objects, output));
                        joined.yaml_documents += yaml_documents;
                        joined.objects += objects;
                        joined.counts = total;
                    }
                }
                Err(_) if joined.counts != Default::default() => {
                    joined.error = manifest::parse_part(piece.text, limits, part).err();
                }
                Err(error) => {
                    joined.error = Some(error.shifted(joined.yaml_documents, joined.objects));
                }
            }
        }
        if piece.last {
            let input = std::mem::take(&mut joined);
            done(
                piece.input,
                match input.error {
                    Some(error) => Err(error),
                    None if input.objects == 0 => Err(ManifestError::NoDocuments),
                    None => Ok((input.pieces, input.counts)),
                },
            );
            next_input = piece.input + 1;
        }
    };
    // The pieces are parsed and judged on a pool of `threads` threads (no piece waits for a
    // slower one), and joined here in order as their results come.
    crate::parallel::for_each_in_order(&pieces, threads, parse, |i, parsed| {
        join(&pieces[i], parsed)
    });
    flush_undecoded(&mut next_input, inputs.len(), &mut done);
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
            text.len() > 2 * PIECE_BYTES,
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

    /// The report written as it is decided has the bytes of the whole report, for reports with
    /// and without results, unreadable inputs, undecided bindings and mutations.
    #[test]
    fn the_streamed_report_has_the_bytes_of_the_whole_report() {
        use crate::report::{InputError, ReportWriter, StreamFormat};
        let params = crate::policy::Source {
            name: "params.yaml".into(),
            text: include_str!("../integration/fixtures/mutation/default-keys-params.yaml").into(),
        };
        let with_params =
            PolicySet::compile(&crate::policy::embedded::sources(), &[params]).unwrap();
        let selector = PolicySet::compile(
            &[crate::policy::Source {
                name: "p.yaml".into(),
                text: POLICY.into(),
            }],
            &[],
        )
        .unwrap();
        let input = |name: &str, text: &str| Input {
            name: name.into(),
            text: text.as_bytes().to_vec(),
        };
        let service = include_str!("../examples/service.yaml");
        let compliant = include_str!("../examples/service-compliant.yaml");
        let many: String = (0..300)
            .map(|i| format!("---\n{}", if i % 3 == 0 { service } else { compliant }))
            .collect();
        let unreadable = || {
            vec![InputError {
                file: "gone.yaml".into(),
                message: "cannot read gone.yaml".into(),
            }]
        };
        let cases: Vec<(&PolicySet, Vec<Input>, bool, Vec<InputError>)> = vec![
            (&with_params, vec![], false, vec![]),
            (&with_params, vec![], false, unreadable()),
            (&with_params, vec![input("a.yaml", service)], false, vec![]),
            (&with_params, vec![input("a.yaml", service)], true, vec![]),
            (
                &with_params,
                vec![
                    input("bad.yaml", "a: [\n"),
                    input("many.yaml", &many),
                    input("empty.yaml", "# nothing\n"),
                    input("c.yaml", compliant),
                ],
                true,
                unreadable(),
            ),
            (&selector, vec![input("m.yaml", MANIFESTS)], false, vec![]),
        ];
        for (i, (set, inputs, mutate, unreadable)) in cases.into_iter().enumerate() {
            let options = CheckOptions {
                mutate,
                threads: 2,
                ..CheckOptions::default()
            };
            let mut whole = check_inputs(set, &inputs, &options);
            whole.errors.splice(0..0, unreadable.clone());
            let json = serde_json::to_string_pretty(&whole.to_json()).unwrap();
            let formats = [
                (StreamFormat::Json, json),
                (
                    StreamFormat::Human { verbose: false },
                    whole.to_human(false),
                ),
                (StreamFormat::Human { verbose: true }, whole.to_human(true)),
            ];
            for (format, expected) in formats {
                let mut out = Vec::new();
                let mut writer = ReportWriter::new(&mut out, format, unreadable.clone());
                check_inputs_streaming(set, &inputs, &options, &mut writer);
                let finished = writer.finish().unwrap();
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    expected,
                    "case {i}, {format:?}"
                );
                assert_eq!(finished.exit_code, whole.exit_code(), "case {i}");
                assert_eq!(finished.errors, whole.errors, "case {i}");
                let undecided: usize = whole.results.iter().map(|r| r.undecided.len()).sum();
                assert_eq!(finished.undecided.len(), undecided, "case {i}");
            }
        }
    }

    /// A text read in pieces spends the node budget of the whole text: the error is the one the
    /// text read in one piece gives, at the same document and line.
    #[test]
    fn the_node_budget_counts_over_the_whole_text_read_in_pieces() {
        let set = PolicySet::compile(&crate::policy::embedded::sources(), &[]).unwrap();
        let service = include_str!("../examples/service.yaml");
        let text: String = (0..600).map(|_| format!("---\n{service}")).collect();
        assert!(
            text.len() > 4 * PIECE_BYTES,
            "the text must be read in pieces"
        );
        let whole_nodes = |limits: &ReadLimits| {
            crate::manifest::parse_documents(&text, limits)
                .map(|docs| docs.len())
                .map_err(|e| e.to_string())
        };
        let mut limits = ReadLimits::default();
        assert_eq!(whole_nodes(&limits), Ok(600));
        // Enough for about a third of the text: more than any one piece needs.
        limits.yaml.max_nodes = 30_000;
        let expected = whole_nodes(&limits).unwrap_err();
        assert!(expected.contains("more than 30000 nodes"), "{expected}");
        for threads in [1, 2] {
            let options = CheckOptions {
                limits,
                threads,
                ..CheckOptions::default()
            };
            let input = Input {
                name: "many.yaml".into(),
                text: text.clone().into_bytes(),
            };
            let report = check_inputs(&set, &[input], &options);
            assert_eq!(report.results.len(), 0, "{threads} threads");
            assert_eq!(report.errors.len(), 1, "{threads} threads");
            assert_eq!(report.errors[0].message, expected, "{threads} threads");
        }
    }

    /// A `kind: Namespace` document at the end of a large text, written plainly or with escapes,
    /// gives its labels to the documents before it (the inputs that could hold one are read for
    /// them first); one in an input that cannot be read gives nothing.
    #[test]
    fn namespace_documents_count_wherever_they_are_in_large_texts() {
        let set = PolicySet::compile(
            &[crate::policy::Source {
                name: "p.yaml".into(),
                text: POLICY.into(),
            }],
            &[],
        )
        .unwrap();
        let service = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: a, namespace: shop, labels: {team: search}, annotations: {padding: 'PADDING'}}\n";
        let service = service.replace("PADDING", &"x".repeat(2000));
        let body: String = (0..400).map(|_| format!("---\n{service}")).collect();
        assert!(body.len() > 2 * PIECE_BYTES);
        let namespaces = [
            "kind: Namespace",
            "kind: \"Name\\x73pace\"",
            "kind: \"Namespac\\u0065\"",
        ];
        let options = CheckOptions::default();
        let denied = |r: &DocumentResult| r.violations.len() == 1 && r.undecided.is_empty();
        for kind in namespaces {
            let namespace = format!(
                "---\napiVersion: v1\n{kind}\nmetadata: {{name: shop, labels: {{env: prod, team: payments}}}}\n"
            );
            let whole = Input {
                name: "all.yaml".into(),
                text: format!("{body}{namespace}").into_bytes(),
            };
            let report = check_inputs(&set, &[whole], &options);
            assert_eq!(report.results.len(), 401, "{kind}");
            assert!(
                report.results[..400].iter().all(denied),
                "{kind}: the namespace's labels select the services"
            );
            // The namespace in a separate input; or in one that cannot be read.
            let services = Input {
                name: "services.yaml".into(),
                text: body.clone().into_bytes(),
            };
            let separate = Input {
                name: "ns.yaml".into(),
                text: namespace.clone().into_bytes(),
            };
            let broken = Input {
                name: "ns-broken.yaml".into(),
                text: format!("{namespace}---\na: [\n").into_bytes(),
            };
            let report = check_inputs(&set, &[services.clone(), separate], &options);
            assert!(report.results[..400].iter().all(denied), "{kind}");
            let report = check_inputs(&set, &[broken, services], &options);
            assert_eq!(report.errors.len(), 1);
            assert!(
                report.results.iter().all(|r| !r.undecided.is_empty()),
                "{kind}: an unreadable input's namespace gives no labels"
            );
        }
    }
}
