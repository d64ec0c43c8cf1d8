//! The canonical JSON encoding the hash chain is computed over.
//!
//! The encoding is written here rather than delegated to `serde_json::to_vec`, so that the
//! hash of a row depends only on its values, never on how they were built or stored:
//!
//! - serde_json's map iterates in insertion order when any crate of a product's dependency
//!   graph enables its `preserve_order` feature, and PostgreSQL's `jsonb` reorders keys;
//! - `jsonb` stores numbers as `numeric`, so `1e16` comes back as `10000000000000000`,
//!   `-0.0` as `0.0` and `1.50` as `1.5`;
//! - serde_json's default float parser is not correctly rounded, so a float read back from
//!   either backend may differ from the one written by one unit in the last place.
//!
//! The rules:
//!
//! - objects: members sorted by the UTF-8 bytes of their keys, at every depth;
//! - no whitespace anywhere;
//! - strings: `"` and `\` escaped as `\"` and `\\`, `\b \f \n \r \t` in short form, other
//!   control characters below U+0020 as `\u00xx` (lowercase hex), everything else as raw
//!   UTF-8;
//! - numbers are encoded by their decimal *value*, whatever their type: integers exactly;
//!   floats rounded to 15 significant digits (the precision every `f64` round-trips through
//!   decimal text). The value `d × 10^e` (`d` with no trailing zero) is written as plain
//!   digits when it is an integer of at most 21 digits, as `<d>e<e>` otherwise, with a
//!   leading `-` when negative; every zero (including `-0.0`) is `0`. So `1e16`,
//!   `1.0e16` and `10000000000000000` all encode as `10000000000000000`, and `1.5` as
//!   `15e-1`.
//!
//! Before a row is written, its floats are normalized to their 15-digit value
//! ([`normalize_floats`]), so a stored float sits in the middle of its rounding interval
//! and a read back that is off by a unit in the last place still encodes identically.

use serde_json::{Number, Value};

/// Significant decimal digits kept of a float.
const FLOAT_DIGITS: usize = 15;

/// Appends the canonical encoding of `value` to `out`.
pub(crate) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// The canonical encoding of `value`.
#[cfg(test)]
pub(crate) fn to_canonical(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// Appends `s` as a JSON string.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends an integer in canonical form.
pub(crate) fn write_i64(out: &mut String, n: i64) {
    write_decimal(out, n < 0, &n.unsigned_abs().to_string(), 0);
}

/// Appends a number in canonical form (see the module docs).
fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        write_i64(out, i);
    } else if let Some(u) = n.as_u64() {
        write_decimal(out, false, &u.to_string(), 0);
    } else if let Some(f) = n.as_f64() {
        let (digits, exp) = float_digits(f);
        write_decimal(out, f < 0.0, &digits, exp);
    } else {
        // Only reachable with serde_json's `arbitrary_precision` and a value no f64 holds;
        // its own text is then the most faithful form.
        out.push_str(&n.to_string());
    }
}

/// The decimal digits of `|f|` rounded to [`FLOAT_DIGITS`] significant digits, and the
/// power of ten they are scaled by.
fn float_digits(f: f64) -> (String, i32) {
    if f == 0.0 || !f.is_finite() {
        return (String::from("0"), 0);
    }
    // `{:.14e}` is correctly rounded: "d.dddddddddddddde<exp>".
    let text = format!("{:.*e}", FLOAT_DIGITS - 1, f.abs());
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp - (FLOAT_DIGITS as i32 - 1))
}

/// Writes `±digits × 10^exp` in canonical form.
fn write_decimal(out: &mut String, negative: bool, digits: &str, exp: i32) {
    let significant = digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        out.push('0');
        return;
    }
    let exp = exp + (significant.len() - trimmed.len()) as i32;
    if negative {
        out.push('-');
    }
    out.push_str(trimmed);
    if exp >= 0 && trimmed.len() + exp as usize <= 21 {
        out.extend(std::iter::repeat_n('0', exp as usize));
    } else {
        out.push('e');
        out.push_str(&exp.to_string());
    }
}

/// Rounds every float in `value` to [`FLOAT_DIGITS`] significant digits and turns `-0.0`
/// into `0.0`; integers are left alone. Applied to `data` before a row is hashed and stored.
pub(crate) fn normalize_floats(value: &mut Value) {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64() {
                let rounded = if f == 0.0 {
                    0.0
                } else {
                    format!("{:.*e}", FLOAT_DIGITS - 1, f)
                        .parse::<f64>()
                        .unwrap_or(f)
                };
                if let Some(r) = Number::from_f64(rounded) {
                    *n = r;
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_floats),
        Value::Object(map) => map.values_mut().for_each(normalize_floats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize_floats, to_canonical};
    use serde_json::{Map, Value, json};

    #[test]
    fn canonical_encoding_ignores_key_insertion_order() {
        let pairs = [
            ("b", json!(1)),
            ("a", json!({"z": 1, "y": [{"d": 1, "c": 2}]})),
            ("é", json!("x")),
            ("Z", json!(null)),
            ("aa", json!(true)),
        ];
        let forward: Map<String, Value> =
            pairs.iter().cloned().map(|(k, v)| (k.into(), v)).collect();
        let backward: Map<String, Value> = pairs
            .iter()
            .rev()
            .cloned()
            .map(|(k, v)| (k.into(), v))
            .collect();
        let (f, b) = (
            to_canonical(&Value::Object(forward)),
            to_canonical(&Value::Object(backward)),
        );
        assert_eq!(f, b);
        assert_eq!(
            f,
            r#"{"Z":null,"a":{"y":[{"c":2,"d":1}],"z":1},"aa":true,"b":1,"é":"x"}"#
        );
    }

    #[test]
    fn canonical_strings_are_escaped_per_json() {
        let v = json!("q\"b\\s/\u{08}\u{0c}\n\r\t\u{01}\u{1f}é😀\u{2028}");
        assert_eq!(
            to_canonical(&v),
            "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001fé😀\u{2028}\""
        );
        // It is JSON: parsing it gives the string back.
        let back: Value = serde_json::from_str(&to_canonical(&v)).unwrap_or_default();
        assert_eq!(back, v);
    }

    #[test]
    fn canonical_numbers_encode_their_value() {
        let cases: [(Value, &str); 12] = [
            (json!(0), "0"),
            (json!(-0.0), "0"),
            (json!(0.0), "0"),
            (json!(42), "42"),
            (json!(-42), "-42"),
            (json!(i64::MIN), "-9223372036854775808"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(1.5), "15e-1"),
            (json!(-1.5), "-15e-1"),
            (json!(1e16), "10000000000000000"),
            (json!(1e300), "1e300"),
            (json!(0.1 + 0.2), "3e-1"),
        ];
        for (v, want) in cases {
            assert_eq!(to_canonical(&v), want, "{v}");
        }
        // The forms a jsonb round trip produces encode like the originals.
        let same = |a: &str, b: &str| {
            let a: Value = serde_json::from_str(a).unwrap_or_default();
            let b: Value = serde_json::from_str(b).unwrap_or_default();
            assert_eq!(to_canonical(&a), to_canonical(&b), "{a} vs {b}");
        };
        same("1e16", "10000000000000000");
        same("1.0", "1");
        same("-0.0", "0.0");
        same("1.50", "1.5");
        same("1.5e-7", "0.00000015");
        same("1.23456789012345e17", "123456789012345000");
        same("1e300", &format!("1{}", "0".repeat(300)));
    }

    #[test]
    fn normalized_floats_survive_a_text_round_trip() {
        // Floats serde_json's default parser may read back one ulp off.
        let mut x = 0.1_f64;
        let mut values = Vec::new();
        for i in 0..2000 {
            x = x * 1.618_033_988_749_895 + f64::from(i) * 1e-7;
            if x > 1e250 {
                x /= 1e240;
            }
            values.push(x);
            values.push(1.0 / x);
            values.push(-x * 1e-20);
        }
        for f in values {
            let mut v = json!({ "f": f });
            normalize_floats(&mut v);
            let text = serde_json::to_string(&v).unwrap_or_default();
            let back: Value = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!(to_canonical(&v), to_canonical(&back), "{f} -> {text}");
        }
    }

    #[test]
    fn normalization_keeps_integers_and_drops_negative_zero() {
        let mut v = json!({"i": 9_007_199_254_740_993_i64, "z": -0.0, "f": [0.1 + 0.2]});
        normalize_floats(&mut v);
        assert_eq!(v["i"], json!(9_007_199_254_740_993_i64));
        assert!(
            v["z"]
                .as_f64()
                .is_some_and(|z| z == 0.0 && z.is_sign_positive())
        );
        assert_eq!(v["f"][0], json!(0.3));
    }
}
