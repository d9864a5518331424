use super::*;

fn event(detail_type: &str, detail: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": "0b2e4f9a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        "detail-type": detail_type,
        "source": "aws.ses",
        "account": "123456789012",
        "time": "2026-12-01T10:00:05Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ses:us-east-1:123456789012:configuration-set/storecast-acme"],
        "detail": detail,
    })
}

fn mail() -> serde_json::Value {
    serde_json::json!({
        "timestamp": "2026-12-01T10:00:00.000Z",
        "source": "acme@mail.storecast.example",
        "messageId": "010001890abcdef0-1234",
        "destination": ["bounce@simulator.amazonses.com"],
        "tags": {
            "ses:configuration-set": ["storecast-acme"],
            "tenant": ["acme"],
            "campaign": ["spring"],
            "variant": ["b"],
            "message_id": ["4f0c2a9e1b7d"]
        }
    })
}

fn with(event_type: &str, field: &str, value: serde_json::Value) -> serde_json::Value {
    let mut detail = serde_json::json!({"eventType": event_type, "mail": mail()});
    detail[field] = value;
    detail
}

#[test]
fn a_bounce_names_our_message_its_type_and_diagnostic() {
    let parsed = parse(&event(
        "Email Bounced",
        with(
            "Bounce",
            "bounce",
            serde_json::json!({
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [{
                    "emailAddress": "bounce@simulator.amazonses.com",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown"
                }],
                "timestamp": "2026-12-01T10:00:02.000Z",
                "feedbackId": "0100"
            }),
        ),
    ))
    .unwrap();
    assert_eq!(parsed.tenant.as_str(), "acme");
    assert_eq!(parsed.campaign.as_str(), "spring");
    assert_eq!(parsed.variant, "b");
    assert_eq!(parsed.message.as_str(), "4f0c2a9e1b7d");
    assert_eq!(parsed.ses_message_id, "010001890abcdef0-1234");
    assert_eq!(parsed.at, 1_796_119_202);
    assert_eq!(parsed.what.kind(), Some(FeedbackKind::HardBounced));
    assert_eq!(
        parsed.what.detail().as_deref(),
        Some("Permanent/General: smtp; 550 5.1.1 user unknown")
    );
}

#[test]
fn every_event_type_is_read() {
    let cases = [
        (
            "Email Sent",
            with("Send", "send", serde_json::json!({})),
            FeedbackKind::Sent,
        ),
        (
            "Email Delivered",
            with(
                "Delivery",
                "delivery",
                serde_json::json!({"timestamp": "2026-12-01T10:00:01Z", "recipients": ["a@x.example"], "smtpResponse": "250 ok"}),
            ),
            FeedbackKind::Delivered,
        ),
        (
            "Email Bounced",
            with(
                "Bounce",
                "bounce",
                serde_json::json!({"bounceType": "Transient", "bounceSubType": "MailboxFull", "bouncedRecipients": [{"emailAddress": "a@x.example"}]}),
            ),
            FeedbackKind::SoftBounced,
        ),
        (
            "Email Complaint Received",
            with(
                "Complaint",
                "complaint",
                serde_json::json!({"complainedRecipients": [{"emailAddress": "a@x.example"}], "complaintFeedbackType": "abuse", "timestamp": "2026-12-01T10:05:00Z"}),
            ),
            FeedbackKind::Complained,
        ),
        (
            "Email Rejected",
            with(
                "Reject",
                "reject",
                serde_json::json!({"reason": "Bad content"}),
            ),
            FeedbackKind::Rejected,
        ),
        (
            "Email Opened",
            with(
                "Open",
                "open",
                serde_json::json!({"timestamp": "2026-12-01T11:00:00Z", "ipAddress": "192.0.2.1", "userAgent": "Mozilla"}),
            ),
            FeedbackKind::Opened,
        ),
        (
            "Email Clicked",
            with(
                "Click",
                "click",
                serde_json::json!({"timestamp": "2026-12-01T11:01:00Z", "link": "https://shop.example/p/1", "linkTags": {}}),
            ),
            FeedbackKind::Clicked,
        ),
        (
            "Email Rendering Failed",
            with(
                "Rendering Failure",
                "failure",
                serde_json::json!({"errorMessage": "Attribute 'name' is not present", "templateName": "t"}),
            ),
            FeedbackKind::RenderingFailed,
        ),
        (
            "Email Delivery Delayed",
            with(
                "DeliveryDelay",
                "deliveryDelay",
                serde_json::json!({"delayType": "MailboxFull", "timestamp": "2026-12-01T10:30:00Z", "expirationTime": "2026-12-02T10:00:00Z", "delayedRecipients": []}),
            ),
            FeedbackKind::Delayed,
        ),
        (
            "Email Subscribed",
            with(
                "Subscription",
                "subscription",
                serde_json::json!({"contactList": "l", "timestamp": "2026-12-01T12:00:00Z", "source": "UnsubscribeHeader", "newTopicPreferences": {"unsubscribeAll": true}, "oldTopicPreferences": {"unsubscribeAll": false}}),
            ),
            FeedbackKind::Unsubscribed,
        ),
    ];
    assert_eq!(cases.len(), SES_DETAIL_TYPES.len());
    for (detail_type, detail, kind) in cases {
        assert!(SES_DETAIL_TYPES.contains(&detail_type), "{detail_type}");
        let parsed =
            parse(&event(detail_type, detail)).unwrap_or_else(|e| panic!("{detail_type}: {e}"));
        assert_eq!(parsed.what.kind(), Some(kind), "{detail_type}");
    }
}

#[test]
fn a_subscription_change_that_keeps_the_recipient_subscribed_counts_nothing() {
    let parsed = parse(&event(
        "Email Subscribed",
        with(
            "Subscription",
            "subscription",
            serde_json::json!({"newTopicPreferences": {"unsubscribeAll": false}}),
        ),
    ))
    .unwrap();
    assert_eq!(parsed.what.kind(), None);
}

#[test]
fn events_that_are_not_ours_or_not_readable_say_why() {
    let mut foreign = mail();
    foreign["tags"].as_object_mut().unwrap().remove("tenant");
    let detail = serde_json::json!({"eventType": "Send", "mail": foreign, "send": {}});
    assert_eq!(
        parse(&event("Email Sent", detail)),
        Err(EventError::MissingTag("tenant"))
    );

    let mut hostile = mail();
    hostile["tags"]["tenant"] = serde_json::json!(["../other tenant"]);
    let detail = serde_json::json!({"eventType": "Send", "mail": hostile});
    assert_eq!(
        parse(&event("Email Sent", detail)),
        Err(EventError::InvalidTag { tag: "tenant" })
    );

    let detail = serde_json::json!({"eventType": "Teleport", "mail": mail()});
    assert_eq!(
        parse(&event("Email Teleported", detail)),
        Err(EventError::UnknownType("Teleport".into()))
    );

    assert!(matches!(
        parse(&serde_json::json!({"hello": 1})),
        Err(EventError::Malformed(_))
    ));
    let mut other_source = event("Email Sent", with("Send", "send", serde_json::json!({})));
    other_source["source"] = serde_json::json!("custom.app");
    assert!(matches!(
        parse(&other_source),
        Err(EventError::Malformed(_))
    ));
    let detail = serde_json::json!({"eventType": "Bounce", "mail": mail()});
    assert!(matches!(
        parse(&event("Email Bounced", detail)),
        Err(EventError::Malformed(_))
    ));
}

#[test]
fn long_diagnostics_are_cut() {
    let long = "x".repeat(5000);
    let parsed = parse(&event(
        "Email Rejected",
        with("Reject", "reject", serde_json::json!({"reason": long})),
    ))
    .unwrap();
    assert_eq!(
        parsed.what.detail().unwrap().chars().count(),
        MAX_DETAIL_CHARS
    );
}
