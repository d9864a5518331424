//! An email provider that keeps what it is sent and fails on request.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::channels::email::{EmailProvider, OutboundEmail};
use crate::error::{Message, SendError};

/// A scripted answer of the in-memory provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptedFailure {
    Throttle,
    RejectTenant(String),
    RejectMessage(String),
    /// The provider accepts and sends the email, but its answer is lost on the way back.
    LoseAnswer,
}

#[derive(Default)]
struct ProviderState {
    sent: Vec<(String, OutboundEmail)>,
    by_configuration_set: HashMap<String, ScriptedFailure>,
    by_address: HashMap<String, ScriptedFailure>,
    throttle_next: VecDeque<()>,
    attempts: HashMap<String, u64>,
    /// Sends wait at the gate while it is closed.
    gate_closed: bool,
    waiting: usize,
}

/// Keeps every sent email; fails by configuration set or recipient address on request.
#[derive(Default)]
pub struct MemoryEmailProvider {
    state: Mutex<ProviderState>,
    counter: AtomicU64,
    keep_messages: std::sync::atomic::AtomicBool,
    gate: tokio::sync::Notify,
}

impl MemoryEmailProvider {
    /// A provider that counts sends but does not keep their content: for benchmarks.
    pub fn counting_only() -> Self {
        Self::default()
    }

    pub fn keeping_messages() -> Self {
        let provider = Self::default();
        provider.keep_messages.store(true, Ordering::Relaxed);
        provider
    }

    pub fn fail_configuration_set(&self, configuration_set: &str, failure: ScriptedFailure) {
        lock(&self.state)
            .by_configuration_set
            .insert(configuration_set.to_string(), failure);
    }

    pub fn fail_address(&self, address: &str, failure: ScriptedFailure) {
        lock(&self.state)
            .by_address
            .insert(address.to_string(), failure);
    }

    pub fn throttle_next(&self, times: usize) {
        let mut state = lock(&self.state);
        for _ in 0..times {
            state.throttle_next.push_back(());
        }
    }

    /// Holds every send until `open_gate`: a delivery caught in the middle of its sends.
    pub fn close_gate(&self) {
        lock(&self.state).gate_closed = true;
    }

    pub fn open_gate(&self) {
        lock(&self.state).gate_closed = false;
        self.gate.notify_waiters();
    }

    /// Sends waiting at the closed gate.
    pub fn waiting(&self) -> usize {
        lock(&self.state).waiting
    }

    async fn pass_gate(&self) {
        loop {
            let opened = self.gate.notified();
            {
                let mut state = lock(&self.state);
                if !state.gate_closed {
                    return;
                }
                state.waiting += 1;
            }
            opened.await;
            lock(&self.state).waiting -= 1;
        }
    }

    pub fn sent(&self) -> Vec<(String, OutboundEmail)> {
        lock(&self.state).sent.clone()
    }

    /// Sends attempted through a configuration set, refused ones included.
    pub fn attempts_for(&self, configuration_set: &str) -> u64 {
        lock(&self.state)
            .attempts
            .get(configuration_set)
            .copied()
            .unwrap_or(0)
    }

    pub fn sent_count(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl EmailProvider for MemoryEmailProvider {
    async fn send(&self, email: &OutboundEmail) -> Result<String, SendError> {
        self.pass_gate().await;
        let failure = {
            let mut state = lock(&self.state);
            *state
                .attempts
                .entry(email.configuration_set.clone())
                .or_default() += 1;
            if state.throttle_next.pop_front().is_some() {
                Some(ScriptedFailure::Throttle)
            } else {
                state
                    .by_configuration_set
                    .get(&email.configuration_set)
                    .or_else(|| state.by_address.get(&email.to_address))
                    .cloned()
            }
        };
        match failure {
            Some(ScriptedFailure::Throttle) => Err(SendError::Throttled {
                source: Message::boxed("Maximum sending rate exceeded."),
            }),
            Some(ScriptedFailure::RejectTenant(reason)) => Err(SendError::TenantRejected {
                source: Message::boxed(reason.clone()),
                reason,
            }),
            Some(ScriptedFailure::RejectMessage(reason)) => Err(SendError::MessageRejected {
                source: Message::boxed(reason.clone()),
                reason,
            }),
            Some(ScriptedFailure::LoseAnswer) => {
                self.accept(email);
                Err(SendError::Unconfirmed {
                    reason: "no answer in time".into(),
                    source: Message::boxed("read timed out"),
                })
            }
            None => Ok(self.accept(email)),
        }
    }
}

impl MemoryEmailProvider {
    fn accept(&self, email: &OutboundEmail) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("mem-{n:012}");
        if self.keep_messages.load(Ordering::Relaxed) {
            lock(&self.state).sent.push((id.clone(), email.clone()));
        }
        id
    }
}
