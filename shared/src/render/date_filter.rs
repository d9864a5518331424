//! The `date` filter, with Shopify's output and without the stdlib's per-call regex.
//!
//! Shopify's rule: an empty format or an input that is not a date returns the input unchanged;
//! "now" and "today" are the current time; a whole number is a Unix timestamp; a string is
//! parsed. Date values (offers' `valid_until`) are formatted without any parsing.

use std::fmt::{self, Write as _};

use liquid_core::model::{ScalarCow, Value, ValueView};
use liquid_core::parser::{FilterArguments, ParameterReflection};
use liquid_core::{Error, Expression, Filter, FilterReflection, ParseFilter, Result, Runtime};
use time::format_description::well_known::{Iso8601, Rfc2822, Rfc3339};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

#[derive(Clone, Debug, Default)]
pub(crate) struct DateFilterParser;

const DATE_PARAMETERS: &[ParameterReflection] = &[ParameterReflection {
    name: "format",
    description: "strftime format, e.g. \"%B %e, %Y\".",
    is_optional: false,
}];

impl FilterReflection for DateFilterParser {
    fn name(&self) -> &str {
        "date"
    }

    fn description(&self) -> &str {
        "Formats a date with a strftime format, as Shopify's Liquid does."
    }

    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        DATE_PARAMETERS
    }

    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

impl ParseFilter for DateFilterParser {
    fn parse(&self, mut arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let format = arguments
            .positional
            .next()
            .ok_or_else(|| Error::with_msg("date: a format argument is required"))?;
        if arguments.positional.next().is_some() || arguments.keyword.next().is_some() {
            return Err(Error::with_msg(
                "date: takes exactly one argument, the format",
            ));
        }
        Ok(Box::new(DateFilter { format }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

#[derive(Debug)]
struct DateFilter {
    format: Expression,
}

impl fmt::Display for DateFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "date: {}", self.format)
    }
}

impl Filter for DateFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let format = self.format.evaluate(runtime)?;
        let format = format.to_kstr();
        if format.is_empty() {
            return Ok(input.to_value());
        }
        match to_date_time(input) {
            Some(date) => {
                let mut out = String::with_capacity(format.len() + 16);
                strftime(&mut out, date, format.as_str());
                Ok(Value::scalar(out))
            }
            None => Ok(input.to_value()),
        }
    }
}

/// The date an input stands for, the way Shopify's `Utils.to_date` reads it.
pub(crate) fn to_date_time(input: &dyn ValueView) -> Option<OffsetDateTime> {
    let scalar: ScalarCow<'_> = input.as_scalar()?;
    // `type_name` tells the scalar's kind without `to_date_time`, which parses strings slowly.
    match scalar.type_name() {
        "date time" => scalar.to_date_time().map(|d| *d),
        "date" => scalar.to_date().map(|d| d.midnight().assume_utc()),
        "whole number" => scalar
            .to_integer()
            .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok()),
        "string" => parse_date(scalar.to_kstr().as_str()),
        _ => None,
    }
}

/// Parses the date formats retail data carries. Strings without an offset are UTC, the zone
/// Shopify's servers (and ours) run in.
pub(crate) fn parse_date(input: &str) -> Option<OffsetDateTime> {
    let s = input.trim();
    if s.is_empty() {
        return None;
    }
    if s.eq_ignore_ascii_case("now") || s.eq_ignore_ascii_case("today") {
        return Some(OffsetDateTime::now_utc());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .ok()
            .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok());
    }
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        parse_numeric_date(s)
    } else {
        OffsetDateTime::parse(s, &Rfc2822).ok()
    }
}

fn parse_numeric_date(s: &str) -> Option<OffsetDateTime> {
    if let Ok(date) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(date);
    }
    if s.len() == 10 {
        return Date::parse(s, format_description!("[year]-[month]-[day]"))
            .ok()
            .map(|d| d.midnight().assume_utc());
    }
    if let Ok(date) = OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(date);
    }
    // "2026-12-01 09:30:00", optionally with fractional seconds and an offset ("+0100",
    // "+01:00", "Z", "UTC"), and "2026-12-01T09:30:00" without an offset.
    let (date_time, offset) = split_offset(s);
    let date_time = date_time.replacen('T', " ", 1);
    let primitive = PrimitiveDateTime::parse(
        &date_time,
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .or_else(|_| {
        PrimitiveDateTime::parse(
            &date_time,
            format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"),
        )
    })
    .or_else(|_| {
        PrimitiveDateTime::parse(
            &date_time,
            format_description!("[year]-[month]-[day] [hour]:[minute]"),
        )
    })
    .ok()?;
    Some(primitive.assume_offset(offset?))
}

/// Splits a trailing UTC offset off a date-time string. `None` for the offset means the suffix
/// looked like an offset but is not a valid one.
fn split_offset(s: &str) -> (&str, Option<UtcOffset>) {
    for suffix in [" UTC", " GMT", "Z", " Z"] {
        if let Some(rest) = s.strip_suffix(suffix) {
            return (rest, Some(UtcOffset::UTC));
        }
    }
    let Some(sign_at) = s.rfind(['+', '-']) else {
        return (s, Some(UtcOffset::UTC));
    };
    let (rest, offset) = s.split_at(sign_at);
    // A '-' inside the date ("2026-12-01") is not an offset: offsets follow the time.
    if !rest.contains(':') {
        return (s, Some(UtcOffset::UTC));
    }
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return (s, Some(UtcOffset::UTC));
    }
    let hours: i8 = digits[..2].parse().unwrap_or(0);
    let minutes: i8 = digits[2..].parse().unwrap_or(0);
    let (hours, minutes) = if offset.starts_with('-') {
        (-hours, -minutes)
    } else {
        (hours, minutes)
    };
    (rest.trim_end(), UtcOffset::from_hms(hours, minutes, 0).ok())
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

#[derive(Clone, Copy, Default)]
struct Directive {
    no_padding: bool,
    pad: Option<char>,
    upcase: bool,
    swap_case: bool,
    width: Option<usize>,
    colons: usize,
}

/// Appends `date` formatted with Ruby's `Time#strftime` rules to `out`. Unknown directives are
/// copied as they are, as Ruby does.
pub(crate) fn strftime(out: &mut String, date: OffsetDateTime, format: &str) {
    let mut rest = format;
    while let Some(percent) = rest.find('%') {
        out.push_str(&rest[..percent]);
        let directive_text = &rest[percent..];
        let consumed = write_directive(out, date, directive_text);
        rest = &directive_text[consumed..];
    }
    out.push_str(rest);
}

/// Writes the directive at the start of `text` (which starts with '%') and returns its length.
fn write_directive(out: &mut String, date: OffsetDateTime, text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut at = 1;
    let mut directive = Directive::default();
    while let Some(&b) = bytes.get(at) {
        match b {
            b'-' => directive.no_padding = true,
            b'_' => directive.pad = Some(' '),
            b'0' => directive.pad = Some('0'),
            b'^' => directive.upcase = true,
            b'#' => directive.swap_case = true,
            _ => break,
        }
        at += 1;
    }
    let width_start = at;
    while bytes.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    if at > width_start {
        directive.width = text[width_start..at].parse().ok();
    }
    if matches!(bytes.get(at), Some(b'E' | b'O')) {
        at += 1;
    }
    while bytes.get(at) == Some(&b':') {
        directive.colons += 1;
        at += 1;
    }
    let Some(conversion) = text[at..].chars().next() else {
        out.push_str(text);
        return text.len();
    };
    let end = at + conversion.len_utf8();
    if directive.colons > 0 && conversion != 'z' {
        out.push_str(&text[..end]);
        return end;
    }
    if !convert(out, date, conversion, directive) {
        out.push_str(&text[..end]);
    }
    end
}

/// The numeric conversions: the value, its default width and its default padding.
fn numeric(date: OffsetDateTime, conversion: char) -> Option<(i64, usize, char)> {
    let hour12 = match date.hour() % 12 {
        0 => 12,
        h => h,
    };
    let year = i64::from(date.year());
    Some(match conversion {
        'Y' => (year, 4, '0'),
        'C' => (year.div_euclid(100), 2, '0'),
        'y' => (year.rem_euclid(100), 2, '0'),
        'm' => (i64::from(u8::from(date.month())), 2, '0'),
        'd' => (i64::from(date.day()), 2, '0'),
        'e' => (i64::from(date.day()), 2, ' '),
        'j' => (i64::from(date.ordinal()), 3, '0'),
        'H' => (i64::from(date.hour()), 2, '0'),
        'k' => (i64::from(date.hour()), 2, ' '),
        'I' => (i64::from(hour12), 2, '0'),
        'l' => (i64::from(hour12), 2, ' '),
        'M' => (i64::from(date.minute()), 2, '0'),
        'S' => (i64::from(date.second()), 2, '0'),
        'u' => (i64::from(date.weekday().number_from_monday()), 1, '0'),
        'w' => (i64::from(date.weekday().number_days_from_sunday()), 1, '0'),
        'U' => (i64::from(date.sunday_based_week()), 2, '0'),
        'W' => (i64::from(date.monday_based_week()), 2, '0'),
        'G' => (i64::from(date.to_iso_week_date().0), 4, '0'),
        'g' => (i64::from(date.to_iso_week_date().0).rem_euclid(100), 2, '0'),
        'V' => (i64::from(date.iso_week()), 2, '0'),
        's' => (date.unix_timestamp(), 1, '0'),
        _ => return None,
    })
}

/// Writes one conversion; false when `conversion` is not one Ruby knows.
fn convert(out: &mut String, date: OffsetDateTime, conversion: char, d: Directive) -> bool {
    let month_name = MONTHS[usize::from(u8::from(date.month())) - 1];
    let weekday_name = WEEKDAYS[usize::from(date.weekday().number_days_from_sunday())];
    if let Some((value, width, pad)) = numeric(date, conversion) {
        number(out, value, width, pad, d);
        return true;
    }
    match conversion {
        'L' | 'N' => {
            let digits = d.width.unwrap_or(if conversion == 'L' { 3 } else { 9 });
            let nanos = format!("{:09}", date.nanosecond());
            out.push_str(&nanos[..digits.min(9)]);
            out.extend(std::iter::repeat_n('0', digits.saturating_sub(9)));
        }
        'B' => text(out, month_name, d),
        'b' | 'h' => text(out, &month_name[..3], d),
        'A' => text(out, weekday_name, d),
        'a' => text(out, &weekday_name[..3], d),
        'p' | 'P' => {
            let upper = if date.hour() < 12 { "AM" } else { "PM" };
            let lower = if date.hour() < 12 { "am" } else { "pm" };
            // Ruby: %p is "AM", %P is "am"; the '#' flag inverts %p.
            let word = if (conversion == 'p') != d.swap_case {
                upper
            } else {
                lower
            };
            text(
                out,
                word,
                Directive {
                    swap_case: false,
                    ..d
                },
            );
        }
        'Z' => text(out, zone_name(date), d),
        'z' => offset(out, date.offset(), d.colons),
        '%' => text(out, "%", d),
        'n' => out.push('\n'),
        't' => out.push('\t'),
        'c' => composite(out, date, "%a %b %e %H:%M:%S %Y", d),
        'D' | 'x' => composite(out, date, "%m/%d/%y", d),
        'F' => composite(out, date, "%Y-%m-%d", d),
        'T' | 'X' => composite(out, date, "%H:%M:%S", d),
        'R' => composite(out, date, "%H:%M", d),
        'r' => composite(out, date, "%I:%M:%S %p", d),
        'v' => composite(out, date, "%e-%^b-%Y", d),
        _ => return false,
    }
    true
}

/// Ruby prints "UTC" for UTC times and nothing for a bare offset, which has no zone name.
fn zone_name(date: OffsetDateTime) -> &'static str {
    if date.offset().is_utc() { "UTC" } else { "" }
}

fn number(out: &mut String, value: i64, default_width: usize, default_pad: char, d: Directive) {
    if d.no_padding {
        let _ = write!(out, "{value}");
        return;
    }
    let width = d.width.unwrap_or(default_width);
    let pad = d.pad.unwrap_or(default_pad);
    let digits = value
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |l| l as usize + 1);
    let len = digits + usize::from(value < 0);
    let padding = width.saturating_sub(len);
    if value < 0 && pad == '0' {
        out.push('-');
    }
    out.extend(std::iter::repeat_n(pad, padding));
    if value < 0 && pad != '0' {
        out.push('-');
    }
    let _ = write!(out, "{}", value.unsigned_abs());
}

fn text(out: &mut String, value: &str, d: Directive) {
    if let Some(width) = d.width.filter(|_| !d.no_padding) {
        let pad = d.pad.unwrap_or(' ');
        out.extend(std::iter::repeat_n(
            pad,
            width.saturating_sub(value.chars().count()),
        ));
    }
    if d.upcase || d.swap_case {
        out.extend(value.chars().map(|c| c.to_ascii_uppercase()));
    } else {
        out.push_str(value);
    }
}

fn composite(out: &mut String, date: OffsetDateTime, format: &str, d: Directive) {
    if d.width.is_none() && !d.upcase && !d.swap_case {
        strftime(out, date, format);
        return;
    }
    let mut expanded = String::with_capacity(32);
    strftime(&mut expanded, date, format);
    text(out, &expanded, d);
}

fn offset(out: &mut String, offset: UtcOffset, colons: usize) {
    let (hours, minutes, seconds) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    let (h, m, s) = (
        hours.unsigned_abs(),
        minutes.unsigned_abs(),
        seconds.unsigned_abs(),
    );
    let _ = match colons {
        0 => write!(out, "{sign}{h:02}{m:02}"),
        1 => write!(out, "{sign}{h:02}:{m:02}"),
        _ => write!(out, "{sign}{h:02}:{m:02}:{s:02}"),
    };
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::render::{CompiledTemplate, RenderContext, RenderedMessage, TemplateSources};

    fn format(date: OffsetDateTime, format: &str) -> String {
        let mut out = String::new();
        strftime(&mut out, date, format);
        out
    }

    fn render(source: &str) -> String {
        let sources = TemplateSources {
            html: source.to_owned(),
            ..TemplateSources::default()
        };
        let template =
            CompiledTemplate::compile_sources(&sources, &serde_json::Map::new()).unwrap();
        let data = FieldValue::from(&serde_json::json!({ "ts": 1_700_000_000, "s": "2026-03-07" }));
        let mut out = RenderedMessage::default();
        template
            .render(&RenderContext::from_value(&data), &mut out)
            .unwrap();
        out.html
    }

    use crate::domain::FieldValue;

    const MORNING: OffsetDateTime = datetime!(2026-03-07 09:05:03.123456789 UTC);

    #[test]
    fn given_retail_email_directives_when_formatted_then_ruby_strftime_output() {
        let cases = [
            ("%Y-%m-%d", "2026-03-07"),
            ("%b %B %e %a %A", "Mar March  7 Sat Saturday"),
            ("%H:%M:%S %I %p %P", "09:05:03 09 AM am"),
            ("%y %j %Z %z %:z %::z", "26 066 UTC +0000 +00:00 +00:00:00"),
            ("%-d/%-m %-I%p", "7/3 9AM"),
            ("%^b %^A %#p", "MAR SATURDAY am"),
            ("%_m|%05d|%10A|%-10A", " 3|00007|  Saturday|Saturday"),
            ("%L %N %3N", "123 123456789 123"),
            ("%F %D %T %R", "2026-03-07 03/07/26 09:05:03 09:05"),
            ("%c", "Sat Mar  7 09:05:03 2026"),
            ("%r", "09:05:03 AM"),
            ("%u %w %s", "6 6 1772874303"),
            ("100%% %Q %", "100% %Q %"),
            ("Ends %A, %B %-d", "Ends Saturday, March 7"),
        ];
        for (directives, expected) in cases {
            assert_eq!(format(MORNING, directives), expected, "{directives}");
        }
    }

    #[test]
    fn given_afternoon_midnight_and_offset_times_when_formatted_then_clock_and_zone_are_right() {
        assert_eq!(
            format(datetime!(2026-03-07 21:30 UTC), "%I:%M %p %l"),
            "09:30 PM  9"
        );
        assert_eq!(format(datetime!(2026-03-07 00:15 UTC), "%I %p"), "12 AM");
        assert_eq!(format(datetime!(2026-03-07 12:00 UTC), "%I %p"), "12 PM");
        let berlin = datetime!(2026-03-07 09:05:03 +01:00);
        assert_eq!(format(berlin, "%H:%M %z %:z [%Z]"), "09:05 +0100 +01:00 []");
        let new_york = datetime!(2026-03-07 04:05:03 -05:00);
        assert_eq!(format(new_york, "%z"), "-0500");
    }

    #[test]
    fn given_common_directives_when_formatted_then_same_as_liquids_strftime() {
        let date = crate::render::context::liquid_date_time(MORNING);
        for directives in [
            "%Y-%m-%d %H:%M:%S",
            "%a %A %b %B %e %j %y",
            "%I:%M %p %-d %-m %^B",
            "%z %:z %F %D %T %c %r",
        ] {
            assert_eq!(
                format(MORNING, directives),
                date.format(directives).unwrap(),
                "{directives}"
            );
        }
    }

    #[test]
    fn given_date_strings_in_common_formats_when_parsed_then_exact_instant() {
        let at_nine = datetime!(2026-03-07 09:05:03 UTC);
        let cases = [
            ("2026-03-07T09:05:03Z", at_nine),
            ("2026-03-07T10:05:03+01:00", at_nine),
            ("2026-03-07T09:05:03", at_nine),
            ("2026-03-07 09:05:03", at_nine),
            ("2026-03-07 10:05:03 +0100", at_nine),
            ("2026-03-07 04:05:03 -05:00", at_nine),
            ("2026-03-07 09:05:03 UTC", at_nine),
            ("Sat, 07 Mar 2026 09:05:03 +0000", at_nine),
            ("2026-03-07", datetime!(2026-03-07 00:00 UTC)),
            ("  2026-03-07  ", datetime!(2026-03-07 00:00 UTC)),
            ("1700000000", datetime!(2023-11-14 22:13:20 UTC)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_date(input), Some(expected), "{input}");
        }
        assert_eq!(
            parse_date("2026-03-07 10:05:03 +0100").map(|d| d.offset()),
            Some(time::macros::offset!(+1)),
            "the offset is kept for %z"
        );
    }

    #[test]
    fn given_now_or_today_when_parsed_then_current_time() {
        let before = OffsetDateTime::now_utc();
        for input in ["now", "today", "Today", "NOW"] {
            let parsed = parse_date(input).unwrap();
            assert!(
                parsed >= before && parsed <= OffsetDateTime::now_utc(),
                "{input}"
            );
        }
    }

    #[test]
    fn given_strings_that_are_not_dates_when_parsed_then_none() {
        for input in [
            "",
            "soon",
            "2026-13-45",
            "07/03/2026",
            "2026-03-07 25:00:00",
        ] {
            assert_eq!(parse_date(input), None, "{input}");
        }
    }

    #[test]
    fn given_date_filter_in_template_then_shopify_pass_through_rules_apply() {
        assert_eq!(render(r#"{{ s | date: "%b %-d, %Y" }}"#), "Mar 7, 2026");
        assert_eq!(render(r#"{{ "soon" | date: "%Y" }}"#), "soon");
        assert_eq!(render(r#"{{ s | date: "" }}"#), "2026-03-07");
        assert_eq!(render(r#"[{{ missing | date: "%Y" }}]"#), "[]");
        assert_eq!(
            render(r#"{{ ts | date: "%Y-%m-%d %H:%M" }}"#),
            "2023-11-14 22:13"
        );
        assert_eq!(render(r#"{{ 1.5 | date: "%Y" }}"#), "1.5");
        assert_eq!(
            render(r#"{{ "now" | date: "%Y" }}"#),
            OffsetDateTime::now_utc().year().to_string()
        );
    }

    #[test]
    fn given_date_filter_without_format_when_compiled_then_parse_error() {
        let sources = TemplateSources {
            html: "{{ s | date }}".to_owned(),
            ..TemplateSources::default()
        };

        assert!(CompiledTemplate::compile_sources(&sources, &serde_json::Map::new()).is_err());
    }
}
