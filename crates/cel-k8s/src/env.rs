//! The public API: an [`Environment`] compiles expressions into [`Program`]s, and a program
//! evaluates against an [`Activation`] (the root variables and the `variables` of one
//! document) with a [`Meter`] (the budget of one evaluation).

use crate::cost::{Meter, DEFAULT_MAX_EXPRESSION_COST};
use crate::error::{CompileError, EvalError};
use crate::library::Library;
use crate::live::LiveData;
use crate::program::Program;
use crate::value::{Map, Tree, Value};
use std::cell::{Cell, OnceCell};
use std::cmp::Ordering;
use std::sync::Arc;

/// What an expression is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    /// A condition, variable, validation or message: no object literals.
    #[default]
    Check,
    /// A mutation: may build `Object{...}` and `JSONPatch{...}` literals (as maps).
    Mutation,
}

/// How to compile one expression.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileOptions<'o> {
    /// The names `variables.NAME` may use; `variables.NAME` reads the activation's variable at
    /// the same index. A policy's variable `i` is compiled with the names before it.
    pub variables: &'o [&'o str],
    pub purpose: Purpose,
}

/// The root variables of an admission expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    Object,
    OldObject,
    Request,
    Params,
    NamespaceObject,
}

impl Root {
    /// Every root, in slot order.
    pub const ALL: [Root; 5] = [
        Root::Object,
        Root::OldObject,
        Root::Request,
        Root::Params,
        Root::NamespaceObject,
    ];

    /// The root a name is, if it is one.
    pub fn of(name: &str) -> Option<Root> {
        Some(match name {
            "object" => Root::Object,
            "oldObject" => Root::OldObject,
            "request" => Root::Request,
            "params" => Root::Params,
            "namespaceObject" => Root::NamespaceObject,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Root::Object => "object",
            Root::OldObject => "oldObject",
            Root::Request => "request",
            Root::Params => "params",
            Root::NamespaceObject => "namespaceObject",
        }
    }
}

/// The variables a Kubernetes admission expression sees (`variables` is read as
/// `variables.NAME`).
pub const ROOT_VARIABLES: &[&str] = &[
    "object",
    "oldObject",
    "request",
    "params",
    "namespaceObject",
    "variables",
];

/// The functions of Kubernetes' CEL, and the budget of one evaluation. Build it once and
/// share it (`Arc`): compiling is `&self`.
#[derive(Clone)]
pub struct Environment {
    library: Arc<Library>,
    budget: u64,
}

impl Default for Environment {
    fn default() -> Self {
        Environment::new()
    }
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("budget", &self.budget)
            .field("overloads", &self.library.overloads().len())
            .finish()
    }
}

impl Environment {
    /// The standard library and every library the crate implements, the extensions beyond
    /// Kubernetes included, with the default budget: for tools and tests. A policy's
    /// expressions are compiled for a target ([`Environment::for_profile`], or checked
    /// against declarations of one, [`Environment::compile_checked`]).
    pub fn new() -> Environment {
        let mut library = Library::default();
        crate::stdlib::register(&mut library);
        crate::libs::register_all(&mut library);
        Environment {
            library: Arc::new(library),
            budget: DEFAULT_MAX_EXPRESSION_COST,
        }
    }

    /// The functions a target offers (see [`crate::profile`]), with the default budget.
    pub fn for_profile(profile: crate::profile::Profile) -> Environment {
        Environment {
            library: crate::libs::library_for(profile),
            budget: DEFAULT_MAX_EXPRESSION_COST,
        }
    }

    /// The same environment, with another runtime budget per evaluation of one expression.
    pub fn with_budget(mut self, units: u64) -> Environment {
        self.budget = units;
        self
    }

    /// Cost units one evaluation of one expression may spend.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// A meter with this environment's budget, for one evaluation.
    pub fn meter(&self) -> Meter {
        Meter::new(self.budget)
    }

    /// The functions expressions may call.
    pub fn library(&self) -> &Library {
        &self.library
    }

    /// Compiles an expression: parses it (on a thread with a large stack), resolves its names
    /// and calls, folds its constants and compiles its constant regexes. Unknown variables and
    /// functions, invalid constant regexes and hostile nesting are errors with a position.
    pub fn compile(
        &self,
        source: &str,
        options: &CompileOptions<'_>,
    ) -> Result<Program, CompileError> {
        crate::syntax::on_parse_stack(|| {
            let parsed = crate::syntax::parse(source)?;
            self.compile_parsed(source, &parsed, options)
        })
    }

    /// [`Environment::compile`] of an expression parsed already ([`crate::syntax::parse`]).
    /// Call it inside [`crate::syntax::on_parse_stack`] (compiling recurses on the tree).
    pub fn compile_parsed(
        &self,
        source: &str,
        parsed: &crate::syntax::Parsed,
        options: &CompileOptions<'_>,
    ) -> Result<Program, CompileError> {
        crate::program::compile(&self.library, source, parsed, options, None)
    }

    /// [`Environment::compile`], after type-checking the expression against `declarations`
    /// (see [`crate::check`]) from the same parse: the checker's errors, in the order of their
    /// positions, refuse it. The program calls the functions of the declarations' target
    /// ([`crate::check::Declarations::target`]). Returns the program and what checking found
    /// (its result type).
    pub fn compile_checked(
        &self,
        source: &str,
        options: &CompileOptions<'_>,
        declarations: &crate::check::Declarations,
    ) -> Result<(Program, crate::check::Checked), Vec<CompileError>> {
        let outcome = crate::syntax::on_parse_stack(|| {
            let parsed = crate::syntax::parse(source)?;
            Ok(self.compile_checked_parsed(source, &parsed, options, declarations))
        });
        match outcome {
            Ok(result) => result,
            Err(error) => Err(vec![error]),
        }
    }

    /// [`Environment::compile_checked`] of an expression parsed already. Call it inside
    /// [`crate::syntax::on_parse_stack`].
    pub fn compile_checked_parsed(
        &self,
        source: &str,
        parsed: &crate::syntax::Parsed,
        options: &CompileOptions<'_>,
        declarations: &crate::check::Declarations,
    ) -> Result<(Program, crate::check::Checked), Vec<CompileError>> {
        let checked = crate::check::check(&parsed.expr, &parsed.info, declarations)?;
        let library = crate::libs::library_for(declarations.target());
        let program = crate::program::compile(&library, source, parsed, options, Some(&checked))
            .map_err(|e| vec![e])?;
        Ok((program, checked))
    }

    /// Evaluates a program with a fresh meter of this environment's budget.
    pub fn evaluate<'a>(
        &self,
        program: &'a Program,
        activation: &Activation<'a>,
    ) -> Result<Value<'a>, EvalError> {
        program.evaluate(activation, &mut self.meter())
    }
}

/// Where a variable's value is kept once evaluated: a cell of the activation's own, or one
/// the caller shares between activations (the same definition in several policies).
pub type VariableCell<'a> = OnceCell<Result<Value<'a>, EvalError>>;

/// The names and programs of a policy's `variables`, kept outside the activations that read
/// them (see [`Activation::define_variables`]). Variable `i` may read only the variables
/// before it, as compiled with [`CompileOptions::variables`] naming those (reading itself or a
/// later one is an error).
pub trait VariableDefinitions {
    /// The name and program of variable `index`, if there is one.
    fn definition(&self, index: usize) -> Option<(&str, &Program)>;
    /// How many variables there are.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where the value of a variable defined by [`Activation::define_variables`] is kept: cell
/// `slot` of the cells its activation shares with others ([`SharedCells`]), those of its
/// parameter object when it reads `params` (itself or through the variables it reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariableSlot {
    pub slot: usize,
    pub uses_params: bool,
}

/// The cells the activations of one request share ([`Activation::define_variables`]): those of
/// the values that do not read `params`, and those of the values that do, for the activation's
/// parameter object (`None`: such values are kept by the activation itself). A slot beyond
/// them is kept by the activation itself too.
#[derive(Debug, Clone, Copy)]
pub struct SharedCells<'a> {
    pub request: &'a [VariableCell<'a>],
    pub params: Option<&'a [VariableCell<'a>]>,
}

/// Variables defined at once (see [`Activation::define_variables`]).
struct VariableTable<'a> {
    definitions: &'a dyn VariableDefinitions,
    slots: &'a [VariableSlot],
    cells: SharedCells<'a>,
    /// Cells for the values not shared, made on first use.
    own: OnceCell<Box<[VariableCell<'a>]>>,
    /// The variable being evaluated (`usize::MAX`: none): it may read only those before it.
    evaluating: Cell<usize>,
}

impl<'a> VariableTable<'a> {
    #[inline]
    fn cell(&self, index: usize) -> Option<&VariableCell<'a>> {
        let slot = self.slots.get(index)?;
        let cells = match slot.uses_params {
            true => self.cells.params,
            false => Some(self.cells.request),
        };
        match cells.and_then(|cells| cells.get(slot.slot)) {
            Some(cell) => Some(cell),
            None => self.own_cell(index),
        }
    }

    /// The cell of a value not shared.
    #[cold]
    #[inline(never)]
    fn own_cell(&self, index: usize) -> Option<&VariableCell<'a>> {
        let own = self
            .own
            .get_or_init(|| (0..self.slots.len()).map(|_| OnceCell::new()).collect());
        own.get(index)
    }
}

/// One `variables.NAME` of an activation: a program evaluated on first use, or a value given.
struct DefinedVariable<'a> {
    name: &'a str,
    program: Option<&'a Program>,
    cell: VariableCell<'a>,
    evaluating: Cell<bool>,
}

/// An activation's `variables`: defined one by one, or by a table.
enum Variables<'a> {
    Slots(Vec<DefinedVariable<'a>>),
    Table(VariableTable<'a>),
}

/// What an expression sees: the root variables (unset ones are `null`) and the `variables`,
/// evaluated lazily (each at most once per activation, on first use, with a budget of its own)
/// and cached, as Kubernetes does.
///
/// Build one per document (and parameter object): bind the roots, define the policy's
/// variables in order (or all at once, [`Activation::define_variables`]), then evaluate every
/// expression of the policy against it.
pub struct Activation<'a> {
    roots: [Value<'a>; 5],
    variables: Variables<'a>,
    live: Option<&'a dyn LiveData>,
}

impl Default for Activation<'_> {
    fn default() -> Self {
        Activation::new()
    }
}

impl<'a> Activation<'a> {
    /// Every root `null`, no variables.
    pub fn new() -> Activation<'a> {
        Activation {
            roots: [
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
            variables: Variables::Slots(Vec::new()),
            live: None,
        }
    }

    /// Gives the `kms` functions a snapshot of live data (without one, `kms.available()` is
    /// false and the others fail).
    pub fn set_live(&mut self, live: &'a dyn LiveData) -> &mut Self {
        self.live = Some(live);
        self
    }

    /// The live data bound, if any.
    pub fn live(&self) -> Option<&'a dyn LiveData> {
        self.live
    }

    /// Binds a root variable.
    #[inline]
    pub fn bind(&mut self, root: Root, value: Value<'a>) -> &mut Self {
        self.roots[root as usize] = value;
        self
    }

    /// Binds a root variable to a document read in place.
    #[inline]
    pub fn bind_tree(&mut self, root: Root, tree: &'a dyn Tree) -> &mut Self {
        self.bind(root, Value::from_tree(tree))
    }

    /// The value of a root variable.
    #[inline]
    pub fn root(&self, root: Root) -> &Value<'a> {
        &self.roots[root as usize]
    }

    /// The variables defined one by one (those of a table are dropped: see
    /// [`Activation::define_variables`]).
    fn slots(&mut self) -> &mut Vec<DefinedVariable<'a>> {
        if let Variables::Table(..) = self.variables {
            self.variables = Variables::Slots(Vec::new());
        }
        match &mut self.variables {
            Variables::Slots(slots) => slots,
            Variables::Table(..) => unreachable!("replaced above"),
        }
    }

    /// Adds the next variable (index = number defined before): evaluated on first use.
    #[inline]
    pub fn define_variable(&mut self, name: &'a str, program: &'a Program) -> &mut Self {
        self.slots().push(DefinedVariable {
            name,
            program: Some(program),
            cell: OnceCell::new(),
            evaluating: Cell::new(false),
        });
        self
    }

    /// Adds the next variable with a value computed already (or its error).
    pub fn set_variable(
        &mut self,
        name: &'a str,
        value: Result<Value<'a>, EvalError>,
    ) -> &mut Self {
        let cell = OnceCell::new();
        let _ = cell.set(value);
        self.slots().push(DefinedVariable {
            name,
            program: None,
            cell,
            evaluating: Cell::new(false),
        });
        self
    }

    /// Defines all the variables at once (in place of any defined before; defining one by one
    /// afterwards starts over): variable `i` is `definitions`' and its value is kept in the cell
    /// `slots[i]` says, shared with the other activations that have it; each is evaluated on
    /// first use in any of them.
    pub fn define_variables(
        &mut self,
        definitions: &'a dyn VariableDefinitions,
        slots: &'a [VariableSlot],
        cells: SharedCells<'a>,
    ) -> &mut Self {
        self.variables = Variables::Table(VariableTable {
            definitions,
            slots,
            cells,
            own: OnceCell::new(),
            evaluating: Cell::new(usize::MAX),
        });
        self
    }

    /// The number of variables defined.
    pub fn variable_count(&self) -> usize {
        match &self.variables {
            Variables::Slots(slots) => slots.len(),
            Variables::Table(table) => table.definitions.len(),
        }
    }

    /// The cell of variable `index`, if it is defined.
    #[inline]
    fn cell(&self, index: usize) -> Option<&VariableCell<'a>> {
        match &self.variables {
            Variables::Slots(slots) => slots.get(index).map(|s| &s.cell),
            Variables::Table(table) => table.cell(index),
        }
    }

    /// The name of variable `index` and its program (none for a value given).
    fn definition(&self, index: usize) -> Option<(&'a str, Option<&'a Program>)> {
        match &self.variables {
            Variables::Slots(slots) => slots.get(index).map(|s| (s.name, s.program)),
            Variables::Table(table) => table
                .definitions
                .definition(index)
                .map(|(n, p)| (n, Some(p))),
        }
    }

    /// The value of variable `index` if it was evaluated (or set) already.
    pub fn variable_if_evaluated(&self, index: usize) -> Option<&Result<Value<'a>, EvalError>> {
        self.cell(index).and_then(OnceCell::get)
    }

    /// The value of variable `index`, evaluated now if it was not yet (with a budget of
    /// `budget` units). Its error is `variables.NAME: ...`.
    #[inline]
    pub fn variable(&self, index: usize, budget: u64) -> Result<Value<'a>, EvalError> {
        self.variable_result(index, budget)?.clone()
    }

    /// [`Activation::variable`], without copying the value.
    #[inline]
    pub(crate) fn variable_ref(&self, index: usize, budget: u64) -> Result<&Value<'a>, EvalError> {
        self.variable_result(index, budget)?
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The kept result of variable `index`, evaluated now if it was not yet; an error when it
    /// cannot be evaluated (not defined, or read where it may not be).
    #[inline]
    fn variable_result(
        &self,
        index: usize,
        budget: u64,
    ) -> Result<&Result<Value<'a>, EvalError>, EvalError> {
        match self.cell(index).and_then(OnceCell::get) {
            Some(kept) => Ok(kept),
            None => self.evaluate_variable_now(index, budget),
        }
    }

    /// [`Activation::variable_result`] of a variable not evaluated yet (or not defined).
    #[inline(never)]
    fn evaluate_variable_now(
        &self,
        index: usize,
        budget: u64,
    ) -> Result<&Result<Value<'a>, EvalError>, EvalError> {
        let (Some(cell), Some((name, program))) = (self.cell(index), self.definition(index)) else {
            return Err(EvalError::new(format!("variables #{index} is not defined")));
        };
        if let Some(kept) = cell.get() {
            return Ok(kept);
        }
        let refers_to_itself = || EvalError::new(format!("variables.{name}: refers to itself"));
        if let Variables::Table(table) = &self.variables {
            // A table's variable reads only the variables before it.
            match index.cmp(&table.evaluating.get()) {
                Ordering::Less => {}
                Ordering::Equal => return Err(refers_to_itself()),
                Ordering::Greater => {
                    return Err(EvalError::new(format!(
                        "variables.{name}: read by a variable defined before it"
                    )))
                }
            }
        }
        // Usually what it reads is kept already: evaluate it alone.
        let ready = |i: usize| self.cell(i).is_none_or(|c| c.get().is_some());
        let program_of = |i: usize| self.definition(i).and_then(|(_, p)| p);
        match program {
            Some(program) if program.variables_used().iter().all(|&d| ready(d)) => {
                self.evaluate_into(index, cell, name, program, budget);
            }
            None => {}
            Some(_) => {
                // What it needs first, in definition order, so that no evaluation nests
                // another: each finds the variables it reads kept.
                for i in needed_in_order(index, ready, program_of) {
                    self.evaluate_variable(i, budget);
                }
            }
        }
        cell.get().ok_or_else(refers_to_itself)
    }

    fn evaluate_variable(&self, index: usize, budget: u64) {
        if let (Some(cell), Some((name, Some(program)))) =
            (self.cell(index), self.definition(index))
        {
            self.evaluate_into(index, cell, name, program, budget);
        }
    }

    /// Evaluates variable `index` (`name`, `program`) into its cell, unless it is kept
    /// already or being evaluated.
    fn evaluate_into(
        &self,
        index: usize,
        cell: &VariableCell<'a>,
        name: &str,
        program: &'a Program,
        budget: u64,
    ) {
        if cell.get().is_some() {
            return;
        }
        match &self.variables {
            Variables::Slots(slots) => {
                let slot = &slots[index];
                if slot.evaluating.replace(true) {
                    return;
                }
                let result = self.evaluate_program(name, program, budget);
                slot.evaluating.set(false);
                let _ = cell.set(result);
            }
            Variables::Table(table) => {
                let outer = table.evaluating.replace(index);
                let result = self.evaluate_program(name, program, budget);
                table.evaluating.set(outer);
                let _ = cell.set(result);
            }
        }
    }

    /// The value of variable `name`'s program.
    fn evaluate_program(
        &self,
        name: &str,
        program: &'a Program,
        budget: u64,
    ) -> Result<Value<'a>, EvalError> {
        program
            .evaluate(self, &mut Meter::new(budget))
            // As Kubernetes' composited variables say it (a variable that reads a failing
            // variable wraps that error in its own).
            .map_err(|e| {
                EvalError::new(format!(
                    "composited variable \"{name}\" fails to evaluate: {}",
                    e.0
                ))
            })
    }
}

/// The variables to evaluate before variable `index`, and `index` itself, in definition
/// order: those it reads that are not `ready`, what those read in turn, and so on (a variable
/// reads only variables defined before it, so walking down from `index` finds them all).
fn needed_in_order<'p>(
    index: usize,
    ready: impl Fn(usize) -> bool,
    program_of: impl Fn(usize) -> Option<&'p Program>,
) -> NeededInOrder {
    if index < 64 {
        // Bit sets (a machine word: policies rarely have more variables): the highest
        // pending variable is visited first, and what it reads (lower) joins the pending ones.
        let mut needed: u64 = 1 << index;
        let mut pending = needed;
        while pending != 0 {
            let i = 63 - pending.leading_zeros() as usize;
            pending ^= 1 << i;
            if let Some(program) = program_of(i) {
                for &d in program.variables_used() {
                    if d < i && needed & (1 << d) == 0 && !ready(d) {
                        needed |= 1 << d;
                        pending |= 1 << d;
                    }
                }
            }
        }
        return NeededInOrder::Bits(needed);
    }
    let mut needed = vec![index];
    let mut pending = vec![index];
    while let Some(i) = pending.pop() {
        if let Some(program) = program_of(i) {
            for &d in program.variables_used() {
                if d < i && !ready(d) && !needed.contains(&d) {
                    needed.push(d);
                    pending.push(d);
                }
            }
        }
    }
    needed.sort_unstable();
    NeededInOrder::Listed(needed.into_iter())
}

/// The indexes [`needed_in_order`] found, lowest first.
enum NeededInOrder {
    Bits(u64),
    Listed(std::vec::IntoIter<usize>),
}

impl Iterator for NeededInOrder {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            NeededInOrder::Bits(0) => None,
            NeededInOrder::Bits(bits) => {
                let i = bits.trailing_zeros() as usize;
                *bits &= *bits - 1;
                Some(i)
            }
            NeededInOrder::Listed(listed) => listed.next(),
        }
    }
}

/// A map value over a document, for binding: `Value::Map(Map::Tree(tree))`.
pub fn tree_value(tree: &dyn Tree) -> Value<'_> {
    match tree.is_map() {
        true => Value::Map(Map::Tree(tree)),
        false => Value::from_tree(tree),
    }
}

impl Program {
    /// Evaluates the program against an activation, charging `meter`. Once the meter has run
    /// out, the result is the budget error whatever the expression did with its errors.
    pub fn evaluate<'a>(
        &'a self,
        activation: &Activation<'a>,
        meter: &mut Meter,
    ) -> Result<Value<'a>, EvalError> {
        let result = crate::eval::run(self, activation, meter);
        if meter.exceeded() {
            return Err(meter.exceeded_error());
        }
        result
    }
}
