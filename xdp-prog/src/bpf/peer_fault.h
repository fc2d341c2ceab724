/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * Layout shared between peer_fault.bpf.c and its Rust loader
 * (xdp-prog/src/peer_fault.rs mirrors every number here).
 */
#ifndef SHUNT_PEER_FAULT_H
#define SHUNT_PEER_FAULT_H

/* Counter slots in the per-CPU `counters` array. */
#define PF_CNT_SEEN 0             /* frames from the stack (copies excluded) */
#define PF_CNT_MATCHED 1          /* IPv4/TCP frames that pass the port filter */
#define PF_CNT_DROPPED 2          /* matched frames dropped (TC_ACT_SHOT) */
#define PF_CNT_CORRUPTED 3        /* matched frames with one bit flipped */
#define PF_CNT_CORRUPT_SKIPPED 4  /* corruption rolled on a GSO super-packet */
#define PF_CNT_DUPLICATED 5       /* copies sent by bpf_clone_redirect */
#define PF_CNT_DUPLICATE_FAILED 6 /* bpf_clone_redirect returned an error */
#define PF_CNT_COPIES 7           /* our own copies seen again and let through */
#define PF_CNT_MAX 8

#define PF_PPM_ONE 1000000

/* skb->mark of a copy made by this program, so that it passes untouched when
 * it comes through the same hook again ("SHDP"). */
#define PF_COPY_MARK 0x53484450u

/* pf_config.flags: the program runs on a clsact ingress hook (else egress). */
#define PF_FLAG_INGRESS 0x1

/* Value of the single-slot `config` array. Rates in parts per million; port
 * in host byte order, 0 = every TCP port. */
struct pf_config {
	__u32 drop_ppm;
	__u32 corrupt_ppm;
	__u32 duplicate_ppm;
	__u16 port;
	__u16 flags;
};

#endif
