package fwdlab

import (
	"fmt"
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

// BenchmarkForwarding measures, in one run, EC2 -> pod forwarding through the eBPF path
// (GRE to the router, MPLS-over-UDP to the vRouter) and through plain kernel IP
// forwarding over the same namespaces and links, and reports both and their ratio.
// Each side runs iperf3 for a few seconds: use -benchtime=1x (make bench-dataplane).
func BenchmarkForwarding(b *testing.B) {
	netlab.Require(b, "ip", "ethtool", "iperf3")
	results := map[string]forwardingResult{}
	for _, side := range []string{"kernel", "ebpf"} {
		b.Run(side, func(b *testing.B) {
			var r forwardingResult
			for i := 0; i < b.N; i++ {
				r = measureForwarding(b, side == "kernel")
			}
			b.ReportMetric(r.TCPGbps, "tcp-Gbit/s")
			b.ReportMetric(r.TCPRevGbps, "tcp-rev-Gbit/s")
			b.ReportMetric(r.KPPS, "udp-kpps")
			results[side] = r
		})
	}
	k, e := results["kernel"], results["ebpf"]
	if k.TCPGbps == 0 || k.KPPS == 0 || k.TCPRevGbps == 0 {
		return
	}
	fmt.Printf("\n%-28s %12s %12s %8s\n%-28s %12.2f %12.2f %8.2f\n%-28s %12.2f %12.2f %8.2f\n%-28s %12.0f %12.0f %8.2f",
		"EC2 <-> pod1, 1 stream", "kernel IP", "eBPF tunnels", "ratio",
		"TCP EC2->pod Gbit/s", k.TCPGbps, e.TCPGbps, e.TCPGbps/k.TCPGbps,
		"TCP pod->EC2 Gbit/s", k.TCPRevGbps, e.TCPRevGbps, e.TCPRevGbps/k.TCPRevGbps,
		"UDP 64 B kpps received", k.KPPS, e.KPPS, e.KPPS/k.KPPS)
	fmt.Println()
	b.ReportMetric(e.TCPGbps/k.TCPGbps, "tcp-ratio")
	b.ReportMetric(e.KPPS/k.KPPS, "pps-ratio")
}

func measureForwarding(b *testing.B, kernel bool) forwardingResult {
	b.Helper()
	b.StopTimer()
	l := New(b, benchOptions(kernel))
	l.P1.Start(b, "iperf3", "iperf3", "-s", "-B", Pod1.String())
	waitListening(b, l.P1, "5201")
	// warm up ARP and the path before timing
	l.EC2.Run(b, "ping", "-c", "1", "-W", "2", Pod1.String())
	b.StartTimer()
	tcp := runIperf(b, l.EC2, false, "-c", Pod1.String(), "-t", "4", "-O", "1")
	rev := runIperf(b, l.EC2, true, "-c", Pod1.String(), "-t", "4", "-O", "1")
	udp := runIperf(b, l.EC2, false, "-c", Pod1.String(), "-u", "-b", "0", "-l", "64", "-t", "4")
	b.StopTimer()
	s := udp.End.Sum
	if s.Seconds == 0 {
		b.Fatalf("iperf3 UDP reported no duration: %+v", s)
	}
	r := forwardingResult{
		TCPGbps:    tcp.End.SumReceived.BitsPerSecond / 1e9,
		TCPRevGbps: rev.End.SumReceived.BitsPerSecond / 1e9,
		KPPS:       (s.Packets - s.LostPackets) / s.Seconds / 1e3,
	}
	if l.DP != nil {
		st, err := l.DP.Stats()
		if err != nil {
			b.Fatal(err)
		}
		for reason, c := range st.Dropped {
			if c.Packets > 0 {
				b.Logf("eBPF path dropped %d packets: %s", c.Packets, reason)
			}
		}
	}
	b.Logf("%s: %s", map[bool]string{true: "kernel", false: "ebpf"}[kernel], fmt.Sprintf("%+v", r))
	return r
}
