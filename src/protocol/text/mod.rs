//! memcached's text protocol as a front end over [`Op`](super::op::Op): `parse` turns bytes
//! into requests (most of them one op each), `render` holds every reply text this protocol
//! sends and turns an op's [`Outcome`](super::op::Outcome) into those bytes.

pub mod parse;
pub mod render;
pub mod watch;
mod words;

pub use parse::{KEY_MAX_LENGTH, LINE_LIMIT, Parsed, Request, parse};
pub use render::Reply;
pub use words::Keys;
pub(crate) use words::Words;
