//! Text filters Shopify has and the `liquid` crate lacks: `base64_*`, `remove_last`,
//! `replace_last`, as `lib/liquid/standardfilters.rb` computes them (nil is "").

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

use super::*;

fn base64_decoded(input: &dyn ValueView, engine: &impl Engine) -> Result<Value> {
    let text = input.to_kstr();
    // Ruby's url-safe decoding accepts text without its `=` padding.
    let bytes = engine
        .decode(text.as_bytes())
        .or_else(|_| engine.decode(format!("{text}{}", "=".repeat((4 - text.len() % 4) % 4))))
        .map_err(|_| Error::with_msg("invalid base64 provided to base64_decode"))?;
    Ok(Value::scalar(String::from_utf8_lossy(&bytes).into_owned()))
}

pub(super) const BASE64_ENCODE: ShopifyFilter = ShopifyFilter {
    name: "base64_encode",
    description: "The text in Base64.",
    positional: &[],
    keyword: &[],
    required: 0,
    apply: |input, _| Ok(Value::scalar(STANDARD.encode(input.to_kstr().as_bytes()))),
};

pub(super) const BASE64_DECODE: ShopifyFilter = ShopifyFilter {
    name: "base64_decode",
    description: "Decodes Base64 text; invalid Base64 fails the render.",
    positional: &[],
    keyword: &[],
    required: 0,
    apply: |input, _| base64_decoded(input, &STANDARD),
};

pub(super) const BASE64_URL_SAFE_ENCODE: ShopifyFilter = ShopifyFilter {
    name: "base64_url_safe_encode",
    description: "The text in URL-safe Base64.",
    positional: &[],
    keyword: &[],
    required: 0,
    apply: |input, _| Ok(Value::scalar(URL_SAFE.encode(input.to_kstr().as_bytes()))),
};

pub(super) const BASE64_URL_SAFE_DECODE: ShopifyFilter = ShopifyFilter {
    name: "base64_url_safe_decode",
    description: "Decodes URL-safe Base64 text; invalid Base64 fails the render.",
    positional: &[],
    keyword: &[],
    required: 0,
    apply: |input, _| base64_decoded(input, &URL_SAFE),
};

/// `text` with its last occurrence of `pattern` replaced (Ruby's `rindex`: an empty pattern is
/// found at the end).
fn replace_last(text: &str, pattern: &str, replacement: &str) -> String {
    match text.rfind(pattern) {
        Some(at) => format!(
            "{}{replacement}{}",
            &text[..at],
            &text[at + pattern.len()..]
        ),
        None => text.to_owned(),
    }
}

pub(super) const REMOVE_LAST: ShopifyFilter = ShopifyFilter {
    name: "remove_last",
    description: "Removes the last occurrence of the text.",
    positional: &[required("text", "What to remove.")],
    keyword: &[],
    required: 1,
    apply: |input, arguments| {
        let pattern = string_argument(arguments.get(0), "");
        Ok(Value::scalar(replace_last(&input.to_kstr(), &pattern, "")))
    },
};

pub(super) const REPLACE_LAST: ShopifyFilter = ShopifyFilter {
    name: "replace_last",
    description: "Replaces the last occurrence of the text.",
    positional: &[
        required("text", "What to replace."),
        parameter("replacement", "What to put instead; nothing if absent."),
    ],
    keyword: &[],
    required: 1,
    apply: |input, arguments| {
        let pattern = string_argument(arguments.get(0), "");
        let replacement = string_argument(arguments.get(1), "");
        Ok(Value::scalar(replace_last(
            &input.to_kstr(),
            &pattern,
            &replacement,
        )))
    },
};
