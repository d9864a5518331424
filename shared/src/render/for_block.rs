//! A lenient `{% for %}` block.
//!
//! The stdlib block binds each item through liquid's strict stack frame, where `offer.missing`
//! is an "Unknown index" error. This one binds items through [`LoopFrame`], which looks paths up
//! leniently and borrows items instead of copying them. The syntax is the stdlib's, adapted from
//! liquid-lib (MIT): `{% for x in xs limit: n offset: n reversed %}…{% else %}…{% endfor %}`.

use std::io::Write;

use liquid_core::error::ResultLiquidExt;
use liquid_core::model::{KString, Value, ValueCow, ValueView};
use liquid_core::parser::{BlockElement, TryMatchToken};
use liquid_core::runtime::{Interrupt, InterruptRegister};
use liquid_core::{
    BlockReflection, Error, Expression, Language, ParseBlock, Renderable, Result, Runtime,
    TagBlock, TagTokenIter, Template,
};

use super::object_view::fixed_object_view;
use super::runtime::LoopFrame;

/// A counted range longer than this is a template bug (or abuse), not a product grid.
pub(crate) const MAX_RANGE_LEN: i64 = 10_000;

#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct LenientForBlock;

impl BlockReflection for LenientForBlock {
    fn start_tag(&self) -> &str {
        "for"
    }

    fn end_tag(&self) -> &str {
        "endfor"
    }

    fn description(&self) -> &str {
        "Renders its body once per item; a missing collection renders the `else` branch."
    }
}

impl ParseBlock for LenientForBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let var_name = arguments
            .expect_next("Identifier expected.")?
            .expect_identifier()
            .into_result()?;

        arguments
            .expect_next("\"in\" expected.")?
            .expect_str("in")
            .into_result_custom_msg("\"in\" expected.")?;

        let range = arguments.expect_next("Array or range expected.")?;
        let range = match range.expect_value() {
            TryMatchToken::Matches(array) => Collection::Items(array),
            TryMatchToken::Fails(range) => match range.expect_range() {
                TryMatchToken::Matches((start, stop)) => Collection::Range(start, stop),
                TryMatchToken::Fails(range) => return range.raise_error().into_err(),
            },
        };

        let mut limit = None;
        let mut offset = None;
        let mut reversed = false;
        while let Some(token) = arguments.next() {
            match token.as_str() {
                "limit" => limit = Some(parse_attr(&mut arguments)?),
                "offset" => offset = Some(parse_attr(&mut arguments)?),
                "reversed" => reversed = true,
                _ => {
                    return token
                        .raise_custom_error("\"limit\", \"offset\" or \"reversed\" expected.")
                        .into_err();
                }
            }
        }
        arguments.expect_nothing()?;

        let mut body = Vec::new();
        let mut else_body = None;
        while let Some(element) = tokens.next()? {
            match element {
                BlockElement::Tag(mut tag) => match tag.name() {
                    "else" => {
                        tag.tokens().expect_nothing()?;
                        else_body = Some(tokens.parse_all(options)?);
                        break;
                    }
                    _ => body.push(tag.parse(&mut tokens, options)?),
                },
                element => body.push(element.parse(&mut tokens, options)?),
            }
        }
        tokens.assert_empty();

        Ok(Box::new(For {
            var_name: KString::from_ref(var_name),
            collection: range,
            body: Template::new(body),
            else_body: else_body.map(Template::new),
            limit,
            offset,
            reversed,
        }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

fn parse_attr(arguments: &mut TagTokenIter<'_>) -> Result<Expression> {
    arguments
        .expect_next("\":\" expected.")?
        .expect_str(":")
        .into_result_custom_msg("\":\" expected.")?;
    arguments
        .expect_next("Value expected.")?
        .expect_value()
        .into_result()
}

#[derive(Debug)]
enum Collection {
    Items(Expression),
    Range(Expression, Expression),
}

#[derive(Debug)]
struct For {
    var_name: KString,
    collection: Collection,
    body: Template,
    else_body: Option<Template>,
    limit: Option<Expression>,
    offset: Option<Expression>,
    reversed: bool,
}

/// A whole number from any value the way Ruby's `to_i` reads it; nil and nonsense are 0.
fn to_integer(value: &dyn ValueView) -> i64 {
    value
        .as_scalar()
        .and_then(|s| s.to_integer().or_else(|| s.to_float().map(|f| f as i64)))
        .unwrap_or(0)
}

fn evaluate_count(attr: &Option<Expression>, runtime: &dyn Runtime) -> Result<Option<usize>> {
    let Some(attr) = attr else {
        return Ok(None);
    };
    let value = attr.evaluate(runtime)?;
    if value.is_nil() {
        return Ok(None);
    }
    Ok(Some(
        usize::try_from(to_integer(value.as_view())).unwrap_or(0),
    ))
}

impl For {
    fn items<'r>(&self, collection: &'r ValueCow<'_>) -> Vec<ValueCow<'r>> {
        let value = collection.as_view();
        if let Some(array) = value.as_array() {
            array.values().map(ValueCow::Borrowed).collect()
        } else if value.is_nil() {
            Vec::new()
        } else if let Some(object) = value.as_object() {
            // Shopify iterates a hash as [key, value] pairs.
            object
                .iter()
                .map(|(k, v)| {
                    ValueCow::Owned(Value::Array(vec![
                        Value::scalar(k.into_owned()),
                        v.to_value(),
                    ]))
                })
                .collect()
        } else if value.type_name() == "string" {
            // A string is a collection of one, as in Shopify.
            vec![ValueCow::Borrowed(value)]
        } else {
            Vec::new()
        }
    }
}

impl Renderable for For {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let collection = match &self.collection {
            Collection::Items(expression) => expression.evaluate(runtime)?,
            Collection::Range(start, stop) => {
                let start = to_integer(start.evaluate(runtime)?.as_view());
                let stop = to_integer(stop.evaluate(runtime)?.as_view());
                if stop.saturating_sub(start) >= MAX_RANGE_LEN {
                    return Error::with_msg("Range too long")
                        .context("range", format!("({start}..{stop})"))
                        .into_err();
                }
                ValueCow::Owned(Value::Array((start..=stop).map(Value::scalar).collect()))
            }
        };
        let mut items = self.items(&collection);

        let offset = evaluate_count(&self.offset, runtime)?.unwrap_or(0);
        let limit = evaluate_count(&self.limit, runtime)?.unwrap_or(usize::MAX);
        let end = offset.saturating_add(limit).min(items.len());
        let start = offset.min(end);
        items.truncate(end);
        items.drain(..start);
        if self.reversed {
            items.reverse();
        }

        if items.is_empty() {
            if let Some(else_body) = &self.else_body {
                else_body.render_to(writer, runtime)?;
            }
            return Ok(());
        }

        let parentloop = runtime.try_get(&[liquid_core::model::Scalar::new("forloop")]);
        let parentloop = parentloop.as_ref().map(|v| v.as_view());
        let length = items.len();
        for (index, item) in items.iter().enumerate() {
            let forloop = Forloop::new(index, length, parentloop);
            let frame = LoopFrame {
                parent: runtime,
                var_name: self.var_name.as_str(),
                item: item.as_view(),
                forloop: &forloop,
            };
            self.body
                .render_to(writer, &frame)
                .context_key("index")
                .value_with(|| format!("{}", index + 1).into())?;

            // `continue` needs nothing more at the end of the body; `break` ends the loop.
            let interrupt = frame.registers().get_mut::<InterruptRegister>().reset();
            if let Some(Interrupt::Break) = interrupt {
                break;
            }
        }
        Ok(())
    }
}

/// The `forloop` object of Shopify's Liquid.
#[derive(Debug)]
pub(crate) struct Forloop<'p> {
    length: i64,
    index: i64,
    index0: i64,
    rindex: i64,
    rindex0: i64,
    first: bool,
    last: bool,
    parentloop: Option<&'p dyn ValueView>,
}

impl<'p> Forloop<'p> {
    const KEYS: &'static [&'static str] = &[
        "length",
        "index",
        "index0",
        "rindex",
        "rindex0",
        "first",
        "last",
        "parentloop",
    ];

    pub(crate) fn new(index: usize, length: usize, parentloop: Option<&'p dyn ValueView>) -> Self {
        let index = index as i64;
        let length = length as i64;
        Forloop {
            length,
            index: index + 1,
            index0: index,
            rindex: length - index,
            rindex0: length - index - 1,
            first: index == 0,
            last: index == length - 1,
            parentloop: parentloop.filter(|p| !p.is_nil()),
        }
    }

    fn field(&self, key: &str) -> Option<&dyn ValueView> {
        Some(match key {
            "length" => &self.length,
            "index" => &self.index,
            "index0" => &self.index0,
            "rindex" => &self.rindex,
            "rindex0" => &self.rindex0,
            "first" => &self.first,
            "last" => &self.last,
            "parentloop" => &self.parentloop,
            _ => return None,
        })
    }
}

fixed_object_view!(Forloop);
