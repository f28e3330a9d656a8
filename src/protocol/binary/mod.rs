//! memcached's binary protocol as a front end over [`Op`](super::op::Op): `header` holds the
//! 24-byte packet header and the opcode and status numbers, `parse` turns request packets
//! into commands (most of them one op each), `render` writes every response packet,
//! including an op's [`Outcome`](super::op::Outcome) in binary form.

pub mod header;
pub mod parse;
pub mod render;

pub use header::{HEADER_LEN, Header, Status, opcode};
pub use parse::{Cmd, Parsed, Request, parse, peek};
pub use render::Reply;
