package ec2sim

import (
	"testing"
)

// StartForTest runs a simulator on 127.0.0.1:0 for the duration of the test.
func StartForTest(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Config.Region == "" && len(opts.Config.VPCs) == 0 {
		opts.Config = DefaultConfig()
	}
	srv, err := Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatalf("start ec2sim: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close ec2sim: %v", err)
		}
	})
	return srv
}
