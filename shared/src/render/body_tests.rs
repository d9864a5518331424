//! Bodies stop after an element that set the interrupt register, wherever it was set, and only
//! there.

use std::collections::BTreeMap;

use crate::domain::FieldValue;
use crate::render::{CompiledTemplate, RenderContext, RenderedMessage, TemplateSources};

fn render_with(source: &str, snippets: &[(&str, &str)]) -> String {
    let sources = TemplateSources {
        html: source.to_owned(),
        ..TemplateSources::default()
    };
    let snippets: BTreeMap<String, String> = snippets
        .iter()
        .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
        .collect();
    let template = CompiledTemplate::compile_sources_with_snippets(
        &sources,
        &serde_json::Map::new(),
        &snippets,
    )
    .unwrap_or_else(|error| panic!("{source}: {error}"));
    let data: FieldValue = serde_json::from_value(serde_json::json!({"none": []})).unwrap();
    let mut out = RenderedMessage::default();
    template
        .render(&RenderContext::from_value(&data), &mut out)
        .unwrap_or_else(|error| panic!("{source}: {error}"));
    out.html
}

fn render(source: &str) -> String {
    render_with(source, &[])
}

#[test]
fn given_break_outside_a_loop_then_the_rest_of_the_part_is_not_rendered() {
    assert_eq!(render("a{% break %}b"), "a");
    assert_eq!(render("a{% if true %}b{% continue %}c{% endif %}d"), "ab");
    assert_eq!(
        render("{% unless false %}{% break %}{% endunless %}after"),
        ""
    );
}

#[test]
fn given_a_loop_then_its_break_ends_at_the_loop() {
    assert_eq!(
        render("{% for i in (1..3) %}{% break %}{% endfor %}after"),
        "after"
    );
    assert_eq!(
        render("{% for i in (1..3) %}{{ i }}{% if i == 2 %}{% break %}{% endif %}{% endfor %}!"),
        "12!"
    );
    assert_eq!(
        render("{% tablerow i in (1..3) %}{{ i }}{% break %}{% endtablerow %}!"),
        "<tr class=\"row1\">\n<td class=\"col1\">1</td></tr>\n!"
    );
}

#[test]
fn given_break_in_a_loops_else_branch_then_it_reaches_the_enclosing_loop() {
    assert_eq!(
        render(
            "{% for i in (1..3) %}{{ i }}{% for j in none %}{% else %}{% break %}{% endfor %}x\
             {% endfor %}!"
        ),
        "1!"
    );
}

#[test]
fn given_an_included_snippet_that_breaks_then_the_callers_loop_stops() {
    let snippets = [("stop", "{% if i == 2 %}{% break %}{% endif %}")];
    assert_eq!(
        render_with(
            "{% for i in (1..3) %}{{ i }}{% include 'stop' %}-{% endfor %}",
            &snippets
        ),
        "1-2"
    );
    assert_eq!(
        render_with(
            "{% for i in (1..3) %}{{ i }}{% render 'stop', i: i %}-{% endfor %}",
            &snippets
        ),
        "1-2-3-"
    );
}

#[test]
fn given_a_template_that_writes_the_part_block_then_it_does_not_parse() {
    let sources = TemplateSources {
        html: "a{% storecast_part__ %}b{% endstorecast_part__ %}".to_owned(),
        ..TemplateSources::default()
    };
    let error = CompiledTemplate::compile_sources(&sources, &serde_json::Map::new())
        .expect_err("the part block is the compiler's own");
    assert!(error.to_string().contains("storecast_part__"), "{error}");
}

#[test]
fn given_text_around_tags_with_whitespace_control_then_written_as_liquid_trims_it() {
    assert_eq!(
        render(
            "a  {%- if true -%}  b  {%- endif -%}  c\n{% for i in (1..2) %} {{ i }} {% endfor %}"
        ),
        "abc\n 1  2 "
    );
}

#[test]
fn given_a_stray_end_tag_then_the_parse_error_points_at_its_line() {
    let sources = TemplateSources {
        html: "line one\n{% endif %}".to_owned(),
        ..TemplateSources::default()
    };
    let error = CompiledTemplate::compile_sources(&sources, &serde_json::Map::new())
        .expect_err("a stray endif");
    assert!(error.to_string().contains("line 2"), "{error}");
}
