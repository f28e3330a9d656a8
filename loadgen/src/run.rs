//! Connects every socket up front (so a dead server is named before any load starts),
//! starts the load threads, and merges their per-second stats into the run's totals.

use crate::cli::Config;
use crate::conn::Sock;
use crate::ketama::Ketama;
use crate::keys::Values;
use crate::stats::{Interval, quantile_us};
use crate::worker::{ABORTED, Msg, Shared, Worker};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// One second of the measured run, for the plot and the JSON timeline.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Point {
    pub t: f64,
    pub ops_per_sec: f64,
    pub hit_ratio: Option<f64>,
    pub p50_us: f64,
    pub p99_us: f64,
}

pub struct Outcome {
    pub total: Interval,
    pub timeline: Vec<Point>,
    pub elapsed: Duration,
    pub started: SystemTime,
    pub prefill_ops: u64,
    pub prefill_secs: f64,
    pub warmup_ops: u64,
    pub mismatches: u64,
    pub mismatch_sample: Vec<String>,
    pub error_sample: Vec<String>,
    /// Open-loop requests that fell due but were never sent (the server fell behind).
    pub unsent: u64,
}

fn connect_all(cfg: &Config) -> Result<Vec<Vec<Sock>>, String> {
    let depth = cfg.pipeline.max(16);
    let mut per_thread = Vec::with_capacity(cfg.threads);
    for _ in 0..cfg.threads {
        let mut socks = Vec::with_capacity(cfg.connections * cfg.servers.len());
        for c in 0..cfg.connections {
            for (si, s) in cfg.servers.iter().enumerate() {
                let sock = Sock::connect(s.addr, si, c, depth).map_err(|e| {
                    format!("cannot connect to server {} ({}): {e}", s.name, s.addr)
                })?;
                socks.push(sock);
            }
        }
        per_thread.push(socks);
    }
    Ok(per_thread)
}

/// Emits, in order, each second that every thread has either reported or finished before.
fn emit_ready(
    pending: &mut BTreeMap<u64, (usize, Interval)>,
    finished: &[u64],
    threads: usize,
    emit: &mut dyn FnMut(&Interval),
) {
    while let Some(entry) = pending.first_entry() {
        let idx = *entry.key();
        let gone = finished.iter().filter(|&&last| last < idx).count();
        if entry.get().0 + gone < threads {
            break;
        }
        let (_, iv) = entry.remove();
        emit(&iv);
    }
}

/// Runs the load; `emit` sees each merged second (with its offset from the start) in order.
pub fn run(cfg: Arc<Config>, emit: &mut dyn FnMut(&Interval, Duration)) -> Result<Outcome, String> {
    let per_thread = connect_all(&cfg)?;
    let ketama = (cfg.servers.len() > 1).then(|| {
        let names: Vec<String> = cfg.servers.iter().map(|s| s.name.clone()).collect();
        Arc::new(Ketama::new(&names))
    });
    let vals = Arc::new(Values::new(cfg.size_min, cfg.size_max));
    let shared = Arc::new(Shared {
        abort: AtomicBool::new(false),
        arrived: [
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        ],
    });
    let (tx, rx) = mpsc::channel();
    let t0 = Instant::now();
    if cfg.prefill && !cfg.quiet {
        eprintln!("prefilling {} keys...", cfg.key_space);
    }
    let mut handles = Vec::new();
    for (id, socks) in per_thread.into_iter().enumerate() {
        let w = Worker::new(
            id,
            cfg.clone(),
            shared.clone(),
            tx.clone(),
            socks,
            ketama.clone(),
            vals.clone(),
        )?;
        let h = std::thread::Builder::new()
            .name(format!("loadgen-{id}"))
            .spawn(move || w.run())
            .map_err(|e| format!("spawn: {e}"))?;
        handles.push(h);
    }
    drop(tx);

    let started = SystemTime::now();
    let mut pending: BTreeMap<u64, (usize, Interval)> = BTreeMap::new();
    let mut out = Outcome {
        total: Interval::new(0),
        timeline: Vec::new(),
        elapsed: Duration::ZERO,
        started,
        prefill_ops: 0,
        prefill_secs: 0.0,
        warmup_ops: 0,
        mismatches: 0,
        mismatch_sample: Vec::new(),
        error_sample: Vec::new(),
        unsent: 0,
    };
    let mut first_error: Option<String> = None;
    let mut last_index: Vec<Option<u64>> = vec![None; cfg.threads];
    let mut finished: Vec<u64> = Vec::new();
    let mut done = 0;
    let mut prefilled = 0;
    let mut offset = Duration::ZERO;
    let mut emit_one = |iv: &Interval, out: &mut Outcome, offset: &mut Duration| {
        emit(iv, *offset);
        let secs = iv.dur.as_secs_f64();
        let lat = iv.total_lat();
        // The closing sliver of a run says little about throughput.
        if secs >= 0.05 {
            let p = Point {
                t: (*offset + iv.dur).as_secs_f64(),
                ops_per_sec: iv.ops() as f64 / secs,
                hit_ratio: iv.hit_ratio(),
                p50_us: quantile_us(&lat, 0.5),
                p99_us: quantile_us(&lat, 0.99),
            };
            if !cfg.quiet {
                eprintln!(
                    "[{:6.1}s] {:>10.0} ops/s  hits {:>6}  p50 {:>8.3} ms  p99 {:>8.3} ms{}",
                    p.t,
                    p.ops_per_sec,
                    p.hit_ratio
                        .map(|h| format!("{:.1}%", h * 100.0))
                        .unwrap_or_else(|| "-".into()),
                    p.p50_us / 1000.0,
                    p.p99_us / 1000.0,
                    if iv.mismatches > 0 {
                        format!("  MISMATCHES {}", iv.mismatches)
                    } else {
                        String::new()
                    }
                );
            }
            out.timeline.push(p);
        }
        *offset += iv.dur;
        out.total.add(iv);
    };
    for msg in rx {
        match msg {
            Msg::PrefillDone => {
                prefilled += 1;
                if prefilled == cfg.threads {
                    out.prefill_secs = t0.elapsed().as_secs_f64();
                    if !cfg.quiet {
                        eprintln!("prefill done in {:.2}s", out.prefill_secs);
                    }
                }
            }
            Msg::Interval(id, iv) => {
                last_index[id] = Some(iv.index);
                let e = pending
                    .entry(iv.index)
                    .or_insert_with(|| (0, Interval::new(iv.index)));
                e.0 += 1;
                e.1.add(&iv);
                emit_ready(&mut pending, &finished, cfg.threads, &mut |iv| {
                    emit_one(iv, &mut out, &mut offset)
                });
            }
            Msg::Done(id, r) => {
                done += 1;
                // A finished thread reports no later seconds; stop waiting for it.
                finished.push(last_index[id].unwrap_or(0));
                emit_ready(&mut pending, &finished, cfg.threads, &mut |iv| {
                    emit_one(iv, &mut out, &mut offset)
                });
                match r {
                    Ok(t) => {
                        out.prefill_ops += t.prefill_ops;
                        out.warmup_ops += t.warmup_ops;
                        out.elapsed = out.elapsed.max(t.measured);
                        out.mismatches += t.mismatches;
                        out.mismatch_sample.extend(t.mismatch_sample);
                        out.error_sample.extend(t.error_sample);
                        out.unsent += t.unsent;
                    }
                    Err(e) if e == ABORTED => {}
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
                if done == cfg.threads {
                    break;
                }
            }
        }
    }
    for h in handles {
        let _ = h.join();
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    // Threads' final partial seconds can carry different indexes; flush what is left.
    while let Some((_, (_, iv))) = pending.pop_first() {
        emit_one(&iv, &mut out, &mut offset);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_wait_for_every_live_thread() {
        let mut pending = BTreeMap::new();
        let mut got = Vec::new();
        pending.insert(0, (2, Interval::new(0)));
        pending.insert(1, (1, Interval::new(1)));
        pending.insert(2, (1, Interval::new(2)));
        emit_ready(&mut pending, &[], 2, &mut |iv| got.push(iv.index));
        assert_eq!(got, vec![0]);
        // The other thread finished after second 0: seconds 1 and 2 need only this one.
        emit_ready(&mut pending, &[0], 2, &mut |iv| got.push(iv.index));
        assert_eq!(got, vec![0, 1, 2]);
        assert!(pending.is_empty());
    }
}
