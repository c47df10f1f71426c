//! Ids unique within this process, shaped like a UUID: Lambda's request ids in serve, the
//! lock's and the state writer's tokens in the store.

use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A request id shaped like Lambda's (a UUID), unique within this process.
pub fn request_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static SEED: std::collections::hash_map::RandomState = std::collections::hash_map::RandomState::new();
    }
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (a, b) = SEED.with(|s| {
        let mut h1 = s.build_hasher();
        h1.write_u64(n);
        let mut h2 = s.build_hasher();
        h2.write_u64(!n);
        (h1.finish(), h2.finish())
    });
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[16..20],
        &hex[20..32]
    )
}
