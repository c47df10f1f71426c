//! This process's lease on its S3 lock, and the fence that stops every AWS call once the lock
//! may be another run's. The store confirms the lease; the AWS layer asks before every call.
//! It sits below both, and knows nothing of either.

use std::time::Duration;

/// Time since boot on a clock that goes on counting while the machine is suspended
/// (`CLOCK_BOOTTIME`; Rust's `Instant` and tokio's timers stop then): a laptop closed or a
/// VM paused for an hour sees that hour here (docs/aws.md, "The S3 lock").
pub fn boot_now() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec into the pointer it is given.
        if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } == 0 {
            return Duration::new(
                ts.tv_sec.max(0) as u64,
                ts.tv_nsec.clamp(0, 999_999_999) as u32,
            );
        }
    }
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// Until when this process's S3 lease is surely its own, on [`boot_now`]'s clock (`None`: no
/// lease in force). A run paused past it (SIGSTOP, a suspended VM) may have been taken over:
/// it makes no more AWS calls.
static LEASE_UNTIL: std::sync::Mutex<Option<Duration>> = std::sync::Mutex::new(None);

/// Set once this process's lock is known to be another run's: every AWS call stops.
static FENCED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Told when [`fence`] is called, so that a retry's wait ends at once.
fn fence_signal() -> &'static tokio::sync::watch::Sender<bool> {
    static SIGNAL: std::sync::OnceLock<tokio::sync::watch::Sender<bool>> =
        std::sync::OnceLock::new();
    SIGNAL.get_or_init(|| tokio::sync::watch::channel(false).0)
}

/// The lease was (re)confirmed by a write sent at `sent` ([`boot_now`]): it is ours until
/// `sent + lease`, less a margin.
pub fn lease_confirmed(sent: Duration, lease: Duration) {
    let until = sent + lease.mul_f64(0.9);
    let mut l = LEASE_UNTIL.lock().unwrap_or_else(|p| p.into_inner());
    if l.is_none_or(|u| u < until) {
        *l = Some(until);
    }
}

/// This process's lock was taken over (`why` says how): no AWS call is made from now on, and
/// the retries waiting now stop waiting.
pub fn fence(why: &str) {
    FENCED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(|| why.to_string());
    fence_signal().send_replace(true);
}

/// Resolves once [`fence`] has been called (never, in a run that keeps its lock).
pub async fn fenced() {
    let mut rx = fence_signal().subscribe();
    let _ = rx.wait_for(|f| *f).await;
}

/// `Err` when this process's lock was taken over, or it holds a lease that may have run out.
pub fn check_lease() -> Result<(), String> {
    if let Some(why) = FENCED.lock().unwrap_or_else(|p| p.into_inner()).clone() {
        return Err(why);
    }
    match *LEASE_UNTIL.lock().unwrap_or_else(|p| p.into_inner()) {
        Some(until) if boot_now() > until => Err(
            "this run's lock lease ran out (the run was paused or cut off for longer than the lease): its lock may have been taken over by another run, so it stops before making any more changes. Run again"
                .to_string(),
        ),
        _ => Ok(()),
    }
}

/// No lease is in force any more (every lock was given up).
pub fn end() {
    *LEASE_UNTIL.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_clock_moves_forward() {
        let a = boot_now();
        std::thread::sleep(Duration::from_millis(20));
        let b = boot_now();
        assert!(b >= a + Duration::from_millis(20), "{a:?} {b:?}");
    }
}
