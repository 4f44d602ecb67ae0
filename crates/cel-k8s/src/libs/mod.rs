//! Kubernetes' CEL libraries on the crate's own [`Value`](crate::value::Value): every function
//! of `docs/cel-functions.md` beyond the standard ones and optionals (those are `stdlib`'s).
//!
//! One module per library, each with `register`; [`register_all`] adds them all. Functions
//! take their arguments with the receiver first, dispatch on the kinds they get and answer
//! [`EvalError::no_overload`](crate::EvalError::no_overload) for kinds they do not take.
//! Errors name the function, never the input (it may be a secret); sizes an input controls
//! are bounded.

pub mod encoders;
mod gosort;
pub mod jsonpatch;
pub mod kms;
pub mod lists;
pub mod math;
pub mod named_formats;
pub mod net;
pub mod quantity;
pub mod re2;
pub mod regex;
pub mod semver;
pub mod sets;
pub mod strfmt;
pub mod strings;
mod support;
pub mod url;

use crate::library::{Library, Style};
use crate::profile::{Extension, Feature, Profile};
use crate::value::Value;
use crate::EvalError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The functions a target offers: every library's, less what its Kubernetes release lacks
/// and the extensions it does not ask for (the runtime half of what the type checker's
/// declarations refuse: a call on a `dyn` receiver resolves here). Built once per profile.
pub fn library_for(profile: Profile) -> Arc<Library> {
    static BUILT: OnceLock<Mutex<HashMap<Profile, Arc<Library>>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(built.entry(profile).or_insert_with(|| {
        let mut library = Library::default();
        crate::stdlib::register(&mut library);
        register_for(&mut library, profile);
        Arc::new(library)
    }))
}

/// Registers the library functions `profile` offers.
pub fn register_for(library: &mut Library, profile: Profile) {
    register_all(library);
    let lacks = |feature| !profile.offers(feature);
    let lists_v3 = !lacks(Feature::ListsVersion3);
    let strings_v3 = !lacks(Feature::Extension(Extension::Strings));
    library.remove(|name, style| {
        let gated = match name {
            "slice" | "flatten" | "distinct" | "sort" | "lists.range" | lists::SORT_BY_KEYS => {
                Feature::ListsVersion3
            }
            "includes" => Feature::ListsIncludes,
            "first" | "last" | "optional.unwrap" | "unwrapOpt" => Feature::OptionalVersion2,
            "validate" => Feature::NamedFormats,
            n if n.starts_with("format.") => Feature::NamedFormats,
            "semver" | "isSemver" | "major" | "minor" | "patch" => Feature::Semver,
            n if n.starts_with("math.") => Feature::Extension(Extension::Math),
            n if n.starts_with("base64.") => Feature::Extension(Extension::Encoders),
            n if n.starts_with("kms.") => Feature::Extension(Extension::Kms),
            "sign" if style == Style::Receiver => Feature::Never("sign(q)"),
            _ => return false,
        };
        lacks(gated)
    });
    match (lists_v3, strings_v3) {
        (true, true) => {}
        (true, false) => library.add("reverse", Style::Receiver, 1, reverse_list),
        (false, true) => library.add("reverse", Style::Receiver, 1, reverse_string),
        (false, false) => library.remove(|name, _| name == "reverse"),
    }
}

/// `reverse` of ext.Lists version 3 only: a list's.
fn reverse_list<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::List(_)] => lists::reverse(args),
        _ => Err(support::no_overload("reverse", args)),
    }
}

/// `reverse` of the strings extension only: a string's.
fn reverse_string<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::String(_)] => strings::reverse(args),
        _ => Err(support::no_overload("reverse", args)),
    }
}

/// Registers every library function, the extensions' included ([`register_for`] keeps a
/// target's).
pub fn register_all(library: &mut Library) {
    strings::register(library);
    strfmt::register(library);
    lists::register(library);
    sets::register(library);
    regex::register(library);
    math::register(library);
    encoders::register(library);
    jsonpatch::register(library);
    quantity::register(library);
    semver::register(library);
    net::register(library);
    url::register(library);
    named_formats::register(library);
    kms::register(library);
}

/// The names of the library value types, as expressions name them (`type(x) == net.IP`).
pub const OPAQUE_TYPES: &[&str] = &[
    quantity::QUANTITY_TYPE,
    url::URL_TYPE,
    net::IP_TYPE,
    net::CIDR_TYPE,
    semver::SEMVER_TYPE,
    named_formats::FORMAT_TYPE,
];

/// The text `string()` gives a library value (`net.IP`, `net.CIDR`), `None` for the others,
/// for the standard `string` function.
pub fn opaque_to_string(value: &dyn crate::value::Opaque) -> Option<String> {
    net::to_text(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::Style;
    use crate::value::Value;

    /// The function reference the policy author reads; every function of the tables this
    /// module owns must be registered under its name.
    const REFERENCE: &str = include_str!("../../../../docs/cel-functions.md");

    /// Sections whose functions are the evaluator's (standard, optional) or macros.
    const NOT_OURS: &[&str] = &[
        "Standard functions and macros",
        "Optional values",
        "Lists of optional values (cel-go's optional library version 2, Kubernetes 1.33)",
        "Bindings and two-variable comprehensions (cel-go ext)",
        "Not supported, and differences from Kubernetes",
    ];

    #[test]
    fn every_documented_library_function_is_registered() {
        let mut library = Library::default();
        register_all(&mut library);
        let mut section = "";
        let mut checked = 0;
        for line in REFERENCE.lines() {
            if let Some(title) = line.strip_prefix("## ") {
                section = title;
                continue;
            }
            let Some(row) = line.strip_prefix("| `") else {
                continue;
            };
            if NOT_OURS.contains(&section) || row.contains("(macro)") {
                continue;
            }
            let name = row.split('`').next().unwrap_or_default();
            assert!(library.has(name), "{section}: {name} is not registered");
            checked += 1;
        }
        assert!(checked > 100, "the reference was read ({checked} rows)");
        // The helpers macro expansions call.
        assert!(library
            .lookup("@sortByAssociatedKeys", Style::Receiver, 2)
            .is_some());
        assert!(library.lookup("math.@max", Style::Global, 1).is_some());
        assert!(library.lookup("math.@min", Style::Global, 2).is_some());
    }

    #[test]
    fn shared_names_dispatch_on_the_receiver() {
        use crate::libs::support::testing::*;
        let mut library = Library::default();
        register_all(&mut library);
        let index_of = library.lookup("indexOf", Style::Receiver, 2).unwrap();
        check("string", index_of(&[s("abc"), s("c")]), i(2));
        check("list", index_of(&[l(vec![i(1), i(2)]), i(2)]), i(1));
        check_err(
            "other",
            index_of(&[i(1), i(2)]),
            "no matching overload for 'indexOf'",
        );
        let reverse = library.lookup("reverse", Style::Receiver, 1).unwrap();
        check("string", reverse(&[s("ab")]), s("ba"));
        check("list", reverse(&[l(vec![i(1), i(2)])]), l(vec![i(2), i(1)]));
        let ip = library.lookup("ip", Style::Global, 1).unwrap();
        let cidr = library.lookup("cidr", Style::Global, 1).unwrap();
        let cidr_ip = library.lookup("ip", Style::Receiver, 1).unwrap();
        let addr = cidr_ip(&[cidr(&[s("10.0.0.1/8")]).unwrap()]).unwrap();
        assert!(crate::libs::support::equals(
            &addr,
            &ip(&[s("10.0.0.1")]).unwrap()
        ));
        let Value::Opaque(o) = addr else {
            panic!("an IP")
        };
        assert_eq!(opaque_to_string(o.as_ref()).as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn library_values_name_their_types() {
        use crate::libs::support::testing::*;
        use crate::libs::support::type_name;
        let mut library = Library::default();
        register_all(&mut library);
        let made = [
            ("quantity", vec![s("1")]),
            ("url", vec![s("/")]),
            ("ip", vec![s("::1")]),
            ("cidr", vec![s("::1/128")]),
            ("semver", vec![s("1.0.0")]),
            ("format.uuid", vec![]),
        ];
        let names: Vec<&str> = made
            .iter()
            .map(|(f, args)| {
                let f = library.lookup(f, Style::Global, args.len()).unwrap();
                type_name(&f(args).unwrap())
            })
            .collect();
        assert_eq!(names, OPAQUE_TYPES);
    }

    /// Inputs an attacker controls end quickly, in an error or a result bounded by the input,
    /// never a panic.
    #[test]
    fn hostile_inputs_are_bounded() {
        use crate::libs::support::testing::*;
        let mut library = Library::default();
        register_all(&mut library);
        let call = |name: &str, style: Style, args: Vec<Value<'static>>| {
            let f = library
                .lookup(name, style, args.len())
                .unwrap_or_else(|| panic!("{name}"));
            f(&args)
        };
        use Style::{Global, Receiver};
        let q = |t: &str| call("quantity", Global, vec![s(t)]).unwrap();
        let outcomes = [
            call("split", Receiver, vec![s("abc"), s(""), i(i64::MAX)]).is_ok(),
            call("findAll", Receiver, vec![s("abc"), s(""), i(i64::MAX)]).is_ok(),
            call("findAll", Receiver, vec![s("abc"), s("("), i(2)]).is_err(),
            call("format", Receiver, vec![s("%.999999999f"), l(vec![d(1.0)])]).is_err(),
            call("add", Receiver, vec![q("1e2147483647"), q("1m")]).is_err(),
            call("compareTo", Receiver, vec![q("1e2147483647"), q("1e-9")]).is_ok(),
            call("sub", Receiver, vec![q("-1e2147483647"), q("1e2147483647")]).is_ok(),
            call("isInteger", Receiver, vec![q("1e-2147483647")]).is_ok(),
            call("asInteger", Receiver, vec![q("0e2147483647")]).is_ok(),
            call(
                "asApproximateFloat",
                Receiver,
                vec![q("99999999999999999999999999999999999999999Ei")],
            )
            .is_ok(),
            call("semver", Global, vec![s("99999999999999999999.0.0")]).is_err(),
            call("url", Global, vec![s("http://[::1")]).is_err(),
            call("min", Receiver, vec![l(vec![])]).is_err(),
            call("isSorted", Receiver, vec![l(vec![s("a"), i(1)])]).is_ok(),
            call("sum", Receiver, vec![l(vec![i(1), s("a")])]).is_err(),
            call("sum", Receiver, vec![l(vec![i(i64::MAX), i(1)])]).is_err(),
            call("lists.range", Global, vec![i(i64::MAX)]).is_err(),
            call("math.bitShiftLeft", Global, vec![i(1), i(i64::MAX)]).is_ok(),
            call(
                "substring",
                Receiver,
                vec![s("abc"), i(i64::MIN), i(i64::MAX)],
            )
            .is_err(),
            call("charAt", Receiver, vec![s("abc"), i(i64::MAX)]).is_err(),
        ];
        assert!(outcomes.iter().all(|ok| *ok), "{outcomes:?}");
    }
}
