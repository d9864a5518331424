//! Partials: `{% render 'name' %}` (an isolated scope) and `{% include 'name' %}` (the caller's
//! scope), as in Shopify. A template is compiled with the partials it may use ([`Partials`]);
//! a partial named by a string literal that is not among them fails the compile, so a missing
//! snippet is a publish error, not a send error. The tags' syntax is Shopify's, adapted from
//! liquid-lib's `render` tag (MIT): `'name' [with value [as alias] | for values [as alias]]
//! [,] [key: value, …]`. liquid-lib's own tags bind variables through liquid's strict frames,
//! where a missing variable is an error; these bind them leniently, as the rest of a render.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;

use liquid_core::model::{KString, KStringCow, KStringRef, Object, ScalarCow, Value, ValueCow};
use liquid_core::parser::TryMatchToken;
use liquid_core::runtime::{InterruptRegister, PartialStore, Registers};
use liquid_core::{
    Error, Expression, Language, ParseTag, Renderable, Result, Runtime, TagReflection,
    TagTokenIter, ValueView,
};

use super::body::{Body, interrupting_tags_parsed};
use super::budget::Iterations;
use super::for_block::Forloop;
use super::runtime::{key_text, lookup};
use super::value::NIL;

/// How deep partials may render each other (a partial that renders itself stops here).
pub const MAX_PARTIAL_DEPTH: usize = 16;

/// Names a partial rendered with `render` still sees: the template's variables and the brand,
/// as a Shopify snippet sees `settings` and `shop`.
const GLOBALS: &[&str] = &["vars", "brand"];

/// The compiled partials of one template.
#[derive(Debug, Default)]
pub(crate) struct Partials {
    compiled: BTreeMap<String, Arc<dyn Renderable>>,
}

impl Partials {
    /// Compiles every source with `language` extended by `render` and `include`.
    pub(crate) fn compile(
        sources: &BTreeMap<String, String>,
        base: &Language,
        parse: impl Fn(&str, &Language) -> std::result::Result<Vec<Box<dyn Renderable>>, String>,
    ) -> std::result::Result<(Arc<Partials>, Language), String> {
        let names: Arc<BTreeSet<String>> = Arc::new(sources.keys().cloned().collect());
        let mut language = base.clone();
        for kind in [Kind::Render, Kind::Include] {
            let tag = PartialTag {
                kind,
                names: Arc::clone(&names),
            };
            language
                .tags
                .register(kind.name().to_owned(), Box::new(tag));
        }
        let mut compiled = BTreeMap::new();
        for (name, source) in sources {
            let before = interrupting_tags_parsed();
            let elements =
                parse(source, &language).map_err(|error| format!("snippet `{name}`: {error}"))?;
            let body = Body::uniform(elements, interrupting_tags_parsed() != before);
            compiled.insert(name.clone(), Arc::new(body) as Arc<dyn Renderable>);
        }
        Ok((Arc::new(Partials { compiled }), language))
    }
}

impl PartialStore for Partials {
    fn contains(&self, name: &str) -> bool {
        self.compiled.contains_key(name)
    }

    fn names(&self) -> Vec<&str> {
        self.compiled.keys().map(String::as_str).collect()
    }

    fn try_get(&self, name: &str) -> Option<Arc<dyn Renderable>> {
        self.compiled.get(name).cloned()
    }

    fn get(&self, name: &str) -> Result<Arc<dyn Renderable>> {
        self.try_get(name)
            .ok_or_else(|| Error::with_msg("no such snippet").context("name", name.to_owned()))
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Render,
    Include,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Render => "render",
            Kind::Include => "include",
        }
    }
}

#[derive(Clone, Debug)]
struct PartialTag {
    kind: Kind,
    names: Arc<BTreeSet<String>>,
}

impl TagReflection for PartialTag {
    fn tag(&self) -> &str {
        self.kind.name()
    }

    fn description(&self) -> &str {
        "Renders a snippet."
    }
}

fn value_or_range(token: liquid_core::parser::TagToken<'_>) -> Result<Argument> {
    match token.expect_value() {
        TryMatchToken::Matches(value) => Ok(Argument::Value(value)),
        TryMatchToken::Fails(token) => match token.expect_range() {
            TryMatchToken::Matches((start, stop)) => Ok(Argument::Range(start, stop)),
            TryMatchToken::Fails(token) => token.raise_error().into_err(),
        },
    }
}

impl ParseTag for PartialTag {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        _options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        if matches!(self.kind, Kind::Include) {
            // A `break` or `continue` in an included snippet reaches the caller's loop.
            super::body::note_interrupting_tag();
        }
        let name = arguments
            .expect_next("A snippet name expected.")?
            .expect_value()
            .into_result()?;
        if let Expression::Literal(literal) = &name {
            let literal = literal.to_kstr();
            if !self.names.contains(literal.as_str()) {
                return Error::with_msg(format!("the snippet `{literal}` does not exist"))
                    .into_err();
            }
        } else if matches!(self.kind, Kind::Render) {
            return Error::with_msg("`render` takes the snippet's name in quotes").into_err();
        }
        let mut bound = None;
        let mut token = arguments.next();
        if let Some(keyword) = token.as_ref().map(|t| t.as_str().to_owned())
            && (keyword == "with" || keyword == "for")
        {
            let value = value_or_range(arguments.expect_next("A value expected.")?)?;
            token = arguments.next();
            let mut alias = None;
            if token.as_ref().is_some_and(|t| t.as_str() == "as") {
                let identifier = arguments.expect_next("A name expected after `as`.")?;
                alias = Some(KString::from_ref(
                    identifier.expect_identifier().into_result()?,
                ));
                token = arguments.next();
            }
            bound = Some(Bound {
                each: keyword == "for",
                value,
                alias,
            });
        }
        let mut keywords = Vec::new();
        while let Some(current) = token {
            let current = match current.as_str() {
                "," => arguments.expect_next("A keyword argument expected.")?,
                _ => current,
            };
            let key = KString::from_ref(current.expect_identifier().into_result()?);
            arguments
                .expect_next("\":\" expected.")?
                .expect_str(":")
                .into_result_custom_msg("\":\" expected.")?;
            keywords.push((
                key,
                value_or_range(arguments.expect_next("A value expected.")?)?,
            ));
            token = arguments.next();
        }
        Ok(Box::new(PartialCall {
            kind: self.kind,
            name,
            bound,
            keywords,
        }))
    }

    fn reflection(&self) -> &dyn TagReflection {
        self
    }
}

#[derive(Debug)]
enum Argument {
    Value(Expression),
    Range(Expression, Expression),
}

impl Argument {
    fn evaluate<'r>(&'r self, runtime: &'r dyn Runtime) -> Result<ValueCow<'r>> {
        match self {
            Argument::Value(expression) => expression.evaluate(runtime),
            Argument::Range(start, stop) => {
                let bound = |e: &Expression| -> Result<i64> {
                    let value = e.evaluate(runtime)?;
                    Ok(value.as_scalar().and_then(|s| s.to_integer()).unwrap_or(0))
                };
                let (start, stop) = (bound(start)?, bound(stop)?);
                Ok(ValueCow::Owned(super::for_block::range_array(start, stop)?))
            }
        }
    }
}

#[derive(Debug)]
struct Bound {
    each: bool,
    value: Argument,
    alias: Option<KString>,
}

#[derive(Debug)]
struct PartialCall {
    kind: Kind,
    name: Expression,
    bound: Option<Bound>,
    keywords: Vec<(KString, Argument)>,
}

/// How many partials deep the render is.
#[derive(Default)]
struct Depth(usize);

impl Renderable for PartialCall {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let name = self.name.evaluate(runtime)?;
        let name = name.to_kstr();
        let partial = runtime.partials().get(name.as_str())?;
        let depth = runtime.registers().get_mut::<Depth>().0 + 1;
        if depth > MAX_PARTIAL_DEPTH {
            return Error::with_msg(format!("snippets nest more than {MAX_PARTIAL_DEPTH} deep"))
                .into_err();
        }
        // The arguments are the caller's values, borrowed for the snippet's render.
        let keywords = self
            .keywords
            .iter()
            .map(|(key, value)| Ok((key.as_str(), value.evaluate(runtime)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut arguments: Vec<(&str, &dyn ValueView)> =
            keywords.iter().map(|(k, v)| (*k, v.as_view())).collect();
        let Some(bound) = &self.bound else {
            return self.render_once(&*partial, writer, runtime, &arguments, None, depth);
        };
        let alias = bound.alias.as_deref().unwrap_or(name.as_str());
        let value = bound.value.evaluate(runtime)?;
        let items: Vec<&dyn ValueView> = match value.as_array() {
            Some(array) if bound.each => array.values().collect(),
            _ => vec![value.as_view()],
        };
        let length = items.len();
        if bound.each {
            super::budget::charge_iterations(runtime, length)?;
        }
        for (index, item) in items.into_iter().enumerate() {
            arguments.push((alias, item));
            let forloop = bound.each.then(|| Forloop::new(index, length, None));
            let forloop = forloop.as_ref().map(|f| f as &dyn ValueView);
            let rendered = self.render_once(&*partial, writer, runtime, &arguments, forloop, depth);
            arguments.pop();
            rendered?;
        }
        Ok(())
    }
}

impl PartialCall {
    fn render_once(
        &self,
        partial: &dyn Renderable,
        writer: &mut dyn Write,
        runtime: &dyn Runtime,
        arguments: &[(&str, &dyn ValueView)],
        forloop: Option<&dyn ValueView>,
        depth: usize,
    ) -> Result<()> {
        let frame = PartialFrame {
            parent: runtime,
            isolated: matches!(self.kind, Kind::Render),
            arguments,
            assigned: std::cell::RefCell::new(Object::new()),
            forloop,
            registers: Registers::default(),
        };
        frame.registers().get_mut::<Depth>().0 = depth;
        // The loop budget is the whole render's: carried into the snippet and back.
        *frame.registers().get_mut::<Iterations>() = *runtime.registers().get_mut::<Iterations>();
        let rendered = partial.render_to(writer, &frame);
        *runtime.registers().get_mut::<Iterations>() = *frame.registers().get_mut::<Iterations>();
        if matches!(self.kind, Kind::Include) {
            // `break` and `continue` in an included snippet reach the caller's loop.
            let interrupt = frame.registers.get_mut::<InterruptRegister>().reset();
            if let Some(interrupt) = interrupt {
                runtime
                    .registers()
                    .get_mut::<InterruptRegister>()
                    .set(interrupt);
            }
        }
        runtime.registers().get_mut::<Depth>().0 = depth - 1;
        rendered
    }
}

/// The scope of one rendered snippet: its assignments, then its arguments (later ones win), over
/// the caller's scope (`include`), or over nothing but [`GLOBALS`] (`render`).
struct PartialFrame<'p> {
    parent: &'p dyn Runtime,
    isolated: bool,
    arguments: &'p [(&'p str, &'p dyn ValueView)],
    assigned: std::cell::RefCell<Object>,
    forloop: Option<&'p dyn ValueView>,
    registers: Registers,
}

impl PartialFrame<'_> {
    fn resolve(&self, path: &[ScalarCow<'_>]) -> ValueCow<'_> {
        let Some(first) = path.first() else {
            return ValueCow::Borrowed(&NIL);
        };
        let name = key_text(first);
        let name = &*name;
        {
            let assigned = self.assigned.borrow();
            if !assigned.is_empty()
                && let Some(value) = assigned.get(name)
            {
                return ValueCow::Owned(lookup(value, &path[1..]).into_owned());
            }
        }
        if let Some((_, value)) = self.arguments.iter().rev().find(|(k, _)| *k == name) {
            return lookup(*value, &path[1..]);
        }
        if name == "forloop"
            && let Some(forloop) = self.forloop
        {
            return lookup(forloop, &path[1..]);
        }
        if !self.isolated || GLOBALS.contains(&name) {
            return self
                .parent
                .try_get(path)
                .unwrap_or(ValueCow::Borrowed(&NIL));
        }
        ValueCow::Borrowed(&NIL)
    }
}

impl Runtime for PartialFrame<'_> {
    fn partials(&self) -> &dyn PartialStore {
        self.parent.partials()
    }

    fn name(&self) -> Option<KStringRef<'_>> {
        None
    }

    fn roots(&self) -> BTreeSet<KStringCow<'_>> {
        let mut roots: BTreeSet<KStringCow<'_>> = self
            .assigned
            .borrow()
            .keys()
            .map(|k| KStringCow::from(k.clone()))
            .collect();
        roots.extend(self.arguments.iter().map(|(k, _)| KStringCow::from_ref(k)));
        if !self.isolated {
            roots.extend(self.parent.roots());
        }
        roots
    }

    fn try_get(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        Some(self.resolve(path))
    }

    fn get(&self, path: &[ScalarCow<'_>]) -> Result<ValueCow<'_>> {
        Ok(self.resolve(path))
    }

    fn set_global(&self, name: KString, val: Value) -> Option<Value> {
        if self.isolated {
            self.assigned.borrow_mut().insert(name, val)
        } else {
            self.parent.set_global(name, val)
        }
    }

    fn set_index(&self, name: KString, val: Value) -> Option<Value> {
        if self.isolated {
            let key = KString::from(format!("\u{0}counter:{name}"));
            self.assigned.borrow_mut().insert(key, val)
        } else {
            self.parent.set_index(name, val)
        }
    }

    fn get_index<'a>(&'a self, name: &str) -> Option<ValueCow<'a>> {
        if self.isolated {
            let key = format!("\u{0}counter:{name}");
            self.assigned
                .borrow()
                .get(key.as_str())
                .cloned()
                .map(ValueCow::Owned)
        } else {
            self.parent.get_index(name)
        }
    }

    fn registers(&self) -> &Registers {
        &self.registers
    }
}
