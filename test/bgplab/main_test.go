package bgplab

import (
	"fmt"
	"os"
	"testing"
)

// routerBin is cmd/gsi-router built once for the package's tests: the router runs as
// its own process in its namespace (GoBGP's goroutines cannot be pinned to one).
var routerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gsi-bgplab-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	routerBin, err = BuildRouter(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
