//! Simple chains evaluate exactly as liquid's chains do; what is not simple stays liquid's.

use std::io::Write;

use liquid_core::parser::TagTokenIter;
use liquid_core::{Language, ParseTag, Renderable, Runtime, TagReflection};

use super::*;
use crate::domain::FieldValue;
use crate::render::language::LANGUAGE;
use crate::render::runtime::LenientRuntime;

/// `{% both chain %}`: the chain compiled by [`Chain::new`] and liquid's own, printed side by
/// side as `ours|liquid|kind`.
#[derive(Clone, Copy, Debug)]
struct BothTag;

impl TagReflection for BothTag {
    fn tag(&self) -> &str {
        "both"
    }

    fn description(&self) -> &str {
        "test"
    }
}

impl ParseTag for BothTag {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        options: &Language,
    ) -> Result<Box<dyn liquid_core::Renderable>> {
        let token = arguments.expect_next("chain")?;
        let text = token.as_str().to_owned();
        let ours = Chain::new(
            &text,
            token.expect_filter_chain(options).into_result()?,
            options,
        );
        let mut again = liquid_core::parser::parse(&format!("{{{{ {text} }}}}"), options)?;
        Ok(Box::new(Both {
            ours,
            liquid: again.remove(0),
        }))
    }

    fn reflection(&self) -> &dyn TagReflection {
        self
    }
}

#[derive(Debug)]
struct Both {
    ours: Chain,
    liquid: Box<dyn Renderable>,
}

impl Renderable for Both {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let ours = self.ours.evaluate(runtime)?;
        write!(writer, "{}|", ours.render()).unwrap();
        self.liquid.render_to(writer, runtime)?;
        let kind = match self.ours {
            Chain::Simple(_) => "simple",
            Chain::Liquid(_) => "liquid",
        };
        write!(writer, "|{kind}").unwrap();
        Ok(())
    }
}

fn both(chain: &str) -> String {
    let mut language = LANGUAGE.clone();
    language
        .tags
        .register("both".to_owned(), Box::new(BothTag) as Box<dyn ParseTag>);
    let elements = liquid_core::parser::parse(&format!("{{% both {chain} %}}"), &language)
        .unwrap_or_else(|e| panic!("{chain}: {e}"));
    let data: FieldValue = serde_json::from_value(serde_json::json!({
        "customer": {"first_name": "Anna", "tags": ["a", "b"], "points": 12},
        "offer": {"price": 1249.5, "currency": "EUR", "title": "Boots & <socks>"},
        "offers": [{"title": "one"}, {"title": "two"}],
    }))
    .unwrap();
    let vars = FieldValue::from(&serde_json::Map::new());
    let runtime = LenientRuntime::new(&vars, &data, None);
    let mut out = Vec::new();
    liquid_core::Template::new(elements)
        .render_to(&mut out, &runtime)
        .unwrap_or_else(|e| panic!("{chain}: {e}"));
    String::from_utf8(out).unwrap()
}

#[test]
fn given_simple_chains_then_compiled_ours_and_rendered_as_liquid_renders_them() {
    let cases = [
        ("customer.first_name", "Anna"),
        ("customer.missing.deeper", ""),
        ("offers.size", "2"),
        ("offers.first.title", "one"),
        ("customer.tags.last", "b"),
        ("'now' | size", "3"),
        ("\"a|b, c\" | split: ',' | first", "a|b"),
        ("offer.price | price: offer.currency", "€1,249.50"),
        ("offer.title | escape", "Boots &amp; &lt;socks&gt;"),
        ("customer.nickname | default: \"there\" | upcase", "THERE"),
        ("customer.points | plus: 3", "15"),
        ("customer.points|minus:2.5", "9.5"),
        ("-4 | abs", "4"),
        ("customer.points | at_most: +10", "10"),
        ("offer.title\n  | remove: '&'\n  | strip", "Boots  <socks>"),
    ];
    for (chain, expected) in cases {
        let out = both(chain);
        assert_eq!(out, format!("{expected}|{expected}|simple"), "{chain}");
    }
}

#[test]
fn given_chains_beyond_the_simple_form_then_liquid_evaluates_them() {
    let cases = [
        "customer['first_name']",
        "customer.tags[0]",
        "nil | default: 'x'",
        "empty",
        "true",
        "customer.first-name",
        "customer.first_name | default: 'x', allow_false: true",
        "customer.points | plus: nil",
    ];
    for chain in cases {
        let out = both(chain);
        let parts: Vec<_> = out.split('|').collect();
        assert_eq!(parts.len(), 3, "{chain}: {out}");
        assert_eq!(parts[0], parts[1], "{chain}");
        assert_eq!(parts[2], "liquid", "{chain}");
    }
}

#[test]
fn given_filter_arguments_then_literal_paths_are_built_once_and_others_left_to_liquid() {
    let path = |text: &str| {
        let variable = liquid_core::parser::parse_variable(text).unwrap();
        FastExpression::new(Expression::Variable(variable))
            .path
            .map(|keys| {
                keys.iter()
                    .map(|k| k.to_kstr().to_string())
                    .collect::<Vec<_>>()
            })
    };
    let keys = |keys: &[&str]| Some(keys.iter().map(|k| k.to_string()).collect::<Vec<_>>());

    assert_eq!(path("offer.currency"), keys(&["offer", "currency"]));
    assert_eq!(path("offers[0].title"), keys(&["offers", "0", "title"]));
    assert_eq!(path("a[\"x y\"]"), keys(&["a", "x y"]));
    assert_eq!(path("a['q\"x']"), keys(&["a", "q\"x"]));
    assert_eq!(path("a[b]"), None);
    assert_eq!(path("a[b.c][0]"), None);
    assert!(
        FastExpression::new(Expression::with_literal("x"))
            .path
            .is_none()
    );
}

#[test]
fn given_integer_and_text_keys_then_the_built_path_keeps_their_types() {
    let variable = liquid_core::parser::parse_variable("offers[1][\"1\"]").unwrap();
    let keys = FastExpression::new(Expression::Variable(variable))
        .path
        .unwrap();
    assert_eq!(keys[1].to_integer(), Some(1));
    assert_eq!(keys[2].type_name(), "string");
}

#[test]
fn given_escape_and_default_that_would_copy_their_input_then_it_is_kept_and_renders_the_same() {
    let cases = [
        ("customer.first_name | escape", "Anna"),
        ("customer.first_name | escape | size", "4"),
        ("customer.first_name | escape | upcase", "ANNA"),
        (
            "offer.title | escape | escape",
            "Boots &amp;amp; &amp;lt;socks&amp;gt;",
        ),
        ("customer.first_name | default: 'x' | append: '!'", "Anna!"),
        ("customer.points | default: 1 | plus: 1", "13"),
        ("'' | default: 'none'", "none"),
        ("customer.missing | escape | default: 'none'", "none"),
        (
            "offers.first.title | default: 'x' | escape | capitalize",
            "One",
        ),
    ];
    for (chain, expected) in cases {
        assert_eq!(
            both(chain),
            format!("{expected}|{expected}|simple"),
            "{chain}"
        );
    }
}

#[test]
fn given_texts_then_escape_and_default_keep_only_what_they_would_copy() {
    let text = |s: &str| Value::scalar(s.to_owned());
    assert!(Keeps::TextWithoutMarkup.input(&text("Summer sale")));
    assert!(Keeps::TextWithoutMarkup.input(&text("")));
    for markup in ["a<b", "a>b", "it's", "\"q\"", "a & b"] {
        assert!(!Keeps::TextWithoutMarkup.input(&text(markup)), "{markup}");
    }
    assert!(Keeps::NonEmptyText.input(&text(" ")));
    assert!(!Keeps::NonEmptyText.input(&text("")));
    for other in [Value::Nil, Value::scalar(3), Value::scalar(false)] {
        assert!(!Keeps::NonEmptyText.input(&other), "{other:?}");
        assert!(!Keeps::TextWithoutMarkup.input(&other), "{other:?}");
    }
    assert!(!Keeps::Nothing.input(&text("x")));
}

/// `{% plain chain %}` prints whether [`Chain::new`] compiles the chain to a plain path.
#[derive(Clone, Copy, Debug)]
struct PlainTag;

impl TagReflection for PlainTag {
    fn tag(&self) -> &str {
        "plain"
    }

    fn description(&self) -> &str {
        "test"
    }
}

impl ParseTag for PlainTag {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        options: &Language,
    ) -> Result<Box<dyn liquid_core::Renderable>> {
        let token = arguments.expect_next("chain")?;
        let text = token.as_str().to_owned();
        let chain = Chain::new(
            &text,
            token.expect_filter_chain(options).into_result()?,
            options,
        );
        Ok(Box::new(Printed(if chain.is_plain_path() {
            "plain"
        } else {
            "not"
        })))
    }

    fn reflection(&self) -> &dyn TagReflection {
        self
    }
}

#[derive(Debug)]
struct Printed(&'static str);

impl Renderable for Printed {
    fn render_to(&self, writer: &mut dyn Write, _runtime: &dyn Runtime) -> Result<()> {
        writer.write_all(self.0.as_bytes()).unwrap();
        Ok(())
    }
}

#[test]
fn given_chains_then_only_a_path_without_filters_is_a_plain_path() {
    let mut language = LANGUAGE.clone();
    language
        .tags
        .register("plain".to_owned(), Box::new(PlainTag) as Box<dyn ParseTag>);
    let plain = |chain: &str| {
        let elements = liquid_core::parser::parse(&format!("{{% plain {chain} %}}"), &language)
            .unwrap_or_else(|e| panic!("{chain}: {e}"));
        let data = FieldValue::default();
        let runtime = LenientRuntime::new(&data, &data, None);
        let mut out = Vec::new();
        liquid_core::Template::new(elements)
            .render_to(&mut out, &runtime)
            .unwrap();
        String::from_utf8(out).unwrap() == "plain"
    };
    assert!(plain("offers.first"));
    assert!(plain("customer"));
    assert!(!plain("offers.first | default: 'x'"));
    assert!(!plain("'text'"));
    assert!(!plain("customer.tags[0]"));
}
