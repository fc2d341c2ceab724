//! The endpoint's counters: every frame in is either handed on or counted as
//! a drop under exactly one cause; every refusal is counted where it happens.

/// Counters of one endpoint. Drops are by cause, one counter each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Frames given to `handle_frame`.
    pub frames_in: u64,
    /// Frames returned by `poll_frame`.
    pub frames_out: u64,

    // Ethernet.
    /// Shorter than an Ethernet header.
    pub bad_ethernet: u64,
    /// Destination MAC neither ours nor (for ARP) broadcast.
    pub not_our_mac: u64,
    /// EtherType other than IPv4 and ARP (IPv6, VLAN tags, LLDP...).
    pub other_ethertype: u64,

    // ARP.
    /// ARP packets handed to the neighbour cache.
    pub arp_in: u64,
    /// ARP packets that did not parse (short, not Ethernet/IPv4).
    pub bad_arp: u64,
    /// ARP replies sent.
    pub arp_replies_out: u64,
    /// ARP requests sent.
    pub arp_requests_out: u64,

    // IPv4.
    /// Malformed IPv4 header (short, version, lengths).
    pub bad_ip: u64,
    pub bad_ip_checksum: u64,
    /// Fragments: Shunt does not reassemble.
    pub ip_fragments: u64,
    /// Destination address is not ours.
    pub not_our_ip: u64,
    /// Source address is broadcast, multicast, unspecified or ours (RFC 1122
    /// 4.2.3.10: never answered).
    pub bad_source: u64,
    /// IP protocol other than TCP.
    pub other_protocol: u64,

    // TCP.
    /// Malformed TCP header or options, or a zero port.
    pub bad_tcp: u64,
    pub bad_tcp_checksum: u64,
    /// Segments handed to a connection.
    pub segs_to_conns: u64,
    /// Segments for no connection and no listener, answered with a RST
    /// (RFC 9293 3.10.7.1).
    pub no_listener_rst: u64,
    /// Segments for no connection that carry a RST themselves: dropped
    /// unanswered (RFC 9293 3.10.7.1).
    pub rst_to_closed: u64,
    /// Non-SYN segments to a listening port without a connection: an ACK gets
    /// a RST, anything else is dropped (RFC 9293 3.10.7.2).
    pub listener_non_syn: u64,
    /// SYNs dropped because the listener's backlog was full.
    pub backlog_full: u64,
    /// SYNs dropped, or `connect` refused, at the connection limit.
    pub conn_limit: u64,
    /// Connections created from a SYN on a listener.
    pub passive_opens: u64,
    /// Connections opened by `connect`.
    pub active_opens: u64,
    /// New SYNs that replaced a connection in TIME-WAIT (RFC 6191).
    pub time_wait_reuse: u64,
    /// Active opens that took over a connection in TIME-WAIT
    /// (`EndpointConfig::time_wait_reuse`).
    pub time_wait_takeover: u64,
    /// Destination off-link without a gateway.
    pub no_route: u64,

    // Output and tables.
    /// Connections aborted because their next hop never answered ARP.
    pub arp_failures: u64,
    /// Control frames (ARP, RST) dropped because their queue was full.
    pub control_queue_full: u64,
    /// `poll_frame` buffers too small for a frame (the frame waits).
    pub buffer_too_small: u64,
    /// Endpoint events dropped because the application did not poll them.
    pub events_dropped: u64,
    /// Connections reaped (slot and port freed).
    pub reaped: u64,
    /// Segments of another shard's connection, handed to that shard.
    pub foreign: u64,
}
