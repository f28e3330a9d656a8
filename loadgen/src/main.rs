//! loadgen: a memtier_benchmark-style load generator for memcached-protocol servers that
//! can also run open-loop (--rate) and then reports coordinated-omission-corrected latency.
//!
//! Exit status: 0 ok; 1 setup, connection or protocol failure; 2 verification mismatch;
//! 3 the server answered requests with errors; 64 bad flags (EX_USAGE, as corecached).

mod cli;
mod conn;
mod ketama;
mod keys;
mod plot;
mod proto_binary;
mod proto_meta;
mod proto_text;
mod report;
mod run;
mod stats;
mod worker;

use clap::Parser;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Bad flags: apart from every outcome of a run (clap's own default, 2, is the `--verify`
/// failure's status).
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let args = match cli::Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let cfg = match args.validate() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match real_main(&args, cfg) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(1)
        }
    }
}

fn real_main(args: &cli::Args, cfg: Arc<cli::Config>) -> Result<u8, String> {
    // The interval log is written as the run goes, so a long run keeps no per-second
    // histograms in memory.
    let mut hdr_file = match &args.hdr_out {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("--hdr-out {p}: {e}"))?,
        )),
        None => None,
    };
    let mut serializer = V2DeflateSerializer::new();
    let mut hdr_err: Option<String> = None;
    let outcome = {
        let now = SystemTime::now();
        let mut writer = match hdr_file.as_mut() {
            Some(f) => Some(
                IntervalLogWriterBuilder::new()
                    .add_comment("loadgen latency log, values in nanoseconds")
                    .with_start_time(now)
                    .with_base_time(now)
                    .with_max_value_divisor(1e6)
                    .begin_log_with(f, &mut serializer)
                    .map_err(|e| format!("--hdr-out: {e}"))?,
            ),
            None => None,
        };
        let open = cfg.rate.is_some();
        let mut emit = |iv: &stats::Interval, at: Duration| {
            if let Some(w) = writer.as_mut() {
                let mut r = w.write_histogram(&iv.total_lat(), at, iv.dur, None);
                if r.is_ok() && open {
                    let mut raw = iv.cmds[stats::GET].lat_uncorrected.clone();
                    let _ = raw.add(&iv.cmds[stats::SET].lat_uncorrected);
                    r = w.write_histogram(&raw, at, iv.dur, Tag::new("uncorrected"));
                }
                if let Err(e) = r {
                    hdr_err.get_or_insert(format!("--hdr-out: {e}"));
                }
            }
        };
        run::run(cfg.clone(), &mut emit)?
    };
    if let Some(e) = hdr_err {
        return Err(e);
    }
    if let Some(mut f) = hdr_file {
        f.flush().map_err(|e| format!("--hdr-out: {e}"))?;
    }

    print!("{}", report::text(&cfg, &outcome));
    if let Some(p) = &args.json_out {
        let v = report::json(args, &cfg, &outcome);
        let s = serde_json::to_string_pretty(&v).expect("json values serialize");
        std::fs::write(p, s + "\n").map_err(|e| format!("--json-out {p}: {e}"))?;
    }
    if let Some(p) = &args.plot {
        let total = outcome.total.total_lat();
        let mut raw = outcome.total.cmds[stats::GET].lat_uncorrected.clone();
        let _ = raw.add(&outcome.total.cmds[stats::SET].lat_uncorrected);
        let mut series = vec![(
            if cfg.rate.is_some() {
                "from intended send (corrected)"
            } else {
                "all requests"
            },
            &total,
            false,
        )];
        if cfg.rate.is_some() {
            series.push(("from actual send (uncorrected)", &raw, true));
        }
        let title = format!(
            "loadgen: {} x {} conns, pipeline {}, ratio {}, {}",
            cfg.threads,
            cfg.connections,
            cfg.pipeline,
            args.ratio,
            match cfg.rate {
                Some(r) => format!("open-loop {r} req/s"),
                None => "closed-loop".into(),
            }
        );
        std::fs::write(p, plot::svg(&title, &series, &outcome.timeline))
            .map_err(|e| format!("--plot {p}: {e}"))?;
    }

    for m in &outcome.error_sample {
        eprintln!("loadgen: error reply from {m}");
    }
    for m in &outcome.mismatch_sample {
        eprintln!("loadgen: verify mismatch: {m}");
    }
    if outcome.mismatches > 0 {
        eprintln!("loadgen: {} values failed verification", outcome.mismatches);
        return Ok(2);
    }
    let errors = outcome.total.cmds[stats::GET].errors + outcome.total.cmds[stats::SET].errors;
    if errors > 0 {
        eprintln!("loadgen: {errors} requests were answered with errors");
        return Ok(3);
    }
    Ok(0)
}
