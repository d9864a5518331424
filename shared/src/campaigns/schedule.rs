//! When a launch may start: a local send time in the retailer's time zone, pushed past the
//! retailer's quiet hours. Time zones and daylight saving come from jiff's bundled database, so
//! the answer does not depend on the host.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use time::OffsetDateTime;

use super::invalid::InvalidCampaign;
use crate::domain::QuietHours;

/// The format of a scheduled send time: local to the retailer, minutes precision.
pub const SCHEDULE_FORMAT: &str = "YYYY-MM-DDTHH:MM";

fn invalid(field: &str, reason: impl Into<String>) -> InvalidCampaign {
    InvalidCampaign {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// The retailer's time zone (an IANA name such as `Europe/Paris`).
pub fn time_zone(name: &str) -> Result<TimeZone, InvalidCampaign> {
    TimeZone::get(name).map_err(|e| {
        invalid(
            "settings.timezone",
            format!("unknown time zone {name:?}: {e}"),
        )
    })
}

/// Parses a local send time (`2026-12-01T09:30`) and checks its shape.
pub fn parse_local_time(text: &str) -> Result<DateTime, InvalidCampaign> {
    let shape_ok = text.len() == SCHEDULE_FORMAT.len()
        && text.as_bytes()[10] == b'T'
        && text.as_bytes()[13] == b':';
    let parsed = shape_ok.then(|| text.parse::<DateTime>().ok()).flatten();
    parsed.ok_or_else(|| {
        invalid(
            "schedule",
            format!("{text:?} is not a local time of the form {SCHEDULE_FORMAT}"),
        )
    })
}

/// The instant of a local send time in the zone. A time that does not exist (skipped by a
/// daylight-saving change) moves forward by the gap; an ambiguous one takes the earlier instant.
pub fn local_to_instant(
    local: DateTime,
    zone: &TimeZone,
) -> Result<OffsetDateTime, InvalidCampaign> {
    let zoned = local
        .to_zoned(zone.clone())
        .map_err(|e| invalid("schedule", e.to_string()))?;
    Ok(to_offset(zoned.timestamp()))
}

use crate::deliverability::quiet_hours::to_offset;

impl QuietHours {
    pub fn validate(&self) -> Result<(), InvalidCampaign> {
        if self.start_hour > 23 || self.end_hour > 23 {
            return Err(invalid(
                "settings.quiet_hours",
                "hours must be between 0 and 23",
            ));
        }
        Ok(())
    }
}

pub use crate::deliverability::quiet_hours::past_quiet_hours;

/// The quiet hours a launch's start is held to: the retailer's, unless the campaign keeps them in
/// each customer's time zone (delivery holds each recipient then, so a start held in the
/// retailer's would only delay the customers who are awake).
pub fn launch_quiet_hours(
    quiet: Option<QuietHours>,
    zone: crate::domain::QuietHoursZone,
) -> Option<QuietHours> {
    quiet.filter(|_| zone == crate::domain::QuietHoursZone::Retailer)
}

/// When a launch requested at `now` may start: the scheduled local time (or now), never in the
/// past, pushed past the quiet hours.
pub fn start_time(
    now: OffsetDateTime,
    schedule: Option<&str>,
    zone: &TimeZone,
    quiet: Option<QuietHours>,
) -> Result<OffsetDateTime, InvalidCampaign> {
    let requested = match schedule {
        Some(text) => local_to_instant(parse_local_time(text)?, zone)?.max(now),
        None => now,
    };
    Ok(past_quiet_hours(requested, zone, quiet))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn paris() -> TimeZone {
        time_zone("Europe/Paris").unwrap()
    }

    #[test]
    fn a_local_send_time_is_read_in_the_retailers_zone() {
        let at = local_to_instant(parse_local_time("2026-12-01T09:30").unwrap(), &paris()).unwrap();
        assert_eq!(
            at,
            datetime!(2026-12-01 08:30 UTC),
            "CET is UTC+1 in winter"
        );
        let summer =
            local_to_instant(parse_local_time("2026-07-01T09:30").unwrap(), &paris()).unwrap();
        assert_eq!(summer, datetime!(2026-07-01 07:30 UTC), "CEST is UTC+2");
    }

    #[test]
    fn malformed_schedules_and_zones_name_their_field() {
        for text in [
            "2026-12-01 09:30",
            "2026-12-01T09:30:00",
            "2026-13-01T09:30",
            "soon",
        ] {
            assert_eq!(
                parse_local_time(text).unwrap_err().field,
                "schedule",
                "{text}"
            );
        }
        assert_eq!(
            time_zone("Mars/Olympus").unwrap_err().field,
            "settings.timezone"
        );
    }

    #[test]
    fn quiet_hours_hold_a_send_until_the_window_opens() {
        let quiet = Some(QuietHours {
            start_hour: 21,
            end_hour: 8,
        });
        // 22:15 in Paris (21:15 UTC) is quiet: held until 08:00 the next morning.
        let held = past_quiet_hours(datetime!(2026-12-01 21:15 UTC), &paris(), quiet);
        assert_eq!(held, datetime!(2026-12-02 07:00 UTC));
        // 03:00 in Paris: held until 08:00 the same day.
        let early = past_quiet_hours(datetime!(2026-12-02 02:00 UTC), &paris(), quiet);
        assert_eq!(early, datetime!(2026-12-02 07:00 UTC));
        // 12:00 in Paris: not quiet.
        let noon = datetime!(2026-12-02 11:00 UTC);
        assert_eq!(past_quiet_hours(noon, &paris(), quiet), noon);
        // A window that does not wrap: 12 to 14.
        let lunch = Some(QuietHours {
            start_hour: 12,
            end_hour: 14,
        });
        assert_eq!(
            past_quiet_hours(datetime!(2026-12-02 11:30 UTC), &paris(), lunch),
            datetime!(2026-12-02 13:00 UTC)
        );
        assert_eq!(past_quiet_hours(noon, &paris(), None), noon);
    }

    #[test]
    fn a_schedule_in_the_past_starts_now_and_still_honours_quiet_hours() {
        let now = datetime!(2026-12-01 12:00 UTC);
        let zone = paris();
        assert_eq!(
            start_time(now, Some("2026-11-01T10:00"), &zone, None).unwrap(),
            now
        );
        let quiet = Some(QuietHours {
            start_hour: 21,
            end_hour: 8,
        });
        assert_eq!(
            start_time(now, Some("2026-12-01T23:00"), &zone, quiet).unwrap(),
            datetime!(2026-12-02 07:00 UTC)
        );
    }
}
