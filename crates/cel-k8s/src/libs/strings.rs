//! cel-go's strings extension (`ext.Strings`, the version Kubernetes enables): `charAt`,
//! `indexOf`, `lastIndexOf`, `lowerAscii`, `upperAscii`, `replace`, `split`, `substring`,
//! `trim`, `join`, `strings.quote`, `reverse` (`format` is in [`super::strfmt`]).
//!
//! Indexes count code points, as in the rest of CEL. `indexOf`, `lastIndexOf` and `reverse`
//! also take a list receiver: those calls go to [`super::lists`].

use super::lists;
use super::support::{fail, list_iter, no_overload};
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::{List, Str, Value};
use std::sync::Arc;

/// The largest string `replace` builds: an empty pattern replaced by a long string would
/// otherwise multiply two input sizes.
pub const MAX_REPLACED_BYTES: usize = 16 << 20;

pub fn register(library: &mut Library) {
    use Style::{Global, Receiver};
    library.add("charAt", Receiver, 2, char_at);
    library.add("indexOf", Receiver, 2, index_of);
    library.add("indexOf", Receiver, 3, index_of);
    library.add("lastIndexOf", Receiver, 2, last_index_of);
    library.add("lastIndexOf", Receiver, 3, last_index_of);
    library.add("lowerAscii", Receiver, 1, lower_ascii);
    library.add("upperAscii", Receiver, 1, upper_ascii);
    library.add("replace", Receiver, 3, replace);
    library.add("replace", Receiver, 4, replace);
    library.add("split", Receiver, 2, split);
    library.add("split", Receiver, 3, split);
    library.add("substring", Receiver, 2, substring);
    library.add("substring", Receiver, 3, substring);
    library.add("trim", Receiver, 1, trim);
    library.add("join", Receiver, 1, join);
    library.add("join", Receiver, 2, join);
    library.add("strings.quote", Global, 1, quote);
    library.add("reverse", Receiver, 1, reverse);
}

fn out_of_range(function: &str) -> EvalError {
    fail(function, "index out of range")
}

fn char_at<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let [Value::String(s), Value::Int(index)] = args else {
        return Err(no_overload("charAt", args));
    };
    let index = usize::try_from(*index).map_err(|_| out_of_range("charAt"))?;
    let mut chars = s.chars();
    match chars.nth(index) {
        Some(c) => Ok(Value::string(c.to_string())),
        None if s.chars().count() == index => Ok(Value::string("")),
        None => Err(out_of_range("charAt")),
    }
}

/// Where `needle` starts in `runes`, searching forward from `from`.
fn find_from(runes: &[char], needle: &[char], from: usize) -> Option<usize> {
    if needle.len() > runes.len() {
        return None;
    }
    (from..=runes.len() - needle.len()).find(|&i| runes[i..i + needle.len()] == *needle)
}

/// Where `needle` starts in `runes`, searching backward from `from`.
fn rfind_from(runes: &[char], needle: &[char], from: usize) -> Option<usize> {
    if needle.len() > runes.len() {
        return None;
    }
    let last = from.min(runes.len() - needle.len());
    (0..=last)
        .rev()
        .find(|&i| runes[i..i + needle.len()] == *needle)
}

fn found(index: Option<usize>) -> Value<'static> {
    Value::Int(index.map_or(-1, |i| i as i64))
}

/// `string.indexOf(string[, int])`, as cel-go's `indexOfOffset`: an empty needle is found at
/// the offset; a negative offset is an error; one past the end finds nothing.
fn index_of<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (s, needle, offset) = match args {
        [Value::List(_), _] => return lists::index_of(args),
        [Value::String(s), Value::String(n)] => (s, n, 0),
        [Value::String(s), Value::String(n), Value::Int(o)] => (s, n, *o),
        _ => return Err(no_overload("indexOf", args)),
    };
    let offset = usize::try_from(offset).map_err(|_| out_of_range("indexOf"))?;
    let runes: Vec<char> = s.chars().collect();
    if needle.is_empty() {
        // The empty string matches at the offset, clamped to the end of the string.
        return Ok(Value::Int(offset.min(runes.len()) as i64));
    }
    if offset >= runes.len() {
        return Ok(Value::Int(-1));
    }
    let needle: Vec<char> = needle.chars().collect();
    Ok(found(find_from(&runes, &needle, offset)))
}

/// `string.lastIndexOf(string[, int])`, as cel-go's `lastIndexOfOffset` (without an offset,
/// the search starts at the last code point; a receiver shorter in bytes than the needle is -1).
fn last_index_of<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (s, needle, offset) = match args {
        [Value::List(_), _] => return lists::last_index_of(args),
        [Value::String(s), Value::String(n)] => {
            let len = s.chars().count() as i64;
            if n.is_empty() {
                return Ok(Value::Int(len));
            }
            if s.len() < n.len() {
                return Ok(Value::Int(-1));
            }
            (s, n, len - 1)
        }
        [Value::String(s), Value::String(n), Value::Int(o)] => (s, n, *o),
        _ => return Err(no_overload("lastIndexOf", args)),
    };
    let offset = usize::try_from(offset).map_err(|_| out_of_range("lastIndexOf"))?;
    let runes: Vec<char> = s.chars().collect();
    if needle.is_empty() {
        // The empty string matches at the offset, clamped to the end of the string.
        return Ok(Value::Int(offset.min(runes.len()) as i64));
    }
    if offset >= runes.len() {
        return Ok(Value::Int(-1));
    }
    let needle: Vec<char> = needle.chars().collect();
    Ok(found(rfind_from(&runes, &needle, offset)))
}

fn lower_ascii<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        // Already lower case: the same string, not a copy.
        [Value::String(s)] if !s.bytes().any(|b| b.is_ascii_uppercase()) => {
            Ok(Value::String(s.clone()))
        }
        [Value::String(s)] => Ok(Value::string(s.to_ascii_lowercase())),
        _ => Err(no_overload("lowerAscii", args)),
    }
}

fn upper_ascii<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::String(s)] => Ok(Value::string(s.to_ascii_uppercase())),
        _ => Err(no_overload("upperAscii", args)),
    }
}

/// Go's `strings.Replace`: the first `n` occurrences, all of them when `n` is negative.
fn replace<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (s, from, to, n) = match args {
        [Value::String(s), Value::String(f), Value::String(t)] => (s, f, t, -1),
        [Value::String(s), Value::String(f), Value::String(t), Value::Int(n)] => (s, f, t, *n),
        _ => return Err(no_overload("replace", args)),
    };
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    if to.len() > from.len() {
        let occurrences = if from.is_empty() {
            s.chars().count() + 1
        } else {
            s.matches(&**from).count()
        };
        let grown = occurrences.min(limit).saturating_mul(to.len() - from.len());
        if s.len().saturating_add(grown) > MAX_REPLACED_BYTES {
            return Err(fail("replace", "the result would exceed 16 MiB"));
        }
    }
    Ok(Value::string(s.replacen(&**from, to, limit)))
}

/// Go's `strings.SplitN`: at most `n` parts, the last holding the rest; none for `n == 0`,
/// all for `n < 0`. An empty separator splits between code points.
fn split<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (s, sep, n) = match args {
        [Value::String(s), Value::String(sep)] => (s, sep, -1),
        [Value::String(s), Value::String(sep), Value::Int(n)] => (s, sep, *n),
        _ => return Err(no_overload("split", args)),
    };
    // The usual separator, one ASCII character ('/', ','), is searched for as a byte.
    let byte = match sep.as_bytes() {
        [b] if b.is_ascii() => Some(char::from(*b)),
        _ => None,
    };
    let mut items: Vec<Value<'a>> = Vec::new();
    let mut push = |part: &str| items.push(part_of(s, part));
    match (usize::try_from(n), sep.is_empty(), byte) {
        (Ok(0), _, _) => {}
        (Ok(n), true, _) => {
            let mut count = 0;
            let mut rest: &str = s;
            while let Some(c) = rest.chars().next() {
                if count + 1 == n {
                    break;
                }
                let (head, tail) = rest.split_at(c.len_utf8());
                push(head);
                count += 1;
                rest = tail;
            }
            if !rest.is_empty() {
                push(rest);
            }
        }
        (Ok(n), false, Some(c)) => s.splitn(n, c).for_each(&mut push),
        (Ok(n), false, None) => s.splitn(n, &**sep).for_each(&mut push),
        (Err(_), true, _) => s
            .char_indices()
            .for_each(|(i, c)| push(&s[i..i + c.len_utf8()])),
        (Err(_), false, Some(c)) => s.split(c).for_each(&mut push),
        (Err(_), false, None) => s.split(&**sep).for_each(&mut push),
    }
    Ok(Value::List(List::Owned(items.into())))
}

/// A part of a string value (`part` lies within `s`): borrowed from the same document or
/// program when `s` is, the same string when it is all of it, else copied once.
fn part_of<'a>(s: &Str<'a>, part: &str) -> Value<'a> {
    let start = (part.as_ptr() as usize).wrapping_sub(s.as_ptr() as usize);
    let within = start <= s.len() && part.len() <= s.len() - start;
    Value::String(match s {
        Str::Borrowed(whole) if within => Str::Borrowed(&whole[start..start + part.len()]),
        Str::Owned(_) if within && part.len() == s.len() => s.clone(),
        _ => Str::Owned(Arc::from(part)),
    })
}

fn substring<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (s, start, end) = match args {
        [Value::String(s), Value::Int(start)] => (s, *start, None),
        [Value::String(s), Value::Int(start), Value::Int(end)] => (s, *start, Some(*end)),
        _ => return Err(no_overload("substring", args)),
    };
    let len = s.chars().count() as i64;
    if let Some(end) = end {
        if start > end {
            return Err(fail(
                "substring",
                "invalid substring range: start after end",
            ));
        }
    }
    if start < 0 || start > len {
        return Err(out_of_range("substring"));
    }
    let end = end.unwrap_or(len);
    if end < 0 || end > len {
        return Err(out_of_range("substring"));
    }
    Ok(Value::string(
        s.chars()
            .skip(start as usize)
            .take((end - start) as usize)
            .collect::<String>(),
    ))
}

/// Go's `strings.TrimSpace` (Unicode white space).
fn trim<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::String(s)] => Ok(part_of(s, s.trim())),
        _ => Err(no_overload("trim", args)),
    }
}

fn join<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let (list, sep): (&List, &str) = match args {
        [Value::List(l)] => (l, ""),
        [Value::List(l), Value::String(sep)] => (l, sep),
        _ => return Err(no_overload("join", args)),
    };
    let mut out = String::new();
    for (i, item) in list_iter(list).enumerate() {
        let Value::String(s) = item else {
            return Err(fail("join", "the list must hold strings only"));
        };
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&s);
    }
    Ok(Value::string(out))
}

/// The string as a double-quoted CEL literal.
fn quote_str(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('"');
    for c in s.chars() {
        match c {
            '\x07' => quoted.push_str("\\a"),
            '\x08' => quoted.push_str("\\b"),
            '\x0c' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\x0b' => quoted.push_str("\\v"),
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn quote<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::String(s)] => Ok(Value::string(quote_str(s))),
        _ => Err(no_overload("strings.quote", args)),
    }
}

pub(crate) fn reverse<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    match args {
        [Value::String(s)] => Ok(Value::string(s.chars().rev().collect::<String>())),
        [Value::List(_)] => lists::reverse(args),
        _ => Err(no_overload("reverse", args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libs::support::testing::*;

    #[test]
    fn documented_examples() {
        check("charAt", char_at(&[s("hello"), i(4)]), s("o"));
        check(
            "indexOf",
            index_of(&[s("hello mellow"), s("ello"), i(6)]),
            i(7),
        );
        check(
            "lastIndexOf",
            last_index_of(&[s("hello mellow"), s("ello")]),
            i(7),
        );
        check("lowerAscii", lower_ascii(&[s("TacoCat")]), s("tacocat"));
        check("upperAscii", upper_ascii(&[s("TacoCat")]), s("TACOCAT"));
        check(
            "replace",
            replace(&[s("hello hello"), s("he"), s("we"), i(1)]),
            s("wello hello"),
        );
        check(
            "split",
            split(&[s("a,b,c"), s(","), i(2)]),
            strs(&["a", "b,c"]),
        );
        check(
            "substring",
            substring(&[s("tacocat"), i(0), i(4)]),
            s("taco"),
        );
        check("trim", trim(&[s("  x \n")]), s("x"));
        check("join", join(&[strs(&["a", "b"]), s("-")]), s("a-b"));
        check("strings.quote", quote(&[s("a\"b")]), s("\"a\\\"b\""));
        check("reverse", reverse(&[s("gums")]), s("smug"));
    }

    #[test]
    fn char_at_and_substring_count_code_points() {
        check("charAt end", char_at(&[s("tacocat"), i(7)]), s(""));
        check("charAt unicode", char_at(&[s("©αT"), i(1)]), s("α"));
        check_err(
            "charAt past",
            char_at(&[s("tacocat"), i(30)]),
            "index out of range",
        );
        check_err(
            "charAt negative",
            char_at(&[s("tacocat"), i(-1)]),
            "index out of range",
        );
        check("substring tail", substring(&[s("tacocat"), i(4)]), s("cat"));
        check("substring end", substring(&[s("tacocat"), i(7)]), s(""));
        check(
            "substring unicode",
            substring(&[s("ta©o©αT"), i(2), i(6)]),
            s("©o©α"),
        );
        check_err(
            "substring past",
            substring(&[s("tacocat"), i(40)]),
            "index out of range",
        );
        check_err(
            "substring negative",
            substring(&[s("tacocat"), i(-1)]),
            "out of range",
        );
        check_err(
            "substring end past",
            substring(&[s("tacocat"), i(1), i(50)]),
            "range",
        );
        check_err(
            "substring reversed",
            substring(&[s("tacocat"), i(4), i(3)]),
            "invalid",
        );
        check_err(
            "substring min",
            substring(&[s("x"), i(i64::MIN), i(0)]),
            "range",
        );
    }

    #[test]
    fn index_of_follows_cel_go() {
        let cases = [
            (vec![s("hello mellow"), s("")], 0),
            (vec![s("hello mellow"), s("ello")], 1),
            (vec![s("hello mellow"), s("jello")], -1),
            (vec![s("hello mellow"), s(""), i(2)], 2),
            (vec![s("ta©o©αT"), s("©"), i(3)], 4),
            (vec![s("ta©o©αT"), s("©α"), i(5)], -1),
            (vec![s("hello mellow"), s("ello"), i(20)], -1),
            (vec![s(""), s("a")], -1),
            (vec![s("ab"), s("abc")], -1),
        ];
        for (args, want) in cases {
            check(&format!("{args:?}"), index_of(&args), i(want));
        }
        check_err(
            "negative",
            index_of(&[s("abc"), s("a"), i(-1)]),
            "out of range",
        );
        let last = [
            (vec![s("hello mellow"), s("")], 12),
            (vec![s("hello mellow"), s("ello")], 7),
            (vec![s("hello mellow"), s("jello")], -1),
            (vec![s("hello mellow"), s("ello"), i(6)], 1),
            (vec![s("ta©o©αT"), s("©"), i(3)], 2),
            (vec![s("bananananana"), s("nana"), i(7)], 6),
            (vec![s("hello mellow"), s("ello"), i(20)], -1),
        ];
        for (args, want) in last {
            check(&format!("{args:?}"), last_index_of(&args), i(want));
        }
        check_err(
            "negative",
            last_index_of(&[s("abc"), s("a"), i(-1)]),
            "out of range",
        );
        check("shorter receiver", last_index_of(&[s(""), s("@@")]), i(-1));
        check("empty needle", index_of(&[s("ab"), s(""), i(5)]), i(2));
        check("empty needle", last_index_of(&[s("ab"), s(""), i(5)]), i(2));
        check_err(
            "negative",
            index_of(&[s("ab"), s(""), i(-1)]),
            "out of range",
        );
    }

    #[test]
    fn replace_split_and_casing() {
        check(
            "replace all",
            replace(&[s("hello hello"), s("he"), s("we")]),
            s("wello wello"),
        );
        check(
            "replace -1",
            replace(&[s("hello hello"), s("he"), s("we"), i(-1)]),
            s("wello wello"),
        );
        check(
            "replace 0",
            replace(&[s("hello hello"), s("he"), s("we"), i(0)]),
            s("hello hello"),
        );
        check(
            "replace empty",
            replace(&[s("héj"), s(""), s("_")]),
            s("_h_é_j_"),
        );
        check(
            "split all",
            split(&[s("a b c"), s(" ")]),
            strs(&["a", "b", "c"]),
        );
        check("split 0", split(&[s("a b c"), s(" "), i(0)]), strs(&[]));
        check(
            "split 1",
            split(&[s("a b c"), s(" "), i(1)]),
            strs(&["a b c"]),
        );
        check(
            "split unicode",
            split(&[s("o©o©o"), s("©"), i(-1)]),
            strs(&["o", "o", "o"]),
        );
        check(
            "split chars",
            split(&[s("a©c"), s("")]),
            strs(&["a", "©", "c"]),
        );
        check(
            "split chars 2",
            split(&[s("a©c"), s(""), i(2)]),
            strs(&["a", "©c"]),
        );
        check("split empty", split(&[s(""), s(",")]), strs(&[""]));
        check(
            "split huge n",
            split(&[s("abc"), s(""), i(i64::MAX)]),
            strs(&["a", "b", "c"]),
        );
        check("lower", lower_ascii(&[s("TacoCÆt Xii")]), s("tacocÆt xii"));
        check("upper", upper_ascii(&[s("TacoCÆt Xii")]), s("TACOCÆT XII"));
        check(
            "trim unicode",
            trim(&[s("\u{85}\u{a0}\u{1680}text")]),
            s("text"),
        );
        check(
            "trim zero width",
            trim(&[s("\u{200b}text")]),
            s("\u{200b}text"),
        );
        check("reverse unicode", reverse(&[s("Ta©oCαt")]), s("tαCo©aT"));
        check("reverse empty", reverse(&[s("")]), s(""));
        check(
            "quote escapes",
            quote(&[s("\x07\x08\x0c\n\r\t\x0b\\\"")]),
            s(r#""\a\b\f\n\r\t\v\\\"""#),
        );
        check("quote unicode", quote(&[s("ta©o")]), s("\"ta©o\""));
    }

    #[test]
    fn join_and_tree_lists() {
        check("join none", join(&[strs(&["a", "b"])]), s("ab"));
        check("join empty", join(&[strs(&[]), s("-")]), s(""));
        check_err(
            "join non-string",
            join(&[l(vec![s("a"), i(1)])]),
            "strings only",
        );
        let doc = Doc::List(vec![Doc::str("x"), Doc::str("y")]);
        check("join tree", join(&[doc.value(), s(",")]), s("x,y"));
    }

    #[test]
    fn wrong_kinds_are_no_overload() {
        check_err(
            "charAt",
            char_at(&[i(1), i(1)]),
            "no matching overload for 'charAt' applied to '(int, int)'",
        );
        check_err("indexOf", index_of(&[s("a"), i(1)]), "no matching overload");
        check_err("reverse", reverse(&[i(1)]), "no matching overload");
        check_err("trim", trim(&[Value::Null]), "(null_type)");
    }
}
