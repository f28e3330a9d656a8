//! Every response packet of the binary protocol: statuses with memcached's error bodies,
//! and an op's [`Outcome`] as memcached 1.6 answers it (quiet commands silent on success,
//! the request's opcode and opaque echoed, the item's CAS in the header).

use super::header::opcode::*;
use super::header::{Status, write_response};
use crate::protocol::op::{Arith, Item, Outcome, Removed, Stored};

/// How to answer one request: echoed `opcode` and `opaque`, the loud command `cmd` it
/// stands for, and whether it is a quiet variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub opcode: u8,
    pub cmd: u8,
    pub opaque: u32,
    pub quiet: bool,
}

/// An error (or any bodiless status) with memcached's text for it.
pub fn status(out: &mut Vec<u8>, r: Reply, status: Status) {
    let body = status.body();
    write_response(out, r.opcode, status, (0, 0, body.len()), r.opaque, 0);
    out.extend_from_slice(body);
}

/// A success carrying `body` and `cas`; nothing for a quiet request.
pub fn success(out: &mut Vec<u8>, r: Reply, cas: u64, body: &[u8]) {
    if r.quiet {
        return;
    }
    write_response(
        out,
        r.opcode,
        Status::Success,
        (0, 0, body.len()),
        r.opaque,
        cas,
    );
    out.extend_from_slice(body);
}

/// One `stat` packet; the empty name and value end the list.
pub fn stat(out: &mut Vec<u8>, r: Reply, name: &[u8], value: &[u8]) {
    let lens = (name.len(), 0, name.len() + value.len());
    write_response(out, r.opcode, Status::Success, lens, r.opaque, 0);
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// The response to a keyed op on `key`; `None` is a shard that never answered.
pub fn outcome(out: &mut Vec<u8>, outcome: Option<&Outcome<'_>>, r: Reply, key: &[u8]) {
    let Some(o) = outcome else {
        return status(out, r, Status::TemporaryFailure);
    };
    match *o {
        Outcome::Hit(it) => hit(out, r, it),
        Outcome::Miss => miss(out, r, key),
        Outcome::Stored { result, cas } => stored(out, r, result, cas),
        Outcome::Deleted(Removed::Deleted) => success(out, r, 0, b""),
        Outcome::Deleted(Removed::NotFound) => status(out, r, Status::KeyNotFound),
        Outcome::Deleted(Removed::Exists) => status(out, r, Status::KeyExists),
        Outcome::Arith(Arith::Value { value, cas }) => success(out, r, cas, &value.to_be_bytes()),
        Outcome::Arith(Arith::NotFound) => status(out, r, Status::KeyNotFound),
        Outcome::Arith(Arith::NonNumeric) => status(out, r, Status::NonNumeric),
        Outcome::Arith(Arith::OutOfMemory) => status(out, r, Status::OutOfMemory),
        Outcome::Arith(Arith::Exists) => status(out, r, Status::KeyExists),
        // touch is asked as a get with a new exptime, so a bare touch result never comes;
        // broadcasts (flush) are answered once by the front end; meta outcomes answer
        // only meta requests.
        Outcome::Touched(_) | Outcome::Lines { .. } | Outcome::Meta(_) | Outcome::Done => {}
    }
}

/// A hit: flags as extras, the key for getk/gatk, the value except for touch. Quiet gets
/// answer hits too.
fn hit(out: &mut Vec<u8>, r: Reply, it: Item<'_>) {
    let key: &[u8] = if matches!(r.cmd, GETK | GATK) {
        it.key
    } else {
        b""
    };
    let value: &[u8] = if r.cmd == TOUCH { b"" } else { it.value };
    let lens = (key.len(), 4, 4 + key.len() + value.len());
    write_response(out, r.opcode, Status::Success, lens, r.opaque, it.cas);
    out.extend_from_slice(&it.flags.to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// A miss: silent when quiet; getk/gatk send the key instead of the error text.
fn miss(out: &mut Vec<u8>, r: Reply, key: &[u8]) {
    if r.quiet {
        return;
    }
    if !matches!(r.cmd, GETK | GATK) {
        return status(out, r, Status::KeyNotFound);
    }
    let lens = (key.len(), 0, key.len());
    write_response(out, r.opcode, Status::KeyNotFound, lens, r.opaque, 0);
    out.extend_from_slice(key);
}

fn stored(out: &mut Vec<u8>, r: Reply, result: Stored, cas: u64) {
    let st = match result {
        Stored::Stored => return success(out, r, cas, b""),
        // memcached reports a refused add as "exists" and a refused replace as "not found".
        Stored::NotStored if r.cmd == ADD => Status::KeyExists,
        Stored::NotStored if r.cmd == REPLACE => Status::KeyNotFound,
        Stored::NotStored => Status::NotStored,
        Stored::Exists => Status::KeyExists,
        Stored::NotFound => Status::KeyNotFound,
        Stored::TooLarge => Status::TooLarge,
        Stored::OutOfMemory => Status::OutOfMemory,
    };
    status(out, r, st);
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
