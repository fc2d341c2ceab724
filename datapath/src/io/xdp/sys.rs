//! Thin, checked wrappers over the syscalls AF_XDP needs (linux/if_xdp.h).
//! Each returns `io::Result`; none keeps state.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// An anonymous or file-backed shared mapping, unmapped on drop.
#[derive(Debug)]
pub struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// Safety: the mapping is plain memory owned by this value; moving the owner
// between threads is fine (access discipline is the users' job, see ring.rs).
unsafe impl Send for Mmap {}

impl Mmap {
    /// Anonymous private memory of `len` bytes, zeroed and populated.
    pub fn anonymous(len: usize) -> io::Result<Mmap> {
        // Safety: a fresh anonymous mapping with no address hint touches no
        // existing memory; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::checked(p, len)
    }

    /// Maps `len` bytes of a socket's ring at page offset `pgoff`.
    pub fn ring(fd: BorrowedFd<'_>, len: usize, pgoff: u64) -> io::Result<Mmap> {
        // Safety: maps new shared memory backed by the socket's ring; no
        // existing memory is affected; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff as libc::off_t,
            )
        };
        Self::checked(p, len)
    }

    fn checked(p: *mut libc::c_void, len: usize) -> io::Result<Mmap> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Mmap { ptr, len })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// A pointer `off` bytes in, checked to leave room for `size` bytes.
    pub fn at(&self, off: u64, size: usize) -> io::Result<NonNull<u8>> {
        let off = usize::try_from(off).map_err(|_| invalid("ring offset"))?;
        if off.checked_add(size).is_none_or(|end| end > self.len) {
            return Err(invalid("ring offset past the mapping"));
        }
        // Safety: off + size <= len, so the pointer stays inside the mapping.
        Ok(unsafe { NonNull::new_unchecked(self.ptr.as_ptr().add(off)) })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // Safety: we own exactly this mapping; nothing refers to it after drop
        // (rings and frames borrow from the owner that holds this value).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

pub fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// A new AF_XDP socket.
pub fn xsk_socket() -> io::Result<OwnedFd> {
    // Safety: plain syscall with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(SOL_XDP, name, value)` for a plain-old-data value.
pub fn set_xdp_opt<T: Copy>(fd: BorrowedFd<'_>, name: libc::c_int, value: &T) -> io::Result<()> {
    set_opt(fd, libc::SOL_XDP, name, value)
}

/// `setsockopt(level, name, value)` for a plain-old-data value.
fn set_opt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // Safety: `value` is a valid T for the duration of the call and we pass
    // its exact size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    cvt(rc as isize)
}

/// A libc return code as a result: negative means `errno` says why.
/// (`ssize_t` results pass as they are; `int` ones widen losslessly.)
fn cvt(rc: isize) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `getsockopt(SOL_XDP, name)` into a zeroed plain-old-data value; returns the
/// value and the length the kernel wrote.
pub fn get_xdp_opt<T: Copy + Default>(
    fd: BorrowedFd<'_>,
    name: libc::c_int,
) -> io::Result<(T, usize)> {
    let mut value = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // Safety: `value` is a valid, writable T and `len` its size; the kernel
    // writes at most `len` bytes and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((value, len as usize))
}

/// `SO_BUSY_POLL`, `SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL_BUDGET` (asm-generic).
pub const SO_BUSY_POLL: libc::c_int = 46;
pub const SO_PREFER_BUSY_POLL: libc::c_int = 69;
pub const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// `setsockopt(SOL_SOCKET, name, value)` for an int option.
pub fn set_socket_int(fd: BorrowedFd<'_>, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    set_opt(fd, libc::SOL_SOCKET, name, &value)
}

/// Binds an AF_XDP socket to `(ifindex, queue)` with `flags` (XDP_COPY,
/// XDP_ZEROCOPY, XDP_USE_NEED_WAKEUP, ...).
pub fn bind_xsk(fd: BorrowedFd<'_>, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    let addr = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: 0,
    };
    // Safety: `addr` is a valid sockaddr_xdp and we pass its exact size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_xdp).cast(),
            std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    };
    cvt(rc as isize)
}

/// Kicks the kernel to process the TX ring (copy mode needs this).
pub fn kick_tx(fd: BorrowedFd<'_>) -> io::Result<()> {
    // Safety: a zero-length send with a null buffer is the documented AF_XDP
    // wakeup; the kernel reads no user memory.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    cvt(rc)
}

/// Wakes the kernel to refill RX from the fill ring (when it asks).
pub fn kick_rx(fd: BorrowedFd<'_>) -> io::Result<()> {
    // Safety: a zero-length receive with a null buffer is the documented
    // AF_XDP wakeup; the kernel writes no user memory.
    let rc = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    cvt(rc)
}

/// Waits up to `timeout_ms` (-1: forever) for the socket to become readable.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // Safety: one valid pollfd, count 1.
    let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(rc > 0 && p.revents & libc::POLLIN != 0)
}

/// A netlink socket of `protocol` (`NETLINK_GENERIC`, ...) whose receives
/// give up after `timeout`.
pub fn netlink_socket(protocol: libc::c_int, timeout: std::time::Duration) -> io::Result<OwnedFd> {
    // Safety: plain syscall with constant arguments; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    set_opt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
    Ok(fd)
}

/// Sends one netlink message to the kernel (port 0).
pub fn netlink_send(fd: BorrowedFd<'_>, msg: &[u8]) -> io::Result<()> {
    // Safety: sockaddr_nl is plain data; all-zero is a valid value.
    let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // Safety: `msg` is valid for its length and `to` is a valid sockaddr_nl
    // of the size we pass; the kernel only reads both.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&to as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    cvt(rc)
}

/// Receives one netlink datagram into `buf`; returns its length (a datagram
/// longer than `buf` is cut, and its parse then fails on the length).
pub fn netlink_recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // Safety: `buf` is valid and writable for its length; the kernel writes
    // at most that many bytes.
    let rc = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}
