//! One function invocation as the simulation runs it: the fault it was dealt, a way to crash it
//! from deep inside the real code, and the sends SES accepted while it ran.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

tokio::task_local! {
    static CURRENT: Arc<Invocation>;
}

/// Where in an invocation a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultPoint {
    /// Before the n-th claim is written.
    BeforeClaim,
    /// After the n-th claim is written.
    AfterClaim,
    /// After SES accepted the n-th email.
    AfterSend,
    /// SES accepts the n-th email, but its answer never comes back.
    LostAnswer,
    /// At the n-th outcome write.
    OutcomeWrite,
    /// After the n-th record put on a stream was accepted.
    AfterPut,
}

/// What the fault does there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultAction {
    /// The process dies: the invocation's future is dropped where it stands.
    Crash,
    /// The call fails as if the store were unavailable, this many times in a row.
    Fail(u32),
    /// The call hangs far past any timeout.
    Hang,
    /// The provider accepted the email and its answer is lost.
    LoseAnswer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fault {
    pub point: FaultPoint,
    /// Strikes at the n-th time the invocation reaches `point` (1 = the first).
    pub at: u32,
    pub action: FaultAction,
}

#[derive(Default)]
pub struct Invocation {
    fault: Mutex<Option<(Fault, u32)>>,
    crashed: AtomicBool,
    crash: Notify,
    accepted: Mutex<Vec<String>>,
}

impl Invocation {
    pub fn with_fault(fault: Option<Fault>) -> Arc<Self> {
        Arc::new(Self {
            fault: Mutex::new(fault.map(|f| (f, 0))),
            ..Self::default()
        })
    }

    /// Runs `work` as this invocation: faults and crashes inside it belong to it.
    pub async fn run<T>(self: &Arc<Self>, work: impl Future<Output = T>) -> Option<T> {
        let crashed = self.crash.notified();
        tokio::select! {
            biased;
            () = crashed => None,
            value = CURRENT.scope(self.clone(), work) => {
                if self.crashed.load(Ordering::Relaxed) { None } else { Some(value) }
            }
        }
    }

    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::Relaxed)
    }

    /// The message ids SES accepted during this invocation.
    pub fn accepted(&self) -> Vec<String> {
        self.accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn strike(&self, point: FaultPoint) -> Option<FaultAction> {
        let mut fault = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        let (planned, reached) = fault.as_mut()?;
        if planned.point != point {
            return None;
        }
        *reached += 1;
        match planned.action {
            FaultAction::Fail(times) if *reached >= planned.at && *reached < planned.at + times => {
                Some(planned.action)
            }
            action if *reached == planned.at => Some(action),
            _ => None,
        }
    }
}

/// The fault the current invocation meets at `point`, if any.
pub fn strike(point: FaultPoint) -> Option<FaultAction> {
    CURRENT
        .try_with(|invocation| invocation.strike(point))
        .ok()
        .flatten()
}

/// Notes an email SES accepted during the current invocation.
pub fn note_accepted(message_id: &str) {
    let _ = CURRENT.try_with(|invocation| {
        invocation
            .accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message_id.to_string())
    });
}

/// Kills the current invocation where it stands: it never resumes.
pub async fn crash<T>() -> T {
    let _ = CURRENT.try_with(|invocation| {
        invocation.crashed.store(true, Ordering::Relaxed);
        invocation.crash.notify_one();
    });
    std::future::pending().await
}
