//! Hit and miss counters that threads do not fight over.
//!
//! One shared counter written on every request makes every worker thread pull the
//! same cache line back and forth. Each thread here writes its own stripe (threads
//! take stripes in turn); reading the totals sums them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const STRIPES: usize = 16;

/// A stripe on its own cache line (128 bytes: adjacent-line prefetch pairs lines).
#[derive(Default)]
#[repr(align(128))]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Counters {
    stripes: [Stripe; STRIPES],
}

/// This thread's stripe, the same for every `Counters`.
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    INDEX.try_with(|i| *i).unwrap_or(0)
}

impl Counters {
    pub(crate) fn count(&self, hit: bool) {
        if let Some(stripe) = self.stripes.get(stripe_index()) {
            let counter = if hit { &stripe.hits } else { &stripe.misses };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `(hits, misses)` so far.
    pub(crate) fn totals(&self) -> (u64, u64) {
        self.stripes
            .iter()
            .fold((0, 0), |(h, m), s| (h + s.hits.load(Ordering::Relaxed), m + s.misses.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::Counters;

    #[test]
    fn totals_add_up_across_threads() {
        let counters = Counters::default();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for i in 0..1000 {
                        counters.count(i % 4 == 0);
                    }
                });
            }
        });
        assert_eq!(counters.totals(), (2000, 6000));
    }
}
