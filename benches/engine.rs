//! Engine benchmarks: the shipped library on one typical Service, each stage of a check timed
//! apart (parse, conversion to CEL values, evaluation), and a whole 10,000-document file.
//!
//!     cargo bench --bench engine

use cmek_gate::batch::{check_inputs, CheckOptions, Input};
use cmek_gate::engine::{evaluate, Request};
use cmek_gate::manifest::{parse_documents, ReadLimits};
use cmek_gate::policy::{embedded, PolicySet};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const SERVICE: &str = include_str!("../examples/service-compliant.yaml");

fn stages(c: &mut Criterion) {
    let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
    let limits = ReadLimits::default();
    let docs = parse_documents(SERVICE, &limits).unwrap();
    let mut group = c.benchmark_group("one-service");
    group.bench_function("parse", |b| {
        b.iter(|| parse_documents(black_box(SERVICE), &limits).unwrap())
    });
    // What the agreement with kubectl and gcloud adds to `parse`: the text screen and the check
    // of every scalar (issue 13).
    group.bench_function("agreement-checks", |b| {
        let mut scalars = Vec::new();
        let mut todo = vec![&docs[0].root];
        while let Some(node) = todo.pop() {
            match &node.value {
                cmek_gate::manifest::NodeValue::Scalar(s) => scalars.push(s.clone()),
                cmek_gate::manifest::NodeValue::Seq(items) => todo.extend(items),
                cmek_gate::manifest::NodeValue::Map(entries) => {
                    for e in entries {
                        let _ = cmek_gate::manifest::agreement::check_plain_key(
                            &e.key,
                            cmek_gate::manifest::ScalarKind::Str,
                        );
                        todo.push(&e.value);
                    }
                }
            }
        }
        b.iter(|| {
            cmek_gate::manifest::agreement::screen_text(black_box(SERVICE), 0).unwrap();
            for s in &scalars {
                let _ = black_box(cmek_gate::manifest::agreement::check_plain_value(
                    &s.text, s.kind,
                ));
            }
        })
    });
    group.bench_function("json-parse-baseline", |b| {
        let json = serde_json::to_string(&docs[0].root.to_json()).unwrap();
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&json)).unwrap())
    });
    group.bench_function("evaluate", |b| {
        b.iter(|| evaluate(&set, black_box(&Request::create(&docs[0]))))
    });
    // The same evaluation after 8 MB of other memory traffic (as on a server, where parsing
    // the request, TLS and other requests run between two evaluations): what cache misses on
    // the compiled policies and the evaluator's code add.
    group.bench_function("evaluate-cold", |b| {
        let mut other = vec![0u64; 1 << 20];
        b.iter_batched(
            || {
                for (i, word) in other.iter_mut().enumerate() {
                    *word = word.wrapping_add(i as u64);
                }
                black_box(&other);
            },
            |_| evaluate(&set, black_box(&Request::create(&docs[0]))),
            criterion::BatchSize::PerIteration,
        )
    });
    group.bench_function("parse+evaluate", |b| {
        b.iter(|| {
            let docs = parse_documents(black_box(SERVICE), &limits).unwrap();
            evaluate(&set, &Request::create(&docs[0]))
        })
    });
    group.finish();
}

/// Each shipped policy alone on the same Service: where evaluation time goes.
fn per_policy(c: &mut Criterion) {
    let docs = parse_documents(SERVICE, &ReadLimits::default()).unwrap();
    let sources = embedded::sources();
    let params: Vec<_> = sources
        .iter()
        .filter(|s| s.name.ends_with("params.yaml"))
        .cloned()
        .collect();
    let mut group = c.benchmark_group("per-policy");
    for source in sources.iter().filter(|s| !s.name.ends_with("params.yaml")) {
        let set = PolicySet::compile(std::slice::from_ref(source), &params).unwrap();
        let name = source
            .name
            .trim_start_matches("<embedded>/")
            .trim_end_matches(".yaml");
        group.bench_function(name, |b| {
            b.iter(|| evaluate(&set, black_box(&Request::create(&docs[0]))))
        });
    }
    group.finish();
}

fn ten_thousand(c: &mut Criterion) {
    let set = PolicySet::compile(&embedded::sources(), &[]).unwrap();
    let body = SERVICE.trim_start_matches("---\n");
    let text: String = (0..10_000)
        .map(|i| {
            format!(
                "---\n{}",
                body.replace("name: payments-api", &format!("name: svc-{i}"))
            )
        })
        .collect();
    let inputs = [Input {
        name: "big.yaml".into(),
        text: text.into_bytes(),
    }];
    let mut group = c.benchmark_group("10k-documents");
    group.sample_size(10);
    group.throughput(Throughput::Elements(10_000));
    for threads in [1, 2] {
        let options = CheckOptions {
            threads,
            ..CheckOptions::default()
        };
        group.bench_function(format!("check-{threads}-threads"), |b| {
            b.iter(|| {
                let report = check_inputs(&set, black_box(&inputs), &options);
                assert_eq!(report.results.len(), 10_000);
                report
            })
        });
    }
    group.finish();
}

/// The mutation phase on the README's service (no key): the shipped library with a default key
/// for its region, `admit` with mutation (which adds the key, then judges the result) against
/// `admit` without, and `fix`'s text edit.
fn mutation(c: &mut Criterion) {
    use cmek_gate::engine::{admit, Phases};
    use cmek_gate::policy::Source;
    const DENIED: &str = include_str!("../examples/service.yaml");
    let params = Source {
        name: "params".into(),
        text: include_str!("../integration/fixtures/mutation/default-keys-params.yaml").into(),
    };
    let set = PolicySet::compile(&embedded::sources(), &[params]).unwrap();
    let docs = parse_documents(DENIED, &ReadLimits::default()).unwrap();
    let request = Request::create(&docs[0]);
    let mut group = c.benchmark_group("mutation");
    group.bench_function("admit-validate-only", |b| {
        b.iter(|| admit(&set, black_box(&request), Phases::VALIDATE))
    });
    group.bench_function("admit-mutate-and-validate", |b| {
        b.iter(|| admit(&set, black_box(&request), Phases::ALL))
    });
    group.bench_function("admit-mutate-only", |b| {
        b.iter(|| admit(&set, black_box(&request), Phases::MUTATE))
    });
    // A compliant service: the mutating policy matches but changes nothing.
    let compliant = parse_documents(SERVICE, &ReadLimits::default()).unwrap();
    let unchanged = Request::create(&compliant[0]);
    group.bench_function("compliant-validate-only", |b| {
        b.iter(|| admit(&set, black_box(&unchanged), Phases::VALIDATE))
    });
    group.bench_function("compliant-mutate-and-validate", |b| {
        b.iter(|| admit(&set, black_box(&unchanged), Phases::ALL))
    });
    let patch = admit(&set, &request, Phases::ALL).patch.unwrap();
    group.bench_function("fix-text-edit", |b| {
        b.iter(|| {
            let edits = cmek_gate::fix::plan(black_box(DENIED), &docs[0].root, &patch.0).unwrap();
            cmek_gate::fix::apply(DENIED, edits).unwrap()
        })
    });
    group.finish();
}

/// `fix` at scale: the library's plan and apply on a stream of N documents (the README's
/// compliant service, every tenth one the service that needs the key), patches computed once.
/// Linear growth: the time per document stays flat from 100 to 10,000 documents.
fn fix_scale(c: &mut Criterion) {
    use cmek_gate::engine::{admit, Phases};
    use cmek_gate::policy::Source;
    const DENIED: &str = include_str!("../examples/service.yaml");
    let params = Source {
        name: "params".into(),
        text: include_str!("../integration/fixtures/mutation/default-keys-params.yaml").into(),
    };
    let set = PolicySet::compile(&embedded::sources(), &[params]).unwrap();
    let mut group = c.benchmark_group("fix-scale");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(4));
    for count in [100usize, 1_000, 10_000] {
        let text: String = (0..count)
            .map(|k| {
                let body = if k % 10 == 0 { DENIED } else { SERVICE };
                format!("---\n{}", body.trim_start_matches("---\n"))
            })
            .collect();
        let docs = parse_documents(&text, &ReadLimits::default()).unwrap();
        let patches: Vec<_> = docs
            .iter()
            .filter_map(|d| {
                let patch = admit(&set, &Request::create(d), Phases::ALL).patch?;
                Some((&d.root, patch.0))
            })
            .collect();
        assert_eq!(
            patches.len(),
            count / 10,
            "every tenth document needs the key"
        );
        let roots: Vec<_> = patches
            .iter()
            .map(|(r, ops)| (cmek_gate::fix::Target::of(r), ops.as_slice()))
            .collect();
        group.throughput(Throughput::Elements(count as u64));
        group.bench_function(format!("plan-and-apply-{count}"), |b| {
            b.iter(|| {
                let edits = cmek_gate::fix::plan_all(black_box(&text), &roots, 1).unwrap();
                cmek_gate::fix::apply(&text, edits).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    stages,
    mutation,
    fix_scale,
    per_policy,
    expression_overhead,
    ten_thousand
);
criterion_main!(benches);

/// The evaluator's fixed cost: a constant, a field read, and a `variables` read.
fn expression_overhead(c: &mut Criterion) {
    use cel_k8s::{Activation, CompileOptions, Environment, Root, Value};
    use cmek_gate::manifest::cel_tree::ObjectTree;
    let env = Environment::new();
    let docs = parse_documents(SERVICE, &ReadLimits::default()).unwrap();
    let programs: Vec<_> = [
        ("constant", "true", &[][..]),
        ("field", "object.metadata.name == 'x'", &[]),
        (
            "deep-field",
            "has(object.spec.template.metadata.annotations)",
            &[],
        ),
        ("variable", "variables.a == 'x'", &["a"]),
    ]
    .into_iter()
    .map(|(name, source, variables)| {
        let options = CompileOptions {
            variables,
            ..CompileOptions::default()
        };
        (name, env.compile(source, &options).unwrap())
    })
    .collect();
    let mut activation = Activation::new();
    activation.bind_tree(Root::Object, ObjectTree::of(&docs[0].root));
    activation.set_variable("a", Ok(Value::string("x")));
    let mut group = c.benchmark_group("expression");
    for (name, program) in &programs {
        group.bench_function(*name, |b| {
            b.iter(|| program.evaluate(&activation, &mut env.meter()).unwrap())
        });
    }
    group.finish();
}
