//! The rules on compiled expressions: unknown fields, unguarded map keys, types the syntax
//! decides, constant validations.

use super::policy::PolicyDoc;
use super::schema::{did_you_mean, Field, Schema};
use super::Finding;
use crate::cel::expression_facts::{Access, Facts, Path};
use crate::cel::{Environment, Program};
use cel_k8s::check;
use cel_k8s::Type;

/// What an expression is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The variable of this index.
    Variable(usize),
    MatchCondition,
    Validation,
    Message,
    AuditAnnotation,
    Mutation,
}

/// A compiled expression of a policy, and what lint reads of it.
pub(crate) struct Expression {
    /// e.g. `spec.validations[0].expression`.
    pub field: String,
    pub text: String,
    pub role: Role,
    pub program: Program,
    pub facts: Facts,
}

impl Expression {
    pub fn new(field: String, text: &str, role: Role, program: Program) -> Expression {
        let facts = program.facts();
        Expression {
            field,
            text: text.to_owned(),
            role,
            program,
            facts,
        }
    }
}

/// The path segments of a field name: `spec.validations[0].expression` -> spec, validations,
/// 0, expression.
pub(crate) fn segments(field: &str) -> Vec<String> {
    field
        .split(['.', '[', ']'])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What the rules on one policy's expressions share.
pub(crate) struct Context<'a> {
    policy: &'a PolicyDoc<'a>,
    object: Option<&'a Schema>,
    env: &'a Environment,
    /// For each variable (by index), the path it stands for, resolved to a root variable.
    aliases: Vec<Option<Path>>,
    /// Keys the match conditions guard, resolved.
    condition_guards: Vec<(String, String)>,
    /// For each variable, the keys it guards (and those it uses do): `variables.hasOwner` guards
    /// what `has(object.metadata.labels.owner)` does.
    variable_guards: Vec<Vec<(String, String)>>,
}

impl<'a> Context<'a> {
    pub fn new(
        policy: &'a PolicyDoc<'a>,
        object: Option<&'a Schema>,
        compiled: &[Expression],
        env: &'a Environment,
    ) -> Context<'a> {
        let mut context = Context {
            policy,
            object,
            env,
            aliases: vec![None; policy.spec.variables.len()],
            condition_guards: Vec::new(),
            variable_guards: vec![Vec::new(); policy.spec.variables.len()],
        };
        for expression in compiled {
            if let Role::Variable(i) = expression.role {
                context.aliases[i] = expression
                    .facts
                    .alias
                    .as_ref()
                    .and_then(|a| context.resolve(a))
                    .map(|(path, _)| path);
            }
        }
        for expression in compiled {
            if let Role::Variable(i) = expression.role {
                let mut guards = context.guards(&expression.facts);
                guards.extend(context.used_variable_guards(expression));
                context.variable_guards[i] = guards;
            }
        }
        for expression in compiled.iter().filter(|e| e.role == Role::MatchCondition) {
            let mut guards = context.guards(&expression.facts);
            guards.extend(context.used_variable_guards(expression));
            context.condition_guards.extend(guards);
        }
        context
    }

    /// The keys guarded by the variables an expression uses.
    fn used_variable_guards(&self, expression: &Expression) -> Vec<(String, String)> {
        let names = &self.policy.spec.variables;
        expression
            .program
            .references
            .variables
            .iter()
            .filter_map(|used| names.iter().position(|v| v.name == *used))
            .flat_map(|i| self.variable_guards[i].iter().cloned())
            .collect()
    }

    /// A path with `variables.NAME` replaced by what the variable stands for, and how many of
    /// its steps came from the variable; `None` when the variable stands for no path.
    fn resolve(&self, path: &Path) -> Option<(Path, usize)> {
        let Some(name) = path.root.strip_prefix("variables.") else {
            return Some((path.clone(), 0));
        };
        let index = self
            .policy
            .spec
            .variables
            .iter()
            .position(|v| v.name == name)?;
        let mut resolved = self.aliases.get(index)?.clone()?;
        let inherited = resolved.steps.len();
        resolved.steps.extend(path.steps.iter().cloned());
        Some((resolved, inherited))
    }

    fn guards(&self, facts: &Facts) -> Vec<(String, String)> {
        facts
            .guards
            .iter()
            .filter_map(|(path, key)| Some((self.resolve(path)?.0.text(), key.clone())))
            .collect()
    }

    /// Applies the expression rules to one expression.
    pub fn check(&self, expression: &Expression, findings: &mut Vec<Finding>) {
        let mut guards = self.guards(&expression.facts);
        guards.extend(self.used_variable_guards(expression));
        for used in &expression.facts.paths {
            let Some((path, inherited)) = self.resolve(&used.path) else {
                continue;
            };
            if !matches!(path.root.as_str(), "object" | "oldObject") {
                continue;
            }
            let Some(mut node) = self.object else {
                continue;
            };
            for (i, step) in path.steps.iter().enumerate() {
                let own = i >= inherited;
                if step.access == Access::Element {
                    match node.items.as_deref().or(node.additional.as_deref()) {
                        Some(next) => node = next,
                        None => break,
                    }
                    continue;
                }
                match node.field(&step.name) {
                    Field::Found(next) => {
                        let read = !(used.tested && i + 1 == path.steps.len());
                        let plain = matches!(step.access, Access::Field | Access::Key);
                        let prefix = path.prefix(i).text();
                        let guarded = guards
                            .iter()
                            .chain(&self.condition_guards)
                            .any(|(p, k)| *p == prefix && *k == step.name);
                        if own && node.is_map() && read && plain && !guarded {
                            findings.push(self.at(
                                expression,
                                step.offset,
                                "unguarded-key",
                                format!(
                                    "{}: {}['{}'] is read without a guard, and fails when the key is absent: test it first (has(), `in`) or read it as optional ([?'...'], .?)",
                                    self.subject(expression),
                                    path.prefix(i).text(),
                                    step.name
                                ),
                            ));
                        }
                        // A map-valued field (labels, annotations) is itself absent on many
                        // objects: reading it whole (`in`, `.size()`, `.exists()`, `[k]`) fails
                        // then, just as a missing key does.
                        if own && !node.is_map() && next.is_map() && read && plain && !guarded {
                            findings.push(self.at(
                                expression,
                                step.offset,
                                "unguarded-key",
                                format!(
                                    "{}: {}.{} is read without a guard, and fails when the object has no {}: test it first (has({}.{})) or read it as optional (.?{}.orValue({{}}))",
                                    self.subject(expression),
                                    prefix,
                                    step.name,
                                    step.name,
                                    prefix,
                                    step.name,
                                    step.name
                                ),
                            ));
                        }
                        node = next;
                    }
                    Field::Unchecked => break,
                    Field::Unknown(candidates) => {
                        if own {
                            let hint = did_you_mean(&step.name, &candidates)
                                .map(|c| format!("; did you mean \"{c}\"?"))
                                .unwrap_or_default();
                            findings.push(self.at(
                                expression,
                                step.offset,
                                "unknown-field",
                                format!(
                                    "{}: {} has no field \"{}\" in the kinds this policy matches{hint}",
                                    self.subject(expression),
                                    path.prefix(i).text(),
                                    step.name
                                ),
                            ));
                        }
                        break;
                    }
                }
            }
        }
        self.check_type(expression, findings);
        self.check_constant(expression, findings);
    }

    /// The type checker's result type against the one the field requires (Kubernetes refuses
    /// the policy when they differ; `dyn` is not `bool`).
    fn check_type(&self, expression: &Expression, findings: &mut Vec<Finding>) {
        let expected = match expression.role {
            Role::Message => vec![Type::String],
            Role::Validation | Role::MatchCondition => vec![Type::Bool],
            Role::AuditAnnotation => vec![Type::String, Type::Null],
            Role::Mutation if expression.field.contains(".jsonPatch.") => {
                vec![check::json_patch_result()]
            }
            Role::Mutation => vec![check::apply_configuration_result()],
            Role::Variable(_) => return,
        };
        let Some(found) = &expression.program.result_type else {
            return;
        };
        if !expected.contains(found) {
            let wanted: Vec<String> = expected.iter().map(|t| article(&t.to_string())).collect();
            findings.push(self.at(
                expression,
                0,
                "expression-type",
                format!(
                    "{}: the value is {}, but must be {}",
                    self.subject(expression),
                    article(&found.to_string()),
                    wanted.join(" or ")
                ),
            ));
        }
    }

    fn check_constant(&self, expression: &Expression, findings: &mut Vec<Finding>) {
        if expression.role != Role::Validation || !expression.facts.constant {
            return;
        }
        let outcome = match crate::cel::evaluate_constant(self.env, &expression.program) {
            Ok(cel_k8s::Value::Bool(true)) => "always true: it never denies".to_owned(),
            Ok(cel_k8s::Value::Bool(false)) => "always false: it denies every request".to_owned(),
            Ok(_) => "constant".to_owned(),
            Err(e) => format!("constant, and fails: {e}"),
        };
        findings.push(self.at(
            expression,
            0,
            "constant-validation",
            format!(
                "{}: reads nothing of the request, so it is {outcome}",
                self.subject(expression)
            ),
        ));
    }

    fn subject(&self, expression: &Expression) -> String {
        format!("policy \"{}\", {}", self.policy.name(), expression.field)
    }

    /// A finding at character `offset` of an expression, in the policy file.
    fn at(
        &self,
        expression: &Expression,
        offset: usize,
        rule: &'static str,
        message: String,
    ) -> Finding {
        let doc = &self.policy.doc;
        let segments = segments(&expression.field);
        let node = crate::policy::node_at(&doc.doc.root, &segments);
        let (line, column) = line_column(&expression.text, offset);
        let position = node
            .and_then(|n| {
                crate::manifest::scalar::position_in_value(
                    &doc.source.text,
                    n.mark,
                    n.as_str()?,
                    line,
                    column,
                )
                .map(|m| (m.line, m.column))
                .or(Some((n.mark.line, n.mark.column)))
            })
            .unwrap_or_else(|| doc.key_position(&[]));
        doc.finding(position, rule, message)
    }
}

/// A type name with its indefinite article: `an int`, `a string`.
fn article(type_name: &str) -> String {
    let vowel = type_name.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {type_name}", if vowel { "an" } else { "a" })
}

/// 1-based line and column of a character offset.
fn line_column(text: &str, offset: usize) -> (u32, u32) {
    let (mut line, mut column) = (1u32, 1u32);
    for c in text.chars().take(offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}
