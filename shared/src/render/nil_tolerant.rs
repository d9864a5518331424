//! Stdlib filters made to read nil the way Shopify does.
//!
//! liquid's math and array filters reject nil ("Number expected", "String or Array expected"),
//! so `{{ customer.orders | first }}` or `{{ offer.price | minus: offer.discount }}` would fail a
//! send for a customer without orders or an offer without a discount. Shopify reads nil as 0 in
//! math and as an empty list in array filters; these wrappers substitute exactly that.

use std::collections::BTreeSet;
use std::fmt;

use liquid_core::model::{KString, KStringCow, KStringRef, ScalarCow, Value, ValueCow, ValueView};
use liquid_core::parser::FilterArguments;
use liquid_core::runtime::{PartialStore, Registers};
use liquid_core::{Filter, FilterReflection, ParseFilter, Result, Runtime};

use crate::domain::FieldValue;

static ZERO: FieldValue = FieldValue::Integer(0);
static EMPTY_LIST: FieldValue = FieldValue::Array(Vec::new());

#[derive(Clone, Copy, Debug)]
pub(crate) enum NilAs {
    /// Math filters: a nil input or a nil argument is 0.
    Zero,
    /// Array filters: a nil input is an empty list.
    EmptyList,
}

#[derive(Clone)]
pub(crate) struct NilTolerant<F> {
    inner: F,
    nil_as: NilAs,
}

impl<F> NilTolerant<F> {
    pub(crate) fn new(inner: F, nil_as: NilAs) -> Self {
        NilTolerant { inner, nil_as }
    }
}

impl<F: ParseFilter + Clone + 'static> ParseFilter for NilTolerant<F> {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        Ok(Box::new(NilTolerantFilter {
            inner: self.inner.parse(arguments)?,
            nil_as: self.nil_as,
        }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self.inner.reflection()
    }
}

#[derive(Debug)]
struct NilTolerantFilter {
    inner: Box<dyn Filter>,
    nil_as: NilAs,
}

impl fmt::Display for NilTolerantFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Filter for NilTolerantFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        match self.nil_as {
            NilAs::Zero => {
                let input = if input.is_nil() { &ZERO } else { input };
                self.inner.evaluate(input, &NilArgumentsAsZero(runtime))
            }
            NilAs::EmptyList => {
                let input = if input.is_nil() { &EMPTY_LIST } else { input };
                self.inner.evaluate(input, runtime)
            }
        }
    }
}

/// The runtime a math filter evaluates its arguments in: a variable that is nil reads as 0.
struct NilArgumentsAsZero<'r>(&'r dyn Runtime);

fn zero_if_nil(value: ValueCow<'_>) -> ValueCow<'_> {
    if value.is_nil() {
        ValueCow::Borrowed(&ZERO)
    } else {
        value
    }
}

impl Runtime for NilArgumentsAsZero<'_> {
    fn partials(&self) -> &dyn PartialStore {
        self.0.partials()
    }

    fn name(&self) -> Option<KStringRef<'_>> {
        self.0.name()
    }

    fn roots(&self) -> BTreeSet<KStringCow<'_>> {
        self.0.roots()
    }

    fn try_get(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        self.0.try_get(path).map(zero_if_nil)
    }

    fn get(&self, path: &[ScalarCow<'_>]) -> Result<ValueCow<'_>> {
        self.0.get(path).map(zero_if_nil)
    }

    fn set_global(&self, name: KString, val: Value) -> Option<Value> {
        self.0.set_global(name, val)
    }

    fn set_index(&self, name: KString, val: Value) -> Option<Value> {
        self.0.set_index(name, val)
    }

    fn get_index<'a>(&'a self, name: &str) -> Option<ValueCow<'a>> {
        self.0.get_index(name)
    }

    fn registers(&self) -> &Registers {
        self.0.registers()
    }
}
