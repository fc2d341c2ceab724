// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Shunt's steering program.
 *
 * Runs on every frame the NIC (or veth) receives. It redirects to the AF_XDP
 * socket of the receiving queue only the IPv4/TCP frames whose (destination
 * address, destination port) Shunt owns; every other frame goes on to the
 * kernel untouched (XDP_PASS): ARP, ICMP, IPv6, other ports, IPv4 with
 * options, fragments, and malformed frames, which the kernel then judges and
 * drops by its own rules. Shunt must never take a machine's network away, so
 * the default for anything unexpected is PASS.
 *
 * An owned frame whose queue has no socket bound is dropped and counted
 * (redirect_failed): passing it would let the kernel answer with a RST for a
 * port it does not serve, which is worse than silence.
 *
 * Every redirected frame carries a 4-byte metadata word in front of its data
 * (bpf_xdp_adjust_meta): SHUNT_META_MAGIC | flags. The only flag today is
 * SHUNT_META_DUPLICATE, set by fault injection: XDP cannot clone a frame into
 * an XSK, so the ring layer in userspace delivers a marked frame twice.
 *
 * Fault injection (off by default) drops, corrupts (one random bit flipped
 * inside the TCP segment, so only the TCP checksum can catch it) or marks for
 * duplication a configurable fraction, in parts per million, of the frames it
 * is about to redirect. The kernel here has no netem; tests and the bench use
 * this to make a hostile link.
 *
 * Counters are per-CPU. seen = redirected + passed + redirect_failed +
 * fault_dropped; malformed counts the subset of passed that failed a bounds or
 * sanity check.
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
	__u32 *meta;
	long ret;

	count(SHUNT_CNT_SEEN);

	if ((void *)(eth + 1) > data_end)
		return pass_malformed();
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
		if (!bpf_map_lookup_elem(&owned, &key))
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

	/* Metadata after the redirect decision: adjust_meta moves no packet
	 * bytes, and a driver without metadata support just gets none. */
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(__u32)) == 0) {
		meta = (void *)(long)ctx->data_meta;
		if ((void *)(meta + 1) <= (void *)(long)ctx->data)
			*meta = meta_word;
	}
	count(SHUNT_CNT_REDIRECTED);
	return XDP_REDIRECT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
