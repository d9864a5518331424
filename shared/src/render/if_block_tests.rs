//! `if`, `elsif`, `else` and `unless`: each case rendered by our blocks, and, where Shopify and
//! liquid-lib agree, by liquid-lib's blocks over the same runtime, which must render the same.

use std::collections::BTreeMap;

use liquid_core::{Language, Renderable, Template};

use crate::domain::FieldValue;
use crate::render::language::{LANGUAGE, parse_prepared};
use crate::render::runtime::LenientRuntime;
use crate::render::{
    CompiledTemplate, MAX_BLOCK_NESTING, MAX_OUTPUT_BYTES, RenderContext, RenderError,
    RenderedMessage, TemplatePart, TemplateSources,
};

fn data() -> FieldValue {
    serde_json::from_value(serde_json::json!({
        "nothing": null,
        "no": false,
        "yes": true,
        "vacant": "",
        "zero": 0,
        "one": 1,
        "half": 0.5,
        "one_text": "1",
        "two_text": "2",
        "title": "Summer sale",
        "tags": ["new", "sale", 3],
        "none": [],
        "offer": {"price": 12.5, "currency": "EUR", "stock": 0},
    }))
    .unwrap()
}

/// What our language renders for `source`.
fn render(source: &str) -> Result<String, RenderError> {
    let sources = TemplateSources {
        html: source.to_owned(),
        ..TemplateSources::default()
    };
    let template = CompiledTemplate::compile_sources_with_snippets(
        &sources,
        &serde_json::Map::new(),
        &BTreeMap::new(),
    )?;
    let data = data();
    let mut out = RenderedMessage::default();
    template.render(&RenderContext::from_value(&data), &mut out)?;
    Ok(out.html)
}

fn ours(source: &str) -> String {
    render(source).unwrap_or_else(|error| panic!("{source}: {error}"))
}

/// Our language with liquid-lib's `if` and `unless` instead of ours.
fn liquid_lib_language() -> Language {
    let mut language = LANGUAGE.clone();
    language
        .blocks
        .register("if".to_owned(), Box::new(liquid_lib::stdlib::IfBlock));
    language.blocks.register(
        "unless".to_owned(),
        Box::new(liquid_lib::stdlib::UnlessBlock),
    );
    language
}

/// What liquid-lib's blocks render for `source` over the same runtime (parse or render error as
/// text).
fn liquid_lib(source: &str) -> Result<String, String> {
    let language = liquid_lib_language();
    let elements =
        parse_prepared(TemplatePart::Html, source, &language).map_err(|e| e.to_string())?;
    let template = Template::new(elements);
    let data = data();
    let context = RenderContext::from_value(&data);
    let vars = FieldValue::default();
    let runtime = LenientRuntime::new(&vars, &context, None);
    let mut out = Vec::new();
    template
        .render_to(&mut out, &runtime)
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).unwrap())
}

/// Renders `source` with both and checks both give `expected`.
fn same(source: &str, expected: &str) {
    assert_eq!(ours(source), expected, "ours: {source}");
    assert_eq!(
        liquid_lib(source).as_deref(),
        Ok(expected),
        "liquid-lib: {source}"
    );
}

fn truthy(value: &str) -> String {
    ours(&format!("{{% if {value} %}}T{{% else %}}F{{% endif %}}"))
}

#[test]
fn given_values_when_tested_alone_then_only_nil_and_false_are_falsy() {
    // `empty` alone is falsy in liquid (Shopify: truthy); kept as liquid has it.
    for falsy in [
        "nothing",
        "missing",
        "missing.key",
        "no",
        "false",
        "nil",
        "offer.none",
        "empty",
    ] {
        assert_eq!(truthy(falsy), "F", "{falsy}");
        same(
            &format!("{{% if {falsy} %}}T{{% else %}}F{{% endif %}}"),
            "F",
        );
    }
    for truthy_value in [
        "yes",
        "vacant",
        "''",
        "zero",
        "0",
        "none",
        "title",
        "offer",
        "offer.stock",
    ] {
        assert_eq!(truthy(truthy_value), "T", "{truthy_value}");
        same(
            &format!("{{% if {truthy_value} %}}T{{% else %}}F{{% endif %}}"),
            "T",
        );
    }
}

#[test]
fn given_unless_when_rendered_then_the_opposite_of_if() {
    same("{% unless nothing %}U{% else %}E{% endunless %}", "U");
    same("{% unless zero %}U{% else %}E{% endunless %}", "E");
    same("{% unless one == 2 %}U{% endunless %}", "U");
}

#[test]
fn given_comparisons_of_mixed_types_then_as_liquid_compares() {
    let cases = [
        ("one == 1", "T"),
        ("one == 1.0", "T"),
        ("half < one", "T"),
        ("one_text == 1", "F"),
        ("one_text == '1'", "T"),
        ("two_text > one", "F"),
        ("two_text < one", "F"),
        ("'b' > 'a'", "T"),
        ("'B' < 'a'", "T"),
        ("nothing == missing", "T"),
        ("nothing == nil", "T"),
        ("missing != nil", "F"),
        ("one <> 2", "T"),
        ("offer.price >= 12.5", "T"),
        ("offer.price <= 12", "F"),
        ("offer.currency == 'EUR'", "T"),
        ("tags.size == 3", "T"),
        ("tags.first == 'new'", "T"),
        ("none == empty", "T"),
        ("vacant == empty", "T"),
        ("yes == true", "T"),
        ("no == false", "T"),
    ];
    for (condition, expected) in cases {
        same(
            &format!("{{% if {condition} %}}T{{% else %}}F{{% endif %}}"),
            expected,
        );
    }
}

#[test]
fn given_contains_on_strings_arrays_and_objects_then_found_as_liquid_finds() {
    let cases = [
        ("title contains 'sale'", "T"),
        ("title contains 'Sale'", "F"),
        ("title contains ''", "T"),
        ("tags contains 'sale'", "T"),
        ("tags contains 3", "T"),
        ("tags contains '3'", "F"),
        ("tags contains 'old'", "F"),
        ("none contains 'x'", "F"),
        ("offer contains 'price'", "T"),
        ("offer contains 'size'", "F"),
        ("missing contains 'x'", "F"),
    ];
    for (condition, expected) in cases {
        same(
            &format!("{{% if {condition} %}}T{{% else %}}F{{% endif %}}"),
            expected,
        );
    }
}

#[test]
fn given_contains_nil_or_false_or_a_number_then_false_as_in_shopify() {
    // liquid-lib finds "" in every text and `false` in `[false]`; Shopify's Liquid finds nothing.
    for condition in [
        "title contains nil",
        "title contains missing",
        "tags contains nothing",
        "tags contains no",
        "one contains 1",
        "yes contains 'true'",
    ] {
        assert_eq!(truthy(condition), "F", "{condition}");
    }
}

#[test]
fn given_an_elsif_chain_then_the_first_branch_that_holds_renders() {
    let source = |value: &str| {
        format!(
            "{{% assign n = {value} %}}{{% if n == 1 %}}one{{% elsif n == 2 %}}two\
             {{% elsif n > 2 and n < 5 %}}few{{% else %}}many{{% endif %}}"
        )
    };
    for (value, expected) in [("1", "one"), ("2", "two"), ("3", "few"), ("4", "few")] {
        same(&source(value), expected);
    }
    same(&source("9"), "many");
    same(&source("nil"), "many");
    same("{% if no %}a{% elsif nothing %}b{% endif %}", "");
}

#[test]
fn given_unless_with_elsif_then_rendered_as_shopify() {
    assert_eq!(
        ours("{% unless yes %}a{% elsif yes %}b{% endunless %}"),
        "b"
    );
    assert_eq!(
        ours("{% unless yes %}a{% elsif no %}b{% else %}c{% endunless %}"),
        "c"
    );
    assert_eq!(ours("{% unless no %}a{% elsif yes %}b{% endunless %}"), "a");
}

#[test]
fn given_branches_after_else_then_they_are_ignored_as_in_shopify() {
    assert_eq!(ours("{% if no %}1{% else %}2{% else %}3{% endif %}"), "2");
    assert_eq!(
        ours("{% if no %}1{% else %}2{% elsif yes %}3{% endif %}"),
        "2"
    );
    assert_eq!(
        ours("{% unless yes %}1{% else %}2{% else %}3{% endunless %}"),
        "2"
    );
}

#[test]
fn given_and_or_then_grouped_from_the_right_as_in_shopify() {
    // Shopify: true and (false and (false or true)) is false; liquid-lib's ((t and f and f) or
    // t) is true.
    assert_eq!(truthy("true and false and false or true"), "F");
    assert_eq!(truthy("false or true and true"), "T");
    assert_eq!(truthy("yes and one == 1"), "T");
    assert_eq!(truthy("no or nothing"), "F");
    assert_eq!(truthy("no or nothing or title contains 'sale'"), "T");
    same("{% if yes and no %}T{% else %}F{% endif %}", "F");
    same("{% if no or yes %}T{% else %}F{% endif %}", "T");
}

#[test]
fn given_if_inside_for_with_break_or_continue_then_the_loop_stops_or_skips() {
    let break_at_3 =
        "{% for i in (1..5) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}";
    same(break_at_3, "12");
    same(
        "{% for i in (1..5) %}{% if i == 3 %}{% continue %}{% endif %}{{ i }}{% endfor %}",
        "1245",
    );
    same(
        "{% for i in (1..5) %}{{ i }}{% if i < 2 %}a{% elsif i == 3 %}{% break %}x{% else %}b\
         {% endif %}{% endfor %}",
        "1a2b3",
    );
    same(
        "{% for i in (1..4) %}{% unless i != 2 %}{% break %}{% endunless %}{{ i }}{% endfor %}",
        "1",
    );
    same(
        "{% for i in (1..3) %}{% for j in (1..3) %}{% if j == 2 %}{% if i == 2 %}{% break %}\
         {% endif %}{% endif %}{{ i }}{{ j }} {% endfor %}{% endfor %}",
        "11 12 13 21 31 32 33 ",
    );
    same(
        "{% for i in (1..3) %}{% if i == 2 %}{% else %}{% continue %}{% endif %}{{ i }}{% endfor %}",
        "2",
    );
}

#[test]
fn given_if_including_a_snippet_that_breaks_then_the_rest_of_the_branch_is_skipped() {
    let sources = TemplateSources {
        html: "{% for i in (1..3) %}{% if i == 2 %}{% include 'stop' %}after{% endif %}{{ i }}\
               {% endfor %}|{% for i in (1..3) %}{% if i == 2 %}{% render 'stop' %}r{% endif %}\
               {{ i }}{% endfor %}"
            .to_owned(),
        ..TemplateSources::default()
    };
    let snippets = BTreeMap::from([("stop".to_owned(), "{% break %}".to_owned())]);
    let template = CompiledTemplate::compile_sources_with_snippets(
        &sources,
        &serde_json::Map::new(),
        &snippets,
    )
    .unwrap();
    let mut out = RenderedMessage::default();
    let data = data();
    template
        .render(&RenderContext::from_value(&data), &mut out)
        .unwrap();
    // `include` shares the caller's loop, `render` does not.
    assert_eq!(out.html, "1|1r23");
}

#[test]
fn given_parse_errors_then_the_same_as_liquid_lib() {
    for source in [
        "{% if %}x{% endif %}",
        "{% if one == %}x{% endif %}",
        "{% if one two %}x{% endif %}",
        "{% if one and %}x{% endif %}",
        "{% if one %}x",
        "{% unless %}x{% endunless %}",
    ] {
        let ours = render(source).expect_err(source);
        assert_eq!(Err(ours.to_string()), liquid_lib(source), "{source}");
    }
}

#[test]
fn given_a_render_error_in_a_branch_then_traced_as_liquid_lib_traces_it() {
    for source in [
        "{% if yes %}{{ 1 | divided_by: 0 }}{% endif %}",
        "{% if no %}{% elsif one == 1 %}{{ 1 | divided_by: 0 }}{% endif %}",
        "{% if no %}{% elsif no %}{% else %}{{ 1 | divided_by: 0 }}{% endif %}",
        "{% if no %}{% else %}{{ 1 | divided_by: 0 }}{% endif %}",
    ] {
        let ours = render(source).expect_err(source).to_string();
        let theirs = liquid_lib(source).expect_err(source);
        assert_eq!(
            ours.strip_prefix("email.html: rendering failed: "),
            theirs.strip_prefix("liquid: ").map(str::trim_end),
            "{source}"
        );
    }
}

#[test]
fn given_an_if_body_past_the_output_budget_then_the_render_fails() {
    let source = format!(
        "{{% for i in (1..9000) %}}{{% if yes %}}{}{{% endif %}}{{% endfor %}}",
        "x".repeat(200)
    );
    let error = render(&source).expect_err("over the output budget");
    assert!(
        error.to_string().contains(&format!("{MAX_OUTPUT_BYTES}")),
        "{error}"
    );
}

#[test]
fn given_ifs_nested_past_the_limit_then_refused() {
    let deep = |n: usize| format!("{}x{}", "{% if yes %}".repeat(n), "{% endif %}".repeat(n));
    assert_eq!(ours(&deep(MAX_BLOCK_NESTING)), "x");
    assert!(render(&deep(MAX_BLOCK_NESTING + 1)).is_err());
}
