//! What one parsed reply does to the request it answers: count a hit, check its value,
//! mark an error, or end the request. Text, meta and binary replies all come here as the
//! text module's items.

use super::{Mode, SAMPLE, Worker};
use crate::cli::Protocol;
use crate::keys::parse_key;
use crate::proto_text::Item;
use crate::stats::{GET, SET};
use std::time::Instant;

impl Worker {
    /// `last`: the reply is the final one of its request whatever it says (binary's answers
    /// to SET, GETK and NOOP); text and meta replies pass false and end by their kind.
    pub(super) fn on_item(
        &mut self,
        si: usize,
        item: Item<'_>,
        last: bool,
        used: u64,
        now: Instant,
    ) -> Result<(), String> {
        let Some(part) = self.socks[si].parts.front().copied() else {
            return Err(format!(
                "server {} sent a reply nobody asked for: {item:?}",
                self.server_name(si)
            ));
        };
        let c = self.socks[si].conn;
        self.conns[c].slots[part.slot as usize].bytes += used;
        // Meta and binary requests are quiet: failures before the end only mark them.
        let quiet = self.cfg.protocol != Protocol::Text;
        match item {
            Item::Value { key, flags, data } => {
                if part.cmd != GET {
                    return self.unexpected(si, part.cmd, &item);
                }
                self.conns[c].slots[part.slot as usize].hits += 1;
                if self.cfg.verify {
                    self.verify(key, flags, data);
                }
                if !last {
                    return Ok(());
                }
            }
            Item::End if part.cmd == GET || quiet => {}
            // A binary GETK's miss: the request is answered, with nothing.
            Item::NotFound if last && part.cmd == GET => {}
            Item::NotStored | Item::Exists | Item::NotFound | Item::Error(_) if quiet => {
                self.conns[c].slots[part.slot as usize].errored = true;
                if let Item::Error(msg) = item {
                    self.sample_error(si, msg);
                }
                if !last {
                    return Ok(());
                }
            }
            Item::Stored if part.cmd == SET => {}
            Item::NotStored | Item::Exists | Item::NotFound if part.cmd == SET => {
                self.conns[c].slots[part.slot as usize].errored = true;
            }
            Item::Error(msg) => {
                self.conns[c].slots[part.slot as usize].errored = true;
                self.sample_error(si, msg);
            }
            _ => return self.unexpected(si, part.cmd, &item),
        }
        self.socks[si].parts.pop_front();
        let slot = &mut self.conns[c].slots[part.slot as usize];
        slot.parts_left -= 1;
        if slot.parts_left == 0 {
            self.finish(c, part.slot, now);
        }
        Ok(())
    }

    fn unexpected(&self, si: usize, cmd: usize, item: &Item<'_>) -> Result<(), String> {
        Err(format!(
            "protocol error from server {}: {item:?} in reply to a {}",
            self.server_name(si),
            crate::stats::CMD_NAMES[cmd]
        ))
    }

    fn sample_error(&mut self, si: usize, msg: &[u8]) {
        if self.error_sample.len() < SAMPLE {
            let name = self.server_name(si);
            self.error_sample
                .push(format!("server {name}: {}", String::from_utf8_lossy(msg)));
        }
    }

    /// Counts (and samples) a value that is not what its key stores.
    fn verify(&mut self, key: &[u8], flags: u32, data: &[u8]) {
        let ok = flags == 0
            && parse_key(key, &self.prefix)
                .filter(|k| *k < self.cfg.key_space)
                .is_some_and(|k| self.vals.check(data, key, k));
        if ok {
            return;
        }
        self.mismatches += 1;
        if self.mode == Mode::Measure {
            self.cur.mismatches += 1;
        }
        if self.mismatch_sample.len() < SAMPLE {
            self.mismatch_sample.push(format!(
                "key {:?} flags {flags}: got {} bytes {:?}",
                String::from_utf8_lossy(key),
                data.len(),
                String::from_utf8_lossy(&data[..data.len().min(40)])
            ));
        }
    }
}
