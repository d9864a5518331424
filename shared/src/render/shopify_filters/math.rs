//! The math filters as Ruby Liquid computes them: integers stay integers, a float makes the
//! computation decimal (BigDecimal), and whatever is not a number is 0.

use super::*;

/// A number as Ruby Liquid's `Utils.to_number` reads it: integers stay integers, anything with
/// a fraction is decimal, and whatever is not a number is 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Number {
    Integer(i64),
    Decimal(f64),
}

pub(super) fn to_number(value: &dyn ValueView) -> Number {
    let Some(scalar) = value.as_scalar() else {
        return Number::Integer(0);
    };
    match value.type_name() {
        "whole number" => Number::Integer(scalar.to_integer().unwrap_or(0)),
        "fractional number" => Number::Decimal(scalar.to_float().unwrap_or(0.0)),
        "string" => parse_number(scalar.to_kstr().trim()),
        _ => Number::Integer(0),
    }
}

/// Ruby: `"-1.5"` is a decimal, otherwise the leading integer (`"12px"` is 12, `"foo"` is 0).
pub(super) fn parse_number(text: &str) -> Number {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if let Some((whole, fraction)) = digits.split_once('.')
        && !whole.is_empty()
        && !fraction.is_empty()
        && whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Number::Decimal(text.parse().unwrap_or(0.0));
    }
    let sign = usize::from(text.starts_with(['-', '+']));
    let end = sign
        + text[sign..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len() - sign);
    Number::Integer(text[..end].parse().unwrap_or(0))
}

/// An exact decimal: `mantissa * 10^-scale`, as Ruby's BigDecimal holds a Liquid float.
#[derive(Clone, Copy, Debug)]
pub(super) struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    /// The shortest decimal that reads back as `value` (what Ruby prints for the float).
    pub(super) fn of(number: Number) -> Option<Decimal> {
        let value = match number {
            Number::Integer(i) => {
                return Some(Decimal {
                    mantissa: i128::from(i),
                    scale: 0,
                });
            }
            Number::Decimal(f) if f.is_finite() => f,
            Number::Decimal(_) => return None,
        };
        let text = value.to_string();
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let scale = u32::try_from(fraction.len()).ok()?;
        let mantissa: i128 = format!("{whole}{fraction}").parse().ok()?;
        Some(Decimal { mantissa, scale })
    }

    /// The exact sum, if it fits.
    pub(super) fn plus(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        Some(Decimal {
            mantissa: self.rescale(scale)?.checked_add(other.rescale(scale)?)?,
            scale,
        })
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(10i128.checked_pow(scale.checked_sub(self.scale)?)?)
    }

    pub(super) fn to_f64(self) -> f64 {
        format!("{}e-{}", self.mantissa, self.scale)
            .parse()
            .unwrap_or(f64::NAN)
    }
}

#[derive(Clone, Copy)]
pub(super) enum Operation {
    Plus,
    Minus,
    Times,
    Modulo,
}

pub(super) fn arithmetic(
    input: &dyn ValueView,
    arguments: &Arguments,
    operation: Operation,
) -> Value {
    let left = to_number(input);
    let right = arguments.get(0).map_or(Number::Integer(0), to_number);
    if let (Number::Integer(a), Number::Integer(b)) = (left, right) {
        let exact = match operation {
            Operation::Plus => a.checked_add(b),
            Operation::Minus => a.checked_sub(b),
            Operation::Times => a.checked_mul(b),
            Operation::Modulo => None,
        };
        if let Some(exact) = exact {
            return Value::scalar(exact);
        }
    }
    Value::scalar(
        decimal_arithmetic(left, right, operation).unwrap_or_else(|| {
            let (a, b) = (as_f64(left), as_f64(right));
            match operation {
                Operation::Plus => a + b,
                Operation::Minus => a - b,
                Operation::Times => a * b,
                Operation::Modulo => a - b * (a / b).floor(),
            }
        }),
    )
}

/// Ruby Liquid computes with BigDecimal once a float is involved: `10.1 | minus: 2.2` is 7.9, not
/// 7.8999999999999995.
pub(super) fn decimal_arithmetic(left: Number, right: Number, operation: Operation) -> Option<f64> {
    let (a, b) = (Decimal::of(left)?, Decimal::of(right)?);
    let result = match operation {
        Operation::Times => Decimal {
            mantissa: a.mantissa.checked_mul(b.mantissa)?,
            scale: a.scale.checked_add(b.scale)?,
        },
        Operation::Plus | Operation::Minus | Operation::Modulo => {
            let scale = a.scale.max(b.scale);
            let (x, y) = (a.rescale(scale)?, b.rescale(scale)?);
            let mantissa = match operation {
                Operation::Plus => x.checked_add(y)?,
                Operation::Minus => x.checked_sub(y)?,
                _ => floored_rem(x, y)?,
            };
            Decimal { mantissa, scale }
        }
    };
    Some(result.to_f64())
}

/// Ruby's remainder, which takes the divisor's sign: `-7 % 3` is 2, `7 % -3` is -2.
pub(super) fn floored_rem(x: i128, y: i128) -> Option<i128> {
    let r = x.checked_rem(y)?;
    Some(if r != 0 && (r < 0) != (y < 0) {
        r + y
    } else {
        r
    })
}

pub(super) fn as_f64(number: Number) -> f64 {
    match number {
        Number::Integer(i) => i as f64,
        Number::Decimal(f) => f,
    }
}

const OPERAND: &[ParameterReflection] = &[required("operand", "A number; anything else is 0.")];

pub(super) const PLUS: ShopifyFilter = ShopifyFilter {
    name: "plus",
    description: "Adds a number.",
    positional: OPERAND,
    keyword: &[],
    required: 1,
    apply: |input, arguments| Ok(arithmetic(input, arguments, Operation::Plus)),
};

pub(super) const MINUS: ShopifyFilter = ShopifyFilter {
    name: "minus",
    description: "Subtracts a number.",
    positional: OPERAND,
    keyword: &[],
    required: 1,
    apply: |input, arguments| Ok(arithmetic(input, arguments, Operation::Minus)),
};

pub(super) const TIMES: ShopifyFilter = ShopifyFilter {
    name: "times",
    description: "Multiplies by a number.",
    positional: OPERAND,
    keyword: &[],
    required: 1,
    apply: |input, arguments| Ok(arithmetic(input, arguments, Operation::Times)),
};

pub(super) const MODULO: ShopifyFilter = ShopifyFilter {
    name: "modulo",
    description: "The remainder of a division, with the divisor's sign.",
    positional: OPERAND,
    keyword: &[],
    required: 1,
    apply: |input, arguments| {
        let divisor = arguments.get(0).map_or(Number::Integer(0), to_number);
        match (to_number(input), divisor) {
            (_, Number::Integer(0)) => Err(Error::with_msg("modulo: divided by 0")),
            (Number::Integer(a), Number::Integer(b)) => Ok(Value::scalar(
                floored_rem(i128::from(a), i128::from(b)).map_or(0, |r| r as i64),
            )),
            _ => Ok(arithmetic(input, arguments, Operation::Modulo)),
        }
    },
};

pub(super) const DIVIDED_BY: ShopifyFilter = ShopifyFilter {
    name: "divided_by",
    description: "Divides by a number: whole numbers give a whole number, rounded down.",
    positional: OPERAND,
    keyword: &[],
    required: 1,
    apply: |input, arguments| {
        let divisor = arguments.get(0).map_or(Number::Integer(0), to_number);
        match (to_number(input), divisor) {
            (_, Number::Integer(0)) => Err(Error::with_msg("divided_by: divided by 0")),
            (Number::Integer(a), Number::Integer(b)) => {
                // Ruby rounds the quotient toward negative infinity: -7 / 2 is -4.
                let (a, b) = (i128::from(a), i128::from(b));
                let quotient = a / b - i128::from(a % b != 0 && (a < 0) != (b < 0));
                Ok(Value::scalar(i64::try_from(quotient).unwrap_or(i64::MAX)))
            }
            (a, b) => Ok(Value::scalar(as_f64(a) / as_f64(b))),
        }
    },
};

// ---- arguments ----

/// A decimal result prints as a float; an integer stays an integer.
fn number_value(number: Number) -> Value {
    match number {
        Number::Integer(i) => Value::scalar(i),
        Number::Decimal(f) => Value::scalar(f),
    }
}

fn whole(value: f64) -> Value {
    Value::scalar(value as i64)
}

pub(super) const ABS: ShopifyFilter = ShopifyFilter {
    name: "abs",
    description: "The absolute value; what is not a number is 0.",
    positional: &[],
    keyword: &[],
    required: 0,
    apply: |input, _| {
        Ok(number_value(match to_number(input) {
            Number::Integer(i) => Number::Integer(i.saturating_abs()),
            Number::Decimal(f) => Number::Decimal(f.abs()),
        }))
    },
};

pub(super) const CEIL: ShopifyFilter = ShopifyFilter {
    name: "ceil",
    description: "Rounds up to a whole number; what is not a number is 0.",
    positional: &[],
    keyword: &[],
    required: 0,
    apply: |input, _| Ok(whole(as_f64(to_number(input)).ceil())),
};

pub(super) const FLOOR: ShopifyFilter = ShopifyFilter {
    name: "floor",
    description: "Rounds down to a whole number; what is not a number is 0.",
    positional: &[],
    keyword: &[],
    required: 0,
    apply: |input, _| Ok(whole(as_f64(to_number(input)).floor())),
};

fn bound(input: &dyn ValueView, arguments: &Arguments, keep_larger: bool) -> Value {
    let value = to_number(input);
    let limit = arguments.get(0).map_or(Number::Integer(0), to_number);
    let larger = as_f64(limit) > as_f64(value);
    number_value(if larger == keep_larger { limit } else { value })
}

pub(super) const AT_LEAST: ShopifyFilter = ShopifyFilter {
    name: "at_least",
    description: "The larger of the input and the argument; what is not a number is 0.",
    positional: OPERAND,
    keyword: &[],
    required: 1,
    apply: |input, arguments| Ok(bound(input, arguments, true)),
};

pub(super) const AT_MOST: ShopifyFilter = ShopifyFilter {
    name: "at_most",
    description: "The smaller of the input and the argument; what is not a number is 0.",
    positional: OPERAND,
    keyword: &[],
    required: 1,
    apply: |input, arguments| Ok(bound(input, arguments, false)),
};

pub(super) const ROUND: ShopifyFilter = ShopifyFilter {
    name: "round",
    description: "Rounds to the given decimal places (a whole number without them).",
    positional: &[parameter("places", "Decimal places; 0 by default.")],
    keyword: &[],
    required: 0,
    apply: |input, arguments| {
        // Ruby reads the places with `to_i`: 1.2 is 1, "foo" is 0.
        let places = arguments.get(0).map_or(0, |v| as_f64(to_number(v)) as i64);
        let value = to_number(input);
        if places == 0 {
            return Ok(whole(as_f64(value).round()));
        }
        let Number::Decimal(float) = value else {
            return Ok(number_value(value));
        };
        let scale = 10f64.powi(i32::try_from(places).unwrap_or(0).clamp(-300, 300));
        let rounded = (float * scale).round() / scale;
        Ok(if places < 0 {
            whole(rounded)
        } else {
            Value::scalar(rounded)
        })
    },
};
