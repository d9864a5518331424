//! Our renderer side by side with Shopify's Liquid for Ruby (Debian's ruby-liquid with
//! ruby-liquid-c, under `ruby --yjit`): every standard template (all parts), as delivery
//! publishes and renders it, for the recipients of the deliver bench's render run, with the same
//! data (customer, offers, retailer, campaign, message id, unsubscribe link, the template's vars
//! and the retailer's brand). Prints recipients per CPU-second for both and their ratio, and
//! compares the outputs byte for byte in the same run (subject and push lines without their
//! trailing newline: ours are trimmed as headers and notifications), printing each difference.
//!
//! `make bench` runs it after `infra/scripts/bootstrap-ruby-liquid.sh`;
//! `LIQUID_REFERENCE_CPU_SECONDS` (default 2) is each side's CPU time per template.
//! Figures printed, not asserted.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use storecast::domain::{CampaignEvent, FieldValue, TemplateVersion, TenantWorkspace};
use storecast::render::{CompiledTemplate, RecipientContext, RenderContext, RenderedMessage};
use storecast::templates::catalog::standard;
use storecast::testing::samples::{sample_event, sample_workspace};

const TENANT: &str = "alpine-outfitters";
const DOMAIN: &str = "mail.storecast.example";
const RECIPIENTS: u32 = 100;
const PARTS: [&str; 5] = [
    "subject",
    "email.html",
    "email.txt",
    "push_title",
    "push_body",
];

struct Fixture {
    workspace: TenantWorkspace,
    brand: FieldValue,
    events: Vec<CampaignEvent>,
    unsubscribe: Vec<String>,
}

impl Fixture {
    fn new() -> Self {
        let mut workspace = sample_workspace(TENANT, DOMAIN);
        workspace.settings.brand.extend([
            (
                "postal_address".into(),
                "Alpine Outfitters AG, Seestrasse 1, Zurich".into(),
            ),
            (
                "website_url".into(),
                "https://alpine-outfitters.shop.example".into(),
            ),
        ]);
        let brand = FieldValue::from(&workspace.settings.brand);
        let events: Vec<_> = (0..RECIPIENTS)
            .map(|n| sample_event(TENANT, "c1", n))
            .collect();
        let unsubscribe = events
            .iter()
            .map(|e| format!("https://prefs.example/u?m={}", e.message_id))
            .collect();
        Fixture {
            workspace,
            brand,
            events,
            unsubscribe,
        }
    }

    fn render(&self, template: &CompiledTemplate, i: usize, out: &mut RenderedMessage) {
        let event = &self.events[i];
        let context = RenderContext::for_recipient(RecipientContext {
            customer: &event.customer,
            offers: &event.offers,
            workspace: &self.workspace,
            campaign_id: &event.campaign_id,
            variant: &event.variant,
            message_id: &event.message_id,
            unsubscribe_url: &self.unsubscribe[i],
        })
        .with_brand(&self.brand);
        template
            .render(&context, out)
            .expect("standard templates render");
    }

    /// Recipient `i` as JSON: what `RenderContext::for_recipient` shows a template.
    fn recipient_json(&self, i: usize) -> Value {
        let event = &self.events[i];
        let mut customer = serde_json::to_value(&event.customer.fields).unwrap();
        let customer_map = customer.as_object_mut().unwrap();
        customer_map.insert("id".into(), event.customer.id.as_str().into());
        if let Some(email) = &event.customer.email {
            customer_map.insert("email".into(), email.as_str().into());
        }
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        let offers: Vec<Value> = event
            .offers
            .iter()
            .map(|o| {
                json!({
                    "item_id": o.item_id, "title": o.title, "url": o.url,
                    "image_url": o.image_url, "price": o.price, "sale_price": o.sale_price,
                    "currency": o.currency,
                    "valid_until": o.valid_until.map(|d| d.format(rfc3339).unwrap()),
                })
            })
            .collect();
        json!({
            "customer": customer,
            "offers": offers,
            "retailer": {"name": self.workspace.display_name, "slug": self.workspace.slug},
            "campaign": {"id": event.campaign_id.as_str(), "variant": event.variant.as_str()},
            "message_id": event.message_id.as_str(),
            "unsubscribe_url": self.unsubscribe[i],
        })
    }
}

/// CPU time of this thread so far (the kernel's scheduler statistics, in nanoseconds).
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let nanos: f64 = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN);
    nanos / 1e9
}

struct Ours {
    id: String,
    version: TemplateVersion,
    rate: f64,
    outputs: Vec<[Option<String>; 5]>,
}

fn render_ours(fixture: &Fixture, version: TemplateVersion, min_cpu: f64) -> Ours {
    let template = CompiledTemplate::compile(&version).expect("standard templates compile");
    let mut out = RenderedMessage::default();
    let outputs = (0..fixture.events.len())
        .map(|i| {
            fixture.render(&template, i, &mut out);
            [
                Some(out.subject.clone()),
                Some(out.html.clone()),
                Some(out.text.clone()),
                out.push_title.clone(),
                out.push_body.clone(),
            ]
        })
        .collect();
    let mut renders = 0usize;
    let started = thread_cpu_seconds();
    while thread_cpu_seconds() - started < min_cpu {
        for i in 0..fixture.events.len() {
            fixture.render(&template, i, &mut out);
            std::hint::black_box(&out);
        }
        renders += fixture.events.len();
    }
    Ours {
        id: version.template.id.to_string(),
        rate: renders as f64 / (thread_cpu_seconds() - started),
        version,
        outputs,
    }
}

fn ruby_input(fixture: &Fixture, ours: &[Ours], min_cpu: f64) -> Value {
    let templates: Vec<Value> = ours
        .iter()
        .map(|o| {
            let v = &o.version;
            let mut parts = serde_json::Map::new();
            for (part, source) in PARTS.iter().zip([
                Some(&v.subject),
                Some(&v.html),
                Some(&v.text),
                v.push_title.as_ref(),
                v.push_body.as_ref(),
            ]) {
                if let Some(source) = source {
                    parts.insert((*part).into(), source.as_str().into());
                }
            }
            json!({"id": o.id, "parts": parts, "snippets": v.snippets, "vars": v.variables})
        })
        .collect();
    json!({
        "min_cpu_seconds": min_cpu,
        "brand": fixture.workspace.settings.brand,
        "recipients": (0..fixture.events.len()).map(|i| fixture.recipient_json(i)).collect::<Vec<_>>(),
        "templates": templates,
    })
}

fn run_ruby(input: &Value) -> Result<Value, String> {
    let dir = std::env::temp_dir().join(format!("liquid-reference-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (input_path, output_path) = (dir.join("input.json"), dir.join("output.json"));
    std::fs::write(&input_path, input.to_string()).map_err(|e| e.to_string())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/support/liquid_reference.rb");
    let status = Command::new("ruby")
        .arg("--yjit")
        .arg(&script)
        .args([&input_path, &output_path])
        .env("TZ", "UTC")
        .status()
        .map_err(|e| {
            format!("cannot run ruby ({e}): run infra/scripts/bootstrap-ruby-liquid.sh")
        })?;
    if !status.success() {
        return Err(format!("{} failed: {status}", script.display()));
    }
    let output = std::fs::read_to_string(&output_path).map_err(|e| e.to_string())?;
    std::fs::remove_dir_all(&dir).ok();
    serde_json::from_str(&output).map_err(|e| e.to_string())
}

/// The first differing line of two texts, for the report.
fn first_difference(ours: &str, theirs: &str) -> String {
    let (a, b): (Vec<_>, Vec<_>) = (ours.lines().collect(), theirs.lines().collect());
    for line in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(line), b.get(line));
        if x != y {
            return format!(
                "line {}:\n        ours: {:?}\n        ruby: {:?}",
                line + 1,
                x.unwrap_or(&"<none>"),
                y.unwrap_or(&"<none>")
            );
        }
    }
    format!(
        "same lines, different line ends ({} vs {} bytes)",
        ours.len(),
        theirs.len()
    )
}

/// Compares one template's outputs; prints each differing case; answers the identical recipients.
fn compare(ours: &Ours, theirs: &Value) -> usize {
    let mut identical = 0;
    for (i, mine) in ours.outputs.iter().enumerate() {
        let mut same = true;
        for (p, part) in PARTS.iter().enumerate() {
            let reference = theirs["outputs"][i][*part].as_str();
            let (mine, reference) = match (p, &mine[p], reference) {
                (1 | 2, Some(m), Some(r)) => (m.as_str(), r),
                (_, Some(m), Some(r)) => (m.as_str(), r.strip_suffix('\n').unwrap_or(r)),
                (_, None, None) => continue,
                (_, m, r) => {
                    println!("  {} recipient {i} {part}: ours {m:?}, ruby {r:?}", ours.id);
                    same = false;
                    continue;
                }
            };
            if mine != reference {
                same = false;
                println!(
                    "  {} recipient {i} {part} differs at {}",
                    ours.id,
                    first_difference(mine, reference)
                );
            }
        }
        identical += usize::from(same);
    }
    identical
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let min_cpu: f64 = std::env::var("LIQUID_REFERENCE_CPU_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benchmarking { 2.0 } else { 0.05 });
    let fixture = Fixture::new();
    let catalog = standard().expect("the standard catalog loads");
    let tenant = fixture.workspace.tenant_id.clone();
    let ours: Vec<Ours> = catalog
        .for_tenant(&tenant)
        .map(|t| {
            let version = t.version_for(&tenant, 1, &Default::default()).unwrap();
            render_ours(&fixture, version, min_cpu)
        })
        .collect();
    let reference = match run_ruby(&ruby_input(&fixture, &ours, min_cpu)) {
        Ok(reference) => reference,
        Err(error) if !benchmarking => {
            println!("liquid reference skipped: {error}");
            return;
        }
        Err(error) => panic!("{error}"),
    };
    println!(
        "Liquid side by side: ours vs Ruby {} + liquid {} + liquid-c {} (YJIT {}), {} recipients, {min_cpu} CPU-s per template and side",
        reference["ruby"].as_str().unwrap_or("?"),
        reference["liquid"].as_str().unwrap_or("?"),
        reference["liquid_c"].as_str().unwrap_or("?"),
        reference["yjit"],
        fixture.events.len()
    );
    println!("differences:");
    let mut rows = Vec::new();
    let (mut our_time, mut ruby_time, mut all_identical) = (0.0, 0.0, 0);
    for mine in &ours {
        let theirs = reference["templates"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["id"] == mine.id.as_str()))
            .expect("ruby rendered every template");
        let ruby_rate = theirs["recipients_per_cpu_second"]
            .as_f64()
            .unwrap_or(f64::NAN);
        let identical = compare(mine, theirs);
        all_identical += identical;
        our_time += 1.0 / mine.rate;
        ruby_time += 1.0 / ruby_rate;
        rows.push((mine.id.clone(), mine.rate, ruby_rate, identical));
    }
    println!(
        "\n{:<16} {:>14} {:>14} {:>7} {:>12}",
        "template", "ours rec/CPU-s", "ruby rec/CPU-s", "ratio", "identical"
    );
    for (id, rate, ruby_rate, identical) in &rows {
        println!(
            "{id:<16} {rate:>14.0} {ruby_rate:>14.0} {:>6.1}x {identical:>8}/{}",
            rate / ruby_rate,
            fixture.events.len()
        );
    }
    let count = rows.len() as f64;
    println!(
        "{:<16} {:>14.0} {:>14.0} {:>6.1}x {all_identical:>8}/{}",
        "all (one each)",
        count / our_time,
        count / ruby_time,
        ruby_time / our_time,
        fixture.events.len() * rows.len()
    );
}
