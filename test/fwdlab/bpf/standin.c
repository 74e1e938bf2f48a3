// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Tunnel end points for the forwarding lab, standing in for the parts the lab kernel
// cannot provide (it has no GRE, FOU or MPLS module): the transit gateway's end of the
// GRE tunnel, and a vRouter's MPLS-over-UDP end. Deliberately written apart from
// router/dataplane so the lab does not test the router against itself; the wire format
// is judged by an independent decoder (tshark) in the tests.
//
// Model: the host's kernel routes into the tunnel like into a point-to-point device
// (a route via the far end's inside address, with the tunnel MTU), and tc egress on
// the underlay interface encapsulates; tc ingress decapsulates what the peer sends and
// hands the inner packet back to the kernel.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Set by the lab before loading.
volatile const __be32 local_addr;  /* this end's underlay address */
volatile const __be32 remote_addr; /* the router's underlay address */
volatile const __u32 tx_label;     /* MPLS label put on packets to the router */
volatile const __u32 rx_label;     /* first of the 16 labels accepted from the router */

enum {
	ST_ENCAP = 0,
	ST_DECAP,
	ST_REJECT,
	ST_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ST_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void bump(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline __u16 fold(__u64 sum)
{
	for (int i = 0; i < 3; i++)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

// inner returns the IPv4 header to encapsulate, or NULL for what the underlay itself
// carries (ARP, the tunnel packets, traffic to the router's underlay address).
static __always_inline struct iphdr *inner(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	if (ip->daddr == remote_addr || ip->saddr == local_addr)
		return 0;
	return ip;
}

static __always_inline void outer_ip(struct iphdr *o, struct iphdr *in, __u8 proto, __u16 len)
{
	o->version = 4;
	o->ihl = 5;
	o->tos = in->tos;
	o->tot_len = bpf_htons(len);
	o->frag_off = in->frag_off & bpf_htons(0x4000);
	o->ttl = 64;
	o->protocol = proto;
	o->saddr = local_addr;
	o->daddr = remote_addr;
	o->check = 0;
	o->check = fold(bpf_csum_diff(0, 0, (__be32 *)o, sizeof(*o), 0));
}

SEC("tc")
int gre_encap(struct __sk_buff *skb)
{
	struct iphdr *ip = inner(skb);
	if (!ip)
		return TC_ACT_OK;
	struct {
		struct iphdr ip;
		__be16 flags, proto;
	} h = {};
	outer_ip(&h.ip, ip, IPPROTO_GRE, bpf_ntohs(ip->tot_len) + sizeof(h));
	h.proto = bpf_htons(ETH_P_IP);
	if (bpf_skb_adjust_room(skb, sizeof(h), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h), 0))
		return TC_ACT_SHOT;
	bump(ST_ENCAP);
	return TC_ACT_OK;
}

SEC("tc")
int gre_decap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__be16 *gre = (void *)(ip + 1);
	if ((void *)(gre + 2) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_GRE || ip->daddr != local_addr)
		return TC_ACT_OK;
	if (ip->saddr != remote_addr || ip->ihl != 5 || gre[0] != 0 || gre[1] != bpf_htons(ETH_P_IP)) {
		bump(ST_REJECT);
		return TC_ACT_SHOT;
	}
	if (bpf_skb_adjust_room(skb, -(__s32)(sizeof(*ip) + 4), BPF_ADJ_ROOM_MAC, 0))
		return TC_ACT_SHOT;
	bump(ST_DECAP);
	return TC_ACT_OK;
}

SEC("tc")
int mpls_encap(struct __sk_buff *skb)
{
	struct iphdr *ip = inner(skb);
	if (!ip)
		return TC_ACT_OK;
	__u16 len = bpf_ntohs(ip->tot_len);
	struct {
		struct iphdr ip;
		struct udphdr udp;
		__be32 mpls;
	} h = {};
	outer_ip(&h.ip, ip, IPPROTO_UDP, len + sizeof(h));
	// entropy for the underlay: the inner addresses pick the source port
	__u32 hash = ip->saddr * 2654435761u ^ ip->daddr;
	h.udp.source = bpf_htons(49152 | ((hash >> 16) & 0x3fff));
	h.udp.dest = bpf_htons(6635);
	h.udp.len = bpf_htons(len + sizeof(h.udp) + 4);
	h.mpls = bpf_htonl((tx_label << 12) | (1 << 8) | ip->ttl);
	if (bpf_skb_adjust_room(skb, sizeof(h), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
					BPF_F_ADJ_ROOM_ENCAP_L2(4)) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h), 0))
		return TC_ACT_SHOT;
	bump(ST_ENCAP);
	return TC_ACT_OK;
}

SEC("tc")
int mpls_decap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__be32 *mpls = (void *)(udp + 1);
	if ((void *)(mpls + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_UDP || ip->daddr != local_addr || udp->dest != bpf_htons(6635))
		return TC_ACT_OK;
	__u32 lse = bpf_ntohl(*mpls);
	if (ip->ihl != 5 || (lse >> 12) < rx_label || (lse >> 12) >= rx_label + 16 || !(lse & (1 << 8))) {
		bump(ST_REJECT);
		return TC_ACT_SHOT;
	}
	if (bpf_skb_adjust_room(skb, -(__s32)(sizeof(*ip) + sizeof(*udp) + 4), BPF_ADJ_ROOM_MAC, 0))
		return TC_ACT_SHOT;
	bump(ST_DECAP);
	return TC_ACT_OK;
}

char __license[] SEC("license") = "Dual BSD/GPL";
