//! The only layer that knows glommio: executors, channel meshes, sockets, signals.

pub mod conn;
pub mod crawler;
pub mod exec;
pub mod handoff;
pub mod lifecycle;
mod limits;
pub mod lookahead;
mod metrics_http;
pub mod pool;
mod ports;
pub mod router;
pub mod runtime;
pub mod shard;
mod signals;
pub mod spread;
pub mod tls;
pub mod twin;
mod udp;
mod unix_socket;
mod wall;
pub mod watch;

pub use runtime::run;
