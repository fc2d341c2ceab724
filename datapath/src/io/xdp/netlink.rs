//! What a device offers AF_XDP sockets on transmit: the `xsk-features` of the
//! netdev generic-netlink family (Documentation/netlink/specs/netdev.yaml,
//! Documentation/networking/xsk-tx-metadata.rst "Querying Device
//! Capabilities"), asked with one small request on a netlink socket.
//!
//! Two requests: the generic-netlink controller resolves the family name
//! "netdev" to its id (`CTRL_CMD_GETFAMILY`), then `NETDEV_CMD_DEV_GET` for
//! one ifindex answers with the device's attributes, `xsk-features` among
//! them. Messages are built and parsed here as plain bytes (the parsers are
//! tested without a kernel); the socket calls are in [`super::sys`].
//!
//! Must never: trust a length from the kernel without checking it against
//! the datagram, or block for long (the socket has a receive timeout).

use std::fmt;
use std::io;
use std::time::Duration;

use super::sys;

/// include/uapi/linux/netdev.h: `NETDEV_CMD_DEV_GET`.
const NETDEV_CMD_DEV_GET: u8 = 1;
/// include/uapi/linux/netdev.h: `NETDEV_A_DEV_IFINDEX` (u32).
const NETDEV_A_DEV_IFINDEX: u16 = 1;
/// include/uapi/linux/netdev.h: `NETDEV_A_DEV_XSK_FEATURES` (u64, since
/// Linux 6.8), a set of `enum netdev_xsk_flags`.
const NETDEV_A_DEV_XSK_FEATURES: u16 = 6;
/// `NETDEV_XSK_FLAGS_TX_CHECKSUM`: the driver honours
/// `XDP_TXMD_FLAGS_CHECKSUM` (net/core/netdev-genl.c sets it when the
/// driver's `xsk_tx_metadata_ops` has `tmo_request_checksum`).
pub const XSK_FLAGS_TX_CHECKSUM: u64 = 2;
/// include/uapi/linux/genetlink.h: the controller's id, command and
/// attributes.
const GENL_ID_CTRL: u16 = 16;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// include/uapi/linux/netlink.h.
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;
const NLA_HDRLEN: usize = 4;

/// How long one answer may take; the kernel answers at once.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a device's AF_XDP features could not be read.
#[derive(Debug)]
pub enum ProbeError {
    /// The netlink socket or a send/receive on it failed.
    Socket(io::Error),
    /// The kernel answered with an error (errno) to the named request.
    Refused(&'static str, i32),
    /// No "netdev" generic-netlink family (kernels before 6.3).
    NoNetdevFamily,
    /// The device has no `xsk-features` attribute (kernels before 6.8).
    NoXskFeatures,
    /// An answer that does not parse.
    Malformed(&'static str),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Socket(e) => write!(f, "netlink socket: {e}"),
            ProbeError::Refused(what, errno) => write!(
                f,
                "{what} refused: {}",
                io::Error::from_raw_os_error(*errno)
            ),
            ProbeError::NoNetdevFamily => {
                f.write_str("no netdev netlink family (kernel before 6.3)")
            }
            ProbeError::NoXskFeatures => {
                f.write_str("no xsk-features attribute (kernel before 6.8)")
            }
            ProbeError::Malformed(what) => write!(f, "malformed netlink answer: {what}"),
        }
    }
}

/// The `xsk-features` bits of interface `ifindex` in the calling thread's
/// network namespace.
pub fn xsk_features(ifindex: u32) -> Result<u64, ProbeError> {
    let fd =
        sys::netlink_socket(libc::NETLINK_GENERIC, ANSWER_TIMEOUT).map_err(ProbeError::Socket)?;
    let mut answer = vec![0u8; 8192];

    let req = genl_request(
        GENL_ID_CTRL,
        1,
        CTRL_CMD_GETFAMILY,
        CTRL_ATTR_FAMILY_NAME,
        b"netdev\0",
    );
    let n = ask(&fd, &req, &mut answer)?;
    let family = match genl_attr(&answer[..n], CTRL_ATTR_FAMILY_ID) {
        Err(ProbeError::Refused(_, e)) if e == libc::ENOENT => {
            return Err(ProbeError::NoNetdevFamily);
        }
        Err(ProbeError::Refused(_, e)) => return Err(ProbeError::Refused("CTRL_CMD_GETFAMILY", e)),
        Err(e) => return Err(e),
        Ok(None) => return Err(ProbeError::Malformed("no family id")),
        Ok(Some(v)) => u16::from_ne_bytes(
            v.get(..2)
                .and_then(|b| b.try_into().ok())
                .ok_or(ProbeError::Malformed("short family id"))?,
        ),
    };

    let index = ifindex.to_ne_bytes();
    let req = genl_request(family, 1, NETDEV_CMD_DEV_GET, NETDEV_A_DEV_IFINDEX, &index);
    let n = ask(&fd, &req, &mut answer)?;
    match genl_attr(&answer[..n], NETDEV_A_DEV_XSK_FEATURES) {
        Err(ProbeError::Refused(_, e)) => Err(ProbeError::Refused("NETDEV_CMD_DEV_GET", e)),
        Err(e) => Err(e),
        Ok(None) => Err(ProbeError::NoXskFeatures),
        Ok(Some(v)) => Ok(u64::from_ne_bytes(
            v.get(..8)
                .and_then(|b| b.try_into().ok())
                .ok_or(ProbeError::Malformed("short xsk-features"))?,
        )),
    }
}

fn ask(fd: &std::os::fd::OwnedFd, req: &[u8], answer: &mut [u8]) -> Result<usize, ProbeError> {
    use std::os::fd::AsFd;
    sys::netlink_send(fd.as_fd(), req).map_err(ProbeError::Socket)?;
    sys::netlink_recv(fd.as_fd(), answer).map_err(ProbeError::Socket)
}

/// One generic-netlink request: netlink header, genetlink header (`cmd`,
/// `version`), and one attribute `attr` holding `value`.
fn genl_request(family: u16, version: u8, cmd: u8, attr: u16, value: &[u8]) -> Vec<u8> {
    let attr_len = NLA_HDRLEN + value.len();
    let len = NLMSG_HDRLEN + GENL_HDRLEN + align4(attr_len);
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&family.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
    m.extend_from_slice(&[cmd, version, 0, 0]);
    m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    m.extend_from_slice(&attr.to_ne_bytes());
    m.extend_from_slice(value);
    m.resize(len, 0);
    m
}

/// The value of attribute `attr` in the first message of a generic-netlink
/// answer; `Refused` if the answer is an error message.
fn genl_attr(answer: &[u8], attr: u16) -> Result<Option<&[u8]>, ProbeError> {
    let header = answer
        .get(..NLMSG_HDRLEN)
        .ok_or(ProbeError::Malformed("short header"))?;
    let len = u32::from_ne_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let kind = u16::from_ne_bytes(header[4..6].try_into().expect("2 bytes"));
    let msg = answer
        .get(..len)
        .filter(|_| len >= NLMSG_HDRLEN)
        .ok_or(ProbeError::Malformed("length past the datagram"))?;
    if kind == NLMSG_ERROR {
        // struct nlmsgerr: a negative errno, then the request's header.
        let errno = msg
            .get(NLMSG_HDRLEN..NLMSG_HDRLEN + 4)
            .ok_or(ProbeError::Malformed("short error"))?;
        let errno = i32::from_ne_bytes(errno.try_into().expect("4 bytes"));
        return Err(ProbeError::Refused("request", -errno));
    }
    let mut attrs = msg
        .get(NLMSG_HDRLEN + GENL_HDRLEN..)
        .ok_or(ProbeError::Malformed("no genetlink header"))?;
    while attrs.len() >= NLA_HDRLEN {
        let alen = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        // NLA_TYPE_MASK: the top two bits are flags (nested, byte order).
        let akind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if alen < NLA_HDRLEN || alen > attrs.len() {
            return Err(ProbeError::Malformed("attribute length"));
        }
        if akind == attr {
            return Ok(Some(&attrs[NLA_HDRLEN..alen]));
        }
        attrs = attrs.get(align4(alen)..).unwrap_or(&[]);
    }
    Ok(None)
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getfamily_request_has_the_netlink_layout() {
        let m = genl_request(
            GENL_ID_CTRL,
            1,
            CTRL_CMD_GETFAMILY,
            CTRL_ATTR_FAMILY_NAME,
            b"netdev\0",
        );
        // 16 header + 4 genl + (4 + 7 padded to 12) attribute.
        assert_eq!(m.len(), 32);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 32);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), 16);
        assert_eq!(
            u16::from_ne_bytes(m[6..8].try_into().unwrap()),
            NLM_F_REQUEST
        );
        assert_eq!(&m[16..20], &[CTRL_CMD_GETFAMILY, 1, 0, 0]);
        assert_eq!(u16::from_ne_bytes(m[20..22].try_into().unwrap()), 11);
        assert_eq!(u16::from_ne_bytes(m[22..24].try_into().unwrap()), 2);
        assert_eq!(&m[24..31], b"netdev\0");
        assert_eq!(m[31], 0, "padding");
    }

    /// An answer as the kernel builds it: header, genl header, attributes.
    fn answer(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![1u8, 1, 0, 0];
        for (kind, value) in attrs {
            body.extend_from_slice(&((NLA_HDRLEN + value.len()) as u16).to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(value);
            body.resize(align4(body.len()), 0);
        }
        let len = NLMSG_HDRLEN + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&30u16.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn attributes_are_found_past_padded_ones() {
        let feats = 2u64.to_ne_bytes();
        let a = answer(&[(1, &7u32.to_ne_bytes()), (2, b"abc"), (6, &feats)]);
        assert_eq!(genl_attr(&a, 6).unwrap(), Some(&feats[..]));
        assert_eq!(genl_attr(&a, 1).unwrap(), Some(&7u32.to_ne_bytes()[..]));
        assert_eq!(genl_attr(&a, 5).unwrap(), None);
    }

    #[test]
    fn error_answers_carry_the_errno() {
        let mut m = vec![0u8; 36];
        m[0..4].copy_from_slice(&36u32.to_ne_bytes());
        m[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m[16..20].copy_from_slice(&(-libc::ENOENT).to_ne_bytes());
        assert!(matches!(
            genl_attr(&m, 1),
            Err(ProbeError::Refused(_, e)) if e == libc::ENOENT
        ));
    }

    #[test]
    fn lying_lengths_are_malformed_not_panics() {
        let mut a = answer(&[(6, &[0; 8])]);
        assert!(genl_attr(&a[..10], 6).is_err());
        a[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(genl_attr(&a, 6).is_err());
        let mut b = answer(&[(6, &[0; 8])]);
        b[20..22].copy_from_slice(&200u16.to_ne_bytes());
        assert!(genl_attr(&b, 6).is_err());
        b[20..22].copy_from_slice(&2u16.to_ne_bytes());
        assert!(genl_attr(&b, 6).is_err());
    }
}
