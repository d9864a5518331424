//! A standard template that renders the library's snippets, from deploy to the sent email: a
//! launch pinned to a version keeps that version's snippets after a snippet edit.

use std::path::PathBuf;
use std::sync::Arc;

use storecast::clock::Clock;
use storecast::domain::{SendBatch, TemplateId, TemplateRef};
use storecast::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig};
use storecast::pipeline::lambda_batch::InboundRecord;
use storecast::templates::Catalog;
use storecast::templates::deploy::{DeployOptions, deploy};
use storecast::testing::samples::{batch_of, sample_event, seed_retailer};
use storecast::testing::{
    ManualClock, MemoryArchive, MemoryDirectory, MemoryEmailProvider, MemorySendLog,
};

const DOMAIN: &str = "mail.storecast.example";

fn library(text_footer: Option<&str>) -> Catalog {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../templates");
    let yaml = std::fs::read_to_string(root.join("catalog.yaml")).unwrap();
    Catalog::parse(&yaml, |path| match (path, text_footer) {
        ("snippets/text_footer.liquid", Some(footer)) => Ok(footer.to_owned()),
        _ => std::fs::read_to_string(root.join(path)),
    })
    .unwrap()
}

/// Customers `customers` of campaign c1, sent `welcome` version `version`.
fn welcome_batch(version: u32, customers: std::ops::Range<u32>) -> SendBatch {
    let events: Vec<_> = customers
        .map(|n| {
            let mut event = sample_event("alpine", "c1", n);
            event.template = TemplateRef {
                id: TemplateId::parse("welcome").unwrap(),
                version,
            };
            event
        })
        .collect();
    batch_of(events)
}

#[tokio::test]
async fn given_a_template_with_snippets_when_delivered_then_each_email_carries_its_versions_snippets()
 {
    let directory = Arc::new(MemoryDirectory::default());
    seed_retailer(directory.as_ref(), "alpine", "c1", DOMAIN)
        .await
        .unwrap();
    let options = DeployOptions::default();
    let first = deploy(
        &library(None),
        directory.as_ref(),
        directory.as_ref(),
        &options,
    )
    .await
    .unwrap();
    assert!(first.is_success(), "{}", first.to_text());
    let edited = library(Some("--\nEdited footer of {{ retailer.name }}"));
    let second = deploy(&edited, directory.as_ref(), directory.as_ref(), &options)
        .await
        .unwrap();
    assert!(second.is_success(), "{}", second.to_text());
    let provider = Arc::new(MemoryEmailProvider::keeping_messages());
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let deliverer = Deliverer::new(
        DelivererPorts {
            directory: directory.clone(),
            templates: directory.clone(),
            send_log: Arc::new(MemorySendLog::default()),
            provider: provider.clone(),
            archive: Arc::new(MemoryArchive::default()),
            clock: clock.clone(),
            unsubscribe: storecast::testing::unsubscribe_signer(),
        },
        DeliveryConfig::new(DOMAIN),
    );
    let launched_before_the_edit = welcome_batch(1, 0..4);
    let launched_after_the_edit = welcome_batch(2, 4..8);

    let records: Vec<InboundRecord> = [&launched_before_the_edit, &launched_after_the_edit]
        .iter()
        .enumerate()
        .map(|(i, batch)| InboundRecord {
            sequence_number: i.to_string(),
            partition_key: batch.batch_id.to_string(),
            data: serde_json::to_vec(batch).unwrap(),
            arrived_at: None,
        })
        .collect();
    let outcome = deliverer
        .deliver(&records, clock.now() + time::Duration::seconds(60))
        .await;

    assert!(outcome.failed_positions.is_empty());
    let sent = provider.sent();
    assert_eq!(sent.len() as u64, outcome.per_tenant["alpine"].sent);
    let (mut old, mut new) = (0, 0);
    for (_, email) in &sent {
        let message = mail_parser::MessageParser::default()
            .parse(&email.raw_mime)
            .unwrap();
        let html = message.body_html(0).unwrap().replace("\r\n", "\n");
        let text = message.body_text(0).unwrap().replace("\r\n", "\n");
        // The header (preheader and frame) and the footer (closing the document) in both.
        assert!(
            html.contains("overflow:hidden;\">Thanks for joining."),
            "{html}"
        );
        assert!(html.trim_end().ends_with("</body>\n</html>"), "{html}");
        if text.contains("Edited footer of") {
            new += 1;
        } else {
            assert!(
                text.contains("Discount codes cannot be exchanged for cash.\n"),
                "{text}"
            );
            old += 1;
        }
    }
    assert!(
        old > 0 && new > 0,
        "each launch renders its own version's snippet: {old} {new}"
    );
    assert_eq!(old + new, sent.len());
}
