//! Long listings (`lru_crawler metadump`, `stats cachedump`) streamed a step at a time: a
//! shard lists at most `exec::DUMP_STEP` items per step, the connection writes them before
//! it asks for the next step, and the shard serves other connections in between. No listing
//! is ever held whole, and none holds a shard for longer than one step.

use super::{Conn, Flow};
use crate::protocol::op::{Op, Outcome};
use crate::protocol::text::render;
use crate::server::exec::DUMP_STEP;
use crate::server::router::Batch;
use std::time::Duration;

/// memcached caps a cachedump's answer at 2 MB, `END` included.
const CACHEDUMP_BYTES: usize = 2 * 1024 * 1024;

/// How long a dump waits between steps. Any wait at all sends the shard through its
/// reactor (which yielding alone does not: glommio runs ready tasks until its 100 ms preempt
/// timer before it polls for I/O again), so the other connections' requests are read and
/// answered between two steps.
const PAUSE: Duration = Duration::from_micros(10);

impl Conn {
    /// `lru_crawler metadump` of the classes in the mask: every shard in turn, step by step.
    pub(super) async fn metadump(&mut self, classes: u64) -> Flow {
        for s in 0..self.shard.nshards {
            let mut cursor = 0;
            loop {
                let Some(resume) = self.dump_step(s, Op::Dump { classes, cursor }).await else {
                    render::line(&mut self.text.plan.out, render::ERR_SHARD_UNAVAILABLE);
                    return Flow::Read;
                };
                if self.write_out().await.is_err() || self.shard.shared.shutting_down() {
                    return Flow::Close;
                }
                match resume {
                    Some(c) => cursor = c,
                    None => break,
                }
                glommio::timer::sleep(PAUSE).await;
            }
        }
        render::line(&mut self.text.plan.out, render::END);
        Flow::Read
    }

    /// `stats cachedump <class> <limit>`: at most `limit` items (0: no limit) of class id
    /// `class`, shard after shard, in at most 2 MB as memcached has it: the listing stops at
    /// the first line that would not fit.
    pub(super) async fn cachedump(&mut self, class: u32, limit: u32) -> Flow {
        let mut left = if limit == 0 { u32::MAX } else { limit };
        // memcached takes a line only while it leaves room for "END\r\n" and a NUL.
        let mut room = CACHEDUMP_BYTES - 6;
        'shards: for s in 0..self.shard.nshards {
            let mut cursor = 0;
            while left > 0 {
                let start = self.text.plan.out.len();
                let max = left.min(DUMP_STEP as u32);
                let op = Op::CacheDump { class, max, cursor };
                let Some(resume) = self.dump_step(s, op).await else {
                    break 'shards;
                };
                let out = &mut self.text.plan.out;
                let (kept, lines) = fit_lines(&out[start..], room);
                let full = start + kept < out.len();
                out.truncate(start + kept);
                room -= kept;
                left -= lines;
                if self.write_out().await.is_err() || self.shard.shared.shutting_down() {
                    return Flow::Close;
                }
                match resume {
                    _ if full => break 'shards,
                    Some(c) => cursor = c,
                    None => break,
                }
                glommio::timer::sleep(PAUSE).await;
            }
        }
        render::line(&mut self.text.plan.out, render::END);
        Flow::Read
    }

    /// Runs one dump step on shard `s` and appends its lines to the output; the cursor of
    /// the next step, or None if the shard did not answer.
    async fn dump_step(&mut self, s: usize, op: Op<'_>) -> Option<Option<u64>> {
        let shard = self.shard.clone();
        let out = &mut self.text.plan.out;
        if s == shard.id {
            return Some(shard.run(op, |o| lines(out, o)));
        }
        let mut batches: Vec<Batch> = (0..shard.nshards).map(|_| Batch::default()).collect();
        batches[s].push(op);
        if shard.send_batches(self.token, &mut batches).await == 0 {
            return None;
        }
        let reply = self.rx.recv().await?;
        let outcome = reply.outcome(0)?;
        Some(lines(&mut self.text.plan.out, &outcome))
    }
}

/// Appends a dump step's lines to `out` and returns its resume cursor.
fn lines(out: &mut Vec<u8>, o: &Outcome<'_>) -> Option<u64> {
    match *o {
        Outcome::Lines { text, resume } => {
            out.extend_from_slice(text);
            resume
        }
        _ => None,
    }
}

/// How many bytes of whole lines at the start of `text` fit in `room`, and how many lines.
fn fit_lines(text: &[u8], room: usize) -> (usize, u32) {
    let (mut kept, mut lines) = (0, 0);
    for line in text.split_inclusive(|&b| b == b'\n') {
        if kept + line.len() > room {
            break;
        }
        kept += line.len();
        lines += 1;
    }
    (kept, lines)
}

#[cfg(test)]
mod tests {
    use super::fit_lines;

    #[test]
    fn only_whole_lines_that_fit() {
        let text = b"ITEM a [1 b; 0 s]\r\nITEM bb [1 b; 0 s]\r\n";
        assert_eq!(fit_lines(text, 1000), (text.len(), 2));
        assert_eq!(fit_lines(text, 19), (19, 1));
        assert_eq!(fit_lines(text, 18), (0, 0));
        assert_eq!(fit_lines(b"", 5), (0, 0));
    }
}
