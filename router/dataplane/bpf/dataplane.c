// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// gsi router data plane: GRE (RFC 2784) from the transit gateway <-> MPLS-over-UDP
// (RFC 7510) to the CN2 vRouters, forwarded at TC ingress of the router's underlay
// interfaces. Locally generated traffic towards the TGW's BGP inside addresses is put
// into GRE by an LWT xmit program on the inside /29 route.
//
// Everything the data plane needs that the kernel does not already know comes from maps
// that the Go loader (router/dataplane) fills from the router's forwarding table.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// From linux/icmp.h, which drags in libc headers that do not build for BPF.
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_REDIRECT 5
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMP_NET_UNREACH 0
#define ICMP_FRAG_NEEDED 4
#define ICMP_EXC_TTL 0

struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	union {
		struct {
			__be16 id;
			__be16 sequence;
		} echo;
		__be32 gateway;
		struct {
			__be16 __unused;
			__be16 mtu;
		} frag;
	} un;
};

// Decapsulation flags of newer kernels (6.18+ uapi): they also clear the packet's
// tunnel offload state. Older kernels reject them; decap() falls back to none.
#ifndef BPF_F_ADJ_ROOM_DECAP_L4_GRE
#define BPF_F_ADJ_ROOM_DECAP_L4_GRE (1ULL << 9)
#define BPF_F_ADJ_ROOM_DECAP_L4_UDP (1ULL << 10)
#endif

#ifndef AF_INET
#define AF_INET 2
#endif

#define MAX_ECMP 16
#define MPLS_UDP_PORT 6635
#define GRE_OVERHEAD (sizeof(struct iphdr) + 4)
#define MPLS_UDP_OVERHEAD (sizeof(struct iphdr) + sizeof(struct udphdr) + 4)
#define OUTER_TTL 64
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define ICMP_QUOTE 28 /* original IP header (20) + 8 bytes, RFC 792 */

enum encap {
	ENCAP_MPLS_UDP = 1,
	ENCAP_GRE = 2,
};

enum local_kind {
	LOCAL_OUTER = 1,  /* an underlay address: tunnels end here */
	LOCAL_INSIDE = 2, /* a BGP inside address: deliver decapsulated packets to the stack */
};

// Counter indices; router/dataplane/counters.go names them. Keep both in step.
enum counter {
	C_GRE_TO_MPLS = 0,
	C_MPLS_TO_GRE,
	C_GRE_TO_GRE,
	C_MPLS_TO_MPLS,
	C_GRE_TO_LOCAL,
	C_LOCAL_TO_GRE,
	C_ICMP_FRAG_NEEDED,
	C_ICMP_TIME_EXCEEDED,
	C_ICMP_NET_UNREACH,
	C_DROP_MALFORMED = 16,
	C_DROP_GRE_UNSUPPORTED,
	C_DROP_INNER_NOT_IPV4,
	C_DROP_UNKNOWN_LABEL,
	C_DROP_LABEL_STACK,
	C_DROP_NO_ROUTE,
	C_DROP_TTL_EXCEEDED,
	C_DROP_TOO_BIG,
	C_DROP_NO_TUNNEL,
	C_DROP_FIB_LOOKUP,
	C_DROP_HELPER,
	C_DROP_ICMP_SUPPRESSED,
	C_DROP_GSO,
	C_MAX = 32,
};

struct nexthop {
	__be32 addr;
	__u32 label;
	__u8 encap;
	__u8 pad[3];
};

struct route {
	__u32 count;
	__u32 pad;
	struct nexthop nh[MAX_ECMP];
};

struct lpm_key {
	__u32 prefixlen;
	__be32 addr;
};

struct tunnel {
	__be32 local; /* our GRE address for this peer */
};

struct counter_val {
	__u64 packets;
	__u64 bytes;
};

struct config {
	__be32 address; /* MPLSoUDP source, default GRE source */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct lpm_key);
	__type(value, struct route);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} labels SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __be32);
	__type(value, struct tunnel);
} tunnels SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __be32);
	__type(value, __u32);
} locals SEC(".maps");

// A tunnel's inside prefix (the /29 of its BGP addresses) -> the TGW's GRE address.
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__type(key, struct lpm_key);
	__type(value, __be32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} inside_nets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, struct counter_val);
} counters SEC(".maps");


static __always_inline void count(__u32 idx, __u32 bytes)
{
	struct counter_val *c = bpf_map_lookup_elem(&counters, &idx);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int drop(struct __sk_buff *skb, __u32 reason)
{
	count(reason, skb->len);
	return TC_ACT_SHOT;
}

static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline void ip_set_csum(struct iphdr *ip)
{
	ip->check = 0;
	__s64 sum = bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0);
	ip->check = csum_fold((__u64)sum);
}

static __always_inline __u32 fmix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

// flow_hash hashes the inner 5-tuple (3-tuple for fragments and other protocols) so
// every packet of a flow takes the same ECMP member and UDP source port.
static __always_inline __u32 flow_hash(struct __sk_buff *skb, struct iphdr *ip, void *data_end)
{
	__u32 h = fmix(ip->saddr ^ 0x9e3779b9);
	h = fmix(h ^ ip->daddr);
	h = fmix(h ^ ip->protocol);
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return h;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return h;
	__u32 *ports = (void *)ip + ip->ihl * 4;
	if ((void *)(ports + 1) > data_end)
		return h;
	return fmix(h ^ *ports);
}

static __always_inline int is_icmp_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT ||
	       type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
}

struct icmp_pkt {
	struct iphdr ip;
	struct icmphdr icmp;
	__u8 quote[ICMP_QUOTE];
};

// trim_into shortens the packet to want bytes with pkt as its content, for packets
// bpf_skb_change_tail refuses (the kernel still marks them as encapsulated, as a veth
// hands them over after an earlier tunnel): the ICMP part is written at the end and
// the bytes between it and the new IP header are cut out with adjust_room, at most
// 4095 bytes per call.
static __always_inline int trim_into(struct __sk_buff *skb, struct icmp_pkt *pkt, __u32 want)
{
	__u32 tail = sizeof(*pkt) - sizeof(pkt->ip);
	if (skb->len < want || skb->len > 0xffff)
		return -1;
	if (bpf_skb_store_bytes(skb, skb->len - tail, &pkt->icmp, tail, 0) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &pkt->ip, sizeof(pkt->ip), 0))
		return -1;
	for (int i = 0; i < 3; i++) {
		__u32 excess = skb->len - want;
		if (excess == 0)
			return 0;
		if (excess > 4000)
			excess = 4000;
		if (bpf_skb_adjust_room(skb, -(__s32)excess, BPF_ADJ_ROOM_NET, 0))
			return -1;
	}
	return skb->len == want ? 0 : -1;
}

struct icmp_err {
	__u8 type;
	__u8 code;
	__u16 mtu;
	__be32 source; /* our address the error comes from */
};

// make_icmp_error rewrites the (decapsulated) inner packet at ETH_HLEN into an ICMP
// error towards its source, quoting its header and first 8 bytes (RFC 792/1191).
// Errors about errors, non-first fragments and bad sources are suppressed (RFC 1812).
static __always_inline int make_icmp_error(struct __sk_buff *skb, struct icmp_err *e)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end || ip->ihl != 5)
		return -1;
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return -1;
	__be32 src = ip->saddr;
	__u32 hsrc = bpf_ntohl(src);
	if (src == 0 || (hsrc >> 28) == 0xe || src == 0xffffffff || (hsrc >> 24) == 127)
		return -1;
	if (ip->protocol == IPPROTO_ICMP) {
		struct icmphdr *ic = (void *)(ip + 1);
		if ((void *)(ic + 1) > data_end)
			return -1;
		if (is_icmp_error(ic->type))
			return -1;
	}

	__u32 want = ETH_HLEN + sizeof(struct iphdr) + sizeof(struct icmphdr) + ICMP_QUOTE;
	if (skb->len < want && bpf_skb_change_tail(skb, want, 0))
		return -1;
	__u8 quote[ICMP_QUOTE];
	if (bpf_skb_load_bytes(skb, ETH_HLEN, quote, sizeof(quote)))
		return -1;

	struct icmp_pkt pkt = {};
	__builtin_memcpy(pkt.quote, quote, sizeof(quote));
	pkt.icmp.type = e->type;
	pkt.icmp.code = e->code;
	if (e->type == ICMP_DEST_UNREACH && e->code == ICMP_FRAG_NEEDED)
		pkt.icmp.un.frag.mtu = bpf_htons(e->mtu);
	pkt.icmp.checksum = 0;
	__s64 sum = bpf_csum_diff(0, 0, (__be32 *)&pkt.icmp, sizeof(pkt.icmp) + ICMP_QUOTE, 0);
	pkt.icmp.checksum = csum_fold((__u64)sum);

	pkt.ip.version = 4;
	pkt.ip.ihl = 5;
	pkt.ip.tos = 0xc0; /* internetwork control */
	pkt.ip.tot_len = bpf_htons(sizeof(pkt));
	pkt.ip.ttl = OUTER_TTL;
	pkt.ip.protocol = IPPROTO_ICMP;
	pkt.ip.saddr = e->source;
	pkt.ip.daddr = src;
	ip_set_csum(&pkt.ip);
	if (bpf_skb_change_tail(skb, want, 0) == 0)
		return bpf_skb_store_bytes(skb, ETH_HLEN, &pkt, sizeof(pkt), 0) ? -1 : 0;
	return trim_into(skb, &pkt, want);
}

// encap_flags: the encapsulation flags tell the kernel where the inner headers are,
// which only segmentation needs. A packet that was decapsulated here may still carry
// the kernel's "encapsulated" mark from its previous tunnel (veth keeps it), and
// adjust_room refuses to encapsulate such a packet again with these flags: so single
// packets are encapsulated without them, super-packets (GSO) with them.
static __always_inline __u64 encap_flags(struct __sk_buff *skb, __u64 flags)
{
	return skb->gso_segs > 1 ? flags : 0;
}

// decap removes the outer IPv4 and tunnel headers (hdr bytes after Ethernet). A
// super-packet (GRO/GSO) keeps its tunnel segmentation state unless the kernel knows
// the decap flag; re-encapsulating it would make an unsegmentable packet, so it is
// refused (C_DROP_GSO) on such kernels. Packets from a NIC are not affected: without
// GRE or UDP-tunnel modules the kernel does not aggregate them.
static __always_inline int decap(struct __sk_buff *skb, __u32 hdr, __u64 l4flag)
{
	if (bpf_skb_adjust_room(skb, -(__s32)hdr, BPF_ADJ_ROOM_MAC, l4flag) == 0)
		return 0;
	if (skb->gso_segs > 1)
		return C_DROP_GSO;
	if (bpf_skb_adjust_room(skb, -(__s32)hdr, BPF_ADJ_ROOM_MAC, 0))
		return C_DROP_HELPER;
	return 0;
}

struct fwd {
	__u8 in;           /* encap the packet came in with */
	__u8 icmp_allowed; /* 0 once the packet is our own ICMP error */
	__be32 our_addr;   /* outer destination of the received packet: ours */
};

enum {
	FWD_DONE = 0,
	FWD_ICMP = 1, /* e filled: turn the packet into an ICMP error and forward that */
};

static __always_inline __u32 fwd_counter(__u8 in, __u8 out)
{
	if (in == ENCAP_GRE)
		return out == ENCAP_MPLS_UDP ? C_GRE_TO_MPLS : C_GRE_TO_GRE;
	return out == ENCAP_GRE ? C_MPLS_TO_GRE : C_MPLS_TO_MPLS;
}

// route_and_encap forwards the inner IPv4 packet that starts at ETH_HLEN: longest-prefix
// match in routes, ECMP pick by flow hash, TTL decrement, MTU check, encapsulation and
// redirect to the underlay next hop the kernel's FIB resolves.
static __always_inline int route_and_encap(struct __sk_buff *skb, struct fwd *f, struct icmp_err *e, int *verdict)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end) {
		*verdict = drop(skb, C_DROP_MALFORMED);
		return FWD_DONE;
	}
	if (ip->version != 4 || ip->ihl < 5) {
		*verdict = drop(skb, C_DROP_INNER_NOT_IPV4);
		return FWD_DONE;
	}

	struct lpm_key key = {.prefixlen = 32, .addr = ip->daddr};
	struct route *rt = bpf_map_lookup_elem(&routes, &key);
	if (!rt || rt->count == 0) {
		count(C_DROP_NO_ROUTE, skb->len);
		if (!f->icmp_allowed) {
			*verdict = TC_ACT_SHOT;
			return FWD_DONE;
		}
		e->type = ICMP_DEST_UNREACH;
		e->code = ICMP_NET_UNREACH;
		return FWD_ICMP;
	}
	if (ip->ttl <= 1) {
		count(C_DROP_TTL_EXCEEDED, skb->len);
		if (!f->icmp_allowed) {
			*verdict = TC_ACT_SHOT;
			return FWD_DONE;
		}
		e->type = ICMP_TIME_EXCEEDED;
		e->code = ICMP_EXC_TTL;
		return FWD_ICMP;
	}

	__u32 hash = flow_hash(skb, ip, data_end);
	__u32 n = rt->count;
	if (n > MAX_ECMP)
		n = MAX_ECMP;
	__u32 idx = hash % n;
	// idx < n <= MAX_ECMP already; the barrier keeps the check the verifier needs,
	// which the compiler would otherwise prove redundant and drop.
	asm volatile("" : "+r"(idx));
	if (idx >= MAX_ECMP) {
		*verdict = drop(skb, C_DROP_MALFORMED);
		return FWD_DONE;
	}
	struct nexthop nh = rt->nh[idx];

	struct config *cfg = bpf_map_lookup_elem(&config_map, &(__u32){0});
	__be32 src = cfg ? cfg->address : 0;
	__u32 overhead = MPLS_UDP_OVERHEAD;
	if (nh.encap == ENCAP_GRE) {
		struct tunnel *t = bpf_map_lookup_elem(&tunnels, &nh.addr);
		if (!t) {
			*verdict = drop(skb, C_DROP_NO_TUNNEL);
			return FWD_DONE;
		}
		src = t->local;
		overhead = GRE_OVERHEAD;
	}

	__u16 inner_len = bpf_ntohs(ip->tot_len);
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	fib.ipv4_src = src;
	fib.ipv4_dst = nh.addr;
	fib.ifindex = skb->ingress_ifindex;
	// GSO packets are checked per segment by the kernel when they are split.
	if (!skb->gso_segs || skb->gso_segs == 1)
		fib.tot_len = inner_len + overhead;
	long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		count(C_DROP_TOO_BIG, skb->len);
		if (!f->icmp_allowed) {
			*verdict = TC_ACT_SHOT;
			return FWD_DONE;
		}
		// Without DF the source may fragment: Linux lowers its path MTU from the
		// error and fragments to it; we cannot fragment inside the tunnel.
		e->type = ICMP_DEST_UNREACH;
		e->code = ICMP_FRAG_NEEDED;
		e->mtu = fib.mtu_result - overhead;
		return FWD_ICMP;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
		*verdict = drop(skb, C_DROP_FIB_LOOKUP);
		return FWD_DONE;
	}

	// The router is a hop: decrement TTL with an incremental checksum update.
	__u8 ttl = ip->ttl - 1;
	__u32 check = (__u32)ip->check + (__u32)bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xffff));
	ip->ttl = ttl;
	__u8 tos = ip->tos;
	__be16 df = ip->frag_off & bpf_htons(IP_DF);
	__u32 in_bytes = skb->len;

	struct iphdr outer = {};
	outer.version = 4;
	outer.ihl = 5;
	outer.tos = tos;
	outer.frag_off = df;
	outer.ttl = OUTER_TTL;
	outer.saddr = src;
	outer.daddr = nh.addr;

	if (nh.encap == ENCAP_GRE) {
		struct {
			struct iphdr ip;
			__be16 flags;
			__be16 proto;
		} h = {};
		h.ip = outer;
		h.ip.protocol = IPPROTO_GRE;
		h.ip.tot_len = bpf_htons(inner_len + GRE_OVERHEAD);
		h.proto = bpf_htons(ETH_P_IP);
		ip_set_csum(&h.ip);
		if (bpf_skb_adjust_room(skb, GRE_OVERHEAD, BPF_ADJ_ROOM_MAC,
					encap_flags(skb, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE)) ||
		    bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h), 0)) {
			*verdict = drop(skb, C_DROP_HELPER);
			return FWD_DONE;
		}
	} else {
		struct {
			struct iphdr ip;
			struct udphdr udp;
			__be32 mpls;
		} h = {};
		h.ip = outer;
		h.ip.protocol = IPPROTO_UDP;
		h.ip.tot_len = bpf_htons(inner_len + MPLS_UDP_OVERHEAD);
		ip_set_csum(&h.ip);
		// RFC 7510: source port from the flow hash in 49152-65535; zero checksum.
		h.udp.source = bpf_htons(49152 | (hash & 0x3fff));
		h.udp.dest = bpf_htons(MPLS_UDP_PORT);
		h.udp.len = bpf_htons(inner_len + sizeof(struct udphdr) + 4);
		// One label, bottom of stack, TTL copied from the (decremented) inner TTL.
		h.mpls = bpf_htonl((nh.label << 12) | (1 << 8) | ttl);
		if (bpf_skb_adjust_room(skb, MPLS_UDP_OVERHEAD, BPF_ADJ_ROOM_MAC,
					encap_flags(skb, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
								 BPF_F_ADJ_ROOM_ENCAP_L2(4))) ||
		    bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h), 0)) {
			*verdict = drop(skb, C_DROP_HELPER);
			return FWD_DONE;
		}
	}
	count(fwd_counter(f->in, nh.encap), in_bytes);

	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		struct bpf_redir_neigh rn = {.nh_family = AF_INET, .ipv4_nh = fib.ipv4_dst};
		*verdict = bpf_redirect_neigh(fib.ifindex, &rn, sizeof(rn), 0);
		return FWD_DONE;
	}
	struct ethhdr eth = {};
	__builtin_memcpy(eth.h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth.h_source, fib.smac, ETH_ALEN);
	eth.h_proto = bpf_htons(ETH_P_IP);
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0)) {
		*verdict = drop(skb, C_DROP_HELPER);
		return FWD_DONE;
	}
	*verdict = bpf_redirect(fib.ifindex, 0);
	return FWD_DONE;
}

// forward routes the decapsulated packet; when the router must answer with an ICMP
// error instead, it rewrites the packet into that error and routes it back once.
static __always_inline int forward(struct __sk_buff *skb, struct fwd *f)
{
	struct icmp_err e = {.source = f->our_addr};
	int verdict = TC_ACT_SHOT;
	if (route_and_encap(skb, f, &e, &verdict) == FWD_DONE)
		return verdict;
	if (make_icmp_error(skb, &e)) {
		count(C_DROP_ICMP_SUPPRESSED, skb->len);
		return TC_ACT_SHOT;
	}
	if (e.type == ICMP_TIME_EXCEEDED)
		count(C_ICMP_TIME_EXCEEDED, skb->len);
	else if (e.code == ICMP_FRAG_NEEDED)
		count(C_ICMP_FRAG_NEEDED, skb->len);
	else
		count(C_ICMP_NET_UNREACH, skb->len);
	f->icmp_allowed = 0;
	// Our own error leaves with a full TTL: route_and_encap decrements it once.
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return drop(skb, C_DROP_MALFORMED);
	route_and_encap(skb, f, &e, &verdict);
	return verdict;
}

// gre_in handles GRE from a configured TGW peer: validate, decapsulate, then deliver
// to the stack (BGP inside addresses) or forward.
static __always_inline int gre_in(struct __sk_buff *skb, struct iphdr *outer, void *data_end)
{
	struct tunnel *t = bpf_map_lookup_elem(&tunnels, &outer->saddr);
	if (!t || t->local != outer->daddr)
		return TC_ACT_OK; /* not one of our tunnels: leave it to the kernel */
	__be32 our_addr = outer->daddr;
	if (outer->ihl != 5 || (outer->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return drop(skb, C_DROP_GRE_UNSUPPORTED);
	__be16 *gre = (void *)(outer + 1);
	if ((void *)(gre + 2) > data_end)
		return drop(skb, C_DROP_MALFORMED);
	__u16 flags = bpf_ntohs(gre[0]);
	// RFC 2784: version 0; the checksum (C) and RFC 2890 key (K) and sequence (S)
	// fields are skipped; routing (R, RFC 1701) is not supported.
	if ((flags & 0x0007) != 0 || (flags & 0x4000))
		return drop(skb, C_DROP_GRE_UNSUPPORTED);
	if (gre[1] != bpf_htons(ETH_P_IP))
		return drop(skb, C_DROP_INNER_NOT_IPV4);
	__u32 gre_len = 4;
	if (flags & 0x8000)
		gre_len += 4;
	if (flags & 0x2000)
		gre_len += 4;
	if (flags & 0x1000)
		gre_len += 4;
	__u32 hdr = sizeof(struct iphdr) + gre_len;
	int err = decap(skb, hdr, BPF_F_ADJ_ROOM_DECAP_L4_GRE);
	if (err)
		return drop(skb, err);

	void *data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return drop(skb, C_DROP_MALFORMED);
	if (ip->version != 4)
		return drop(skb, C_DROP_INNER_NOT_IPV4);
	__u32 *kind = bpf_map_lookup_elem(&locals, &ip->daddr);
	if (kind && *kind == LOCAL_INSIDE) {
		count(C_GRE_TO_LOCAL, skb->len);
		return TC_ACT_OK;
	}
	struct fwd f = {.in = ENCAP_GRE, .icmp_allowed = 1, .our_addr = our_addr};
	return forward(skb, &f);
}

// mpls_in handles MPLS-over-UDP from a vRouter: one label, which must be one the router
// allocated; pop it and forward the inner packet by its destination.
static __always_inline int mpls_in(struct __sk_buff *skb, struct iphdr *outer, void *data_end)
{
	__u32 *kind = bpf_map_lookup_elem(&locals, &outer->daddr);
	if (!kind || *kind != LOCAL_OUTER)
		return TC_ACT_OK;
	if (outer->ihl != 5 || (outer->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return TC_ACT_OK; /* fragments go to the kernel, which has no listener */
	struct udphdr *udp = (void *)(outer + 1);
	__be32 *mpls = (void *)(udp + 1);
	if ((void *)(mpls + 1) > data_end)
		return TC_ACT_OK;
	if (udp->dest != bpf_htons(MPLS_UDP_PORT))
		return TC_ACT_OK;
	__be32 our_addr = outer->daddr;
	__u32 lse = bpf_ntohl(*mpls);
	if (!(lse & (1 << 8)))
		return drop(skb, C_DROP_LABEL_STACK);
	__u32 label = lse >> 12;
	if (!bpf_map_lookup_elem(&labels, &label))
		return drop(skb, C_DROP_UNKNOWN_LABEL);
	int err = decap(skb, MPLS_UDP_OVERHEAD, BPF_F_ADJ_ROOM_DECAP_L4_UDP);
	if (err)
		return drop(skb, err);
	struct fwd f = {.in = ENCAP_MPLS_UDP, .icmp_allowed = 1, .our_addr = our_addr};
	return forward(skb, &f);
}

SEC("tc")
int gsi_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (ip->protocol == IPPROTO_GRE)
		return gre_in(skb, ip, data_end);
	if (ip->protocol == IPPROTO_UDP)
		return mpls_in(skb, ip, data_end);
	return TC_ACT_OK;
}

// gsi_lwt_gre encapsulates locally generated packets routed to a tunnel's inside /29
// (the BGP sessions with the TGW) into GRE towards that TGW peer; the kernel then
// routes the outer packet.
SEC("lwt_xmit")
int gsi_lwt_gre(struct __sk_buff *skb)
{
	struct iphdr ip;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return BPF_DROP;
	struct lpm_key key = {.prefixlen = 32, .addr = ip.daddr};
	__be32 *r = bpf_map_lookup_elem(&inside_nets, &key);
	if (!r) {
		count(C_DROP_NO_TUNNEL, skb->len);
		return BPF_DROP;
	}
	__be32 remote = *r;
	struct tunnel *t = bpf_map_lookup_elem(&tunnels, &remote);
	if (!t) {
		count(C_DROP_NO_TUNNEL, skb->len);
		return BPF_DROP;
	}
	struct {
		struct iphdr ip;
		__be16 flags;
		__be16 proto;
	} h = {};
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.tos = ip.tos;
	h.ip.frag_off = ip.frag_off & bpf_htons(IP_DF);
	h.ip.ttl = OUTER_TTL;
	h.ip.protocol = IPPROTO_GRE;
	h.ip.saddr = t->local;
	h.ip.daddr = remote;
	h.ip.tot_len = bpf_htons(skb->len + GRE_OVERHEAD);
	ip_set_csum(&h.ip);
	h.proto = bpf_htons(ETH_P_IP);
	if (bpf_lwt_push_encap(skb, BPF_LWT_ENCAP_IP, &h, sizeof(h))) {
		count(C_DROP_HELPER, skb->len);
		return BPF_DROP;
	}
	count(C_LOCAL_TO_GRE, skb->len);
	return BPF_LWT_REROUTE;
}

char __license[] SEC("license") = "Dual BSD/GPL";
