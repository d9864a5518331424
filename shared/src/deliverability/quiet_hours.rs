//! The retailer's quiet hours: a local window in which nothing is sent. A launch does not start
//! inside it (`campaigns::schedule`), and delivery holds a batch that reaches it while a launch
//! runs into the window, until it ends (`pipeline::deliver`). A campaign that keeps them in the
//! customer's time zone holds each recipient in their own zone instead
//! (`pipeline::deliver::quiet`). Time zones and daylight saving come
//! from jiff's bundled database, so the answer does not depend on the host.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use time::OffsetDateTime;

use crate::domain::QuietHours;

impl QuietHours {
    /// Whether sends are held at this local hour. `start == end` means no quiet hours.
    pub fn contains(&self, hour: u8) -> bool {
        let (start, end) = (self.start_hour, self.end_hour);
        if start == end {
            false
        } else if start < end {
            (start..end).contains(&hour)
        } else {
            hour >= start || hour < end
        }
    }
}

pub(crate) fn to_offset(timestamp: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(timestamp.as_second()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn to_timestamp(at: OffsetDateTime) -> Timestamp {
    Timestamp::from_second(at.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The first instant at or after `at` outside the quiet hours, in the zone: `at` itself when it
/// is outside them, otherwise the local hour the window ends.
pub fn past_quiet_hours(
    at: OffsetDateTime,
    zone: &TimeZone,
    quiet: Option<QuietHours>,
) -> OffsetDateTime {
    let Some(quiet) = quiet else {
        return at;
    };
    let local: Zoned = to_timestamp(at).to_zoned(zone.clone());
    let hour = local.hour() as u8;
    if !quiet.contains(hour) {
        return at;
    }
    let today = local.date();
    // In a window that wraps past midnight, the evening part opens tomorrow morning.
    let opening_day = if quiet.start_hour > quiet.end_hour && hour >= quiet.start_hour {
        today.tomorrow().unwrap_or(today)
    } else {
        today
    };
    let Ok(end) = Time::new(quiet.end_hour as i8, 0, 0, 0) else {
        return at;
    };
    match opening_day.to_datetime(end).to_zoned(zone.clone()) {
        Ok(zoned) => to_offset(zoned.timestamp()).max(at),
        Err(_) => at,
    }
}

/// When a retailer in `zone_name` may send at `at`: `None` when it may now, else the end of the
/// quiet window. An unknown zone (refused at onboarding, so only a corrupt item) holds nothing:
/// it must not stop a retailer's sending.
pub fn held_until(
    at: OffsetDateTime,
    zone_name: &str,
    quiet: Option<QuietHours>,
) -> Option<OffsetDateTime> {
    let zone = TimeZone::get(zone_name).ok()?;
    let open = past_quiet_hours(at, &zone, quiet);
    (open > at).then_some(open)
}

/// When a send at `at` may go in `zone` (a customer's, or the retailer's): `None` when it may
/// now, else the local hour the window ends there (daylight saving applied).
pub fn held_in(at: OffsetDateTime, zone: &TimeZone, quiet: QuietHours) -> Option<OffsetDateTime> {
    let open = past_quiet_hours(at, zone, Some(quiet));
    (open > at).then_some(open)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NIGHT: QuietHours = QuietHours {
        start_hour: 21,
        end_hour: 8,
    };

    #[test]
    fn a_send_inside_the_window_is_held_until_it_ends_in_the_retailers_zone() {
        // 22:15 in Zurich (21:15 UTC): held until 08:00 Zurich (07:00 UTC) the next morning.
        assert_eq!(
            held_until(
                datetime!(2026-12-01 21:15 UTC),
                "Europe/Zurich",
                Some(NIGHT)
            ),
            Some(datetime!(2026-12-02 07:00 UTC))
        );
        // 02:00 in New York (07:00 UTC): held until 08:00 there (13:00 UTC).
        assert_eq!(
            held_until(
                datetime!(2026-12-02 07:00 UTC),
                "America/New_York",
                Some(NIGHT)
            ),
            Some(datetime!(2026-12-02 13:00 UTC))
        );
        assert_eq!(
            held_until(
                datetime!(2026-12-02 12:00 UTC),
                "Europe/Zurich",
                Some(NIGHT)
            ),
            None
        );
        assert_eq!(
            held_until(datetime!(2026-12-02 23:00 UTC), "Europe/Zurich", None),
            None
        );
        assert_eq!(
            held_until(datetime!(2026-12-02 23:00 UTC), "Not/AZone", Some(NIGHT)),
            None
        );
    }

    #[test]
    fn a_customers_window_ends_at_their_own_local_hour_across_daylight_saving() {
        let new_york = TimeZone::get("America/New_York").unwrap();
        // 2027-03-14 is the spring-forward day in New York: 02:00 EST is 03:00 EDT. At 01:30 EST
        // (06:30 UTC) the window ends at 08:00 EDT, 12:00 UTC (not 13:00 as in winter).
        assert_eq!(
            held_in(datetime!(2027-03-14 06:30 UTC), &new_york, NIGHT),
            Some(datetime!(2027-03-14 12:00 UTC))
        );
        // 2026-11-01 falls back: at 23:00 EDT on Oct 31 (03:00 UTC), 08:00 EST is 13:00 UTC.
        assert_eq!(
            held_in(datetime!(2026-11-01 03:00 UTC), &new_york, NIGHT),
            Some(datetime!(2026-11-01 13:00 UTC))
        );
        assert_eq!(
            held_in(datetime!(2026-11-01 15:00 UTC), &new_york, NIGHT),
            None
        );
    }
}
