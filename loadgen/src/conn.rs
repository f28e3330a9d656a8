//! One non-blocking TCP socket to one server: its reused read and write buffers, the queue of
//! request parts awaiting a reply, and a thin epoll wrapper to wait on many of them.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// A request, or the share of a multiget bound for one server, waiting for its reply.
#[derive(Clone, Copy, Debug)]
pub struct Part {
    pub slot: u32,
    pub cmd: usize,
}

pub struct Sock {
    pub stream: TcpStream,
    pub server: usize,
    pub conn: usize,
    pub rbuf: Vec<u8>,
    pub rstart: usize,
    pub rend: usize,
    pub wbuf: Vec<u8>,
    pub wpos: usize,
    pub parts: VecDeque<Part>,
    pub dirty: bool,
}

pub enum ReadOutcome {
    /// `n` new bytes are at `rbuf[rend - n..rend]`.
    Data(usize),
    WouldBlock,
    Closed,
}

impl Sock {
    pub fn connect(addr: SocketAddr, server: usize, conn: usize, depth: usize) -> io::Result<Sock> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Sock {
            stream,
            server,
            conn,
            rbuf: vec![0; 64 * 1024],
            rstart: 0,
            rend: 0,
            wbuf: Vec::with_capacity(16 * 1024),
            wpos: 0,
            parts: VecDeque::with_capacity(depth.max(8)),
            dirty: false,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Reads once into the free tail of the read buffer, making room first.
    pub fn read_some(&mut self) -> io::Result<ReadOutcome> {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        if self.rend == self.rbuf.len() {
            if self.rstart > 0 {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            } else {
                // One item bigger than the buffer (a large value): grow, rarely.
                let n = self.rbuf.len() * 2;
                self.rbuf.resize(n, 0);
            }
        }
        match self.stream.read(&mut self.rbuf[self.rend..]) {
            Ok(0) => Ok(ReadOutcome::Closed),
            Ok(n) => {
                self.rend += n;
                Ok(ReadOutcome::Data(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(ReadOutcome::Data(0)),
            Err(e) => Err(e),
        }
    }

    /// Room left after `rend` (a read that fills it may have left more in the kernel).
    pub fn read_room(&self) -> usize {
        self.rbuf.len() - self.rend
    }

    /// Writes as much queued output as the socket takes; returns bytes written.
    pub fn flush(&mut self) -> io::Result<usize> {
        let mut total = 0;
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(n) => {
                    self.wpos += n;
                    total += n;
                }
                // The edge-triggered EPOLLOUT tells us when to go on.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        }
        Ok(total)
    }
}

pub struct Epoll {
    fd: RawFd,
    events: Vec<libc::epoll_event>,
    // epoll_pwait2 (Linux 5.11+) sleeps with nanosecond timeouts; without it, waits shorter
    // than a millisecond have to spin.
    pwait2: bool,
}

impl Epoll {
    pub fn new(capacity: usize) -> io::Result<Epoll> {
        // SAFETY: plain syscall; the fd is owned by this struct and closed in Drop.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let events = vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(16)];
        Ok(Epoll {
            fd,
            events,
            pwait2: true,
        })
    }

    /// Edge-triggered for both directions, so no epoll_ctl is needed while running.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLET | libc::EPOLLRDHUP) as u32,
            u64: token,
        };
        // SAFETY: ev outlives the call; fd is an open socket.
        let r = unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` (zero polls); returns how many events are in `event(i)`.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<usize> {
        let (ptr, len) = (self.events.as_mut_ptr(), self.events.len() as i32);
        if self.pwait2 {
            let ts = libc::timespec {
                tv_sec: timeout.as_secs() as libc::time_t,
                tv_nsec: timeout.subsec_nanos() as libc::c_long,
            };
            // SAFETY: the event buffer holds `len` entries; ts outlives the call; a null
            // sigmask means the signal mask is left alone.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.fd,
                    ptr,
                    len,
                    &ts as *const libc::timespec,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => return Ok(0),
                Some(libc::ENOSYS) => self.pwait2 = false,
                _ => return Err(e),
            }
        }
        // Whole milliseconds, rounded down so a due send is never late; the rest spins.
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: the buffer holds `len` entries and lives in self.
        let n = unsafe { libc::epoll_wait(self.fd, ptr, len, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }

    pub fn event(&self, i: usize) -> (u64, u32) {
        let e = self.events[i];
        (e.u64, e.events)
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: fd was returned by epoll_create1 and is closed once.
        unsafe { libc::close(self.fd) };
    }
}
