package fwdlab

import (
	"fmt"
	"slices"
	"testing"

	"github.com/opengsi/gsi/test/netlab"
)

// benchOptions: the same hosts and links for both ways of forwarding; the underlay is
// jumbo (as on AWS, 9001) so both carry the endpoints' 1500-byte packets unchanged.
func benchOptions(kernel bool) Options {
	return Options{Kernel: kernel, TGWLinkMTU: 9001, VR1LinkMTU: 9001, VR2LinkMTU: 9001}
}

type forwardingResult struct {
	TCPGbps    float64 // one TCP stream EC2 -> pod1
	TCPRevGbps float64 // one TCP stream pod1 -> EC2
	KPPS       float64 // 64-byte UDP payloads received by the pod, thousands per second
}

const benchRounds = 3

// BenchmarkForwarding measures, in one run, EC2 <-> pod forwarding through the eBPF
// path (GRE to the router, MPLS-over-UDP to the vRouter) and through plain kernel IP
// forwarding over the same namespaces and links, alternating the two for a few rounds
// (the machine is shared), and prints the medians side by side with their ratio.
// Each measurement runs iperf3 for seconds: use -benchtime=1x (make bench-dataplane).
func BenchmarkForwarding(b *testing.B) {
	netlab.Require(b, "ip", "ethtool", "iperf3", "ping")
	b.StopTimer()
	labs := map[string]*Lab{"kernel": benchLab(b, true), "ebpf": benchLab(b, false)}
	runs := map[string][]forwardingResult{}
	for i := 0; i < b.N; i++ {
		for round := 0; round < benchRounds; round++ {
			for _, side := range []string{"kernel", "ebpf"} {
				b.StartTimer()
				r := measureForwarding(b, labs[side])
				b.StopTimer()
				b.Logf("round %d %-6s %+v", round+1, side, r)
				runs[side] = append(runs[side], r)
			}
		}
	}
	k, e := median(runs["kernel"]), median(runs["ebpf"])
	fmt.Printf("\nmedians of %d alternating rounds, one stream each\n%-26s %10s %13s %7s\n", benchRounds, "EC2 <-> pod1", "kernel IP", "eBPF tunnels", "ratio")
	for _, row := range []struct {
		name string
		k, e float64
	}{
		{"TCP EC2->pod Gbit/s", k.TCPGbps, e.TCPGbps},
		{"TCP pod->EC2 Gbit/s", k.TCPRevGbps, e.TCPRevGbps},
		{"UDP 64 B kpps received", k.KPPS, e.KPPS},
	} {
		fmt.Printf("%-26s %10.2f %13.2f %7.2f\n", row.name, row.k, row.e, row.e/row.k)
	}
	b.ReportMetric(e.TCPGbps, "ebpf-tcp-Gbit/s")
	b.ReportMetric(k.TCPGbps, "kernel-tcp-Gbit/s")
	b.ReportMetric(e.TCPGbps/k.TCPGbps, "tcp-ratio")
	b.ReportMetric(e.KPPS/k.KPPS, "pps-ratio")
	if st, err := labs["ebpf"].DP.Stats(); err == nil {
		for reason, c := range st.Dropped {
			if c.Packets > 0 {
				b.Logf("eBPF path dropped %d packets: %s", c.Packets, reason)
			}
		}
	}
}

func benchLab(b *testing.B, kernel bool) *Lab {
	l := New(b, benchOptions(kernel))
	l.P1.Start(b, "iperf3", "iperf3", "-s", "-B", Pod1.String())
	waitListening(b, l.P1, "5201")
	// warm up ARP and the path before timing
	l.EC2.Run(b, "ping", "-c", "1", "-W", "2", Pod1.String())
	return l
}

func measureForwarding(b *testing.B, l *Lab) forwardingResult {
	b.Helper()
	tcp := runIperf(b, l.EC2, false, "-c", Pod1.String(), "-t", "3", "-O", "1")
	rev := runIperf(b, l.EC2, true, "-c", Pod1.String(), "-t", "3", "-O", "1")
	udp := runIperf(b, l.EC2, false, "-c", Pod1.String(), "-u", "-b", "0", "-l", "64", "-t", "3")
	s := udp.End.Sum
	if s.Seconds == 0 {
		b.Fatalf("iperf3 UDP reported no duration: %+v", s)
	}
	return forwardingResult{
		TCPGbps:    tcp.End.SumReceived.BitsPerSecond / 1e9,
		TCPRevGbps: rev.End.SumReceived.BitsPerSecond / 1e9,
		KPPS:       (s.Packets - s.LostPackets) / s.Seconds / 1e3,
	}
}

func median(rs []forwardingResult) forwardingResult {
	pick := func(f func(forwardingResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return forwardingResult{
		TCPGbps:    pick(func(r forwardingResult) float64 { return r.TCPGbps }),
		TCPRevGbps: pick(func(r forwardingResult) float64 { return r.TCPRevGbps }),
		KPPS:       pick(func(r forwardingResult) float64 { return r.KPPS }),
	}
}
