//! Stdlib filters made to read nil the way Shopify does.
//!
//! liquid's math and array filters reject nil ("Number expected", "String or Array expected"),
//! so `{{ customer.orders | first }}` or `{{ offer.price | minus: offer.discount }}` would fail a
//! send for a customer without orders or an offer without a discount. Shopify reads nil as an
//! empty list in array filters; this wrapper substitutes exactly that. (The math filters are
//! Shopify's own, in `shopify_filters`, and read nil as 0 themselves.)

use std::fmt;

use liquid_core::model::{Value, ValueView};
use liquid_core::parser::FilterArguments;
use liquid_core::{Filter, FilterReflection, ParseFilter, Result, Runtime};

use crate::domain::FieldValue;

static EMPTY_LIST: FieldValue = FieldValue::Array(Vec::new());

#[derive(Clone, Copy, Debug)]
pub(crate) enum NilAs {
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
            NilAs::EmptyList => {
                let input = if input.is_nil() { &EMPTY_LIST } else { input };
                self.inner.evaluate(input, runtime)
            }
        }
    }
}
