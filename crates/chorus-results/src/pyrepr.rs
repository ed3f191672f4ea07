//! Python `repr` of the values in list cells, so that the CSV looks like the
//! one pandas writes from a DataFrame of Python lists (`['a', 'b']`,
//! `[0.5, 1.0]`, `[['a'], []]`) and `ast.literal_eval` reads every list back.
//!
//! Strings follow CPython's `str.__repr__`: single quotes unless the text
//! contains `'` and no `"`; `\\`, `\n`, `\r`, `\t` and the chosen quote are
//! escaped; other non-printable characters become `\xNN`, `\uNNNN` or
//! `\UNNNNNNNN`. "Non-printable" covers control characters, separators other
//! than the ASCII space, private-use characters, noncharacters and the common
//! format characters; CPython additionally escapes unassigned code points, which
//! this module prints as they are (`literal_eval` still reads them back).

use std::fmt::Write;

/// Appends the Python repr of `text` to `out`.
pub(crate) fn push_str_repr(out: &mut String, text: &str) {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => push_escape(out, c),
            c => out.push(c),
        }
    }
    out.push(quote);
}

fn push_escape(out: &mut String, character: char) {
    let code = u32::from(character);
    // Writing to a String cannot fail.
    let _ = match code {
        0..=0xff => write!(out, "\\x{code:02x}"),
        0x100..=0xffff => write!(out, "\\u{code:04x}"),
        _ => write!(out, "\\U{code:08x}"),
    };
}

/// An approximation of CPython's `str.isprintable` (see the module doc).
fn is_printable(character: char) -> bool {
    !(character.is_control()
        || matches!(
            character,
            '\u{a0}'
                | '\u{ad}'
                | '\u{61c}'
                | '\u{1680}'
                | '\u{180e}'
                | '\u{2000}'..='\u{200f}'
                | '\u{2028}'..='\u{202f}'
                | '\u{205f}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{3000}'
                | '\u{e000}'..='\u{f8ff}'
                | '\u{fdd0}'..='\u{fdef}'
                | '\u{fffe}'..='\u{ffff}'
                | '\u{f0000}'..='\u{10ffff}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        ))
}

/// The Python repr of a float: the shortest text that reads back to the same
/// value, positional for decimal exponents -4..16 and scientific otherwise
/// (`0.0001`, `1e-05`, `1.0`, `1e+16`, `nan`, `inf`).
pub(crate) fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "-1.25e-7".
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exponent) {
        format!("{sign}{}", positional(&digits, exponent))
    } else {
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exponent_sign}{:02}", exponent.abs())
    }
}

/// `digits` (d.ddd) times 10^`exponent` written out, with at least one
/// fractional digit.
fn positional(digits: &str, exponent: i32) -> String {
    if exponent < 0 {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return format!("0.{zeros}{digits}");
    }
    let integer_len = exponent as usize + 1;
    if digits.len() <= integer_len {
        let zeros = "0".repeat(integer_len - digits.len());
        format!("{digits}{zeros}.0")
    } else {
        format!("{}.{}", &digits[..integer_len], &digits[integer_len..])
    }
}

/// Appends a Python list literal whose items are rendered by `item`.
pub(crate) fn push_list<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    mut item: impl FnMut(&mut String, T),
) {
    out.push('[');
    for (index, value) in items.into_iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        item(out, value);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(text: &str) -> String {
        let mut out = String::new();
        push_str_repr(&mut out, text);
        out
    }

    #[test]
    fn strings_match_cpython() {
        // Expected values are what CPython 3 prints for repr(text).
        assert_eq!(repr("Paris"), "'Paris'");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(repr("a\\b\nc\td\r"), "'a\\\\b\\nc\\td\\r'");
        assert_eq!(repr("\u{0}\u{7f}\u{a0}é"), "'\\x00\\x7f\\xa0é'");
        assert_eq!(repr("\u{200b}日本"), "'\\u200b日本'");
        assert_eq!(repr("\u{10ffff}"), "'\\U0010ffff'");
        assert_eq!(repr("\u{f0000}\u{fdd0}"), "'\\U000f0000\\ufdd0'");
        assert_eq!(repr(""), "''");
    }

    #[test]
    fn floats_match_cpython() {
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-0.0, "-0.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.25e100, "1.25e+100"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "{value:e}");
        }
    }

    #[test]
    fn lists_use_comma_space() {
        let mut out = String::new();
        push_list(&mut out, ["a", "b'"], push_str_repr);
        assert_eq!(out, "['a', \"b'\"]");
        let mut empty = String::new();
        push_list(&mut empty, Vec::<&str>::new(), push_str_repr);
        assert_eq!(empty, "[]");
    }
}
