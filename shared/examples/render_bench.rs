//! Renders the sample retail email (subject, ~15 KB HTML, text, push) and builds its MIME message
//! per recipient, the way delivery does, and prints the throughput.
//!
//! cargo run -p storecast --example render_bench --release [-- MESSAGES]

use std::error::Error;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use storecast::channels::mime::{EmailParts, build_email};
use storecast::domain::FieldValue;
use storecast::domain::{
    CampaignId, Customer, CustomerId, MessageId, Offer, TenantId, TenantStatus, TenantWorkspace,
    VariantId,
};
use storecast::render::{CompiledTemplate, RecipientContext, RenderContext, RenderedMessage};

const RECIPIENTS: usize = 50;
const SENDING_DOMAIN: &str = "mail.storecast.example";

struct Recipient {
    customer: Customer,
    offers: Vec<Offer>,
    message_id: MessageId,
}

fn main() -> Result<(), Box<dyn Error>> {
    let messages: usize = match std::env::args().nth(1) {
        Some(count) => count.parse()?,
        None => 20_000,
    };
    let template = CompiledTemplate::compile_sources(
        &storecast::testing::retail_template::retail_template(),
        &storecast::testing::retail_template::retail_variables(),
    )?;
    let workspace = workspace()?;
    let campaign_id = CampaignId::parse("spring-sale")?;
    let variant = VariantId::parse("A")?;
    let recipients = recipients(&workspace.tenant_id, &campaign_id)?;

    let run = Run {
        template: &template,
        workspace: &workspace,
        campaign_id: &campaign_id,
        variant: &variant,
        recipients: &recipients,
    };
    let mut buffers = Buffers::default();

    for i in 0..RECIPIENTS {
        run.send(i, true, &mut buffers)?;
    }
    let Buffers { rendered, raw, .. } = &buffers;
    println!(
        "sample message: subject {} B, html {} B, text {} B, push {} B, MIME {} B",
        rendered.subject.len(),
        rendered.html.len(),
        rendered.text.len(),
        rendered.push_title.as_deref().map_or(0, str::len)
            + rendered.push_body.as_deref().map_or(0, str::len),
        raw.len()
    );

    for (label, with_mime) in [("render only", false), ("render + MIME", true)] {
        let started = Instant::now();
        for i in 0..messages {
            run.send(i, with_mime, &mut buffers)?;
        }
        report(label, messages, started.elapsed());
    }
    Ok(())
}

/// What every message of the campaign shares.
struct Run<'a> {
    template: &'a CompiledTemplate,
    workspace: &'a TenantWorkspace,
    campaign_id: &'a CampaignId,
    variant: &'a VariantId,
    recipients: &'a [Recipient],
}

/// Reused from message to message, as one delivery worker reuses them.
#[derive(Default)]
struct Buffers {
    rendered: RenderedMessage,
    raw: Vec<u8>,
    unsubscribe_url: String,
}

impl Run<'_> {
    fn send(&self, i: usize, with_mime: bool, buffers: &mut Buffers) -> Result<(), Box<dyn Error>> {
        let recipient = &self.recipients[i % self.recipients.len()];
        let workspace = self.workspace;
        buffers.unsubscribe_url.clear();
        write!(
            buffers.unsubscribe_url,
            "{}?t={}&c={}&m={}",
            workspace.unsubscribe_base_url,
            workspace.tenant_id,
            self.campaign_id,
            recipient.message_id
        )?;
        let context = RenderContext::for_recipient(RecipientContext {
            customer: &recipient.customer,
            offers: &recipient.offers,
            workspace,
            campaign_id: self.campaign_id,
            variant: self.variant,
            message_id: &recipient.message_id,
            unsubscribe_url: &buffers.unsubscribe_url,
        });
        self.template.render(&context, &mut buffers.rendered)?;
        if with_mime {
            let rendered = &buffers.rendered;
            build_email(
                &EmailParts {
                    from_name: &workspace.display_name,
                    from_address: &workspace.from_address,
                    to_address: recipient.customer.email.as_deref().unwrap_or_default(),
                    subject: &rendered.subject,
                    html: &rendered.html,
                    text: &rendered.text,
                    message_id: recipient.message_id.as_str(),
                    sending_domain: SENDING_DOMAIN,
                    unsubscribe_url: &buffers.unsubscribe_url,
                    unsubscribe_mailto: Some("unsubscribe@mail.storecast.example"),
                },
                &mut buffers.raw,
            )?;
        }
        black_box(&buffers.rendered);
        black_box(&buffers.raw);
        Ok(())
    }
}

fn report(label: &str, messages: usize, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    println!(
        "{label:>14}: {messages} messages in {seconds:.3} s = {:.0} messages/s, {:.1} µs/message",
        messages as f64 / seconds,
        seconds * 1e6 / messages as f64
    );
}

fn workspace() -> Result<TenantWorkspace, Box<dyn Error>> {
    Ok(TenantWorkspace {
        tenant_id: TenantId::parse("acme-outdoor")?,
        slug: "acme-outdoor".to_owned(),
        display_name: "ACME Outdoor".to_owned(),
        configuration_set: "storecast-acme-outdoor".to_owned(),
        ses_tenant: "acme-outdoor".to_owned(),
        from_address: TenantWorkspace::from_address_for("acme-outdoor", SENDING_DOMAIN),
        status: TenantStatus::Active,
        unsubscribe_base_url: "https://u.storecast.example/unsubscribe".to_owned(),
        settings: Default::default(),
        push_applications: Default::default(),
    })
}

/// Customers with and without names and loyalty tiers, each with six offers, some on sale.
fn recipients(tenant: &TenantId, campaign: &CampaignId) -> Result<Vec<Recipient>, Box<dyn Error>> {
    const FIRST_NAMES: [&str; 5] = ["Anna", "Jonas", "Émilie", "Mateo", "Yuki"];
    const TIERS: [&str; 3] = ["gold", "silver", "bronze"];
    let valid_until = time::macros::datetime!(2026-12-06 22:59 UTC);
    (0..RECIPIENTS)
        .map(|i| {
            let mut fields = serde_json::Map::new();
            if i % 7 != 0 {
                fields.insert(
                    "first_name".into(),
                    FIRST_NAMES[i % FIRST_NAMES.len()].into(),
                );
            }
            if i % 2 == 0 {
                fields.insert("loyalty_tier".into(), TIERS[i % TIERS.len()].into());
                fields.insert("points".into(), (i * 37).into());
            }
            let id = CustomerId::parse(format!("customer-{i}"))?;
            let message_id =
                MessageId::derive(tenant, campaign, &id, storecast::domain::Channel::Email);
            let offers = (0..6)
                .map(|n| Offer {
                    item_id: format!("sku-{}", 1000 + (i + n) % 40),
                    title: format!("Ridgeline trail jacket, colour {}", (i + n) % 9),
                    url: format!("https://www.example-outdoor.com/p/{}", 1000 + (i + n) % 40),
                    image_url: (n % 3 != 2)
                        .then(|| format!("https://cdn.example-outdoor.com/p/{}.jpg", 1000 + n)),
                    price: 129.95 + n as f64 * 10.0,
                    sale_price: (n % 2 == 0).then_some(99.95 + n as f64 * 10.0),
                    currency: "EUR".to_owned(),
                    valid_until: (n != 5).then_some(valid_until),
                })
                .collect();
            Ok(Recipient {
                customer: Customer {
                    id,
                    email: Some(format!("customer-{i}@example.com")),
                    push_token: None,
                    push_tokens: Vec::new(),
                    fields: FieldValue::from(serde_json::Value::Object(fields)),
                },
                offers,
                message_id,
            })
        })
        .collect()
}
