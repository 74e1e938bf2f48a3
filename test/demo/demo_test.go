package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opengsi/gsi/test/envtest"
	"github.com/opengsi/gsi/test/netlab"
)

// TestDemoConverges runs `make demo`'s whole system once, as a user would see it, so the
// README's first command keeps working: AWS resources created in the simulator, the
// router's three BGP sessions established with FRR and BIRD, the web VN's prefix in every
// VPC route table and advertised to the TGW.
func TestDemoConverges(t *testing.T) {
	if _, err := envtest.Assets(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	netlab.Require(t, "ip", "bird", "vtysh", "kubectl")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	d, err := start(ctx, options{once: true, dir: t.TempDir(), ec2Addr: "127.0.0.1:0"})
	if d != nil {
		defer d.close()
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.kubectlOutput(ctx, "gsi", "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"available", "2/2 up", "1/1 up", "172.16.0.0/16", "2/2 active", "yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl gsi status lacks %q:\n%s", want, out)
		}
	}
	learned, err := d.lab.tgw[0].Learned()
	if err != nil {
		t.Fatal(err)
	}
	if len(learned) != 1 {
		t.Errorf("the TGW learned %v from the router; want the web VN's aggregate alone", learned)
	}
}
