//! The render tool renders exactly as delivery does, part by part, line by line.

use std::path::PathBuf;

use storecast::domain::FieldValue;
use storecast::render::{CompiledTemplate, RenderContext, RenderedMessage};
use storecast_dev::tools::render::{RenderOptions, load_template, run};

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../templates/weekly-offers")
}

#[test]
fn renders_each_line_merged_over_the_shared_context_into_numbered_files() {
    let dir = std::env::temp_dir().join(format!("storecast-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shared = dir.join("shared.json");
    std::fs::write(
        &shared,
        r##"{"vars": {"headline": "Winter picks", "brand_color": "#123456", "disclaimer": "While stocks last."},
            "retailer": {"name": "Alpine Outfitters", "slug": "alpine"},
            "unsubscribe_url": "https://prefs.example/u"}"##,
    )
    .unwrap();
    let data = dir.join("recipients.jsonl");
    std::fs::write(
        &data,
        "{\"customer\": {\"first_name\": \"Ann\"}, \"offers\": [{\"title\": \"Tent\", \"price\": 10.5, \"currency\": \"EUR\", \"url\": \"https://x/1\"}]}\n\
         {\"customer\": {}}\n",
    )
    .unwrap();
    let out = dir.join("out");
    let summary = run(&RenderOptions {
        template: sample_dir(),
        shared: Some(shared),
        data,
        out: Some(out.clone()),
        bench: false,
    })
    .unwrap();
    assert_eq!(summary.recipients, 2);
    for part in [
        "subject",
        "email.html",
        "email.txt",
        "push_title",
        "push_body",
    ] {
        assert!(out.join(format!("0.{part}")).exists(), "0.{part}");
        assert!(out.join(format!("1.{part}")).exists(), "1.{part}");
    }
    // Each platform's message as delivery would publish it, the first offer the deep link.
    let fcm: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("0.push.fcm.json")).unwrap())
            .unwrap();
    let gcm: serde_json::Value = serde_json::from_str(fcm["GCM"].as_str().unwrap()).unwrap();
    assert_eq!(
        gcm["fcmV1Message"]["message"]["data"]["deep_link"],
        "https://x/1"
    );
    assert!(out.join("1.push.apns.json").exists());
    let html = std::fs::read_to_string(out.join("0.email.html")).unwrap();
    assert!(html.contains("Ann"));
    assert!(
        html.contains("Winter picks"),
        "the shared vars are baked in"
    );

    // The same as delivery's compiled template renders from the same context.
    let sources = load_template(&sample_dir()).unwrap();
    let vars = serde_json::json!({"headline": "Winter picks", "brand_color": "#123456", "disclaimer": "While stocks last."});
    let template = CompiledTemplate::compile_sources(&sources, vars.as_object().unwrap()).unwrap();
    let context: FieldValue = serde_json::from_value(serde_json::json!({
        "retailer": {"name": "Alpine Outfitters", "slug": "alpine"},
        "unsubscribe_url": "https://prefs.example/u",
        "customer": {}
    }))
    .unwrap();
    let mut rendered = RenderedMessage::default();
    template
        .render(&RenderContext::from_value(&context), &mut rendered)
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("1.email.html")).unwrap(),
        rendered.html
    );
    assert_eq!(
        std::fs::read_to_string(out.join("1.subject")).unwrap(),
        rendered.subject
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn broken_liquid_is_reported_with_its_part_and_line() {
    let dir = std::env::temp_dir().join(format!("storecast-render-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("subject.liquid"), "Hi").unwrap();
    std::fs::write(dir.join("email.html.liquid"), "<p>\n{% if %}</p>").unwrap();
    std::fs::write(dir.join("email.txt.liquid"), "text").unwrap();
    std::fs::write(dir.join("data.jsonl"), "{}\n").unwrap();
    let error = run(&RenderOptions {
        template: dir.clone(),
        shared: None,
        data: dir.join("data.jsonl"),
        out: Some(dir.join("out")),
        bench: false,
    })
    .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("email.html"), "{message}");
    assert!(message.contains("line 2"), "{message}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_library_template_renders_the_snippets_beside_it() {
    let dir =
        std::env::temp_dir().join(format!("storecast-render-snippets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shared = dir.join("shared.json");
    std::fs::write(
        &shared,
        r#"{"vars": {"disclaimer": "Codes are personal.", "footer_address": "1 Market Street"},
            "retailer": {"name": "Alpine"}, "unsubscribe_url": "https://prefs.example/u"}"#,
    )
    .unwrap();
    let data = dir.join("recipients.jsonl");
    std::fs::write(&data, "{\"customer\": {}}\n").unwrap();
    let out = dir.join("out");

    run(&RenderOptions {
        template: sample_dir().join("../welcome"),
        shared: Some(shared),
        data,
        out: Some(out.clone()),
        bench: false,
    })
    .unwrap();

    let text = std::fs::read_to_string(out.join("0.email.txt")).unwrap();
    assert!(
        text.ends_with(
            "--\nCodes are personal.\nAlpine, 1 Market Street\nUnsubscribe: https://prefs.example/u\n"
        ),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
