package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
)

// routeView is what a wait looks at each time something changes: the Routes of one VN.
type routeView func(routes []*corev1.Route) (done bool, err error)

// followRoutes calls view with the Routes of VN ns/name, first from a list and then after
// every change a watch reports, until view says done, fails, or ctx ends. A watch that
// closes (API server restart, expired resource version) is resumed from a fresh list.
func (o *Options) followRoutes(ctx context.Context, ns, name string, view routeView) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	wc, err := client.NewWithWatch(o.config, client.Options{Scheme: o.scheme, Mapper: o.mapper})
	if err != nil {
		return fmt.Errorf("creating watch client: %w", err)
	}
	for {
		var l corev1.RouteList
		if err := c.List(ctx, &l, client.InNamespace(o.GSINamespace)); err != nil {
			return fmt.Errorf("listing Routes in %s: %w", o.GSINamespace, err)
		}
		routes := map[string]*corev1.Route{}
		for i := range l.Items {
			routes[l.Items[i].Name] = &l.Items[i]
		}
		if done, err := view(routesOf(routes, ns, name)); done || err != nil {
			return err
		}
		w, err := wc.Watch(ctx, &corev1.RouteList{}, client.InNamespace(o.GSINamespace),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: l.ResourceVersion, AllowWatchBookmarks: true}})
		if err != nil {
			return fmt.Errorf("watching Routes in %s: %w", o.GSINamespace, err)
		}
		began := time.Now()
		done, err := consume(ctx, w, routes, func() (bool, error) { return view(routesOf(routes, ns, name)) })
		w.Stop()
		if done || err != nil {
			return err
		}
		// A watch that ends at once (an API server restarting) is retried after a pause,
		// not in a tight list/watch loop.
		if time.Since(began) < time.Second {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
}

// consume applies watch events to routes until view is done or the watch ends.
func consume(ctx context.Context, w watch.Interface, routes map[string]*corev1.Route, view func() (bool, error)) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			r, isRoute := ev.Object.(*corev1.Route)
			switch {
			case ev.Type == watch.Error:
				return false, nil
			case !isRoute || ev.Type == watch.Bookmark:
				continue
			case ev.Type == watch.Deleted:
				delete(routes, r.Name)
			default:
				routes[r.Name] = r
			}
			if done, err := view(); done || err != nil {
				return done, err
			}
		}
	}
}

func routesOf(routes map[string]*corev1.Route, ns, name string) []*corev1.Route {
	var out []*corev1.Route
	for _, r := range routes {
		if r.Spec.VirtualNetwork.Namespace == ns && r.Spec.VirtualNetwork.Name == name {
			out = append(out, r)
		}
	}
	return out
}

// progress prints a line only when it differs from the last one, with the time since
// the wait began.
type progress struct {
	w     io.Writer
	start time.Time
	last  string
}

func (p *progress) say(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if line == p.last {
		return
	}
	p.last = line
	fmt.Fprintf(p.w, "[%5s] %s\n", time.Since(p.start).Truncate(time.Second), line)
}

// waitExposed follows VN ns/name's Route until it is active in every VPC route table and
// advertised to the TGW.
func (eo *exposeOptions) waitExposed(ctx context.Context, w io.Writer, ns, name, gw string) error {
	ctx, cancel := context.WithTimeout(ctx, eo.timeout)
	defer cancel()
	expected, err := eo.routeTableIDs(ctx)
	if err != nil {
		return err
	}
	pr := &progress{w: w, start: time.Now()}
	err = eo.followRoutes(ctx, ns, name, func(routes []*corev1.Route) (bool, error) {
		if len(routes) == 0 {
			pr.say("waiting for the controller to create the Route for %s/%s", ns, name)
			return false, nil
		}
		all := true
		for _, r := range routes {
			done, err := exposeStep(pr, r, expected)
			if err != nil {
				return false, err
			}
			all = all && done
		}
		return all, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return withCode(ExitTimeout, fmt.Errorf("timed out after %s waiting for virtualnetwork %s/%s to be routed through %s; last: %s",
			eo.timeout, ns, name, gw, orDash(pr.last)))
	}
	return err
}

// exposeStep reports one Route's progress and says whether it is done.
func exposeStep(pr *progress, r *corev1.Route, expected []string) (bool, error) {
	ts := routeTables(r, expected)
	switch r.Status.State {
	case corev1.RouteFailed, corev1.RouteConflict:
		return false, withCode(ExitUnhealthy, fmt.Errorf("route %s for %s is %s: %s",
			r.Spec.DestinationCIDR, vnKey(r.Spec.VirtualNetwork), r.Status.State, orDash(routeMessage(r))))
	}
	if routeDone(r, expected) {
		pr.say("route %s is active in %d/%d VPC route tables and advertised to transitgateway %s",
			r.Spec.DestinationCIDR, len(ts), len(ts), r.Spec.TransitGatewayName)
		return true, nil
	}
	state := string(r.Status.State)
	if state == "" {
		state = "created" // the controller has not written its status yet
	}
	pr.say("route %s: %s, route tables %s (%s), advertised %s",
		r.Spec.DestinationCIDR, state, tablesSummary(ts), tablesDetail(ts), yesNo(r.Status.Advertised))
	return false, nil
}

// waitWithdrawn follows VN ns/name's Routes until none is left.
func (uo *unexposeOptions) waitWithdrawn(ctx context.Context, w io.Writer, ns, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pr := &progress{w: w, start: time.Now()}
	err := uo.followRoutes(ctx, ns, name, func(routes []*corev1.Route) (bool, error) {
		if len(routes) == 0 {
			pr.say("routes of %s/%s withdrawn", ns, name)
			return true, nil
		}
		r := routes[0]
		pr.say("waiting for route %s to be withdrawn (%s)", r.Spec.DestinationCIDR, orDash(string(r.Status.State)))
		return false, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return withCode(ExitTimeout, fmt.Errorf("timed out after %s waiting for the routes of virtualnetwork %s/%s to be withdrawn; last: %s",
			timeout, ns, name, orDash(pr.last)))
	}
	return err
}
