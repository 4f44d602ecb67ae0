//! Go's RE2 syntax (`regexp/syntax`, what cel-go and Kubernetes compile patterns with) in the
//! `regex` crate's: `\Q...\E` quoting becomes escaped text; the Perl classes `\d`, `\w`, `\s`
//! and the word boundaries `\b`, `\B` are ASCII-only, as in Go; and what Go refuses is refused
//! here too: a repetition of a repetition (`a**`, `a++`) and a count above 1000 (`a{1001}`).

/// The most a `{n,m}` repetition may count, as Go's `regexp/syntax` allows.
const MAX_REPEAT: u32 = 1000;

/// Why Go refuses a pattern the `regex` crate would take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Re2Error {
    #[error("invalid nested repetition operator")]
    NestedRepetition,
    #[error("invalid repeat count")]
    RepeatCount,
}

/// The pattern in the `regex` crate's syntax, meaning what Go's RE2 means by it.
pub fn translate(pattern: &str) -> Result<String, Re2Error> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    // After a repetition operator: 0 not, 1 yes, 2 yes and made lazy by a `?`.
    let mut after_repeat = 0u8;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let e = chars[i + 1];
            i += 2;
            after_repeat = 0;
            match (e, in_class) {
                ('Q', _) => {
                    let mut text = String::new();
                    while i < chars.len() && !(chars[i] == '\\' && chars.get(i + 1) == Some(&'E')) {
                        text.push(chars[i]);
                        i += 1;
                    }
                    i = (i + 2).min(chars.len().max(i));
                    if in_class {
                        for t in text.chars() {
                            out.push_str(&regex::escape(&t.to_string()));
                        }
                    } else if !text.is_empty() {
                        out.push_str("(?:");
                        out.push_str(&regex::escape(&text));
                        out.push(')');
                    }
                }
                ('d', false) => out.push_str("[0-9]"),
                ('d', true) => out.push_str("0-9"),
                ('D', false) => out.push_str("[^0-9]"),
                ('D', true) => out.push_str("[:^digit:]"),
                ('w', false) => out.push_str("[0-9A-Za-z_]"),
                ('w', true) => out.push_str("0-9A-Za-z_"),
                ('W', false) => out.push_str("[^0-9A-Za-z_]"),
                ('W', true) => out.push_str("[:^word:]"),
                ('s', false) => out.push_str(r"[\t\n\f\r ]"),
                ('s', true) => out.push_str(r"\t\n\f\r "),
                ('S', false) => out.push_str(r"[^\t\n\f\r ]"),
                ('S', true) => out.push_str("[:^space:]"),
                ('b', false) => out.push_str(r"(?-u:\b)"),
                ('B', false) => out.push_str(r"(?-u:\B)"),
                ('p' | 'P' | 'x', _) if chars.get(i) == Some(&'{') => {
                    // `\p{Greek}`, `\x{1F600}`: copied whole.
                    let end = (i..chars.len())
                        .find(|&j| chars[j] == '}')
                        .unwrap_or(chars.len() - 1);
                    out.push('\\');
                    out.push(e);
                    out.extend(&chars[i..=end]);
                    i = end + 1;
                }
                _ => {
                    out.push('\\');
                    out.push(e);
                }
            }
            continue;
        }
        if in_class {
            if c == '[' && chars.get(i + 1) == Some(&':') {
                // A POSIX class, `[:alpha:]`: copied whole.
                if let Some(end) = (i + 2..chars.len().saturating_sub(1))
                    .find(|&j| chars[j] == ':' && chars[j + 1] == ']')
                {
                    out.extend(&chars[i..end + 2]);
                    i = end + 2;
                    continue;
                }
            }
            if c == ']' {
                in_class = false;
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                after_repeat = 0;
                out.push(c);
                i += 1;
                // A `]` (after an optional `^`) first in a class is a literal.
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
            }
            '*' | '+' | '?' => {
                // `a*?` is lazy; anything after that, or `a**`, is a nested repetition.
                after_repeat = match (after_repeat, c) {
                    (0, _) => 1,
                    (1, '?') => 2,
                    _ => return Err(Re2Error::NestedRepetition),
                };
                out.push(c);
                i += 1;
            }
            '{' => match repeat(&chars[i..]) {
                Some((len, counts)) => {
                    if after_repeat > 0 {
                        return Err(Re2Error::NestedRepetition);
                    }
                    if counts.iter().any(|n| *n > MAX_REPEAT) {
                        return Err(Re2Error::RepeatCount);
                    }
                    out.extend(&chars[i..i + len]);
                    after_repeat = 1;
                    i += len;
                }
                None => {
                    // Not a repetition: a literal brace, as in Go.
                    out.push_str(r"\{");
                    after_repeat = 0;
                    i += 1;
                }
            },
            _ => {
                out.push(c);
                after_repeat = 0;
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A `{n}`, `{n,}` or `{n,m}` at the start of `chars`: its length and counts.
fn repeat(chars: &[char]) -> Option<(usize, Vec<u32>)> {
    let end = chars.iter().position(|c| *c == '}')?;
    let body: String = chars[1..end].iter().collect();
    let parts: Vec<&str> = body.splitn(2, ',').collect();
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().unwrap_or(u32::MAX))
    };
    let mut counts = vec![number(parts[0])?];
    if let Some(max) = parts.get(1) {
        if !max.is_empty() {
            counts.push(number(max)?);
        }
    }
    Some((end + 1, counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax_becomes_the_regex_crates() {
        let cases = [
            (r"\Q.*\E", Ok(r"(?:\.\*)")),
            (r"a\Q.", Ok(r"a(?:\.)")),
            (r"\w+", Ok("[0-9A-Za-z_]+")),
            (r"[\d.]", Ok("[0-9.]")),
            (r"\bx", Ok(r"(?-u:\b)x")),
            (r"[[:alpha:]]", Ok("[[:alpha:]]")),
            ("a*?", Ok("a*?")),
            ("a??", Ok("a??")),
            ("(?i)a", Ok("(?i)a")),
            ("a{2,3}?", Ok("a{2,3}?")),
            ("a{,3}", Ok(r"a\{,3}")),
            ("[]a]", Ok(r"[\]a]")),
            (r"\p{L}+", Ok(r"\p{L}+")),
            (r"[\x{1F600}]", Ok(r"[\x{1F600}]")),
            ("a**", Err(Re2Error::NestedRepetition)),
            ("a++", Err(Re2Error::NestedRepetition)),
            ("a*??", Err(Re2Error::NestedRepetition)),
            ("a{2}{3}", Err(Re2Error::NestedRepetition)),
            ("a{1001}", Err(Re2Error::RepeatCount)),
            ("a{1,1001}", Err(Re2Error::RepeatCount)),
            ("a{1000}", Ok("a{1000}")),
        ];
        for (pattern, want) in cases {
            assert_eq!(translate(pattern).as_deref(), want.as_deref(), "{pattern}");
        }
    }

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        let re = regex::Regex::new(&translate(r"(\w)(\w)").unwrap()).unwrap();
        assert_eq!(re.find("héllo").map(|m| m.as_str()), Some("ll"));
        let re = regex::Regex::new(&translate(r"^\s$").unwrap()).unwrap();
        assert!(re.is_match(" ") && !re.is_match("\u{a0}") && !re.is_match("\u{b}"));
    }
}
