// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Fault injection for the frames a Linux peer sends (the kernel here has no
 * netem).
 *
 * A tc classifier in direct-action mode for a clsact hook. Installed on the
 * egress of the interface through which the peer's frames leave (or on the
 * ingress of the one where they arrive), it drops, corrupts or duplicates a
 * configured fraction, in parts per million, of the IPv4/TCP frames, optionally
 * only those with a given TCP port as source or destination. Everything else
 * (ARP, ICMP, IPv6, other ports, IP fragments, VLAN-tagged frames) passes
 * untouched. Shunt's own receive side has the same faults in steer.bpf.c; this
 * covers the other direction.
 *
 * Drop: on egress TC_ACT_STOLEN, not TC_ACT_SHOT. SHOT makes dev_queue_xmit
 * return NET_XMIT_DROP to the sending TCP, which then treats the segment as
 * never sent (and enters CWR) instead of losing it on the wire; STOLEN frees
 * the frame and reports success, which is what a lossy link looks like. On
 * ingress there is no sender to tell, so it is TC_ACT_SHOT.
 *
 * Corruption: one random bit inside the TCP segment (header or payload) is
 * flipped. A single-bit flip always changes the one's complement sum, so the
 * TCP checksum catches it, provided the checksum matches the original bytes.
 * A kernel TCP sender always leaves it partial at this hook
 * (CHECKSUM_PARTIAL: the field holds only the seed, the folded pseudo-header
 * sum, and the sum over the segment is added later, by the NIC with TX
 * offload or by skb_checksum_help without, after tc egress). A plain flip
 * would then be covered by that later sum: wrong data with a valid checksum.
 * So for a partial checksum the program also moves the seed by minus the
 * flip's change, and the checksum computed later is the original segment's.
 * __sk_buff does not expose ip_summed: the program takes a checksum field
 * equal to the seed as partial. A full checksum has that value by chance once
 * in 65536 frames; a flip there would go unnoticed (rare enough for tests,
 * but know it). For the receiver to see a checksum at all, the sender's
 * interface must compute it before the wire: with TX offload on veth the
 * frame reaches the peer still partial (testhosts turns it off on host B).
 * GSO super-packets are not corrupted (corrupt_skipped): the seed is copied
 * into every segment while the flip lands in one. The store goes through
 * bpf_skb_store_bytes, which unshares a cloned skb first: TCP's retransmission
 * queue keeps the intact copy. BPF_F_RECOMPUTE_CSUM keeps skb->csum in step
 * for CHECKSUM_COMPLETE frames on ingress, so that the receiving stack sees
 * the flip too (veth marks its frames CHECKSUM_UNNECESSARY: a kernel
 * receiver on veth never verifies).
 *
 * Duplication: bpf_clone_redirect(skb, skb->ifindex, 0) on egress queues a
 * copy for transmission on the same device, BPF_F_INGRESS on ingress feeds
 * a copy to the same device's receive path, and the original goes on. The
 * copy runs through this hook again; it carries skb->mark == PF_COPY_MARK,
 * which makes the program reset the mark to 0 and let it pass (copies), so a
 * copy is never dropped, corrupted or copied again. The copy is sent before
 * the original.
 *
 * Drop, corruption and duplication are rolled in that order; a corrupted frame
 * may also be duplicated (both copies carry the flip). At egress a kernel
 * sender's frame may be a GSO super-packet (TCP builds them whatever the
 * device's offloads; `ip link set <dev> gso_max_segs 1` gives one frame per
 * segment): a drop or a copy then takes every segment it would become.
 *
 * Counters are per-CPU: seen counts the frames from the stack; matched the
 * IPv4/TCP ones that pass the port filter; dropped + corrupted +
 * corrupt_skipped + duplicated + duplicate_failed count the faults rolled on
 * matched frames; copies counts our own copies passing through again.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "peer_fault.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PF_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pf_config);
} config SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1;
}

/* True with probability ppm / 1e6; 0 never, >= 1e6 always. */
static __always_inline int roll(__u32 ppm)
{
	if (ppm == 0)
		return 0;
	if (ppm >= PF_PPM_ONE)
		return 1;
	return (bpf_get_prandom_u32() % PF_PPM_ONE) < ppm;
}

/* Whether `check` is the seed, the folded pseudo-header sum, a kernel leaves
 * in a CHECKSUM_PARTIAL segment of `tcp_len` bytes (see the header comment). */
static __always_inline int checksum_partial(const struct iphdr *ip, __u32 tcp_len,
					    __u16 check)
{
	const __u8 *s = (const __u8 *)&ip->saddr;
	const __u8 *d = (const __u8 *)&ip->daddr;
	__u32 sum = 0;

	sum += ((__u32)s[0] << 8) | s[1];
	sum += ((__u32)s[2] << 8) | s[3];
	sum += ((__u32)d[0] << 8) | d[1];
	sum += ((__u32)d[2] << 8) | d[3];
	sum += IPPROTO_TCP;
	sum += tcp_len;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return bpf_ntohs(check) == sum;
}

/* Flips one random bit of the TCP segment at l4_off. With a full checksum in
 * the frame that is all. With a partial one (the field holds the seed S that
 * the later checksum computation adds the segment's sum to), the seed is
 * moved by minus the flip's change to the sum, so the checksum computed later
 * is the one of the original segment, which the flipped one then fails. A
 * flip in the checksum field itself needs no help either way. */
static __always_inline int corrupt(struct __sk_buff *skb, __u32 l4_off, __u32 tcp_len,
				   int partial)
{
	__u32 rnd = bpf_get_prandom_u32();
	__u32 rel = (rnd >> 3) % tcp_len;
	__u32 bit = rnd & 7;
	__u32 v, seed;
	__u16 check;
	__u8 byte;

	if (bpf_skb_load_bytes(skb, l4_off + rel, &byte, 1) < 0)
		return -1;
	byte ^= (__u8)(1 << bit);
	if (bpf_skb_store_bytes(skb, l4_off + rel, &byte, 1, BPF_F_RECOMPUTE_CSUM) < 0)
		return -1;
	if (!partial || rel == 16 || rel == 17) /* 16, 17: the checksum field */
		return 0;

	/* The one's complement sum counts the byte at an even offset as the
	 * high half of a 16-bit word. The flip added v if the bit is now set,
	 * else subtracted it; move the seed the other way. */
	v = (rel & 1) ? (1u << bit) : (1u << (bit + 8));
	if (bpf_skb_load_bytes(skb, l4_off + 16, &check, 2) < 0)
		return -1;
	seed = bpf_ntohs(check);
	seed += (byte & (1 << bit)) ? (~v & 0xffff) : v;
	seed = (seed & 0xffff) + (seed >> 16);
	seed = (seed & 0xffff) + (seed >> 16);
	check = bpf_htons((__u16)seed);
	return bpf_skb_store_bytes(skb, l4_off + 16, &check, 2, 0) < 0 ? -1 : 0;
}

SEC("tc")
int shunt_peer_fault(struct __sk_buff *skb)
{
	struct pf_config *cfg;
	struct iphdr ip;
	struct tcphdr tcp;
	__u32 zero = 0, ip_len, tot_len, tcp_len, l4_off;
	int ingress;

	if (skb->mark == PF_COPY_MARK) {
		skb->mark = 0;
		count(PF_CNT_COPIES);
		return TC_ACT_OK;
	}
	count(PF_CNT_SEEN);

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	/* Loads through the helper work on non-linear skbs too. */
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return TC_ACT_OK;
	if (ip.version != 4 || ip.ihl < 5 || ip.protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	if (ip.frag_off & bpf_htons(0x3fff)) /* MF | fragment offset */
		return TC_ACT_OK;
	ip_len = (__u32)ip.ihl * 4;
	tot_len = bpf_ntohs(ip.tot_len);
	if (tot_len < ip_len + sizeof(tcp) || ETH_HLEN + tot_len > skb->len)
		return TC_ACT_OK;
	tcp_len = tot_len - ip_len;
	l4_off = ETH_HLEN + ip_len;
	if (bpf_skb_load_bytes(skb, l4_off, &tcp, sizeof(tcp)) < 0)
		return TC_ACT_OK;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return TC_ACT_OK;
	if (cfg->port && bpf_ntohs(tcp.source) != cfg->port &&
	    bpf_ntohs(tcp.dest) != cfg->port)
		return TC_ACT_OK;
	count(PF_CNT_MATCHED);
	ingress = cfg->flags & PF_FLAG_INGRESS;

	if (roll(cfg->drop_ppm)) {
		count(PF_CNT_DROPPED);
		return ingress ? TC_ACT_SHOT : TC_ACT_STOLEN;
	}

	if (roll(cfg->corrupt_ppm)) {
		if (skb->gso_size)
			count(PF_CNT_CORRUPT_SKIPPED);
		else if (corrupt(skb, l4_off, tcp_len,
				 checksum_partial(&ip, tcp_len, tcp.check)) == 0)
			count(PF_CNT_CORRUPTED);
	}

	if (roll(cfg->duplicate_ppm)) {
		__u32 mark = skb->mark;
		long err;

		skb->mark = PF_COPY_MARK;
		err = bpf_clone_redirect(skb, skb->ifindex,
					 ingress ? BPF_F_INGRESS : 0);
		skb->mark = mark;
		count(err == 0 ? PF_CNT_DUPLICATED : PF_CNT_DUPLICATE_FAILED);
	}

	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
