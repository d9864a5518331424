//! The render budget: each limit fails the render of that part with a clear error.

use std::collections::BTreeMap;

use super::*;

fn render_snippets(source: &str, snippets: &[(&str, String)]) -> Result<String, RenderError> {
    let sources = TemplateSources {
        html: source.to_owned(),
        ..TemplateSources::default()
    };
    let snippets: BTreeMap<String, String> = snippets
        .iter()
        .map(|(name, source)| ((*name).to_owned(), source.clone()))
        .collect();
    let template = CompiledTemplate::compile_sources_with_snippets(
        &sources,
        &serde_json::Map::new(),
        &snippets,
    )?;
    let data = FieldValue::default();
    let mut out = RenderedMessage::default();
    template.render(&RenderContext::from_value(&data), &mut out)?;
    Ok(out.html)
}

fn render(source: &str) -> Result<String, RenderError> {
    render_snippets(source, &[])
}

fn assert_budget_error(result: Result<String, RenderError>, what: &str) {
    let error = result.expect_err("the budget stops the render");
    assert!(
        matches!(&error, RenderError::Render { part: TemplatePart::Html, message } if message.contains("render budget") && message.contains(what)),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[test]
fn given_a_huge_range_when_rendered_then_budget_error_before_building_it() {
    assert_budget_error(
        render("{% for i in (1..100000000) %}x{% endfor %}"),
        "loop iterations",
    );
}

#[test]
fn given_nested_loops_past_the_iteration_limit_then_budget_error() {
    // 200 × 100 = 20,000 inner iterations, each loop alone well under the limit.
    assert_budget_error(
        render("{% for i in (1..200) %}{% for j in (1..100) %}{% endfor %}{% endfor %}"),
        &format!("{MAX_LOOP_ITERATIONS} loop iterations"),
    );
    assert!(
        render("{% for i in (1..90) %}{% for j in (1..100) %}{% endfor %}{% endfor %}").is_ok()
    );
}

#[test]
fn given_loops_in_snippets_and_tablerow_then_they_count_against_the_same_budget() {
    let snippet = ("loop", "{% for j in (1..100) %}{% endfor %}".to_owned());
    assert_budget_error(
        render_snippets(
            "{% for i in (1..101) %}{% render 'loop' %}{% endfor %}",
            &[snippet],
        ),
        "loop iterations",
    );
    assert_budget_error(
        render("{% for i in (1..101) %}{% tablerow j in (1..100) %}{% endtablerow %}{% endfor %}"),
        "loop iterations",
    );
}

#[test]
fn given_an_append_that_doubles_a_string_then_budget_error_at_the_assignment() {
    assert_budget_error(
        render(
            "{% assign s = 'xx' %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}",
        ),
        "assigned value",
    );
    assert_budget_error(
        render(
            "{% assign s = 'x' | split: '' %}{% for i in (1..64) %}{% assign s = s | concat: s %}{% endfor %}",
        ),
        "assigned value",
    );
}

#[test]
fn given_plain_copies_of_a_checked_value_then_assigned_without_growing_past_the_limit() {
    // s is 1 MiB exactly; copies of it (a plain path, not weighed again) cannot grow it, and the
    // next doubling of a copy is still refused.
    let grow = "{% assign s = '0123456789abcdef' %}{% for i in (1..16) %}{% assign s = s | append: s %}{% endfor %}";
    assert_eq!(
        render(&format!(
            "{grow}{{% for i in (1..50) %}}{{% assign t = s %}}{{% endfor %}}{{{{ t | size }}}}"
        ))
        .unwrap(),
        MAX_OUTPUT_BYTES.to_string()
    );
    assert_budget_error(
        render(&format!(
            "{grow}{{% assign t = s %}}{{% assign t = t | append: 'x' %}}"
        )),
        "assigned value",
    );
}

#[test]
fn given_a_capture_or_output_past_the_size_limit_then_budget_error() {
    let grow = "{% assign s = '0123456789abcdef' %}{% for i in (1..16) %}{% assign s = s | append: s %}{% endfor %}";
    // s is 1 MiB exactly: allowed as a value, too big twice over as output or capture.
    assert_budget_error(
        render(&format!(
            "{grow}{{% capture c %}}{{{{ s }}}}{{{{ s }}}}{{% endcapture %}}"
        )),
        "captured text",
    );
    assert_budget_error(
        render(&format!("{grow}{{{{ s }}}}{{{{ s }}}}")),
        "bytes of output",
    );
    assert_eq!(
        render(&format!("{grow}{{{{ s | size }}}}")).unwrap(),
        "1048576"
    );
}

#[test]
fn given_blocks_nested_too_deep_then_compile_error_with_its_line() {
    let deep = |n: usize| "{% if true %}\n".repeat(n) + "x" + &"{% endif %}".repeat(n);

    let error = render(&deep(MAX_BLOCK_NESTING + 1)).unwrap_err();

    assert!(
        matches!(&error, RenderError::Parse { line: Some(line), message, .. } if *line == MAX_BLOCK_NESTING + 1 && message.contains("nest")),
        "{error}"
    );
    assert!(render(&deep(MAX_BLOCK_NESTING)).unwrap().ends_with('x'));
}

#[test]
fn given_the_deepest_allowed_snippets_and_blocks_then_they_render_on_a_small_stack() {
    // Every snippet at the deepest block nesting renders the next: the most recursion a
    // template may cause, on a thread with a tokio worker's 2 MiB stack.
    let body = |next: &str| {
        "{% if true %}".repeat(MAX_BLOCK_NESTING - 1)
            + &format!("{{% for i in (1..1) %}}{next}{{% endfor %}}")
            + &"{% endif %}".repeat(MAX_BLOCK_NESTING - 1)
    };
    let snippets: Vec<(&str, String)> = (0..MAX_PARTIAL_DEPTH)
        .map(|level| {
            let next = if level + 1 < MAX_PARTIAL_DEPTH {
                format!("{{% render 's{}' %}}", level + 1)
            } else {
                "deep".to_owned()
            };
            (
                [
                    "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
                    "s12", "s13", "s14", "s15",
                ][level],
                body(&next),
            )
        })
        .collect();

    let rendered = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || render_snippets(&body("{% render 's0' %}"), &snippets))
        .unwrap()
        .join()
        .expect("no stack overflow");

    assert_eq!(rendered.unwrap(), "deep");
}
