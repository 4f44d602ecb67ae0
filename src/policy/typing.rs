//! Type checking a policy's expressions as Kubernetes does (see `docs/lint.md`). Pure.
//!
//! - **At creation** the API server checks every expression with `object`, `oldObject` and
//!   `params` typed `dyn`, `request` and `namespaceObject` typed, each variable with the type
//!   inferred for it, and refuses the policy when one does not check or does not have the type
//!   its field requires: [`creation_declarations`]. `PolicySet::compile` refuses the same (a
//!   compile error), and lint reports it (`compile`).
//! - **Its type checking** then checks expressions again with `object` and `oldObject` typed
//!   from the schemas of the kinds the policy matches, and `params` from its paramKind's CRD,
//!   and reports what does not check as a warning (`status.typeChecking`), not a refusal:
//!   [`schema_mistakes`] does the same with the gate's shipped schemas (`src/lint/schemas`) and
//!   the CRDs among the files loaded. `PolicySet::compile` keeps them as warnings, lint reports
//!   them (`schema-type`). As in Kubernetes, only a ValidatingAdmissionPolicy's validations
//!   (`expression` and `messageExpression`) are reported: a variable that does not check is
//!   `dyn` for the expressions after it, and MutatingAdmissionPolicies are not type-checked.

use crate::policy::types::{MatchResources, ParamKind, PolicySpec};
use cel_k8s::check::schema::{crd_schema, declared_type, Rules};
use cel_k8s::check::{self, Declarations};
use cel_k8s::{CompileError, Profile, Type};
use serde_json::Value;
use std::sync::OnceLock;

/// The declarations the API server type-checks a policy's expressions with when the policy is
/// created: `object`, `oldObject` and (with a paramKind) `params` dyn, `request` and
/// `namespaceObject` as Kubernetes types them, and the functions of `profile` (its Kubernetes
/// release's libraries, and the extensions asked for).
pub fn creation_declarations(has_params: bool, profile: Profile) -> Declarations {
    Declarations::admission(Type::Dyn, has_params.then_some(Type::Dyn)).profile(profile)
}

/// What the schema-typed check types `object` (and `oldObject`) and `params` as, and from what.
#[derive(Debug, Clone)]
pub struct SchemaTypes {
    pub object: Type,
    /// `None`: the policy has no paramKind.
    pub params: Option<Type>,
    /// What the types come from, for messages: `object typed from the schema of
    /// serving.knative.dev/v1 Service`.
    pub against: String,
}

/// The rules a schema becomes a type by: Kubernetes', but an object that keeps unknown fields
/// (`x-kubernetes-preserve-unknown-fields`, the reduced schemas' "read as written") is `dyn`.
fn rules() -> Rules {
    Rules::preserve_unknown_fields_as_dyn()
}

/// The types of the schema-typed check of a policy, or `None` when it would check nothing more
/// than the check at creation does:
///
/// - `object` is typed from the shipped schema of the kinds the match constraints select, when
///   each of them has one and they all give the same type; else it is `dyn` (several kinds of
///   different schemas, or one without a schema);
/// - `params` is typed from the CRD among `crds` that defines the paramKind (its version's
///   schema), else `dyn`.
pub fn schema_types(
    constraints: Option<&MatchResources>,
    param_kind: Option<&ParamKind>,
    crds: &[Value],
) -> Option<SchemaTypes> {
    let mut against = Vec::new();
    let mut object = Type::Dyn;
    if let Some(kinds) = crate::lint::schema::matched_kinds(constraints) {
        let types: Vec<&Type> = kinds.iter().map(|k| kind_type(k)).collect();
        if types.iter().all(|t| *t == types[0]) && *types[0] != Type::Dyn {
            object = types[0].clone();
            let names: Vec<String> = kinds
                .iter()
                .map(|k| format!("{}/{} {}", k.group, k.version, k.kind))
                .collect();
            against.push(format!(
                "object typed from the schema of {}",
                names.join(", ")
            ));
        }
    }
    let params = param_kind.map(|kind| match params_schema(kind, crds) {
        Some(schema) => {
            against.push(format!(
                "params typed from the CustomResourceDefinition of {} {}",
                kind.api_version, kind.kind
            ));
            declared_type(schema, "params", rules())
        }
        None => Type::Dyn,
    });
    (!against.is_empty()).then(|| SchemaTypes {
        object,
        params,
        against: against.join(", "),
    })
}

/// The type of a shipped kind's object, converted once.
fn kind_type(kind: &crate::lint::schema::Kind) -> &'static Type {
    static TYPES: OnceLock<Vec<Type>> = OnceLock::new();
    let all = crate::lint::schema::kinds();
    let types = TYPES.get_or_init(|| {
        all.iter()
            .map(|k| declared_type(&k.openapi, "object", rules()))
            .collect()
    });
    let index = all
        .iter()
        .position(|k| std::ptr::eq(k, kind))
        .expect("a kind of the shipped schemas");
    &types[index]
}

/// The schema of a paramKind's version in the CRD among `crds` that defines its group and kind.
fn params_schema<'c>(kind: &ParamKind, crds: &'c [Value]) -> Option<&'c Value> {
    let (group, version) = match kind.api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", kind.api_version.as_str()),
    };
    let text = |crd: &'c Value, pointer: &str| crd.pointer(pointer).and_then(Value::as_str);
    crds.iter()
        .filter(|crd| {
            text(crd, "/spec/group") == Some(group)
                && text(crd, "/spec/names/kind") == Some(&kind.kind)
        })
        .find_map(|crd| crd_schema(crd, Some(version)))
}

/// One expression of a policy other than a variable, for checking.
#[derive(Debug, Clone)]
pub struct PolicyExpression<'a> {
    /// e.g. `spec.validations[0].expression`.
    pub field: String,
    pub text: &'a str,
    /// A mutation's: it may build `Object{...}` and `JSONPatch{...}` literals.
    pub mutation: bool,
}

/// A policy's expressions: its variables as (name, expression), in order, and the others
/// (match conditions, validations and their messages, audit annotations, then the mutations
/// given as (field, expression)).
pub fn expressions<'a>(
    spec: &'a PolicySpec,
    mutations: &'a [(String, String)],
) -> (Vec<(&'a str, &'a str)>, Vec<PolicyExpression<'a>>) {
    let variables = spec
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.expression.as_str()))
        .collect();
    let mut others = Vec::new();
    let mut add = |field: String, text: &'a str, mutation: bool| {
        others.push(PolicyExpression {
            field,
            text,
            mutation,
        })
    };
    for (i, c) in spec.match_conditions.iter().enumerate() {
        add(
            format!("spec.matchConditions[{i}].expression"),
            &c.expression,
            false,
        );
    }
    for (i, v) in spec.validations.iter().enumerate() {
        add(
            format!("spec.validations[{i}].expression"),
            &v.expression,
            false,
        );
        if let Some(m) = &v.message_expression {
            add(format!("spec.validations[{i}].messageExpression"), m, false);
        }
    }
    for (i, a) in spec.audit_annotations.iter().enumerate() {
        add(
            format!("spec.auditAnnotations[{i}].valueExpression"),
            &a.value_expression,
            false,
        );
    }
    for (field, text) in mutations {
        add(field.clone(), text, true);
    }
    (variables, others)
}

/// A mistake the schema-typed check found in one expression: the first error (by position),
/// and how many more there are.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaMistake {
    pub field: String,
    pub error: CompileError,
    pub more: usize,
}

impl SchemaMistake {
    /// The message, saying what the types came from.
    pub fn message(&self, types: &SchemaTypes) -> String {
        let more = match self.more {
            0 => String::new(),
            1 => " (and 1 more type error)".to_owned(),
            n => format!(" (and {n} more type errors)"),
        };
        format!(
            "{}{more}, with {} (Kubernetes reports this as a type-checking warning)",
            self.error.message, types.against
        )
    }
}

/// Type-checks a validating policy's validations (`expression` and `messageExpression`)
/// against `types`, as Kubernetes' type checking does: its variables first, in order, each with
/// the type inferred for it (`dyn` when it does not check, unreported, as Kubernetes declares
/// it). Returns what does not check; `skip(field)` names expressions not to report (those that
/// did not even check at creation: they are reported as such).
pub fn schema_mistakes(
    types: &SchemaTypes,
    variables: &[(&str, &str)],
    others: &[PolicyExpression<'_>],
    skip: &(dyn Fn(&str) -> bool + Sync),
    profile: Profile,
) -> Vec<SchemaMistake> {
    let checked: Vec<&PolicyExpression<'_>> = others
        .iter()
        .filter(|e| is_type_checked(&e.field))
        .collect();
    if checked.is_empty() {
        return Vec::new();
    }
    let work = || {
        let mut declarations =
            Declarations::admission(types.object.clone(), types.params.clone()).profile(profile);
        if !variables.is_empty() {
            declarations.declare_variables();
        }
        let mut mistakes = Vec::new();
        let mut record = |field: String, result: Result<check::Checked, Vec<CompileError>>| {
            let checked = match result {
                Ok(checked) => Some(checked.result),
                Err(errors) => {
                    if !skip(&field) {
                        if let Some(first) = errors.first() {
                            mistakes.push(SchemaMistake {
                                field,
                                error: first.clone(),
                                more: errors.len() - 1,
                            });
                        }
                    }
                    None
                }
            };
            checked
        };
        for (name, text) in variables {
            let inferred = parse_and_check(text, &declarations).ok().map(|c| c.result);
            declarations.add_variable(name, inferred.unwrap_or(Type::Dyn));
        }
        for expression in checked {
            let result = parse_and_check(expression.text, &declarations);
            record(expression.field.clone(), result);
        }
        Ok(mistakes)
    };
    // One thread with the parser's stack for the whole policy.
    cel_k8s::syntax::on_parse_stack(work).unwrap_or_default()
}

/// Whether Kubernetes' type checking reports an expression of this field: a validation's.
fn is_type_checked(field: &str) -> bool {
    field.starts_with("spec.validations[")
}

fn parse_and_check(
    text: &str,
    declarations: &Declarations,
) -> Result<check::Checked, Vec<CompileError>> {
    let parsed = cel_k8s::syntax::parse(text).map_err(|e| vec![e])?;
    check::check(&parsed.expr, &parsed.info, declarations)
}

/// The oldest Kubernetes release a policy compiles on, and why the one before it refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldestRelease {
    /// `None`: it compiles on no release the gate targets.
    pub version: Option<cel_k8s::KubernetesVersion>,
    /// The first refusal on the release before `version` (or on the newest, when none), by
    /// field: `(spec.validations[0].expression, message)`.
    pub refused: Option<(String, String)>,
}

/// The oldest release (1.30 and later) on which every expression of a policy type-checks with
/// `extensions`, as the API server checks a policy it is asked to create (see
/// [`creation_declarations`]): its variables in order, then the others.
pub fn oldest_release(
    variables: &[(&str, &str)],
    others: &[PolicyExpression<'_>],
    has_params: bool,
    extensions: cel_k8s::Extensions,
) -> OldestRelease {
    let work = || {
        let parse = |text: &str| cel_k8s::syntax::parse(text).ok();
        let variables: Vec<(&str, String, Option<cel_k8s::syntax::Parsed>)> = variables
            .iter()
            .enumerate()
            .map(|(i, (name, text))| {
                (
                    *name,
                    format!("spec.variables[{i}].expression"),
                    parse(text),
                )
            })
            .collect();
        let others: Vec<(&PolicyExpression<'_>, Option<cel_k8s::syntax::Parsed>)> =
            others.iter().map(|e| (e, parse(e.text))).collect();
        let mut refused = None;
        for version in cel_k8s::KubernetesVersion::all() {
            let profile = Profile::new(version, extensions);
            match first_refusal(&variables, &others, has_params, profile) {
                None => {
                    return Ok(OldestRelease {
                        version: Some(version),
                        refused,
                    })
                }
                Some(refusal) => refused = Some(refusal),
            }
        }
        Ok(OldestRelease {
            version: None,
            refused,
        })
    };
    cel_k8s::syntax::on_parse_stack(work).unwrap_or(OldestRelease {
        version: None,
        refused: None,
    })
}

/// The first field that does not type-check for `profile`, and its first error (an expression
/// that does not parse is refused everywhere).
fn first_refusal(
    variables: &[(&str, String, Option<cel_k8s::syntax::Parsed>)],
    others: &[(&PolicyExpression<'_>, Option<cel_k8s::syntax::Parsed>)],
    has_params: bool,
    profile: Profile,
) -> Option<(String, String)> {
    let mut declarations = creation_declarations(has_params, profile);
    if !variables.is_empty() {
        declarations.declare_variables();
    }
    let mut first: Option<(String, String)> = None;
    let mut note = |field: &str, error: Option<&CompileError>| {
        if first.is_none() {
            let message = error.map_or("does not parse".to_owned(), |e| e.message.clone());
            first = Some((field.to_owned(), message));
        }
    };
    for (name, field, parsed) in variables {
        let inferred = match parsed {
            None => {
                note(field, None);
                Type::Dyn
            }
            Some(p) => match check::check(&p.expr, &p.info, &declarations) {
                Ok(checked) => checked.result,
                Err(errors) => {
                    note(field, errors.first());
                    Type::Dyn
                }
            },
        };
        declarations.add_variable(name, inferred);
    }
    let mutation = declarations.clone().mutation();
    for (expression, parsed) in others {
        let Some(p) = parsed else {
            note(&expression.field, None);
            continue;
        };
        let declarations = match expression.mutation {
            true => &mutation,
            false => &declarations,
        };
        if let Err(errors) = check::check(&p.expr, &p.info, declarations) {
            note(&expression.field, errors.first());
        }
    }
    first
}
