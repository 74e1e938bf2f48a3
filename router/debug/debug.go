// Package debug serves the router's inspection endpoints on a local address: the
// forwarding table, the sessions, the exposed VNs, Prometheus metrics and health. The
// `gsi-router show` commands read them, so `kubectl exec` is enough to look inside.
package debug

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opengsi/gsi/router/fib"
	"github.com/opengsi/gsi/router/routesync"
	"github.com/opengsi/gsi/router/status"
)

// State is what the views read.
type State interface {
	Sessions(ctx context.Context) ([]status.Session, error)
	VNs() ([]routesync.VNStatus, error)
}

// FIBView is the forwarding table as served.
type FIBView struct {
	Routes []RouteView `json:"routes"`
	Labels []LabelView `json:"labels"`
}

// RouteView is one route.
type RouteView struct {
	Prefix   netip.Prefix `json:"prefix"`
	VN       string       `json:"vn,omitempty"`
	NextHops []HopView    `json:"nextHops"`
}

// HopView is one next hop.
type HopView struct {
	Encap   string     `json:"encap"`
	Address netip.Addr `json:"address"`
	Label   uint32     `json:"label,omitempty"`
}

// LabelView is one local label.
type LabelView struct {
	Label uint32 `json:"label"`
	VN    string `json:"vn"`
}

// VNView is one exposed VN.
type VNView struct {
	Name        string         `json:"name"`
	RouteTarget string         `json:"routeTarget"`
	Label       uint32         `json:"label"`
	RD          string         `json:"rd"`
	Advertised  []netip.Prefix `json:"advertised"`
	PodRoutes   int            `json:"podRoutes"`
}

// NewFIBView snapshots a table.
func NewFIBView(t *fib.Table) FIBView {
	v := FIBView{Routes: []RouteView{}, Labels: []LabelView{}}
	for _, r := range t.Routes() {
		rv := RouteView{Prefix: r.Prefix, VN: r.VN}
		for _, h := range r.NextHops {
			rv.NextHops = append(rv.NextHops, HopView{Encap: h.Encap.String(), Address: h.Address, Label: h.Label})
		}
		v.Routes = append(v.Routes, rv)
	}
	for _, l := range t.Labels() {
		v.Labels = append(v.Labels, LabelView{Label: l.Label, VN: l.VN})
	}
	return v
}

// Handler serves /debug/fib, /debug/sessions, /debug/vns, /debug/pprof, /metrics and
// /healthz.
// Views answer JSON; `?format=text` gives a table.
func Handler(t *fib.Table, st State, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/fib", func(w http.ResponseWriter, r *http.Request) {
		v := NewFIBView(t)
		serve(w, r, v, func(out io.Writer) { WriteFIB(out, v) })
	})
	mux.HandleFunc("GET /debug/sessions", func(w http.ResponseWriter, r *http.Request) {
		ses, err := st.Sessions(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		serve(w, r, ses, func(out io.Writer) { WriteSessions(out, ses) })
	})
	mux.HandleFunc("GET /debug/vns", func(w http.ResponseWriter, r *http.Request) {
		vns, err := st.VNs()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		views := make([]VNView, 0, len(vns))
		for _, vn := range vns {
			views = append(views, VNView{Name: vn.Name, RouteTarget: vn.RouteTarget.String(), Label: vn.Label, RD: string(vn.RD), Advertised: vn.Reachable, PodRoutes: vn.PodRoutes})
		}
		serve(w, r, views, func(out io.Writer) { WriteVNs(out, views) })
	})
	// profiles, on the same local-only listener: memory questions at 100k routes
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := st.VNs(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

func serve(w http.ResponseWriter, r *http.Request, v any, text func(io.Writer)) {
	if r.URL.Query().Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		text(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// WriteFIB prints the table for people.
func WriteFIB(out io.Writer, v FIBView) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tVN\tNEXT HOPS")
	for _, r := range v.Routes {
		hops := make([]string, 0, len(r.NextHops))
		for _, h := range r.NextHops {
			hops = append(hops, fib.NextHop{Encap: encapOf(h.Encap), Address: h.Address, Label: h.Label}.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Prefix, dash(r.VN), strings.Join(hops, ", "))
	}
	fmt.Fprintln(tw, "\nLOCAL LABEL\tVN\t")
	for _, l := range v.Labels {
		fmt.Fprintf(tw, "%d\t%s\t\n", l.Label, l.VN)
	}
	tw.Flush()
}

func encapOf(s string) fib.Encap {
	for _, e := range []fib.Encap{fib.EncapMPLSoUDP, fib.EncapGRE} {
		if e.String() == s {
			return e
		}
	}
	return 0
}

// WriteSessions prints the sessions for people.
func WriteSessions(out io.Writer, ses []status.Session) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tASN\tROLE\tSTATE\tSINCE\tRECEIVED\tADVERTISED")
	for _, s := range ses {
		since := "-"
		if !s.Since.IsZero() {
			since = time.Since(s.Since).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\n", s.Peer, s.ASN, s.Role, s.State, since, s.Received, s.Advertised)
	}
	tw.Flush()
}

// WriteVNs prints the exposed VNs for people.
func WriteVNs(out io.Writer, vns []VNView) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VN\tROUTE TARGET\tLABEL\tRD\tPOD ROUTES\tADVERTISED")
	for _, v := range vns {
		adv := make([]string, 0, len(v.Advertised))
		for _, p := range v.Advertised {
			adv = append(adv, p.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", v.Name, v.RouteTarget, v.Label, v.RD, v.PodRoutes, dash(strings.Join(adv, ",")))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Get fetches a view from a running router's debug address into v (JSON).
func Get(ctx context.Context, addr, view string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/"+view, nil)
	if err != nil {
		return fmt.Errorf("debug %s: %w", view, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("debug %s: %w", view, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("debug %s: %s: %s", view, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("debug %s: decode: %w", view, err)
	}
	return nil
}
