//! Template previews in process: every standard template (`templates/catalog.yaml`) previewed
//! through `TemplateService::preview` on in-memory adapters, on one core. Target: under 5 ms per
//! preview. Run with `cargo bench -p storecast --bench preview`.
//!
//! Two cases per template: saved values (the live version is compiled once and cached) and draft
//! values (every preview compiles the template with the draft baked in, as the editor's live
//! preview does on each keystroke).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use storecast::templates::ports::TemplatePublisher;
use storecast::templates::{Catalog, PreviewRequest, TemplateService};
use storecast::testing::MemoryDirectory;
use storecast::testing::samples::sample_workspace;

const ITERATIONS: u32 = 300;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let catalog =
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/catalog.yaml"))
            .expect("the standard catalog loads");
    let directory = Arc::new(MemoryDirectory::default());
    let mut workspace = sample_workspace("alpine-outfitters", "mail.storecast.example");
    workspace.settings.brand = serde_json::json!({
        "logo_url": "https://cdn.alpine.example/logo.png",
        "primary_color": "#0b3d91",
        "postal_address": "Alpine Outfitters AG, Bahnhofstrasse 1, 8001 Zürich"
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    for template in &catalog.templates {
        let version = template
            .version_for(&workspace.tenant_id, 1, &serde_json::Map::new())
            .expect("defaults are valid");
        directory.publish(&version, None).await.expect("published");
    }
    let service = TemplateService::new(
        directory.clone(),
        directory,
        storecast::testing::unsubscribe_signer(),
    );

    println!("preview bench: {ITERATIONS} previews per case, one core (target < 5 ms per preview)");
    println!(
        "{:<16} {:>14} {:>14} {:>10}",
        "template", "saved values", "draft values", "HTML"
    );
    for template in &catalog.templates {
        let draft = || PreviewRequest {
            variables: Some(
                serde_json::json!({"headline": "A draft headline", "brand_color": "#aa3300"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(name, _)| template.schema.iter().any(|s| &s.name == name))
                    .collect(),
            ),
            ..PreviewRequest::default()
        };
        let mut timings = Vec::new();
        let mut html_len = 0;
        for make in [0, 1] {
            let started = Instant::now();
            for _ in 0..ITERATIONS {
                let request = if make == 0 {
                    PreviewRequest::default()
                } else {
                    draft()
                };
                let preview = service
                    .preview(&workspace, &template.id, request)
                    .await
                    .expect("the standard templates preview");
                html_len = preview.html.len();
                std::hint::black_box(preview);
            }
            timings.push(started.elapsed().as_secs_f64() * 1e6 / f64::from(ITERATIONS));
        }
        println!(
            "{:<16} {:>11.0} µs {:>11.0} µs {:>7} B",
            template.id.as_str(),
            timings[0],
            timings[1],
            html_len
        );
    }
}
