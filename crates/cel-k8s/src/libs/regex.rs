//! Kubernetes' regex library: `find` and `findAll` (k8s.io/apiserver/pkg/cel/library/regex.go),
//! with a small per-thread cache of compiled patterns for patterns that are not constant
//! (the compiler compiles constant ones once, as a [`Pattern`]: the regex and, when it is small
//! enough, a dense DFA that `matches` searches without a per-thread cache).

use super::support::{fail, no_overload, string_list};
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::Value;
use regex::Regex;
use std::cell::RefCell;
use std::sync::Arc;

/// Largest compiled regex, in bytes.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Patterns kept per thread; the cache is cleared when full.
const CACHE_CAPACITY: usize = 64;

pub fn register(library: &mut Library) {
    library.add("find", Style::Receiver, 2, find);
    library.add("findAll", Style::Receiver, 2, find_all);
    library.add("findAll", Style::Receiver, 3, find_all);
}

/// A pattern compiled as every regex function compiles it (Go's RE2 syntax, read as
/// [`super::re2`] translates it; bounded size).
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    build(&translate(pattern)?)
}

fn translate(pattern: &str) -> Result<String, regex::Error> {
    super::re2::translate(pattern).map_err(|e| regex::Error::Syntax(e.to_string()))
}

fn build(translated: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(translated)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// The largest dense DFA built for a constant pattern (its table and the determinization's
/// working memory each); a pattern whose DFA would be larger is searched by `regex` alone.
pub const DFA_SIZE_LIMIT: usize = 256 << 10;

/// A constant pattern compiled at load: the regex, and when it is small enough, the same
/// pattern as a dense DFA, which `is_match` searches read-only. A lazy DFA (what `regex` uses)
/// builds its states in a cache taken from a pool per search; on a server whose searches run
/// on many threads, those caches move between cores on every request.
#[derive(Debug)]
pub struct Pattern {
    regex: Regex,
    dfa: Option<regex_automata::dfa::dense::DFA<Vec<u32>>>,
}

impl Pattern {
    /// Compiles `pattern` as [`compile`] does, and its dense DFA when it fits
    /// [`DFA_SIZE_LIMIT`] (patterns the DFA cannot express, such as Unicode word boundaries,
    /// keep the regex alone).
    pub fn new(pattern: &str) -> Result<Pattern, regex::Error> {
        let translated = translate(pattern)?;
        let regex = build(&translated)?;
        let dfa = dense_dfa(&translated);
        Ok(Pattern { regex, dfa })
    }

    /// Whether the pattern matches anywhere in `text`, as `regex::Regex::is_match`.
    #[inline]
    pub fn is_match(&self, text: &str) -> bool {
        use regex_automata::{dfa::Automaton, Input};
        if let Some(dfa) = &self.dfa {
            if let Ok(found) = dfa.try_search_fwd(&Input::new(text).earliest(true)) {
                return found.is_some();
            }
        }
        self.regex.is_match(text)
    }

    /// Whether the dense DFA was built.
    #[cfg(test)]
    fn has_dfa(&self) -> bool {
        self.dfa.is_some()
    }
}

/// The unanchored dense DFA of a translated pattern, with `regex`'s default syntax (Unicode,
/// UTF-8), or `None` when it would exceed [`DFA_SIZE_LIMIT`] or cannot be built.
fn dense_dfa(translated: &str) -> Option<regex_automata::dfa::dense::DFA<Vec<u32>>> {
    use regex_automata::dfa::{dense, StartKind};
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Unanchored)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
        )
        .thompson(
            regex_automata::nfa::thompson::Config::new().nfa_size_limit(Some(REGEX_SIZE_LIMIT)),
        )
        .build(translated)
        .ok()
}

thread_local! {
    static CACHE: RefCell<Vec<(String, Arc<Regex>)>> = const { RefCell::new(Vec::new()) };
}

/// The compiled pattern, from this thread's cache or compiled now. An invalid pattern is an
/// error naming the function (the pattern is not quoted: it may come from a document).
pub fn cached(function: &str, pattern: &str) -> Result<Arc<Regex>, EvalError> {
    if let Some(found) = CACHE.with(|c| {
        c.borrow()
            .iter()
            .find(|(p, _)| p == pattern)
            .map(|(_, r)| Arc::clone(r))
    }) {
        return Ok(found);
    }
    let compiled = Arc::new(compile(pattern).map_err(|e| {
        let why = match e {
            regex::Error::CompiledTooBig(_) => "the compiled pattern is too large",
            _ => "invalid regular expression",
        };
        fail(function, why)
    })?);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_CAPACITY {
            c.clear();
        }
        c.push((pattern.to_owned(), Arc::clone(&compiled)));
    });
    Ok(compiled)
}

/// The first match, or `''`.
fn find<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::String(s), Value::String(pattern)] = args else {
        return Err(no_overload("find", args));
    };
    let regex = cached("find", pattern)?;
    Ok(Value::string(
        regex.find(s).map(|m| m.as_str()).unwrap_or_default(),
    ))
}

/// Go's `FindAllString(s, n)`: the first `n` matches, all when `n` is negative, an empty match
/// right after the previous match skipped.
fn find_all<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (s, pattern, n) = match args {
        [Value::String(s), Value::String(p)] => (s, p, -1),
        [Value::String(s), Value::String(p), Value::Int(n)] => (s, p, *n),
        _ => return Err(no_overload("findAll", args)),
    };
    let regex = cached("findAll", pattern)?;
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    let mut previous_end = None;
    let matches = regex.find_iter(s).filter(|m| {
        let abutting = m.is_empty() && previous_end == Some(m.start());
        previous_end = Some(m.end());
        !abutting
    });
    Ok(string_list(
        matches.take(limit).map(|m| m.as_str().to_owned()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libs::support::testing::*;

    #[test]
    fn documented_examples_and_probes() {
        check("find", find(&[s("abc 123"), s("[0-9]+")]), s("123"));
        check("find none", find(&[s("abc 123"), s("xyz")]), s(""));
        check(
            "findAll",
            find_all(&[s("123 abc 456"), s("[0-9]+")]),
            strs(&["123", "456"]),
        );
        check(
            "findAll 1",
            find_all(&[s("123 abc 456"), s("[0-9]+"), i(1)]),
            strs(&["123"]),
        );
        check(
            "findAll 0",
            find_all(&[s("123 abc 456"), s("[0-9]+"), i(0)]),
            strs(&[]),
        );
        check(
            "findAll none",
            find_all(&[s("123 abc 456"), s("xyz")]),
            strs(&[]),
        );
        check(
            "findAll unicode",
            find_all(&[s("é1ü2"), s("[^0-9]")]),
            strs(&["é", "ü"]),
        );
    }

    #[test]
    fn empty_matches_as_go() {
        check(
            "empty",
            find_all(&[s("abc 123"), s("[0-9]*")]),
            strs(&["", "", "", "", "123"]),
        );
        let huge = find_all(&[s("abc"), s(""), i(i64::MAX)]);
        check("bounded by the input", huge, strs(&["", "", "", ""]));
    }

    #[test]
    fn invalid_patterns_are_clean_errors() {
        check_err(
            "paren",
            find(&[s("a"), s("(")]),
            "find: invalid regular expression",
        );
        let err = find_all(&[s("secret"), s("(secret")]).unwrap_err();
        assert!(err.0.contains("invalid regular expression"), "{err}");
        assert!(
            !err.0.contains("secret"),
            "the pattern is not quoted: {err}"
        );
        let big = find(&[s("a"), s("(\\w{1000}){1000}")]).unwrap_err();
        assert!(big.0.contains("too large"), "{big}");
        check_err(
            "kind",
            find(&[s("a"), i(1)]),
            "no matching overload for 'find'",
        );
    }

    #[test]
    fn the_cache_keeps_patterns_and_stays_small() {
        for n in 0..200 {
            let pattern = format!("a{{{n}}}");
            check(
                "many",
                find(&[s("aaa"), Value::string(pattern)]),
                s(if n <= 3 { &"aaa"[..n] } else { "" }),
            );
        }
        assert!(CACHE.with(|c| c.borrow().len()) <= CACHE_CAPACITY);
    }

    /// The dense DFA answers as the regex does, on patterns it can and cannot express
    /// (RE2's ASCII word boundary included) and on ASCII and non-ASCII texts; a pattern too
    /// large for the DFA keeps the regex alone.
    #[test]
    fn dense_dfa_agrees_with_the_regex() {
        const KEY: &str = "^projects/([a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)/locations/[a-z0-9-]+/keyRings/[a-zA-Z0-9_-]{1,63}/cryptoKeys/[a-zA-Z0-9_-]{1,63}$";
        let patterns: &[(&str, bool)] = &[
            (KEY, true),
            ("^0*[1-9][0-9]*$", true),
            ("^[0-9]+([.][0-9]+)?s$", true),
            ("", true),
            ("a|b", true),
            ("(?i)KEY", true),
            ("(?m)^x$", true),
            ("^$", true),
            ("\\d+", true),
            ("[[:alpha:]]+", true),
            ("é+", true),
            ("\\bword\\b", true),
            ("(a|aa)*b{1,2}", true),
        ];
        let texts = [
            "",
            "x",
            "a",
            "b",
            "key",
            "word",
            "a word here",
            "motsword",
            "éé",
            "line\nx\nend",
            "12",
            "007",
            "0",
            "1.5s",
            "1.s",
            "aab",
            "projects/my-project/locations/europe-west1/keyRings/ring/cryptoKeys/key",
            "projects/123/locations/eu/keyRings/r/cryptoKeys/k",
            "projects/my-project/locations/europe-west1/keyRings/ring/cryptoKeys/key/cryptoKeyVersions/1",
            "projects/My-Project/locations/europe-west1/keyRings/ring/cryptoKeys/key",
            "projects/p/locations/l/keyRings/r/cryptoKeys/k\n",
            "projects/my-project/locations/europe-west1/keyRings/ring/cryptoKeys/ké",
        ];
        for (pattern, dfa) in patterns {
            let compiled = Pattern::new(pattern).unwrap();
            assert_eq!(compiled.has_dfa(), *dfa, "pattern {pattern:?}");
            let regex = compile(pattern).unwrap();
            for text in texts {
                assert_eq!(
                    compiled.is_match(text),
                    regex.is_match(text),
                    "pattern {pattern:?} on {text:?}"
                );
            }
        }
        // A pattern whose DFA would be too large keeps the regex alone, and still answers.
        let huge = Pattern::new("(a|b)*a(a|b){20}").unwrap();
        assert!(!huge.has_dfa());
        assert!(huge.is_match(&format!("a{}", "b".repeat(20))));
    }
}
