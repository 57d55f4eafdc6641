//! The verified-token cache's map, chosen by figures: moka and quick_cache side by side
//! under the three workloads of `benches/load.sh`, on as many threads as the machine has
//! cores. `cargo bench --bench cache_maps`.
//!
//! Keys are the 64-bit keyed hashes the cache uses; values are `Arc`s of about the size
//! of a decoded token (4 KiB), so eviction frees memory as it does in the service.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Value = Arc<Vec<u8>>;

/// The cache keys are already keyed hashes: both maps use them as they are.
#[derive(Clone, Default)]
struct PreHashed;
#[derive(Default)]
struct PreHashedHasher(u64);
impl Hasher for PreHashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
impl BuildHasher for PreHashed {
    type Hasher = PreHashedHasher;
    fn build_hasher(&self) -> PreHashedHasher {
        PreHashedHasher::default()
    }
}

trait Map: Send + Sync {
    fn get(&self, k: u64) -> Option<Value>;
    fn insert(&self, k: u64, v: Value);
}

struct Moka(moka::sync::Cache<u64, Value, PreHashed>);
impl Map for Moka {
    fn get(&self, k: u64) -> Option<Value> {
        self.0.get(&k)
    }
    fn insert(&self, k: u64, v: Value) {
        self.0.insert(k, v)
    }
}

#[derive(Clone)]
struct ByLen;
impl quick_cache::Weighter<u64, Value> for ByLen {
    fn weight(&self, _: &u64, v: &Value) -> u64 {
        v.len() as u64
    }
}
struct Quick(quick_cache::sync::Cache<u64, Value, ByLen, PreHashed>);
impl Map for Quick {
    fn get(&self, k: u64) -> Option<Value> {
        self.0.get(&k)
    }
    fn insert(&self, k: u64, v: Value) {
        self.0.insert(k, v)
    }
}

const CAPACITY: u64 = 11_000;
const WEIGHT: u64 = 4096;

fn moka() -> Arc<dyn Map> {
    let cache = moka::sync::Cache::builder()
        .max_capacity(CAPACITY * WEIGHT)
        .weigher(|_: &u64, v: &Value| v.len() as u32)
        .build_with_hasher(PreHashed);
    Arc::new(Moka(cache))
}

fn quick() -> Arc<dyn Map> {
    let cache = quick_cache::sync::Cache::with(
        CAPACITY as usize,
        CAPACITY * WEIGHT,
        ByLen,
        PreHashed,
        quick_cache::sync::DefaultLifecycle::default(),
    );
    Arc::new(Quick(cache))
}

/// Nanoseconds per lookup (plus an insert on each miss), all threads together.
fn run(map: &Arc<dyn Map>, distinct: u64, threads: usize, time: Duration) -> f64 {
    let spread = 0x9E37_79B9_7F4A_7C15_u64; // odd: distinct keys stay distinct
    let start = Instant::now();
    let ops: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let map = map.clone();
                s.spawn(move || {
                    let mut i = t as u64 * 7919;
                    let mut n = 0u64;
                    while start.elapsed() < time {
                        for _ in 0..1000 {
                            i = (i + 1) % distinct;
                            let k = i.wrapping_mul(spread);
                            if std::hint::black_box(map.get(k)).is_none() {
                                map.insert(k, Arc::new(vec![0u8; WEIGHT as usize]));
                            }
                        }
                        n += 1000;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    start.elapsed().as_nanos() as f64 * threads as f64 / ops as f64
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let time = Duration::from_secs(2);
    println!("ns per request-thread ({threads} threads; a miss also inserts), moka / quick_cache, 3 rounds");
    for (name, distinct) in [("repeated", 1), ("10 000 rotating", 10_000), ("100 000 rotating", 100_000)] {
        let mut rows = Vec::new();
        for _ in 0..3 {
            let (m, q) = (moka(), quick());
            // Fill first, so the timed part is steady state.
            run(&m, distinct, 1, Duration::from_millis(300));
            run(&q, distinct, 1, Duration::from_millis(300));
            rows.push((run(&m, distinct, threads, time), run(&q, distinct, threads, time)));
        }
        let text: Vec<String> = rows.iter().map(|(m, q)| format!("{m:7.0} / {q:5.0}")).collect();
        println!("  {name:17} {}", text.join("   "));
    }
}
