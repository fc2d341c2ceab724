//! Packet I/O. [`xdp`] is the AF_XDP ring layer, the only module with `unsafe`.

#[allow(unsafe_code)]
pub mod xdp;
