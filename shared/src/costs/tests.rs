use std::time::Duration;

use super::*;

#[test]
fn gb_seconds_are_memory_in_gb_times_duration() {
    assert_eq!(Usage::gb_seconds(1024, Duration::from_secs(2)), 2.0);
    assert_eq!(Usage::gb_seconds(512, Duration::from_millis(500)), 0.25);
}

#[test]
fn a_record_is_billed_in_started_put_payload_units() {
    assert_eq!(Usage::put_units(0), 1.0);
    assert_eq!(Usage::put_units(1), 1.0);
    assert_eq!(Usage::put_units(25 * 1024), 1.0);
    assert_eq!(Usage::put_units(25 * 1024 + 1), 2.0);
}

#[test]
fn usage_is_priced_at_each_unit_price() {
    let usage = Usage {
        lambda_gb_seconds: 1_000_000.0,
        lambda_requests: 1_000_000.0,
        dynamodb_read_units: 1_000_000.0,
        dynamodb_write_units: 1_000_000.0,
        kinesis_put_units: 1_000_000.0,
        ses_messages: 1_000.0,
        sns_publishes: 1_000_000.0,
    };
    // $13.3334 + $0.20 + $0.125 + $0.625 + $0.014 + $0.10 + $1.00
    let expected = 13.3334 + 0.20 + 0.125 + 0.625 + 0.014 + 0.10 + 1.00;
    assert!((usage.usd() - expected).abs() < 1e-9, "{}", usage.usd());
}

#[test]
fn a_thousand_emails_cost_ses_ten_cents_and_the_rest_a_little() {
    // 1,000 emails in 20 batches of 50: each batch 0.3 s of a 1 GB function, 1/10 of an
    // invocation, 51 claims and a transactional outcome write of two items, one read of the
    // workspace and its suppressions, one 25 KB send batch and 50 campaign events.
    let batch = Usage {
        lambda_gb_seconds: Usage::gb_seconds(1024, Duration::from_millis(300)),
        lambda_requests: 0.1,
        dynamodb_read_units: 26.0,
        dynamodb_write_units: 50.0 + 4.0 + 1.0,
        kinesis_put_units: 1.0 + 50.0,
        ses_messages: 50.0,
        sns_publishes: 0.0,
    };
    let mut campaign = Usage::default();
    for _ in 0..20 {
        campaign.add(&batch);
    }
    let cost = CampaignCost::new(campaign, 1_000);
    assert!((cost.usage.ses_messages - 1_000.0).abs() < 1e-9);
    let ses = 0.10;
    let lambda = 20.0 * 0.3 * LAMBDA_GB_SECOND_USD + 2.0 * LAMBDA_REQUEST_USD;
    let dynamodb = 20.0 * (26.0 * DYNAMODB_READ_UNIT_USD + 55.0 * DYNAMODB_WRITE_UNIT_USD);
    let kinesis = 20.0 * 51.0 * KINESIS_PUT_UNIT_USD;
    let expected = ses + lambda + dynamodb + kinesis;
    assert!(
        (cost.usd - expected).abs() < 1e-12,
        "{} vs {expected}",
        cost.usd
    );
    let per_sent = cost.usd_per_sent.unwrap();
    assert!((per_sent - expected / 1_000.0).abs() < 1e-15);
    // SES is most of it: the rest is about a tenth of a cent per thousand.
    assert!(expected - ses < 0.001, "{}", expected - ses);
}

#[test]
fn nothing_sent_has_no_cost_per_send() {
    let usage = Usage {
        dynamodb_write_units: 3.0,
        ..Usage::default()
    };
    let cost = CampaignCost::new(usage, 0);
    assert_eq!(cost.usd_per_sent, None);
    assert!(cost.usd > 0.0);
    let json = serde_json::to_value(cost).unwrap();
    assert!(json.get("usd_per_sent").is_none());
}

#[test]
fn counters_round_trip_by_name_and_unknown_names_are_ignored() {
    let usage = Usage {
        lambda_gb_seconds: 0.5,
        lambda_requests: 0.25,
        dynamodb_read_units: 1.5,
        dynamodb_write_units: 7.0,
        kinesis_put_units: 3.0,
        ses_messages: 2.0,
        sns_publishes: 4.0,
    };
    let mut read = Usage::default();
    for (name, value) in usage.fields() {
        read.set(name, value);
    }
    read.set("a_counter_of_a_later_build", 9.0);
    assert_eq!(read, usage);
    assert!(!read.is_zero());
    assert!(Usage::default().is_zero());
}

#[tokio::test]
async fn a_meter_counts_only_the_calls_made_in_its_own_work() {
    record_dynamodb_write(5.0); // no meter: counted for nobody
    let (answer, units) = metered(async {
        record_dynamodb_read(0.5);
        record_dynamodb_write(2.0);
        record_kinesis_put(2.0);
        // Concurrent work of the same task is counted too.
        futures::future::join(async { record_dynamodb_write(1.0) }, async {
            record_dynamodb_read(1.0)
        })
        .await;
        42
    })
    .await;
    assert_eq!(answer, 42);
    assert_eq!(
        units,
        MeteredUnits {
            read: 1.5,
            write: 3.0,
            kinesis_put: 2.0,
        }
    );
    let (_, other) = metered(async { record_dynamodb_read(4.0) }).await;
    assert_eq!(
        other,
        MeteredUnits {
            read: 4.0,
            ..MeteredUnits::default()
        }
    );
}
