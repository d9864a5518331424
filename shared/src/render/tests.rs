//! Rendering behaviour, end to end through compile and render.

use super::*;
use crate::domain::{
    CampaignId, Customer, CustomerId, MessageId, Offer, TenantId, TenantStatus, TenantWorkspace,
    VariantId,
};

pub(super) struct Fixture {
    pub customer: Customer,
    pub offers: Vec<Offer>,
    pub workspace: TenantWorkspace,
    pub campaign_id: CampaignId,
    pub variant: VariantId,
    pub message_id: MessageId,
}

impl Fixture {
    pub fn new() -> Self {
        let fields: FieldValue = serde_json::from_value(serde_json::json!({
            "first_name": "Anna",
            "loyalty_tier": "gold",
            "points": 1200,
            "tags": ["vip", "outdoor"],
            "address": { "city": "Hamburg" }
        }))
        .unwrap();
        Fixture {
            customer: Customer {
                id: CustomerId::parse("cust-1").unwrap(),
                email: Some("anna@example.com".to_owned()),
                push_token: None,
                push_tokens: Vec::new(),
                fields,
            },
            offers: sample_offers(),
            workspace: TenantWorkspace {
                tenant_id: TenantId::parse("acme-outdoor").unwrap(),
                slug: "acme-outdoor".to_owned(),
                display_name: "ACME Outdoor".to_owned(),
                configuration_set: "cs".to_owned(),
                ses_tenant: "acme".to_owned(),
                from_address: "acme-outdoor@mail.storecast.example".to_owned(),
                status: TenantStatus::Active,
                unsubscribe_base_url: "https://u.storecast.example".to_owned(),
                settings: Default::default(),
                push_applications: Default::default(),
            },
            campaign_id: CampaignId::parse("spring-sale").unwrap(),
            variant: VariantId::parse("A").unwrap(),
            message_id: MessageId::parse("m-123").unwrap(),
        }
    }

    pub fn context(&self) -> RenderContext<'_> {
        RenderContext::for_recipient(RecipientContext {
            customer: &self.customer,
            offers: &self.offers,
            workspace: &self.workspace,
            campaign_id: &self.campaign_id,
            variant: &self.variant,
            message_id: &self.message_id,
            unsubscribe_url: "https://u.storecast.example/u/m-123",
        })
    }
}

pub(super) fn sample_offers() -> Vec<Offer> {
    (1..=6)
        .map(|i| Offer {
            item_id: format!("sku-{i}"),
            title: format!("Trail jacket {i}"),
            url: format!("https://shop.example/p/{i}"),
            image_url: (i % 2 == 0).then(|| format!("https://cdn.example/{i}.jpg")),
            price: 100.0 + f64::from(i),
            sale_price: (i % 3 != 0).then(|| 80.0 + f64::from(i)),
            currency: "EUR".to_owned(),
            valid_until: Some(
                time::macros::datetime!(2026-12-01 09:30 UTC)
                    + time::Duration::days(i64::from(i) - 1),
            ),
        })
        .collect()
}

fn render_with(
    sources: TemplateSources,
    vars: serde_json::Value,
    fixture: &Fixture,
) -> RenderedMessage {
    let serde_json::Value::Object(vars) = vars else {
        panic!("vars must be an object")
    };
    let template = CompiledTemplate::compile_sources(&sources, &vars).unwrap();
    let mut out = RenderedMessage::default();
    template.render(&fixture.context(), &mut out).unwrap();
    out
}

fn html_part(source: &str) -> TemplateSources {
    TemplateSources {
        html: source.to_owned(),
        ..TemplateSources::default()
    }
}

fn html(source: &str) -> String {
    html_for(source, &Fixture::new())
}

fn html_for(source: &str, fixture: &Fixture) -> String {
    render_with(html_part(source), serde_json::json!({}), fixture).html
}

// --- Missing data renders as nil, never as an error -------------------------------------------

#[test]
fn given_customer_without_first_name_when_default_filter_used_then_fallback_renders() {
    let mut fixture = Fixture::new();
    fixture.customer.fields = FieldValue::default();

    let out = html_for(
        r#"Hi {{ customer.first_name | default: "there" }}!|{{ customer.first_name }}|"#,
        &fixture,
    );

    assert_eq!(out, "Hi there!||");
}

#[test]
fn given_customer_with_first_name_when_default_filter_used_then_name_renders() {
    assert_eq!(
        html(r#"Hi {{ customer.first_name | default: "there" }}!"#),
        "Hi Anna!"
    );
}

#[test]
fn given_missing_paths_at_any_depth_when_rendered_then_each_is_empty() {
    let out = html(
        "[{{ customer.address.city }}]\
         [{{ customer.shipping.address.city }}]\
         [{{ customer.first_name.initial }}]\
         [{{ customer.tags.colour }}]\
         [{{ offers[99].title }}]\
         [{{ offers.foo.bar }}]\
         [{{ no_such_variable }}]\
         [{{ no_such_variable.deeper[0].still }}]\
         [{{ vars.not_set.x }}]",
    );

    assert_eq!(out, "[Hamburg][][][][][][][][]");
}

#[test]
fn given_missing_values_when_used_in_conditions_then_they_are_falsy_nil() {
    let out = html(
        "{% if customer.missing %}if{% else %}else{% endif %}|\
         {% unless customer.missing %}unless{% endunless %}|\
         {% if customer.missing == nil %}eq-nil{% endif %}|\
         {% if customer.missing != \"x\" %}ne{% endif %}|\
         {% if customer.missing == \"\" %}eq-empty{% else %}not-eq-empty{% endif %}|\
         {% if customer.missing == empty %}is-empty{% endif %}|\
         {% if customer.missing contains \"vip\" %}contains{% else %}no-contains{% endif %}|\
         {% if customer.tags contains \"vip\" %}vip{% endif %}|\
         {% if customer.missing.deeper and customer.first_name %}and{% else %}not-and{% endif %}|\
         {% if customer.missing or customer.first_name %}or{% endif %}",
    );

    assert_eq!(
        out,
        "else|unless|eq-nil|ne|not-eq-empty|is-empty|no-contains|vip|not-and|or"
    );
}

#[test]
fn given_missing_collection_when_size_first_last_used_then_shopify_results() {
    let out = html(
        "[{{ customer.wishlist | size }}][{{ customer.wishlist.size }}]\
         [{{ customer.wishlist.first }}][{{ customer.wishlist.last }}]\
         [{{ customer.wishlist | first }}][{{ customer.wishlist | last }}]\
         [{{ customer.tags.size }}][{{ customer.tags.first }}][{{ customer.tags.last }}]\
         [{{ customer.first_name.size }}][{{ customer.size }}]",
    );

    assert_eq!(out, "[0][][][][][][2][vip][outdoor][4][7]");
}

#[test]
fn given_missing_numbers_and_lists_when_filtered_then_nil_reads_as_zero_or_empty() {
    let out = html(
        "[{{ customer.missing | plus: 1 }}][{{ customer.points | minus: customer.missing }}]\
         [{{ customer.missing | times: 3 | round }}][{{ customer.missing | join: \",\" }}]\
         [{{ customer.missing | map: \"title\" | size }}][{{ customer.missing | upcase }}]\
         [{{ customer.missing | append: \"!\" }}][{{ customer.missing | date: \"%Y\" }}]\
         [{{ customer.missing | price: \"EUR\" }}][{{ customer.missing | sort | first }}]",
    );

    assert_eq!(out, "[1][1200][0][][0][][!][][][]");
}

#[test]
fn given_missing_collection_when_looped_then_nothing_or_else_branch_renders() {
    let out = html(
        "[{% for item in customer.wishlist %}x{% endfor %}]\
         [{% for item in customer.wishlist %}x{% else %}empty{% endfor %}]\
         [{% for item in customer.wishlist.items limit: 2 %}x{% endfor %}]",
    );

    assert_eq!(out, "[][empty][]");
}

#[test]
fn given_loop_item_or_assigned_object_when_missing_key_read_then_nil_not_error() {
    let out = html(
        "{% for offer in offers limit: 2 %}[{{ offer.colour }}{{ offer.brand.name }}]{% endfor %}\
         {% assign top = offers.first %}[{{ top.title }}|{{ top.colour.name }}]\
         {% assign pairs = customer.address %}{% for pair in pairs %}[{{ pair[0] }}={{ pair[1] }}{{ pair[5] }}]{% endfor %}",
    );

    assert_eq!(out, "[][][Trail jacket 1|][city=Hamburg]");
}

#[test]
fn given_offer_without_optional_fields_when_rendered_then_they_are_nil() {
    let out = html(
        "{% for offer in offers limit: 1 %}\
         [{{ offer.image_url | default: \"placeholder\" }}]\
         {% endfor %}{% for offer in offers offset: 2 limit: 1 %}\
         [{% if offer.sale_price %}sale{% else %}full{% endif %}]\
         {% endfor %}",
    );

    assert_eq!(out, "[placeholder][full]");
}

// --- The context templates see -------------------------------------------------------------

#[test]
fn given_recipient_context_when_rendered_then_every_documented_variable_is_there() {
    let out = html(
        "{{ customer.id }}|{{ customer.email }}|{{ customer.loyalty_tier }}|\
         {{ retailer.name }}|{{ retailer.slug }}|{{ campaign.id }}|{{ campaign.variant }}|\
         {{ message_id }}|{{ unsubscribe_url }}|{{ offers.size }}|{{ offers.last.item_id }}|\
         {{ offers[-2].title }}",
    );

    assert_eq!(
        out,
        "cust-1|anna@example.com|gold|ACME Outdoor|acme-outdoor|spring-sale|A|m-123|\
         https://u.storecast.example/u/m-123|6|sku-6|Trail jacket 5"
    );
}

#[test]
fn given_customer_fields_named_id_or_email_when_rendered_then_checked_contract_values_win() {
    let mut fixture = Fixture::new();
    fixture.customer.fields = serde_json::from_value(serde_json::json!({
        "id": "spoofed", "email": "spoofed@example.com", "first_name": "Anna"
    }))
    .unwrap();

    assert_eq!(
        html_for("{{ customer.id }} {{ customer.email }}", &fixture),
        "cust-1 anna@example.com"
    );
}

#[test]
fn given_arbitrary_json_when_rendered_from_value_then_it_is_the_top_level() {
    let data: FieldValue = serde_json::from_value(serde_json::json!({
        "customer": { "first_name": "Bo" },
        "items": [1, 2, 3]
    }))
    .unwrap();
    let template = CompiledTemplate::compile_sources(
        &html_part(
            "{{ customer.first_name }} {{ items | join: \",\" }} [{{ offers.first.title }}] [{{ vars.x }}]",
        ),
        &serde_json::Map::new(),
    )
    .unwrap();
    let mut out = RenderedMessage::default();

    template
        .render(&RenderContext::from_value(&data), &mut out)
        .unwrap();

    assert_eq!(out.html, "Bo 1,2,3 [] []");
}

#[test]
fn given_non_object_json_when_rendered_from_value_then_every_variable_is_nil() {
    let data = FieldValue::from("just a string");
    let template = CompiledTemplate::compile_sources(
        &html_part("[{{ customer.first_name }}]"),
        &serde_json::Map::new(),
    )
    .unwrap();
    let mut out = RenderedMessage::default();

    template
        .render(&RenderContext::from_value(&data), &mut out)
        .unwrap();

    assert_eq!(out.html, "[]");
}

// --- Loops with the filters retail emails use ---------------------------------------------------

#[test]
fn given_offers_when_looped_with_price_and_date_filters_then_each_offer_renders() {
    let out = html(
        "{% for offer in offers limit: 3 %}\
         {{ forloop.index }}/{{ forloop.length }} {{ offer.title }}: \
         {% if offer.sale_price and offer.sale_price < offer.price %}\
         {{ offer.sale_price | price: offer.currency }} (was {{ offer.price | price: offer.currency }})\
         {% else %}{{ offer.price | price: offer.currency }}{% endif %} \
         until {{ offer.valid_until | date: \"%a %-d %b %Y %H:%M %Z\" }}\
         {% unless forloop.last %}; {% endunless %}{% endfor %}",
    );

    assert_eq!(
        out,
        "1/3 Trail jacket 1: €81.00 (was €101.00) until Tue 1 Dec 2026 09:30 UTC; \
         2/3 Trail jacket 2: €82.00 (was €102.00) until Wed 2 Dec 2026 09:30 UTC; \
         3/3 Trail jacket 3: €103.00 until Thu 3 Dec 2026 09:30 UTC"
    );
}

#[test]
fn given_loop_options_when_rendered_then_stdlib_semantics_hold() {
    let out = html(
        "[{% for o in offers offset: 4 limit: 5 %}{{ o.item_id }} {% endfor %}]\
         [{% for o in offers limit: 2 reversed %}{{ o.item_id }} {% endfor %}]\
         [{% for i in (1..4) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}]\
         [{% for i in (1..2) %}{% for j in (1..2) %}{{ forloop.parentloop.index }}{{ j }} {% endfor %}{% endfor %}]\
         [{% for c in \"abc\" %}{{ c }}{% endfor %}]\
         [{% for i in (1..customer.missing) %}{{ i }}{% endfor %}]",
    );

    assert_eq!(out, "[sku-5 sku-6 ][sku-2 sku-1 ][13][11 12 21 22 ][abc][]");
}

#[test]
fn given_huge_range_when_rendered_then_render_error_instead_of_hang() {
    let template = CompiledTemplate::compile_sources(
        &html_part("{% for i in (1..100000000) %}x{% endfor %}"),
        &serde_json::Map::new(),
    )
    .unwrap();
    let fixture = Fixture::new();
    let mut out = RenderedMessage::default();

    let error = template.render(&fixture.context(), &mut out).unwrap_err();

    assert!(
        matches!(
            error,
            RenderError::Render {
                part: TemplatePart::Html,
                ..
            }
        ),
        "{error}"
    );
    assert!(!error.is_retryable());
}

// --- Template variables --------------------------------------------------------------------

fn vars_fixture() -> serde_json::Value {
    serde_json::json!({
        "brand": "ACME",
        "padded": "  spaced  ",
        "empty": "",
        "count": 3,
        "ratio": 2.5,
        "flag": true,
        "nothing": null,
        "list": ["a", "b"],
        "nested": { "x": 1 },
        "curly": "{{ customer.first_name }}",
        "multi-line": "line one\nline two",
        "url": "https://shop.example/?a=1&b=2"
    })
}

const VARS_SOURCE: &str = "<{{ vars.brand }}>\n\
    a {{- vars.padded -}} b\n\
    [{{ vars.empty }}]  {{- vars.empty }} x\n\
    {{ vars.count }} {{ vars.ratio }} {{ vars.flag }} [{{ vars.nothing }}] {{ vars.list }} {{ vars.nested }}\n\
    {{ vars.curly }} {{ vars.multi-line }} {{vars.url}} {{ vars.unknown }}\n\
    {{ vars.brand | upcase }} {% if vars.flag %}flag{% endif %} {% for l in vars.list %}{{ l }}{% endfor %}\n\
    {% assign quoted = \"{{ vars.brand }}\" %}{{ quoted }}\n\
    {% comment %}{{ vars.brand }}{% endcomment %}{{ customer.first_name }}";

#[test]
fn given_plain_vars_outputs_when_baked_then_output_is_identical_to_lookup() {
    let serde_json::Value::Object(vars) = vars_fixture() else {
        unreachable!()
    };
    let sources = TemplateSources {
        subject: VARS_SOURCE.to_owned(),
        html: VARS_SOURCE.to_owned(),
        text: VARS_SOURCE.to_owned(),
        push_title: Some(VARS_SOURCE.to_owned()),
        push_body: None,
    };
    assert!(
        vars::bake(VARS_SOURCE, &FieldValue::from(&vars)).is_some(),
        "the source must exercise baking"
    );
    let fixture = Fixture::new();

    let mut baked = RenderedMessage::default();
    CompiledTemplate::compile_sources(&sources, &vars)
        .unwrap()
        .render(&fixture.context(), &mut baked)
        .unwrap();
    let mut looked_up = RenderedMessage::default();
    CompiledTemplate::compile_sources_unbaked(&sources, &vars)
        .unwrap()
        .render(&fixture.context(), &mut looked_up)
        .unwrap();

    assert_eq!(baked, looked_up);
    assert!(
        baked
            .html
            .starts_with("<ACME>\na  spaced  b\n[] x\n3 2.5 true [] ab"),
        "{}",
        baked.html
    );
    assert!(
        baked
            .html
            .contains("{{ customer.first_name }} line one\nline two")
    );
    assert!(
        baked.html.ends_with("{{ vars.brand }}\nAnna"),
        "{}",
        baked.html
    );
}

#[test]
fn given_vars_source_when_baked_then_only_safe_plain_outputs_are_replaced() {
    let vars = FieldValue::from(&match vars_fixture() {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    });

    let baked = vars::bake(VARS_SOURCE, &vars).unwrap();

    assert!(baked.starts_with("<ACME>"), "{baked}");
    assert!(
        baked.contains("[{% raw %}{% endraw %}]"),
        "empty values keep a raw block"
    );
    assert!(
        baked.contains("a {%- raw %}  spaced  {% endraw -%} b"),
        "{baked}"
    );
    assert!(
        baked.contains("{{ vars.curly }}"),
        "values with braces stay lookups"
    );
    assert!(
        baked.contains("{{ vars.brand | upcase }}"),
        "filtered outputs stay lookups"
    );
    assert!(
        baked.contains("{{ vars.unknown }}"),
        "unknown names stay lookups"
    );
    assert!(
        baked.contains("{% assign quoted = \"{{ vars.brand }}\" %}"),
        "strings inside tags are not markup"
    );
    assert_eq!(
        vars::bake(
            "{% raw %}{{ vars.brand }}{% endraw %}{{ vars.brand }}",
            &vars
        ),
        None,
        "sources with raw blocks are left alone"
    );
}

// --- Errors ------------------------------------------------------------------------------------

#[test]
fn given_broken_liquid_when_compiled_then_error_names_part_line_and_column() {
    let sources = TemplateSources {
        subject: "Hello".to_owned(),
        html: "<p>\n  Hi {{ customer.first_name | }}\n</p>".to_owned(),
        text: String::new(),
        push_title: None,
        push_body: None,
    };

    let error = CompiledTemplate::compile_sources(&sources, &serde_json::Map::new()).unwrap_err();

    let RenderError::Parse {
        part,
        line,
        column,
        ref message,
    } = error
    else {
        panic!("expected a parse error, got {error:?}");
    };
    assert_eq!(part, TemplatePart::Html);
    assert_eq!(line, Some(2));
    // Where pest expected the filter name, after the `|`.
    assert_eq!(column, Some(31));
    assert!(message.contains("customer.first_name |"), "{message}");
    assert!(
        error
            .to_string()
            .starts_with("email.html line 2, column 31: "),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[test]
fn given_unclosed_block_or_unknown_filter_when_compiled_then_parse_error_for_that_part() {
    let unclosed = TemplateSources {
        text: "line 1\n{% if customer.vip %}\nVIP".to_owned(),
        ..TemplateSources::default()
    };
    let unknown_filter = TemplateSources {
        push_body: Some("{{ customer.first_name | shout }}".to_owned()),
        ..TemplateSources::default()
    };

    let unclosed =
        CompiledTemplate::compile_sources(&unclosed, &serde_json::Map::new()).unwrap_err();
    let unknown_filter =
        CompiledTemplate::compile_sources(&unknown_filter, &serde_json::Map::new()).unwrap_err();

    assert_eq!(unclosed.part(), TemplatePart::Text);
    assert!(matches!(unclosed, RenderError::Parse { .. }), "{unclosed}");
    assert_eq!(unknown_filter.part(), TemplatePart::PushBody);
    assert!(
        unknown_filter.to_string().starts_with("push_body"),
        "{unknown_filter}"
    );
}

#[test]
fn given_template_with_partials_when_compiled_then_rejected_at_publish_time() {
    let sources = html_part("{% include 'footer' %}");

    let error = CompiledTemplate::compile_sources(&sources, &serde_json::Map::new()).unwrap_err();

    assert!(matches!(
        error,
        RenderError::Parse {
            part: TemplatePart::Html,
            ..
        }
    ));
}

#[test]
fn given_filter_failing_at_render_when_rendered_then_render_error_for_that_part() {
    let sources = TemplateSources {
        subject: "{{ 10 | divided_by: 0 }}".to_owned(),
        ..TemplateSources::default()
    };
    let template = CompiledTemplate::compile_sources(&sources, &serde_json::Map::new()).unwrap();
    let fixture = Fixture::new();
    let mut out = RenderedMessage::default();

    let error = template.render(&fixture.context(), &mut out).unwrap_err();

    assert!(
        matches!(
            error,
            RenderError::Render {
                part: TemplatePart::Subject,
                ..
            }
        ),
        "{error}"
    );
    assert!(!error.is_retryable());
}

// --- Subjects and buffers --------------------------------------------------------------------

#[test]
fn given_subject_with_line_breaks_when_rendered_then_one_trimmed_line() {
    let sources = TemplateSources {
        subject: "\n  Hello\n   {{ customer.first_name }}\r\n\n  {% if offers.size > 1 %}+{{ offers.size }}\tpicks{% endif %}  \n"
            .to_owned(),
        ..TemplateSources::default()
    };

    let out = render_with(sources, serde_json::json!({}), &Fixture::new());

    assert_eq!(out.subject, "Hello Anna +6\tpicks");
}

#[test]
fn given_reused_message_when_rendered_again_then_buffers_are_refilled_in_place() {
    let template = CompiledTemplate::compile_sources(
        &crate::testing::retail_template::retail_template(),
        &crate::testing::retail_template::retail_variables(),
    )
    .unwrap();
    let fixture = Fixture::new();
    let mut out = RenderedMessage::default();
    template.render(&fixture.context(), &mut out).unwrap();
    let first = out.clone();
    let html_buffer = (out.html.as_ptr(), out.html.capacity());
    let text_buffer = (out.text.as_ptr(), out.text.capacity());
    let push_buffer = out.push_body.as_ref().map(|p| p.as_ptr());

    template.render(&fixture.context(), &mut out).unwrap();

    assert_eq!(out, first);
    assert_eq!((out.html.as_ptr(), out.html.capacity()), html_buffer);
    assert_eq!((out.text.as_ptr(), out.text.capacity()), text_buffer);
    assert_eq!(out.push_body.as_ref().map(|p| p.as_ptr()), push_buffer);
}

#[test]
fn given_template_without_push_when_rendered_into_used_message_then_push_parts_are_cleared() {
    let with_push = CompiledTemplate::compile_sources(
        &crate::testing::retail_template::retail_template(),
        &crate::testing::retail_template::retail_variables(),
    )
    .unwrap();
    let without_push =
        CompiledTemplate::compile_sources(&html_part("hi"), &serde_json::Map::new()).unwrap();
    let fixture = Fixture::new();
    let mut out = RenderedMessage::default();

    with_push.render(&fixture.context(), &mut out).unwrap();
    without_push.render(&fixture.context(), &mut out).unwrap();

    assert!(with_push.has_push());
    assert!(!without_push.has_push());
    assert_eq!(out.push_title, None);
    assert_eq!(out.push_body, None);
    assert_eq!(out.html, "hi");
}

#[test]
fn given_sample_template_when_rendered_then_realistic_message() {
    let fixture = Fixture::new();

    let out = render_with(
        crate::testing::retail_template::retail_template(),
        serde_json::Value::Object(crate::testing::retail_template::retail_variables()),
        &fixture,
    );

    assert_eq!(out.subject, "Anna, our spring edit is here + 5 more picks");
    assert_eq!(out.push_title.as_deref(), Some("Your spring picks are in"));
    assert_eq!(
        out.push_body.as_deref(),
        Some("Anna, Trail jacket 1 is now €81.00 and 5 more picks are waiting.")
    );
    assert!(out.html.contains("Hi Anna,"));
    assert!(out.html.contains("<s style=\"color:#7a756d;\">€101.00</s>"));
    assert!(out.html.contains("Ends Tuesday, December 1 at 9:30 AM UTC"));
    assert!(out.html.contains("https://u.storecast.example/u/m-123"));
    assert!(out.html.len() > 12_000, "{} bytes", out.html.len());
    assert!(
        out.text
            .contains("1. Trail jacket 1\n   Now €81.00 (was €101.00)"),
        "{}",
        out.text
    );
}

#[test]
fn compiled_templates_and_the_cache_are_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledTemplate>();
    assert_send_sync::<TemplateCache>();
}

#[test]
fn given_tags_the_parser_panics_on_when_compiled_then_a_parse_error_not_a_panic() {
    // liquid's parser panics on these tags inside a comment block.
    let source = "{% comment %}    {% if true %}    {% if ... %}    {%- for ? -%}    {% while true %}    {%    unless if    %}    {% endcase %}{% endcomment %}";
    let sources = TemplateSources {
        subject: "Hi".into(),
        html: source.into(),
        text: "t".into(),
        push_title: None,
        push_body: None,
    };
    let outcome = std::panic::catch_unwind(|| {
        CompiledTemplate::compile_sources(&sources, &serde_json::Map::new())
    });
    let result = outcome.expect("compiling never panics");
    let error = result.expect_err("the malformed tags are a parse error");
    assert_eq!(error.part(), TemplatePart::Html);
}
