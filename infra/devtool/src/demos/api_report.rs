//! The API demo's report: each retailer's campaign stats as the API answered them, SES's
//! feedback, the retailers' statuses, and the reconciliation that every audience row and every
//! emitted event is accounted for once: final, parked, or on its way in a deferred batch of the
//! archive (neither lost nor counted twice).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::Value;

/// The retailer careless with its list: a fifth of its addresses bounce, so it is auto-paused.
pub const CARELESS_RETAILER: &str = "harbor-books";

/// The retailer in warm-up: its day cap is below its audience.
pub const WARMUP_RETAILER: &str = "citrus-kitchen";

pub use crate::demos::api_warmup::WarmupLine;

/// One retailer's line of the report, as its campaign's stats answered it.
#[derive(Debug, Clone, Default)]
pub struct RetailerLine {
    pub stats: Value,
    pub preview_subject: String,
    pub rows_written: u64,
    pub malformed_written: u64,
    /// The channels the campaign sends on (every row is evaluated once per channel); 0 is 1.
    pub channels: u64,
}

impl RetailerLine {
    fn n(&self, path: &[&str]) -> u64 {
        let mut value = &self.stats;
        for key in path {
            value = &value[*key];
        }
        value.as_u64().unwrap_or(0)
    }

    pub fn matched(&self) -> u64 {
        self.stats["matched"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub struct ApiDemoReport {
    pub base_url: String,
    pub lines: BTreeMap<String, RetailerLine>,
    pub emails_at_endpoint: usize,
    /// Pushes the endpoint took through this run's push applications, per platform.
    pub pushes_by_platform: BTreeMap<String, u64>,
    pub cross_tenant_status: u16,
    /// A delivered email's one-click link, followed on the local API: what it did.
    pub one_click: crate::demos::one_click::OneClick,
    /// Each retailer's status at the end (the careless one auto-paused).
    pub statuses: BTreeMap<String, String>,
    /// What the ses-events function made of the emulated SES events.
    pub feedback: storecast::deliverability::feedback::FeedbackSummary,
    /// Events the ses-events handler failed on after Lambda's retries.
    pub feedback_failures: u64,
    pub seconds: f64,
    pub previews: Vec<PathBuf>,
    /// The first retailer's item availability (docs/availability.md).
    pub availability: crate::demos::availability::AvailabilityDemo,
    /// The warm-up retailer's cap and deferred messages.
    pub warmup: WarmupLine,
    /// Recipients of each retailer's deferred batches in the archive when the stats were read.
    pub deferred: BTreeMap<String, u64>,
    /// Rounds of waiting for due deferrals and redriving them before the stats were read.
    pub settle_rounds: usize,
}

impl ApiDemoReport {
    /// Every audience row is accounted for once, and every emitted event reached an end state.
    pub fn reconciliation_errors(&self) -> Vec<String> {
        let mut errors = self.availability.problems();
        let (mut sent_total, mut unconfirmed, mut pushed) = (0, 0, 0);
        for (tenant, line) in &self.lines {
            let rows = line.n(&["rows"]);
            let accounted = line.matched()
                + line.n(&["held_out"])
                + line.n(&["skipped", "not_consented"])
                + line.n(&["skipped", "no_address"])
                + line.n(&["skipped", "suppressed"])
                + line.n(&["skipped", "not_in_segment"])
                + line.n(&["skipped", "frequency_capped"])
                + line.n(&["skipped", "malformed"]);
            if rows != line.rows_written || accounted != rows * line.channels.max(1) {
                errors.push(format!(
                    "{tenant}: {} rows written, {rows} read, {accounted} accounted for",
                    line.rows_written
                ));
            }
            let emitted = line.n(&["events_emitted"]);
            let settled = final_or_parked(line);
            if emitted != line.matched() || settled > emitted {
                errors.push(format!(
                    "{tenant}: {} matched, {emitted} emitted, {settled} final or parked",
                    line.matched()
                ));
            }
            sent_total += line.n(&["delivery_by_channel", "email", "sent"]);
            unconfirmed += line.n(&["delivery_by_channel", "email", "unconfirmed"]);
            pushed += line.n(&["delivery_by_channel", "push", "sent"]);
        }
        errors.extend(self.on_their_way_errors());
        errors.extend(self.warmup_errors());
        // A send without a confirmed answer (never resent) may or may not have reached SES.
        let endpoint = self.emails_at_endpoint as u64;
        if endpoint < sent_total || endpoint > sent_total + unconfirmed {
            errors.push(format!(
                "{sent_total} counted as sent ({unconfirmed} unconfirmed), {endpoint} accepted by the endpoint"
            ));
        }
        // A push goes to each of the customer's devices: at least one publish per push sent.
        let published: u64 = self.pushes_by_platform.values().sum();
        if pushed == 0 || published < pushed {
            errors.push(format!(
                "{pushed} pushes counted as sent, {published} taken by the endpoint"
            ));
        }
        for (tenant, status) in &self.statuses {
            let expected = if tenant == CARELESS_RETAILER {
                "SUSPENDED"
            } else {
                "ACTIVE"
            };
            if status != expected {
                errors.push(format!("{tenant} is {status}, not {expected}"));
            }
        }
        if self.feedback_failures > 0 {
            errors.push(format!(
                "{} SES events failed in the handler",
                self.feedback_failures
            ));
        }
        if self.feedback.recorded == 0 || self.feedback.suppressed == 0 {
            errors.push(format!(
                "SES feedback did not close the loop: {:?}",
                self.feedback
            ));
        }
        if !self.one_click.worked() {
            errors.push(format!("one-click unsubscribe: {:?}", self.one_click));
        }
        if self.cross_tenant_status != 403 {
            errors.push(format!(
                "a marketer reading another retailer got {}, not 403",
                self.cross_tenant_status
            ));
        }
        errors
    }

    /// Each campaign's pushes (sent, failed by reason) and what the endpoint took per platform.
    fn render_push(&self, out: &mut String) {
        for (tenant, line) in &self.lines {
            let push = &line.stats["delivery_by_channel"]["push"];
            if push.is_object() {
                let _ = writeln!(
                    out,
                    "push, {tenant}: sent {}, failed {} (by reason: {})",
                    push["sent"], push["failed"], push["failed_by_reason"]
                );
            }
        }
        let _ = writeln!(
            out,
            "pushes accepted by the endpoint, per platform: {:?}",
            self.pushes_by_platform
        );
    }

    fn render_availability(&self, out: &mut String) {
        self.availability.render(out);
        for (tenant, line) in &self.lines {
            let _ = writeln!(
                out,
                "offers passed over as unlikely in stock, {tenant}: {}",
                line.n(&["offers_unavailable"])
            );
        }
    }

    /// One line per retailer (and campaign): its rows by where they went.
    fn render_lines(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "{:<32} {:>6} {:>7} {:>5} {:>8} {:>9} {:>7} {:>6} {:>4} {:>5} {:>5} {:>7} {:>7} {:>5} {:>5}",
            "retailer / campaign",
            "rows",
            "matched",
            "held",
            "consent",
            "suppress",
            "segment",
            "capped",
            "bad",
            "sent",
            "fail",
            "sup@snd",
            "cap@snd",
            "park",
            "defer"
        );
        for (tenant, line) in &self.lines {
            let _ = writeln!(
                out,
                "{:<32} {:>6} {:>7} {:>5} {:>8} {:>9} {:>7} {:>6} {:>4} {:>5} {:>5} {:>7} {:>7} {:>5} {:>5}",
                tenant,
                line.n(&["rows"]),
                line.matched(),
                line.n(&["held_out"]),
                line.n(&["skipped", "not_consented"]) + line.n(&["skipped", "no_address"]),
                line.n(&["skipped", "suppressed"]),
                line.n(&["skipped", "not_in_segment"]),
                line.n(&["skipped", "frequency_capped"]),
                line.n(&["skipped", "malformed"]),
                line.n(&["delivery", "sent"]),
                line.n(&["delivery", "failed"]),
                line.n(&["delivery", "suppressed"]),
                line.n(&["delivery", "frequency_capped"]),
                line.n(&["delivery", "parked"]),
                line.n(&["delivery", "in_flight"]),
            );
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "API at {}", self.base_url);
        self.render_lines(&mut out);
        self.render_feedback(&mut out);
        self.render_warmup(&mut out);
        self.render_availability(&mut out);
        for (tenant, line) in self.lines.iter().filter(|(key, _)| !key.contains('/')) {
            let _ = writeln!(out, "preview subject, {tenant}: {}", line.preview_subject);
        }
        let _ = writeln!(
            out,
            "a marketer of one retailer reading another: HTTP {}",
            self.cross_tenant_status
        );
        let _ = writeln!(
            out,
            "one-click unsubscribe from a delivered email: page HTTP {}, POST HTTP {}, suppressed: {}",
            self.one_click.page_status, self.one_click.post_status, self.one_click.suppressed_as
        );
        self.render_push(&mut out);
        let _ = writeln!(
            out,
            "on their way in deferred batches, per retailer: {:?} (after {} redrive round(s) of what was due before tomorrow)",
            self.deferred, self.settle_rounds
        );
        let _ = writeln!(
            out,
            "emails accepted by the endpoint: {}; took {:.1}s",
            self.emails_at_endpoint, self.seconds
        );
        for path in &self.previews {
            let _ = writeln!(out, "preview saved: {}", path.display());
        }
        let errors = self.reconciliation_errors();
        if errors.is_empty() {
            let _ = writeln!(
                out,
                "reconciled: every audience row and every emitted event is accounted for once"
            );
        } else {
            for error in errors {
                let _ = writeln!(out, "NOT RECONCILED: {error}");
            }
        }
        out
    }
}

/// The campaign's messages in a final state (an unconfirmed send is final: never resent) or
/// parked.
fn final_or_parked(line: &RetailerLine) -> u64 {
    line.n(&["delivery", "sent"])
        + line.n(&["delivery", "failed"])
        + line.n(&["delivery", "suppressed"])
        + line.n(&["delivery", "unconfirmed"])
        + line.n(&["delivery", "frequency_capped"])
        + line.n(&["delivery", "parked"])
}

/// The retailer of a report line (`<retailer>` or `<retailer>/<campaign>`).
fn retailer_of(line_key: &str) -> &str {
    line_key.split('/').next().unwrap_or(line_key)
}

impl ApiDemoReport {
    /// Each retailer's messages neither final nor parked are all in its deferred batches in the
    /// archive, waiting for their redrive: none is lost, none counted twice.
    fn on_their_way_errors(&self) -> Vec<String> {
        let mut on_their_way = BTreeMap::<&str, u64>::new();
        for (key, line) in &self.lines {
            *on_their_way.entry(retailer_of(key)).or_default() +=
                line.n(&["delivery", "in_flight"]);
        }
        let mut errors = Vec::new();
        for (tenant, in_flight) in on_their_way {
            let deferred = self.deferred.get(tenant).copied().unwrap_or(0);
            if in_flight != deferred {
                errors.push(format!(
                    "{tenant}: {in_flight} on their way, {deferred} in deferred batches"
                ));
            }
        }
        // A deferred batch of a retailer without a line: its messages are counted nowhere.
        for (tenant, deferred) in &self.deferred {
            if !self.lines.keys().any(|key| retailer_of(key) == tenant) {
                errors.push(format!("{tenant}: {deferred} deferred, no campaign line"));
            }
        }
        errors
    }

    /// The warm-up retailer's messages on their way are all in its deferred batches, and its
    /// sends today are what the cap granted.
    fn warmup_errors(&self) -> Vec<String> {
        let w = &self.warmup;
        let (mut in_flight, mut sent) = (0, 0);
        for (key, line) in &self.lines {
            if retailer_of(key) == WARMUP_RETAILER {
                in_flight += line.n(&["delivery", "in_flight"]);
                // An unconfirmed send keeps its grant: it may have gone out.
                sent += line.n(&["delivery_by_channel", "email", "sent"])
                    + line.n(&["delivery_by_channel", "email", "unconfirmed"]);
            }
        }
        let mut errors = Vec::new();
        if w.deferred == 0 || w.deferred != in_flight {
            errors.push(format!(
                "warm-up: {} deferred in the archive, {in_flight} on their way",
                w.deferred
            ));
        }
        if w.cap.is_none_or(|cap| w.used > cap) || w.used != sent {
            errors.push(format!(
                "warm-up: cap {:?}, {} used, {sent} sent",
                w.cap, w.used
            ));
        }
        errors
    }

    fn render_warmup(&self, out: &mut String) {
        let w = &self.warmup;
        let cap = w.cap.map_or("unset".to_string(), |c| c.to_string());
        let _ = writeln!(
            out,
            "warm-up, {WARMUP_RETAILER}: cap {cap} today ({}), {} sent, {}",
            w.day,
            w.used,
            w.deferred_text()
        );
    }

    /// SES's feedback per campaign, and what it did: suppressions, auto-pauses.
    fn render_feedback(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "{:<32} {:>6} {:>9} {:>6} {:>6} {:>7} {:>6} {:>6}",
            "SES feedback", "sent", "delivered", "hard", "soft", "complnt", "opened", "click"
        );
        for (tenant, line) in &self.lines {
            let f = |kind: &str| line.n(&["feedback", kind]);
            let _ = writeln!(
                out,
                "{:<32} {:>6} {:>9} {:>6} {:>6} {:>7} {:>6} {:>6}",
                tenant,
                f("sent"),
                f("delivered"),
                f("hard_bounced"),
                f("soft_bounced"),
                f("complained"),
                f("opened"),
                f("clicked"),
            );
        }
        let s = &self.feedback;
        let _ = writeln!(
            out,
            "ses-events: {} recorded, {} duplicates, {} unmatched; {} addresses suppressed; {} retailer(s) auto-paused",
            s.recorded, s.duplicates, s.unmatched, s.suppressed, s.paused
        );
        for (tenant, status) in &self.statuses {
            let _ = writeln!(out, "status, {tenant}: {status}");
        }
    }
}

#[cfg(test)]
mod tests;
