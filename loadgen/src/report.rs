//! End-of-run output: the memtier-like table on stdout and the JSON summary.

use crate::cli::{Args, Config};
use crate::run::Outcome;
use crate::stats::{CmdStats, GET, PERCENTILES, SET, max_us, quantile_us};
use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};
use std::fmt::Write;

fn lat_json(h: &Histogram<u64>) -> Value {
    let mut m = Map::new();
    for (name, q) in PERCENTILES {
        m.insert(name.into(), json!(round3(quantile_us(h, q))));
    }
    m.insert("max".into(), json!(round3(max_us(h))));
    m.insert(
        "mean".into(),
        json!(round3(if h.is_empty() { 0.0 } else { h.mean() / 1000.0 })),
    );
    Value::Object(m)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn totals(o: &Outcome) -> CmdStats {
    let mut t = o.total.cmds[GET].clone();
    t.add(&o.total.cmds[SET]);
    t
}

fn row(out: &mut String, name: &str, c: &CmdStats, secs: f64, uncorrected: bool, is_get: bool) {
    let h = if uncorrected {
        &c.lat_uncorrected
    } else {
        &c.lat
    };
    let ms = |q: f64| quantile_us(h, q) / 1000.0;
    let (hits, misses) = if is_get {
        (
            format!("{:.2}", c.hits as f64 / secs),
            format!("{:.2}", c.misses as f64 / secs),
        )
    } else {
        ("---".to_string(), "---".to_string())
    };
    let _ = writeln!(
        out,
        "{:<8}{:>13.2}{:>13}{:>13}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>8}{:>12.2}",
        name,
        c.ops as f64 / secs,
        hits,
        misses,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        ms(0.9999),
        max_us(h) / 1000.0,
        c.errors,
        c.bytes as f64 / 1024.0 / secs,
    );
}

fn table(o: &Outcome, secs: f64, uncorrected: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<8}{:>13}{:>13}{:>13}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>8}{:>12}",
        "Type",
        "Ops/sec",
        "Hits/sec",
        "Misses/sec",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "p99.99 ms",
        "Max ms",
        "Errors",
        "KB/sec"
    );
    let _ = writeln!(s, "{}", "-".repeat(137));
    row(&mut s, "Sets", &o.total.cmds[SET], secs, uncorrected, false);
    row(&mut s, "Gets", &o.total.cmds[GET], secs, uncorrected, true);
    row(&mut s, "Totals", &totals(o), secs, uncorrected, true);
    s
}

pub fn text(cfg: &Config, o: &Outcome) -> String {
    let secs = o.elapsed.as_secs_f64().max(1e-9);
    let mut s = String::new();
    let mode = match cfg.rate {
        Some(r) => format!("open-loop at {r} req/s"),
        None => "closed-loop".into(),
    };
    let _ = writeln!(
        s,
        "\n{} threads x {} connections x {} server(s), pipeline {}, {mode}, {:.2}s measured",
        cfg.threads,
        cfg.connections,
        cfg.servers.len(),
        cfg.pipeline,
        secs
    );
    if cfg.rate.is_some() {
        let _ = writeln!(
            s,
            "Latency from each request's intended send time (coordinated-omission corrected):"
        );
    }
    s.push_str(&table(o, secs, false));
    if cfg.rate.is_some() {
        let _ = writeln!(
            s,
            "\nLatency from the actual send time (uncorrected, for comparison only):"
        );
        s.push_str(&table(o, secs, true));
    }
    let _ = writeln!(
        s,
        "\nops {} (gets count every key, like cmd_get), prefill ops {}, warmup ops {}",
        o.total.ops(),
        o.prefill_ops,
        o.warmup_ops
    );
    if cfg.verify {
        let _ = writeln!(s, "verify mismatches: {}", o.mismatches);
    }
    if o.unsent > 0 {
        let _ = writeln!(
            s,
            "WARNING: {} requests fell due but were never sent: the server did not keep up with --rate \
             (their latency is unbounded and not in the percentiles above)",
            o.unsent
        );
    }
    s
}

fn cmd_json(c: &CmdStats, secs: f64, open: bool) -> Value {
    let mut v = json!({
        "ops": c.ops,
        "requests": c.requests,
        "ops_per_sec": round3(c.ops as f64 / secs),
        "hits": c.hits,
        "misses": c.misses,
        "errors": c.errors,
        "kb_per_sec": round3(c.bytes as f64 / 1024.0 / secs),
        "latency_us": lat_json(&c.lat),
    });
    if open {
        v["uncorrected_latency_us"] = lat_json(&c.lat_uncorrected);
    }
    v
}

pub fn json(args: &Args, cfg: &Config, o: &Outcome) -> Value {
    let secs = o.elapsed.as_secs_f64().max(1e-9);
    let open = cfg.rate.is_some();
    let t = totals(o);
    let mut v = json!({
        "ops_per_sec": round3(t.ops as f64 / secs),
        "ops": t.ops,
        "requests": t.requests,
        "duration_secs": round3(secs),
        "hit_ratio": o.total.hit_ratio(),
        "errors": t.errors,
        "kb_per_sec": round3(t.bytes as f64 / 1024.0 / secs),
        "latency_us": lat_json(&t.lat),
        "get": cmd_json(&o.total.cmds[GET], secs, open),
        "set": cmd_json(&o.total.cmds[SET], secs, open),
        "verify_mismatches": o.mismatches,
        "prefill_ops": o.prefill_ops,
        "prefill_secs": round3(o.prefill_secs),
        "warmup_ops": o.warmup_ops,
        "unsent_backlog": o.unsent,
        "open_loop": open,
        "started_unix_secs": o
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| round3(d.as_secs_f64()))
            .unwrap_or(0.0),
        "params": serde_json::to_value(args).unwrap_or(Value::Null),
        "timeline": o.timeline,
    });
    if open {
        v["uncorrected_latency_us"] = lat_json(&t.lat_uncorrected);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Interval;
    use clap::Parser;
    use std::time::{Duration, SystemTime};

    fn outcome() -> Outcome {
        let mut total = Interval::new(0);
        for us in 1..=1000u64 {
            total.cmds[GET].lat.record(us * 1000).unwrap();
        }
        total.cmds[GET].ops = 1000;
        total.cmds[GET].requests = 1000;
        total.cmds[GET].hits = 900;
        total.cmds[GET].misses = 100;
        total.cmds[SET].ops = 100;
        total.cmds[SET].lat.record(2_000_000).unwrap();
        Outcome {
            total,
            timeline: vec![],
            elapsed: Duration::from_secs(2),
            started: SystemTime::now(),
            prefill_ops: 0,
            prefill_secs: 0.0,
            warmup_ops: 0,
            mismatches: 0,
            mismatch_sample: vec![],
            error_sample: vec![],
            unsent: 0,
        }
    }

    #[test]
    fn json_has_the_promised_fields() {
        let args = Args::parse_from(["loadgen", "--verify"]);
        let cfg = args.validate().unwrap();
        let v = json(&args, &cfg, &outcome());
        assert_eq!(v["ops_per_sec"], json!(550.0));
        assert_eq!(v["get"]["hits"], json!(900));
        assert_eq!(v["set"]["ops"], json!(100));
        let p50 = v["latency_us"]["p50"].as_f64().unwrap();
        assert!((495.0..=510.0).contains(&p50), "{p50}");
        assert!(v["latency_us"]["max"].as_f64().unwrap() >= 1999.0);
        for k in ["p90", "p99", "p999", "p9999"] {
            assert!(v["latency_us"][k].is_number(), "{k}");
        }
        assert_eq!(v["verify_mismatches"], json!(0));
        assert_eq!(v["params"]["verify"], json!(true));
        assert!(v.get("uncorrected_latency_us").is_none());
    }

    #[test]
    fn table_rows_and_milliseconds() {
        let args = Args::parse_from(["loadgen"]);
        let cfg = args.validate().unwrap();
        let t = text(&cfg, &outcome());
        assert!(t.contains("Sets"));
        assert!(t.contains("Gets"));
        let totals = t.lines().find(|l| l.starts_with("Totals")).unwrap();
        // 1100 ops over 2 s; the slow set is the max.
        assert!(totals.contains("550.00"), "{totals}");
        assert!(
            totals.contains("2.000") || totals.contains("2.001"),
            "{totals}"
        );
    }
}
