//! What a check is given and gives: the declarations of the names an expression may use, and
//! the checked result; with the helpers a policy's compilation needs (variables in order, the
//! result type a field requires).

use super::kube::{namespace_type, request_type};
use super::{check, Overload};
use crate::error::CompileError;
use crate::profile::{Feature, Profile};
use crate::types::{ObjectType, Type};
use cel::common::ast::{IdedExpr, SourceInfo};
use std::collections::HashMap;
use std::sync::Arc;

/// The names an expression may refer to, with their types.
#[derive(Debug, Clone, Default)]
pub struct Declarations {
    roots: Vec<(String, Type)>,
    variables: Vec<(String, Type)>,
    /// Whether `variables` is declared: Kubernetes declares it for a policy that has variables.
    has_variables: bool,
    /// A mutation may build `Object{...}` and `JSONPatch{...}` literals.
    pub(super) mutation: bool,
    /// The Kubernetes release and extensions whose functions are declared.
    profile: Profile,
}

impl Declarations {
    /// No names at all (the standard library's functions and type names only).
    pub fn new() -> Declarations {
        Declarations::default()
    }

    /// The declarations of a `ValidatingAdmissionPolicy` (or, with [`Declarations::mutation`],
    /// a `MutatingAdmissionPolicy`) expression: `object` and `oldObject` of type `object`,
    /// `request` and `namespaceObject` as Kubernetes types them, `params` when the policy has a
    /// `paramKind` (`Some(Type::Dyn)` without a schema), and `variables` (empty until
    /// [`Declarations::add_variable`]).
    pub fn admission(object: Type, params: Option<Type>) -> Declarations {
        let mut roots = vec![
            ("object".to_owned(), object.clone()),
            ("oldObject".to_owned(), object),
            ("request".to_owned(), request_type()),
            ("namespaceObject".to_owned(), namespace_type()),
        ];
        if let Some(params) = params {
            roots.push(("params".to_owned(), params));
        }
        Declarations {
            roots,
            variables: Vec::new(),
            has_variables: false,
            mutation: false,
            profile: Profile::default(),
        }
    }

    /// Declares a root variable (replacing one of the same name).
    pub fn variable(mut self, name: &str, t: Type) -> Declarations {
        self.roots.retain(|(n, _)| n != name);
        self.roots.push((name.to_owned(), t));
        self
    }

    /// Allows a mutation's `Object{...}` and `JSONPatch{...}` literals.
    pub fn mutation(mut self) -> Declarations {
        self.mutation = true;
        self
    }

    /// Declares what `profile` offers: its Kubernetes release's functions and macros, and its
    /// extensions' (the default: the newest release, no extension).
    pub fn profile(mut self, profile: Profile) -> Declarations {
        self.profile = profile;
        self
    }

    /// Declares every extension too, at the newest release ([`Profile::everything`]).
    pub fn extended(self) -> Declarations {
        self.profile(Profile::everything())
    }

    /// The release and extensions declared.
    pub fn target(&self) -> Profile {
        self.profile
    }

    /// Whether an overload is declared here.
    pub(super) fn offers(&self, overload: &Overload) -> bool {
        match overload.feature {
            None => true,
            Some(_) if self.mutation && overload.signature.starts_with("jsonpatch.") => true,
            Some(feature) => self.profile.offers(feature),
        }
    }

    /// Whether the target has this feature (a macro's, for the checker).
    pub(super) fn has(&self, feature: Feature) -> bool {
        self.profile.offers(feature)
    }

    /// Declares `variables`, with no fields until [`Declarations::add_variable`] adds them: as
    /// Kubernetes declares it for a policy that has variables, from its first variable on.
    pub fn declare_variables(&mut self) {
        self.has_variables = true;
    }

    /// Declares `variables.NAME`: a policy's variables are added in order, each with the type
    /// its expression was inferred to have (Kubernetes gives one that failed to compile `dyn`).
    /// `variables` itself is declared once a policy has one, as Kubernetes declares it.
    pub fn add_variable(&mut self, name: &str, t: Type) {
        self.has_variables = true;
        self.variables.retain(|(n, _)| n != name);
        self.variables.push((name.to_owned(), t));
    }

    /// The type of `variables`: a record with one field per variable declared so far.
    pub fn variables_type(&self) -> Type {
        let mut fields = self.variables.clone();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        Type::Object(Arc::new(ObjectType {
            name: "kubernetes.variables".to_owned(),
            fields,
        }))
    }

    pub(super) fn lookup(&self, name: &str) -> Option<Type> {
        if name == "variables" && self.has_variables {
            return Some(self.variables_type());
        }
        self.roots
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
    }
}

/// What checking found: a type for every expression, the overloads each call may resolve to,
/// and the expression's type.
#[derive(Debug, Clone)]
pub struct Checked {
    pub result: Type,
    pub(super) types: HashMap<u64, Type>,
    pub(super) overloads: HashMap<u64, Vec<&'static str>>,
}

impl Checked {
    /// The type of the expression with this id.
    pub fn type_of(&self, id: u64) -> Option<&Type> {
        self.types.get(&id)
    }

    /// The signatures (see [`Overload::signature`]) a call may resolve to: one, or several
    /// when its arguments' types are not known (`dyn`) until it runs.
    pub fn overloads_of(&self, id: u64) -> &[&'static str] {
        self.overloads.get(&id).map_or(&[], Vec::as_slice)
    }
}

/// The type an `ApplyConfiguration` mutation's expression must have: `Object`.
pub fn apply_configuration_result() -> Type {
    Type::Object(Arc::new(ObjectType {
        name: "Object".to_owned(),
        fields: Vec::new(),
    }))
}

/// The type a `JSONPatch` mutation's expression must have: `list(JSONPatch)`.
pub fn json_patch_result() -> Type {
    Type::list(Type::Object(Arc::new(ObjectType {
        name: "JSONPatch".to_owned(),
        fields: Vec::new(),
    })))
}

/// Whether an expression's type is exactly one a field requires, as Kubernetes requires it
/// when compiling (`bool` for a validation or a match condition, `string` for a message
/// expression, `string` or `null_type` for an audit annotation): `dyn` is not `bool`.
pub fn expect_result(checked: &Checked, expected: &[Type]) -> Result<(), CompileError> {
    if expected.contains(&checked.result) {
        return Ok(());
    }
    let wanted = match expected {
        [one] => one.to_string(),
        many => format!(
            "one of [{}]",
            many.iter()
                .map(Type::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    Err(CompileError::new(
        None,
        format!("must evaluate to {wanted} but got {}", checked.result),
    ))
}

/// Checks a policy's variables in order, declaring each as `variables.NAME` with the type it
/// was inferred to have, or `dyn` when it does not check (as Kubernetes declares a variable
/// whose compilation failed), and returns each one's result.
pub fn check_variables<'e>(
    declarations: &mut Declarations,
    variables: impl IntoIterator<Item = (&'e str, &'e IdedExpr, &'e SourceInfo)>,
) -> Vec<Result<Checked, Vec<CompileError>>> {
    let mut results = Vec::new();
    let mut variables = variables.into_iter().peekable();
    if variables.peek().is_some() {
        declarations.declare_variables();
    }
    for (name, expr, source) in variables {
        let result = check(expr, source, declarations);
        let t = result.as_ref().map_or(Type::Dyn, |c| c.result.clone());
        declarations.add_variable(name, t);
        results.push(result);
    }
    results
}
