//! Service protection limits, per client over a sliding window: request count, combined
//! execution time and concurrent requests. Breaches answer 429 with `Retry-After` and the exact
//! codes and messages Dataverse uses (the numbers in the messages are the configured limits).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::response::ApiError;

/// Service-protection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceProtection {
    /// Requests per window per client (Dataverse: 6000).
    pub requests_per_window: u32,
    /// Combined execution time per window per client, in ms (Dataverse: 1,200,000).
    pub execution_ms_per_window: u64,
    /// Concurrent requests per client (Dataverse: 52).
    pub concurrent: u32,
    /// Window length in seconds (Dataverse: 300).
    pub window_secs: u32,
    /// Fixed `Retry-After`; `None` = the time until the window frees up (at least 1 s).
    pub retry_after_secs: Option<u32>,
}

impl Default for ServiceProtection {
    fn default() -> Self {
        Self {
            requests_per_window: 6000,
            execution_ms_per_window: 1_200_000,
            concurrent: 52,
            window_secs: 300,
            retry_after_secs: None,
        }
    }
}

/// Which limit a 429 reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleKind {
    /// Number of requests (`0x80072322`).
    Requests,
    /// Combined execution time (`0x80072321`).
    ExecutionTime,
    /// Concurrent requests (`0x80072326`).
    Concurrency,
}

impl ThrottleKind {
    /// The error code Dataverse sends.
    pub fn code(self) -> &'static str {
        match self {
            ThrottleKind::Requests => "0x80072322",
            ThrottleKind::ExecutionTime => "0x80072321",
            ThrottleKind::Concurrency => "0x80072326",
        }
    }

    /// The error message Dataverse sends, with the given limits.
    pub fn message(self, limits: &ServiceProtection) -> String {
        match self {
            ThrottleKind::Requests => format!(
                "Number of requests exceeded the limit of {} over time window of {} seconds.",
                limits.requests_per_window, limits.window_secs
            ),
            // The double space before "milliseconds" is Dataverse's.
            ThrottleKind::ExecutionTime => format!(
                "Combined execution time of incoming requests exceeded limit of {}  milliseconds over time window of {} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
                group(limits.execution_ms_per_window),
                limits.window_secs
            ),
            ThrottleKind::Concurrency => format!(
                "Number of concurrent requests exceeded the limit of {}.",
                limits.concurrent
            ),
        }
    }
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The 429 error for a breach.
pub(crate) fn throttle_error(
    kind: ThrottleKind,
    limits: &ServiceProtection,
    retry_after: u32,
) -> ApiError {
    ApiError::new(429, kind.code(), kind.message(limits))
        .with_header("Retry-After", retry_after.max(1).to_string())
}

#[derive(Debug, Default)]
struct Window {
    requests: VecDeque<Instant>,
    executions: VecDeque<(Instant, u64)>,
    execution_total_us: u64,
    in_flight: u32,
}

impl Window {
    fn prune(&mut self, now: Instant, window: Duration) {
        while self
            .requests
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.requests.pop_front();
        }
        while let Some((t, us)) = self.executions.front().copied() {
            if now.duration_since(t) < window {
                break;
            }
            self.execution_total_us -= us;
            self.executions.pop_front();
        }
    }
}

/// Remaining budget reported in the `x-ms-ratelimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub requests_remaining: u32,
    pub time_remaining_ms: u64,
}

/// Per-client windows.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    clients: HashMap<String, Window>,
}

impl Throttle {
    /// Admits a request (counting it and marking it in flight) or says which limit it breaks
    /// and the `Retry-After` to send.
    pub(crate) fn admit(
        &mut self,
        client: &str,
        limits: &ServiceProtection,
        now: Instant,
    ) -> Result<Budget, (ThrottleKind, u32)> {
        let window = Duration::from_secs(u64::from(limits.window_secs));
        let state = self.clients.entry(client.to_owned()).or_default();
        state.prune(now, window);
        let wait_until = |start: Instant| {
            let free_at = start + window;
            let secs = free_at.saturating_duration_since(now).as_secs_f64().ceil() as u32;
            limits.retry_after_secs.unwrap_or(secs.max(1))
        };
        if state.in_flight >= limits.concurrent {
            return Err((
                ThrottleKind::Concurrency,
                limits.retry_after_secs.unwrap_or(1),
            ));
        }
        if state.requests.len() as u64 >= u64::from(limits.requests_per_window) {
            let oldest = state.requests.front().copied().unwrap_or(now);
            return Err((ThrottleKind::Requests, wait_until(oldest)));
        }
        let limit_us = limits.execution_ms_per_window.saturating_mul(1000);
        if state.execution_total_us >= limit_us && !state.executions.is_empty() {
            // The window frees up once enough old executions have left it.
            let mut total = state.execution_total_us;
            let mut free_from = now;
            for (t, us) in &state.executions {
                total -= us;
                free_from = *t;
                if total < limit_us {
                    break;
                }
            }
            return Err((ThrottleKind::ExecutionTime, wait_until(free_from)));
        }
        state.requests.push_back(now);
        state.in_flight += 1;
        Ok(Budget {
            requests_remaining: limits
                .requests_per_window
                .saturating_sub(state.requests.len() as u32),
            time_remaining_ms: limit_us.saturating_sub(state.execution_total_us) / 1000,
        })
    }

    /// Ends an admitted request, adding its execution time.
    pub(crate) fn finish(&mut self, client: &str, now: Instant, execution: Duration) {
        if let Some(state) = self.clients.get_mut(client) {
            state.in_flight = state.in_flight.saturating_sub(1);
            // At least 1 µs, so that a zero execution-time budget trips on the next request.
            let us = (execution.as_micros() as u64).max(1);
            state.executions.push_back((now, us));
            state.execution_total_us += us;
        }
    }

    /// Forgets all windows.
    pub(crate) fn reset(&mut self) {
        self.clients.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_limit_and_retry_after() {
        let limits = ServiceProtection {
            requests_per_window: 2,
            window_secs: 60,
            ..ServiceProtection::default()
        };
        let mut throttle = Throttle::default();
        let now = Instant::now();
        for _ in 0..2 {
            throttle.admit("c", &limits, now).unwrap();
            throttle.finish("c", now, Duration::from_millis(1));
        }
        let (kind, retry) = throttle.admit("c", &limits, now).unwrap_err();
        assert_eq!(kind, ThrottleKind::Requests);
        assert_eq!(retry, 60);
        // Another client is not affected.
        assert!(throttle.admit("d", &limits, now).is_ok());
    }

    #[test]
    fn concurrency_trips_immediately() {
        let limits = ServiceProtection {
            concurrent: 1,
            ..ServiceProtection::default()
        };
        let mut throttle = Throttle::default();
        let now = Instant::now();
        throttle.admit("c", &limits, now).unwrap();
        assert_eq!(
            throttle.admit("c", &limits, now).unwrap_err().0,
            ThrottleKind::Concurrency
        );
    }

    #[test]
    fn message_has_the_double_space() {
        let msg = ThrottleKind::ExecutionTime.message(&ServiceProtection::default());
        assert!(msg.starts_with(
            "Combined execution time of incoming requests exceeded limit of 1,200,000  milliseconds over time window of 300 seconds."
        ));
    }
}
