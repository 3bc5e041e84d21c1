// rust.rs - a Rust workload built with Debian's rustc (-C opt-level=2, no frame pointers):
// main -> hash_phase -> mix::checksum for 3/4 of its CPU time and main -> sum_phase ->
// mix::Accumulator::add for 1/4, so names come out demangled (legacy mangling, hashes dropped).
//   rust [SECONDS]   (default 10; prints its pid on stdout first)
#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// This thread's CPU time (CLOCK_THREAD_CPUTIME_ID), as the C workloads measure their phases.
fn cpu_s() -> f64 {
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { clock_gettime(3, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

mod mix {
    #[inline(never)]
    pub fn checksum(data: &[u64], rounds: u32) -> u64 {
        let mut h = 1469598103934665603u64;
        for _ in 0..rounds {
            for x in data {
                h = (h ^ x).wrapping_mul(1099511628211);
            }
        }
        h
    }

    pub struct Accumulator {
        pub total: u64,
    }

    impl Accumulator {
        #[inline(never)]
        pub fn add(&mut self, data: &[u64]) {
            for x in data {
                self.total = self.total.wrapping_add(x.rotate_left(7) ^ 0x9e3779b97f4a7c15);
            }
        }
    }
}

#[inline(never)]
fn hash_phase(unit: f64, data: &[u64]) -> u64 {
    let end = cpu_s() + 3.0 * unit;
    let mut h = 0;
    while cpu_s() < end {
        h ^= mix::checksum(data, 4);
    }
    h
}

#[inline(never)]
fn sum_phase(unit: f64, data: &[u64], acc: &mut mix::Accumulator) {
    let end = cpu_s() + unit;
    while cpu_s() < end {
        acc.add(data);
    }
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let data: Vec<u64> = (0..4096u64).map(|i| i * 2654435761).collect();
    let mut acc = mix::Accumulator { total: 0 };
    println!("{}", std::process::id());
    let stop = cpu_s() + seconds;
    let mut h = 0;
    while cpu_s() < stop {
        h ^= hash_phase(0.01, &data);
        sum_phase(0.01, &data, &mut acc);
    }
    if h == 42 && acc.total == 42 {
        println!("unlikely");
    }
}
