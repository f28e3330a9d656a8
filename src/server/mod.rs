//! The only layer that knows glommio: executors, channel meshes, sockets, signals.

pub mod conn;
pub mod exec;
mod limits;
pub mod lookahead;
mod ports;
pub mod router;
pub mod runtime;
pub mod shard;
mod signals;
pub mod tls;
pub mod twin;
mod udp;
mod unix_socket;

pub use runtime::run;
