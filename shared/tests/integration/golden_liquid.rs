//! The public golden-liquid conformance suite (jg-rp/golden-liquid), run against our renderer.
//!
//! Every case passes on Shopify's Ruby Liquid. The suite lives beside the repository, in
//! `../shared/golden-liquid/`, and is read in place. A case passes when the rendered HTML part
//! equals its `result` (or one of its `results`), or, for an `invalid` case, when compiling or
//! rendering fails. A case's `templates` are the snippets its `render`/`include` tags name.
//!
//! `cargo test -p storecast --test golden_liquid -- --nocapture` prints the report; set
//! `GOLDEN_LIQUID_FAILURES=1` to list every case that does not pass.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use serde::Deserialize;
use storecast::domain::FieldValue;
use storecast::render::{CompiledTemplate, RenderContext, RenderedMessage, TemplateSources};

const SUITE_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/golden-liquid/golden_liquid.json"
);

/// The measured number of passing cases. Raise it when conformance improves; a change that
/// makes it fail has broken a case that used to pass.
const PASS_FLOOR: usize = 972;

#[derive(Debug, Deserialize)]
struct Suite {
    tests: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    template: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    results: Option<Vec<String>>,
    #[serde(default)]
    invalid: bool,
    #[serde(default)]
    templates: Option<serde_json::Value>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail(String),
}

struct Run {
    cases: Vec<(Case, Outcome)>,
}

impl Run {
    fn passed(&self) -> usize {
        self.cases
            .iter()
            .filter(|(_, outcome)| *outcome == Outcome::Pass)
            .count()
    }

    fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.cases
            .iter()
            .find(|(case, _)| case.name == name)
            .map(|(_, outcome)| outcome)
    }
}

static RUN: LazyLock<Run> = LazyLock::new(|| {
    let json = std::fs::read_to_string(SUITE_PATH).unwrap_or_else(|error| {
        panic!(
            "the golden-liquid suite is missing at {SUITE_PATH} ({error}); clone the `shared` \
             folder beside the repository (CI always has it)"
        )
    });
    let suite: Suite = serde_json::from_str(&json)
        .unwrap_or_else(|error| panic!("{SUITE_PATH} is not a golden-liquid suite: {error}"));
    // A case that panics is reported as failing; the default hook would print each backtrace.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let cases = suite
        .tests
        .into_iter()
        .map(|case| {
            let outcome = run_case(&case);
            (case, outcome)
        })
        .collect();
    std::panic::set_hook(hook);
    Run { cases }
});

fn run_case(case: &Case) -> Outcome {
    // The `liquid` crate can panic on input the reference rejects; a panic is a failure here,
    // not the end of the run.
    let rendered = catch_unwind(AssertUnwindSafe(|| render(case)));
    let rendered = match rendered {
        Ok(rendered) => rendered,
        Err(_) => Err("panicked".to_owned()),
    };
    match (rendered, case.invalid) {
        (Err(_), true) => Outcome::Pass,
        (Ok(html), true) => Outcome::Fail(format!("rendered {html:?}, expected an error")),
        (Err(error), false) => Outcome::Fail(error),
        (Ok(html), false) => {
            let expected: Vec<&str> = case
                .result
                .iter()
                .chain(case.results.iter().flatten())
                .map(String::as_str)
                .collect();
            if expected.contains(&html.as_str()) {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("rendered {html:?}, expected {expected:?}"))
            }
        }
    }
}

fn render(case: &Case) -> Result<String, String> {
    let sources = TemplateSources {
        subject: "golden".to_owned(),
        html: case.template.clone(),
        text: String::new(),
        push_title: None,
        push_body: None,
    };
    // A case's `templates` are its partials, the snippets `render` and `include` name.
    let snippets: BTreeMap<String, String> = case
        .templates
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|error| error.to_string())?
        .unwrap_or_default();
    let template = CompiledTemplate::compile_sources_with_snippets(
        &sources,
        &serde_json::Map::new(),
        &snippets,
    )
    .map_err(|error| error.to_string())?;
    let data = case
        .data
        .clone()
        .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
    let data: FieldValue = serde_json::from_value(data).map_err(|error| error.to_string())?;
    let mut out = RenderedMessage::default();
    template
        .render(&RenderContext::from_value(&data), &mut out)
        .map_err(|error| error.to_string())?;
    Ok(out.html)
}

#[derive(Default)]
struct Tally {
    passed: usize,
    total: usize,
}

impl Tally {
    fn add(&mut self, outcome: &Outcome) {
        self.total += 1;
        match outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail(_) => {}
        }
    }

    fn percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        100.0 * self.passed as f64 / self.total as f64
    }
}

fn report(run: &Run) -> String {
    let mut overall = Tally::default();
    let mut by_tag: BTreeMap<&str, Tally> = BTreeMap::new();
    for (case, outcome) in &run.cases {
        overall.add(outcome);
        for tag in &case.tags {
            by_tag.entry(tag).or_default().add(outcome);
        }
    }
    let mut out = format!(
        "golden-liquid: {} of {} cases pass ({:.1}%)\n\n",
        overall.passed,
        overall.total,
        overall.percent()
    );
    out.push_str("| tag | passed | cases | pass rate |\n|---|---:|---:|---:|\n");
    for (tag, tally) in &by_tag {
        out.push_str(&format!(
            "| {tag} | {} | {} | {:.0}% |\n",
            tally.passed,
            tally.total,
            tally.percent()
        ));
    }
    if std::env::var_os("GOLDEN_LIQUID_FAILURES").is_some() {
        out.push_str("\nNot passing:\n");
        for (case, outcome) in &run.cases {
            if let Outcome::Fail(reason) = outcome {
                out.push_str(&format!(
                    "- {} [{}]\n    template: {:?}\n    {reason}\n",
                    case.name,
                    case.tags.join(", "),
                    case.template
                ));
            }
        }
    }
    out
}

#[test]
fn golden_liquid_pass_count_does_not_regress() {
    let run = &*RUN;
    println!("{}", report(run));

    let passed = run.passed();
    assert!(
        passed >= PASS_FLOOR,
        "golden-liquid: {passed} cases pass, fewer than the floor of {PASS_FLOOR}; run with \
         GOLDEN_LIQUID_FAILURES=1 and --nocapture to see which"
    );
}

/// Cases for what retail templates use every day: these must keep passing whatever the count.
const RETAIL_CASES: &[&str] = &[
    // default
    "filters, default, nil",
    "filters, default, undefined left value",
    "filters, default, empty string",
    "filters, default, false",
    "filters, default, zero is not falsy",
    "filters, default, empty array",
    "filters, default, not empty string",
    "filters, default, allow false",
    "filters, default, zero is not falsy with allow_false",
    "filters, default, missing argument",
    // escape
    "filters, escape, make HTML-safe",
    "filters, escape, undefined left value",
    // capitalize
    "filters, capitalize, lower case string",
    "filters, capitalize, multi-word string",
    "filters, capitalize, undefined left value",
    // upcase, downcase
    "filters, upcase, make lower case",
    "filters, downcase, make lower case",
    "output, render a global variable with a filter",
    // truncate
    "filters, truncate, default end",
    "filters, truncate, custom end",
    "filters, truncate, no end",
    "filters, truncate, default length is 50",
    "filters, truncate, string is shorter than length",
    "filters, truncate, undefined left value",
    // truncatewords
    "filters, truncatewords, default end",
    "filters, truncatewords, custom end",
    "filters, truncatewords, fewer words than word count",
    "filters, truncatewords, reference implementation test 4",
    "filters, truncatewords, undefined left value",
    "filters, truncatewords, all whitespace is clobbered",
    "filters, truncatewords, number of words defaults to 15",
    "filters, truncatewords, reference implementation test 5",
    // date
    "filters, date, timestamp integer",
    "filters, date, timestamp string",
    "filters, date, undefined left value",
    // round
    "filters, round, decimal places",
    "filters, round, float round down",
    "filters, round, float round up",
    "filters, round, integer",
    "filters, round, undefined left value",
    // plus, minus, times, divided_by
    "filters, plus, integer value and integer arg",
    "filters, plus, float value and float arg",
    "filters, plus, undefined left value",
    "filters, plus, undefined argument",
    "filters, minus, integer value and integer arg",
    "filters, minus, undefined left value",
    "filters, minus, undefined argument",
    "filters, times, int times int",
    "filters, times, int times float",
    "filters, times, undefined left value",
    "filters, divided by, integer division",
    "filters, divided by, float division",
    "filters, divided by, divied by zero",
    "filters, divided by, undefined left value",
    "filters, minus, float value and float arg",
    "filters, minus, string value and string arg",
    "filters, plus, not a string, int or float",
    "filters, divided by, left value is an empty string",
    // size, first, last
    "filters, size, size of a string",
    "filters, size, size of an array",
    "filters, size, undefined left value",
    "filters, first, array of strings",
    "filters, first, left value is undefined",
    "filters, last, array of strings",
    "filters, last, left value is undefined",
    // join, split
    "filters, join, join an array of strings",
    "filters, join, missing argument defaults to a space",
    "filters, join, undefined left value",
    "output, dump an array from the global context",
    "filters, split, argument does not appear in string",
    "filters, split, empty string and single char argument",
    "filters, split, argument is a single space",
    "filters, split, left matches argument",
    "filters, join, joining a string is a noop",
    // replace, remove, strip, url_encode
    "filters, replace, replace substrings",
    "filters, replace, undefined left value",
    "filters, remove, remove substrings",
    "filters, remove, undefined left value",
    "filters, strip, left and right padded",
    "filters, strip, undefined left value",
    "filters, url encode, undefined left value",
    "filters, url encode, not a string",
    "filters, url encode, some special URL characters",
    // if, unless
    "tags, if, condition with literal consequence",
    "tags, if, condition with literal consequence and literal alternative",
    "tags, if, condition with conditional alternative and final alternative",
    "tags, if, not equal condition",
    "tags, if, undefined variables are falsy",
    "tags, if, literal nil is falsy",
    "tags, if, string contains string",
    "tags, unless, alternative block",
    "tags, unless, literal false condition",
    "tags, unless, literal true condition",
    // for and forloop
    "tags, for, simple array loop",
    "tags, for, limit",
    "tags, for, offset",
    "tags, for, offset and limit",
    "tags, for, loop over an array in reverse",
    "tags, for, loop over undefined",
    "tags, for, break",
    "tags, for, continue",
    "tags, for, forloop.first",
    "tags, for, forloop.last",
    "tags, for, forloop.index",
    "tags, for, forloop.index0",
    "tags, for, forloop.rindex",
    "tags, for, forloop.rindex0",
    "tags, for, forloop length",
    "tags, for, access parentloop",
    // assign, capture
    "output, render a variable from the local namespace",
    "tags, assign, assign a filtered literal",
    "tags, assign, local variables shadow global variables",
    "tags, for, assign inside loop",
    "tags, capture, capture template literal and global variable",
    "tags, capture, assign to a variable from a captured variable",
];

#[test]
fn golden_liquid_cases_retail_templates_rely_on_pass() {
    let run = &*RUN;
    let failing: Vec<String> = RETAIL_CASES
        .iter()
        .filter_map(|name| match run.outcome(name) {
            Some(Outcome::Pass) => None,
            Some(outcome) => Some(format!("{name}: {outcome:?}")),
            None => Some(format!("{name}: no such case in the suite")),
        })
        .collect();
    assert!(
        failing.is_empty(),
        "retail cases not passing:\n{}",
        failing.join("\n")
    );
}
