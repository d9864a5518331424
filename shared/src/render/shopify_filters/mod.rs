//! Filters that behave as Shopify's Ruby Liquid does where the `liquid` crate's differ in ways a
//! retail email shows: text cut that should stay whole, "hELLO" left as "HELLO", `19.99 | minus:
//! 5` printing 14.989999999999998, a customer attribute that is an empty string failing a send
//! in `plus`, `url_encode` writing spaces as `%20`. Each follows the reference implementation
//! (`lib/liquid/standardfilters.rb`); the golden-liquid suite checks them
//! (`shared/tests/integration/golden_liquid.rs`).

use std::fmt;

use liquid_core::model::{Value, ValueCow, ValueView};
use liquid_core::parser::{FilterArguments, ParameterReflection};
use liquid_core::{Error, Filter, FilterReflection, ParseFilter, Result, Runtime};

use super::chain::FastExpression;

/// The most positional parameters any filter here takes (a test holds every filter to it).
const MAX_POSITIONAL: usize = 2;

/// A filter's arguments, evaluated: borrowed where the data holds them, in place (a filter runs
/// for every output of every recipient, so its arguments are neither copied nor collected).
struct Arguments<'a> {
    positional: [Option<ValueCow<'a>>; MAX_POSITIONAL],
    keyword: Vec<(&'a str, ValueCow<'a>)>,
}

impl<'a> Arguments<'a> {
    #[cfg(test)]
    fn positional(values: impl IntoIterator<Item = Value>) -> Self {
        let mut positional = [None, None];
        for (slot, value) in positional.iter_mut().zip(values) {
            *slot = Some(ValueCow::Owned(value));
        }
        Arguments {
            positional,
            keyword: Vec::new(),
        }
    }

    fn get(&self, index: usize) -> Option<&dyn ValueView> {
        self.positional
            .get(index)
            .and_then(Option::as_ref)
            .map(ValueCow::as_view)
    }

    fn keyword(&self, name: &str) -> Option<&dyn ValueView> {
        self.keyword
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_view())
    }
}

type Apply = fn(&dyn ValueView, &Arguments<'_>) -> Result<Value>;

/// One filter: its name, arguments and what it computes from the evaluated input and arguments.
#[derive(Clone, Copy)]
pub(crate) struct ShopifyFilter {
    name: &'static str,
    description: &'static str,
    positional: &'static [ParameterReflection],
    keyword: &'static [ParameterReflection],
    /// How many of the positional parameters a template must give.
    required: usize,
    apply: Apply,
}

impl fmt::Debug for ShopifyFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyFilter")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl FilterReflection for ShopifyFilter {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        self.description
    }

    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        self.positional
    }

    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        self.keyword
    }
}

impl ParseFilter for ShopifyFilter {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let positional: Vec<FastExpression> =
            arguments.positional.map(FastExpression::new).collect();
        if positional.len() > self.positional.len() {
            return Err(Error::with_msg(format!(
                "{}: takes at most {} arguments",
                self.name,
                self.positional.len()
            )));
        }
        if positional.len() < self.required {
            return Err(Error::with_msg(format!(
                "{}: needs {} argument(s)",
                self.name, self.required
            )));
        }
        let mut keyword = Vec::new();
        for (name, expression) in arguments.keyword {
            if !self.keyword.iter().any(|known| known.name == name) {
                return Err(Error::with_msg(format!(
                    "{}: unexpected named argument `{name}`",
                    self.name
                )));
            }
            keyword.push((name.to_owned(), FastExpression::new(expression)));
        }
        Ok(Box::new(ParsedFilter {
            filter: *self,
            positional,
            keyword,
        }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

#[derive(Debug)]
struct ParsedFilter {
    filter: ShopifyFilter,
    positional: Vec<FastExpression>,
    keyword: Vec<(String, FastExpression)>,
}

impl fmt::Display for ParsedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.filter.name)?;
        let positional = self.positional.iter().map(|e| e.to_string());
        let keyword = self.keyword.iter().map(|(k, e)| format!("{k}: {e}"));
        for (i, argument) in positional.chain(keyword).enumerate() {
            f.write_str(if i == 0 { ": " } else { ", " })?;
            f.write_str(&argument)?;
        }
        Ok(())
    }
}

impl Filter for ParsedFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let mut positional = [None, None];
        for (slot, expression) in positional.iter_mut().zip(&self.positional) {
            *slot = Some(expression.evaluate(runtime)?);
        }
        let keyword = self
            .keyword
            .iter()
            .map(|(k, e)| Ok((k.as_str(), e.evaluate(runtime)?)))
            .collect::<Result<_>>()?;
        (self.filter.apply)(
            input,
            &Arguments {
                positional,
                keyword,
            },
        )
    }
}

const fn required(name: &'static str, description: &'static str) -> ParameterReflection {
    ParameterReflection {
        name,
        description,
        is_optional: false,
    }
}

const fn parameter(name: &'static str, description: &'static str) -> ParameterReflection {
    ParameterReflection {
        name,
        description,
        is_optional: true,
    }
}

/// Every filter of this module, to register in the language.
pub(crate) use array::RANGE_FILTER_NAME;

pub(crate) fn all() -> [ShopifyFilter; 31] {
    [
        CAPITALIZE,
        DEFAULT,
        TRUNCATE,
        TRUNCATEWORDS,
        URL_ENCODE,
        SPLIT,
        JOIN,
        PLUS,
        MINUS,
        TIMES,
        DIVIDED_BY,
        MODULO,
        math::ABS,
        math::CEIL,
        math::FLOOR,
        math::AT_LEAST,
        math::AT_MOST,
        math::ROUND,
        array::WHERE,
        array::REJECT,
        array::HAS,
        array::FIND,
        array::FIND_INDEX,
        array::SUM,
        array::RANGE,
        text::BASE64_ENCODE,
        text::BASE64_DECODE,
        text::BASE64_URL_SAFE_ENCODE,
        text::BASE64_URL_SAFE_DECODE,
        text::REMOVE_LAST,
        text::REPLACE_LAST,
    ]
}

/// An absent argument is `default`; one given as nil (a variable the data lacks) is empty, as
/// in Ruby, where `nil.to_s` is "".
fn string_argument(value: Option<&dyn ValueView>, default: &str) -> String {
    match value {
        Some(value) => value.to_kstr().as_str().to_owned(),
        None => default.to_owned(),
    }
}

/// An absent argument, or one that is nil, is `default`. (Ruby Liquid fails the render on a nil
/// length; a variable the data lacks must not fail a send.)
fn integer_argument(value: Option<&dyn ValueView>, default: i64) -> Result<i64> {
    let Some(value) = value.filter(|v| !v.is_nil()) else {
        return Ok(default);
    };
    match to_number(value) {
        Number::Integer(i) => Ok(i),
        Number::Decimal(f) => Ok(f as i64),
    }
}

mod array;
mod math;
mod text;

use math::{DIVIDED_BY, MINUS, MODULO, Number, PLUS, TIMES, to_number};

// ---- text ----

const CAPITALIZE: ShopifyFilter = ShopifyFilter {
    name: "capitalize",
    description: "Upper-cases the first character and lower-cases the rest.",
    positional: &[],
    keyword: &[],
    required: 0,
    apply: |input, _| Ok(Value::scalar(capitalize(&input.to_kstr()))),
};

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    first
        .to_uppercase()
        .chain(chars.as_str().to_lowercase().chars())
        .collect()
}

const DEFAULT: ShopifyFilter = ShopifyFilter {
    name: "default",
    description: "The argument when the input is nil, false, or empty.",
    positional: &[parameter(
        "value",
        "What to use instead; nothing if absent.",
    )],
    keyword: &[parameter(
        "allow_false",
        "When true, false is kept and only nil or empty is replaced.",
    )],
    required: 0,
    apply: |input, arguments| {
        let allow_false = arguments
            .keyword("allow_false")
            .is_some_and(|v| v.query_state(liquid_core::model::State::Truthy));
        let is_false = input.as_scalar().and_then(|s| s.to_bool()) == Some(false);
        let empty = input.query_state(liquid_core::model::State::Empty)
            || input.as_scalar().is_some_and(|s| s.to_kstr().is_empty());
        let replace = input.is_nil() || (is_false && !allow_false) || empty;
        Ok(if replace {
            arguments
                .get(0)
                .map_or_else(|| Value::scalar(""), |value| value.to_value())
        } else {
            input.to_value()
        })
    },
};

const TRUNCATE: ShopifyFilter = ShopifyFilter {
    name: "truncate",
    description: "Shortens text longer than the length (in characters, the ellipsis included).",
    positional: &[
        parameter(
            "length",
            "Characters to keep, the ellipsis included; 50 by default.",
        ),
        parameter("ellipsis", "What marks the cut; \"...\" by default."),
    ],
    keyword: &[],
    required: 0,
    apply: |input, arguments| {
        if input.is_nil() {
            return Ok(Value::Nil);
        }
        let length = integer_argument(arguments.get(0), 50)?;
        let ellipsis = string_argument(arguments.get(1), "...");
        Ok(Value::scalar(truncate(&input.to_kstr(), length, &ellipsis)))
    },
};

/// Ruby's `truncate`: lengths count characters, and text no longer than `length` stays whole.
fn truncate(text: &str, length: i64, ellipsis: &str) -> String {
    let chars = text.chars().count();
    if i64::try_from(chars).unwrap_or(i64::MAX) <= length {
        return text.to_owned();
    }
    let ellipsis_chars = i64::try_from(ellipsis.chars().count()).unwrap_or(i64::MAX);
    let keep = usize::try_from((length - ellipsis_chars).max(0)).unwrap_or(0);
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(ellipsis);
    out
}

const TRUNCATEWORDS: ShopifyFilter = ShopifyFilter {
    name: "truncatewords",
    description: "Shortens text to a number of words.",
    positional: &[
        parameter("words", "Words to keep; 15 by default, at least 1."),
        parameter("ellipsis", "What marks the cut; \"...\" by default."),
    ],
    keyword: &[],
    required: 0,
    apply: |input, arguments| {
        if input.is_nil() {
            return Ok(Value::Nil);
        }
        let words = integer_argument(arguments.get(0), 15)?;
        let ellipsis = string_argument(arguments.get(1), "...");
        Ok(Value::scalar(truncatewords(
            &input.to_kstr(),
            words,
            &ellipsis,
        )))
    },
};

/// Ruby's `truncatewords`: text of at most `words` words stays as it is; longer text keeps its
/// first words, joined by single spaces.
fn truncatewords(text: &str, words: i64, ellipsis: &str) -> String {
    let words = usize::try_from(words.max(1)).unwrap_or(usize::MAX);
    let mut split = text.split_whitespace();
    let kept: Vec<&str> = split.by_ref().take(words).collect();
    if split.next().is_none() {
        return text.to_owned();
    }
    let mut out = kept.join(" ");
    out.push_str(ellipsis);
    out
}

const URL_ENCODE: ShopifyFilter = ShopifyFilter {
    name: "url_encode",
    description: "Percent-encodes text for a URL query, spaces as `+`.",
    positional: &[],
    keyword: &[],
    required: 0,
    apply: |input, _| {
        if input.is_nil() {
            return Ok(Value::Nil);
        }
        Ok(Value::scalar(url_encode(&input.to_kstr())))
    },
};

/// Ruby's `CGI.escape`: letters, digits and `_.-~` stay, a space becomes `+`.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
    }
    out
}

const SPLIT: ShopifyFilter = ShopifyFilter {
    name: "split",
    description: "Splits text into a list at each occurrence of the separator.",
    positional: &[required(
        "separator",
        "A single space splits at runs of whitespace; nothing splits into characters.",
    )],
    keyword: &[],
    required: 1,
    apply: |input, arguments| {
        let separator = string_argument(arguments.get(0), "");
        let parts = split(&input.to_kstr(), &separator);
        Ok(Value::Array(parts.into_iter().map(Value::scalar).collect()))
    },
};

/// Ruby's `String#split`: `" "` splits at whitespace runs ignoring leading whitespace, `""`
/// splits into characters, and trailing empty parts are dropped.
fn split(text: &str, separator: &str) -> Vec<String> {
    let mut parts: Vec<String> = match separator {
        " " => text.split_whitespace().map(str::to_owned).collect(),
        "" => text.chars().map(String::from).collect(),
        _ => text.split(separator).map(str::to_owned).collect(),
    };
    while parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    parts
}

const JOIN: ShopifyFilter = ShopifyFilter {
    name: "join",
    description: "Joins a list's items with the separator; anything else prints as it is.",
    positional: &[parameter("separator", "Between items; a space by default.")],
    keyword: &[],
    required: 0,
    apply: |input, arguments| {
        let separator = string_argument(arguments.get(0), " ");
        let Some(array) = input.as_array() else {
            // A customer attribute that holds one value instead of a list still prints.
            return Ok(Value::scalar(input.to_kstr().into_owned()));
        };
        let mut out = String::new();
        for (i, item) in array.values().enumerate() {
            if i > 0 {
                out.push_str(&separator);
            }
            out.push_str(&item.to_kstr());
        }
        Ok(Value::scalar(out))
    },
};

#[cfg(test)]
mod tests {
    use super::math::*;
    use super::*;

    #[test]
    fn given_text_when_capitalized_then_first_upper_and_rest_lower() {
        assert_eq!(capitalize("hELLO wORLD"), "Hello world");
        assert_eq!(capitalize("élan"), "Élan");
        assert_eq!(capitalize(""), "");
    }

    #[test]
    fn given_text_when_truncated_then_characters_count_and_short_text_stays_whole() {
        assert_eq!(truncate("Grüße", 5, "..."), "Grüße");
        assert_eq!(truncate("Grüße aus München", 10, "..."), "Grüße a...");
        assert_eq!(truncate("Ground control", 8, "…"), "Ground …");
        assert_eq!(truncate("Ground control", 2, "..."), "...");
        assert_eq!(truncate("abc", 3, "..."), "abc");
        assert_eq!(
            string_argument(Some(&Value::Nil as &dyn ValueView), "..."),
            "",
            "an ellipsis given as nil is empty"
        );
        assert_eq!(string_argument(None, "..."), "...");
    }

    #[test]
    fn given_text_when_truncatewords_then_whitespace_collapses_only_when_cut() {
        assert_eq!(
            truncatewords("    one    two three    four  ", 2, "..."),
            "one two..."
        );
        assert_eq!(truncatewords("one two three four", 0, "..."), "one...");
        assert_eq!(truncatewords("one  two", 2, "..."), "one  two");
    }

    #[test]
    fn given_text_when_url_encoded_then_like_cgi_escape() {
        assert_eq!(
            url_encode("email address is bob@example.com!"),
            "email+address+is+bob%40example.com%21"
        );
        assert_eq!(url_encode("Grüße~_.-"), "Gr%C3%BC%C3%9Fe~_.-");
    }

    #[test]
    fn given_text_when_split_then_like_ruby() {
        assert_eq!(split("a b\nc", " "), ["a", "b", "c"]);
        assert_eq!(split("abc", ""), ["a", "b", "c"]);
        assert_eq!(split(",", ","), Vec::<String>::new());
        assert_eq!(split("a,,b,,", ","), ["a", "", "b"]);
    }

    #[test]
    fn given_numbers_when_computed_then_decimal_exact_and_non_numbers_are_zero() {
        let args = |v: Value| Arguments::positional([v]);
        let cases: [(Value, Value, Operation, Value); 7] = [
            (
                Value::scalar(19.99),
                Value::scalar(5i64),
                Operation::Minus,
                Value::scalar(14.99),
            ),
            (
                Value::scalar(10.1),
                Value::scalar(2.2),
                Operation::Minus,
                Value::scalar(7.9),
            ),
            (
                Value::scalar(0.1),
                Value::scalar(3i64),
                Operation::Times,
                Value::scalar(0.3),
            ),
            (
                Value::scalar(""),
                Value::scalar(10i64),
                Operation::Plus,
                Value::scalar(10i64),
            ),
            (
                Value::Nil,
                Value::scalar("2"),
                Operation::Plus,
                Value::scalar(2i64),
            ),
            (
                Value::scalar(10.1),
                Value::scalar(7.0),
                Operation::Modulo,
                Value::scalar(3.1),
            ),
            (
                Value::scalar("12px"),
                Value::scalar(1i64),
                Operation::Plus,
                Value::scalar(13i64),
            ),
        ];
        for (input, operand, operation, expected) in cases {
            assert_eq!(arithmetic(&input, &args(operand), operation), expected);
        }
    }

    #[test]
    fn given_integers_when_divided_then_rounded_down_and_zero_fails() {
        let divide = |a: i64, b: i64| {
            (DIVIDED_BY.apply)(
                &Value::scalar(a),
                &Arguments::positional([Value::scalar(b)]),
            )
        };
        assert_eq!(divide(7, 2).unwrap(), Value::scalar(3i64));
        assert_eq!(divide(-7, 2).unwrap(), Value::scalar(-4i64));
        assert_eq!(divide(7, -2).unwrap(), Value::scalar(-4i64));
        assert!(divide(1, 0).is_err());
    }

    #[test]
    fn given_every_filter_then_its_positional_parameters_fit_the_evaluated_arguments() {
        for filter in all() {
            assert!(
                filter.positional.len() <= MAX_POSITIONAL,
                "{} takes {} positional arguments",
                filter.name,
                filter.positional.len()
            );
        }
    }
}
