use super::*;

fn prepared(source: &str) -> String {
    prepare(source).unwrap().into_owned()
}

#[test]
fn given_outputs_when_prepared_then_they_are_echo_tags_with_their_whitespace_control() {
    assert_eq!(
        prepared("a {{ x | upcase }} b"),
        "a {% echo  x | upcase  %} b"
    );
    assert_eq!(prepared("{{- x -}}"), "{%- echo  x  -%}");
    assert_eq!(prepared("no markup"), "no markup");
}

#[test]
fn given_comments_when_prepared_then_empty_comments_keep_lines_and_trimming() {
    assert_eq!(
        prepared("{%- # note\n # more -%}x"),
        "{%- comment\n %}{% endcomment -%}x"
    );
    assert_eq!(
        prepared("{% comment %}{% comment %}{% if %}{% endcomment %}\n{% endcomment -%}y"),
        "{% comment\n %}{% endcomment -%}y"
    );
    assert_eq!(
        prepared("{% doc %}{{ oops {% enddoc %}"),
        "{% comment %}{% endcomment %}"
    );
}

#[test]
fn given_raw_when_prepared_then_copied_as_it_is() {
    assert_eq!(
        prepared("{% raw %}{{ x }}{% # no %}{% endraw %}{{ y }}"),
        "{% raw %}{{ x }}{% # no %}{% endraw %}{% echo  y  %}"
    );
}

#[test]
fn given_liquid_tag_when_prepared_then_one_tag_per_line_keeping_line_breaks() {
    assert_eq!(
        prepared("{%- liquid\n  assign x = 1\n  # note\n  echo x\n-%}"),
        "{%- comment %}{% endcomment %}{%\n assign x = 1 %}{%\n\n echo x %}{% comment\n %}{% endcomment -%}"
    );
}

#[test]
fn given_malformed_markup_when_prepared_then_errors_name_the_line() {
    let unmarked = prepare("\n{% # one\n two %}").unwrap_err();
    assert_eq!(unmarked.line, 2);
    assert!(prepare("{% comment %}never closed").is_err());
    assert!(prepare("{% if x %}{% liquid endif %}").is_err());
    assert!(prepare("{% doc hello %}{% enddoc %}").is_err());
}
