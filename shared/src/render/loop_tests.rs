//! Loops, `tablerow`, ranges as values and whitespace, as Shopify renders them.

use std::collections::BTreeMap;

use super::*;

fn render_data(
    source: &str,
    data: serde_json::Value,
    snippets: &[(&str, &str)],
) -> Result<String, RenderError> {
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
    )?;
    let data: FieldValue = serde_json::from_value(data).unwrap();
    let mut out = RenderedMessage::default();
    template.render(&RenderContext::from_value(&data), &mut out)?;
    Ok(out.html)
}

fn render(source: &str) -> String {
    render_data(source, serde_json::json!({}), &[]).unwrap()
}

#[test]
fn given_tablerow_with_cols_when_rendered_then_rows_of_cells_as_shopify() {
    let out =
        render("{% tablerow i in (1..5) cols:2 %}{{ i }}{{ tablerowloop.row }}{% endtablerow %}");

    assert_eq!(
        out,
        "<tr class=\"row1\">\n<td class=\"col1\">11</td><td class=\"col2\">21</td></tr>\n\
         <tr class=\"row2\"><td class=\"col1\">32</td><td class=\"col2\">42</td></tr>\n\
         <tr class=\"row3\"><td class=\"col1\">53</td></tr>\n"
    );
}

#[test]
fn given_tablerow_with_break_and_limit_when_rendered_then_row_is_closed() {
    assert_eq!(
        render("{% tablerow n in (1..3) %}{{ n }}{% break %}{% endtablerow %}"),
        "<tr class=\"row1\">\n<td class=\"col1\">1</td></tr>\n"
    );
    assert_eq!(
        render("{% tablerow n in (1..4) limit: '2' offset: 1 %}{{ n }}{% endtablerow %}"),
        "<tr class=\"row1\">\n<td class=\"col1\">2</td><td class=\"col2\">3</td></tr>\n"
    );
    assert_eq!(
        render("{% tablerow n in nothing %}{{ n }}{% endtablerow %}"),
        ""
    );
}

#[test]
fn given_a_range_as_a_value_when_rendered_then_it_is_an_array() {
    let out = render_data(
        "{{ (1..4) | join: '#' }}|{{ ( start \n .. 2) | join: ',' }}|{% assign r = (2.4..4) %}\
         {% for i in r %}{{ i }}{% endfor %}|{% echo (1..3) | last %}",
        serde_json::json!({"start": -1}),
        &[],
    )
    .unwrap();

    assert_eq!(out, "1#2#3#4|-1,0,1,2|234|3");
}

#[test]
fn given_offset_continue_when_rendered_then_the_loop_goes_on_where_the_last_stopped() {
    let out = render(
        "{% for i in (1..6) limit: 2 %}a{{ i }}{% endfor %}\
         {% for i in (1..6) limit: 2 offset: continue %}b{{ i }}{% endfor %}\
         {% for i in (1..6), offset: continue %}c{{ i }}-{{ forloop.name }}{% endfor %}",
    );

    assert_eq!(out, "a1a2b3b4c5-i-(1..6)c6-i-(1..6)");
}

#[test]
fn given_a_limit_that_is_not_a_number_when_rendered_then_render_error() {
    let error = render_data(
        "{% for i in (1..4) limit: 'foo' %}{{ i }}{% endfor %}",
        serde_json::json!({}),
        &[],
    )
    .unwrap_err();

    assert!(matches!(error, RenderError::Render { .. }), "{error}");
    assert_eq!(
        render("{% for i in (1..4) limit: missing %}{{ i }}{% endfor %}"),
        "1234"
    );
    assert_eq!(render("{% for c in '' %}x{% endfor %}"), "");
}

#[test]
fn given_a_loop_in_a_snippet_rendered_for_each_item_then_it_has_no_parentloop() {
    let out = render_data(
        "{% render 'row' for items as item %}",
        serde_json::json!({"items": ["a", "b"]}),
        &[(
            "row",
            "{{ item }}{{ forloop.index }}:{% for j in (1..2) %}{{ forloop.parentloop.index }}{{ j }}{% endfor %} ",
        )],
    )
    .unwrap();

    assert_eq!(out, "a1:12 b2:12 ");
}

#[test]
fn given_blocks_holding_only_whitespace_and_assignments_then_their_whitespace_is_dropped() {
    let out = render(
        "!{% if true %}\n  {% assign a = 1 %}\n  {% for i in (1..3) %}\n  {% endfor %}\n{% endif %}!\
         {% if true %} x {% endif %}!{% capture c %} y {% endcapture %}{{ c }}",
    );

    assert_eq!(out, "!! x ! y ");
}

#[test]
fn given_whitespace_control_next_to_tabs_then_tabs_are_trimmed_as_in_ruby() {
    assert_eq!(render("a \t\n{%- if true -%}\t b{%- endif -%}\t\r\n"), "ab");
}

#[test]
fn given_a_parse_error_after_a_dropped_blank_block_then_its_line_is_the_authors() {
    let error = render_data(
        "{% if true %}\n\n{% assign a = 1 %}\n{% endif %}\n{{ a | }}",
        serde_json::json!({}),
        &[],
    )
    .unwrap_err();

    assert!(
        matches!(error, RenderError::Parse { line: Some(5), .. }),
        "{error:?}"
    );
}
