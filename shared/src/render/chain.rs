//! Filter chains (`offer.price | price: offer.currency`) evaluated without liquid's per-lookup
//! allocation.
//!
//! liquid's `FilterChain` builds a new path vector for every variable it looks up, on every
//! render. An output or assignment whose chain is simple (a variable path of plain keys or a
//! string or number literal, then filters whose arguments are the same) is compiled here instead,
//! with its path built once: it looks up the same path through the same runtime and applies the
//! same filter objects (parsed by the language's own filter parsers), so it renders exactly what
//! liquid's chain renders. Anything else (brackets, ranges, keyword arguments, literals such as
//! `nil` or `empty`) keeps liquid's chain. The chain is always parsed by liquid first, so its
//! errors, and what it accepts, stay liquid's.

use std::fmt;

use liquid_core::model::{KString, Scalar, ScalarCow, Value, ValueCow, ValueView};
use liquid_core::parser::{FilterArguments, FilterChain};
use liquid_core::runtime::Variable;
use liquid_core::{Expression, Filter, Language, Result, Runtime};

/// An output's or assignment's chain: ours when simple, liquid's otherwise.
#[derive(Debug)]
pub(crate) enum Chain {
    Simple(SimpleChain),
    Liquid(FilterChain),
}

impl Chain {
    /// `liquid` is the chain liquid parsed from `text`; it is kept only when `text` is not simple.
    pub(crate) fn new(text: &str, liquid: FilterChain, language: &Language) -> Self {
        match SimpleChain::compile(text, language, liquid.to_string()) {
            Some(simple) => Chain::Simple(simple),
            None => Chain::Liquid(liquid),
        }
    }

    /// Whether the chain is a variable path alone, without filters (`offers.first`).
    pub(crate) fn is_plain_path(&self) -> bool {
        matches!(self, Chain::Simple(SimpleChain { entry: Entry::Path(_), filters, .. }) if filters.is_empty())
    }

    pub(crate) fn evaluate<'r>(&'r self, runtime: &'r dyn Runtime) -> Result<ValueCow<'r>> {
        match self {
            Chain::Simple(chain) => chain.evaluate(runtime),
            Chain::Liquid(chain) => chain.evaluate(runtime),
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chain::Simple(chain) => chain.fmt(f),
            Chain::Liquid(chain) => chain.fmt(f),
        }
    }
}

#[derive(Debug)]
enum Entry {
    /// The variable's name and keys, as liquid's `Variable` evaluates them.
    Path(Vec<Scalar>),
    Literal(Value),
}

/// One filter of a simple chain, with what it is known to return unchanged.
#[derive(Debug)]
struct Step {
    filter: Box<dyn Filter>,
    keeps: Keeps,
}

/// Inputs a filter is known to return as a copy: for those the input itself is kept (it views
/// the same text), instead of the filter's new owned copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keeps {
    Nothing,
    /// `escape` (liquid-lib's): a text with none of `<>'"&`.
    TextWithoutMarkup,
    /// `default` (Shopify's): a text that is not empty.
    NonEmptyText,
}

impl Keeps {
    fn of(filter: &str) -> Self {
        match filter {
            "escape" => Keeps::TextWithoutMarkup,
            "default" => Keeps::NonEmptyText,
            _ => Keeps::Nothing,
        }
    }

    fn input(self, input: &dyn ValueView) -> bool {
        if self == Keeps::Nothing || input.type_name() != "string" {
            return false;
        }
        let Some(scalar) = input.as_scalar() else {
            return false;
        };
        let text = scalar.as_ref().into_cow_str();
        match self {
            Keeps::Nothing => false,
            Keeps::TextWithoutMarkup => !text
                .bytes()
                .any(|b| matches!(b, b'<' | b'>' | b'\'' | b'"' | b'&')),
            Keeps::NonEmptyText => !text.is_empty(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct SimpleChain {
    entry: Entry,
    filters: Vec<Step>,
    /// What liquid's chain displays (in error messages).
    display: String,
}

impl fmt::Display for SimpleChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// A value as the grammar reads it: a literal or a path of plain keys.
enum Operand {
    Path(Vec<String>),
    Literal(Value),
}

impl Operand {
    fn into_expression(self) -> Expression {
        match self {
            Operand::Literal(value) => Expression::Literal(value),
            Operand::Path(mut keys) => {
                let rest = keys.split_off(1);
                let first = keys.pop().unwrap_or_default();
                Expression::Variable(
                    rest.into_iter()
                        .fold(Variable::with_literal(first), Variable::push_literal),
                )
            }
        }
    }
}

impl SimpleChain {
    fn compile(text: &str, language: &Language, display: String) -> Option<Self> {
        let mut cursor = Cursor {
            rest: text.trim_matches(is_space),
        };
        let entry = match cursor.operand()? {
            Operand::Path(keys) => Entry::Path(
                keys.iter()
                    .map(|k| ScalarCow::new(KString::from_ref(k)))
                    .collect(),
            ),
            Operand::Literal(value) => Entry::Literal(value),
        };
        let mut filters = Vec::new();
        loop {
            cursor.skip_space();
            if cursor.rest.is_empty() {
                break;
            }
            cursor.expect('|')?;
            cursor.skip_space();
            let name = cursor.identifier()?;
            cursor.skip_space();
            let mut arguments = Vec::new();
            if cursor.eat(':') {
                loop {
                    cursor.skip_space();
                    arguments.push(cursor.operand()?.into_expression());
                    cursor.skip_space();
                    if !cursor.eat(',') {
                        break;
                    }
                }
            }
            let parser = language.filters.get(name)?;
            let filter = parser
                .parse(FilterArguments {
                    positional: Box::new(arguments.into_iter()),
                    keyword: Box::new(std::iter::empty()),
                })
                .ok()?;
            filters.push(Step {
                filter,
                keeps: Keeps::of(name),
            });
        }
        Some(SimpleChain {
            entry,
            filters,
            display,
        })
    }

    fn evaluate<'r>(&'r self, runtime: &'r dyn Runtime) -> Result<ValueCow<'r>> {
        let mut value = match &self.entry {
            Entry::Path(path) => runtime.get(path)?,
            Entry::Literal(literal) => ValueCow::Borrowed(literal as &dyn ValueView),
        };
        // As liquid's `FilterChain::evaluate`, with the same error context (built only on error).
        for Step { filter, keeps } in &self.filters {
            if keeps.input(value.as_view()) {
                continue;
            }
            value = match filter.evaluate(value.as_view(), runtime) {
                Ok(filtered) => ValueCow::Owned(filtered),
                Err(error) => {
                    return Err(error
                        .trace("Filter error")
                        .context("filter", format!("{filter}"))
                        .context("input", format!("{}", value.source())));
                }
            };
        }
        Ok(value)
    }
}

/// A filter's argument, with the path of a variable whose keys are all literals built once
/// (liquid's `Expression` builds it on every evaluation).
#[derive(Debug)]
pub(crate) struct FastExpression {
    path: Option<Vec<Scalar>>,
    expression: Expression,
}

impl FastExpression {
    pub(crate) fn new(expression: Expression) -> Self {
        FastExpression {
            path: literal_path(&expression),
            expression,
        }
    }

    /// What `Expression::evaluate` gives: the same lookup through the same runtime.
    pub(crate) fn evaluate<'r>(&'r self, runtime: &'r dyn Runtime) -> Result<ValueCow<'r>> {
        match &self.path {
            Some(path) => runtime.get(path),
            None => self.expression.evaluate(runtime),
        }
    }

    /// What `Expression::try_evaluate` gives.
    pub(crate) fn try_evaluate<'r>(&'r self, runtime: &'r dyn Runtime) -> Option<ValueCow<'r>> {
        match &self.path {
            Some(path) => runtime.try_get(path),
            None => self.expression.try_evaluate(runtime),
        }
    }
}

impl fmt::Display for FastExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expression.fmt(f)
    }
}

/// The path of a variable whose keys are all literals (`offer.currency`, `list[0]`), read from
/// how liquid displays it (`offer["currency"]`) and kept only if the variable rebuilt from it
/// equals the original, so that it is exactly the path liquid would build.
fn literal_path(expression: &Expression) -> Option<Vec<Scalar>> {
    let Expression::Variable(variable) = expression else {
        return None;
    };
    let text = variable.to_string();
    let (name, mut rest) = text.split_at(text.find('[').unwrap_or(text.len()));
    let mut keys = vec![ScalarCow::new(KString::from_ref(name))];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        let key = &inner[..end];
        rest = &inner[end + 1..];
        keys.push(
            match key.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
                Some(key) => ScalarCow::new(KString::from_ref(key)),
                None => ScalarCow::new(key.parse::<i64>().ok()?),
            },
        );
    }
    let rebuilt = keys[1..]
        .iter()
        .fold(Variable::with_literal(keys[0].clone()), |v, key| {
            v.push_literal(key.clone())
        });
    (rebuilt == *variable).then_some(keys)
}

/// liquid's grammar's whitespace: spaces and line breaks.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\n' | '\r')
}

/// Names that liquid's grammar reads as a literal (or the start of one) before a variable.
const LITERAL_WORDS: &[&str] = &["nil", "null", "empty", "blank", "true", "false"];

struct Cursor<'t> {
    rest: &'t str,
}

impl<'t> Cursor<'t> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start_matches(is_space);
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> Option<()> {
        self.eat(c).then_some(())
    }

    /// Letters, digits and `_`, starting with a letter or `_` (liquid also allows `-`, which
    /// is left to liquid's chain).
    fn identifier(&mut self) -> Option<&'t str> {
        let first = self.rest.chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '_') {
            return None;
        }
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        let (identifier, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(identifier)
    }

    /// A string literal, a whole number, a decimal number or a path of plain keys; whatever
    /// follows must end the value (space, `|`, `,` or the end).
    fn operand(&mut self) -> Option<Operand> {
        let operand = match self.rest.chars().next()? {
            quote @ ('"' | '\'') => {
                let body = &self.rest[1..];
                let end = body.find(quote)?;
                self.rest = &body[end + 1..];
                Operand::Literal(Value::scalar(body[..end].to_owned()))
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => self.number()?,
            _ => {
                if LITERAL_WORDS.iter().any(|w| self.rest.starts_with(w)) {
                    return None;
                }
                let mut keys = vec![self.identifier()?.to_owned()];
                while self.eat('.') {
                    keys.push(self.identifier()?.to_owned());
                }
                Operand::Path(keys)
            }
        };
        match self.rest.chars().next() {
            None | Some(' ' | '\n' | '\r' | '|' | ',') => Some(operand),
            Some(_) => None,
        }
    }

    fn number(&mut self) -> Option<Operand> {
        let sign = usize::from(self.rest.starts_with(['-', '+']));
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let whole = sign + digits(&self.rest[sign..]);
        if whole == sign {
            return None;
        }
        let after = &self.rest[whole..];
        let fraction = match after.strip_prefix('.') {
            Some(decimals) if digits(decimals) > 0 => 1 + digits(decimals),
            _ => 0,
        };
        let (text, rest) = self.rest.split_at(whole + fraction);
        self.rest = rest;
        let value = if fraction > 0 {
            Value::scalar(text.parse::<f64>().ok()?)
        } else {
            Value::scalar(text.parse::<i64>().ok()?)
        };
        Some(Operand::Literal(value))
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
