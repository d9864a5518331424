//! The raw MIME message of one email, as SES's raw-content send takes it.
//!
//! multipart/alternative (text, then HTML), a Message-ID under our sending domain so that bounces
//! and complaints can be traced back, and RFC 8058 one-click unsubscribe headers, which the large
//! mailbox providers require of bulk senders.

use std::borrow::Cow;

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::url::URL;

/// The parts of one email; everything is borrowed from the rendered message and the workspace.
#[derive(Debug, Clone, Copy)]
pub struct EmailParts<'a> {
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub to_address: &'a str,
    pub subject: &'a str,
    pub html: &'a str,
    pub text: &'a str,
    /// Our message id; the header becomes `<{message_id}@{sending_domain}>`.
    pub message_id: &'a str,
    pub sending_domain: &'a str,
    /// The one-click (RFC 8058) unsubscribe link; must be https.
    pub unsubscribe_url: &'a str,
    /// An optional `mailto:` unsubscribe address, listed after the link.
    pub unsubscribe_mailto: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    /// A value that would break out of its header (line break, angle bracket, ...).
    #[error("{field} is not valid in an email header")]
    InvalidHeaderValue { field: &'static str },
    #[error("{field} is not an email address")]
    InvalidAddress { field: &'static str },
    #[error("the one-click unsubscribe URL must use https")]
    UnsubscribeUrlNotHttps,
}

impl MimeError {
    /// Never: the same parts would fail the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Writes the email into `out`, replacing what it held (so one buffer serves a whole batch).
pub fn build_email(e: &EmailParts<'_>, out: &mut Vec<u8>) -> Result<(), MimeError> {
    check_address("from_address", e.from_address)?;
    check_address("to_address", e.to_address)?;
    check_token("message_id", e.message_id)?;
    check_token("sending_domain", e.sending_domain)?;
    check_token("unsubscribe_url", e.unsubscribe_url)?;
    if !e.unsubscribe_url.starts_with("https://") {
        return Err(MimeError::UnsubscribeUrlNotHttps);
    }
    let mailto = match e.unsubscribe_mailto {
        Some(mailto) => {
            check_token("unsubscribe_mailto", mailto)?;
            Some(if mailto.starts_with("mailto:") {
                Cow::Borrowed(mailto)
            } else {
                Cow::Owned(format!("mailto:{mailto}"))
            })
        }
        None => None,
    };
    // The display name is an RFC 2047 phrase that mail-builder encodes; line breaks in it are
    // still a sign of a broken workspace record rather than something to encode.
    if e.from_name.contains(['\r', '\n']) {
        return Err(MimeError::InvalidHeaderValue { field: "from_name" });
    }

    let from = if e.from_name.is_empty() {
        Address::new_address(None::<&str>, e.from_address)
    } else {
        Address::new_address(Some(e.from_name), e.from_address)
    };
    let mut unsubscribe = vec![Cow::Borrowed(e.unsubscribe_url)];
    unsubscribe.extend(mailto);

    out.clear();
    MessageBuilder::new()
        .from(from)
        .to(e.to_address)
        .subject(e.subject)
        .date(Date::now())
        .message_id(format!("{}@{}", e.message_id, e.sending_domain))
        .header("List-Unsubscribe", URL::from(unsubscribe))
        .header(
            "List-Unsubscribe-Post",
            Raw::new("List-Unsubscribe=One-Click"),
        )
        .text_body(e.text)
        .html_body(e.html)
        .serialize(out);
    Ok(())
}

/// A value written into a header as it is: no whitespace, no control characters, and none of
/// the brackets and commas that delimit it.
fn check_token(field: &'static str, value: &str) -> Result<(), MimeError> {
    let valid = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | '"'));
    if valid {
        Ok(())
    } else {
        Err(MimeError::InvalidHeaderValue { field })
    }
}

fn check_address(field: &'static str, value: &str) -> Result<(), MimeError> {
    check_token(field, value).map_err(|_| MimeError::InvalidAddress { field })?;
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err(MimeError::InvalidAddress { field }),
    }
}

#[cfg(test)]
mod tests {
    use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

    use super::*;

    fn parts() -> EmailParts<'static> {
        EmailParts {
            from_name: "ACME Outdoor",
            from_address: "acme-outdoor@mail.storecast.example",
            to_address: "anna@example.com",
            subject: "Grüße 🎉 from ACME",
            html: "<p>Hallo Anna, schöne Grüße</p>",
            text: "Hallo Anna, schöne Grüße",
            message_id: "4f0c2a9e1b7d",
            sending_domain: "mail.storecast.example",
            unsubscribe_url: "https://u.storecast.example/u?t=acme&m=4f0c2a9e1b7d",
            unsubscribe_mailto: Some("unsubscribe@mail.storecast.example"),
        }
    }

    /// A header's value with folding undone.
    fn unfolded(value: Option<&str>) -> Option<String> {
        value.map(|v| v.replace("\r\n ", " ").trim().to_owned())
    }

    fn build(parts: &EmailParts<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        build_email(parts, &mut out).unwrap();
        out
    }

    #[test]
    fn given_email_parts_when_built_then_headers_parse_back() {
        let raw = build(&parts());

        let message = MessageParser::default().parse(&raw).unwrap();

        let from = message.from().unwrap().first().unwrap();
        assert_eq!(from.name(), Some("ACME Outdoor"));
        assert_eq!(from.address(), Some("acme-outdoor@mail.storecast.example"));
        assert_eq!(
            message.to().unwrap().first().unwrap().address(),
            Some("anna@example.com")
        );
        assert_eq!(message.subject(), Some("Grüße 🎉 from ACME"));
        assert_eq!(
            message.message_id(),
            Some("4f0c2a9e1b7d@mail.storecast.example")
        );
        assert!(message.date().is_some());
        assert_eq!(
            unfolded(message.header_raw("List-Unsubscribe")).as_deref(),
            Some(
                "<https://u.storecast.example/u?t=acme&m=4f0c2a9e1b7d>, \
                 <mailto:unsubscribe@mail.storecast.example>"
            )
        );
        assert_eq!(
            message.header_raw("List-Unsubscribe-Post").map(str::trim),
            Some("List-Unsubscribe=One-Click")
        );
    }

    #[test]
    fn given_email_parts_when_built_then_alternative_text_and_html_bodies() {
        let raw = build(&parts());

        let message = MessageParser::default().parse(&raw).unwrap();

        let content_type = message.content_type().unwrap();
        assert_eq!(content_type.ctype(), "multipart");
        assert_eq!(content_type.subtype(), Some("alternative"));
        assert_eq!(
            message.body_text(0).as_deref(),
            Some("Hallo Anna, schöne Grüße")
        );
        assert_eq!(
            message.body_html(0).as_deref(),
            Some("<p>Hallo Anna, schöne Grüße</p>")
        );
        let raw = String::from_utf8(raw).unwrap();
        assert!(raw.is_ascii(), "non-ASCII travels encoded");
        assert!(!raw.contains("Grüße"));
    }

    #[test]
    fn given_no_mailto_when_built_then_only_the_https_link_is_listed() {
        let raw = build(&EmailParts {
            unsubscribe_mailto: None,
            from_name: "",
            ..parts()
        });

        let message = MessageParser::default().parse(&raw).unwrap();

        assert_eq!(
            message.header_raw("List-Unsubscribe").map(str::trim),
            Some("<https://u.storecast.example/u?t=acme&m=4f0c2a9e1b7d>")
        );
        assert_eq!(message.from().unwrap().first().unwrap().name(), None);
        assert!(matches!(
            message.header("List-Unsubscribe-Post"),
            Some(HeaderValue::Text(_))
        ));
    }

    #[test]
    fn given_reused_buffer_when_built_then_previous_message_is_replaced() {
        let mut out = b"previous message".to_vec();

        build_email(&parts(), &mut out).unwrap();

        assert!(!out.starts_with(b"previous"));
        assert!(MessageParser::default().parse(&out).is_some());
    }

    #[test]
    fn given_values_that_would_inject_headers_when_built_then_rejected() {
        let cases = [
            (
                EmailParts {
                    to_address: "anna@example.com\r\nBcc: all@example.com",
                    ..parts()
                },
                MimeError::InvalidAddress {
                    field: "to_address",
                },
            ),
            (
                EmailParts {
                    to_address: "not-an-address",
                    ..parts()
                },
                MimeError::InvalidAddress {
                    field: "to_address",
                },
            ),
            (
                EmailParts {
                    message_id: "a>b",
                    ..parts()
                },
                MimeError::InvalidHeaderValue {
                    field: "message_id",
                },
            ),
            (
                EmailParts {
                    from_name: "ACME\nBcc: x@example.com",
                    ..parts()
                },
                MimeError::InvalidHeaderValue { field: "from_name" },
            ),
            (
                EmailParts {
                    unsubscribe_url: "http://u.storecast.example/u",
                    ..parts()
                },
                MimeError::UnsubscribeUrlNotHttps,
            ),
        ];
        for (parts, expected) in cases {
            let mut out = Vec::new();
            assert_eq!(
                build_email(&parts, &mut out),
                Err(expected.clone()),
                "{expected}"
            );
            assert!(!expected.is_retryable());
        }
    }

    #[test]
    fn given_subject_with_control_characters_when_built_then_it_cannot_break_the_header() {
        let raw = build(&EmailParts {
            subject: "Sale\r\nBcc: everyone@example.com",
            ..parts()
        });

        let message = MessageParser::default().parse(&raw).unwrap();

        assert!(message.header("Bcc").is_none());
        assert_eq!(message.subject(), Some("Sale Bcc: everyone@example.com"));
    }
}
