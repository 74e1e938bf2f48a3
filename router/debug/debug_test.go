package debug

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/fib"
	"github.com/opengsi/gsi/router/routesync"
	"github.com/opengsi/gsi/router/status"
)

type state struct{}

func (state) Sessions(context.Context) ([]status.Session, error) {
	return []status.Session{{Peer: "10.0.0.5", ASN: 64512, Role: status.RoleControlNode, State: "established"}}, nil
}

func (state) VNs() ([]routesync.VNStatus, error) {
	return []routesync.VNStatus{{Name: "default/vn1", RouteTarget: config.RouteTarget{ASN: 64512, Value: 8000001}, Label: 1000,
		RD: "169.254.10.1:1000", Reachable: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}, PodRoutes: 1}}, nil
}

func get(t *testing.T, srv *httptest.Server, path string) string {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, b)
	}
	return string(b)
}

func TestViews(t *testing.T) {
	table := fib.New()
	hop := fib.NextHop{Encap: fib.EncapMPLSoUDP, Address: netip.MustParseAddr("10.20.0.11"), Label: 30}
	if _, err := table.SetRoute(fib.Route{Prefix: netip.MustParsePrefix("10.1.0.5/32"), NextHops: []fib.NextHop{hop}, VN: "default/vn1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := table.SetLabel(fib.LocalLabel{Label: 1000, VN: "default/vn1"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(table, state{}, prometheus.NewRegistry()))
	defer srv.Close()

	var v FIBView
	if err := json.Unmarshal([]byte(get(t, srv, "/debug/fib")), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Routes) != 1 || v.Routes[0].NextHops[0] != (HopView{Encap: "mpls-udp", Address: hop.Address, Label: 30}) || v.Labels[0].Label != 1000 {
		t.Errorf("fib view = %+v", v)
	}
	for path, want := range map[string]string{
		"/debug/fib?format=text":      "mpls-udp label 30 via 10.20.0.11",
		"/debug/sessions?format=text": "control-node  established",
		"/debug/vns?format=text":      "169.254.10.1:1000",
		"/healthz":                    "ok",
	} {
		if got := get(t, srv, path); !strings.Contains(got, want) {
			t.Errorf("%s:\n%s\nwant it to contain %q", path, got, want)
		}
	}
}
