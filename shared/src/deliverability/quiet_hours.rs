//! The retailer's quiet hours: a local window in which nothing is sent. A launch does not start
//! inside it (`campaigns::schedule`), and delivery holds a batch that reaches it while a launch
//! runs into the window, until it ends (`pipeline::deliver`). Time zones and daylight saving come
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
}
