//! What `lint` reads of a parsed expression, as plain types (the `cel` crate's tree stays
//! inside this crate): the field paths it reads and where, the keys it guards, whether it reads
//! anything at all, the type of its value when the syntax alone says, and the path a variable
//! stands for. Pure.

use super::visit;
use super::Syntax;
use crate::env::ROOT_VARIABLES;
use cel::common::ast::{Expr, IdedExpr, LiteralValue};

/// How a step of a path reads its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `.name`
    Field,
    /// `.?name`
    OptionalField,
    /// `['name']`
    Key,
    /// `[?'name']`
    OptionalKey,
    /// `[i]`, `[expr]`: an element of a list (or a key not known statically).
    Element,
}

/// One step of a path, and the character offset (0-based) in the expression of its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub access: Access,
    pub offset: usize,
}

/// A field path from a root variable: `object.spec.template`, or from `variables.NAME`
/// (root `variables.NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub root: String,
    pub steps: Vec<Step>,
}

impl Path {
    /// The path as text, `object.metadata.labels['a']`, optional accesses as plain ones.
    pub fn text(&self) -> String {
        let mut text = self.root.clone();
        for step in &self.steps {
            match step.access {
                Access::Field | Access::OptionalField => {
                    text.push('.');
                    text.push_str(&step.name);
                }
                Access::Key | Access::OptionalKey => text.push_str(&format!("['{}']", step.name)),
                Access::Element => text.push_str("[]"),
            }
        }
        text
    }

    /// The first `n` steps.
    pub fn prefix(&self, n: usize) -> Path {
        Path {
            root: self.root.clone(),
            steps: self.steps[..n.min(self.steps.len())].to_vec(),
        }
    }
}

/// A path an expression reads; `tested`: inside `has()`, so its last step is tested, not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathUse {
    pub path: Path,
    pub tested: bool,
}

/// What lint needs of an expression.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub paths: Vec<PathUse>,
    /// Keys tested before being read: `'k' in P` and `has(P.k)`, as (P, k).
    pub guards: Vec<(Path, String)>,
    /// Whether it reads no variable: its value is the same for every request.
    pub constant: bool,
    /// The CEL type of its value, when the syntax alone decides it.
    pub result_type: Option<&'static str>,
    /// The path it evaluates to, when it is one (possibly behind a check that falls back on a
    /// literal `{}`, `[]`, `null` or an error).
    pub alias: Option<Path>,
    /// The `kms` functions it calls (`kms.key`, ...): live data, read like a variable.
    pub live_calls: Vec<String>,
}

impl Syntax {
    /// The facts lint reads (see [`Facts`]).
    pub fn facts(&self) -> Facts {
        let tree = &self.parsed.expr;
        let mut walk = Walk {
            bound: Vec::new(),
            facts: Facts::default(),
            reads_root: false,
            source: self,
        };
        walk.expr(tree);
        let mut facts = walk.facts;
        facts.constant = !walk.reads_root;
        facts.result_type = result_type(tree);
        facts.alias = alias(self, tree, &[]);
        facts
    }

    /// The character offset of a node's token in the source (the parser's is in bytes).
    fn offset(&self, expr: &IdedExpr) -> usize {
        let byte = self
            .parsed
            .info
            .offset_for(expr.id)
            .map_or(0, |(start, _)| start as usize);
        self.source
            .char_indices()
            .take_while(|(i, _)| *i < byte)
            .count()
    }
}

struct Walk<'a> {
    /// Comprehension variables in scope, and the path each stands for.
    bound: Vec<(String, Option<Path>)>,
    facts: Facts,
    reads_root: bool,
    source: &'a Syntax,
}

impl Walk<'_> {
    fn expr(&mut self, e: &IdedExpr) {
        if let Some(path) = chain(self.source, e, &self.bound) {
            self.reads_root |= !self.bound.iter().any(|(n, _)| *n == path.root);
            self.facts.paths.push(PathUse {
                path,
                tested: false,
            });
            self.index_arguments(e);
            return;
        }
        match &e.expr {
            Expr::Ident(name) => {
                if ROOT_VARIABLES.contains(&name.as_str())
                    && !self.bound.iter().any(|(n, _)| n == name)
                {
                    self.reads_root = true;
                }
            }
            Expr::Select(select) if select.test => {
                if let Some(path) = chain(self.source, &select.operand, &self.bound) {
                    self.facts.guards.push((path.clone(), select.field.clone()));
                    // The node is written at `has(`: the name is after the operand's last one.
                    let after = path
                        .steps
                        .last()
                        .map_or_else(|| self.source.offset(&select.operand), |s| s.offset);
                    let offset = field_after(&self.source.source, after, &select.field);
                    let mut tested = path;
                    tested.steps.push(Step {
                        name: select.field.clone(),
                        access: Access::Field,
                        offset,
                    });
                    self.reads_root |= !self.bound.iter().any(|(n, _)| *n == tested.root);
                    self.facts.paths.push(PathUse {
                        path: tested,
                        tested: true,
                    });
                    self.index_arguments(&select.operand);
                } else {
                    self.expr(&select.operand);
                }
            }
            Expr::Select(select) => self.expr(&select.operand),
            Expr::Call(call) => {
                if call.func_name == "@in" {
                    if let [IdedExpr {
                        expr: Expr::Literal(LiteralValue::String(key)),
                        ..
                    }, collection] = call.args.as_slice()
                    {
                        if let Some(path) = chain(self.source, collection, &self.bound) {
                            self.facts.guards.push((path, key.inner().to_owned()));
                        }
                    }
                }
                let live = matches!(
                    call.target.as_deref(),
                    Some(IdedExpr { expr: Expr::Ident(ns), .. })
                        if ns == "kms" && !self.bound.iter().any(|(n, _)| n == ns)
                );
                if live {
                    self.facts
                        .live_calls
                        .push(format!("kms.{}", call.func_name));
                    self.reads_root = true;
                } else if let Some(target) = &call.target {
                    self.expr(target);
                }
                call.args.iter().for_each(|a| self.expr(a));
            }
            Expr::List(_) | Expr::Map(_) | Expr::Struct(_) => {
                visit::children(e, |child| self.expr(child))
            }
            Expr::Comprehension(c) => {
                self.expr(&c.iter_range);
                self.expr(&c.accu_init);
                let before = self.bound.len();
                let range = chain(self.source, &c.iter_range, &self.bound);
                let element = range.map(|mut p| {
                    p.steps.push(Step {
                        name: String::new(),
                        access: Access::Element,
                        offset: 0,
                    });
                    p
                });
                // A list's variable is an element; two variables: an index and an element.
                let (first, second) = match &c.iter_var2 {
                    Some(_) => (None, element),
                    None => (element, None),
                };
                self.bound.push((c.iter_var.clone(), first));
                if let Some(v2) = &c.iter_var2 {
                    self.bound.push((v2.clone(), second));
                }
                // `cel.bind(x, path, ...)`: the accumulator stands for the path.
                let init = chain(self.source, &c.accu_init, &self.bound[..before]);
                self.bound.push((c.accu_var.clone(), init));
                self.expr(&c.loop_cond);
                self.expr(&c.loop_step);
                self.expr(&c.result);
                self.bound.truncate(before);
            }
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    /// Walks the index expressions inside a chain (`a[b.c]`): they are reads of their own.
    fn index_arguments(&mut self, e: &IdedExpr) {
        match &e.expr {
            Expr::Select(s) => self.index_arguments(&s.operand),
            Expr::Call(c) if matches!(c.func_name.as_str(), "_[_]" | "_[?_]" | "_?._") => {
                if let Some(first) = c.args.first() {
                    self.index_arguments(first);
                }
                if c.func_name != "_?._" {
                    if let Some(index) = c.args.get(1) {
                        self.expr(index);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The character offset of `field` in `.field` (or `.?field`) at or after offset `from` of
/// `source`; `from` when it is not found.
fn field_after(source: &str, from: usize, field: &str) -> usize {
    let chars: Vec<char> = source.chars().collect();
    let name: Vec<char> = field.chars().collect();
    (from..chars.len())
        .find_map(|i| {
            if chars[i] != '.' {
                return None;
            }
            let start = if chars.get(i + 1) == Some(&'?') {
                i + 2
            } else {
                i + 1
            };
            chars
                .get(start..start + name.len())
                .is_some_and(|c| c == name.as_slice())
                .then_some(start)
        })
        .unwrap_or(from)
}

/// The path `e` reads, when it is a chain of selects and indexes on a root variable, on
/// `variables.NAME`, or on a comprehension variable that stands for a path.
fn chain(source: &Syntax, e: &IdedExpr, bound: &[(String, Option<Path>)]) -> Option<Path> {
    match &e.expr {
        Expr::Ident(name) => match bound.iter().rev().find(|(n, _)| n == name) {
            Some((_, path)) => path.clone(),
            None if ROOT_VARIABLES.contains(&name.as_str()) && name != "variables" => Some(Path {
                root: name.clone(),
                steps: Vec::new(),
            }),
            None => None,
        },
        Expr::Select(select) if !select.test => {
            if let Expr::Ident(root) = &select.operand.expr {
                if root == "variables" && !bound.iter().any(|(n, _)| n == root) {
                    return Some(Path {
                        root: format!("variables.{}", select.field),
                        steps: Vec::new(),
                    });
                }
            }
            let mut path = chain(source, &select.operand, bound)?;
            path.steps.push(Step {
                name: select.field.clone(),
                access: Access::Field,
                offset: source.offset(e) + 1,
            });
            Some(path)
        }
        Expr::Call(call) if call.target.is_none() && call.args.len() == 2 => {
            let access = match call.func_name.as_str() {
                "_?._" => Access::OptionalField,
                "_[_]" => Access::Key,
                "_[?_]" => Access::OptionalKey,
                _ => return None,
            };
            let mut path = chain(source, &call.args[0], bound)?;
            let (name, access, offset) = match &call.args[1].expr {
                Expr::Literal(LiteralValue::String(s)) => {
                    // `.?name` is written at its operator, `['name']` at its literal (+1: quote).
                    let offset = match access {
                        Access::OptionalField => source.offset(e) + 2,
                        _ => source.offset(&call.args[1]) + 1,
                    };
                    (s.inner().to_owned(), access, offset)
                }
                _ => (String::new(), Access::Element, source.offset(&call.args[1])),
            };
            path.steps.push(Step {
                name,
                access,
                offset,
            });
            Some(path)
        }
        _ => None,
    }
}

/// The type of a value, from its syntax alone.
fn result_type(e: &IdedExpr) -> Option<&'static str> {
    match &e.expr {
        Expr::Literal(literal) => Some(match literal {
            LiteralValue::String(_) => "string",
            LiteralValue::Bytes(_) => "bytes",
            LiteralValue::Boolean(_) => "bool",
            LiteralValue::Int(_) => "int",
            LiteralValue::UInt(_) => "uint",
            LiteralValue::Double(_) => "double",
            LiteralValue::Null => "null_type",
        }),
        Expr::List(_) => Some("list"),
        Expr::Map(_) => Some("map"),
        Expr::Select(s) if s.test => Some("bool"),
        Expr::Call(call) => match call.func_name.as_str() {
            "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" | "_&&_" | "_||_" | "!_" | "@in"
            | "startsWith" | "endsWith" | "contains" | "matches" | "hasValue" => Some("bool"),
            "size" | "int" => Some("int"),
            "string" | "lowerAscii" | "upperAscii" | "trim" | "join" | "replace" | "format"
            | "substring" => Some("string"),
            "_+_" => {
                let types: Vec<_> = call.args.iter().map(result_type).collect();
                match types.as_slice() {
                    [Some(a), _] | [_, Some(a)] if *a == "string" => Some("string"),
                    [Some(a), Some(b)] if a == b => Some(a),
                    _ => None,
                }
            }
            "_?_:_" => match (result_type(&call.args[1]), result_type(&call.args[2])) {
                (Some(a), Some(b)) if a == b => Some(a),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// The path an expression evaluates to (see [`Facts::alias`]).
fn alias(source: &Syntax, e: &IdedExpr, bound: &[(String, Option<Path>)]) -> Option<Path> {
    if let Some(path) = chain(source, e, bound) {
        return Some(path);
    }
    match &e.expr {
        Expr::Call(call) if call.func_name == "_?_:_" && call.args.len() == 3 => {
            let branches: Vec<&IdedExpr> =
                call.args[1..].iter().filter(|b| !is_fallback(b)).collect();
            let mut paths = branches.iter().map(|b| alias(source, b, bound));
            let first = paths.next()??;
            paths
                .all(|p| p.as_ref().map(Path::text) == Some(first.text()))
                .then_some(first)
        }
        Expr::Call(call) if call.func_name == "dyn" && call.args.len() == 1 => {
            alias(source, &call.args[0], bound)
        }
        _ => None,
    }
}

/// `{}`, `[]`, `null`, or `{}['message']` (an error on purpose): what a defensive check falls
/// back on.
fn is_fallback(e: &IdedExpr) -> bool {
    match &e.expr {
        Expr::Map(m) => m.entries.is_empty(),
        Expr::List(l) => l.elements.is_empty(),
        Expr::Literal(LiteralValue::Null) => true,
        Expr::Call(call) if call.func_name == "_[_]" => {
            matches!(&call.args[0].expr, Expr::Map(m) if m.entries.is_empty())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::analysis::Syntax;
    use crate::syntax::{on_parse_stack, parse};

    fn facts(source: &str) -> super::Facts {
        on_parse_stack(|| Ok(Syntax::new(source, parse(source)?).facts()))
            .unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    /// Each path read, as `text@offset of its last step`.
    fn paths(source: &str) -> Vec<String> {
        facts(source)
            .paths
            .iter()
            .map(|u| {
                format!(
                    "{}{}@{}",
                    if u.tested { "has " } else { "" },
                    u.path.text(),
                    u.path.steps.last().map_or(0, |s| s.offset)
                )
            })
            .collect()
    }

    #[test]
    fn paths_and_where_their_last_name_is() {
        let cases: &[(&str, &[&str])] = &[
            ("object.metadata.name", &["object.metadata.name@16"]),
            ("object.metadata.?labels", &["object.metadata.labels@17"]),
            (
                "object.metadata.labels['a'] == 'b'",
                &["object.metadata.labels['a']@24"],
            ),
            (
                "has(object.spec.template) && variables.v.x",
                &["has object.spec.template@16", "variables.v.x@41"],
            ),
            (
                "object.spec.containers.all(c, c.image != '')",
                &[
                    "object.spec.containers@12",
                    "object.spec.containers[].image@32",
                ],
            ),
            (
                "[1].exists(x, x == 1) || params.a[object.b].c",
                &["params.a[].c@44", "object.b@41"],
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(paths(source), *expected, "{source}");
        }
    }

    #[test]
    fn guards_constants_types_and_aliases() {
        let f = facts("'k' in object.metadata.labels && has(object.metadata.annotations.x)");
        let guards: Vec<(String, String)> = f
            .guards
            .iter()
            .map(|(p, k)| (p.text(), k.clone()))
            .collect();
        assert_eq!(
            guards,
            vec![
                ("object.metadata.labels".to_owned(), "k".to_owned()),
                ("object.metadata.annotations".to_owned(), "x".to_owned())
            ]
        );
        let cases: &[(&str, bool, Option<&str>)] = &[
            ("1 == 1", true, Some("bool")),
            ("[1, 2].all(x, x > 0)", true, None),
            ("object.a == 1", false, Some("bool")),
            ("'a' + object.b", false, Some("string")),
            ("42", true, Some("int")),
            ("size(variables.v)", false, Some("int")),
        ];
        for (source, constant, result) in cases {
            let f = facts(source);
            assert_eq!(
                (f.constant, f.result_type),
                (*constant, *result),
                "{source}"
            );
        }
        let aliases: &[(&str, Option<&str>)] = &[
            ("object.spec", Some("object.spec")),
            (
                "!has(object.spec) || object.spec == null ? {} : type(object.spec) == map ? object.spec : {}['x']",
                Some("object.spec"),
            ),
            ("variables.v.template", Some("variables.v.template")),
            ("true ? object.a : object.b", None),
            ("object.a + 'x'", None),
        ];
        for (source, expected) in aliases {
            assert_eq!(
                facts(source).alias.map(|p| p.text()).as_deref(),
                *expected,
                "{source}"
            );
        }
    }
}
