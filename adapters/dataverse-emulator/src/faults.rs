//! Fault injection: rules that make chosen requests fail (503/502/504, a 429), stall, or lose
//! their connection half-way. Three independent queues exist — Web API requests, `$batch`
//! parts and token requests — each numbering its own requests from 1.

use std::time::Duration;

use crate::response::{ApiError, ApiResponse};
use crate::throttle::ThrottleKind;

/// What to do to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status (503, 502, 504, 500, …) and a plausible JSON error body.
    Status(u16),
    /// Answer 429 with the given limit's code/message and `Retry-After: <secs>`.
    Throttle(ThrottleKind, u32),
    /// Send the status line, headers and the first bytes of a body, then abort the connection.
    /// The request is not processed.
    DropConnection,
    /// Wait this long before processing the request normally (counts as execution time).
    Delay(Duration),
    /// `$batch` parts only: process the part (the change is made), then abort the connection
    /// before the answer is sent — the client never learns that its write succeeded, the case
    /// that idempotent writes exist for.
    LoseAnswer,
}

/// Which requests a fault hits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultWhen {
    /// The next `n` requests.
    NextRequests(u32),
    /// The request with this number (1-based, counted from start or the last `reset_stats`).
    RequestNumber(u64),
    /// Every n-th request (request numbers divisible by n).
    EveryNth(u64),
    /// Each request with probability `p`, from a seeded generator (deterministic per rule).
    Probability(f64, u64),
}

#[derive(Debug, Clone)]
struct Rule {
    fault: Fault,
    when: FaultWhen,
    remaining: u32,
    rng: u64,
}

/// The outcome for one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Decision {
    pub delay: Duration,
    pub fault: Option<Fault>,
}

/// A list of fault rules.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    rules: Vec<Rule>,
}

impl FaultQueue {
    pub(crate) fn add(&mut self, fault: Fault, when: FaultWhen) {
        let (remaining, rng) = match when {
            FaultWhen::NextRequests(n) => (n, 0),
            FaultWhen::Probability(_, seed) => (0, seed ^ 0x9E37_79B9_7F4A_7C15),
            _ => (0, 0),
        };
        self.rules.push(Rule {
            fault,
            when,
            remaining,
            rng,
        });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Decides for request `number`. Delays add up; the first other matching fault wins.
    pub(crate) fn decide(&mut self, number: u64) -> Decision {
        let mut decision = Decision::default();
        for rule in &mut self.rules {
            let fires = match rule.when {
                FaultWhen::NextRequests(_) => {
                    let fires = rule.remaining > 0;
                    rule.remaining = rule.remaining.saturating_sub(1);
                    fires
                }
                FaultWhen::RequestNumber(k) => number == k,
                FaultWhen::EveryNth(n) => n > 0 && number.is_multiple_of(n),
                FaultWhen::Probability(p, _) => next_unit(&mut rule.rng) < p,
            };
            if !fires {
                continue;
            }
            match &rule.fault {
                Fault::Delay(d) => decision.delay += *d,
                other if decision.fault.is_none() => decision.fault = Some(other.clone()),
                _ => {}
            }
        }
        self.rules.retain(|r| match r.when {
            FaultWhen::NextRequests(_) => r.remaining > 0,
            FaultWhen::RequestNumber(k) => number < k,
            _ => true,
        });
        decision
    }
}

/// splitmix64, mapped to [0, 1).
fn next_unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The response for an injected status.
pub(crate) fn status_response(status: u16) -> ApiResponse {
    let (code, message) = match status {
        502 => (
            "",
            "Bad Gateway. The server received an invalid response from an upstream server.",
        ),
        503 => (
            "",
            "The service is temporarily unavailable. Please try again later.",
        ),
        504 => ("", "The request timed out at the gateway."),
        500 => ("0x80040216", "An unexpected error occurred."),
        _ => ("", "Injected fault."),
    };
    ApiError::new(status, code, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_rules() {
        let mut queue = FaultQueue::default();
        queue.add(Fault::Status(503), FaultWhen::NextRequests(2));
        assert_eq!(queue.decide(1).fault, Some(Fault::Status(503)));
        assert_eq!(queue.decide(2).fault, Some(Fault::Status(503)));
        assert_eq!(queue.decide(3).fault, None);
        queue.add(Fault::Status(502), FaultWhen::RequestNumber(5));
        assert_eq!(queue.decide(4).fault, None);
        assert_eq!(queue.decide(5).fault, Some(Fault::Status(502)));
        queue.add(
            Fault::Delay(Duration::from_millis(5)),
            FaultWhen::EveryNth(2),
        );
        assert_eq!(queue.decide(6).delay, Duration::from_millis(5));
        assert_eq!(queue.decide(7).delay, Duration::ZERO);
    }

    #[test]
    fn probability_is_deterministic() {
        let run = || {
            let mut queue = FaultQueue::default();
            queue.add(Fault::Status(503), FaultWhen::Probability(0.3, 42));
            (1..=100)
                .map(|n| queue.decide(n).fault.is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|b| **b).count();
        assert!((15..=45).contains(&hits), "{hits}");
    }
}
