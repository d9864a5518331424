use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::datetime;

use super::gcra::{self, BURST, MICROS_PER_SECOND, Micros};
use super::plan::{self, Plan, TakeRequest};
use super::*;
use crate::clock::Clock;
use crate::domain::{SendShare, TenantId};
use crate::testing::{FixedQuota, ManualClock, MemoryBudgetStore};

const START: OffsetDateTime = datetime!(2026-12-01 09:00 UTC);

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn micros(at: OffsetDateTime) -> Micros {
    (at.unix_timestamp_nanos() / 1_000) as Micros
}

struct Budgets {
    clock: Arc<ManualClock>,
    store: Arc<MemoryBudgetStore>,
    quota: Arc<FixedQuota>,
}

impl Budgets {
    fn new(max_send_rate: f64) -> Self {
        Self {
            clock: Arc::new(ManualClock::new(START)),
            store: Arc::new(MemoryBudgetStore::default()),
            quota: Arc::new(FixedQuota::rate(max_send_rate)),
        }
    }

    /// One container's service (its own view of the shared state).
    fn container(&self) -> SendBudgets {
        self.container_with(BudgetSettings {
            account_share: 1.0,
            ..BudgetSettings::default()
        })
    }

    fn container_with(&self, settings: BudgetSettings) -> SendBudgets {
        SendBudgets::new(
            self.store.clone(),
            AccountRate::new(self.quota.clone(), settings, self.clock.clone()),
            self.clock.clone(),
        )
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(time::Duration::try_from(by).unwrap());
    }
}

fn start_of(reservation: &crate::domain::ShareReservation) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(reservation.starts) * 1_000_000).unwrap()
}

fn granted(answer: BudgetAnswer) -> (u32, bool, OffsetDateTime, Duration) {
    match answer {
        BudgetAnswer::Granted {
            granted,
            borrowed,
            start,
            interval,
        } => (granted, borrowed, start, interval),
        other => panic!("expected a grant, got {other:?}"),
    }
}

const WAIT: Waits = Waits {
    slots: MAX_BUDGET_WAIT,
    share: MAX_BUDGET_WAIT,
};

#[tokio::test]
async fn a_tenant_alone_is_granted_its_batch_at_once_paced_at_the_account_rate() {
    // GIVEN an account of 200 sends a second and no other tenant sending
    let b = Budgets::new(200.0);
    let budgets = b.container();
    // WHEN a delivery asks for 50
    let answer = budgets
        .take(&tenant("alpine"), SendShare::default(), 50, WAIT)
        .await
        .unwrap();
    // THEN all 50 go from now, one every 5 ms, in one write
    let (count, borrowed, start, interval) = granted(answer);
    assert_eq!((count, borrowed), (50, false));
    assert_eq!(start, START);
    assert_eq!(interval, Duration::from_millis(5));
    assert_eq!(b.store.writes(), (1, 0));
}

#[tokio::test]
async fn the_account_rate_is_never_exceeded_whoever_asks() {
    // GIVEN an account of 100 sends a second and three containers asking for three tenants
    let b = Budgets::new(100.0);
    let containers: Vec<SendBudgets> = (0..3).map(|_| b.container()).collect();
    let tenants = [tenant("alpine"), tenant("boreal"), tenant("cobalt")];
    // WHEN they ask again and again for 20 seconds, 50 at a time
    let mut sends: Vec<OffsetDateTime> = Vec::new();
    for step in 0..400u32 {
        let container = &containers[step as usize % 3];
        let who = &tenants[(step as usize * 7) % 3];
        if let BudgetAnswer::Granted {
            granted,
            start,
            interval,
            ..
        } = container
            .take(who, SendShare::default(), 50, WAIT)
            .await
            .unwrap()
        {
            sends.extend((0..granted).map(|k| start + interval * k));
        }
        b.advance(Duration::from_millis(50));
    }
    // THEN no second holds more than the rate plus the burst
    sends.sort();
    let burst = (100.0 * BURST as f64 / MICROS_PER_SECOND as f64) as usize;
    for (i, first) in sends.iter().enumerate() {
        let within = sends[i..]
            .iter()
            .take_while(|at| **at < *first + time::Duration::SECOND)
            .count();
        assert!(
            within <= 100 + burst + 1,
            "{within} sends in the second from {first}"
        );
    }
    // and the account was kept busy: about 100 a second for the 20 s asked
    let span = (*sends.last().unwrap() - sends[0]).as_seconds_f64();
    assert!(
        sends.len() as f64 >= 100.0 * span * 0.95,
        "{} in {span} s",
        sends.len()
    );
}

#[tokio::test]
async fn a_busy_tenant_beside_a_quiet_one_keeps_only_its_share_and_what_is_left() {
    // GIVEN an account of 100 a second; a big tenant that asks for far more, a small one
    let b = Budgets::new(100.0);
    let big_side = b.container();
    let small_side = b.container();
    let (big, small) = (tenant("big"), tenant("small"));
    let mut small_waits = Vec::new();
    let (mut big_sent, mut small_sent) = (0u32, 0u32);
    for step in 0..200u32 {
        // the big one asks four times every 100 ms
        for _ in 0..4 {
            if let BudgetAnswer::Granted { granted, .. } = big_side
                .take(&big, SendShare::default(), 50, WAIT)
                .await
                .unwrap()
            {
                big_sent += granted;
            }
        }
        // the small one asks for 10 every half second
        if step % 5 == 0 {
            let (count, _, start, interval) = granted(
                small_side
                    .take(&small, SendShare::default(), 10, WAIT)
                    .await
                    .unwrap(),
            );
            small_sent += count;
            let last = start + interval * count.saturating_sub(1);
            small_waits.push((last - b.clock.now()).as_seconds_f64());
        }
        b.advance(Duration::from_millis(100));
    }
    // THEN the small one got all it asked for (20 a second is under its half): at first behind
    // what the big one, alone until then, had planned on its whole-account share; then each
    // batch done within the borrowers' horizon and its own sends
    assert_eq!(small_sent, 40 * 10);
    let horizon = plan::SHARE_HORIZON as f64 / MICROS_PER_SECOND as f64;
    let borrowers = plan::BORROW_HORIZON as f64 / MICROS_PER_SECOND as f64;
    let (first, then) = small_waits.split_at(10);
    let worst = |waits: &[f64]| waits.iter().cloned().fold(0.0, f64::max);
    assert!(worst(first) <= horizon + 0.1, "at first {first:?}");
    assert!(worst(then) <= borrowers + 0.1 + 0.01, "then {then:?}");
    // and the big one had the rest: the account stayed busy
    let total = f64::from(big_sent + small_sent);
    assert!(total >= 100.0 * 20.0 * 0.95, "{total} sends in 20 s");
    assert!(
        total <= 100.0 * 20.0 + 100.0 * 10.0 + 50.0,
        "{total} sends in 20 s"
    );
}

#[tokio::test]
async fn weights_divide_the_assured_rate() {
    // GIVEN tenants of weight 3 and 1, both active
    let state = {
        let b = Budgets::new(100.0);
        let budgets = b.container();
        for (who, weight) in [("heavy", 3), ("light", 1)] {
            let share = SendShare {
                weight,
                max_per_second: None,
            };
            budgets.take(&tenant(who), share, 1, WAIT).await.unwrap();
        }
        b.store.state()
    };
    let request = |who: &str, weight: u32| TakeRequest {
        tenant: tenant(who),
        weight,
        ceiling_per_second: None,
        account_per_second: 100.0,
        wanted: 1,
        now: micros(START),
        max_wait: 0,
        share_wait: 0,
        reserved: None,
    };
    // THEN their assured rates are 75 and 25 a second
    assert_eq!(plan::assured_rate(&state, &request("heavy", 3)), 75.0);
    assert_eq!(plan::assured_rate(&state, &request("light", 1)), 25.0);
    // and a tenant idle past the window leaves its share to the others
    let later = TakeRequest {
        now: micros(START) + (gcra::ACTIVE_WINDOW_SECONDS + 1) * MICROS_PER_SECOND,
        ..request("light", 1)
    };
    assert_eq!(plan::assured_rate(&state, &later), 100.0);
}

#[tokio::test]
async fn a_tenants_own_rate_holds_even_when_the_account_has_room() {
    // GIVEN a tenant limited to 10 a second on an account of 1,000
    let b = Budgets::new(1_000.0);
    let budgets = b.container();
    let share = SendShare {
        weight: 1,
        max_per_second: Some(10),
    };
    let mut sends = Vec::new();
    for _ in 0..100 {
        if let BudgetAnswer::Granted {
            granted,
            start,
            interval,
            ..
        } = budgets
            .take(&tenant("capped"), share, 20, WAIT)
            .await
            .unwrap()
        {
            sends.extend((0..granted).map(|k| start + interval * k));
        }
        b.advance(Duration::from_millis(500));
    }
    // THEN over the 50 s it went at 10 a second, a batch ahead at most
    let span = (*sends.last().unwrap() - START).as_seconds_f64();
    assert!(
        sends.len() as f64 <= 10.0 * span + 20.0 + 3.0,
        "{} in {span} s",
        sends.len()
    );
}

#[tokio::test]
async fn beyond_its_wait_a_batch_has_its_share_reserved_and_beyond_that_is_later_without_a_write() {
    // GIVEN an account of 10 a second and one tenant that keeps asking for 50
    let b = Budgets::new(10.0);
    let budgets = b.container();
    let alpine = tenant("alpine");
    let mut answers = Vec::new();
    loop {
        let answer = budgets
            .take(&alpine, SendShare::default(), 50, WAIT)
            .await
            .unwrap();
        let later = matches!(answer, BudgetAnswer::Later { .. });
        answers.push(answer);
        if later {
            break;
        }
    }
    // THEN what it may plan ahead on the account is granted: two batches, 10 s of it
    let granted_total: u32 = answers
        .iter()
        .map(|a| match a {
            BudgetAnswer::Granted { granted, .. } => *granted,
            _ => 0,
        })
        .sum();
    assert_eq!(granted_total, 100);
    // and each further batch has its share reserved, 5 s apart, up to two minutes ahead
    let starts: Vec<OffsetDateTime> = answers
        .iter()
        .filter_map(|a| match a {
            BudgetAnswer::Reserved(r) => Some(start_of(r)),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 23, "{starts:?}");
    assert!(
        starts
            .windows(2)
            .all(|w| w[1] - w[0] == time::Duration::seconds(5))
    );
    assert!(*starts.last().unwrap() <= START + time::Duration::seconds(120));
    // and the next is later, without a write
    let writes = b.store.writes();
    let answer = budgets
        .take(&alpine, SendShare::default(), 50, WAIT)
        .await
        .unwrap();
    let BudgetAnswer::Later { retry_at, .. } = answer else {
        panic!("expected later, got {answer:?}");
    };
    // (a minute on, the scheduler's tick: after the reserved batches that are due by then)
    assert_eq!(retry_at, START + time::Duration::seconds(60));
    assert_eq!(b.store.writes(), writes);
}

#[tokio::test]
async fn a_cold_container_reads_once_and_a_stale_view_costs_one_more_write() {
    // GIVEN two containers: the second has not seen what the first took
    let b = Budgets::new(10.0);
    let (first, second) = (b.container(), b.container());
    let alpine = tenant("alpine");
    granted(
        first
            .take(&alpine, SendShare::default(), 50, WAIT)
            .await
            .unwrap(),
    );
    // WHEN the second asks with no wait at all
    let answer = second
        .take(
            &alpine,
            SendShare::default(),
            50,
            Waits::both(Duration::ZERO),
        )
        .await
        .unwrap();
    // THEN it read the state once (it had no view yet), and its one write reserved the share
    // after the first batch
    assert!(
        matches!(answer, BudgetAnswer::Reserved(r) if start_of(&r) >= START + time::Duration::seconds(4)),
        "{answer:?}"
    );
    assert_eq!(b.store.writes(), (2, 0));
    assert_eq!(second.counts().reads, 1);
    // WHEN the first takes more, and the second (its view now stale) asks again
    b.advance(Duration::from_secs(20));
    granted(
        first
            .take(&alpine, SendShare::default(), 30, WAIT)
            .await
            .unwrap(),
    );
    let answer = second
        .take(&alpine, SendShare::default(), 20, WAIT)
        .await
        .unwrap();
    // THEN its first write is refused, and its second, planned on what the refusal answered,
    // goes after the first container's sends (3 s of them, from 20 s)
    let (_, _, start, _) = granted(answer);
    assert_eq!(b.store.writes(), (4, 1));
    assert!(
        start >= START + time::Duration::seconds(23) - time::Duration::milliseconds(250),
        "{start}"
    );
}

#[tokio::test]
async fn a_batch_waiting_for_its_share_reserves_it_then_takes_the_account_when_it_starts() {
    // GIVEN two tenants sharing 10 a second; one of them just sent a batch of 20 (2 s of its
    // 5 a second) while the account is otherwise free
    let b = Budgets::new(10.0);
    let (one, two) = (b.container(), b.container());
    let (alpine, boreal) = (tenant("alpine"), tenant("boreal"));
    one.take(&boreal, SendShare::default(), 1, WAIT)
        .await
        .unwrap();
    granted(
        one.take(&alpine, SendShare::default(), 20, WAIT)
            .await
            .unwrap(),
    );
    two.take(&boreal, SendShare::default(), 1, WAIT)
        .await
        .unwrap();
    b.advance(Duration::from_secs(1));
    // WHEN it asks for 10 more: slots of the account after its share lets it start would
    // leave the account idle before them
    let answer = one
        .take(&alpine, SendShare::default(), 10, WAIT)
        .await
        .unwrap();
    // THEN its share is reserved, and it is told when it starts (its 20 sends end at 4 s)
    let BudgetAnswer::Reserved(reservation) = answer else {
        panic!("expected a reservation, got {answer:?}");
    };
    let starts = start_of(&reservation);
    assert_eq!(starts, START + time::Duration::milliseconds(3_950));
    // and another container that did not see it is refused, then plans after it
    let after = two
        .take(&alpine, SendShare::default(), 10, WAIT)
        .await
        .unwrap();
    assert!(
        matches!(after, BudgetAnswer::Reserved(later) if start_of(&later) > starts),
        "{after:?}"
    );
    assert!(two.counts().refused_writes >= 1);
    // WHEN the first comes back at its start: the account's slots, at once
    b.advance(Duration::try_from(starts - b.clock.now()).unwrap());
    let (count, _, start, _) = granted(
        one.take_reserved(&alpine, SendShare::default(), 10, WAIT, reservation)
            .await
            .unwrap(),
    );
    assert_eq!((count, start), (10, starts));
}

#[tokio::test]
async fn a_used_up_daily_quota_is_later_until_the_next_read() {
    // GIVEN SES's daily quota used up to the budget's share
    let b = Budgets::new(100.0);
    b.quota.set(Some(SendQuota {
        max_send_rate: 100.0,
        max_24_hour_send: 10_000.0,
        sent_last_24_hours: 9_000.0,
    }));
    let budgets = b.container_with(BudgetSettings::default());
    // THEN nothing goes until SES's limits are read again
    let answer = budgets
        .take(&tenant("alpine"), SendShare::default(), 50, WAIT)
        .await
        .unwrap();
    assert_eq!(
        answer,
        BudgetAnswer::Later {
            retry_at: START + account::QUOTA_REFRESH,
            reason: "SES daily quota reached"
        }
    );
    assert_eq!(b.store.writes(), (0, 0));
}

#[tokio::test]
async fn the_limits_are_read_once_per_refresh_and_a_failed_read_falls_back() {
    let b = Budgets::new(100.0);
    b.quota.set(None);
    let settings = BudgetSettings {
        fallback_max_send_rate: 20.0,
        account_share: 0.5,
        refresh: Duration::from_secs(300),
    };
    let rate = AccountRate::new(b.quota.clone(), settings, b.clock.clone());
    // GIVEN SES's limits cannot be read: the configured rate, for a minute
    assert_eq!(rate.allowance().await, Allowance::Rate(10.0));
    assert_eq!(rate.allowance().await, Allowance::Rate(10.0));
    assert_eq!(b.quota.reads(), 1);
    // WHEN they can be read again, a minute later
    b.quota.set(Some(SendQuota {
        max_send_rate: 300.0,
        max_24_hour_send: -1.0,
        sent_last_24_hours: 0.0,
    }));
    b.advance(Duration::from_secs(61));
    assert_eq!(rate.allowance().await, Allowance::Rate(150.0));
    // THEN they are kept for the refresh interval
    b.advance(Duration::from_secs(299));
    assert_eq!(rate.allowance().await, Allowance::Rate(150.0));
    assert_eq!(b.quota.reads(), 2);
    b.advance(Duration::from_secs(2));
    rate.allowance().await;
    assert_eq!(b.quota.reads(), 3);
}

#[tokio::test]
async fn tenants_idle_for_an_hour_are_removed_a_few_at_a_time() {
    let b = Budgets::new(100.0);
    let budgets = b.container();
    for i in 0..6 {
        budgets
            .take(&tenant(&format!("old-{i}")), SendShare::default(), 1, WAIT)
            .await
            .unwrap();
    }
    b.advance(Duration::from_secs(gcra::PRUNE_AFTER_SECONDS as u64 + 1));
    budgets
        .take(&tenant("new"), SendShare::default(), 1, WAIT)
        .await
        .unwrap();
    assert_eq!(
        b.store.state().tenants.len(),
        6 + 1 - gcra::PRUNED_PER_TAKE,
        "the stale tenants removed by one take"
    );
}

#[test]
fn a_plan_on_a_stale_view_holds_only_where_the_grant_is_still_true() {
    // GIVEN a plan made on an empty view
    let request = TakeRequest {
        tenant: tenant("alpine"),
        weight: 1,
        ceiling_per_second: None,
        account_per_second: 10.0,
        wanted: 50,
        now: micros(START),
        max_wait: 10 * MICROS_PER_SECOND,
        share_wait: 10 * MICROS_PER_SECOND,
        reserved: None,
    };
    let Plan::Grant { write, .. } = plan::plan(&Default::default(), &request) else {
        panic!("an empty budget grants");
    };
    // THEN it holds on the empty state, and not on one where the account is taken 8 s ahead
    assert!(write.holds_for(&Default::default()));
    let busy = BudgetState {
        account: Some(micros(START) + 8 * MICROS_PER_SECOND),
        ..Default::default()
    };
    assert!(!write.holds_for(&busy));
}

#[tokio::test]
async fn a_tenant_announced_before_it_takes_splits_the_shares_at_once_and_keeps_its_weight() {
    // GIVEN a heavy tenant (weight 3) sending alone on an account of 100 a second
    let b = Budgets::new(100.0);
    let heavy = SendShare {
        weight: 3,
        max_per_second: None,
    };
    b.container()
        .take(&tenant("heavy"), heavy, 1, WAIT)
        .await
        .unwrap();
    let request = |who: &str, weight: u32| TakeRequest {
        tenant: tenant(who),
        weight,
        ceiling_per_second: None,
        account_per_second: 100.0,
        wanted: 1,
        now: micros(START),
        max_wait: 0,
        share_wait: 0,
        reserved: None,
    };
    assert_eq!(
        plan::assured_rate(&b.store.state(), &request("heavy", 3)),
        100.0
    );
    // WHEN the rebatcher announces a newcomer and the heavy one, whose batches it also wrote
    let announcer = BudgetAnnouncer::new(b.store.clone(), b.clock.clone());
    let both = [tenant("heavy"), tenant("newcomer")].into_iter().collect();
    assert_eq!(announcer.announce(&both).await.unwrap(), 2);
    // THEN the newcomer counts, at weight 1 until it takes, and the heavy one keeps its weight
    let state = b.store.state();
    assert_eq!(plan::assured_rate(&state, &request("heavy", 3)), 75.0);
    assert_eq!(state.tenants[&tenant("heavy")].weight, 3);
    assert_eq!(state.tenants[&tenant("newcomer")].weight, 1);
    // and no TAT moved: an announcement takes nothing
    assert_eq!(state.tenants[&tenant("newcomer")].assured, None);
    assert_eq!(state.account, b.store.state().account);
}

#[tokio::test]
async fn a_container_announces_a_tenant_once_per_interval_and_a_failure_is_an_error_to_log() {
    let b = Budgets::new(100.0);
    let announcer = BudgetAnnouncer::new(b.store.clone(), b.clock.clone());
    let one = [tenant("alpine")].into_iter().collect();
    assert_eq!(announcer.announce(&one).await.unwrap(), 1);
    b.advance(Duration::from_secs(
        announce::ANNOUNCE_EVERY_SECONDS as u64 - 1,
    ));
    assert_eq!(announcer.announce(&one).await.unwrap(), 0, "too soon");
    b.advance(Duration::from_secs(1));
    assert_eq!(announcer.announce(&one).await.unwrap(), 1);
    assert_eq!(b.store.writes(), (2, 0));
    // within the window, the tenant still counts for others
    let seen = b.store.state().tenants[&tenant("alpine")].seen;
    assert_eq!(seen, b.clock.now().unix_timestamp());
    // a store that fails answers the error, and the tenant is tried again on the next batch
    b.store.set_unavailable(true);
    b.advance(Duration::from_secs(announce::ANNOUNCE_EVERY_SECONDS as u64));
    assert!(announcer.announce(&one).await.is_err());
    b.store.set_unavailable(false);
    assert_eq!(announcer.announce(&one).await.unwrap(), 1);
}
