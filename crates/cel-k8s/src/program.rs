//! The compiled form: a tree of [`Node`]s whose names are resolved to slots (root variables,
//! `variables.NAME`, comprehension variables), whose calls are resolved to their
//! implementation, whose constant subexpressions are folded and whose constant regexes are
//! compiled. Built once per expression by [`compile`], from the parser's tree.

use crate::env::{CompileOptions, Purpose, Root};
use crate::error::CompileError;
use crate::library::{Function, Library, Style};
use crate::syntax::{Parsed, MAP_INSERT, RESULT};
use crate::types::Type;
use crate::value::{List, Map, Str, Value};
use cel::common::ast::{operators, EntryExpr, Expr, IdedExpr, LiteralValue};
use std::sync::Arc;

/// A binary operator evaluated by the evaluator itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    In,
}

impl BinaryOp {
    fn of(name: &str) -> Option<BinaryOp> {
        Some(match name {
            operators::EQUALS => BinaryOp::Eq,
            operators::NOT_EQUALS => BinaryOp::Ne,
            operators::LESS => BinaryOp::Lt,
            operators::LESS_EQUALS => BinaryOp::Le,
            operators::GREATER => BinaryOp::Gt,
            operators::GREATER_EQUALS => BinaryOp::Ge,
            operators::ADD => BinaryOp::Add,
            operators::SUBSTRACT => BinaryOp::Sub,
            operators::MULTIPLY => BinaryOp::Mul,
            operators::DIVIDE => BinaryOp::Div,
            operators::MODULO => BinaryOp::Rem,
            operators::IN => BinaryOp::In,
            _ => return None,
        })
    }

    /// The operator's name, as cel-go names it in messages (`_<_`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            BinaryOp::Eq => operators::EQUALS,
            BinaryOp::Ne => operators::NOT_EQUALS,
            BinaryOp::Lt => operators::LESS,
            BinaryOp::Le => operators::LESS_EQUALS,
            BinaryOp::Gt => operators::GREATER,
            BinaryOp::Ge => operators::GREATER_EQUALS,
            BinaryOp::Add => operators::ADD,
            BinaryOp::Sub => operators::SUBSTRACT,
            BinaryOp::Mul => operators::MULTIPLY,
            BinaryOp::Div => operators::DIVIDE,
            BinaryOp::Rem => operators::MODULO,
            BinaryOp::In => operators::IN,
        }
    }
}

/// How a library call is metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallCost {
    /// Nothing beyond the work it reads.
    Free,
    /// Its result's size, once built.
    SizedResult,
    /// Its result's size, computed from its arguments before it is built (`replace`, `join`).
    Before,
}

pub(crate) struct Call {
    pub name: Box<str>,
    pub function: Function,
    pub args: Box<[Node]>,
    pub cost: CallCost,
    /// The parameter types of the one overload the type checker chose, when cel-go guards it
    /// ([`crate::guard`]): arguments of other runtime types are refused.
    pub guard: Option<crate::guard::Guard>,
}

pub(crate) struct Comprehension {
    pub range: Node,
    pub iter: usize,
    pub iter2: Option<usize>,
    pub accu: usize,
    pub init: Node,
    /// `None`: always true.
    pub cond: Option<Node>,
    pub step: Step,
    pub result: Node,
}

/// A comprehension's step: the macros' list and map builders are recognized and build their
/// result in place rather than copying the accumulator on each iteration.
pub(crate) enum Step {
    Generic(Node),
    /// `exists` (`@result || predicate`, while `@result` is not true) and `all`
    /// (`@result && predicate`, while it is not false): `stop` is the value that ends the loop.
    /// Evaluated as the generic step would be, without evaluating the condition and the
    /// accumulator as nodes on each iteration.
    Quantifier {
        predicate: Node,
        stop: bool,
    },
    /// `@result + [element]`, under a filter when given (`map`, `filter`, `transformList`).
    Append {
        filter: Option<Node>,
        element: Node,
    },
    /// `cel.@mapInsert(@result, key, value)` or, without a key, `cel.@mapInsert(@result, map)`
    /// (`transformMap`, `transformMapEntry`), under a filter when given.
    Insert {
        filter: Option<Node>,
        key: Option<Node>,
        value: Node,
    },
}

/// A node of the compiled form.
pub(crate) enum Node {
    Const(Value<'static>),
    Root(Root),
    /// `variables.NAME`, by index into the activation's variables.
    Variable(usize),
    /// A comprehension's variable or accumulator, by slot.
    Local(usize),
    Select(Box<Node>, Box<str>),
    /// `has(x.f)`.
    Has(Box<Node>, Box<str>),
    /// `x.?f`.
    OptSelect(Box<Node>, Box<str>),
    /// `x[i]`; the key is named in a missing-key error only when it is a constant.
    Index(Box<(Node, Node)>),
    /// `x[?i]`.
    OptIndex(Box<(Node, Node)>),
    Not(Box<Node>),
    Neg(Box<Node>),
    NotStrictlyFalse(Box<Node>),
    Binary(BinaryOp, Box<(Node, Node)>),
    /// `a && b && ...`, flattened.
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Cond(Box<(Node, Node, Node)>),
    Call(Box<Call>),
    /// `s.matches(constant)`: the regex compiled at load.
    Matches(Box<(Node, crate::libs::regex::Pattern)>),
    /// A list literal; `true` marks an optional element (`[?x]`).
    List(Box<[(Node, bool)]>),
    /// A map literal; `true` marks an optional entry (`{?k: v}`).
    Map(Box<[(Node, Node, bool)]>),
    /// `cel.bind(slot, value, body)` and the other comprehensions over no elements.
    Bind(Box<(usize, Node, Node)>),
    Comprehension(Box<Comprehension>),
    /// `cel.@mapInsert` outside a recognized step.
    MapInsert(Box<[Node]>),
    /// `list.@sortByAssociatedKeys(keys)` (`sortBy`'s expansion).
    SortByKeys(Box<(Node, Node)>),
    /// A chain of selections and indexes with an optional one, ended by `orValue`,
    /// `hasValue` or `value`: walked without building the optionals in between.
    Chain(Box<Chain>),
    /// `type(x) == T` (`true`) or `type(x) != T` (`false`), without building `type(x)`.
    TypeIs(Box<Node>, Type, bool),
    /// A call of the `kms` library, answered from the activation's live data (never folded).
    Live(crate::libs::kms::KmsFunction, Box<[Node]>),
    /// The guard `!has(x.f) || x.f == null ? A : type(x.f) == T ? x.f : B` (see
    /// [`guarded_field`]): `x.f` looked up once.
    GuardedField(Box<GuardedField>),
}

/// A [`Node::GuardedField`]: `base` is a root or a variable; `original` is the conditional as
/// written, evaluated as it is whenever `base` is not a map.
pub(crate) struct GuardedField {
    pub base: Node,
    pub field: Box<str>,
    pub kind: Type,
    /// `type(x.f) == T` (true) or `!=` (false).
    pub equal: bool,
    pub original: Node,
}

/// Recognizes the guard policies write to read a field that may be absent, null or of another
/// type, `!has(x.f) || x.f == null ? A : type(x.f) == T ? x.f : B`, where `x` is a root or a
/// variable: its evaluation looks `x.f` up once instead of four times, with the same result
/// (on a map: absent or null gives `A`, a value of type `T` is itself, another gives `B`).
/// Any other conditional is returned as it is.
fn guarded_field(node: Node) -> Node {
    let Node::Cond(outer) = &node else {
        return node;
    };
    let (Node::Or(terms), Node::Cond(inner)) = (&outer.0, &outer.2) else {
        return node;
    };
    let [Node::Not(absent), Node::Binary(BinaryOp::Eq, null_test)] = &terms[..] else {
        return node;
    };
    let (Node::Has(b1, f1), Node::Select(b2, f2), Node::Const(Value::Null)) =
        (&**absent, &null_test.0, &null_test.1)
    else {
        return node;
    };
    let (Node::TypeIs(typed, kind, equal), Node::Select(b4, f4)) = (&inner.0, &inner.1) else {
        return node;
    };
    let Node::Select(b3, f3) = &**typed else {
        return node;
    };
    let same_base = |other: &Node| match (&**b1, other) {
        (Node::Root(a), Node::Root(b)) => a == b,
        (Node::Variable(a), Node::Variable(b)) => a == b,
        _ => false,
    };
    let same =
        [&**b2, &**b3, &**b4].iter().all(|b| same_base(b)) && [f2, f3, f4].iter().all(|f| *f == f1);
    if !same {
        return node;
    }
    let (base, field, kind, equal) = (
        match &**b1 {
            Node::Root(root) => Node::Root(*root),
            Node::Variable(index) => Node::Variable(*index),
            _ => unreachable!("same_base accepts roots and variables only"),
        },
        f1.clone(),
        kind.clone(),
        *equal,
    );
    Node::GuardedField(Box::new(GuardedField {
        base,
        field,
        kind,
        equal,
        original: node,
    }))
}

/// One step of a [`Chain`]: `.f`, `.?f`, `[k]` or `[?k]`.
pub(crate) enum ChainStep {
    Field(Box<str>, bool),
    Key(Node, bool),
}

/// What ends a [`Chain`].
pub(crate) enum ChainEnd {
    OrValue(Node),
    HasValue,
    Value,
}

pub(crate) struct Chain {
    pub base: Node,
    pub steps: Vec<ChainStep>,
    pub end: ChainEnd,
}

/// `type(x) == T` or `type(x) != T` as a [`Node::TypeIs`]; any other binary operation as it is.
fn type_test(op: BinaryOp, pair: Box<(Node, Node)>) -> Node {
    let is_type_call =
        |n: &Node| matches!(n, Node::Call(c) if &*c.name == "type" && c.args.len() == 1);
    let is_type = |n: &Node| matches!(n, Node::Const(Value::Type(_)));
    let equal = match op {
        BinaryOp::Eq => true,
        BinaryOp::Ne => false,
        _ => return Node::Binary(op, pair),
    };
    let (call, constant) = match *pair {
        (c, t) if is_type_call(&c) && is_type(&t) => (c, t),
        (t, c) if is_type_call(&c) && is_type(&t) => (c, t),
        other => return Node::Binary(op, Box::new(other)),
    };
    match (call, constant) {
        (Node::Call(call), Node::Const(Value::Type(t))) => {
            let operand = call.args.into_vec().pop().expect("one argument");
            Node::TypeIs(Box::new(operand), t, equal)
        }
        _ => unreachable!("matched above"),
    }
}

/// `target.orValue(d)`, `target.hasValue()` or `target.value()` as a [`Chain`], when the
/// target is a chain of selections and indexes with an optional one.
fn chain(target: Node, end: ChainEnd) -> Result<Node, (Node, ChainEnd)> {
    let optional = |n: &Node| matches!(n, Node::OptSelect(..) | Node::OptIndex(_));
    let mut probe = &target;
    let mut any_optional = false;
    loop {
        any_optional |= optional(probe);
        probe = match probe {
            Node::Select(o, _) | Node::OptSelect(o, _) => o,
            Node::Index(p) | Node::OptIndex(p) => &p.0,
            _ => break,
        };
    }
    if !any_optional {
        return Err((target, end));
    }
    let mut steps = Vec::new();
    let mut node = target;
    let base = loop {
        node = match node {
            Node::Select(o, f) => {
                steps.push(ChainStep::Field(f, false));
                *o
            }
            Node::OptSelect(o, f) => {
                steps.push(ChainStep::Field(f, true));
                *o
            }
            Node::Index(p) => {
                let (o, k) = *p;
                steps.push(ChainStep::Key(k, false));
                o
            }
            Node::OptIndex(p) => {
                let (o, k) = *p;
                steps.push(ChainStep::Key(k, true));
                o
            }
            other => break other,
        };
    };
    steps.reverse();
    Ok(Node::Chain(Box::new(Chain { base, steps, end })))
}

/// A compiled expression, kept beside its source text.
pub struct Program {
    pub(crate) source: String,
    pub(crate) root: Node,
    pub(crate) locals: usize,
    pub(crate) uses: Vec<usize>,
    pub(crate) uses_params: bool,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("source", &self.source)
            .finish()
    }
}

impl Program {
    /// The expression's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The indexes (into [`CompileOptions::variables`]) of the `variables.NAME` it reads, in
    /// first-use order.
    pub fn variables_used(&self) -> &[usize] {
        &self.uses
    }

    /// Whether it reads `params`.
    pub fn uses_params(&self) -> bool {
        self.uses_params
    }

    /// Whether the whole expression folded into a constant.
    pub fn is_constant(&self) -> bool {
        matches!(self.root, Node::Const(_))
    }
}

/// Identifiers that name types.
fn type_value(name: &str) -> Option<Type> {
    Some(match name {
        "int" => Type::Int,
        "uint" => Type::Uint,
        "double" => Type::Double,
        "bool" => Type::Bool,
        "string" => Type::String,
        "bytes" => Type::Bytes,
        "list" => Type::list(Type::Dyn),
        "map" => Type::map(Type::Dyn, Type::Dyn),
        "null_type" => Type::Null,
        "type" => Type::Type(None),
        // `dyn` is a function, not a type name cel-go declares: `dyn` alone is undeclared.
        "optional_type" => Type::optional(Type::Dyn),
        "google.protobuf.Duration" => Type::Duration,
        "google.protobuf.Timestamp" => Type::Timestamp,
        _ => return None,
    })
}

/// Whether a struct literal's type name is one a mutation may construct.
pub(crate) fn is_mutation_type(name: &str) -> bool {
    name == "Object" || name.starts_with("Object.") || name == "JSONPatch"
}

/// The message for a struct literal that is not allowed where it is written.
pub(crate) fn literal_not_allowed(name: &str, in_mutation: bool) -> String {
    if in_mutation {
        format!(
            "\"{name}{{...}}\" constructs an unknown type: a mutation builds Object{{...}} (and Object.FIELD{{...}}) or JSONPatch{{...}}"
        )
    } else {
        format!("undeclared reference to '{name}' (in container ''): \"{name}{{...}}\": object literals are only allowed in the expressions of a MutatingAdmissionPolicy's mutations")
    }
}

/// Compiles a parsed expression; with what type-checking it found, each call keeps the
/// checker's overload choice as cel-go does ([`crate::guard`]). Recurses once per level of the
/// tree (bounded by the parser's depth check).
pub(crate) fn compile(
    library: &Library,
    source: &str,
    parsed: &Parsed,
    options: &CompileOptions<'_>,
    checked: Option<&crate::check::Checked>,
) -> Result<Program, CompileError> {
    let mut compiler = Compiler {
        library,
        source,
        parsed,
        options,
        checked,
        scope: Vec::new(),
        locals: 0,
        uses: Vec::new(),
        uses_params: false,
    };
    let root = compiler.expr(&parsed.expr)?;
    Ok(Program {
        source: source.to_owned(),
        root,
        locals: compiler.locals,
        uses: compiler.uses,
        uses_params: compiler.uses_params,
    })
}

struct Compiler<'c> {
    library: &'c Library,
    source: &'c str,
    parsed: &'c Parsed,
    options: &'c CompileOptions<'c>,
    checked: Option<&'c crate::check::Checked>,
    /// Comprehension variables in scope, innermost last.
    scope: Vec<(String, usize)>,
    locals: usize,
    uses: Vec<usize>,
    uses_params: bool,
}

impl Compiler<'_> {
    fn error(&self, expr: &IdedExpr, message: impl Into<String>) -> CompileError {
        CompileError::new(self.parsed.position(self.source, expr.id), message)
    }

    fn local(&self, name: &str) -> Option<usize> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, slot)| *slot)
    }

    fn new_local(&mut self) -> usize {
        self.locals += 1;
        self.locals - 1
    }

    fn expr(&mut self, expr: &IdedExpr) -> Result<Node, CompileError> {
        let node = match &expr.expr {
            Expr::Literal(literal) => Node::Const(literal_value(literal)),
            Expr::Ident(name) => self.ident(expr, name)?,
            Expr::Select(select) => {
                if let Expr::Ident(root) = &select.operand.expr {
                    if root == "variables" && self.local("variables").is_none() && !select.test {
                        return self.variable(expr, &select.field);
                    }
                    // A library type's name: `net.IP`, `kubernetes.Quantity`.
                    let shadowed = self.local(root).is_some() || Root::of(root).is_some();
                    if !shadowed && !select.test {
                        let name = format!("{root}.{}", select.field);
                        if let Some(t) = crate::libs::OPAQUE_TYPES.iter().find(|t| **t == name) {
                            return Ok(Node::Const(Value::Type(Type::Opaque(t))));
                        }
                    }
                }
                let operand = Box::new(self.expr(&select.operand)?);
                let field: Box<str> = select.field.as_str().into();
                if select.test {
                    Node::Has(operand, field)
                } else {
                    Node::Select(operand, field)
                }
            }
            Expr::Call(call) => self.call(expr, call)?,
            Expr::List(list) => {
                let mut elements = Vec::with_capacity(list.elements.len());
                for (i, element) in list.elements.iter().enumerate() {
                    elements.push((self.expr(element)?, list.optional_indices.contains(&i)));
                }
                Node::List(elements.into())
            }
            Expr::Map(map) => {
                let mut entries = Vec::with_capacity(map.entries.len());
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(e) => {
                            entries.push((self.expr(&e.key)?, self.expr(&e.value)?, e.optional))
                        }
                        EntryExpr::StructField(f) => {
                            return Err(self.error(
                                expr,
                                format!("a map literal cannot have the field {}", f.field),
                            ))
                        }
                    }
                }
                Node::Map(entries.into())
            }
            Expr::Struct(s) if crate::protobuf::message(&s.type_name).is_some() => {
                self.message(expr, s)?
            }
            Expr::Struct(s) => {
                let in_mutation = self.options.purpose == Purpose::Mutation;
                if !(in_mutation && is_mutation_type(&s.type_name)) {
                    return Err(self.error(expr, literal_not_allowed(&s.type_name, in_mutation)));
                }
                let mut entries = Vec::with_capacity(s.entries.len());
                for entry in &s.entries {
                    match &entry.expr {
                        EntryExpr::StructField(f) => entries.push((
                            Node::Const(Value::string(f.field.clone())),
                            self.expr(&f.value)?,
                            f.optional,
                        )),
                        EntryExpr::MapEntry(e) => {
                            entries.push((self.expr(&e.key)?, self.expr(&e.value)?, e.optional))
                        }
                    }
                }
                Node::Map(entries.into())
            }
            Expr::Comprehension(c) => self.comprehension(c)?,
            Expr::Unspecified => return Err(self.error(expr, "incomplete expression")),
        };
        if is_constant_conversion(expr) {
            if let Err(e) = crate::eval::evaluate_constant(&node) {
                return Err(self.error(expr, format!("program instantiation failed: {}", e.0)));
            }
        }
        if let Some(pattern) = constant_find_pattern(expr) {
            // Kubernetes' regex library compiles a constant pattern when it builds the program.
            if crate::libs::regex::compile(pattern).is_err() {
                return Err(self.error(expr, "program instantiation failed: error parsing regexp"));
            }
        }
        Ok(crate::eval::fold(node))
    }

    /// A protocol buffer message literal ([`crate::protobuf`]): its builder called with the
    /// fields in declaration order, `null` for those not written (`?field` unwrapped, `null`
    /// when empty).
    fn message(
        &mut self,
        expr: &IdedExpr,
        s: &cel::common::ast::StructExpr,
    ) -> Result<Node, CompileError> {
        let (Some(message), Some(function)) = (
            crate::protobuf::message(&s.type_name),
            crate::protobuf::builder(&s.type_name),
        ) else {
            return Err(self.error(expr, format!("unknown message type {}", s.type_name)));
        };
        let mut args: Vec<Node> = message
            .fields
            .iter()
            .map(|_| Node::Const(Value::Null))
            .collect();
        for entry in &s.entries {
            let EntryExpr::StructField(field) = &entry.expr else {
                return Err(self.error(expr, "a message literal has fields, not map entries"));
            };
            let Some(index) = message.fields.iter().position(|(n, _)| *n == field.field) else {
                return Err(self.error(expr, format!("undefined field '{}'", field.field)));
            };
            let mut value = self.expr(&field.value)?;
            if field.optional {
                let or_value = self
                    .library
                    .lookup("orValue", Style::Receiver, 2)
                    .ok_or_else(|| self.error(expr, "optional fields need orValue"))?;
                value = Node::Call(Box::new(Call {
                    name: "orValue".into(),
                    function: or_value,
                    args: Box::new([value, Node::Const(Value::Null)]),
                    cost: CallCost::Free,
                    guard: None,
                }));
            }
            args[index] = value;
        }
        Ok(Node::Call(Box::new(Call {
            name: message.name.into(),
            function,
            args: args.into(),
            cost: CallCost::Free,
            guard: None,
        })))
    }

    fn ident(&mut self, expr: &IdedExpr, name: &str) -> Result<Node, CompileError> {
        if let Some(slot) = self.local(name) {
            return Ok(Node::Local(slot));
        }
        if let Some(root) = Root::of(name) {
            self.uses_params |= root == Root::Params;
            return Ok(Node::Root(root));
        }
        if name == "variables" {
            return Err(self.error(expr, "\"variables\" is only usable as variables.NAME"));
        }
        if let Some(t) = type_value(name) {
            return Ok(Node::Const(Value::Type(t)));
        }
        if name == "authorizer" {
            return Err(self.error(
                expr,
                "\"authorizer\" is not supported: the gate has no API server to ask",
            ));
        }
        Err(self.error(expr, format!("unknown variable \"{name}\"")))
    }

    fn variable(&mut self, expr: &IdedExpr, name: &str) -> Result<Node, CompileError> {
        let Some(index) = self.options.variables.iter().position(|v| *v == name) else {
            return Err(self.error(expr, format!("unknown variable \"variables.{name}\"")));
        };
        if !self.uses.contains(&index) {
            self.uses.push(index);
        }
        Ok(Node::Variable(index))
    }

    fn exprs(&mut self, exprs: &[IdedExpr]) -> Result<Vec<Node>, CompileError> {
        exprs.iter().map(|e| self.expr(e)).collect()
    }

    fn call(
        &mut self,
        expr: &IdedExpr,
        call: &cel::common::ast::CallExpr,
    ) -> Result<Node, CompileError> {
        let name = call.func_name.as_str();
        let args = &call.args;
        if call.target.is_none() {
            if let Some(node) = self.operator(expr, name, args)? {
                return Ok(node);
            }
        }
        // A namespaced function: `strings.quote(s)`, `optional.of(x)`, `math.abs(x)`.
        let mut target = call.target.as_deref();
        let mut full_name = name.to_owned();
        if let Some(IdedExpr {
            expr: Expr::Ident(ns),
            ..
        }) = target
        {
            if self.local(ns).is_none() && Root::of(ns).is_none() {
                let dotted = format!("{ns}.{name}");
                if self.library.has(&dotted) || dotted == MAP_INSERT || beyond_target(&dotted) {
                    full_name = dotted;
                    target = None;
                }
            }
        }
        if full_name == MAP_INSERT && target.is_none() {
            return Ok(Node::MapInsert(self.exprs(args)?.into()));
        }
        if let (Some(t), "@sortByAssociatedKeys", [keys]) = (target, name, args.as_slice()) {
            let list = self.expr(t)?;
            let keys = self.expr(keys)?;
            return Ok(Node::SortByKeys(Box::new((list, keys))));
        }
        let mut nodes = Vec::with_capacity(args.len() + 1);
        if let Some(t) = target {
            nodes.push(self.expr(t)?);
        }
        nodes.extend(self.exprs(args)?);
        // `dyn(x)` is `x` at run time.
        if full_name == "dyn" && target.is_none() && nodes.len() == 1 {
            return Ok(nodes.swap_remove(0));
        }
        if target.is_some() {
            let end = match (name, nodes.len()) {
                ("orValue", 2) => nodes.pop().map(ChainEnd::OrValue),
                ("hasValue", 1) => Some(ChainEnd::HasValue),
                ("value", 1) => Some(ChainEnd::Value),
                _ => None,
            };
            if let Some(end) = end {
                let target = nodes.swap_remove(0);
                match chain(target, end) {
                    Ok(fused) => return Ok(fused),
                    Err((target, end)) => {
                        nodes.insert(0, target);
                        if let ChainEnd::OrValue(default) = end {
                            nodes.push(default);
                        }
                    }
                }
            }
        }
        let style = if target.is_some() {
            Style::Receiver
        } else {
            Style::Global
        };
        if full_name == "matches" && nodes.len() == 2 {
            if let Node::Const(Value::String(pattern)) = &nodes[1] {
                let regex = crate::libs::regex::Pattern::new(pattern)
                    .map_err(|e| self.error(expr, format!("invalid regular expression: {e}")))?;
                let subject = nodes.swap_remove(0);
                return Ok(Node::Matches(Box::new((subject, regex))));
            }
        }
        let Some(function) = self.library.lookup(&full_name, style, nodes.len()) else {
            let position = self
                .parsed
                .call_position(self.source, expr.id, &call.func_name);
            let message = if self.library.has(&full_name) {
                let shape = match style {
                    Style::Receiver => "as a method",
                    Style::Global => "as a function",
                };
                format!(
                    "found no matching overload for '{full_name}' {shape} with {} arguments",
                    args.len()
                )
            } else if beyond_target(&full_name) {
                format!(
                    "function \"{full_name}\" is not offered by the target \
                     (--kubernetes-version, or an extension: --cel-extensions)"
                )
            } else {
                format!("unknown function \"{full_name}\"")
            };
            return Err(CompileError::new(position, message));
        };
        if let Some(live) = crate::libs::kms::KmsFunction::of(&full_name, nodes.len())
            .filter(|_| style == Style::Global)
        {
            return Ok(Node::Live(live, nodes.into()));
        }
        let cost = if crate::cost::SIZED_RESULTS.contains(&full_name.as_str()) {
            CallCost::SizedResult
        } else if matches!(full_name.as_str(), "replace" | "join") {
            CallCost::Before
        } else {
            CallCost::Free
        };
        let guard = self
            .checked
            .and_then(|c| crate::guard::for_call(&full_name, c.overloads_of(expr.id)));
        Ok(Node::Call(Box::new(Call {
            name: full_name.into(),
            function,
            args: nodes.into(),
            cost,
            guard,
        })))
    }

    /// The operators the evaluator implements itself.
    fn operator(
        &mut self,
        expr: &IdedExpr,
        name: &str,
        args: &[IdedExpr],
    ) -> Result<Option<Node>, CompileError> {
        let pair = |c: &mut Self| -> Result<Box<(Node, Node)>, CompileError> {
            Ok(Box::new((c.expr(&args[0])?, c.expr(&args[1])?)))
        };
        Ok(Some(match (name, args.len()) {
            (operators::LOGICAL_AND | operators::LOGICAL_OR, 2) => {
                let and = name == operators::LOGICAL_AND;
                let mut terms = Vec::new();
                for arg in args {
                    match self.expr(arg)? {
                        Node::And(inner) if and => terms.extend(inner.into_vec()),
                        Node::Or(inner) if !and => terms.extend(inner.into_vec()),
                        other => terms.push(other),
                    }
                }
                if and {
                    Node::And(terms.into())
                } else {
                    Node::Or(terms.into())
                }
            }
            (operators::LOGICAL_NOT, 1) => Node::Not(Box::new(self.expr(&args[0])?)),
            (operators::NEGATE, 1) => Node::Neg(Box::new(self.expr(&args[0])?)),
            (operators::NOT_STRICTLY_FALSE, 1) => {
                Node::NotStrictlyFalse(Box::new(self.expr(&args[0])?))
            }
            (operators::CONDITIONAL, 3) => guarded_field(Node::Cond(Box::new((
                self.expr(&args[0])?,
                self.expr(&args[1])?,
                self.expr(&args[2])?,
            )))),
            (operators::INDEX, 2) => Node::Index(pair(self)?),
            (operators::OPT_INDEX, 2) => Node::OptIndex(pair(self)?),
            (operators::OPT_SELECT, 2) => {
                let operand = self.expr(&args[0])?;
                let Expr::Literal(LiteralValue::String(field)) = &args[1].expr else {
                    return Err(self.error(expr, "optional selection needs a field name"));
                };
                Node::OptSelect(Box::new(operand), field.inner().into())
            }
            (name, 2) => match BinaryOp::of(name) {
                Some(op) => type_test(op, pair(self)?),
                None => return Ok(None),
            },
            _ => return Ok(None),
        }))
    }

    fn comprehension(
        &mut self,
        c: &cel::common::ast::ComprehensionExpr,
    ) -> Result<Node, CompileError> {
        let range = self.expr(&c.iter_range)?;
        let init = self.expr(&c.accu_init)?;
        let accu = self.new_local();
        // A comprehension over no elements that stops at once: a binding (`cel.bind`, and the
        // expansions of `sortBy` and `optMap`).
        let empty_range = matches!(&range, Node::Const(Value::List(l)) if l.is_empty());
        let never = matches!(
            &c.loop_cond.expr,
            Expr::Literal(LiteralValue::Boolean(b)) if !*b.inner()
        );
        if empty_range && never {
            self.scope.push((c.accu_var.clone(), accu));
            let result = self.expr(&c.result);
            self.scope.pop();
            return Ok(Node::Bind(Box::new((accu, init, result?))));
        }
        let before = self.scope.len();
        self.scope.push((c.accu_var.clone(), accu));
        let result = self.expr(&c.result);
        let iter = self.new_local();
        self.scope.push((c.iter_var.clone(), iter));
        let iter2 = c.iter_var2.as_ref().map(|name| {
            let slot = self.new_local();
            self.scope.push((name.clone(), slot));
            slot
        });
        let cond = match &c.loop_cond.expr {
            Expr::Literal(LiteralValue::Boolean(b)) if *b.inner() => Ok(None),
            _ => self.expr(&c.loop_cond).map(Some),
        };
        let step = self.step(c);
        self.scope.truncate(before);
        Ok(Node::Comprehension(Box::new(Comprehension {
            range,
            iter,
            iter2,
            accu,
            init,
            cond: cond?,
            step: step?,
            result: result?,
        })))
    }

    /// The step, recognizing the macros' list and map builders.
    fn step(&mut self, c: &cel::common::ast::ComprehensionExpr) -> Result<Step, CompileError> {
        let is_accu = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if *n == c.accu_var);
        if let Some((predicate, stop)) = quantifier(c).filter(|_| !generic_steps()) {
            return Ok(Step::Quantifier {
                predicate: self.expr(predicate)?,
                stop,
            });
        }
        let builds = c.accu_var == RESULT
            && is_accu(&c.result)
            && c.loop_cond.expr == Expr::Literal(LiteralValue::Boolean(true.into()));
        let empty_init = match &c.accu_init.expr {
            Expr::List(l) => l.elements.is_empty(),
            Expr::Map(m) => m.entries.is_empty(),
            _ => false,
        };
        if !(builds && empty_init) {
            return Ok(Step::Generic(self.expr(&c.loop_step)?));
        }
        // `filter ? add : @result`, or `add`.
        let (filter, add) = match &c.loop_step.expr {
            Expr::Call(call)
                if call.func_name == operators::CONDITIONAL
                    && call.args.len() == 3
                    && is_accu(&call.args[2]) =>
            {
                (Some(&call.args[0]), &call.args[1])
            }
            _ => (None, &c.loop_step),
        };
        let Expr::Call(add_call) = &add.expr else {
            return Ok(Step::Generic(self.expr(&c.loop_step)?));
        };
        let list_init = matches!(c.accu_init.expr, Expr::List(_));
        let step = match (add_call.func_name.as_str(), add_call.args.as_slice()) {
            (operators::ADD, [a, single]) if list_init && is_accu(a) => match &single.expr {
                Expr::List(l) if l.elements.len() == 1 && l.optional_indices.is_empty() => {
                    Some((None, &l.elements[0]))
                }
                _ => None,
            },
            (MAP_INSERT, [a, key, value]) if !list_init && is_accu(a) => Some((Some(key), value)),
            (MAP_INSERT, [a, value]) if !list_init && is_accu(a) => Some((None, value)),
            _ => None,
        };
        let Some((key, value)) = step else {
            return Ok(Step::Generic(self.expr(&c.loop_step)?));
        };
        let filter = filter.map(|f| self.expr(f)).transpose()?;
        if list_init {
            Ok(Step::Append {
                filter,
                element: self.expr(value)?,
            })
        } else {
            Ok(Step::Insert {
                filter,
                key: key.map(|k| self.expr(k)).transpose()?,
                value: self.expr(value)?,
            })
        }
    }
}

/// A test compiles and evaluates every comprehension generic (no quantifier, no list-literal
/// range) to compare with what the recognized forms give. Compiling runs on a thread of its own (see
/// [`crate::syntax::on_parse_stack`]), so this is process-wide: a test compiling meanwhile gets
/// generic comprehensions, which give the same values.
#[cfg(test)]
pub(crate) static GENERIC_STEPS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether comprehensions are compiled generic (only ever in tests).
#[inline]
pub(crate) fn generic_steps() -> bool {
    #[cfg(test)]
    return GENERIC_STEPS.load(std::sync::atomic::Ordering::SeqCst);
    #[cfg(not(test))]
    false
}

/// The predicate of a comprehension shaped as the `exists` and `all` macros expand (and the
/// two-variable forms), and the value that ends its loop (`true` for `exists`):
/// `@result` starts at `!stop`, the loop runs while `@not_strictly_false(!@result)` (`exists`)
/// or `@not_strictly_false(@result)` (`all`), the step is `@result || predicate` or
/// `@result && predicate`, and the result is `@result`.
fn quantifier(c: &cel::common::ast::ComprehensionExpr) -> Option<(&IdedExpr, bool)> {
    let is_accu = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if *n == c.accu_var);
    fn call<'e>(e: &'e IdedExpr, name: &str, arity: usize) -> Option<&'e [IdedExpr]> {
        match &e.expr {
            Expr::Call(call) if call.func_name == name && call.target.is_none() => {
                Some(call.args.as_slice()).filter(|args| args.len() == arity)
            }
            _ => None,
        }
    }
    if c.accu_var != RESULT || !is_accu(&c.result) {
        return None;
    }
    let Expr::Literal(LiteralValue::Boolean(init)) = &c.accu_init.expr else {
        return None;
    };
    let stop = !*init.inner();
    let [tested] = call(&c.loop_cond, operators::NOT_STRICTLY_FALSE, 1)? else {
        return None;
    };
    let tests_accu = match stop {
        true => call(tested, operators::LOGICAL_NOT, 1).is_some_and(|args| is_accu(&args[0])),
        false => is_accu(tested),
    };
    let combine = if stop {
        operators::LOGICAL_OR
    } else {
        operators::LOGICAL_AND
    };
    match call(&c.loop_step, combine, 2)? {
        [accu, predicate] if tests_accu && is_accu(accu) => Some((predicate, stop)),
        _ => None,
    }
}

fn literal_value(literal: &LiteralValue) -> Value<'static> {
    match literal {
        LiteralValue::Boolean(b) => Value::Bool(*b.inner()),
        LiteralValue::Bytes(b) => Value::Bytes(Arc::from(b.inner())),
        LiteralValue::Double(d) => Value::Double(*d.inner()),
        LiteralValue::Int(i) => Value::Int(*i.inner()),
        LiteralValue::Null => Value::Null,
        LiteralValue::String(s) => Value::String(Str::Owned(Arc::from(s.inner()))),
        LiteralValue::UInt(u) => Value::Uint(*u.inner()),
    }
}

/// The functions cel-go's optimizer evaluates at program creation when their one argument is a
/// constant (`overloads.IsTypeConversionFunction`).
const CONVERSIONS: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "duration",
    "dyn",
    "int",
    "string",
    "timestamp",
    "type",
    "uint",
];

/// Whether cel-go's planner (with `OptOptimize`, as Kubernetes builds programs) makes this a
/// constant: a literal, a list or map literal of constants, or a conversion of a constant.
fn is_go_constant(expr: &IdedExpr) -> bool {
    match &expr.expr {
        Expr::Literal(_) => true,
        Expr::List(l) => l.elements.iter().all(is_go_constant),
        Expr::Map(m) => m.entries.iter().all(|e| match &e.expr {
            EntryExpr::MapEntry(e) => is_go_constant(&e.key) && is_go_constant(&e.value),
            EntryExpr::StructField(_) => false,
        }),
        _ => is_constant_conversion(expr),
    }
}

/// A conversion (`int('x')`, `duration('1s')`) of a constant, which Kubernetes evaluates when it
/// builds the program: one that fails refuses the expression.
fn is_constant_conversion(expr: &IdedExpr) -> bool {
    match &expr.expr {
        Expr::Call(call) => {
            call.target.is_none()
                && call.args.len() == 1
                && CONVERSIONS.contains(&call.func_name.as_str())
                && is_go_constant(&call.args[0])
        }
        _ => false,
    }
}

/// The literal pattern of a `find` or `findAll` call.
fn constant_find_pattern(expr: &IdedExpr) -> Option<&str> {
    let Expr::Call(call) = &expr.expr else {
        return None;
    };
    if call.target.is_none() || !matches!(call.func_name.as_str(), "find" | "findAll") {
        return None;
    }
    match &call.args.first()?.expr {
        Expr::Literal(LiteralValue::String(pattern)) => Some(pattern.as_ref()),
        _ => None,
    }
}

/// A constant list or map node's value, for folding.
#[allow(dead_code)]
pub(crate) fn empty_list() -> Value<'static> {
    Value::List(List::Owned(Arc::new([])))
}

#[allow(dead_code)]
pub(crate) fn empty_map() -> Value<'static> {
    Value::Map(Map::Owned(Arc::new([])))
}

/// Whether a function exists, but not for the library compiled against (another Kubernetes
/// release's, or an extension's).
fn beyond_target(name: &str) -> bool {
    crate::libs::library_for(crate::profile::Profile::everything()).has(name)
}
