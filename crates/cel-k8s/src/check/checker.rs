//! The walk over the parsed tree: cel-go's `checker.check` per expression kind.

use super::decls::{self, Overload};
use super::kube;
use super::ty::{most_general, Mapping, Ty};
use super::{position, schema, Declarations, AUTHORIZER_MESSAGE, MAX_CHECK_DEPTH};
use crate::error::CompileError;
use crate::profile::{Extension, Feature};
use cel::common::ast::{
    operators, CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SelectExpr,
    SourceInfo, StructExpr,
};
use std::collections::HashMap;
use std::rc::Rc;

pub(super) struct Checker<'a> {
    pub(super) declarations: &'a Declarations,
    pub(super) source: &'a SourceInfo,
    pub(super) mapping: Mapping,
    pub(super) types: HashMap<u64, Ty>,
    pub(super) overloads: HashMap<u64, Vec<&'static str>>,
    /// Comprehension variables, innermost last.
    pub(super) scopes: Vec<(String, Ty)>,
    pub(super) errors: Vec<CompileError>,
    /// How deep in the tree the check is.
    pub(super) depth: usize,
}

impl Checker<'_> {
    fn error(&mut self, id: u64, message: String) {
        let position = position(self.source, id);
        self.errors.push(CompileError::new(position, message));
    }

    fn set(&mut self, e: &IdedExpr, t: Ty) {
        self.types.insert(e.id, t);
    }

    fn get(&self, e: &IdedExpr) -> Ty {
        self.types.get(&e.id).cloned().unwrap_or(Ty::Error)
    }

    pub(super) fn check(&mut self, e: &IdedExpr) {
        if self.depth >= MAX_CHECK_DEPTH {
            if !self
                .errors
                .iter()
                .any(|e| e.message.contains("nested deeper"))
            {
                let message = format!("expression is nested deeper than {MAX_CHECK_DEPTH} levels");
                self.error(e.id, message);
            }
            self.set(e, Ty::Error);
            return;
        }
        self.depth += 1;
        self.check_kind(e);
        self.depth -= 1;
    }

    fn check_kind(&mut self, e: &IdedExpr) {
        match &e.expr {
            Expr::Literal(literal) => {
                let t = match literal {
                    LiteralValue::Boolean(_) => Ty::Bool,
                    LiteralValue::Bytes(_) => Ty::Bytes,
                    LiteralValue::Double(_) => Ty::Double,
                    LiteralValue::Int(_) => Ty::Int,
                    LiteralValue::Null => Ty::Null,
                    LiteralValue::String(_) => Ty::String,
                    LiteralValue::UInt(_) => Ty::Uint,
                };
                self.set(e, t);
            }
            Expr::Ident(name) => self.check_ident(e, name),
            Expr::Select(select) => self.check_select(e, select),
            Expr::Call(call) => self.check_call(e, call),
            Expr::List(list) => self.check_list(e, &list.elements, &list.optional_indices),
            Expr::Map(map) => self.check_map(e, &map.entries),
            Expr::Struct(object) => self.check_struct(e, object),
            Expr::Comprehension(comprehension) => self.check_comprehension(e, comprehension),
            Expr::Unspecified => self.set(e, Ty::Error),
        }
    }

    /// A name: a comprehension variable, a declared variable, or a type name.
    fn resolve(&self, name: &str) -> Option<Ty> {
        if let Some((_, t)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
            return Some(t.clone());
        }
        if let Some(t) = self.declarations.lookup(name) {
            return Some(Ty::from_type(&t));
        }
        kube::type_name(name).map(|t| Ty::type_of(Ty::from_type(&t)))
    }

    fn check_ident(&mut self, e: &IdedExpr, name: &str) {
        if name == "authorizer" && self.resolve(name).is_none() {
            self.error(e.id, AUTHORIZER_MESSAGE.to_owned());
            self.set(e, Ty::Error);
            return;
        }
        match self.resolve(name) {
            Some(t) => self.set(e, t),
            None => {
                self.error(e.id, undeclared(name));
                self.set(e, Ty::Error);
            }
        }
    }

    fn check_select(&mut self, e: &IdedExpr, select: &SelectExpr) {
        // A qualified name declared as a whole (`google.protobuf.Timestamp`).
        if !select.test {
            if let Some(name) = qualified_name(e) {
                if !self.is_local_root(&name) {
                    if let Some(t) = kube::type_name(&name) {
                        self.set(e, Ty::type_of(Ty::from_type(&t)));
                        return;
                    }
                }
            }
        }
        let result = self.select_field(e, &select.operand, &select.field, false);
        let t = if select.test { Ty::Bool } else { result };
        let t = self.mapping.substitute(&t);
        self.set(e, t);
    }

    fn is_local_root(&self, qualified: &str) -> bool {
        let root = qualified.split('.').next().unwrap_or(qualified);
        self.scopes.iter().any(|(n, _)| n == root) || self.declarations.lookup(root).is_some()
    }

    /// cel-go's `checkSelectField`: the type of `operand.field`, optional when the operand
    /// is or the selection is (`.?`).
    fn select_field(
        &mut self,
        e: &IdedExpr,
        operand: &IdedExpr,
        field: &str,
        optional: bool,
    ) -> Ty {
        self.check(operand);
        let operand_type = self.mapping.substitute(&self.get(operand));
        let (target, was_optional) = match operand_type {
            Ty::Optional(inner) => ((*inner).clone(), true),
            other => (other, false),
        };
        let result = match &target {
            Ty::Map(_, value) => (**value).clone(),
            Ty::Object(object) => match object
                .field(field)
                .or_else(|| schema::escape(field).and_then(|f| object.field(&f)))
            {
                Some(t) => Ty::from_type(t),
                None => {
                    self.error(e.id, format!("undefined field '{field}'"));
                    Ty::Error
                }
            },
            Ty::Open(_) => Ty::Dyn,
            Ty::Var(_) => {
                self.mapping.assign(&Ty::Dyn, &target);
                Ty::Dyn
            }
            Ty::Dyn | Ty::Error => Ty::Dyn,
            other => {
                let other = other.clone();
                self.error(
                    e.id,
                    format!("type '{other}' does not support field selection"),
                );
                Ty::Dyn
            }
        };
        if was_optional || optional {
            Ty::optional(result)
        } else {
            result
        }
    }

    fn check_call(&mut self, e: &IdedExpr, call: &CallExpr) {
        let name = call.func_name.as_str();
        if name == operators::OPT_SELECT {
            return self.check_opt_select(e, call);
        }
        for arg in &call.args {
            self.check(arg);
        }
        let declarations = self.declarations;
        let lookup = |name: &str| -> Option<&'static [Overload]> {
            decls::functions()
                .get(name)
                .map(Vec::as_slice)
                .filter(|overloads| overloads.iter().any(|o| declarations.offers(o)))
        };
        let Some(target) = call.target.as_deref() else {
            match lookup(name).or_else(|| self.lacked(name, false)) {
                Some(overloads) => self.resolve_overload(e, name, overloads, None, &call.args),
                None => {
                    self.error(e.id, undeclared(name));
                    self.set(e, Ty::Error);
                }
            }
            return;
        };
        // `a.b.f()` is the function `a.b.f` when there is one (`optional.of`, `math.abs`),
        // unless `a` is a variable.
        if let Some(prefix) = qualified_name(target) {
            let qualified = format!("{prefix}.{name}");
            if let Some(overloads) = lookup(qualified.as_str()) {
                return self.resolve_overload(e, &qualified, overloads, None, &call.args);
            }
            if !self.is_local_root(&prefix) {
                if let Some(overloads) = self.lacked(&qualified, false) {
                    return self.resolve_overload(e, &qualified, overloads, None, &call.args);
                }
            }
        }
        self.check(target);
        match lookup(name).or_else(|| self.lacked(name, true)) {
            Some(overloads) => self.resolve_overload(e, name, overloads, Some(target), &call.args),
            None => {
                self.error(e.id, undeclared(name));
                self.set(e, Ty::Error);
            }
        }
    }

    /// Whether a one-variable comprehension is the expansion of `range.existsOne(x, p)`: the
    /// macro places it at the call's `(`, right after the name.
    fn is_one_variable_exists_one(&self, id: u64) -> bool {
        let Some((start, _)) = self.source.offset_for(id) else {
            return false;
        };
        let text = &self.source.source;
        let start = start as usize;
        text.get(start..).is_some_and(|rest| rest.starts_with('('))
            && text
                .get(..start)
                .is_some_and(|before| before.trim_end().ends_with(".existsOne"))
    }

    /// The overloads of `name` when the target lacks all of them but some exist in this call
    /// style: resolving against them refuses the call, saying what the target lacks.
    fn lacked(&self, name: &str, receiver: bool) -> Option<&'static [Overload]> {
        decls::functions()
            .get(name)
            .map(Vec::as_slice)
            .filter(|overloads| {
                overloads
                    .iter()
                    .any(|o| o.receiver == receiver && o.feature.is_some())
            })
    }

    /// The refusal of the first (oldest release, then extension) of `candidates`' features.
    fn refusal_among<'o>(
        &self,
        name: &str,
        candidates: impl Iterator<Item = &'o Overload>,
    ) -> Option<String> {
        let first = candidates
            .filter_map(|o| o.feature.map(|f| (o, f)))
            .min_by_key(|(_, f)| feature_rank(*f))?;
        let (overload, feature) = first;
        Some(
            self.declarations
                .target()
                .refusal(&shown_name(name, overload), feature),
        )
    }

    fn resolve_overload(
        &mut self,
        e: &IdedExpr,
        name: &str,
        overloads: &'static [Overload],
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) {
        let arg_types: Vec<Ty> = target
            .into_iter()
            .chain(args)
            .map(|a| self.get(a))
            .collect();
        // cel-go checks `&&` and `||` operand by operand (they may be variadic there).
        if target.is_none() && (name == operators::LOGICAL_AND || name == operators::LOGICAL_OR) {
            let mut ok = true;
            for (arg, t) in args.iter().zip(&arg_types) {
                if !self.mapping.assign(t, &Ty::Bool) {
                    let found = dyn_for_vars(&self.mapping.substitute(t));
                    self.error(arg.id, format!("expected type 'bool' but found '{found}'"));
                    ok = false;
                }
            }
            if ok {
                self.overloads.insert(e.id, vec![overloads[0].signature]);
            }
            self.set(e, if ok { Ty::Bool } else { Ty::Error });
            return;
        }
        let mut result: Option<Ty> = None;
        let mut matched = Vec::new();
        for overload in overloads {
            if overload.receiver != target.is_some()
                || overload.params.len() != arg_types.len()
                || !self.declarations.offers(overload)
            {
                continue;
            }
            let mut fresh = HashMap::new();
            let params: Vec<Ty> = overload
                .params
                .iter()
                .map(|p| self.instantiate(&Ty::from_type(p), &mut fresh))
                .collect();
            let declared_result = self.instantiate(&Ty::from_type(&overload.result), &mut fresh);
            if self.mapping.assign_all(&arg_types, &params) {
                matched.push(overload.signature);
                let t = self.mapping.substitute(&declared_result);
                result = Some(match result {
                    None => t,
                    Some(previous) if previous == Ty::Dyn || previous == t => previous,
                    Some(_) => Ty::Dyn,
                });
            }
        }
        match result {
            Some(t) => {
                self.overloads.insert(e.id, matched);
                self.set(e, t);
            }
            None => {
                // An overload the target lacks would take these arguments: say so.
                let mut lacking: Vec<&Overload> = Vec::new();
                for overload in overloads {
                    if overload.receiver != target.is_some()
                        || overload.params.len() != arg_types.len()
                        || self.declarations.offers(overload)
                    {
                        continue;
                    }
                    let mut fresh = HashMap::new();
                    let params: Vec<Ty> = overload
                        .params
                        .iter()
                        .map(|p| self.instantiate(&Ty::from_type(p), &mut fresh))
                        .collect();
                    if self.mapping.clone().assign_all(&arg_types, &params) {
                        lacking.push(overload);
                    }
                }
                if lacking.is_empty() && !overloads.iter().any(|o| self.declarations.offers(o)) {
                    // The target has no overload at all: refuse as for the first it lacks.
                    lacking.extend(overloads.iter().filter(|o| o.receiver == target.is_some()));
                }
                let shown: Vec<String> = arg_types
                    .iter()
                    .map(|t| dyn_for_vars(&self.mapping.substitute(t)).to_string())
                    .collect();
                let signature = match target {
                    Some(_) => format!("{}.({})", shown[0], shown[1..].join(", ")),
                    None => format!("({})", shown.join(", ")),
                };
                let no_match =
                    format!("found no matching overload for '{name}' applied to '{signature}'");
                let message = match self.refusal_among(name, lacking.into_iter()) {
                    // The target has other overloads of the name: a type error, as cel-go
                    // reports it, with what the target lacks.
                    Some(refusal) if overloads.iter().any(|o| self.declarations.offers(o)) => {
                        format!("{no_match}: {refusal}")
                    }
                    Some(refusal) => refusal,
                    None => no_match,
                };
                self.error(e.id, message);
                self.set(e, Ty::Error);
            }
        }
    }

    /// A declared type with its parameters replaced by fresh variables, one per name.
    fn instantiate(&mut self, t: &Ty, fresh: &mut HashMap<&'static str, Ty>) -> Ty {
        match t {
            Ty::Param(name) => fresh
                .entry(name)
                .or_insert_with(|| self.mapping.fresh())
                .clone(),
            Ty::List(e) => Ty::list(self.instantiate(e, fresh)),
            Ty::Optional(e) => Ty::optional(self.instantiate(e, fresh)),
            Ty::Map(k, v) => {
                let k = self.instantiate(k, fresh);
                Ty::map(k, self.instantiate(v, fresh))
            }
            Ty::Type(Some(p)) => Ty::type_of(self.instantiate(p, fresh)),
            other => other.clone(),
        }
    }

    /// `operand.?field`, which the parser writes as the call `_?._(operand, 'field')`.
    fn check_opt_select(&mut self, e: &IdedExpr, call: &CallExpr) {
        let field = match call.args.get(1).map(|f| &f.expr) {
            Some(Expr::Literal(LiteralValue::String(s))) => s.inner().to_string(),
            _ => {
                self.error(e.id, "unsupported optional field selection".to_owned());
                self.set(e, Ty::Error);
                return;
            }
        };
        let Some(operand) = call.args.first() else {
            self.set(e, Ty::Error);
            return;
        };
        let t = self.select_field(e, operand, &field, true);
        let t = self.mapping.substitute(&t);
        self.set(e, t);
    }

    fn check_list(&mut self, e: &IdedExpr, elements: &[IdedExpr], optional: &[usize]) {
        let mut element_type: Option<Ty> = None;
        for (i, element) in elements.iter().enumerate() {
            self.check(element);
            let mut t = self.get(element);
            if optional.contains(&i) {
                t = self.unwrap_optional_entry(element, t);
            }
            element_type = Some(self.join(element_type, t));
        }
        let element_type = element_type.unwrap_or_else(|| self.mapping.fresh());
        self.set(e, Ty::list(element_type));
    }

    /// The value type of an optional entry (`[?x]`, `{?k: v}`), which must be optional.
    fn unwrap_optional_entry(&mut self, entry: &IdedExpr, t: Ty) -> Ty {
        match self.mapping.substitute(&t) {
            Ty::Optional(inner) => (*inner).clone(),
            Ty::Dyn | Ty::Error => Ty::Dyn,
            other => {
                self.error(
                    entry.id,
                    format!(
                        "expected type '{}' but found '{other}'",
                        Ty::optional(other.clone())
                    ),
                );
                other
            }
        }
    }

    /// cel-go's `joinTypes`, with mixed types joined to `dyn` (the homogeneous-literal
    /// validator reports them after checking, as Kubernetes' environment does).
    fn join(&mut self, previous: Option<Ty>, current: Ty) -> Ty {
        match previous {
            None => current,
            Some(previous) if self.mapping.assign(&previous, &current) => {
                most_general(&previous, &current)
            }
            Some(_) => Ty::Dyn,
        }
    }

    fn check_map(&mut self, e: &IdedExpr, entries: &[cel::common::ast::IdedEntryExpr]) {
        let (mut key_type, mut value_type) = (None, None);
        for entry in entries {
            let EntryExpr::MapEntry(entry) = &entry.expr else {
                continue;
            };
            self.check(&entry.key);
            let k = self.get(&entry.key);
            key_type = Some(self.join(key_type, k));
            self.check(&entry.value);
            let mut v = self.get(&entry.value);
            if entry.optional {
                v = self.unwrap_optional_entry(&entry.value, v);
            }
            value_type = Some(self.join(value_type, v));
        }
        let key_type = key_type.unwrap_or_else(|| self.mapping.fresh());
        let value_type = value_type.unwrap_or_else(|| self.mapping.fresh());
        self.set(e, Ty::map(key_type, value_type));
    }

    /// A mutation's `Object{...}` / `Object.spec{...}` (any field, as Kubernetes' dynamic
    /// object types for ApplyConfiguration) or `JSONPatch{op, path, from, value}`.
    fn check_struct(&mut self, e: &IdedExpr, object: &StructExpr) {
        let name = object.type_name.as_str();
        if let Some(message) = crate::protobuf::message(name) {
            return self.check_message(e, object, &message);
        }
        let is_object = name == "Object" || name.starts_with("Object.");
        let known = self.declarations.mutation && (is_object || name == "JSONPatch");
        for entry in &object.entries {
            if let EntryExpr::StructField(field) = &entry.expr {
                self.check(&field.value);
                if known && !is_object {
                    let expected = match field.field.as_str() {
                        "op" | "path" | "from" => Some(Ty::String),
                        "value" => Some(Ty::Dyn),
                        _ => None,
                    };
                    let found = self.get(&field.value);
                    match expected {
                        // What Kubernetes 1.37 answers for a field JSONPatch does not have.
                        None => self.error(
                            entry.id,
                            format!(
                                "expected type of field '{}' is '' but provided type is '{}'",
                                field.field,
                                dyn_for_vars(&self.mapping.substitute(&found))
                            ),
                        ),
                        Some(t) if !self.mapping.assign(&t, &found) => self.error(
                            entry.id,
                            format!(
                                "expected type of field '{}' is '{t}' but provided type is '{}'",
                                field.field,
                                self.mapping.substitute(&found)
                            ),
                        ),
                        Some(_) => {}
                    }
                }
            }
        }
        if !known {
            self.error(e.id, undeclared(name));
            self.set(e, Ty::Error);
            return;
        }
        self.set(e, Ty::Open(Rc::from(name)));
    }

    /// A protocol buffer message literal (`google.protobuf.Duration{seconds: 1}`): each field
    /// declared, of its declared type (optional of it for `?field`), as cel-go checks them.
    fn check_message(
        &mut self,
        e: &IdedExpr,
        object: &StructExpr,
        message: &crate::protobuf::Message,
    ) {
        for entry in &object.entries {
            let EntryExpr::StructField(field) = &entry.expr else {
                continue;
            };
            self.check(&field.value);
            let Some((_, t)) = message.fields.iter().find(|(n, _)| *n == field.field) else {
                self.error(entry.id, format!("undefined field '{}'", field.field));
                continue;
            };
            let declared = Ty::from_type(t);
            let expected = if field.optional {
                Ty::optional(declared)
            } else {
                declared
            };
            let found = self.get(&field.value);
            if !self.mapping.assign(&expected, &found) {
                let found = dyn_for_vars(&self.mapping.substitute(&found));
                self.error(
                    entry.id,
                    format!(
                        "expected type of field '{}' is '{t}' but provided type is '{found}'",
                        field.field
                    ),
                );
            }
        }
        self.set(e, Ty::from_type(&message.result));
    }

    fn check_comprehension(&mut self, e: &IdedExpr, c: &ComprehensionExpr) {
        self.check(&c.iter_range);
        self.check(&c.accu_init);
        let range = self.mapping.substitute(&self.get(&c.iter_range));
        let accu = self.get(&c.accu_init);
        let two = c.iter_var2.is_some();
        if !two && self.is_one_variable_exists_one(e.id) {
            // Kubernetes' parser expands `exists_one` but leaves `existsOne` with one variable
            // the call it is, which no function declares.
            self.error(e.id, undeclared("existsOne"));
        }
        if two && !self.declarations.has(Feature::TwoVariableComprehensions) {
            let message = self.declarations.target().refusal(
                "a two-variable comprehension (all, exists, existsOne, transformList, \
                 transformMap or transformMapEntry with two variables)",
                Feature::TwoVariableComprehensions,
            );
            self.error(e.id, message);
        }
        if c.iter_var == crate::syntax::BIND_VARIABLE
            && !self.declarations.has(Feature::Extension(Extension::Bind))
        {
            let message = self
                .declarations
                .target()
                .refusal("`cel.bind`", Feature::Extension(Extension::Bind));
            self.error(e.id, message);
        }
        let (var1, var2) = match &range {
            Ty::List(element) if two => (Ty::Int, (**element).clone()),
            Ty::List(element) => ((**element).clone(), Ty::Dyn),
            Ty::Map(key, value) => ((**key).clone(), (**value).clone()),
            Ty::Dyn | Ty::Error | Ty::Var(_) => {
                self.mapping.assign(&Ty::Dyn, &range);
                (Ty::Dyn, Ty::Dyn)
            }
            other => {
                let message = format!(
                    "expression of type '{other}' cannot be range of a comprehension \
                     (must be list, map, or dynamic)"
                );
                self.error(c.iter_range.id, message);
                (Ty::Error, Ty::Error)
            }
        };
        let depth = self.scopes.len();
        self.scopes.push((c.accu_var.clone(), accu.clone()));
        self.scopes.push((c.iter_var.clone(), var1));
        if let Some(var2_name) = &c.iter_var2 {
            self.scopes.push((var2_name.clone(), var2));
        }
        self.check(&c.loop_cond);
        self.expect(&c.loop_cond, &Ty::Bool);
        self.check(&c.loop_step);
        self.expect(&c.loop_step, &accu);
        self.scopes.truncate(depth + 1);
        self.check(&c.result);
        self.scopes.truncate(depth);
        let t = self.mapping.substitute(&self.get(&c.result));
        self.set(e, t);
    }

    /// cel-go's `assertType`.
    fn expect(&mut self, e: &IdedExpr, expected: &Ty) {
        let found = self.get(e);
        if !self.mapping.assign(expected, &found) {
            let message = format!(
                "expected type '{}' but found '{}'",
                dyn_for_vars(&self.mapping.substitute(expected)),
                dyn_for_vars(&self.mapping.substitute(&found))
            );
            self.error(e.id, message);
        }
    }
}

fn undeclared(name: &str) -> String {
    format!("undeclared reference to '{name}' (in container '')")
}

/// `a.b.c` as written, for an identifier and field selections on it.
fn qualified_name(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(select) if !select.test => {
            qualified_name(&select.operand).map(|prefix| format!("{prefix}.{}", select.field))
        }
        _ => None,
    }
}

/// A type as messages show it: variables still unbound are `dyn`.
fn dyn_for_vars(t: &Ty) -> Ty {
    Ty::from_type(&t.to_type())
}

/// The order refusals are preferred in: Kubernetes' features by release, then extensions.
fn feature_rank(feature: Feature) -> (u8, u8) {
    match (feature.since(), feature) {
        (Some(version), _) => (0, version.minor()),
        (None, Feature::Extension(_)) => (1, 0),
        _ => (2, 0),
    }
}

/// A function as a policy author writes it: `sortBy` for its expansion's helper,
/// `list.reverse()` for a receiver-style overload.
fn shown_name(name: &str, overload: &Overload) -> String {
    let name = match name {
        "@sortByAssociatedKeys" => "sortBy",
        "math.@max" => "math.greatest",
        "math.@min" => "math.least",
        other => other,
    };
    if name == "sortBy" {
        return format!("`{name}`");
    }
    if !overload.receiver {
        return format!("`{name}()`");
    }
    let receiver = overload
        .signature
        .split_once(&format!(".{}(", overload_name(overload)))
        .map_or("", |(head, _)| head);
    let receiver = match receiver.split('(').next().unwrap_or_default() {
        "dyn" => "list",
        other => other.strip_prefix("kubernetes.").unwrap_or(other),
    };
    format!("`{receiver}.{name}()`")
}

/// The function name in an overload's signature.
fn overload_name(overload: &Overload) -> &'static str {
    let call = overload.signature.split(" -> ").next().unwrap_or_default();
    let head = &call[..call.rfind('(').unwrap_or(call.len())];
    // `list(A).join(` → the name after the last dot outside parentheses.
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in head.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '.' if depth == 0 => start = i + 1,
            _ => {}
        }
    }
    &head[start..]
}
