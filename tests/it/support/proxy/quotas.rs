//! API Gateway's account quotas, enforced as AWS does.

use super::*;

/// API Gateway's control-plane quotas per account (docs/aws.md, "API Gateway's account quotas"; AWS never raises
/// them): token buckets for the operations with a quota of their own, and one bucket of 10
/// per second with a burst of 40 shared by every other call. A call that finds its bucket
/// empty is answered 429 TooManyRequestsException with `Retry-After` (whole seconds, rounded
/// up), is not forwarded, and costs no token. One proxy serves every tool process that talks
/// through it, so concurrent runs share the account's quota as they would at AWS.
pub struct Quotas {
    /// Time runs this much faster than real time (1.0: AWS's own figures; tests compress it,
    /// with the tool's `SERVERLESS_CLI_RETRY_SCALE` set to `1 / speed` so both agree).
    pub(crate) speed: f64,
    pub(crate) shared: QuotaBucket,
    pub(crate) own: Vec<(&'static str, QuotaBucket)>,
    /// Calls answered 429, by operation.
    pub(crate) refused: std::collections::BTreeMap<String, usize>,
    /// Calls let through, by operation.
    pub(crate) passed: std::collections::BTreeMap<String, usize>,
}

pub(crate) struct QuotaBucket {
    pub(crate) burst: f64,
    pub(crate) per_second: f64,
    pub(crate) tokens: f64,
    pub(crate) last: Instant,
}

impl QuotaBucket {
    pub(crate) fn new(burst: f64, per_second: f64) -> QuotaBucket {
        QuotaBucket {
            burst,
            per_second,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is there (taking nothing).
    pub(crate) fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }
}

/// (operation, burst, calls per second): the operations with a quota of their own. Written
/// out here apart from the tool's own table (src/throttle.rs) on purpose: the proxy stands
/// for AWS, so a mistake in the tool's table shows against it instead of being shared.
pub const OWN_QUOTAS: [(&str, f64, f64); 10] = [
    ("CreateRestApi", 1.0, 1.0 / 3.0),
    ("ImportRestApi", 1.0, 1.0 / 3.0),
    ("DeleteRestApi", 1.0, 1.0 / 30.0),
    ("CreateDeployment", 1.0, 1.0 / 5.0),
    ("PutRestApi", 1.0, 1.0),
    ("CreateResource", 5.0, 5.0),
    ("GetResources", 5.0, 2.5),
    ("CreateDomainName", 1.0, 1.0 / 30.0),
    ("UpdateDomainName", 1.0, 1.0 / 30.0),
    ("DeleteDomainName", 1.0, 1.0 / 30.0),
];

impl Quotas {
    pub(crate) fn new(speed: f64) -> Quotas {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Quotas {
            speed,
            shared: QuotaBucket::new(40.0, 10.0 * speed),
            own: OWN_QUOTAS
                .iter()
                .map(|(op, burst, rate)| (*op, QuotaBucket::new(*burst, rate * speed)))
                .collect(),
            refused: Default::default(),
            passed: Default::default(),
        }
    }

    /// `Ok` for a call within its quota; else the `Retry-After` to answer, in AWS's seconds.
    pub(crate) fn admit(&mut self, operation: &str, now: Instant) -> Result<(), u32> {
        let bucket = match self.own.iter_mut().find(|(o, _)| *o == operation) {
            Some((_, b)) => b,
            None => &mut self.shared,
        };
        match bucket.take(now) {
            Ok(()) => {
                *self.passed.entry(operation.to_string()).or_default() += 1;
                Ok(())
            }
            Err(wait) => {
                *self.refused.entry(operation.to_string()).or_default() += 1;
                Err((wait.as_secs_f64() * self.speed).ceil().max(1.0) as u32)
            }
        }
    }
}
