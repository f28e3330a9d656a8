//! memcached's meta protocol (mg, ms, md, ma, mn, me) as a second front end over
//! [`Op`](super::op::Op): requests arrive on the text stream, `parse` turns a meta line into
//! an `Op::Meta` request, `render` writes its outcome with the flags in request order.

pub mod flags;
pub mod parse;
pub mod render;

pub use flags::Flags;
pub use parse::Request;
pub use render::Echo;

#[cfg(test)]
mod tests;
