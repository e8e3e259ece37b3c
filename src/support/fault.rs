//! Test-only crash switch. `JUTSU_TEST_KILL_AT=<point>` (or `<point>:<n>` for its n-th pass)
//! aborts the process at a named point of the trade pipeline, as a power cut or a `kill -9`
//! would, so that tests can prove a rerun finishes the job without sending anything twice.
//! It exists only in builds with the `test-hooks` feature; elsewhere `kill_point` is empty.

/// Aborts the process if the switch names this point (and this pass of it).
#[cfg(feature = "test-hooks")]
pub fn kill_point(name: &str) {
    use std::sync::Mutex;
    static PASSES: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());

    let Ok(target) = std::env::var("JUTSU_TEST_KILL_AT") else {
        return;
    };
    let (point, nth) = match target.split_once(':') {
        Some((p, n)) => (p.to_string(), n.parse().unwrap_or(1)),
        None => (target.clone(), 1),
    };
    if point != name {
        return;
    }
    let pass = {
        let mut passes = PASSES.lock().unwrap_or_else(|p| p.into_inner());
        match passes.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                passes.push((name.to_string(), 1));
                1
            }
        }
    };
    if pass == nth {
        eprintln!("killed at {name} (JUTSU_TEST_KILL_AT={target})");
        std::process::abort();
    }
}

/// Without the `test-hooks` feature there are no kill points.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn kill_point(_name: &str) {}
