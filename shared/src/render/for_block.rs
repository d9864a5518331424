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
    TagBlock, TagTokenIter,
};

use super::body::{Body, forget_interrupting_tags_since, interrupting_tags_parsed};
use super::budget::{MAX_LOOP_ITERATIONS, charge_iterations};
use super::object_view::fixed_object_view;
use super::runtime::LoopFrame;

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
        arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let header = LoopHeader::parse(arguments, LoopKind::For)?;
        let before = interrupting_tags_parsed();
        let mut body = Body::default();
        let mut else_body = None;
        while let Some(element) = tokens.next()? {
            match element {
                BlockElement::Tag(mut tag) if tag.name() == "else" => {
                    tag.tokens().expect_nothing()?;
                    // The loop ends its body's `break` and `continue`, not its `else` branch's.
                    forget_interrupting_tags_since(before);
                    else_body = Some(Body::parse_rest(&mut tokens, options)?);
                    break;
                }
                element => body.parse_push(element, &mut tokens, options)?,
            }
        }
        if else_body.is_none() {
            forget_interrupting_tags_since(before);
        }
        tokens.assert_empty();

        Ok(Box::new(For {
            header,
            body,
            else_body,
        }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoopKind {
    For,
    TableRow,
}

/// What `for` and `tablerow` share: `x in collection` and the attributes after it, separated
/// by spaces or commas (`limit: 4, offset: 2`).
#[derive(Debug)]
pub(crate) struct LoopHeader {
    pub(crate) var_name: KString,
    collection: Collection,
    /// Shopify's loop name, `var-collection` as written: `forloop.name`, and the key under
    /// which `offset: continue` finds where the last loop of that name stopped.
    pub(crate) name: String,
    limit: Option<Expression>,
    offset: Option<Offset>,
    pub(crate) cols: Option<Expression>,
    reversed: bool,
    kind: LoopKind,
}

#[derive(Debug)]
enum Offset {
    Value(Expression),
    Continue,
}

impl LoopHeader {
    pub(crate) fn parse(mut arguments: TagTokenIter<'_>, kind: LoopKind) -> Result<Self> {
        let var_name = arguments
            .expect_next("Identifier expected.")?
            .expect_identifier()
            .into_result()?;

        arguments
            .expect_next("\"in\" expected.")?
            .expect_str("in")
            .into_result_custom_msg("\"in\" expected.")?;

        let range = arguments.expect_next("Array or range expected.")?;
        let collection_text: String = range.as_str().split_whitespace().collect();
        let collection = match range.expect_value() {
            TryMatchToken::Matches(array) => Collection::Items(array),
            TryMatchToken::Fails(range) => match range.expect_range() {
                TryMatchToken::Matches((start, stop)) => Collection::Range(start, stop),
                TryMatchToken::Fails(range) => return range.raise_error().into_err(),
            },
        };

        let mut header = LoopHeader {
            var_name: KString::from_ref(var_name),
            collection,
            name: format!("{var_name}-{collection_text}"),
            limit: None,
            offset: None,
            cols: None,
            reversed: false,
            kind,
        };
        while let Some(token) = arguments.next() {
            match token.as_str() {
                "," => {}
                "limit" => header.limit = Some(parse_attr(&mut arguments)?),
                "offset" => header.offset = Some(parse_offset(&mut arguments)?),
                "cols" if kind == LoopKind::TableRow => {
                    header.cols = Some(parse_attr(&mut arguments)?)
                }
                "reversed" if kind == LoopKind::For => header.reversed = true,
                _ => {
                    return token
                        .raise_custom_error("\"limit\", \"offset\" or \"reversed\" expected.")
                        .into_err();
                }
            }
        }
        arguments.expect_nothing()?;
        Ok(header)
    }

    /// The items the loop visits: the collection sliced by `offset` and `limit`, reversed if
    /// asked. A `for` records where it stopped, for a later `offset: continue`.
    pub(crate) fn evaluate<'r>(
        &self,
        collection: &'r ValueCow<'_>,
        runtime: &dyn Runtime,
    ) -> Result<Vec<ValueCow<'r>>> {
        let mut items = items(collection);
        let from = match &self.offset {
            None => 0,
            Some(Offset::Continue) => runtime
                .registers()
                .get_mut::<LoopRegister>()
                .offsets
                .get(&self.name)
                .copied()
                .unwrap_or(0),
            Some(Offset::Value(expression)) => self.count(expression, runtime)?.unwrap_or(0),
        };
        let limit = match &self.limit {
            Some(expression) => self.count(expression, runtime)?,
            None => None,
        };
        let end = limit.map_or(items.len(), |limit| {
            from.saturating_add(limit).min(items.len())
        });
        let start = from.min(end);
        items.truncate(end);
        items.drain(..start);
        if self.kind == LoopKind::For {
            let stopped = from.saturating_add(items.len());
            let mut register = runtime.registers().get_mut::<LoopRegister>();
            // The name is allocated once per render and loop, not per run of the loop.
            match register.offsets.get_mut(&self.name) {
                Some(offset) => *offset = stopped,
                None => {
                    register.offsets.insert(self.name.clone(), stopped);
                }
            }
        }
        if self.reversed {
            items.reverse();
        }
        Ok(items)
    }

    pub(crate) fn evaluate_collection<'r>(
        &'r self,
        runtime: &'r dyn Runtime,
    ) -> Result<ValueCow<'r>> {
        Ok(match &self.collection {
            Collection::Items(expression) => expression.evaluate(runtime)?,
            Collection::Range(start, stop) => {
                let start = to_integer(start.evaluate(runtime)?.as_view());
                let stop = to_integer(stop.evaluate(runtime)?.as_view());
                ValueCow::Owned(range_array(start, stop)?)
            }
        })
    }

    /// A whole number of items (nil is none). `for` reads it as Ruby's `Utils.to_integer`: a
    /// string that is not a number fails the render; `tablerow` as Ruby's `to_i`.
    pub(crate) fn count(
        &self,
        expression: &Expression,
        runtime: &dyn Runtime,
    ) -> Result<Option<usize>> {
        let value = expression.evaluate(runtime)?;
        let value = value.as_view();
        if value.is_nil() {
            return Ok(None);
        }
        let Some(scalar) = value.as_scalar() else {
            return Error::with_msg("invalid integer").into_err();
        };
        let number = match (scalar.to_integer(), scalar.to_float()) {
            (Some(integer), _) => integer,
            (None, Some(float)) => float as i64,
            (None, None) if self.kind == LoopKind::TableRow => to_integer(value),
            (None, None) => return Error::with_msg("invalid integer").into_err(),
        };
        Ok(Some(usize::try_from(number).unwrap_or(0)))
    }
}

/// Where loops stopped (`offset: continue`) and how many `for` loops enclose the current one.
#[derive(Default)]
pub(crate) struct LoopRegister {
    offsets: std::collections::HashMap<String, usize>,
    depth: usize,
}

/// The array `(start..stop)` stands for.
pub(crate) fn range_array(start: i64, stop: i64) -> Result<Value> {
    // A range longer than the whole loop budget can never be iterated: refused before it is
    // built, so `(1..100000000)` allocates nothing.
    if stop.saturating_sub(start) >= MAX_LOOP_ITERATIONS as i64 {
        return super::budget::exceeded("loop iterations", MAX_LOOP_ITERATIONS)
            .context("range", format!("({start}..{stop})"))
            .into_err();
    }
    Ok(Value::Array((start..=stop).map(Value::scalar).collect()))
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

fn parse_offset(arguments: &mut TagTokenIter<'_>) -> Result<Offset> {
    arguments
        .expect_next("\":\" expected.")?
        .expect_str(":")
        .into_result_custom_msg("\":\" expected.")?;
    let token = arguments.expect_next("Value expected.")?;
    if token.as_str() == "continue" {
        return Ok(Offset::Continue);
    }
    Ok(Offset::Value(token.expect_value().into_result()?))
}

#[derive(Debug)]
enum Collection {
    Items(Expression),
    Range(Expression, Expression),
}

#[derive(Debug)]
struct For {
    header: LoopHeader,
    body: Body,
    else_body: Option<Body>,
}

/// A whole number from any value the way Ruby's `to_i` reads it; nil and nonsense are 0.
pub(crate) fn to_integer(value: &dyn ValueView) -> i64 {
    value
        .as_scalar()
        .and_then(|s| s.to_integer().or_else(|| s.to_float().map(|f| f as i64)))
        .unwrap_or(0)
}

/// What a loop visits in a value: an array's items, a hash's `[key, value]` pairs, a non-empty
/// string as a collection of one, nothing in nil or anything else.
fn items<'r>(collection: &'r ValueCow<'_>) -> Vec<ValueCow<'r>> {
    let value = collection.as_view();
    if let Some(array) = value.as_array() {
        array.values().map(ValueCow::Borrowed).collect()
    } else if value.is_nil() {
        Vec::new()
    } else if let Some(object) = value.as_object() {
        // Shopify iterates a hash as [key, value] pairs, in its order. The data's objects keep
        // their keys sorted (`FieldValue`), liquid's own (a filter's result) none: sorted here
        // too, so that a render is the same every time.
        let mut pairs: Vec<_> = object.iter().collect();
        pairs.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        pairs
            .into_iter()
            .map(|(k, v)| {
                ValueCow::Owned(Value::Array(vec![
                    Value::scalar(k.into_owned()),
                    v.to_value(),
                ]))
            })
            .collect()
    } else if value.type_name() == "string" && !value.to_kstr().is_empty() {
        vec![ValueCow::Borrowed(value)]
    } else {
        Vec::new()
    }
}

impl Renderable for For {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let collection = self.header.evaluate_collection(runtime)?;
        let items = self.header.evaluate(&collection, runtime)?;
        charge_iterations(runtime, items.len())?;

        if items.is_empty() {
            if let Some(else_body) = &self.else_body {
                else_body.render_to(writer, runtime)?;
            }
            return Ok(());
        }

        // Only a `for` in this scope is a parent loop: a snippet rendered `for` each item has
        // a `forloop` of its own, but a loop inside it has no parent (as in Shopify).
        let nested = runtime.registers().get_mut::<LoopRegister>().depth > 0;
        let parentloop = if nested {
            runtime.try_get(&[liquid_core::model::Scalar::new("forloop")])
        } else {
            None
        };
        let parentloop = parentloop.as_ref().map(|v| v.as_view());
        runtime.registers().get_mut::<LoopRegister>().depth += 1;
        let rendered = self.render_items(&items, parentloop, writer, runtime);
        runtime.registers().get_mut::<LoopRegister>().depth -= 1;
        rendered
    }
}

impl For {
    fn render_items(
        &self,
        items: &[ValueCow<'_>],
        parentloop: Option<&dyn ValueView>,
        writer: &mut dyn Write,
        runtime: &dyn Runtime,
    ) -> Result<()> {
        let length = items.len();
        for (index, item) in items.iter().enumerate() {
            let mut forloop = Forloop::new(index, length, parentloop);
            forloop.name = &self.header.name;
            let frame = LoopFrame {
                parent: runtime,
                var_name: self.header.var_name.as_str(),
                item: item.as_view(),
                loop_name: "forloop",
                forloop: &forloop,
            };
            self.body
                .render_to(writer, &frame)
                .context_key("index")
                .value_with(|| format!("{}", index + 1).into())?;

            // `continue` needs nothing more at the end of the body; `break` ends the loop. A
            // body without either cannot have set the register.
            if !self.body.may_interrupt() {
                continue;
            }
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
    pub(crate) name: &'p str,
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
        "name",
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
            name: "",
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
            "name" => &self.name,
            _ => return None,
        })
    }
}

fixed_object_view!(Forloop);
