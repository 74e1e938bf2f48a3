package netlab

import (
	"net"
	"testing"
)

func TestForwardReachesTheTestMachine(t *testing.T) {
	Require(t, "curl")
	lab := New(t)
	h := lab.Host("fwd")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hello from the host\n"))
			c.Close()
		}
	}()
	h.Forward(t, "127.0.0.1:7000", ln.Addr().String())
	out := h.Run(t, "curl", "-s", "--max-time", "5", "telnet://127.0.0.1:7000")
	if out != "hello from the host\n" {
		t.Fatalf("through the forward: %q", out)
	}
}
