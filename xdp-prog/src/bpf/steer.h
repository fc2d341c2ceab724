/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * Layout shared between steer.bpf.c and the Rust loader (xdp-prog/src/lib.rs
 * mirrors every number here; its tests check the program's behaviour against
 * those mirrors, so a change on one side alone fails them).
 */
#ifndef SHUNT_STEER_H
#define SHUNT_STEER_H

#define SHUNT_MAX_OWNED 4096
#define SHUNT_MAX_QUEUES 256
#define SHUNT_MAX_ARP_ADDRS 256

/* Counter slots in the per-CPU `counters` array. */
#define SHUNT_CNT_SEEN 0
#define SHUNT_CNT_REDIRECTED 1
#define SHUNT_CNT_PASSED 2
#define SHUNT_CNT_MALFORMED 3
#define SHUNT_CNT_REDIRECT_FAILED 4
#define SHUNT_CNT_FAULT_DROPPED 5
#define SHUNT_CNT_FAULT_CORRUPTED 6
#define SHUNT_CNT_FAULT_DUPLICATED 7
#define SHUNT_CNT_ARP_REDIRECTED 8
#define SHUNT_CNT_MAX 9

#define SHUNT_PPM_ONE 1000000

/* The metadata word in front of every redirected frame. */
#define SHUNT_META_MAGIC 0x53480000u /* "SH" in the high half */
#define SHUNT_META_MAGIC_MASK 0xffff0000u
#define SHUNT_META_DUPLICATE 0x1u

/* Flags, the value of the `arp_addrs` map (key: an IPv4 address, network
 * byte order): which ARP packets whose target protocol address is that
 * address go to Shunt instead of the kernel. */
#define SHUNT_ARP_REPLIES 0x1u /* operation 2, answers to Shunt's requests */
#define SHUNT_ARP_REQUESTS 0x2u /* operation 1, questions Shunt must answer */

/* Key of the `owned` map: both fields in network byte order; addr 0 is the
 * wildcard (the port on every local address). */
struct shunt_owned_key {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

/* Value of the single-slot `port_range` array: destination ports lo..=hi
 * (host byte order) on `addr` (network order, 0 = every address) are owned,
 * for the ephemeral ports of Shunt's active opens. hi == 0: no range. */
struct shunt_port_range {
	__u32 addr;
	__u16 lo;
	__u16 hi;
};

/* Value of the single-slot `faults` array, rates in parts per million. */
struct shunt_faults {
	__u32 drop_ppm;
	__u32 corrupt_ppm;
	__u32 duplicate_ppm;
	__u32 reserved;
};

#endif
