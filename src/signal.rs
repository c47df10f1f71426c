//! Ctrl-C and SIGTERM: counted, so the engine can stop starting steps on the first and stop
//! waiting on the second.

use tokio::sync::watch;

/// How many interrupt signals have arrived.
pub type Interrupts = watch::Receiver<u32>;

/// Starts listening for SIGINT and SIGTERM. Call inside the runtime.
pub fn install() -> Interrupts {
    let (tx, rx) = watch::channel(0u32);
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            #[cfg(unix)]
            let got = match term.as_mut() {
                Some(t) => tokio::select! {
                    r = tokio::signal::ctrl_c() => r.is_ok(),
                    r = t.recv() => r.is_some(),
                },
                None => tokio::signal::ctrl_c().await.is_ok(),
            };
            #[cfg(not(unix))]
            let got = tokio::signal::ctrl_c().await.is_ok();
            if !got {
                break;
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    rx
}

/// Raised when a run stopped because it was interrupted. Exit code 130.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;
