//! The evaluator: walks the compiled form once, reading documents in place, with cel-go's
//! semantics (errors absorbed by `&&`, `||` and the comprehensions built on them, in either
//! order; strict everywhere else) and the cost meter charged in the same walk.

use crate::cost::{items_units, result_units_before, string_units, value_units, Meter};
use crate::env::Activation;
use crate::error::EvalError;
use crate::program::{
    BinaryOp, Call, CallCost, Chain, ChainEnd, ChainStep, Comprehension, GuardedField, Node,
    Program, Step,
};
use crate::value::{Duration, List, Map, Str, Timestamp, Value};
use crate::value_ops::{compare, equals};
use std::cmp::Ordering;
use std::sync::Arc;

type Result<T> = std::result::Result<T, EvalError>;

/// Evaluates a program (see [`Program::evaluate`]).
pub(crate) fn run<'a>(
    program: &'a Program,
    activation: &Activation<'a>,
    meter: &mut Meter,
) -> Result<Value<'a>> {
    // Comprehension variables live on the stack when they are few.
    let mut on_stack: [Result<Value<'a>>; 4];
    let mut on_heap;
    let locals: &mut [Result<Value<'a>>] = match program.locals {
        0 => &mut [],
        n if n <= 4 => {
            on_stack = std::array::from_fn(|_| Ok(Value::Null));
            &mut on_stack[..n]
        }
        n => {
            on_heap = Vec::with_capacity(n);
            on_heap.resize_with(n, || Ok(Value::Null));
            &mut on_heap
        }
    };
    let mut frame = Frame {
        activation,
        meter,
        locals,
    };
    frame.eval(&program.root)
}

/// Folds a node whose operands are all constants into a constant, when evaluating it succeeds
/// cheaply; leaves it as it is otherwise (an error is reported at run time, as written).
pub(crate) fn fold(node: Node) -> Node {
    let constant = |n: &Node| matches!(n, Node::Const(_));
    let foldable = match &node {
        Node::Select(o, _) | Node::Has(o, _) | Node::OptSelect(o, _) => constant(o),
        Node::Not(o) | Node::Neg(o) | Node::NotStrictlyFalse(o) => constant(o),
        Node::Index(p) | Node::OptIndex(p) | Node::Binary(_, p) => constant(&p.0) && constant(&p.1),
        Node::And(terms) | Node::Or(terms) => terms.iter().all(constant),
        Node::Cond(c) => constant(&c.0) && constant(&c.1) && constant(&c.2),
        Node::Call(call) => call.args.iter().all(constant),
        Node::Matches(m) => constant(&m.0),
        Node::List(items) => items.iter().all(|(n, _)| constant(n)),
        Node::Map(entries) => entries.iter().all(|(k, v, _)| constant(k) && constant(v)),
        _ => false,
    };
    if !foldable {
        return node;
    }
    let activation = Activation::new();
    let mut meter = Meter::new(FOLD_BUDGET);
    let mut frame = Frame {
        activation: &activation,
        meter: &mut meter,
        locals: &mut [],
    };
    let folded = frame.eval(&node).ok().and_then(Value::into_static);
    match folded {
        Some(value) if !meter.exceeded() => Node::Const(value),
        _ => node,
    }
}

/// Evaluates a node whose operands are constants, as folding does, but gives its error: for a
/// conversion of a constant, which Kubernetes evaluates when it builds the program (cel-go's
/// `OptOptimize`) and refuses the expression when it fails.
pub(crate) fn evaluate_constant(node: &Node) -> Result<()> {
    let activation = Activation::new();
    let mut meter = Meter::new(FOLD_BUDGET);
    let mut frame = Frame {
        activation: &activation,
        meter: &mut meter,
        locals: &mut [],
    };
    frame.eval(node).map(|_| ())
}

/// The most a constant folded at compile time may cost: bigger ones are built at run time,
/// under the budget.
const FOLD_BUDGET: u64 = 1_000;

struct Frame<'r, 'a> {
    activation: &'r Activation<'a>,
    meter: &'r mut Meter,
    locals: &'r mut [Result<Value<'a>>],
}

#[cold]
#[inline(never)]
fn no_overload(function: &str, values: &[&Value<'_>]) -> EvalError {
    let types: Vec<&str> = values.iter().map(|v| v.type_name()).collect();
    EvalError::no_overload(function, &types)
}

/// A constant borrowed from the program: strings are not copied.
fn constant<'a>(value: &'a Value<'static>) -> Value<'a> {
    match value {
        Value::String(Str::Owned(s)) => Value::String(Str::Borrowed(s)),
        other => other.clone(),
    }
}

impl<'a> Frame<'_, 'a> {
    /// The value a node names (a root, a variable or a comprehension's variable) without
    /// copying it; `None` for any other node.
    #[inline]
    fn named(&self, node: &'a Node) -> Option<Result<&Value<'a>>> {
        match node {
            Node::Root(root) => Some(Ok(self.activation.root(*root))),
            Node::Variable(index) => Some(self.activation.variable_ref(*index, self.meter.limit())),
            Node::Local(slot) => Some(self.locals[*slot].as_ref().map_err(Clone::clone)),
            _ => None,
        }
    }

    fn eval(&mut self, node: &'a Node) -> Result<Value<'a>> {
        match node {
            Node::Const(value) => Ok(constant(value)),
            Node::Root(root) => Ok(self.activation.root(*root).clone()),
            Node::Variable(index) => self.activation.variable(*index, self.meter.limit()),
            Node::Local(slot) => self.locals[*slot].clone(),
            Node::Select(operand, field) => match self.named(operand) {
                Some(value) => select(value?, field),
                None => select(&self.eval(operand)?, field),
            },
            Node::Has(operand, field) => match self.named(operand) {
                Some(value) => has(value?, field),
                None => has(&self.eval(operand)?, field),
            },
            Node::OptSelect(operand, field) => {
                let value = self.eval(operand)?;
                optional_select(&value, field)
            }
            Node::Index(pair) => {
                let target = self.eval(&pair.0)?;
                let key = self.eval(&pair.1)?;
                index(&target, &key, matches!(pair.1, Node::Const(_)))
            }
            Node::OptIndex(pair) => {
                let target = self.eval(&pair.0)?;
                let key = self.eval(&pair.1)?;
                optional_index(&target, &key)
            }
            Node::Not(operand) => match self.eval(operand)? {
                Value::Bool(b) => Ok(Value::Bool(!b)),
                other => Err(no_overload("!_", &[&other])),
            },
            Node::Neg(operand) => negate(self.eval(operand)?),
            Node::NotStrictlyFalse(operand) => Ok(Value::Bool(!matches!(
                self.eval(operand),
                Ok(Value::Bool(false))
            ))),
            Node::Binary(op, pair) => {
                let left = self.eval(&pair.0)?;
                match &pair.1 {
                    // A constant operand is read in place.
                    Node::Const(right) if *op != BinaryOp::Add => operate(*op, &left, right),
                    right => {
                        let right = self.eval(right)?;
                        self.binary(*op, left, right)
                    }
                }
            }
            Node::And(terms) => self.logical(terms, false),
            Node::Or(terms) => self.logical(terms, true),
            Node::Cond(c) => match self.eval(&c.0)? {
                Value::Bool(true) => self.eval(&c.1),
                Value::Bool(false) => self.eval(&c.2),
                other => Err(no_overload("_?_:_", &[&other])),
            },
            Node::Call(call) => self.call(call),
            Node::Matches(m) => {
                let matches = |value: &Value<'_>| match value {
                    Value::String(s) => Ok(Value::Bool(m.1.is_match(s))),
                    other => Err(no_overload("matches", &[other, &Value::string("")])),
                };
                match self.named(&m.0) {
                    Some(value) => matches(value?),
                    None => matches(&self.eval(&m.0)?),
                }
            }
            Node::List(items) => self.list(items),
            Node::Map(entries) => self.map(entries),
            Node::Bind(bind) => {
                self.meter.charge(1)?;
                let value = self.eval(&bind.1);
                self.locals[bind.0] = value;
                self.eval(&bind.2)
            }
            Node::Comprehension(c) => self.comprehension(c),
            Node::MapInsert(args) => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args.iter() {
                    values.push(self.eval(arg)?);
                }
                map_insert(&values)
            }
            Node::Chain(chain) => self.chain(chain),
            Node::TypeIs(operand, t, equal) => {
                let is = |value: &Value<'_>| crate::value_ops::has_type(value, t) == *equal;
                Ok(Value::Bool(match self.named(operand) {
                    Some(value) => is(value?),
                    None => is(&self.eval(operand)?),
                }))
            }
            Node::Live(function, nodes) => {
                let mut args = Vec::with_capacity(nodes.len());
                for node in nodes.iter() {
                    args.push(self.eval(node)?);
                }
                self.meter.charge(crate::libs::kms::LIVE_CALL_UNITS)?;
                crate::libs::kms::call(*function, &args, self.activation.live())
            }
            Node::SortByKeys(pair) => {
                let list = self.eval(&pair.0)?;
                let keys = self.eval(&pair.1)?;
                sort_by_keys(&list, &keys)
            }
            Node::GuardedField(guard) => self.guarded_field(guard),
        }
    }

    /// `!has(x.f) || x.f == null ? A : type(x.f) == T ? x.f : B` with `x.f` looked up once
    /// when `x` is a map (as `has`, the selection and `==` read a map); as written otherwise.
    #[inline(never)]
    fn guarded_field(&mut self, guard: &'a GuardedField) -> Result<Value<'a>> {
        let (Node::Cond(outer), Some(Ok(Value::Map(map)))) =
            (&guard.original, self.named(&guard.base))
        else {
            return self.eval(&guard.original);
        };
        let Node::Cond(inner) = &outer.2 else {
            return self.eval(&guard.original);
        };
        match map.get_str(&guard.field) {
            None => self.eval(&outer.1),
            Some(value) if equals(&value, &Value::Null) => self.eval(&outer.1),
            Some(value) => {
                if crate::value_ops::has_type(&value, &guard.kind) == guard.equal {
                    Ok(value)
                } else {
                    self.eval(&inner.2)
                }
            }
        }
    }

    /// A fused chain: the same result as its steps one by one, the optionals between them
    /// never built.
    #[inline(never)]
    fn chain(&mut self, chain: &'a Chain) -> Result<Value<'a>> {
        // `None`: an empty optional; the chain has an optional step, so its value is optional.
        let mut state = match self.eval(&chain.base)? {
            Value::Optional(None) => None,
            Value::Optional(Some(v)) => Some((*v).clone()),
            v => Some(v),
        };
        for step in &chain.steps {
            let key = match step {
                ChainStep::Key(node, _) => Some(self.eval(node)?),
                ChainStep::Field(..) => None,
            };
            let Some(value) = state.take() else {
                continue;
            };
            // Plain steps keep the chain's state; optional ones replace it with what they find.
            state = match (step, &key) {
                (ChainStep::Field(f, false), _) => Some(select(&value, f)?),
                (ChainStep::Key(node, false), Some(k)) => {
                    Some(index(&value, k, matches!(node, Node::Const(_)))?)
                }
                (ChainStep::Field(f, true), _) => match &value {
                    Value::Map(map) => map.get_str(f),
                    _ => unwrap_optional(optional_select(&value, f)?),
                },
                // A map's or list's element directly, without the optional around it.
                (ChainStep::Key(_, true), Some(k)) => match &value {
                    Value::Map(map) => {
                        check_key(k)?;
                        map.get(k)
                    }
                    Value::List(list) => match list_position(k) {
                        Some(Some(i)) => list.get(i),
                        Some(None) => None,
                        None => return Err(no_overload("_[?_]", &[&value, k])),
                    },
                    _ => unwrap_optional(optional_index(&value, k)?),
                },
                (ChainStep::Key(..), None) => unreachable!("a key step evaluates its key"),
            };
        }
        match &chain.end {
            ChainEnd::OrValue(default) => {
                let default = self.eval(default)?;
                Ok(state.unwrap_or(default))
            }
            ChainEnd::HasValue => Ok(Value::Bool(state.is_some())),
            ChainEnd::Value => state.ok_or_else(|| EvalError::new("optional.none() dereference")),
        }
    }

    /// `&&` (`or` false) or `||` (`or` true): the deciding value wins over errors and
    /// non-bools in any position; otherwise the first error.
    fn logical(&mut self, terms: &'a [Node], or: bool) -> Result<Value<'a>> {
        let mut error = None;
        for term in terms {
            match self.eval(term) {
                Ok(Value::Bool(b)) if b == or => return Ok(Value::Bool(or)),
                Ok(Value::Bool(_)) => {}
                Ok(other) => {
                    let name = if or { "_||_" } else { "_&&_" };
                    error.get_or_insert_with(|| no_overload(name, &[&other]));
                }
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(Value::Bool(!or)),
        }
    }

    #[inline(never)]
    fn binary(&mut self, op: BinaryOp, left: Value<'a>, right: Value<'a>) -> Result<Value<'a>> {
        match op {
            BinaryOp::Add => self.add(left, right),
            _ => operate(op, &left, &right),
        }
    }

    fn add(&mut self, left: Value<'a>, right: Value<'a>) -> Result<Value<'a>> {
        match (&left, &right) {
            (Value::String(a), Value::String(b)) => {
                self.meter
                    .charge(string_units((a.len() + b.len()) as u64))?;
                Ok(Value::String(Str::Owned(concat(a, b))))
            }
            (Value::Bytes(a), Value::Bytes(b)) => {
                self.meter
                    .charge(string_units((a.len() + b.len()) as u64))?;
                Ok(Value::Bytes([&a[..], &b[..]].concat().into()))
            }
            (Value::List(a), Value::List(b)) => {
                if b.is_empty() {
                    return Ok(left);
                }
                if a.is_empty() {
                    return Ok(right);
                }
                let items: Vec<Value<'a>> = a.iter().chain(b.iter()).collect();
                let value = Value::List(List::Owned(items.into()));
                let units = value_units(&value, self.meter.remaining().saturating_add(1));
                self.meter.charge(units)?;
                Ok(value)
            }
            _ => arithmetic(BinaryOp::Add, &left, &right),
        }
    }

    #[inline(never)]
    fn call(&mut self, call: &'a Call) -> Result<Value<'a>> {
        match &*call.args {
            [a] => {
                let args = [self.eval(a)?];
                self.apply(call, &args)
            }
            [a, b] => {
                let args = [self.eval(a)?, self.eval(b)?];
                self.apply(call, &args)
            }
            [a, b, c] => {
                let args = [self.eval(a)?, self.eval(b)?, self.eval(c)?];
                self.apply(call, &args)
            }
            nodes => {
                let mut args = Vec::with_capacity(nodes.len());
                for node in nodes {
                    args.push(self.eval(node)?);
                }
                self.apply(call, &args)
            }
        }
    }

    /// Calls a function on its evaluated arguments, charging what it builds.
    fn apply(&mut self, call: &Call, args: &[Value<'a>]) -> Result<Value<'a>> {
        if let Some(params) = &call.guard {
            crate::guard::check(&call.name, params, args)?;
        }
        if call.cost == CallCost::Before {
            if let Some(units) = result_units_before(&call.name, args) {
                self.meter.charge(units)?;
            }
        }
        let result = (call.function)(args)?;
        if call.cost == CallCost::SizedResult {
            let units = value_units(&result, self.meter.remaining().saturating_add(1));
            self.meter.charge(units)?;
        }
        Ok(result)
    }

    #[inline(never)]
    fn list(&mut self, items: &'a [(Node, bool)]) -> Result<Value<'a>> {
        let value = if items.len() <= 8 && items.iter().all(|(_, optional)| !optional) {
            // Few elements: evaluated on the stack, then allocated once.
            let mut values: [Value<'a>; 8] = std::array::from_fn(|_| Value::Null);
            for (slot, (node, _)) in values.iter_mut().zip(items) {
                *slot = self.eval(node)?;
            }
            Value::List(List::Owned(values.into_iter().take(items.len()).collect()))
        } else {
            let mut values = Vec::with_capacity(items.len());
            for (node, optional) in items.iter() {
                let value = self.eval(node)?;
                if *optional {
                    match value {
                        Value::Optional(Some(v)) => values.push((*v).clone()),
                        Value::Optional(None) => {}
                        other => return Err(no_overload("optional element", &[&other])),
                    }
                } else {
                    values.push(value);
                }
            }
            Value::List(List::Owned(values.into()))
        };
        let units = value_units(&value, self.meter.remaining().saturating_add(1));
        self.meter.charge(units)?;
        Ok(value)
    }

    #[inline(never)]
    fn map(&mut self, entries: &'a [(Node, Node, bool)]) -> Result<Value<'a>> {
        let mut built: Vec<(Value<'a>, Value<'a>)> = Vec::with_capacity(entries.len());
        for (key_node, value_node, optional) in entries.iter() {
            let key = self.eval(key_node)?;
            check_key(&key)?;
            let value = self.eval(value_node)?;
            let value = if *optional {
                match value {
                    Value::Optional(Some(v)) => (*v).clone(),
                    Value::Optional(None) => continue,
                    other => return Err(no_overload("optional entry", &[&other])),
                }
            } else {
                value
            };
            if built.iter().any(|(k, _)| equals(k, &key)) {
                return Err(EvalError::new("duplicate key in a map literal"));
            }
            built.push((key, value));
        }
        let value = Value::Map(Map::Owned(built.into()));
        let units = value_units(&value, self.meter.remaining().saturating_add(1));
        self.meter.charge(units)?;
        Ok(value)
    }

    #[inline(never)]
    fn comprehension(&mut self, c: &'a Comprehension) -> Result<Value<'a>> {
        // A range written as a short list literal (`[a, b].exists(x, ...)`) is iterated where
        // it is evaluated, charged as the list it would build.
        if let Node::List(items) = &c.range {
            if items.len() <= 8
                && items.iter().all(|(_, optional)| !optional)
                && !crate::program::generic_steps()
            {
                let mut values: [Value<'a>; 8] = std::array::from_fn(|_| Value::Null);
                for (slot, (node, _)) in values.iter_mut().zip(items.iter()) {
                    *slot = self.eval(node)?;
                }
                let values = &values[..items.len()];
                let units = items_units(values, self.meter.remaining().saturating_add(1));
                self.meter.charge(units)?;
                return self.iterate(c, Range::Items(values));
            }
        }
        let range = self.eval(&c.range)?;
        match &range {
            Value::List(_) | Value::Map(_) => self.iterate(c, Range::Value(&range)),
            other => Err(EvalError::new(format!(
                "a comprehension ranges over a list or a map, not a {}",
                other.type_name()
            ))),
        }
    }

    fn iterate(&mut self, c: &'a Comprehension, range: Range<'_, 'a>) -> Result<Value<'a>> {
        let count = range.len();
        self.meter.charge((count as u64).saturating_add(1))?;
        match &c.step {
            Step::Quantifier { predicate, stop } => {
                // As the generic step `@result || predicate` (or `&&`) under the condition
                // `@not_strictly_false(!@result)` (or `@result`): a predicate of value `stop`
                // ends the loop; otherwise the first error stays, or `!stop`.
                let mut accu: Result<Value<'a>> = Ok(Value::Bool(!stop));
                for i in 0..count {
                    if matches!(accu, Ok(Value::Bool(b)) if b == *stop) {
                        break;
                    }
                    self.bind_iteration(c, &range, i);
                    let value = self.eval(predicate);
                    accu = match (value, accu) {
                        (Ok(Value::Bool(b)), _) if b == *stop => Ok(Value::Bool(b)),
                        (_, Err(first)) => Err(first),
                        (Ok(Value::Bool(b)), Ok(_)) => Ok(Value::Bool(b)),
                        (Ok(other), Ok(_)) => {
                            let name = if *stop { "_||_" } else { "_&&_" };
                            Err(no_overload(name, &[&other]))
                        }
                        (Err(e), Ok(_)) => Err(e),
                    };
                }
                self.locals[c.accu] = accu;
            }
            Step::Generic(step) => {
                self.locals[c.accu] = self.eval(&c.init);
                for i in 0..count {
                    self.bind_iteration(c, &range, i);
                    if let Some(cond) = &c.cond {
                        match self.eval(cond)? {
                            Value::Bool(true) => {}
                            Value::Bool(false) => break,
                            other => return Err(no_overload("loop condition", &[&other])),
                        }
                    }
                    let next = self.eval(step);
                    self.locals[c.accu] = next;
                }
            }
            Step::Append { filter, element } => {
                let mut items = Vec::new();
                for i in 0..count {
                    self.bind_iteration(c, &range, i);
                    if !self.keeps(filter.as_ref())? {
                        continue;
                    }
                    let value = self.eval(element)?;
                    let units = value_units(&value, self.meter.remaining().saturating_add(1));
                    self.meter.charge(units)?;
                    items.push(value);
                }
                self.locals[c.accu] = Ok(Value::List(List::Owned(items.into())));
            }
            Step::Insert { filter, key, value } => {
                let mut entries: Vec<(Value<'a>, Value<'a>)> = Vec::new();
                for i in 0..count {
                    self.bind_iteration(c, &range, i);
                    if !self.keeps(filter.as_ref())? {
                        continue;
                    }
                    let value = self.eval(value)?;
                    let units = value_units(&value, self.meter.remaining().saturating_add(1));
                    self.meter.charge(units)?;
                    match key {
                        Some(key) => {
                            let key = self.eval(key)?;
                            insert_entry(&mut entries, key, value)?;
                        }
                        None => match value {
                            Value::Map(map) => {
                                for (k, v) in map.iter() {
                                    insert_entry(&mut entries, k, v)?;
                                }
                            }
                            other => {
                                return Err(EvalError::new(format!(
                                "transformMapEntry: the expression must produce a map, not a {}",
                                other.type_name()
                            )))
                            }
                        },
                    }
                }
                self.locals[c.accu] = Ok(Value::Map(Map::Owned(entries.into())));
            }
        }
        self.eval(&c.result)
    }

    fn keeps(&mut self, filter: Option<&'a Node>) -> Result<bool> {
        match filter {
            None => Ok(true),
            Some(filter) => match self.eval(filter)? {
                Value::Bool(b) => Ok(b),
                other => Err(no_overload("_?_:_", &[&other])),
            },
        }
    }

    /// Binds the iteration variables to entry `i` of the range: the element (the index and
    /// the element with two variables) of a list, the key (the key and the value) of a map.
    fn bind_iteration(&mut self, c: &Comprehension, range: &Range<'_, 'a>, i: usize) {
        let range = match range {
            Range::Value(value) => *value,
            Range::Items(items) => {
                let item = items.get(i).cloned().unwrap_or(Value::Null);
                match c.iter2 {
                    None => self.locals[c.iter] = Ok(item),
                    Some(second) => {
                        self.locals[c.iter] = Ok(Value::Int(i as i64));
                        self.locals[second] = Ok(item);
                    }
                }
                return;
            }
        };
        match (range, c.iter2) {
            (Value::List(list), None) => {
                self.locals[c.iter] = Ok(list.get(i).unwrap_or(Value::Null));
            }
            (Value::List(list), Some(second)) => {
                self.locals[c.iter] = Ok(Value::Int(i as i64));
                self.locals[second] = Ok(list.get(i).unwrap_or(Value::Null));
            }
            (Value::Map(map), None) => {
                self.locals[c.iter] = Ok(map.key(i).unwrap_or(Value::Null));
            }
            (Value::Map(map), Some(second)) => {
                let (k, v) = map.entry(i).unwrap_or((Value::Null, Value::Null));
                self.locals[c.iter] = Ok(k);
                self.locals[second] = Ok(v);
            }
            _ => {}
        }
    }
}

/// What a comprehension ranges over: a list or map value, or the elements of a list literal
/// evaluated in place.
enum Range<'v, 'a> {
    Value(&'v Value<'a>),
    Items(&'v [Value<'a>]),
}

impl Range<'_, '_> {
    fn len(&self) -> usize {
        match self {
            Range::Value(Value::List(list)) => list.len(),
            Range::Value(Value::Map(map)) => map.len(),
            Range::Value(_) => 0,
            Range::Items(items) => items.len(),
        }
    }
}

fn unwrap_optional(value: Value<'_>) -> Option<Value<'_>> {
    match value {
        Value::Optional(inner) => inner.map(|v| (*v).clone()),
        other => Some(other),
    }
}

/// The keys a map may have: strings, ints, uints and bools.
fn check_key(key: &Value<'_>) -> Result<()> {
    match key {
        Value::String(_) | Value::Int(_) | Value::Uint(_) | Value::Bool(_) => Ok(()),
        other => Err(EvalError::new(format!(
            "a {} cannot be a map key",
            other.type_name()
        ))),
    }
}

fn insert_entry<'a>(
    entries: &mut Vec<(Value<'a>, Value<'a>)>,
    key: Value<'a>,
    value: Value<'a>,
) -> Result<()> {
    check_key(&key)?;
    if entries.iter().any(|(k, _)| equals(k, &key)) {
        return Err(EvalError::new("insert failed: key already exists"));
    }
    entries.push((key, value));
    Ok(())
}

/// A binary operator other than `+` (which may return an operand: see [`Frame::add`]).
#[inline(never)]
fn operate<'a>(op: BinaryOp, left: &Value<'a>, right: &Value<'a>) -> Result<Value<'a>> {
    let ordering = |o: Ordering| match op {
        BinaryOp::Lt => o == Ordering::Less,
        BinaryOp::Le => o != Ordering::Greater,
        BinaryOp::Gt => o == Ordering::Greater,
        _ => o != Ordering::Less,
    };
    match op {
        BinaryOp::Eq => Ok(Value::Bool(equals(left, right))),
        BinaryOp::Ne => Ok(Value::Bool(!equals(left, right))),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => Ok(Value::Bool(
            compare(left, right, op.name())?.is_some_and(ordering),
        )),
        BinaryOp::In => contains(right, left),
        _ => arithmetic(op, left, right),
    }
}

/// `cel.@mapInsert(map, key, value)` or `cel.@mapInsert(map, other)`.
fn map_insert<'a>(args: &[Value<'a>]) -> Result<Value<'a>> {
    let (Some(Value::Map(map)), rest) = (args.first(), args.get(1..).unwrap_or_default()) else {
        return Err(EvalError::new("cel.@mapInsert takes a map"));
    };
    let mut entries: Vec<(Value<'a>, Value<'a>)> = map.iter().collect();
    match rest {
        [key, value] => insert_entry(&mut entries, key.clone(), value.clone())?,
        [Value::Map(other)] => {
            for (k, v) in other.iter() {
                insert_entry(&mut entries, k, v)?;
            }
        }
        _ => return Err(EvalError::new("cel.@mapInsert takes a map and an entry")),
    }
    Ok(Value::Map(Map::Owned(entries.into())))
}

/// `sortBy`'s last step: the list ordered by the keys computed for its elements.
fn sort_by_keys<'a>(list: &Value<'a>, keys: &Value<'a>) -> Result<Value<'a>> {
    let (Value::List(list), Value::List(keys)) = (list, keys) else {
        return Err(no_overload("sortBy", &[list, keys]));
    };
    crate::libs::lists::sort_by_keys("sortBy", list, keys)
}

fn select<'a>(value: &Value<'a>, field: &str) -> Result<Value<'a>> {
    match value {
        Value::Map(map) => map
            .get_str(field)
            .ok_or_else(|| EvalError::no_such_key(field)),
        Value::Optional(None) => Ok(Value::Optional(None)),
        Value::Optional(Some(inner)) => {
            select(inner, field).map(|v| Value::Optional(Some(Arc::new(v))))
        }
        Value::List(_) => Err(EvalError::new(format!(
            "type '{}' does not support field selection",
            value.type_name()
        ))),
        // cel-go's qualifier: a field of a value that holds none (null, a string, a number) is
        // a missing key.
        _ => Err(EvalError::no_such_key(field)),
    }
}

fn has(value: &Value<'_>, field: &str) -> Result<Value<'static>> {
    match value {
        Value::Map(map) => Ok(Value::Bool(map.has_str(field))),
        Value::Optional(None) => Ok(Value::Bool(false)),
        Value::Optional(Some(inner)) => has(inner, field),
        // A list has positions, not fields: an error, also in a presence test (cel-go).
        Value::List(_) => Err(EvalError::new(format!(
            "invalid type for field selection: {}",
            value.type_name()
        ))),
        // cel-go's presence test (without errorOnBadPresenceTest, as Kubernetes runs it): a
        // value that holds no fields has none.
        _ => Ok(Value::Bool(false)),
    }
}

fn optional_select<'a>(value: &Value<'a>, field: &str) -> Result<Value<'a>> {
    match value {
        Value::Map(map) => Ok(Value::Optional(map.get_str(field).map(Arc::new))),
        Value::Optional(None) => Ok(Value::Optional(None)),
        Value::Optional(Some(inner)) => optional_select(inner, field),
        Value::List(_) => Err(EvalError::new(format!(
            "type '{}' does not support field selection",
            value.type_name()
        ))),
        // As has(): a value that holds no fields has none.
        _ => Ok(Value::Optional(None)),
    }
}

/// A list position from an index of any numeric type with an integral value.
fn list_position(key: &Value<'_>) -> Option<Option<usize>> {
    match key {
        Value::Int(i) => Some(usize::try_from(*i).ok()),
        Value::Uint(u) => Some(usize::try_from(*u).ok()),
        Value::Double(d) if d.fract() == 0.0 => {
            Some((*d >= 0.0 && *d < usize::MAX as f64).then_some(*d as usize))
        }
        _ => None,
    }
}

fn index<'a>(target: &Value<'a>, key: &Value<'_>, constant_key: bool) -> Result<Value<'a>> {
    match target {
        Value::List(list) => match list_position(key) {
            Some(Some(i)) if i < list.len() => Ok(list.get(i).unwrap_or(Value::Null)),
            Some(_) => Err(EvalError::new("list index out of bounds")),
            None => Err(no_overload("_[_]", &[target, key])),
        },
        Value::Map(map) => {
            check_key(key)?;
            map.get(key).ok_or_else(|| match (constant_key, key) {
                (true, Value::String(s)) => EvalError::no_such_key(s),
                (true, Value::Int(i)) => EvalError::no_such_key(&i.to_string()),
                _ => EvalError::new("no such key"),
            })
        }
        Value::Optional(None) => Ok(Value::Optional(None)),
        Value::Optional(Some(inner)) => {
            index(inner, key, constant_key).map(|v| Value::Optional(Some(Arc::new(v))))
        }
        other => Err(no_overload("_[_]", &[other, key])),
    }
}

fn optional_index<'a>(target: &Value<'a>, key: &Value<'_>) -> Result<Value<'a>> {
    match target {
        Value::List(list) => match list_position(key) {
            Some(Some(i)) => Ok(Value::Optional(list.get(i).map(Arc::new))),
            Some(None) => Ok(Value::Optional(None)),
            None => Err(no_overload("_[?_]", &[target, key])),
        },
        Value::Map(map) => {
            check_key(key)?;
            Ok(Value::Optional(map.get(key).map(Arc::new)))
        }
        Value::Optional(None) => Ok(Value::Optional(None)),
        Value::Optional(Some(inner)) => optional_index(inner, key),
        // As optional field selection: a value that holds nothing has nothing at any key.
        _ => Ok(Value::Optional(None)),
    }
}

/// `x in container`.
fn contains(container: &Value<'_>, element: &Value<'_>) -> Result<Value<'static>> {
    match container {
        Value::List(list) => Ok(Value::Bool(list.iter().any(|v| equals(&v, element)))),
        Value::Map(map) => Ok(Value::Bool(match element {
            Value::String(_) | Value::Int(_) | Value::Uint(_) | Value::Bool(_) => {
                map.contains(element)
            }
            Value::Double(d) if d.fract() == 0.0 => map.contains(element),
            _ => false,
        })),
        _ => Err(no_overload("@in", &[element, container])),
    }
}

fn negate(value: Value<'_>) -> Result<Value<'static>> {
    match value {
        Value::Int(i) => i
            .checked_neg()
            .map(Value::Int)
            .ok_or_else(|| EvalError::new("integer overflow in 'neg'")),
        Value::Double(d) => Ok(Value::Double(-d)),
        Value::Duration(d) => {
            d.0.checked_neg()
                .map(|n| Value::Duration(Duration(n)))
                .ok_or_else(|| EvalError::new("duration out of range"))
        }
        other => Err(no_overload("-_", &[&other])),
    }
}

fn overflow(op: &str) -> EvalError {
    EvalError::new(format!("integer overflow in '{op}'"))
}

/// Arithmetic on numbers of one type, durations and timestamps (no mixing of int, uint and
/// double, as in cel-go).
fn arithmetic<'a>(op: BinaryOp, left: &Value<'a>, right: &Value<'a>) -> Result<Value<'a>> {
    use BinaryOp::*;
    let word = match op {
        Add => "add",
        Sub => "sub",
        Mul => "mul",
        Div => "div",
        _ => "rem",
    };
    Ok(match (left, right) {
        (Value::Int(a), Value::Int(b)) => Value::Int(match op {
            Add => a.checked_add(*b).ok_or_else(|| overflow(word))?,
            Sub => a.checked_sub(*b).ok_or_else(|| overflow(word))?,
            Mul => a.checked_mul(*b).ok_or_else(|| overflow(word))?,
            Div if *b == 0 => return Err(EvalError::new("division by zero")),
            Rem if *b == 0 => return Err(EvalError::new("remainder by zero")),
            Div => a.checked_div(*b).ok_or_else(|| overflow(word))?,
            Rem => a.checked_rem(*b).ok_or_else(|| overflow(word))?,
            _ => unreachable!("arithmetic operators only"),
        }),
        (Value::Uint(a), Value::Uint(b)) => Value::Uint(match op {
            Add => a.checked_add(*b).ok_or_else(|| overflow(word))?,
            Sub => a.checked_sub(*b).ok_or_else(|| overflow(word))?,
            Mul => a.checked_mul(*b).ok_or_else(|| overflow(word))?,
            Div if *b == 0 => return Err(EvalError::new("division by zero")),
            Rem if *b == 0 => return Err(EvalError::new("remainder by zero")),
            Div => a / b,
            Rem => a % b,
            _ => unreachable!("arithmetic operators only"),
        }),
        (Value::Double(a), Value::Double(b)) => Value::Double(match op {
            Add => a + b,
            Sub => a - b,
            Mul => a * b,
            Div => a / b,
            _ => return Err(no_overload(op.name(), &[left, right])),
        }),
        (Value::Duration(a), Value::Duration(b)) if matches!(op, Add | Sub) => {
            let n = if op == Add {
                a.0.checked_add(b.0)
            } else {
                a.0.checked_sub(b.0)
            };
            Value::Duration(Duration(
                n.ok_or_else(|| EvalError::new("duration out of range"))?,
            ))
        }
        (Value::Timestamp(t), Value::Duration(d)) if matches!(op, Add | Sub) => {
            let delta = if op == Add {
                d.0 as i128
            } else {
                -(d.0 as i128)
            };
            Value::Timestamp(shift(*t, delta)?)
        }
        (Value::Duration(d), Value::Timestamp(t)) if op == Add => {
            Value::Timestamp(shift(*t, d.0 as i128)?)
        }
        (Value::Timestamp(a), Value::Timestamp(b)) if op == Sub => {
            let n = a.nanos_since_epoch() - b.nanos_since_epoch();
            Value::Duration(Duration(
                i64::try_from(n).map_err(|_| EvalError::new("duration out of range"))?,
            ))
        }
        _ => return Err(no_overload(op.name(), &[left, right])),
    })
}

/// A timestamp moved by nanoseconds, in the same offset (as Go's `Time.Add` keeps the zone).
fn shift(t: Timestamp, nanos: i128) -> Result<Timestamp> {
    Ok(Timestamp {
        offset: t.offset,
        ..crate::stdlib::timestamp_from_nanos(t.nanos_since_epoch() + nanos)?
    })
}

/// Two strings joined into one shared string, allocated once when short.
fn concat(a: &str, b: &str) -> Arc<str> {
    let len = a.len() + b.len();
    if len <= 256 {
        let mut buffer = [0u8; 256];
        buffer[..a.len()].copy_from_slice(a.as_bytes());
        buffer[a.len()..len].copy_from_slice(b.as_bytes());
        // Two strings joined are UTF-8: the check cannot fail.
        if let Ok(joined) = std::str::from_utf8(&buffer[..len]) {
            return Arc::from(joined);
        }
    }
    let mut joined = String::with_capacity(len);
    joined.push_str(a);
    joined.push_str(b);
    Arc::from(joined)
}
