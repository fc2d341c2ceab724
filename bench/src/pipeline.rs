//! Request/response over several kernel connections, each with several
//! requests outstanding (pipelining): the client's loop and the echo
//! server's loop, on non-blocking sockets that either spin (busy-polled) or
//! wait in `poll(2)` (blocking).
//!
//! `rr` uses these when it runs more than one connection or more than one
//! request in flight; one connection with one request at a time keeps
//! `rr`'s plain blocking or spinning `read`/`write` loop.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::apps::Timed;
use crate::bulk::KernelTcpCounters;
use crate::cpu::thread_cpu;
use crate::rr::{RrFigure, write_full};
use crate::{BenchError, Result};

/// Waits until one of `socks` is readable (at most 10 ms), unless `busy`.
fn wait_readable(socks: &[TcpStream], busy: bool) -> Result<()> {
    if busy {
        std::hint::spin_loop();
        return Ok(());
    }
    wait(socks, PollFlags::POLLIN)
}

/// Waits in `poll(2)` (at most 10 ms) until one of `socks` is ready for
/// `events`.
pub fn wait(socks: &[TcpStream], events: PollFlags) -> Result<()> {
    let mut fds: Vec<PollFd<'_>> = socks
        .iter()
        .map(|s| PollFd::new(s.as_fd(), events))
        .collect();
    match poll(&mut fds, PollTimeout::from(10u16)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(BenchError(format!("poll: {e}"))),
    }
}

/// Reads what `s` has; `Ok(None)` at the end of the stream.
fn read_some(s: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    match s.read(buf) {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => Ok(Some(0)),
        Err(e) => Err(e),
    }
}

/// The client: `depth` requests of `size` bytes in flight on each of
/// `socks`; each response completes the oldest request of its connection and
/// issues the next, until `timed`'s window is over; then the requests in
/// flight are read back, so that both ends saw the same bytes.
pub fn client(
    socks: &mut [TcpStream],
    size: usize,
    depth: usize,
    mut timed: Timed,
    busy: bool,
    deadline: Instant,
) -> Result<RrFigure> {
    let (cpu0, wall0, tcp0) = (thread_cpu(), Instant::now(), KernelTcpCounters::read());
    let req = vec![0x42u8; size];
    let mut buf = vec![0u8; 64 * 1024];
    for s in socks.iter() {
        s.set_nonblocking(true)?;
        s.set_nodelay(true)?;
    }
    timed.start(Instant::now());
    let mut issued: Vec<(VecDeque<Instant>, usize)> = Vec::with_capacity(socks.len());
    for s in socks.iter_mut() {
        let mut q = VecDeque::with_capacity(depth);
        for _ in 0..depth {
            q.push_back(Instant::now());
            write_full(s, &req, deadline)?;
        }
        issued.push((q, 0));
    }
    let mut over = false;
    while issued.iter().any(|(q, _)| !q.is_empty()) {
        if Instant::now() >= deadline {
            return Err(BenchError("responses stopped coming".into()));
        }
        wait_readable(socks, busy)?;
        for (s, (q, got)) in socks.iter_mut().zip(issued.iter_mut()) {
            let Some(n) = read_some(s, &mut buf)? else {
                return Err(BenchError("the server closed the connection".into()));
            };
            *got += n;
            while *got >= size {
                *got -= size;
                let Some(began) = q.pop_front() else {
                    return Err(BenchError("a response nobody asked for".into()));
                };
                over |= timed.record(began, Instant::now());
                if !over {
                    q.push_back(Instant::now());
                    write_full(s, &req, deadline)?;
                }
            }
        }
    }
    let mut fig = RrFigure::from_timed(timed, size, None)?;
    fig.work.client_cpu = thread_cpu() - cpu0;
    fig.work.wall = wall0.elapsed();
    fig.retransmits = KernelTcpCounters::read().since(&tcp0).retrans_segs;
    Ok(fig)
}

/// The echo server: writes back whatever each of `socks` sends until every
/// one is closed (or `deadline`). Returns its CPU time and the bytes echoed.
pub fn echo_server(
    mut socks: Vec<TcpStream>,
    busy: bool,
    deadline: Instant,
) -> Result<(Duration, u64)> {
    let cpu0 = thread_cpu();
    for s in &socks {
        s.set_nonblocking(true)?;
        s.set_nodelay(true)?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut echoed = 0u64;
    while !socks.is_empty() && Instant::now() < deadline {
        wait_readable(&socks, busy)?;
        let mut closed = Vec::new();
        for (i, s) in socks.iter_mut().enumerate() {
            match read_some(s, &mut buf) {
                Ok(Some(0)) => {}
                Ok(Some(n)) => {
                    write_full(s, &buf[..n], deadline)?;
                    echoed += n as u64;
                }
                Ok(None) | Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            socks.swap_remove(i);
        }
    }
    Ok((thread_cpu() - cpu0, echoed))
}
