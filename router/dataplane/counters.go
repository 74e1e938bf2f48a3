package dataplane

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Counter indices as in enum counter of bpf/dataplane.c.
const (
	cGREToMPLS = iota
	cMPLSToGRE
	cGREToGRE
	cMPLSToMPLS
	cGREToLocal
	cLocalToGRE
	cICMPFragNeeded
	cICMPTimeExceeded
	cICMPNetUnreach
	cFirstDrop = 16
	cMax       = 32
)

// Directions name the forwarding counters (the metric's "direction" label).
var directions = map[int]string{
	cGREToMPLS:  "gre_to_mpls",
	cMPLSToGRE:  "mpls_to_gre",
	cGREToGRE:   "gre_to_gre",
	cMPLSToMPLS: "mpls_to_mpls",
	cGREToLocal: "gre_to_local",
	cLocalToGRE: "local_to_gre",
}

var icmpTypes = map[int]string{
	cICMPFragNeeded:   "frag_needed",
	cICMPTimeExceeded: "time_exceeded",
	cICMPNetUnreach:   "net_unreachable",
}

// DropReasons name the drop counters, in the programs' order from index 16.
var dropReasons = []string{
	"malformed",       // truncated or inconsistent headers
	"gre_unsupported", // GRE version, routing bit, outer options or fragments
	"inner_not_ipv4",  // GRE protocol or inner version is not IPv4
	"unknown_label",   // MPLS label the router did not allocate
	"label_stack",     // more than one label
	"no_route",        // inner destination not in the forwarding table
	"ttl_exceeded",    // inner TTL would reach zero
	"too_big",         // does not fit the outgoing tunnel; an ICMP error went back
	"no_tunnel",       // GRE next hop without a configured tunnel
	"fib_lookup",      // the kernel could not resolve the underlay next hop
	"helper",          // a packet rewrite failed (e.g. no headroom)
	"icmp_suppressed", // an ICMP error was due but not allowed (RFC 1812)
	"gso",             // a super-packet this kernel cannot re-tunnel (see decap in the C source)
}

// Stats is a snapshot of the programs' counters, summed over CPUs.
type Stats struct {
	// Forwarded by direction (see directions): packets and bytes as received.
	Forwarded map[string]Count
	// Dropped by reason.
	Dropped map[string]Count
	// ICMPSent by type: errors the router generated in place of a dropped packet.
	ICMPSent map[string]Count
}

// Count is a packet and byte counter.
type Count struct{ Packets, Bytes uint64 }

// Stats reads the counters.
func (d *Dataplane) Stats() (Stats, error) {
	s := Stats{Forwarded: map[string]Count{}, Dropped: map[string]Count{}, ICMPSent: map[string]Count{}}
	var percpu []gsiCounterVal
	for i := 0; i < cMax; i++ {
		if err := d.objs.Counters.Lookup(uint32(i), &percpu); err != nil {
			return s, fmt.Errorf("dataplane: reading counter %d: %w", i, err)
		}
		var c Count
		for _, v := range percpu {
			c.Packets += v.Packets
			c.Bytes += v.Bytes
		}
		switch {
		case directions[i] != "":
			s.Forwarded[directions[i]] = c
		case icmpTypes[i] != "":
			s.ICMPSent[icmpTypes[i]] = c
		case i >= cFirstDrop && i-cFirstDrop < len(dropReasons):
			s.Dropped[dropReasons[i-cFirstDrop]] = c
		}
	}
	return s, nil
}

var (
	descFwdPackets  = prometheus.NewDesc("gsi_dataplane_forwarded_packets_total", "Packets forwarded by the eBPF data plane, by direction (gre_to_mpls: TGW to vRouter; mpls_to_gre: vRouter to TGW).", []string{"direction"}, nil)
	descFwdBytes    = prometheus.NewDesc("gsi_dataplane_forwarded_bytes_total", "Bytes (as received) forwarded by the eBPF data plane, by direction.", []string{"direction"}, nil)
	descDropPackets = prometheus.NewDesc("gsi_dataplane_dropped_packets_total", "Packets the eBPF data plane dropped, by reason.", []string{"reason"}, nil)
	descDropBytes   = prometheus.NewDesc("gsi_dataplane_dropped_bytes_total", "Bytes the eBPF data plane dropped, by reason.", []string{"reason"}, nil)
	descICMP        = prometheus.NewDesc("gsi_dataplane_icmp_errors_sent_total", "ICMP errors the data plane sent back to a packet's source, by type.", []string{"type"}, nil)
	descRoutes      = prometheus.NewDesc("gsi_dataplane_routes", "Routes programmed into the data plane.", nil, nil)
	descLabels      = prometheus.NewDesc("gsi_dataplane_labels", "Local MPLS labels programmed into the data plane.", nil, nil)
	descSyncErrors  = prometheus.NewDesc("gsi_dataplane_sync_errors_total", "Forwarding table changes the data plane failed to program.", nil, nil)
)

// Describe implements prometheus.Collector.
func (d *Dataplane) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{descFwdPackets, descFwdBytes, descDropPackets, descDropBytes, descICMP, descRoutes, descLabels, descSyncErrors} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector: counters are read from the maps at scrape.
func (d *Dataplane) Collect(ch chan<- prometheus.Metric) {
	s, err := d.Stats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descFwdPackets, err)
		return
	}
	for dir, c := range s.Forwarded {
		ch <- prometheus.MustNewConstMetric(descFwdPackets, prometheus.CounterValue, float64(c.Packets), dir)
		ch <- prometheus.MustNewConstMetric(descFwdBytes, prometheus.CounterValue, float64(c.Bytes), dir)
	}
	for reason, c := range s.Dropped {
		ch <- prometheus.MustNewConstMetric(descDropPackets, prometheus.CounterValue, float64(c.Packets), reason)
		ch <- prometheus.MustNewConstMetric(descDropBytes, prometheus.CounterValue, float64(c.Bytes), reason)
	}
	for typ, c := range s.ICMPSent {
		ch <- prometheus.MustNewConstMetric(descICMP, prometheus.CounterValue, float64(c.Packets), typ)
	}
	d.mu.Lock()
	routes, labels, errs := len(d.routes), len(d.labels), d.syncErrs
	d.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descRoutes, prometheus.GaugeValue, float64(routes))
	ch <- prometheus.MustNewConstMetric(descLabels, prometheus.GaugeValue, float64(labels))
	ch <- prometheus.MustNewConstMetric(descSyncErrors, prometheus.CounterValue, float64(errs))
}

// ServeHTTP is the debug view: configuration, tunnels, what the maps really hold
// (read back from the kernel, not from memory) and the counters, as plain text.
func (d *Dataplane) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := d.WriteDebug(w); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// WriteDebug writes the debug view to w.
func (d *Dataplane) WriteDebug(w io.Writer) error {
	var b strings.Builder
	d.mu.Lock()
	fmt.Fprintf(&b, "router address %s  pin %q  synced %v\n", d.cfg.Address, d.cfg.PinPath, d.synced)
	names := make([]string, 0, len(d.links))
	for n := range d.links {
		names = append(names, n)
	}
	d.mu.Unlock()
	slices.Sort(names)
	fmt.Fprintf(&b, "attached (tc ingress): %s\n\ntunnels:\n", strings.Join(names, " "))
	for _, t := range d.Tunnels() {
		fmt.Fprintf(&b, "  gre %s -> %s  inside %s  dev %q\n", t.Local, t.Remote, t.Inside, t.Device)
	}
	routes, err := d.ProgrammedRoutes()
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nroutes (%d):\n", len(routes))
	for _, r := range routes {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	labels, err := d.ProgrammedLabels()
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nlocal labels (%d): %v\n", len(labels), labels)
	s, err := d.Stats()
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "\ncounters:\n")
	writeCounts(&b, "forwarded", s.Forwarded)
	writeCounts(&b, "icmp sent", s.ICMPSent)
	writeCounts(&b, "dropped", s.Dropped)
	_, err = io.WriteString(w, b.String())
	return err
}

func writeCounts(b *strings.Builder, title string, m map[string]Count) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "  %-10s %-16s %12d pkts %14d bytes\n", title, k, m[k].Packets, m[k].Bytes)
	}
}

// ProgrammedRoutes reads the route map back from the kernel, one line per route.
func (d *Dataplane) ProgrammedRoutes() ([]string, error) {
	var key gsiLpmKey
	var val gsiRoute
	var out []string
	it := d.objs.Routes.Iterate()
	for it.Next(&key, &val) {
		p := netip.PrefixFrom(addrFromBE32(key.Addr), int(key.Prefixlen))
		hops := make([]string, 0, val.Count)
		for i := uint32(0); i < val.Count && i < MaxECMP; i++ {
			nh := val.Nh[i]
			if nh.Encap == 1 {
				hops = append(hops, fmt.Sprintf("mpls-udp label %d via %s", nh.Label, addrFromBE32(nh.Addr)))
			} else {
				hops = append(hops, fmt.Sprintf("gre via %s", addrFromBE32(nh.Addr)))
			}
		}
		out = append(out, fmt.Sprintf("%s -> %s", p, strings.Join(hops, ", ")))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("dataplane: reading routes: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// ProgrammedLabels reads the local label map back from the kernel.
func (d *Dataplane) ProgrammedLabels() ([]uint32, error) {
	var label, one uint32
	var out []uint32
	it := d.objs.Labels.Iterate()
	for it.Next(&label, &one) {
		out = append(out, label)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("dataplane: reading labels: %w", err)
	}
	slices.Sort(out)
	return out, nil
}
