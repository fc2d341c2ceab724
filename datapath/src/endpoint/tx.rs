//! Frames out: control frames (ARP, resets) first, then the connections'
//! segments round-robin, each wrapped in IPv4 (TTL 64, DF, a running ident)
//! and Ethernet for the next hop's MAC.
//!
//! A connection whose next hop is not resolved is not polled at all, so its
//! segments stay in its buffers (no frame queue to bound) until ARP answers;
//! if ARP gives up, the connection is aborted with `NoArpReply`.

use super::neighbor::Lookup;
use super::{Control, Endpoint, RstOut};
use crate::time::Instant;
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, ChecksumFill, EtherType, EthernetAddress, EthernetFrame,
    EthernetRepr, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr, PartialChecksum, TcpFlags, TcpPacket,
    TcpRepr, TxFrame, arp, ethernet, ipv4, tcp,
};

/// Ethernet and IPv4 headers: where the TCP segment starts in a frame.
pub const TCP_OFFSET: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
/// RFC 1122 3.2.1.7: TTL 64, as Linux.
const TTL: u8 = 64;
/// The smallest buffer `poll_frame` works with: headers plus a TCP header
/// with every option.
pub const MIN_FRAME_BUFFER: usize = TCP_OFFSET + tcp::MAX_HEADER_LEN;

impl Endpoint {
    /// Writes the next frame into `buf` and returns its length, or `None` if
    /// nothing is ready. `buf` should hold `14 + mtu` bytes; segments are cut
    /// to what it holds, and a buffer below [`MIN_FRAME_BUFFER`] gets nothing
    /// (counted).
    ///
    /// With [`Endpoint::set_tx_checksum`] at
    /// [`ChecksumFill::PseudoHeaderOnly`], a connection's segment carries
    /// only the pseudo-header sum and the frame says where the device is to
    /// finish it; control frames (ARP, resets) are always complete.
    pub fn poll_frame(&mut self, now: Instant, buf: &mut [u8]) -> Option<TxFrame> {
        if buf.len() < MIN_FRAME_BUFFER {
            self.stats.buffer_too_small += 1;
            return None;
        }
        self.queue_arp_requests(now);
        if let Some(n) = self.poll_control(buf) {
            return Some(self.sent(n).into());
        }
        let limit = (ethernet::HEADER_LEN + self.cfg.mtu).min(buf.len());
        // Only connections touched since they last had nothing to send
        // (input, a timer, an application call), round-robin: one that sent
        // goes to the back of the queue.
        while let Some(i) = self.tx_ready.pop_front() {
            let i = i as usize;
            self.slots[i].tx_queued = false;
            match self.slots[i].entry.as_ref() {
                Some(e) if !e.arp_wait && !e.conn.is_closed() => {}
                // Queued again when its next hop resolves (or never).
                _ => continue,
            }
            // poll_transmit (re)arms the connection's timers.
            self.touch_timers(i);
            let Some(e) = self.slots[i].entry.as_mut() else {
                continue;
            };
            let (next_hop, dst_ip) = (e.next_hop, *e.tuple.remote.ip());
            let mac = match self.neighbors.lookup(now, next_hop) {
                Lookup::Found(mac) => mac,
                Lookup::Pending | Lookup::TableFull => {
                    // Hold the connection; its ARP request may be due now.
                    e.arp_wait = true;
                    self.arp_waiting += 1;
                    self.queue_arp_requests(now);
                    if let Some(n) = self.poll_control(buf) {
                        return Some(self.sent(n).into());
                    }
                    continue;
                }
                Lookup::Failed => {
                    self.fail_unreachable(i);
                    continue;
                }
            };
            let Some(tcp_len) = e.conn.poll_transmit(now, &mut buf[TCP_OFFSET..limit]) else {
                continue;
            };
            let more = e.conn.output_pending();
            // Marked as the connection wrote it.
            let fill = e.conn.checksum_fill();
            let frame = self.wrap_ipv4(buf, mac, dst_ip, tcp_len);
            self.after_output(i, more);
            return frame.map(|n| TxFrame {
                len: self.sent(n),
                partial_checksum: (fill == ChecksumFill::PseudoHeaderOnly).then_some(
                    PartialChecksum {
                        start: TCP_OFFSET as u16,
                        offset: tcp::CHECKSUM_OFFSET as u16,
                    },
                ),
            });
        }
        None
    }

    fn sent(&mut self, len: usize) -> usize {
        self.stats.frames_out += 1;
        len
    }

    /// Moves the ARP requests due now into the control queue.
    pub(super) fn queue_arp_requests(&mut self, now: Instant) {
        while self.control.len() < self.cfg.max_control_frames {
            let Some(req) = self.neighbors.poll_request(now) else {
                break;
            };
            self.control.push_back(Control::Arp(req));
        }
    }

    /// Writes the oldest control frame.
    fn poll_control(&mut self, buf: &mut [u8]) -> Option<usize> {
        let c = self.control.pop_front()?;
        match c {
            Control::Arp(a) => self.write_arp(buf, &a),
            Control::Rst(r) => self.write_rst(buf, &r),
        }
    }

    fn write_arp(&mut self, buf: &mut [u8], a: &ArpRepr) -> Option<usize> {
        let dst = match a.operation {
            ArpOperation::Request => {
                self.stats.arp_requests_out += 1;
                EthernetAddress::BROADCAST
            }
            _ => {
                self.stats.arp_replies_out += 1;
                a.target_hardware_addr
            }
        };
        let len = ethernet::HEADER_LEN + arp::PACKET_LEN;
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..len]);
        let eth = EthernetRepr {
            src_addr: self.cfg.mac,
            dst_addr: dst,
            ethertype: EtherType::Arp,
        };
        eth.emit(&mut frame).ok()?;
        a.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()))
            .ok()?;
        Some(len)
    }

    fn write_rst(&mut self, buf: &mut [u8], r: &RstOut) -> Option<usize> {
        let seg = TcpRepr {
            src_port: r.src_port,
            dst_port: r.dst_port,
            seq: r.seq,
            ack: r.ack,
            flags: TcpFlags::RST,
            window_len: 0,
            ..TcpRepr::default()
        };
        let tcp_len = seg.buffer_len();
        let mut packet = TcpPacket::new_unchecked(&mut buf[TCP_OFFSET..TCP_OFFSET + tcp_len]);
        seg.emit(&mut packet, self.cfg.addr, r.dst_ip).ok()?;
        self.wrap_ipv4(buf, r.dst_mac, r.dst_ip, tcp_len)
    }

    /// Writes the IPv4 and Ethernet headers in front of the `tcp_len` bytes
    /// of TCP at [`TCP_OFFSET`]; returns the frame length.
    fn wrap_ipv4(
        &mut self,
        buf: &mut [u8],
        dst_mac: EthernetAddress,
        dst_ip: Ipv4Addr,
        tcp_len: usize,
    ) -> Option<usize> {
        let ip = Ipv4Repr {
            src_addr: self.cfg.addr,
            dst_addr: dst_ip,
            protocol: IpProtocol::Tcp,
            payload_len: tcp_len,
            ttl: TTL,
            dscp_ecn: 0,
            // RFC 1191: DF set, as Linux does with path MTU discovery.
            dont_frag: true,
            ident: self.ip_ident,
        };
        self.ip_ident = self.ip_ident.wrapping_add(1);
        let len = TCP_OFFSET + tcp_len;
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..len]);
        let eth = EthernetRepr {
            src_addr: self.cfg.mac,
            dst_addr: dst_mac,
            ethertype: EtherType::Ipv4,
        };
        eth.emit(&mut frame).ok()?;
        ip.emit(&mut Ipv4Packet::new_unchecked(frame.payload_mut()))
            .ok()?;
        Some(len)
    }
}
