// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Shunt's steering program.
 *
 * Runs on every frame the NIC (or veth) receives. It redirects to the AF_XDP
 * socket of the receiving queue only
 *   - the IPv4/TCP frames whose (destination address, destination port)
 *     Shunt owns (map `owned`), and
 *   - the Ethernet/IPv4 ARP packets whose target protocol address is in map
 *     `arp_addrs` with the flag for their operation: SHUNT_ARP_REPLIES for
 *     replies (op 2), SHUNT_ARP_REQUESTS for requests (op 1).
 * Every other frame goes on to the kernel untouched (XDP_PASS): other ARP,
 * ICMP, IPv6, other ports, IPv4 with options, fragments, and malformed frames,
 * which the kernel then judges and drops by its own rules. Shunt must never
 * take a machine's network away, so the default for anything unexpected is
 * PASS.
 *
 * Why ARP: Shunt's endpoint resolves its peers itself. On an address it shares
 * with the kernel, the kernel keeps answering requests for it, but the replies
 * to Shunt's own requests must reach Shunt (replies only). On an address of
 * its own, unknown to the kernel, Shunt must also see and answer the requests
 * (replies and requests). ARP is parsed only for htype 1 (Ethernet), ptype
 * 0x0800, hlen 6, plen 4; anything else passes.
 *
 * Owned means: the exact (address, port) or the wildcard (0, port) is in the
 * `owned` map, or the port falls in the single `port_range` (Shunt's
 * ephemeral ports for active opens, one entry instead of thousands).
 *
 * An owned TCP frame whose queue has no socket bound is dropped and counted
 * (redirect_failed): passing it would let the kernel answer with a RST for a
 * port it does not serve, which is worse than silence. A steered ARP packet
 * whose queue has no socket bound is passed instead (counted in passed): the
 * kernel must never lose ARP because Shunt is not listening.
 *
 * Every redirected frame carries a 4-byte metadata word in front of its data
 * (bpf_xdp_adjust_meta): SHUNT_META_MAGIC | flags. The only flag today is
 * SHUNT_META_DUPLICATE, set by fault injection: XDP cannot clone a frame into
 * an XSK, so the ring layer in userspace delivers a marked frame twice.
 *
 * Fault injection (off by default) drops, corrupts (one random bit flipped
 * inside the TCP segment, so only the TCP checksum can catch it) or marks for
 * duplication a configurable fraction, in parts per million, of the TCP frames
 * it is about to redirect; never ARP, whose loss would only stall neighbour
 * resolution, not test TCP. The kernel here has no netem; tests and the bench
 * use this to make a hostile link.
 *
 * Counters are per-CPU. seen = redirected + arp_redirected + passed +
 * redirect_failed + fault_dropped; malformed counts the subset of passed that
 * failed a bounds or sanity check (a truncated ARP packet included). An ARP
 * packet passed because no socket is bound counts only in passed.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "steer.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_OWNED);
	__type(key, struct shunt_owned_key);
	__type(value, __u32);
} owned SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_ARP_ADDRS);
	__type(key, __u32);   /* IPv4 address, network byte order */
	__type(value, __u32); /* SHUNT_ARP_REPLIES | SHUNT_ARP_REQUESTS */
} arp_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, SHUNT_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHUNT_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_faults);
} faults SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_port_range);
} port_range SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline int pass(void)
{
	count(SHUNT_CNT_PASSED);
	return XDP_PASS;
}

static __always_inline int pass_malformed(void)
{
	count(SHUNT_CNT_MALFORMED);
	return pass();
}

/* Writes the metadata word in front of a frame already given to
 * bpf_redirect_map. After the redirect decision: adjust_meta moves no packet
 * bytes, and a driver without metadata support just gets none. */
static __always_inline void put_meta(struct xdp_md *ctx, __u32 meta_word)
{
	__u32 *meta;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(__u32)) == 0) {
		meta = (void *)(long)ctx->data_meta;
		if ((void *)(meta + 1) <= (void *)(long)ctx->data)
			*meta = meta_word;
	}
}

/* From linux/if_arp.h, which pulls in libc headers the BPF target lacks. */
#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

/* An ARP packet for Ethernet and IPv4 (RFC 826), 28 bytes. The addresses are
 * byte arrays and tpa is copied out: behind a 14-byte Ethernet header it is
 * only 2-byte aligned. */
struct shunt_arp {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__u8 spa[4];
	__u8 tha[ETH_ALEN];
	__u8 tpa[4];
};

static __always_inline int steer_arp(struct xdp_md *ctx, void *l3, void *data_end)
{
	struct shunt_arp *arp = l3;
	__u32 addr, want, *flags;
	long ret;

	/* The fixed part (up to op) tells whether the rest is Ethernet/IPv4. */
	if ((void *)arp->sha > data_end)
		return pass_malformed();
	if (arp->htype != bpf_htons(ARP_HTYPE_ETHER) ||
	    arp->ptype != bpf_htons(ETH_P_IP) || arp->hlen != ETH_ALEN ||
	    arp->plen != 4)
		return pass();
	if ((void *)(arp + 1) > data_end)
		return pass_malformed();

	if (arp->op == bpf_htons(ARP_OP_REPLY))
		want = SHUNT_ARP_REPLIES;
	else if (arp->op == bpf_htons(ARP_OP_REQUEST))
		want = SHUNT_ARP_REQUESTS;
	else
		return pass();

	__builtin_memcpy(&addr, arp->tpa, sizeof(addr));
	flags = bpf_map_lookup_elem(&arp_addrs, &addr);
	if (!flags || !(*flags & want))
		return pass();

	ret = bpf_redirect_map(&xsks, ctx->rx_queue_index, 0);
	if (ret != XDP_REDIRECT)
		return pass(); /* nobody listening: the kernel keeps its ARP */

	put_meta(ctx, SHUNT_META_MAGIC);
	count(SHUNT_CNT_ARP_REDIRECTED);
	return XDP_REDIRECT;
}

/* Whether (daddr, dport) falls in the owned ephemeral port range. */
static __always_inline int in_port_range(__u32 daddr, __u16 dport_be)
{
	__u32 zero = 0;
	struct shunt_port_range *r = bpf_map_lookup_elem(&port_range, &zero);
	__u16 port = bpf_ntohs(dport_be);

	if (!r || r->hi == 0)
		return 0;
	if (r->addr != 0 && r->addr != daddr)
		return 0;
	return port >= r->lo && port <= r->hi;
}

/* True with probability ppm / 1e6; 0 never, >= 1e6 always. */
static __always_inline int roll(__u32 ppm)
{
	if (ppm == 0)
		return 0;
	if (ppm >= SHUNT_PPM_ONE)
		return 1;
	return (bpf_get_prandom_u32() % SHUNT_PPM_ONE) < ppm;
}

SEC("xdp")
int shunt_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct shunt_owned_key key = {};
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u32 tot_len, tcp_len, meta_word = SHUNT_META_MAGIC, zero = 0;
	struct shunt_faults *f;
	long ret;

	count(SHUNT_CNT_SEEN);

	if ((void *)(eth + 1) > data_end)
		return pass_malformed();
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return steer_arp(ctx, eth + 1, data_end);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return pass();

	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return pass_malformed();
	if (ip->version != 4 || ip->ihl < 5)
		return pass_malformed();
	if (ip->protocol != IPPROTO_TCP)
		return pass();
	/* IPv4 options and fragments are rare and the kernel handles them. */
	if (ip->ihl != 5)
		return pass();
	if (ip->frag_off & bpf_htons(0x3fff)) /* MF | fragment offset */
		return pass();

	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < sizeof(*ip) + sizeof(*tcp) || (void *)ip + tot_len > data_end)
		return pass_malformed();

	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end)
		return pass_malformed();
	tcp_len = tot_len - sizeof(*ip);
	if (tcp->doff < 5 || (__u32)tcp->doff * 4 > tcp_len)
		return pass_malformed();

	key.addr = ip->daddr;
	key.port = tcp->dest;
	if (!bpf_map_lookup_elem(&owned, &key)) {
		key.addr = 0; /* wildcard: the port on every address */
		if (!bpf_map_lookup_elem(&owned, &key) && !in_port_range(ip->daddr, tcp->dest))
			return pass();
	}

	f = bpf_map_lookup_elem(&faults, &zero);
	if (f && (f->drop_ppm | f->corrupt_ppm | f->duplicate_ppm)) {
		if (roll(f->drop_ppm)) {
			count(SHUNT_CNT_FAULT_DROPPED);
			return XDP_DROP;
		}
		if (roll(f->corrupt_ppm)) {
			__u32 rnd = bpf_get_prandom_u32();
			__u32 off = (rnd >> 3) % tcp_len;
			__u8 *p;

			/* Hide off's provenance so clang keeps the mask the verifier
			 * needs to bound pointer arithmetic. */
			asm volatile("" : "+r"(off));
			off &= 0x3fff; /* verifier: var offset + fixed offset <= 0xffff */
			p = (__u8 *)tcp + off;
			if ((void *)(p + 1) <= data_end) {
				*p ^= (__u8)(1 << (rnd & 7));
				count(SHUNT_CNT_FAULT_CORRUPTED);
			}
		}
		if (roll(f->duplicate_ppm)) {
			meta_word |= SHUNT_META_DUPLICATE;
			count(SHUNT_CNT_FAULT_DUPLICATED);
		}
	}

	ret = bpf_redirect_map(&xsks, ctx->rx_queue_index, 0);
	if (ret != XDP_REDIRECT) {
		count(SHUNT_CNT_REDIRECT_FAILED);
		return XDP_DROP;
	}

	put_meta(ctx, meta_word);
	count(SHUNT_CNT_REDIRECTED);
	return XDP_REDIRECT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
