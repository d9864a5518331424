//! The `price` filter: `{{ offer.price | price: offer.currency }}` gives "€1,249.00".
//!
//! Offers carry display prices in major units (49.9, not 4990 cents), so Shopify's `money`
//! filter, which divides by 100, would mislead anyone porting a Shopify template; this filter
//! has its own name instead.

use std::fmt::{self, Write as _};

use liquid_core::model::{Value, ValueView};
use liquid_core::parser::{FilterArguments, ParameterReflection};
use liquid_core::{Error, Filter, FilterReflection, ParseFilter, Result, Runtime};

use super::chain::FastExpression;

#[derive(Clone, Debug, Default)]
pub(crate) struct PriceFilterParser;

const PRICE_PARAMETERS: &[ParameterReflection] = &[ParameterReflection {
    name: "currency",
    description: "ISO 4217 code; USD, EUR, GBP and JPY print as a symbol, others after the amount.",
    is_optional: true,
}];

impl FilterReflection for PriceFilterParser {
    fn name(&self) -> &str {
        "price"
    }

    fn description(&self) -> &str {
        "Formats an amount in major units with two decimals and thousands separators."
    }

    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        PRICE_PARAMETERS
    }

    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

impl ParseFilter for PriceFilterParser {
    fn parse(&self, mut arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let currency = arguments.positional.next();
        if arguments.positional.next().is_some() || arguments.keyword.next().is_some() {
            return Err(Error::with_msg(
                "price: takes at most one argument, the currency",
            ));
        }
        Ok(Box::new(PriceFilter {
            currency: currency.map(FastExpression::new),
        }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

#[derive(Debug)]
struct PriceFilter {
    currency: Option<FastExpression>,
}

impl fmt::Display for PriceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.currency {
            Some(currency) => write!(f, "price: {currency}"),
            None => f.write_str("price"),
        }
    }
}

impl Filter for PriceFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        // Like Liquid's math filters, anything that is not a number passes through untouched,
        // so a missing sale price stays nil (and falsy).
        let Some(amount) = input.as_scalar().and_then(|s| s.to_float()) else {
            return Ok(input.to_value());
        };
        let currency = match &self.currency {
            Some(expression) => Some(expression.evaluate(runtime)?),
            None => None,
        };
        let code = currency.as_ref().map(|c| c.to_kstr());
        Ok(Value::scalar(format_price(
            amount,
            code.as_ref().map(|c| c.as_str()),
        )))
    }
}

pub(crate) fn format_price(amount: f64, currency: Option<&str>) -> String {
    let code = currency.map(str::trim).unwrap_or_default();
    let is = |known: &str| code.eq_ignore_ascii_case(known);
    let (symbol, decimals) = if is("USD") {
        (Some("$"), 2)
    } else if is("EUR") {
        (Some("€"), 2)
    } else if is("GBP") {
        (Some("£"), 2)
    } else if is("JPY") {
        (Some("¥"), 0)
    } else {
        (None, 2)
    };
    let scale = if decimals == 0 { 1.0 } else { 100.0 };
    // Rounded to whole minor units first so that the integer formatting below is exact.
    let minor = (amount.abs() * scale).round() as u64;
    let (whole, fraction) = if decimals == 0 {
        (minor, 0)
    } else {
        (minor / 100, minor % 100)
    };

    let mut out = String::with_capacity(16);
    if amount < 0.0 && minor != 0 {
        out.push('-');
    }
    if let Some(symbol) = symbol {
        out.push_str(symbol);
    }
    // Digits of `whole`, most significant first, without an intermediate String.
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut rest = whole;
    loop {
        digits[len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for i in (0..len).rev() {
        out.push(char::from(digits[i]));
        if i > 0 && i % 3 == 0 {
            out.push(',');
        }
    }
    if decimals > 0 {
        let _ = write!(out, ".{fraction:02}");
    }
    if symbol.is_none() && !code.is_empty() {
        out.push(' ');
        out.push_str(code);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_amounts_and_currencies_when_formatted_then_symbol_grouping_and_decimals() {
        let cases = [
            (49.9, Some("EUR"), "€49.90"),
            (1249.0, Some("usd"), "$1,249.00"),
            (1234567.891, Some("GBP"), "£1,234,567.89"),
            (1500.4, Some("JPY"), "¥1,500"),
            (19.999, Some("SEK"), "20.00 SEK"),
            (-5.0, Some("EUR"), "-€5.00"),
            (-0.001, Some("EUR"), "€0.00"),
            (7.5, None, "7.50"),
            (0.0, Some(""), "0.00"),
        ];
        for (amount, currency, expected) in cases {
            assert_eq!(
                format_price(amount, currency),
                expected,
                "{amount} {currency:?}"
            );
        }
    }
}
