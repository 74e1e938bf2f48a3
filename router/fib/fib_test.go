package fib

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func mpls(addr string, label uint32) NextHop {
	return NextHop{Encap: EncapMPLSoUDP, Address: netip.MustParseAddr(addr), Label: label}
}

func TestLookupIsLongestPrefixMatch(t *testing.T) {
	tab := New()
	for _, r := range []Route{
		{Prefix: netip.MustParsePrefix("10.10.0.0/16"), NextHops: []NextHop{mpls("192.0.2.1", 20)}},
		{Prefix: netip.MustParsePrefix("10.10.1.5/32"), NextHops: []NextHop{mpls("192.0.2.2", 21)}},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHops: []NextHop{{Encap: EncapGRE, Address: netip.MustParseAddr("198.51.100.1")}}},
	} {
		if _, err := tab.SetRoute(r); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		dst, want string
	}{
		{"10.10.1.5", "10.10.1.5/32"},
		{"10.10.1.6", "10.10.0.0/16"},
		{"172.16.0.1", "0.0.0.0/0"},
	}
	for _, c := range cases {
		r, ok := tab.Lookup(netip.MustParseAddr(c.dst))
		if !ok || r.Prefix.String() != c.want {
			t.Errorf("Lookup(%s) = %v, %v; want %s", c.dst, r.Prefix, ok, c.want)
		}
	}
}

func TestSetRouteNormalisesAndRejects(t *testing.T) {
	tab := New()
	changed, err := tab.SetRoute(Route{
		Prefix:   netip.MustParsePrefix("10.1.2.3/24"),
		NextHops: []NextHop{mpls("192.0.2.2", 30), mpls("192.0.2.1", 30), mpls("192.0.2.2", 30)},
	})
	if err != nil || !changed {
		t.Fatalf("SetRoute = %v, %v", changed, err)
	}
	r, ok := tab.Route(netip.MustParsePrefix("10.1.2.0/24"))
	if !ok || len(r.NextHops) != 2 || r.NextHops[0].Address.String() != "192.0.2.1" {
		t.Fatalf("route not masked, sorted and deduplicated: %+v", r)
	}
	again, _ := tab.SetRoute(r)
	if again {
		t.Error("setting an identical route reported a change")
	}
	bad := []Route{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), NextHops: []NextHop{mpls("192.0.2.1", MaxLabel+1)}},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), NextHops: []NextHop{{Encap: EncapGRE, Address: netip.MustParseAddr("192.0.2.1"), Label: 5}}},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), NextHops: []NextHop{{Encap: EncapMPLSoUDP}}},
	}
	for i, r := range bad {
		if _, err := tab.SetRoute(r); err == nil {
			t.Errorf("bad route %d accepted", i)
		}
	}
	if _, err := tab.SetLabel(LocalLabel{Label: 3}); err == nil {
		t.Error("reserved label 3 accepted")
	}
}

func TestSubscriptionReplaysStateThenStreamsChangesInOrder(t *testing.T) {
	tab := New()
	p1 := netip.MustParsePrefix("10.1.0.0/16")
	p2 := netip.MustParsePrefix("10.2.0.0/16")
	mustSet(t, tab, Route{Prefix: p1, NextHops: []NextHop{mpls("192.0.2.1", 20)}})
	if _, err := tab.SetLabel(LocalLabel{Label: 100, VN: "ns/vn"}); err != nil {
		t.Fatal(err)
	}
	sub := tab.Subscribe()
	defer sub.Close()
	mustSet(t, tab, Route{Prefix: p2, NextHops: []NextHop{mpls("192.0.2.2", 21)}})
	tab.DeleteRoute(p1)
	// an empty ECMP set deletes
	mustSet(t, tab, Route{Prefix: p2})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []Change
	for len(got) < 5 {
		batch, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d changes: %v", len(got), err)
		}
		got = append(got, batch...)
	}
	// the replay of the initial state comes first, in either order
	initial := map[string]bool{}
	for _, c := range got[:2] {
		if c.Op != OpUpsert {
			t.Fatalf("replay op = %v", c.Op)
		}
		if c.Route != nil {
			initial["route "+c.Route.Prefix.String()] = true
		} else {
			initial["label"] = true
		}
	}
	if !initial["route 10.1.0.0/16"] || !initial["label"] {
		t.Fatalf("replay = %v", initial)
	}
	want := []struct {
		op     Op
		prefix netip.Prefix
	}{{OpUpsert, p2}, {OpDelete, p1}, {OpDelete, p2}}
	for i, w := range want {
		c := got[2+i]
		if c.Op != w.op || c.Route == nil || c.Route.Prefix != w.prefix {
			t.Errorf("change %d = %v %+v; want %v %s", i, c.Op, c.Route, w.op, w.prefix)
		}
	}
}

func TestNextReturnsWhenContextEnds(t *testing.T) {
	sub := New().Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sub.Next(ctx); err == nil {
		t.Fatal("Next on a cancelled context returned no error")
	}
}

func mustSet(t *testing.T, tab *Table, r Route) {
	t.Helper()
	if _, err := tab.SetRoute(r); err != nil {
		t.Fatal(err)
	}
}
