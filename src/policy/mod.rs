//! Policies: Kubernetes ValidatingAdmissionPolicy and MutatingAdmissionPolicy documents and
//! their bindings, loaded unchanged and compiled once into an immutable [`PolicySet`]. Pure, but
//! for [`load`] which reads files.
//!
//! Every expression is compiled at load; a mistake is a [`PolicyError`] naming the file, the
//! document's line, the policy and the field (`spec.validations[2].expression`).

pub mod binding_index;
pub mod bound;
pub mod embedded;
pub mod load;
pub mod matching;
pub mod selection;
pub mod settings;
pub mod types;
pub mod typing;

use crate::cel::{CompileError, Environment, Program, Purpose, SizeBound, SizeBounds, TypeCheck};
use crate::manifest::{self, Document, ManifestError, ReadLimits};
use cel_k8s::check;
use cel_k8s::{Extensions, KubernetesVersion, Profile, Type};
use std::collections::{BTreeMap, HashMap, HashSet};
use types::*;
use typing::creation_declarations;

pub const POLICY_GROUP: &str = "admissionregistration.k8s.io";
/// The policy annotation naming the shape field (see `manifest::shape`) a violation points at.
pub const FIELD_ANNOTATION: &str = "cmek-gate.dev/field";
/// The same, one field per validation, comma-separated.
pub const FIELDS_ANNOTATION: &str = "cmek-gate.dev/fields";

/// The policy annotation giving the policy a role in `scan`: `sensitivity` marks a policy that
/// says which resources are sensitive (see [`Sensitivity`] and docs/scan-policies.md).
pub const SCAN_ROLE_ANNOTATION: &str = "cmek-gate.dev/scan-role";
/// The value of [`SCAN_ROLE_ANNOTATION`] marking a CMEK requirement.
pub const SCAN_ROLE_SENSITIVITY: &str = "sensitivity";
/// The variable of a policy marked for sensitivity that, when it is declared, narrows what the
/// policy applies to down to the resources it holds sensitive.
pub const SENSITIVE_VARIABLE: &str = "sensitive";

/// The default limit of a policy's estimated cost: every expression's, each variable once
/// (Kubernetes' `StaticEstimatedCRDCostLimit`; see `docs/lint.md`).
pub const DEFAULT_MAX_POLICY_COST: u64 = 100_000_000;

/// The policy annotation asking for cmek-gate's CEL extensions beyond Kubernetes: a comma
/// list of `math`, `encoders`, `bind`, `strings`, `kms`.
pub const EXTENSIONS_ANNOTATION: &str = "cmek-gate.dev/cel-extensions";

/// Limits and the target applied when compiling a policy set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileOptions {
    /// The most an expression's estimated cost may be; also the cost units one evaluation of
    /// one expression may spend at run time.
    pub max_expression_cost: u64,
    /// The most a policy's estimated cost may be (all its expressions).
    pub max_policy_cost: u64,
    /// The Kubernetes release whose CEL the policies may use; `None`: the one a loaded
    /// `CmekGateParams` names (`spec.kubernetesVersion`), else the newest.
    pub kubernetes_version: Option<KubernetesVersion>,
    /// Extensions every policy may use, beyond those it asks for itself
    /// ([`EXTENSIONS_ANNOTATION`]).
    pub extensions: Extensions,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            max_expression_cost: crate::cel::DEFAULT_MAX_EXPRESSION_COST,
            max_policy_cost: DEFAULT_MAX_POLICY_COST,
            kubernetes_version: None,
            extensions: Extensions::NONE,
        }
    }
}

impl CompileOptions {
    /// No limit at load (the runtime budget stays the default): to estimate without refusing.
    pub fn unlimited() -> CompileOptions {
        CompileOptions {
            max_policy_cost: u64::MAX,
            max_expression_cost: u64::MAX,
            ..CompileOptions::default()
        }
    }

    /// The same options, targeting `version`.
    pub fn targeting(mut self, version: KubernetesVersion) -> CompileOptions {
        self.kubernetes_version = Some(version);
        self
    }
}

/// A policy source: its name (a path, or `<embedded>/...`) and its text.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("{source_name}: {error}")]
    Manifest {
        source_name: String,
        /// Not a `#[source]`: the message already says it (a chain would repeat it).
        error: ManifestError,
    },
    #[error("{source_name}:{line}: document {document}: {path}: {message}")]
    Decode {
        source_name: String,
        document: usize,
        line: u32,
        path: String,
        message: String,
    },
    /// A compile error at `line` and `column` of the policy file: where the expression went
    /// wrong when that is known, else (no column) the line of the field, with the position inside
    /// the expression in the message.
    #[error(
        "{source_name}:{line}{}: policy \"{policy}\", {field}: {}",
        column.map(|c| format!(":{c}")).unwrap_or_default(),
        if column.is_some() { error.message.clone() } else { error.to_string() }
    )]
    Compile {
        source_name: String,
        line: u32,
        column: Option<u32>,
        policy: String,
        field: String,
        /// Not a `#[source]`: the message already says it (a chain would repeat it).
        error: CompileError,
    },
    /// An expression (`field`) or a whole policy (no field) whose estimated cost is over its
    /// limit.
    #[error(
        "{source_name}:{line}: policy \"{policy}\"{}: estimated cost {} is over the limit of {limit} (see docs/lint.md for the cost model)",
        field.as_ref().map(|f| format!(", {f}")).unwrap_or_default(),
        crate::cel::size_bound::cost_text(*cost)
    )]
    Cost {
        source_name: String,
        line: u32,
        policy: String,
        field: Option<String>,
        cost: u64,
        limit: u64,
    },
    #[error("{source_name}:{line}: {message}")]
    Invalid {
        source_name: String,
        line: u32,
        message: String,
    },
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    /// A set in which no binding names a loaded policy: it would allow everything.
    #[error(
        "{paths}: no policy is bound ({policies} policies, {bindings} bindings): a policy takes effect only through a binding whose spec.policyName names it, and a set that binds nothing would allow everything"
    )]
    NothingBound {
        paths: String,
        policies: usize,
        bindings: usize,
    },
    /// The files kept changing while they were read: no consistent snapshot.
    #[error("{paths}: the files kept changing while they were read ({attempts} attempts)")]
    Unstable { paths: String, attempts: usize },
}

/// A compiled CEL expression and where it was written.
#[derive(Debug)]
pub struct Compiled {
    pub program: Program,
    /// e.g. `spec.validations[0].expression`.
    pub field: String,
    /// The policy's variables it uses (`variables.NAME`), as indexes into its `variables`.
    pub uses: Vec<usize>,
    /// The line of the field in the policy file.
    pub line: u32,
}

#[derive(Debug)]
pub struct CompiledValidation {
    pub expression: Compiled,
    pub message: Option<String>,
    pub message_expression: Option<Compiled>,
    pub reason: Option<String>,
    /// The shape field a violation points at, from the policy's annotations.
    pub points_at: Option<String>,
}

#[derive(Debug)]
pub struct CompiledPolicy {
    pub name: String,
    pub source_name: String,
    pub line: u32,
    pub spec: PolicySpec,
    pub match_conditions: Vec<(String, Compiled)>,
    pub variables: Vec<(std::sync::Arc<str>, Compiled)>,
    /// For each variable, where its value is kept during an evaluation (see [`VariableSlot`]).
    pub variable_slots: Vec<VariableSlot>,
    pub validations: Vec<CompiledValidation>,
    pub audit_annotations: Vec<(String, Compiled)>,
    pub failure_policy: FailurePolicy,
    pub description: Option<String>,
    /// A mutating policy's mutations (empty for a validating one).
    pub mutations: Vec<CompiledMutation>,
    pub reinvocation: ReinvocationPolicy,
    /// What the schema-typed check found (see [`typing`]): Kubernetes warns, it does not refuse.
    pub type_warnings: Vec<TypeWarning>,
    /// Marked `cmek-gate.dev/scan-role: sensitivity`: the policy says which resources are
    /// sensitive, for `scan`.
    pub sensitivity: Option<Sensitivity>,
}

/// How a policy marked [`SCAN_ROLE_ANNOTATION`]` = sensitivity` says a resource is sensitive: the
/// policy applies to it (a binding selects it, its `matchConditions` hold) and, when the policy
/// declares a variable named [`SENSITIVE_VARIABLE`], that variable is true for it. A resource
/// whose sensitivity cannot be decided (a condition or the variable fails, or the variable is not
/// a bool) counts as sensitive: scan fails closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sensitivity {
    /// The index of the `sensitive` variable in the policy's `variables`, if it has one.
    pub variable: Option<usize>,
}

/// A mistake the schema-typed check found in an expression (see [`typing`]), at its line and
/// column in the policy file (the field's line, no column, when the scalar cannot be re-read):
/// a warning, as Kubernetes reports it in `status.typeChecking`, not a refusal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{source_name}:{line}{}: policy \"{policy}\", {field}: {message}",
    column.map(|c| format!(":{c}")).unwrap_or_default()
)]
pub struct TypeWarning {
    pub source_name: String,
    pub line: u32,
    pub column: Option<u32>,
    pub policy: String,
    pub field: String,
    pub message: String,
}

/// One mutation of a MutatingAdmissionPolicy.
#[derive(Debug)]
pub struct CompiledMutation {
    pub patch_type: PatchType,
    pub expression: Compiled,
}

/// Where a variable's value is kept during an evaluation. Variables with the same definition in
/// several policies (the same expression, using variables of the same definitions) have the
/// same value for the same request and parameters: they share a slot, so the engine evaluates
/// them once per request rather than once per policy. CEL expressions have no side effects, so
/// sharing changes no result. A value that depends on the parameter object (`uses_params`) is
/// kept per object.
pub use cel_k8s::VariableSlot;

#[derive(Debug)]
pub struct CompiledBinding {
    pub name: String,
    pub source_name: String,
    pub line: u32,
    pub spec: BindingSpec,
    /// Index into [`PolicySet::policies`]; `None` when no loaded policy has that name (the
    /// binding then does nothing, as in Kubernetes).
    pub policy: Option<usize>,
    /// What evaluation reads to select it and its parameter objects, built once the set is
    /// loaded ([`binding_index`]).
    pub index: Option<binding_index::BindingIndex>,
}

/// A parameter object: any document whose apiVersion and kind a policy's `paramKind` names.
#[derive(Debug)]
pub struct ParamObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    /// The object as written, for code that reads parameters (`scan`).
    pub root: crate::manifest::Node,
    pub source_name: String,
}

/// Everything loaded and compiled: immutable, shared by every evaluation.
pub struct PolicySet {
    pub env: Environment,
    /// The Kubernetes release the policies were compiled for.
    pub kubernetes_version: KubernetesVersion,
    /// The extensions every policy was offered (each may ask for more).
    pub extensions: Extensions,
    /// The validating policies.
    pub policies: Vec<CompiledPolicy>,
    /// How many distinct variable definitions the policies have that do not read `params`
    /// (see [`VariableSlot`]).
    pub variable_slots: usize,
    /// How many distinct variable definitions read `params` (itself or through the variables
    /// they read): their slots are numbered apart, since their values are kept per parameter
    /// object.
    pub param_variable_slots: usize,
    /// The validating policies' bindings.
    pub bindings: Vec<CompiledBinding>,
    pub mutating_policies: Vec<CompiledPolicy>,
    /// The mutating policies' bindings, in the order they are applied (by name, as the API
    /// server orders admission plugins' configurations).
    pub mutating_bindings: Vec<CompiledBinding>,
    pub params: Vec<ParamObject>,
    /// The distinct match constraints of the policies and bindings, which the bindings' index
    /// names ([`binding_index`]).
    pub match_sets: Vec<binding_index::MatchSet>,
}

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet")
            .field("policies", &self.policies.len())
            .field("bindings", &self.bindings.len())
            .field("mutating_policies", &self.mutating_policies.len())
            .field("mutating_bindings", &self.mutating_bindings.len())
            .field("params", &self.params.len())
            .finish()
    }
}

impl PolicySet {
    /// Parses and compiles policy sources. `params` sources hold parameter objects; a parameter
    /// object there replaces one of the same kind, namespace and name from `policies`.
    pub fn compile(policies: &[Source], params: &[Source]) -> Result<PolicySet, PolicyError> {
        PolicySet::compile_with(policies, params, &CompileOptions::default())
    }

    /// [`PolicySet::compile`] with other limits: a policy whose estimated cost is over them is
    /// refused, and each evaluation of an expression may spend `max_expression_cost` units.
    pub fn compile_with(
        policies: &[Source],
        params: &[Source],
        options: &CompileOptions,
    ) -> Result<PolicySet, PolicyError> {
        let budget = match options.max_expression_cost {
            u64::MAX => crate::cel::DEFAULT_MAX_EXPRESSION_COST,
            limit => limit,
        };
        let mut parsed = Vec::with_capacity(policies.len());
        for source in policies {
            parsed.push((source, parse(source)?));
        }
        let mut override_params = Vec::new();
        for source in params {
            for doc in parse(source)? {
                override_params.push((source.name.clone(), doc));
            }
        }
        let kubernetes_version = match options.kubernetes_version {
            Some(version) => version,
            None => settings::kubernetes_version_setting(
                parsed
                    .iter()
                    .flat_map(|(source, docs)| docs.iter().map(|d| (source.name.as_str(), d))),
                override_params.iter().map(|(name, d)| (name.as_str(), d)),
            )?
            .unwrap_or_default(),
        };
        let env = Environment::for_profile(Profile::new(kubernetes_version, options.extensions))
            .with_budget(budget);
        let mut set = PolicySet {
            env,
            kubernetes_version,
            extensions: options.extensions,
            policies: Vec::new(),
            variable_slots: 0,
            param_variable_slots: 0,
            bindings: Vec::new(),
            mutating_policies: Vec::new(),
            mutating_bindings: Vec::new(),
            params: Vec::new(),
            match_sets: Vec::new(),
        };
        let mut pending_params = Vec::new();
        // The CRDs given type `params` in the schema-typed check, wherever they are.
        let crds: Vec<serde_json::Value> = parsed
            .iter()
            .flat_map(|(_, docs)| docs)
            .filter(|doc| is_crd(doc))
            .map(|doc| doc.root.to_json())
            .collect();
        // Compiling the policies' expressions is most of loading: the policies compile on the
        // machine's threads, and are added in order, so the first error is the one reported.
        let documents: Vec<(&Source, Document)> = parsed
            .into_iter()
            .flat_map(|(source, docs)| docs.into_iter().map(move |doc| (source, doc)))
            .collect();
        let mut compiled = compile_policies(&set.env, &documents, &crds).into_iter();
        for (source, doc) in documents {
            let compiled = if is_policy(&doc) {
                compiled
                    .next()
                    .expect("one compiled policy per policy document")
            } else {
                None
            };
            set.add_document(source, doc, compiled, &crds, &mut pending_params)?;
        }
        set.resolve(pending_params, override_params)?;
        set.index_bindings();
        set.assign_variable_slots();
        set.estimate_costs(options)?;
        Ok(set)
    }

    /// Estimates every expression's cost with the shapes its policy knows (the schemas of the
    /// kinds it matches, its parameters as loaded), meters what they leave unbounded, and
    /// refuses what is over the limits.
    fn estimate_costs(&mut self, options: &CompileOptions) -> Result<(), PolicyError> {
        let params = &self.params;
        for policy in self.policies.iter_mut().chain(&mut self.mutating_policies) {
            let mut shapes = root_shapes(
                policy.spec.match_constraints.as_ref(),
                policy.spec.param_kind.as_ref(),
                params
                    .iter()
                    .map(|p| (p.api_version.as_str(), p.kind.as_str(), &p.root)),
            );
            let mut total: u64 = 0;
            let mut check = |compiled: &mut Compiled, shapes: &SizeBounds| {
                let estimate = compiled.program.bound(shapes).clone();
                total = total.saturating_add(estimate.cost);
                if estimate.cost > options.max_expression_cost {
                    return Err(PolicyError::Cost {
                        source_name: policy.source_name.clone(),
                        line: compiled.line,
                        policy: policy.name.clone(),
                        field: Some(compiled.field.clone()),
                        cost: estimate.cost,
                        limit: options.max_expression_cost,
                    });
                }
                Ok(estimate.shape)
            };
            for (name, compiled) in &mut policy.variables {
                let shape = check(compiled, &shapes)?;
                shapes.variables.push((name.to_string(), shape));
            }
            let others = policy
                .match_conditions
                .iter_mut()
                .map(|(_, c)| c)
                .chain(policy.validations.iter_mut().flat_map(|v| {
                    std::iter::once(&mut v.expression).chain(v.message_expression.as_mut())
                }))
                .chain(policy.audit_annotations.iter_mut().map(|(_, c)| c))
                .chain(policy.mutations.iter_mut().map(|m| &mut m.expression));
            for compiled in others {
                check(compiled, &shapes)?;
            }
            if total > options.max_policy_cost {
                return Err(PolicyError::Cost {
                    source_name: policy.source_name.clone(),
                    line: policy.line,
                    policy: policy.name.clone(),
                    field: None,
                    cost: total,
                    limit: options.max_policy_cost,
                });
            }
        }
        Ok(())
    }

    /// Adds one document of the policy files; a policy comes `compiled` by [`compile_document`].
    fn add_document(
        &mut self,
        source: &Source,
        doc: Document,
        compiled: Option<Result<CompiledPolicy, PolicyError>>,
        crds: &[serde_json::Value],
        params: &mut Vec<(String, Document)>,
    ) -> Result<(), PolicyError> {
        match (doc.group(), doc.kind.as_str()) {
            (POLICY_GROUP, "ValidatingAdmissionPolicy") => {
                let compiled = match compiled {
                    Some(compiled) => compiled?,
                    None => compile_document(&self.env, source, &doc, crds)?,
                };
                add_policy(&mut self.policies, compiled, source, &doc)?;
            }
            (POLICY_GROUP, "MutatingAdmissionPolicy") => {
                let compiled = match compiled {
                    Some(compiled) => compiled?,
                    None => compile_document(&self.env, source, &doc, crds)?,
                };
                add_policy(&mut self.mutating_policies, compiled, source, &doc)?;
            }
            (POLICY_GROUP, "ValidatingAdmissionPolicyBinding") => {
                let binding: ValidatingAdmissionPolicyBinding = decode(source, &doc)?;
                if binding.spec.validation_actions.is_empty() {
                    return Err(invalid(
                        source,
                        doc.line,
                        format!(
                            "binding \"{}\": spec.validationActions must name at least one action (Deny, Warn, Audit)",
                            binding.metadata.name
                        ),
                    ));
                }
                add_binding(
                    &mut self.bindings,
                    binding.metadata.name,
                    binding.spec,
                    source,
                    &doc,
                )?;
            }
            (POLICY_GROUP, "MutatingAdmissionPolicyBinding") => {
                let binding: MutatingAdmissionPolicyBinding = decode(source, &doc)?;
                let spec = BindingSpec {
                    policy_name: binding.spec.policy_name,
                    param_ref: binding.spec.param_ref,
                    match_resources: binding.spec.match_resources,
                    validation_actions: Vec::new(),
                };
                add_binding(
                    &mut self.mutating_bindings,
                    binding.metadata.name,
                    spec,
                    source,
                    &doc,
                )?;
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {}
            _ => params.push((source.name.clone(), doc)),
        }
        Ok(())
    }

    /// Links bindings to policies and keeps the documents that are parameters of some policy.
    fn resolve(
        &mut self,
        candidates: Vec<(String, Document)>,
        overrides: Vec<(String, Document)>,
    ) -> Result<(), PolicyError> {
        for binding in &mut self.bindings {
            binding.policy = self
                .policies
                .iter()
                .position(|p| p.name == binding.spec.policy_name);
        }
        for binding in &mut self.mutating_bindings {
            binding.policy = self
                .mutating_policies
                .iter()
                .position(|p| p.name == binding.spec.policy_name);
        }
        self.mutating_bindings.sort_by(|a, b| a.name.cmp(&b.name));
        let param_kinds: HashSet<(String, String)> = self
            .policies
            .iter()
            .chain(&self.mutating_policies)
            .filter_map(|p| p.spec.param_kind.as_ref())
            .map(|k| (k.api_version.clone(), k.kind.clone()))
            .collect();
        for (source_name, doc) in candidates {
            if !param_kinds.contains(&(doc.api_version.clone(), doc.kind.clone())) {
                return Err(PolicyError::Invalid {
                    source_name,
                    line: doc.line,
                    message: format!(
                        "document {} is a {} {}: neither a policy, a binding, nor the paramKind of a loaded policy",
                        doc.index, doc.api_version, doc.kind
                    ),
                });
            }
            self.params.push(param_object(source_name, &doc));
        }
        for (source_name, doc) in overrides {
            let param = param_object(source_name, &doc);
            self.params.retain(|p| {
                (&p.api_version, &p.kind, &p.namespace, &p.name)
                    != (
                        &param.api_version,
                        &param.kind,
                        &param.namespace,
                        &param.name,
                    )
            });
            self.params.push(param);
        }
        Ok(())
    }

    /// Gives variables of the same definition the same slot. Those that read `params` are
    /// numbered apart from the others (see [`PolicySet::param_variable_slots`]).
    fn assign_variable_slots(&mut self) {
        // By whether the definition reads `params`, then its signature.
        let mut slots: [HashMap<String, usize>; 2] = Default::default();
        for policy in self.policies.iter_mut().chain(&mut self.mutating_policies) {
            let mut assigned: Vec<VariableSlot> = Vec::with_capacity(policy.variables.len());
            for (_, compiled) in &policy.variables {
                // The definition: the expression and the slots of the variables it uses.
                let mut signature = compiled.program.source.clone();
                let mut uses_params = compiled.program.references.uses_params;
                for &used in &compiled.uses {
                    let used = assigned[used];
                    signature.push_str(&format!("\u{0}{}{}", used.slot, used.uses_params));
                    uses_params |= used.uses_params;
                }
                let numbered = &mut slots[usize::from(uses_params)];
                let next = numbered.len();
                let slot = *numbered.entry(signature).or_insert(next);
                assigned.push(VariableSlot { slot, uses_params });
            }
            policy.variable_slots = assigned;
        }
        self.variable_slots = slots[0].len();
        self.param_variable_slots = slots[1].len();
    }

    /// The validating policy a validating binding names.
    /// The validating policies marked `cmek-gate.dev/scan-role: sensitivity` that a binding
    /// binds (see [`Sensitivity`]): those that can say a resource is sensitive.
    pub fn sensitivity_policies(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .bindings
            .iter()
            .filter_map(|b| self.policy_of(b))
            .filter(|p| p.sensitivity.is_some())
            .map(|p| p.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    pub fn policy_of(&self, binding: &CompiledBinding) -> Option<&CompiledPolicy> {
        binding.policy.map(|i| &self.policies[i])
    }

    /// The mutating policy a mutating binding names.
    pub fn mutating_policy_of(&self, binding: &CompiledBinding) -> Option<&CompiledPolicy> {
        binding.policy.map(|i| &self.mutating_policies[i])
    }

    /// What the schema-typed check found in every policy (see [`typing`]), in load order.
    pub fn type_warnings(&self) -> impl Iterator<Item = &TypeWarning> {
        self.policies
            .iter()
            .chain(&self.mutating_policies)
            .flat_map(|p| &p.type_warnings)
    }

    /// Whether any mutating policy is bound.
    pub fn mutates(&self) -> bool {
        self.mutating_bindings.iter().any(|b| b.policy.is_some())
    }
}

fn add_policy(
    list: &mut Vec<CompiledPolicy>,
    compiled: CompiledPolicy,
    source: &Source,
    doc: &Document,
) -> Result<(), PolicyError> {
    if let Some(other) = list.iter().find(|p| p.name == compiled.name) {
        return Err(invalid(
            source,
            doc.line,
            format!(
                "policy \"{}\" is defined twice (also at {}:{})",
                compiled.name, other.source_name, other.line
            ),
        ));
    }
    list.push(compiled);
    Ok(())
}

fn add_binding(
    list: &mut Vec<CompiledBinding>,
    name: String,
    spec: BindingSpec,
    source: &Source,
    doc: &Document,
) -> Result<(), PolicyError> {
    if name.is_empty() || spec.policy_name.is_empty() {
        return Err(invalid(
            source,
            doc.line,
            "a binding needs metadata.name and spec.policyName".into(),
        ));
    }
    if let Some(other) = list.iter().find(|b| b.name == name) {
        return Err(invalid(
            source,
            doc.line,
            format!(
                "binding \"{}\" is defined twice (also at {}:{})",
                other.name, other.source_name, other.line
            ),
        ));
    }
    list.push(CompiledBinding {
        name,
        source_name: source.name.clone(),
        line: doc.line,
        spec,
        policy: None,
        index: None,
    });
    Ok(())
}

fn param_object(source_name: String, doc: &Document) -> ParamObject {
    let labels = doc.root.metadata_labels();
    ParamObject {
        api_version: doc.api_version.clone(),
        kind: doc.kind.clone(),
        name: doc.name.clone(),
        namespace: doc.namespace.clone(),
        labels,
        root: doc.root.clone(),
        source_name,
    }
}

fn parse(source: &Source) -> Result<Vec<Document>, PolicyError> {
    manifest::parse_documents(&source.text, &ReadLimits::default()).map_err(|error| {
        PolicyError::Manifest {
            source_name: source.name.clone(),
            error,
        }
    })
}

fn invalid(source: &Source, line: u32, message: String) -> PolicyError {
    PolicyError::Invalid {
        source_name: source.name.clone(),
        line,
        message,
    }
}

/// Strictly decodes a document into a Kubernetes type, naming the field and line on failure.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    source: &Source,
    doc: &Document,
) -> Result<T, PolicyError> {
    let json = doc.root.to_json();
    serde_path_to_error::deserialize(&json).map_err(|e| {
        let path = e.path().to_string();
        let segments: Vec<String> = e
            .path()
            .iter()
            .map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => index.to_string(),
                serde_path_to_error::Segment::Map { key } => key.clone(),
                _ => String::new(),
            })
            .collect();
        let mut message = e.into_inner().to_string();
        // serde's unknown-field message lists every expected field: keep the first clause.
        if let Some(cut) = message.find(", expected") {
            message.truncate(cut);
        }
        let line = doc.root.deepest(&segments).1.line.max(doc.line);
        PolicyError::Decode {
            source_name: source.name.clone(),
            document: doc.index,
            line,
            path,
            message,
        }
    })
}

/// Compiles a policy: a validating one, or (with its mutations) a mutating one, whose other
/// fields come as a [`PolicySpec`] without validations.
/// Whether a document of the policy files is a policy (compiled by [`compile_document`]).
fn is_policy(doc: &Document) -> bool {
    doc.group() == POLICY_GROUP
        && matches!(
            doc.kind.as_str(),
            "ValidatingAdmissionPolicy" | "MutatingAdmissionPolicy"
        )
}

/// Compiles a ValidatingAdmissionPolicy or MutatingAdmissionPolicy document.
fn compile_document(
    env: &Environment,
    source: &Source,
    doc: &Document,
    crds: &[serde_json::Value],
) -> Result<CompiledPolicy, PolicyError> {
    if doc.kind == "MutatingAdmissionPolicy" {
        let policy: MutatingAdmissionPolicy = decode(source, doc)?;
        let spec = policy.spec;
        let common = PolicySpec {
            param_kind: spec.param_kind,
            match_constraints: spec.match_constraints,
            validations: Vec::new(),
            failure_policy: spec.failure_policy,
            audit_annotations: Vec::new(),
            match_conditions: spec.match_conditions,
            variables: spec.variables,
        };
        let mutating = (spec.mutations, spec.reinvocation_policy.unwrap_or_default());
        compile_policy(
            env,
            source,
            doc,
            crds,
            policy.metadata,
            common,
            Some(mutating),
        )
    } else {
        let policy: ValidatingAdmissionPolicy = decode(source, doc)?;
        compile_policy(env, source, doc, crds, policy.metadata, policy.spec, None)
    }
}

/// [`compile_document`] of every policy among `documents`, in order, on the machine's threads
/// (each thread takes every n-th policy, so that long and short ones are shared out).
fn compile_policies(
    env: &Environment,
    documents: &[(&Source, Document)],
    crds: &[serde_json::Value],
) -> Vec<Option<Result<CompiledPolicy, PolicyError>>> {
    let policies: Vec<&(&Source, Document)> =
        documents.iter().filter(|(_, doc)| is_policy(doc)).collect();
    if policies.is_empty() {
        return Vec::new();
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(policies.len());
    let mut compiled: Vec<Option<Result<CompiledPolicy, PolicyError>>> =
        (0..policies.len()).map(|_| None).collect();
    // Each worker compiles on the parser's stack, so that its expressions do not each start
    // a thread (and a cold allocator heap) of their own.
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|first| {
                let policies = &policies;
                let work = move || {
                    (first..policies.len())
                        .step_by(threads)
                        .map(|k| {
                            let (source, doc) = policies[k];
                            (k, compile_document(env, source, doc, crds))
                        })
                        .collect::<Vec<_>>()
                };
                cel_k8s::syntax::spawn_parse_thread(scope, work).map_err(|_| work)
            })
            .collect();
        for worker in workers {
            let results = match worker {
                Ok(thread) => thread.join().expect("a policy compiling thread panicked"),
                // No thread to be had: here, each expression on a thread of its own.
                Err(work) => work(),
            };
            for (k, result) in results {
                compiled[k] = Some(result);
            }
        }
    });
    compiled
}

fn compile_policy(
    env: &Environment,
    source: &Source,
    doc: &Document,
    crds: &[serde_json::Value],
    metadata: ObjectMeta,
    spec: PolicySpec,
    mutating: Option<(Vec<Mutation>, ReinvocationPolicy)>,
) -> Result<CompiledPolicy, PolicyError> {
    let name = metadata.name.clone();
    let mutating_kind = mutating.is_some();
    if name.is_empty() {
        return Err(invalid(
            source,
            doc.line,
            "a policy needs metadata.name".into(),
        ));
    }
    let names: Vec<&str> = spec.variables.iter().map(|v| v.name.as_str()).collect();
    if let Some(dup) = names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
    {
        return Err(invalid(
            source,
            doc.line,
            format!(
                "policy \"{name}\": variable \"{}\" is declared twice",
                dup.1
            ),
        ));
    }
    let profile = policy_profile(env.profile(), &metadata.annotations).map_err(|message| {
        let line = doc
            .root
            .deepest(&["metadata", "annotations", EXTENSIONS_ANNOTATION])
            .1
            .line;
        invalid(source, line, format!("policy \"{name}\": {message}"))
    })?;
    // Type-checked as the API server checks a policy it is asked to create: `object`,
    // `oldObject` and `params` (with a paramKind) dyn, `request` and `namespaceObject` typed,
    // each variable with the type inferred for it (see docs/lint.md), with the functions of
    // the target release and the extensions asked for.
    let mut declarations = creation_declarations(spec.param_kind.is_some(), profile);
    if !spec.variables.is_empty() {
        declarations.declare_variables();
    }
    let compile_as = |field: String,
                      expression: &str,
                      visible: &[&str],
                      purpose: Purpose,
                      check: TypeCheck<'_>|
     -> Result<Compiled, PolicyError> {
        let segments: Vec<String> = field
            .split(['.', '[', ']'])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        match env.compile_checked(expression, visible, purpose, Some(check)) {
            Ok(program) => {
                let uses = program
                    .references
                    .variables
                    .iter()
                    .filter_map(|used| names.iter().position(|n| n == used))
                    .collect();
                Ok(Compiled {
                    program,
                    line: doc.root.deepest(&segments).1.line,
                    field,
                    uses,
                })
            }
            Err(error) => {
                let (line, column) = expression_position(source, doc, &segments, &error);
                Err(PolicyError::Compile {
                    source_name: source.name.clone(),
                    line,
                    column,
                    policy: name.clone(),
                    field,
                    error,
                })
            }
        }
    };
    let mut variables = Vec::new();
    for (i, v) in spec.variables.iter().enumerate() {
        let field = format!("spec.variables[{i}].expression");
        let check = TypeCheck {
            declarations: &declarations,
            result: &[],
        };
        let compiled = compile_as(field, &v.expression, &names[..i], Purpose::Check, check)?;
        let inferred = compiled.program.result_type.clone().unwrap_or(Type::Dyn);
        declarations.add_variable(&v.name, inferred);
        variables.push((v.name.as_str().into(), compiled));
    }
    let (bool_result, string_result, annotation_result) =
        ([Type::Bool], [Type::String], [Type::String, Type::Null]);
    let compile = |field: String, expression: &str, visible: &[&str], result: &[Type]| {
        let check = TypeCheck {
            declarations: &declarations,
            result,
        };
        compile_as(field, expression, visible, Purpose::Check, check)
    };
    let mut match_conditions = Vec::new();
    for (i, c) in spec.match_conditions.iter().enumerate() {
        let field = format!("spec.matchConditions[{i}].expression");
        match_conditions.push((
            c.name.clone(),
            compile(field, &c.expression, &names, &bool_result)?,
        ));
    }
    let points_at = fields_pointed_at(&metadata.annotations, spec.validations.len());
    let mut validations = Vec::new();
    for (i, v) in spec.validations.iter().enumerate() {
        let expression = compile(
            format!("spec.validations[{i}].expression"),
            &v.expression,
            &names,
            &bool_result,
        )?;
        let message_expression = match &v.message_expression {
            Some(m) => Some(compile(
                format!("spec.validations[{i}].messageExpression"),
                m,
                &names,
                &string_result,
            )?),
            None => None,
        };
        validations.push(CompiledValidation {
            expression,
            message: v.message.clone(),
            message_expression,
            reason: v.reason.clone(),
            points_at: points_at.get(i).cloned().flatten(),
        });
    }
    let mut audit_annotations = Vec::new();
    for (i, a) in spec.audit_annotations.iter().enumerate() {
        let field = format!("spec.auditAnnotations[{i}].valueExpression");
        audit_annotations.push((
            a.key.clone(),
            compile(field, &a.value_expression, &names, &annotation_result)?,
        ));
    }
    let mut mutations = Vec::new();
    let mut reinvocation = ReinvocationPolicy::Never;
    if let Some((specs, policy_reinvocation)) = mutating {
        reinvocation = policy_reinvocation;
        let mutation_declarations = declarations.clone().mutation();
        let (apply_result, patch_result) = (
            [check::apply_configuration_result()],
            [check::json_patch_result()],
        );
        if specs.is_empty() {
            return Err(invalid(
                source,
                doc.line,
                format!("mutating policy \"{name}\" has no mutations"),
            ));
        }
        for (i, m) in specs.iter().enumerate() {
            let (expression, field) = match m.patch_type {
                PatchType::JsonPatch => (&m.json_patch, "jsonPatch"),
                PatchType::ApplyConfiguration => (&m.apply_configuration, "applyConfiguration"),
            };
            let other = match m.patch_type {
                PatchType::JsonPatch => m.apply_configuration.is_some(),
                PatchType::ApplyConfiguration => m.json_patch.is_some(),
            };
            let Some(expression) = expression.as_ref().filter(|_| !other) else {
                return Err(invalid(
                    source,
                    doc.root.deepest(&["spec".into(), "mutations".into(), i.to_string()]).1.line,
                    format!(
                        "policy \"{name}\", spec.mutations[{i}]: patchType {} needs {field} (and only it)",
                        m.patch_type.as_str()
                    ),
                ));
            };
            let check = TypeCheck {
                declarations: &mutation_declarations,
                result: match m.patch_type {
                    PatchType::JsonPatch => &patch_result,
                    PatchType::ApplyConfiguration => &apply_result,
                },
            };
            mutations.push(CompiledMutation {
                patch_type: m.patch_type,
                expression: compile_as(
                    format!("spec.mutations[{i}].{field}.expression"),
                    &expression.expression,
                    &names,
                    Purpose::Mutation,
                    check,
                )?,
            });
        }
    } else if validations.is_empty() && audit_annotations.is_empty() {
        return Err(invalid(
            source,
            doc.line,
            format!("policy \"{name}\" has neither validations nor auditAnnotations"),
        ));
    }
    let mutation_fields: Vec<(String, String)> = mutations
        .iter()
        .map(|m| {
            (
                m.expression.field.clone(),
                m.expression.program.source.clone(),
            )
        })
        .collect();
    let type_warnings = schema_warnings(source, doc, &name, &spec, &mutation_fields, crds, profile);
    let sensitivity = scan_role(
        source,
        doc,
        &name,
        &metadata.annotations,
        &names,
        mutating_kind,
    )?;
    Ok(CompiledPolicy {
        name,
        source_name: source.name.clone(),
        line: doc.line,
        failure_policy: spec.failure_policy.unwrap_or_default(),
        description: metadata
            .annotations
            .get("cmek-gate.dev/description")
            .cloned(),
        spec,
        match_conditions,
        variables,
        variable_slots: Vec::new(),
        validations,
        audit_annotations,
        mutations,
        reinvocation,
        type_warnings,
        sensitivity,
    })
}

/// What a policy's [`SCAN_ROLE_ANNOTATION`] says: `sensitivity` (on a validating policy), or no
/// annotation; any other value is an error naming it, so that a misspelt role is not silently
/// no role.
fn scan_role(
    source: &Source,
    doc: &Document,
    name: &str,
    annotations: &BTreeMap<String, String>,
    variables: &[&str],
    mutating: bool,
) -> Result<Option<Sensitivity>, PolicyError> {
    let Some(role) = annotations.get(SCAN_ROLE_ANNOTATION) else {
        return Ok(None);
    };
    let line = doc
        .root
        .deepest(&["metadata", "annotations", SCAN_ROLE_ANNOTATION])
        .1
        .line;
    if role.trim() != SCAN_ROLE_SENSITIVITY {
        return Err(invalid(
            source,
            line,
            format!(
                "policy \"{name}\": annotation {SCAN_ROLE_ANNOTATION}: {role:?} is not a scan role (the one known is \"{SCAN_ROLE_SENSITIVITY}\")"
            ),
        ));
    }
    if mutating {
        return Err(invalid(
            source,
            line,
            format!(
                "policy \"{name}\": annotation {SCAN_ROLE_ANNOTATION}: only a ValidatingAdmissionPolicy can say which resources are sensitive"
            ),
        ));
    }
    Ok(Some(Sensitivity {
        variable: variables.iter().position(|v| *v == SENSITIVE_VARIABLE),
    }))
}

/// The target of one policy: the set's, plus the extensions its annotation asks for (an
/// unknown name is an error naming it).
pub fn policy_profile(
    target: Profile,
    annotations: &BTreeMap<String, String>,
) -> Result<Profile, String> {
    let Some(list) = annotations.get(EXTENSIONS_ANNOTATION) else {
        return Ok(target);
    };
    let asked = Extensions::parse(list)
        .map_err(|e| format!("metadata.annotations[{EXTENSIONS_ANNOTATION}]: {e}"))?;
    Ok(Profile::new(target.version, target.extensions.union(asked)))
}

/// The schema-typed check of a compiled policy (see [`typing`]): its mistakes as warnings at
/// their line and column in the policy file.
fn schema_warnings(
    source: &Source,
    doc: &Document,
    policy: &str,
    spec: &PolicySpec,
    mutations: &[(String, String)],
    crds: &[serde_json::Value],
    profile: Profile,
) -> Vec<TypeWarning> {
    let Some(types) = typing::schema_types(
        spec.match_constraints.as_ref(),
        spec.param_kind.as_ref(),
        crds,
    ) else {
        return Vec::new();
    };
    let (variables, others) = typing::expressions(spec, mutations);
    typing::schema_mistakes(&types, &variables, &others, &|_| false, profile)
        .into_iter()
        .map(|mistake| {
            let segments: Vec<String> = mistake
                .field
                .split(['.', '[', ']'])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let error = CompileError::from(mistake.error.clone());
            let (line, column) = expression_position(source, doc, &segments, &error);
            TypeWarning {
                source_name: source.name.clone(),
                line,
                column,
                policy: policy.to_owned(),
                message: match column {
                    Some(_) => mistake.message(&types),
                    None => format!(
                        "{}{}",
                        error
                            .position
                            .map(|(l, c)| format!("line {l}, column {c}: "))
                            .unwrap_or_default(),
                        mistake.message(&types)
                    ),
                },
                field: mistake.field,
            }
        })
        .collect()
}

fn is_crd(doc: &Document) -> bool {
    doc.group() == "apiextensions.k8s.io" && doc.kind == "CustomResourceDefinition"
}

/// The shapes a policy's expressions read: `object` (and `oldObject`) by the schemas of the kinds
/// its match constraints select (unknown when one has none), `params` by the parameter objects
/// of its `paramKind` (`null` when there is none), `namespaceObject` as a Namespace.
pub fn root_shapes<'a>(
    constraints: Option<&MatchResources>,
    param_kind: Option<&ParamKind>,
    params: impl Iterator<Item = (&'a str, &'a str, &'a manifest::Node)>,
) -> SizeBounds {
    let object = crate::lint::schema::object_shape(constraints);
    let params = match param_kind {
        Some(kind) => params
            .filter(|(api_version, k, _)| *api_version == kind.api_version && *k == kind.kind)
            .map(|(_, _, node)| shape_of_node(node))
            .fold(SizeBound::Null, |acc, s| acc.join(&s)),
        None => SizeBound::Null,
    };
    static NAMESPACE: std::sync::OnceLock<SizeBound> = std::sync::OnceLock::new();
    let namespace = NAMESPACE.get_or_init(|| {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("apiVersion".to_owned(), SizeBound::String(2));
        fields.insert("kind".to_owned(), SizeBound::String(9));
        fields.insert(
            "metadata".to_owned(),
            crate::lint::schema::object_meta().shape(),
        );
        SizeBound::Map {
            max: 5,
            key: 10,
            fields: std::sync::Arc::new(fields),
            other: Some(std::sync::Arc::new(SizeBound::Unknown)),
            shared: true,
        }
    });
    SizeBounds {
        old_object: object.clone(),
        object,
        params,
        request: SizeBound::Unknown,
        namespace_object: namespace.clone(),
        variables: Vec::new(),
    }
}

/// Where a compile error is in the policy file: the line and column of the error's position in
/// the expression, or (when the error has no position, or the scalar cannot be re-read) the line
/// of the field and no column.
pub fn expression_position<S: AsRef<str>>(
    source: &Source,
    doc: &Document,
    segments: &[S],
    error: &CompileError,
) -> (u32, Option<u32>) {
    let field_line = doc.root.deepest(segments).1.line;
    let mapped = error.position.and_then(|(line, column)| {
        let node = node_at(&doc.root, segments)?;
        manifest::scalar::position_in_value(&source.text, node.mark, node.as_str()?, line, column)
    });
    match mapped {
        Some(mark) => (mark.line, Some(mark.column)),
        None => (field_line, None),
    }
}

/// The node at `path` (mapping keys and sequence indexes) under `root`.
pub fn node_at<'a, S: AsRef<str>>(
    root: &'a manifest::Node,
    path: &[S],
) -> Option<&'a manifest::Node> {
    path.iter().try_fold(root, |node, segment| {
        let segment = segment.as_ref();
        match &node.value {
            manifest::NodeValue::Map(_) => node.get(segment),
            manifest::NodeValue::Seq(items) => items.get(segment.parse::<usize>().ok()?),
            manifest::NodeValue::Scalar(_) => None,
        }
    })
}

/// The shape field each validation points at, from `cmek-gate.dev/fields` (one per validation,
/// the last repeated) or `cmek-gate.dev/field` (for all).
fn fields_pointed_at(annotations: &BTreeMap<String, String>, count: usize) -> Vec<Option<String>> {
    if let Some(list) = annotations.get(FIELDS_ANNOTATION) {
        let fields: Vec<String> = list.split(',').map(|f| f.trim().to_owned()).collect();
        return (0..count)
            .map(|i| fields.get(i).or(fields.last()).cloned())
            .collect();
    }
    vec![annotations.get(FIELD_ANNOTATION).cloned(); count]
}

/// The shape of one value exactly (a parameter object as loaded), for the cost estimate.
pub fn shape_of_node(node: &crate::manifest::Node) -> SizeBound {
    use crate::manifest::{NodeValue, ScalarKind};
    match &node.value {
        NodeValue::Scalar(s) if s.kind == ScalarKind::Str => SizeBound::String(s.text.len() as u64),
        NodeValue::Scalar(s) if s.kind == ScalarKind::Null => SizeBound::Null,
        NodeValue::Scalar(_) => SizeBound::Scalar,
        NodeValue::Seq(items) => SizeBound::List {
            max: items.len() as u64,
            item: std::sync::Arc::new(
                items
                    .iter()
                    .map(shape_of_node)
                    .reduce(|a, b| a.join(&b))
                    .unwrap_or(SizeBound::Null),
            ),
            shared: true,
        },
        NodeValue::Map(entries) => SizeBound::Map {
            max: entries.len() as u64,
            key: entries
                .iter()
                .map(|e| e.key.len() as u64)
                .max()
                .unwrap_or(0),
            fields: std::sync::Arc::new(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), shape_of_node(&e.value)))
                    .collect(),
            ),
            other: None,
            shared: true,
        },
    }
}

#[cfg(test)]
pub(crate) mod tests;
