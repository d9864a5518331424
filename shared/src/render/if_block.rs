//! `{% if %}` / `{% elsif %}` / `{% else %}` and `{% unless %}`, with conditions whose variable
//! paths are built once.
//!
//! liquid-lib's blocks evaluate each operand as a liquid `Expression`, which builds a new path
//! vector for every variable on every render. Here each operand is a [`FastExpression`]: the
//! same expression liquid's grammar parsed (so what parses, and its errors, stay liquid's), with
//! the path of a plain variable built once and looked up through the same runtime. Comparisons
//! (`==`, `!=`/`<>`, `<`, `>`, `<=`, `>=`), `contains` and truthiness are liquid-lib's (adapted
//! from liquid-lib, MIT). As in Shopify's Liquid, `and` and `or` group from the right with
//! equal weight (`a and b or c` is `a and (b or c)`; liquid-lib groups `and` first) and stop at
//! the first operand that decides, and `unless` takes `elsif` branches too.

use std::fmt;
use std::io::Write;

use liquid_core::model::{State, ValueView, ValueViewCmp};
use liquid_core::parser::{BlockElement, TagToken};
use liquid_core::{
    BlockReflection, Error, Language, ParseBlock, Renderable, Result, Runtime, TagBlock,
    TagTokenIter,
};

use super::body::Body;
use super::chain::FastExpression;

#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct IfBlock;

#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct UnlessBlock;

impl BlockReflection for IfBlock {
    fn start_tag(&self) -> &str {
        "if"
    }

    fn end_tag(&self) -> &str {
        "endif"
    }

    fn description(&self) -> &str {
        "Renders the first branch whose condition holds, or the `else` branch."
    }
}

impl BlockReflection for UnlessBlock {
    fn start_tag(&self) -> &str {
        "unless"
    }

    fn end_tag(&self) -> &str {
        "endunless"
    }

    fn description(&self) -> &str {
        "Renders its body when the condition does not hold, else the next branch."
    }
}

impl ParseBlock for IfBlock {
    fn parse(
        &self,
        arguments: TagTokenIter<'_>,
        tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        Ok(Box::new(Conditional::parse(
            true, arguments, tokens, options,
        )?))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

impl ParseBlock for UnlessBlock {
    fn parse(
        &self,
        arguments: TagTokenIter<'_>,
        tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        Ok(Box::new(Conditional::parse(
            false, arguments, tokens, options,
        )?))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

/// One `if`, `unless` or `elsif` branch: its body renders when the condition is `holds`.
#[derive(Debug)]
struct Branch {
    condition: Condition,
    holds: bool,
    body: Body,
}

#[derive(Debug)]
struct Conditional {
    branches: Vec<Branch>,
    otherwise: Option<Body>,
}

impl Conditional {
    fn parse(
        holds: bool,
        arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Self> {
        let mut branch = Branch {
            condition: Condition::parse(arguments)?,
            holds,
            body: Body::default(),
        };
        let mut branches = Vec::new();
        let mut otherwise = None;
        while let Some(element) = tokens.next()? {
            match element {
                BlockElement::Tag(tag) if tag.name() == "else" => {
                    otherwise = Some(parse_otherwise(&mut tokens, options)?);
                    break;
                }
                BlockElement::Tag(tag) if tag.name() == "elsif" => {
                    let next = Branch {
                        condition: Condition::parse(tag.into_tokens())?,
                        holds: true,
                        body: Body::default(),
                    };
                    branches.push(std::mem::replace(&mut branch, next));
                }
                element => branch.body.parse_push(element, &mut tokens, options)?,
            }
        }
        branches.push(branch);
        tokens.assert_empty();
        Ok(Conditional {
            branches,
            otherwise,
        })
    }

    /// The error context liquid-lib's nested blocks give an error in branch `index` (the
    /// `else` branch is `branches.len()`): each enclosing branch's `{% if … %}`, with
    /// `{% else %}` between.
    fn traced(&self, error: Error, index: usize) -> Error {
        // liquid-lib's text, braces doubled as written there.
        const ELSE: &str = "{{% else %}}";
        let mut error = error;
        let last = index.min(self.branches.len() - 1);
        if index == self.branches.len() {
            error = error.trace(ELSE);
        }
        for (at, branch) in self.branches[..=last].iter().enumerate().rev() {
            if at < last {
                error = error.trace(ELSE);
            }
            error = error.trace(format!("{{% if {} %}}", branch.condition));
        }
        error
    }
}

/// The `else` branch, up to the end of the block. As in Shopify, what follows `else` in its tag
/// is ignored, and so are further `else` and `elsif` branches (parsed, never rendered).
fn parse_otherwise(tokens: &mut TagBlock<'_, '_>, options: &Language) -> Result<Body> {
    let mut otherwise = Body::default();
    let mut ignored = Body::default();
    let mut ignoring = false;
    while let Some(element) = tokens.next()? {
        match element {
            BlockElement::Tag(tag) if matches!(tag.name(), "else" | "elsif") => ignoring = true,
            element if ignoring => ignored.parse_push(element, tokens, options)?,
            element => otherwise.parse_push(element, tokens, options)?,
        }
    }
    Ok(otherwise)
}

impl Renderable for Conditional {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        for (index, branch) in self.branches.iter().enumerate() {
            let holds = branch
                .condition
                .evaluate(runtime)
                .map_err(|error| self.traced(error, index))?;
            if holds == branch.holds {
                return branch
                    .body
                    .render_to(writer, runtime)
                    .map_err(|error| self.traced(error, index));
            }
        }
        if let Some(otherwise) = &self.otherwise {
            otherwise
                .render_to(writer, runtime)
                .map_err(|error| self.traced(error, self.branches.len()))?;
        }
        Ok(())
    }
}

#[derive(Debug)]
enum Condition {
    Binary {
        left: FastExpression,
        operator: Operator,
        right: FastExpression,
    },
    Existence(FastExpression),
    /// `first and rest`: `rest` is evaluated only when `first` holds.
    And(Box<Condition>, Box<Condition>),
    /// `first or rest`: `rest` is evaluated only when `first` does not hold.
    Or(Box<Condition>, Box<Condition>),
}

impl Condition {
    fn evaluate(&self, runtime: &dyn Runtime) -> Result<bool> {
        match self {
            Condition::Binary {
                left,
                operator,
                right,
            } => {
                let left = left.evaluate(runtime)?;
                let right = right.evaluate(runtime)?;
                operator.apply(left.as_view(), right.as_view())
            }
            Condition::Existence(value) => Ok(value
                .try_evaluate(runtime)
                .unwrap_or_default()
                .query_state(State::Truthy)),
            Condition::And(first, rest) => Ok(first.evaluate(runtime)? && rest.evaluate(runtime)?),
            Condition::Or(first, rest) => Ok(first.evaluate(runtime)? || rest.evaluate(runtime)?),
        }
    }

    /// Conditions joined by `and` and `or`, grouped from the right as Shopify's Liquid does.
    fn parse(arguments: TagTokenIter<'_>) -> Result<Self> {
        let mut arguments = Peekable {
            iter: arguments,
            peeked: None,
        };
        let mut atoms = vec![Condition::parse_atom(&mut arguments)?];
        let mut joins = Vec::new();
        while let Some(token) = arguments.next() {
            let and = token.as_str() == "and";
            if !and {
                token
                    .expect_str("or")
                    .into_result_custom_msg("\"and\" or \"or\" expected.")?;
            }
            joins.push(and);
            atoms.push(Condition::parse_atom(&mut arguments)?);
        }
        let mut condition = atoms.pop().expect("one condition at least");
        while let Some(first) = atoms.pop() {
            let (first, rest) = (Box::new(first), Box::new(condition));
            condition = match joins.pop() {
                Some(true) => Condition::And(first, rest),
                _ => Condition::Or(first, rest),
            };
        }
        Ok(condition)
    }

    fn parse_atom(arguments: &mut Peekable<'_>) -> Result<Self> {
        let left = arguments
            .expect_next("Value expected.")?
            .expect_value()
            .into_result()?;
        let operator = arguments
            .peek()
            .map(TagToken::as_str)
            .and_then(Operator::parse);
        let Some(operator) = operator else {
            return Ok(Condition::Existence(FastExpression::new(left)));
        };
        arguments.next();
        let right = arguments
            .expect_next("Value expected.")?
            .expect_value()
            .into_result()?;
        Ok(Condition::Binary {
            left: FastExpression::new(left),
            operator,
            right: FastExpression::new(right),
        })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Binary {
                left,
                operator,
                right,
            } => write!(f, "{left} {} {right}", operator.as_str()),
            Condition::Existence(value) => write!(f, "{value}"),
            Condition::And(first, rest) => write!(f, "{first} and {rest}"),
            Condition::Or(first, rest) => write!(f, "{first} or {rest}"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Operator {
    Equals,
    NotEquals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
    Contains,
}

impl Operator {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "==" => Operator::Equals,
            "!=" | "<>" => Operator::NotEquals,
            "<" => Operator::LessThan,
            ">" => Operator::GreaterThan,
            "<=" => Operator::LessThanEquals,
            ">=" => Operator::GreaterThanEquals,
            "contains" => Operator::Contains,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "==",
            Operator::NotEquals => "!=",
            Operator::LessThan => "<",
            Operator::GreaterThan => ">",
            Operator::LessThanEquals => "<=",
            Operator::GreaterThanEquals => ">=",
            Operator::Contains => "contains",
        }
    }

    fn apply(self, left: &dyn ValueView, right: &dyn ValueView) -> Result<bool> {
        let (a, b) = (ValueViewCmp::new(left), ValueViewCmp::new(right));
        Ok(match self {
            Operator::Equals => a == b,
            Operator::NotEquals => a != b,
            Operator::LessThan => a < b,
            Operator::GreaterThan => a > b,
            Operator::LessThanEquals => a <= b,
            Operator::GreaterThanEquals => a >= b,
            Operator::Contains => return contains(left, right),
        })
    }
}

/// liquid-lib's `contains`: a substring of a text, a key of an object, an item of an array. As
/// in Shopify's Liquid, nothing contains nil or `false`, and a number or a boolean contains
/// nothing.
fn contains(haystack: &dyn ValueView, needle: &dyn ValueView) -> Result<bool> {
    let falsy_needle = needle.is_nil()
        || needle
            .as_scalar()
            .is_some_and(|scalar| scalar.to_bool() == Some(false));
    if falsy_needle {
        return Ok(false);
    }
    if let Some(text) = haystack.as_scalar() {
        if haystack.type_name() != "string" {
            return Ok(false);
        }
        Ok(text.to_kstr().contains(needle.to_kstr().as_str()))
    } else if let Some(object) = haystack.as_object() {
        Ok(needle
            .as_scalar()
            .is_some_and(|key| object.contains_key(key.to_kstr().as_str())))
    } else if let Some(array) = haystack.as_array() {
        let needle = ValueViewCmp::new(needle);
        Ok(array.values().any(|item| ValueViewCmp::new(item) == needle))
    } else {
        Err(Error::with_msg(format!(
            "Expected string | array | object, found `{}`",
            haystack.type_name()
        )))
    }
}

/// A tag's tokens with one of look-ahead (for the comparison operator), raising errors at the
/// position liquid-lib's parser raises them.
struct Peekable<'a> {
    iter: TagTokenIter<'a>,
    peeked: Option<Option<TagToken<'a>>>,
}

impl<'a> Iterator for Peekable<'a> {
    type Item = TagToken<'a>;

    fn next(&mut self) -> Option<TagToken<'a>> {
        match self.peeked.take() {
            Some(token) => token,
            None => self.iter.next(),
        }
    }
}

impl<'a> Peekable<'a> {
    fn expect_next(&mut self, message: &str) -> Result<TagToken<'a>> {
        self.next().ok_or_else(|| self.iter.raise_error(message))
    }

    fn peek(&mut self) -> Option<&TagToken<'a>> {
        if self.peeked.is_none() {
            self.peeked = Some(self.iter.next());
        }
        self.peeked.as_ref().and_then(Option::as_ref)
    }
}

#[cfg(test)]
#[path = "if_block_tests.rs"]
mod tests;
