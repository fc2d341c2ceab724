//! The BPF link that holds the program on an interface.
//!
//! libbpf-rs 0.27 can attach XDP through a link only with the kernel's default
//! mode choice (`attach_xdp`); to ask for driver or generic mode explicitly we
//! call `bpf_link_create` with `XDP_FLAGS_*` ourselves. A link, unlike a netlink
//! attachment, belongs to its file descriptor: when the owning process exits,
//! however it exits (kill -9 included), the kernel closes the descriptor and the
//! program leaves the interface. This is the one place outside `io/xdp` with
//! `unsafe`: a foreign call and the adoption of the descriptor it returns.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys;

/// An XDP program held on an interface for as long as this value lives.
#[derive(Debug)]
pub(crate) struct XdpLink {
    fd: OwnedFd,
}

impl XdpLink {
    /// Attaches `prog` to `ifindex`; `flags` is `XDP_FLAGS_DRV_MODE` or
    /// `XDP_FLAGS_SKB_MODE`. Attachment takes the interface of the calling
    /// thread's network namespace.
    pub(crate) fn create(prog: BorrowedFd<'_>, ifindex: u32, flags: u32) -> io::Result<Self> {
        let ifindex = i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?;
        let opts = libbpf_sys::bpf_link_create_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _,
            flags,
            ..Default::default()
        };
        // Safety: `opts` is a valid, fully initialised bpf_link_create_opts whose
        // `sz` is its own size; libbpf reads it during the call only. The program
        // descriptor is borrowed and outlives the call.
        let fd = unsafe {
            libbpf_sys::bpf_link_create(prog.as_raw_fd(), ifindex, libbpf_sys::BPF_XDP, &opts)
        };
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(-fd));
        }
        // Safety: a non-negative return is a new descriptor that nothing else
        // owns; OwnedFd takes sole ownership and closes it on drop.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(XdpLink { fd })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }
}
