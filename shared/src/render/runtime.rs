//! The render runtime: variable lookup with Shopify's semantics, where anything missing is nil.
//!
//! liquid's own runtime raises "Unknown variable" / "Unknown index" and copies every value it
//! looks up into an owned `Value`; after that copy a loop item or an assigned object is strict
//! again. This runtime resolves every path itself, leniently, and hands out borrowed views.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use liquid_core::model::{KString, KStringCow, KStringRef, ScalarCow, Value, ValueCow, ValueView};
use liquid_core::runtime::{PartialStore, Registers};
use liquid_core::{Error, Object, ObjectView, Renderable, Result, Runtime};

use super::value::NIL;

/// Resolves `path` below `root`. Never fails: a missing key, an index out of range or a key on a
/// scalar gives nil, as in Shopify's Liquid. Every nil comes back as the lenient [`NIL`], which
/// tags like `contains` read as an empty collection instead of rejecting.
pub(crate) fn lookup<'v>(root: &'v dyn ValueView, path: &[ScalarCow<'_>]) -> ValueCow<'v> {
    let mut current = ValueCow::Borrowed(root);
    for index in path {
        current = match current {
            ValueCow::Borrowed(value) => step(value, index),
            ValueCow::Owned(value) => ValueCow::Owned(step(&value, index).into_owned()),
        };
    }
    match current {
        ValueCow::Borrowed(value) if value.is_nil() => ValueCow::Borrowed(&NIL),
        ValueCow::Owned(value) if value.is_nil() => ValueCow::Borrowed(&NIL),
        other => other,
    }
}

/// The text of a path's key, borrowed: liquid's `to_kstr` copies a short key out of its inline
/// buffer on every lookup, which costs more than the lookup.
pub(crate) fn key_text<'s>(index: &'s ScalarCow<'_>) -> Cow<'s, str> {
    index.as_ref().into_cow_str()
}

fn step<'v>(value: &'v dyn ValueView, index: &ScalarCow<'_>) -> ValueCow<'v> {
    let nil = ValueCow::Borrowed(&NIL as &dyn ValueView);
    if let Some(array) = value.as_array() {
        if let Some(i) = index.to_integer() {
            return array.get(i).map_or(nil, ValueCow::Borrowed);
        }
        return match &*key_text(index) {
            "first" => array.first().map_or(nil, ValueCow::Borrowed),
            "last" => array.last().map_or(nil, ValueCow::Borrowed),
            "size" => ValueCow::Owned(Value::scalar(array.size())),
            _ => nil,
        };
    }
    if let Some(object) = value.as_object() {
        let key = key_text(index);
        // One `get`, not `contains_key` and `get`: a missing key and a nil value both end as nil.
        return match object.get(&key) {
            Some(found) => ValueCow::Borrowed(found),
            None if key == "size" && !value.is_nil() => {
                ValueCow::Owned(Value::scalar(object.size()))
            }
            None => nil,
        };
    }
    if let Some(scalar) = value.as_scalar()
        && key_text(index) == "size"
    {
        // Shopify counts characters; liquid counts bytes.
        let chars = scalar.to_kstr().as_str().chars().count();
        return ValueCow::Owned(Value::scalar(i64::try_from(chars).unwrap_or(i64::MAX)));
    }
    nil
}

/// The outermost frame of a render: template variables (`vars`), the recipient's context,
/// variables the template assigns, and `increment` counters.
pub(crate) struct LenientRuntime<'g> {
    vars: &'g dyn ValueView,
    context: &'g dyn ObjectView,
    partials: &'g dyn PartialStore,
    assigned: RefCell<Object>,
    counters: RefCell<Object>,
    registers: Registers,
}

impl<'g> LenientRuntime<'g> {
    pub(crate) fn new(
        vars: &'g dyn ValueView,
        context: &'g dyn ObjectView,
        partials: Option<&'g dyn PartialStore>,
    ) -> Self {
        LenientRuntime {
            vars,
            partials: partials.unwrap_or(&NoPartials),
            context,
            assigned: RefCell::default(),
            counters: RefCell::default(),
            registers: Registers::default(),
        }
    }

    fn resolve(&self, path: &[ScalarCow<'_>]) -> ValueCow<'_> {
        let Some(first) = path.first() else {
            return ValueCow::Borrowed(&NIL);
        };
        let name = key_text(first);
        let rest = &path[1..];
        // Assigned variables shadow the data, as in Shopify where `assign` writes to the
        // outermost scope, which is searched before the data passed in.
        {
            let assigned = self.assigned.borrow();
            if !assigned.is_empty()
                && let Some(value) = assigned.get(&*name)
            {
                return ValueCow::Owned(lookup(value, rest).into_owned());
            }
        }
        if &*name == "vars" {
            return lookup(self.vars, rest);
        }
        if let Some(value) = self.context.get(&name)
            && !value.is_nil()
        {
            return lookup(value, rest);
        }
        if let Some(value) = self.counters.borrow().get(&*name) {
            return ValueCow::Owned(lookup(value, rest).into_owned());
        }
        ValueCow::Borrowed(&NIL)
    }
}

impl Runtime for LenientRuntime<'_> {
    fn partials(&self) -> &dyn PartialStore {
        self.partials
    }

    fn name(&self) -> Option<KStringRef<'_>> {
        None
    }

    fn roots(&self) -> BTreeSet<KStringCow<'_>> {
        let mut roots: BTreeSet<KStringCow<'_>> = self.context.keys().collect();
        roots.insert(KStringCow::from_static("vars"));
        roots.extend(
            self.assigned
                .borrow()
                .keys()
                .map(|k| KStringCow::from(k.clone())),
        );
        roots
    }

    fn try_get(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        Some(self.resolve(path))
    }

    fn get(&self, path: &[ScalarCow<'_>]) -> Result<ValueCow<'_>> {
        Ok(self.resolve(path))
    }

    fn set_global(&self, name: KString, val: Value) -> Option<Value> {
        self.assigned.borrow_mut().insert(name, val)
    }

    fn set_index(&self, name: KString, val: Value) -> Option<Value> {
        self.counters.borrow_mut().insert(name, val)
    }

    fn get_index<'a>(&'a self, name: &str) -> Option<ValueCow<'a>> {
        self.counters
            .borrow()
            .get(name)
            .map(|v| ValueCow::Owned(v.clone()))
    }

    fn registers(&self) -> &Registers {
        &self.registers
    }
}

/// One iteration of a `for` loop: the loop variable and `forloop` over the enclosing frame.
pub(crate) struct LoopFrame<'p> {
    pub(crate) parent: &'p dyn Runtime,
    pub(crate) var_name: &'p str,
    pub(crate) item: &'p dyn ValueView,
    /// `forloop`, or `tablerowloop` in a `tablerow`.
    pub(crate) loop_name: &'p str,
    pub(crate) forloop: &'p dyn ValueView,
}

impl LoopFrame<'_> {
    fn resolve(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        let first = path.first()?;
        let name = key_text(first);
        if &*name == self.var_name {
            Some(lookup(self.item, &path[1..]))
        } else if &*name == self.loop_name {
            Some(lookup(self.forloop, &path[1..]))
        } else {
            None
        }
    }
}

impl Runtime for LoopFrame<'_> {
    fn partials(&self) -> &dyn PartialStore {
        self.parent.partials()
    }

    fn name(&self) -> Option<KStringRef<'_>> {
        self.parent.name()
    }

    fn roots(&self) -> BTreeSet<KStringCow<'_>> {
        let mut roots = self.parent.roots();
        roots.insert(KStringCow::from_ref(self.var_name));
        roots.insert(KStringCow::from_ref(self.loop_name));
        roots
    }

    fn try_get(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        match self.resolve(path) {
            Some(value) => Some(value),
            None => self.parent.try_get(path),
        }
    }

    fn get(&self, path: &[ScalarCow<'_>]) -> Result<ValueCow<'_>> {
        match self.resolve(path) {
            Some(value) => Ok(value),
            None => self.parent.get(path),
        }
    }

    fn set_global(&self, name: KString, val: Value) -> Option<Value> {
        self.parent.set_global(name, val)
    }

    fn set_index(&self, name: KString, val: Value) -> Option<Value> {
        self.parent.set_index(name, val)
    }

    fn get_index<'a>(&'a self, name: &str) -> Option<ValueCow<'a>> {
        self.parent.get_index(name)
    }

    fn registers(&self) -> &Registers {
        self.parent.registers()
    }
}

/// A template compiled without snippets: `include` and `render` are not registered, so nothing
/// asks.
#[derive(Debug)]
struct NoPartials;

impl PartialStore for NoPartials {
    fn contains(&self, _name: &str) -> bool {
        false
    }

    fn names(&self) -> Vec<&str> {
        Vec::new()
    }

    fn try_get(&self, _name: &str) -> Option<Arc<dyn Renderable>> {
        None
    }

    fn get(&self, name: &str) -> Result<Arc<dyn Renderable>> {
        Err(Error::with_msg("Partials are not supported").context("name", name.to_owned()))
    }
}
