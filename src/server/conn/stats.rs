//! The `stats` command family: every shard is asked for its snapshot (one message each),
//! and the answer is formatted from their sum.

use super::{Conn, Flow, VERSION};
use crate::config::Config;
use crate::protocol::number::parse_flags;
use crate::protocol::op::Op;
use crate::protocol::text::{Keys, render};
use crate::server::shard::Shard;
use crate::stats::{self, ProcessInfo, ShardSnapshot, Show};
use std::sync::atomic::Ordering;

impl Conn {
    /// Answers `stats <args>`; anything pending must have been flushed out first.
    pub(super) async fn stats(&mut self, args: Keys<'_>) -> Flow {
        let mut words = args.iter();
        let sub = words.next().unwrap_or(b"");
        if sub == b"cachedump" {
            let (class, limit) = (words.next(), words.next());
            return match (class.map(parse_flags), limit.map(parse_flags)) {
                (Some(Some(class)), Some(Some(limit))) if class < 64 => {
                    self.cachedump(class, limit).await
                }
                (Some(Some(_)), Some(Some(_))) => self.reply(render::ERR_SLAB_ID),
                (Some(_), Some(_)) => self.reply(render::ERR_FORMAT),
                _ => self.reply(render::ERR_COMMAND_LINE),
            };
        }
        self.stats_other(sub, words.next()).await;
        Flow::Read
    }

    fn reply(&mut self, line: &str) -> Flow {
        render::line(&mut self.text.plan.out, line);
        Flow::Read
    }

    /// Every `stats` form but cachedump; `arg` is the word after `sub`, if any.
    async fn stats_other(&mut self, sub: &[u8], arg: Option<&[u8]>) {
        let out = &mut self.text.plan.out;
        if arg.is_some() && sub != b"detail" {
            return render::line(out, render::ERROR);
        }
        match sub {
            b"" | b"items" | b"slabs" | b"conns" | b"shards" | b"reset" | b"replication" => {}
            b"settings" => {
                let shared = &self.shard.shared;
                let crawler = &shared.crawler;
                let live = stats::Live {
                    detail: shared.detail.load(Ordering::Relaxed),
                    maxbytes: shared.memory_limit.load(Ordering::Relaxed),
                    lru_crawler: crawler.enabled(),
                    lru_crawler_tocrawl: crawler.tocrawl.load(Ordering::Relaxed),
                    lru_crawler_sleep: crawler.sleep_us.load(Ordering::Relaxed),
                };
                return stats::write_settings(out, self.shard.cfg(), &live);
            }
            b"sizes" => {
                render::line(out, render::SIZES_DISABLED);
                return render::line(out, render::END);
            }
            b"detail" => match arg.unwrap_or(b"") {
                on @ (b"on" | b"off") => {
                    let flag = &self.shard.shared.detail;
                    flag.store(on == b"on", Ordering::Relaxed);
                    return render::line(out, render::OK);
                }
                // Every shard's counts are gathered below.
                b"dump" => {}
                _ => return render::line(out, render::ERR_STATS_DETAIL),
            },
            _ => return render::line(out, render::ERROR),
        }
        let op = if sub == b"reset" {
            Op::ResetStats
        } else {
            Op::Stats
        };
        let snaps = self.shard.gather(self.token, &self.rx, op).await;
        self.write_stats(sub, &snaps);
    }

    fn write_stats(&mut self, sub: &[u8], snaps: &[ShardSnapshot]) {
        let shard = &self.shard;
        let cfg = shard.cfg();
        let out = &mut self.text.plan.out;
        match sub {
            b"reset" => render::line(out, render::RESET),
            b"items" => stats::write_items(out, snaps, cfg.compat.ext.lru_maintainer),
            b"slabs" => {
                let fake = cfg.compat.initial_malloc;
                stats::write_slabs(out, snaps, cfg.page_size(), fake)
            }
            b"shards" => stats::write_shards(out, snaps),
            b"detail" => {
                let mut all = stats::PrefixStats::default();
                snaps.iter().for_each(|s| all.merge(&s.detail));
                all.write_dump(out);
            }
            b"replication" => stats::write_replication(out, cfg, shard.shared.repl.as_ref(), snaps),
            b"conns" => {
                listen_lines(out, cfg);
                // In the order they opened, as memcached lists them by fd: clients
                // (t/watcher_connid.t) take the last line as their own.
                let mut lines: Vec<_> = snaps.iter().flat_map(|s| &s.conn_lines).collect();
                lines.sort_unstable_by_key(|(id, _)| *id);
                for (_, l) in lines {
                    out.extend_from_slice(l);
                }
                render::line(out, render::END);
            }
            _ => stats::write_general(out, &process_info(shard), snaps),
        }
    }
}

/// The process facts plain `stats` and `/metrics` report beside the shards' counters.
pub fn process_info(shard: &Shard) -> ProcessInfo {
    let cfg = shard.cfg();
    ProcessInfo {
        pid: std::process::id(),
        uptime: shard.shared.started.elapsed().as_secs(),
        now_unix: crate::storage::unix_ms() / 1000,
        version: VERSION,
        max_connections: cfg.conn_limit,
        threads: cfg.shards,
        limit_maxbytes: shard.shared.memory_limit.load(Ordering::Relaxed) as u64,
        reserved_fds: crate::server::limits::fd_headroom(cfg.shards),
        lru_crawler_running: shard.shared.crawler.running(),
        lru_crawler_starts: shard.shared.crawler.starts(),
        show: show(cfg, shard.shared.crawler.enabled()),
        tls: shard.shared.tls.as_ref().map(|t| t.stats()),
        log: shard.shared.watch.stats(),
    }
}

/// Which optional lines of plain `stats` memcached would print with these settings.
fn show(cfg: &Config, lru_crawler: bool) -> Show {
    let ext = &cfg.compat.ext;
    Show {
        maxconns_fast: ext.maxconns_fast,
        idle_timeout: ext.idle_timeout > 0,
        slab_reassign: ext.slab_reassign,
        lru_crawler,
        lru_maintainer: ext.lru_maintainer,
    }
}

/// `stats conns` lists the listening sockets first, as memcached does (ids below every
/// connection's, which start at 1024).
fn listen_lines(out: &mut Vec<u8>, cfg: &Config) {
    use std::io::Write;
    let names: Vec<String> = match &cfg.compat.unix_socket {
        Some(path) => vec![format!("unix:{path}")],
        None => cfg
            .listen_addrs()
            .iter()
            .map(|a| format!("{}:{a}", if a.is_ipv6() { "tcp6" } else { "tcp" }))
            .collect(),
    };
    for (id, name) in names.iter().enumerate() {
        let _ = write!(
            out,
            "STAT {id}:addr {name}\r\nSTAT {id}:state conn_listening\r\nSTAT {id}:secs_since_last_cmd 0\r\n"
        );
    }
    // memcached lists one UDP "connection" per worker thread, each in conn_read.
    let udp = cfg.udp_addrs();
    let each_shard = udp.iter().flat_map(|a| std::iter::repeat_n(a, cfg.shards));
    for (id, addr) in (names.len()..).zip(each_shard) {
        let _ = write!(
            out,
            "STAT {id}:UDP UDP\r\nSTAT {id}:addr udp:{addr}\r\nSTAT {id}:state conn_read\r\nSTAT {id}:secs_since_last_cmd 0\r\n"
        );
    }
}
