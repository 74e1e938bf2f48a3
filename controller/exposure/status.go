package exposure

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// ExposedAtAnnotation records when the controller first saw a VN's expose label (RFC
// 3339 with nanoseconds), the start of the exposure latency.
const ExposedAtAnnotation = "core.gsi.juniper.net/exposed-at"

var (
	exposureLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gsi_exposure_latency_seconds",
		Help:    "Time from the controller seeing a VirtualNetwork's expose label to its route being in every VPC route table and the security group.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
	})
	routesByState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gsi_routes",
		Help: "Routes (exposed prefixes) by transit gateway and state, as of the last sync.",
	}, []string{"namespace", "transit_gateway", "state"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(exposureLatency, routesByState)
}

// WriteStatuses patches the statuses that changed and observes the exposure latency of
// Routes that just became active.
func WriteStatuses(ctx context.Context, c client.Client, routes []gsiv1.Route, statuses map[string]gsiv1.RouteStatus) error {
	var errs error
	counts := map[gsiv1.RouteState]float64{}
	ns, tgw := "", ""
	for i := range routes {
		r := &routes[i]
		ns, tgw = r.Namespace, r.Spec.TransitGatewayName
		st, ok := statuses[r.Name]
		if !ok {
			continue
		}
		counts[st.State]++
		if equality.Semantic.DeepEqual(r.Status, st) {
			continue
		}
		before := r.DeepCopy()
		wasActive := r.Status.State == gsiv1.RouteActive
		r.Status = st
		if err := c.Status().Patch(ctx, r, client.MergeFrom(before)); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = errors.Join(errs, fmt.Errorf("updating Route %s/%s status: %w", r.Namespace, r.Name, err))
			}
			continue
		}
		if !wasActive && st.State == gsiv1.RouteActive {
			observeLatency(r)
		}
	}
	if tgw != "" {
		for _, s := range []gsiv1.RouteState{gsiv1.RoutePending, gsiv1.RouteActive, gsiv1.RouteConflict, gsiv1.RouteFailed} {
			routesByState.WithLabelValues(ns, tgw, string(s)).Set(counts[s])
		}
	}
	return errs
}

// ForgetMetrics drops the gauges of a deleted transit gateway.
func ForgetMetrics(namespace, tgw string) {
	routesByState.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "transit_gateway": tgw})
}

func observeLatency(r *gsiv1.Route) {
	at, err := time.Parse(time.RFC3339Nano, r.Annotations[ExposedAtAnnotation])
	if err != nil {
		at = r.CreationTimestamp.Time
	}
	exposureLatency.Observe(time.Since(at).Seconds())
}

// AwaitingAdvertisement reports whether a Route is programmed into the VPC but the
// routers' announcement has not yet reached the TGW: the one state that changes without
// any Kubernetes or AWS write gsi would be told about.
func AwaitingAdvertisement(routes []gsiv1.Route) bool {
	for _, r := range routes {
		if r.DeletionTimestamp == nil && r.Status.State == gsiv1.RouteActive && !r.Status.Advertised {
			return true
		}
	}
	return false
}

// RefreshAdvertised updates status.advertised of the Routes from the TGW's learned
// routes (one SearchTransitGatewayRoutes call), leaving every other field as it is.
func RefreshAdvertised(ctx context.Context, c client.Client, p Plan, routes []gsiv1.Route) error {
	advertised := p.Advertised(ctx)
	if advertised == nil {
		return nil
	}
	statuses := map[string]gsiv1.RouteStatus{}
	for _, r := range routes {
		st := *r.Status.DeepCopy()
		st.Advertised = advertised[r.Spec.DestinationCIDR]
		statuses[r.Name] = st
	}
	return WriteStatuses(ctx, c, routes, statuses)
}
