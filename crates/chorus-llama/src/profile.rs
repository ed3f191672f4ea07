//! Opt-in timing of the model's operations: with `CHORUS_PROFILE_OPS=1` in the
//! environment every operation of a forward pass (and the host planning before
//! it) is closed by a device sync and its wall time added to a process-wide
//! table, so that on a GPU, where kernels run asynchronously, the table shows
//! where device time goes. Off by default: one sync per operation costs more
//! than some operations.
//!
//! [`report`] renders the table; the binaries print it at the end of a run.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::LlamaError;
use crate::kernels::Kernels;

/// The environment variable that switches per-operation timing on.
pub const PROFILE_ENV: &str = "CHORUS_PROFILE_OPS";

/// What one operation name has recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpTime {
    /// The sum of every call's time.
    pub total: Duration,
    /// How many calls were timed.
    pub calls: u64,
    /// The slowest call: far above `total / calls` where the first call
    /// pays a one-time cost (a library's kernel loaded on first use, memory
    /// mapped for a pool that grows).
    pub slowest: Duration,
}

/// Recorded times per operation name.
static TABLE: Mutex<BTreeMap<&'static str, OpTime>> = Mutex::new(BTreeMap::new());

/// Whether `CHORUS_PROFILE_OPS` is set to something other than `0` or empty.
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::env::var(PROFILE_ENV)
            .map(|v| !v.is_empty() && v != "0")
            .unwrap_or(false)
    })
}

/// Adds `elapsed` to the total of `name`.
pub fn record(name: &'static str, elapsed: Duration) {
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let entry = table.entry(name).or_default();
    entry.total += elapsed;
    entry.calls += 1;
    entry.slowest = entry.slowest.max(elapsed);
}

/// Runs `op` inside a trace span named `name`; when profiling is on, between
/// two device syncs, recording its time. A name `outer/part` marks a part of
/// an operation timed as `outer`.
pub(crate) fn timed<K: Kernels, T>(
    kernels: &K,
    name: &'static str,
    op: impl FnOnce() -> Result<T, LlamaError>,
) -> Result<T, LlamaError> {
    let _span = tracing::trace_span!("op", name).entered();
    if !enabled() {
        return op();
    }
    kernels.sync()?;
    let started = Instant::now();
    let out = op()?;
    kernels.sync()?;
    record(name, started.elapsed());
    Ok(out)
}

/// The recorded times, largest total first.
pub fn totals() -> Vec<(&'static str, OpTime)> {
    let table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let mut rows: Vec<_> = table.iter().map(|(n, t)| (*n, *t)).collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1.total));
    rows
}

/// The table as text (one line per operation with its share of the total),
/// or `None` when nothing was recorded.
pub fn report() -> Option<String> {
    let rows = totals();
    // `a/b` names are parts of `a`, timed inside it: not added twice.
    let total: Duration = rows
        .iter()
        .filter(|r| !r.0.contains('/'))
        .map(|r| r.1.total)
        .sum();
    if rows.is_empty() || total.is_zero() {
        return None;
    }
    let mut text = format!("operation times ({PROFILE_ENV}, synced per operation):\n");
    for (name, time) in rows {
        text.push_str(&format!(
            "  {name:<16} {:>9.3} s {:>5.1} % {:>8} calls, slowest {:>8.3} ms\n",
            time.total.as_secs_f64(),
            100.0 * time.total.as_secs_f64() / total.as_secs_f64(),
            time.calls,
            1e3 * time.slowest.as_secs_f64()
        ));
    }
    text.push_str(&format!(
        "  {:<16} {:>9.3} s\n",
        "total",
        total.as_secs_f64()
    ));
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_times_add_up_per_name() {
        record("test-op-a", Duration::from_millis(3));
        record("test-op-a", Duration::from_millis(4));
        record("test-op-b", Duration::from_millis(1));
        let rows = totals();
        let a = rows.iter().find(|r| r.0 == "test-op-a").unwrap();
        let expected = OpTime {
            total: Duration::from_millis(7),
            calls: 2,
            slowest: Duration::from_millis(4),
        };
        assert_eq!(a.1, expected);
        let text = report().unwrap();
        assert!(text.contains("test-op-a") && text.contains("test-op-b"));
        assert!(text.contains("slowest    4.000 ms"), "{text}");
    }
}
