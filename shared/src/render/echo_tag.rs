//! `{% echo %}`, and every `{{ … }}` output: the preprocessor ([`super::markup`]) writes outputs
//! as `echo` tags, so that values print as Ruby Liquid prints them. liquid prints a float
//! without its fraction when it is whole (`{{ 10 | plus: 2.0 }}` as `12`); Shopify prints
//! `12.0`, and a price of `5.0` printed as `5` is a visible difference in an email.

use std::fmt;
use std::io::Write;

use super::chain::Chain;
use liquid_core::model::ValueView;
use liquid_core::{Language, ParseTag, Renderable, Result, Runtime, TagReflection, TagTokenIter};

#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct EchoTag;

impl TagReflection for EchoTag {
    fn tag(&self) -> &str {
        "echo"
    }

    fn description(&self) -> &str {
        "Prints an expression, as `{{ … }}` does."
    }
}

impl ParseTag for EchoTag {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let Some(token) = arguments.next() else {
            return Ok(Box::new(Echo { chain: None }));
        };
        let text = token.as_str().to_owned();
        let chain = token.expect_filter_chain(options).into_result()?;
        arguments.expect_nothing()?;
        Ok(Box::new(Echo {
            chain: Some(Chain::new(&text, chain, options)),
        }))
    }

    fn reflection(&self) -> &dyn TagReflection {
        self
    }
}

#[derive(Debug)]
struct Echo {
    chain: Option<Chain>,
}

impl Renderable for Echo {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let Some(chain) = &self.chain else {
            return Ok(());
        };
        let value = chain.evaluate(runtime)?;
        write_value(writer, value.as_view())
            .map_err(|error| liquid_core::Error::with_msg(error.to_string()))
    }
}

/// Writes what [`RubyDisplay`] prints; nil and text (most outputs) without the formatting
/// machinery.
fn write_value(writer: &mut dyn Write, value: &dyn ValueView) -> std::io::Result<()> {
    if value.is_nil() {
        return Ok(());
    }
    if value.type_name() == "string"
        && let Some(text) = value.as_scalar()
    {
        return writer.write_all(text.as_ref().into_cow_str().as_bytes());
    }
    write!(writer, "{}", RubyDisplay(value))
}

/// A value as Ruby Liquid prints it: floats with their fraction, lists item after item.
pub(crate) struct RubyDisplay<'v>(pub(crate) &'v dyn ValueView);

impl fmt::Display for RubyDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        if let Some(array) = value.as_array() {
            for item in array.values() {
                RubyDisplay(item).fmt(f)?;
            }
            return Ok(());
        }
        if value.type_name() == "fractional number"
            && let Some(float) = value.as_scalar().and_then(|s| s.to_float())
        {
            return write_ruby_float(f, float);
        }
        write!(f, "{}", value.render())
    }
}

/// Ruby's `Float#to_s`: `12.0`, `0.1`, `1.0e+16`, `1.0e-05`.
pub(crate) fn write_ruby_float(f: &mut dyn fmt::Write, float: f64) -> fmt::Result {
    if float.is_nan() {
        return f.write_str("NaN");
    }
    if float.is_infinite() {
        return f.write_str(if float > 0.0 { "Infinity" } else { "-Infinity" });
    }
    let magnitude = float.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let text = format!("{float:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ('-', digits),
            None => ('+', exponent),
        };
        let fraction = if mantissa.contains('.') { "" } else { ".0" };
        return write!(f, "{mantissa}{fraction}e{sign}{digits:0>2}");
    }
    if float.fract() == 0.0 {
        write!(f, "{float:.1}")
    } else {
        write!(f, "{float}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruby(float: f64) -> String {
        let mut out = String::new();
        write_ruby_float(&mut out, float).unwrap();
        out
    }

    #[test]
    fn given_floats_when_printed_then_as_ruby_prints_them() {
        assert_eq!(ruby(12.0), "12.0");
        assert_eq!(ruby(-0.5), "-0.5");
        assert_eq!(ruby(19.99), "19.99");
        assert_eq!(ruby(1e16), "1.0e+16");
        assert_eq!(ruby(1.5e-5), "1.5e-05");
        assert_eq!(ruby(0.0), "0.0");
    }
}
