//! The report's reconciliation of what is on its way and of the warm-up cap.

use serde_json::json;

use super::*;

fn line(in_flight: u64, sent: u64, unconfirmed: u64) -> RetailerLine {
    RetailerLine {
        stats: json!({
            "events_emitted": sent + unconfirmed + in_flight,
            "delivery": {"sent": sent, "unconfirmed": unconfirmed, "in_flight": in_flight},
            "delivery_by_channel": {"email": {"sent": sent, "unconfirmed": unconfirmed}},
        }),
        ..RetailerLine::default()
    }
}

fn report(lines: &[(&str, RetailerLine)], deferred: &[(&str, u64)]) -> ApiDemoReport {
    ApiDemoReport {
        lines: lines
            .iter()
            .map(|(key, line)| (key.to_string(), line.clone()))
            .collect(),
        deferred: deferred.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        ..ApiDemoReport::default()
    }
}

#[test]
fn messages_on_their_way_must_all_be_in_their_retailers_deferred_batches() {
    let lines = [
        ("alpine-outfitters", line(5, 74, 0)),
        ("alpine-outfitters/winter-push", line(2, 10, 0)),
        ("harbor-books", line(0, 81, 0)),
    ];
    let kept = report(&lines, &[("alpine-outfitters", 7)]);
    assert!(kept.on_their_way_errors().is_empty());

    // Two of alpine's are in no deferred batch: lost, and reported as such.
    let lost = report(&lines, &[("alpine-outfitters", 5)]);
    assert_eq!(
        lost.on_their_way_errors(),
        vec!["alpine-outfitters: 7 on their way, 5 in deferred batches".to_string()]
    );
    // A deferred batch of a retailer without a campaign line.
    let stray = report(&lines, &[("alpine-outfitters", 7), ("citrus-kitchen", 3)]);
    assert_eq!(
        stray.on_their_way_errors(),
        vec!["citrus-kitchen: 3 deferred, no campaign line".to_string()]
    );
}

#[test]
fn the_warm_up_caps_used_is_its_sent_plus_unconfirmed_emails() {
    let mut exact = report(
        &[(WARMUP_RETAILER, line(30, 48, 2))],
        &[(WARMUP_RETAILER, 30)],
    );
    exact.warmup = WarmupLine {
        cap: Some(50),
        used: 50,
        deferred: 30,
        ..WarmupLine::default()
    };
    assert!(
        exact.warmup_errors().is_empty(),
        "{:?}",
        exact.warmup_errors()
    );

    // A grant lost (a take or give-back miscounted): the cap says 45 for 50 that may have gone.
    exact.warmup.used = 45;
    assert_eq!(
        exact.warmup_errors(),
        vec!["warm-up: cap Some(50), 45 used, 50 sent".to_string()]
    );
}
