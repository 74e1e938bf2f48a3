package controllertest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/opengsi/gsi/controller/aws"
)

// BenchmarkExposure labels 100 VNs one after the other and measures, for each, the time
// from the label to its route being in both route tables of the simulator; it reports
// p50 and p99 and the controller's AWS calls per exposure (all, and mutating). The
// controller runs with its production rate limits (5 mutating calls/s per operation,
// burst 20), so the figures include the client-side throttling AWS would otherwise do.
func BenchmarkExposure(b *testing.B) {
	const vns = 100
	h := newHarness(b, harnessOptions{nodes: 1})
	h.startManager(nil)
	h.must(h.c.Create(h.ctx, h.sourceTGW("tgw1", 1)))
	tgwID := h.waitAvailable("tgw1", 60*time.Second).Status.TransitGatewayID
	for i := range vns {
		h.addVN(h.ns, fmt.Sprintf("vn%03d", i), fmt.Sprintf("10.%d.%d.0/24", 100+i/200, i%200), i)
	}
	ac := h.awsClient()
	var lat []time.Duration
	var calls, mutations float64
	b.ResetTimer()
	for range b.N {
		before := awsCalls(b)
		for i := range vns {
			cidr := fmt.Sprintf("10.%d.%d.0/24", 100+i/200, i%200)
			start := time.Now()
			h.label(h.ns, fmt.Sprintf("vn%03d", i), "tgw1")
			for {
				if inBothTables(b, h, ac, tgwID, cidr) {
					break
				}
				if time.Since(start) > time.Minute {
					b.Fatalf("%s not routed after a minute", cidr)
				}
				time.Sleep(2 * time.Millisecond)
			}
			lat = append(lat, time.Since(start))
		}
		want := map[string]bool{}
		for i := range vns {
			want[fmt.Sprintf("10.%d.%d.0/24", 100+i/200, i%200)] = true
		}
		eventually(b, time.Minute, "every route and rule in place", func() error { return h.checkAWS(tgwID, sortedSet(want)) })
		after := awsCalls(b)
		groups, err := ac.ListSecurityGroups(h.ctx, h.owner("tgw1"))
		h.must(err)
		b.Logf("%d exposures: %d security groups (rule limit %d), calls %v", vns, len(groups), 60, diffCalls(before, after))
		for op, n := range after {
			d := n - before[op]
			calls += d
			if isMutating(op) {
				mutations += d
			}
		}
		b.StopTimer()
		for i := range vns {
			h.label(h.ns, fmt.Sprintf("vn%03d", i), "")
		}
		// 200 DeleteRoute calls at the production rate limit take a while.
		eventually(b, 3*time.Minute, "every route withdrawn", func() error { return h.checkAWS(tgwID, nil) })
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	n := float64(b.N * vns)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(calls/n, "aws-calls/exposure")
	b.ReportMetric(mutations/n, "mutating-calls/exposure")
}

// inBothTables reports the route in every route table of the VPC.
func inBothTables(b *testing.B, h *harness, ac *aws.Client, tgwID, cidr string) bool {
	rts, err := ac.DescribeRouteTables(h.ctx, vpcID)
	if err != nil {
		b.Fatal(err)
	}
	for _, rt := range rts {
		if !slices.ContainsFunc(rt.Routes, func(r aws.Route) bool { return r.DestinationCIDR == cidr && r.TransitGatewayID == tgwID }) {
			return false
		}
	}
	return len(rts) > 0
}

// awsCalls sums gsi_aws_api_calls_total by operation (the controller's calls only: the
// observer's client registers no metrics).
func awsCalls(b *testing.B) map[string]float64 {
	b.Helper()
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "gsi_aws_api_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[label(m, "operation")] += m.GetCounter().GetValue()
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func diffCalls(a, b map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range b {
		if d := v - a[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}
