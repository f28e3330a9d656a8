//! The binary protocol's fixed 24-byte header (big-endian fields), its opcodes and its
//! response statuses with the error bodies memcached 1.6 sends for them.

pub const HEADER_LEN: usize = 24;
pub const REQUEST_MAGIC: u8 = 0x80;
pub const RESPONSE_MAGIC: u8 = 0x81;

/// The opcodes memcached 1.6 knows; the quiet ones follow their loud twins.
pub mod opcode {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCREMENT: u8 = 0x05;
    pub const DECREMENT: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCREMENTQ: u8 = 0x15;
    pub const DECREMENTQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    pub const VERBOSITY: u8 = 0x1b;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const SASL_LIST_MECHS: u8 = 0x20;
    pub const SASL_AUTH: u8 = 0x21;
    pub const SASL_STEP: u8 = 0x22;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;

    /// The loud opcode of a quiet one, and whether it was quiet.
    pub fn loud(op: u8) -> (u8, bool) {
        match op {
            SETQ => (SET, true),
            ADDQ => (ADD, true),
            REPLACEQ => (REPLACE, true),
            DELETEQ => (DELETE, true),
            INCREMENTQ => (INCREMENT, true),
            DECREMENTQ => (DECREMENT, true),
            QUITQ => (QUIT, true),
            FLUSHQ => (FLUSH, true),
            APPENDQ => (APPEND, true),
            PREPENDQ => (PREPEND, true),
            GETQ => (GET, true),
            GETKQ => (GETK, true),
            GATQ => (GAT, true),
            GATKQ => (GATK, true),
            op => (op, false),
        }
    }
}

/// A response status; `body` is the text memcached sends with it as an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Status {
    Success = 0x00,
    KeyNotFound = 0x01,
    KeyExists = 0x02,
    TooLarge = 0x03,
    InvalidArguments = 0x04,
    NotStored = 0x05,
    NonNumeric = 0x06,
    AuthError = 0x20,
    AuthContinue = 0x21,
    UnknownCommand = 0x81,
    OutOfMemory = 0x82,
    /// Ours: an owning shard that never answered (memcached has the code, never sends it).
    TemporaryFailure = 0x86,
}

impl Status {
    pub fn body(self) -> &'static [u8] {
        match self {
            Status::Success | Status::AuthContinue => b"",
            Status::KeyNotFound => b"Not found",
            Status::KeyExists => b"Data exists for key.",
            Status::TooLarge => b"Too large.",
            Status::InvalidArguments => b"Invalid arguments",
            Status::NotStored => b"Not stored.",
            Status::NonNumeric => b"Non-numeric server-side value for incr or decr",
            Status::AuthError => b"Auth failure.",
            Status::UnknownCommand => b"Unknown command",
            Status::OutOfMemory => b"Out of memory",
            Status::TemporaryFailure => b"Temporary failure",
        }
    }
}

/// A request header, fields in host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub magic: u8,
    pub opcode: u8,
    pub keylen: u16,
    pub extlen: u8,
    pub bodylen: u32,
    pub opaque: u32,
    pub cas: u64,
}

impl Header {
    /// The header at the start of `b`, which holds at least [`HEADER_LEN`] bytes.
    pub fn read(b: &[u8]) -> Header {
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap());
        Header {
            magic: b[0],
            opcode: b[1],
            keylen: u16_at(2),
            extlen: b[4],
            bodylen: u32_at(8),
            // The opaque goes back as it came, so its byte order does not matter.
            opaque: u32::from_ne_bytes(b[12..16].try_into().unwrap()),
            cas: u64::from_be_bytes(b[16..24].try_into().unwrap()),
        }
    }
}

/// Appends a response header.
pub fn write_response(
    out: &mut Vec<u8>,
    opcode: u8,
    status: Status,
    (keylen, extlen, bodylen): (usize, usize, usize),
    opaque: u32,
    cas: u64,
) {
    out.push(RESPONSE_MAGIC);
    out.push(opcode);
    out.extend_from_slice(&(keylen as u16).to_be_bytes());
    out.push(extlen as u8);
    out.push(0);
    out.extend_from_slice(&(status as u16).to_be_bytes());
    out.extend_from_slice(&(bodylen as u32).to_be_bytes());
    out.extend_from_slice(&opaque.to_ne_bytes());
    out.extend_from_slice(&cas.to_be_bytes());
}
