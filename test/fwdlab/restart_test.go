package fwdlab

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"golang.org/x/sys/unix"

	"github.com/opengsi/gsi/router/dataplane"
	"github.com/opengsi/gsi/test/netlab"
)

// The restart test runs the router as a separate process (this test binary, re-run
// with these variables set) so that it can really crash.
const (
	envRouterPin = "GSI_FWDLAB_ROUTER_PIN"
	envRouterIfs = "GSI_FWDLAB_ROUTER_IFS"
	envRouterTC  = "GSI_FWDLAB_ROUTER_TC"
)

func TestMain(m *testing.M) {
	if pin := os.Getenv(envRouterPin); pin != "" {
		if err := routerMain(pin, strings.Split(os.Getenv(envRouterIfs), ",")); err != nil {
			fmt.Fprintln(os.Stderr, "router:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// routerMain is the router process: the lab's FIB, a pinned data plane, until SIGTERM.
func routerMain(pin string, ifs []string) error {
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
	tab, err := LabFIB()
	if err != nil {
		return err
	}
	mode := dataplane.AttachTCX
	if os.Getenv(envRouterTC) != "" {
		mode = dataplane.AttachTC
	}
	dp, err := dataplane.New(dataplane.Config{Address: RouterNode, PinPath: pin, Attach: mode, Log: log})
	if err != nil {
		return err
	}
	if err := dp.Attach(ifs...); err != nil {
		return err
	}
	if err := dp.SetTunnels(dataplane.Tunnel{Remote: TGWGRE, Local: RouterNode, Inside: Inside, Device: ifs[0]}); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sub := tab.Subscribe()
	defer sub.Close()
	if err := dp.Run(ctx, sub); err != nil {
		return err
	}
	if err := dp.Close(); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "router: closed")
	return nil
}

func startRouterProcess(t *testing.T, l *Lab, pin string, tc bool) *netlab.Process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := l.Router.Start(t, "router", "env", envRouterPin+"="+pin, fmt.Sprintf("%s=%s", envRouterTC, map[bool]string{true: "1"}[tc]),
		envRouterIfs+"="+strings.Join([]string{l.RouterTGWIf, l.RouterVR1If, l.RouterVR2If}, ","),
		exe, "-test.run=^$")
	waitLog(t, p, "data plane in sync")
	return p
}

func waitLog(t *testing.T, p *netlab.Process, want string) {
	t.Helper()
	netlab.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), want) {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("router exited: %v\n%s", p.Wait(), b)
		}
		return fmt.Errorf("no %q in the router's log yet", want)
	})
}

func TestRouterCrashAndRestartKeepForwarding(t *testing.T) {
	requireTools(t)
	for _, tc := range []struct {
		name  string
		useTC bool
		// adopted is what the second run logs when it takes over the attachment
		adopted string
	}{
		{"tcx", false, "adopted pinned attachment"},
		{"tc", true, `"how"="tc"`},
	} {
		t.Run(tc.name, func(t *testing.T) { crashAndRestart(t, tc.useTC, tc.adopted) })
	}
}

func crashAndRestart(t *testing.T, useTC bool, adopted string) {
	l := New(t, Options{ExternalRouter: true, TGWLinkMTU: 9001, VR1LinkMTU: 9001, VR2LinkMTU: 9001})
	fs := t.TempDir()
	if err := unix.Mount("bpf", fs, "bpf", 0, ""); err != nil {
		t.Fatalf("mounting bpffs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(fs, unix.MNT_DETACH) })
	pin := filepath.Join(fs, "gsi")

	first := startRouterProcess(t, l, pin, useTC)
	if out, err := l.EC2.Output("ping", "-c", "1", "-W", "2", Pod1.String()); err != nil {
		t.Fatalf("no forwarding with the first router: %v\n%s", err, out)
	}
	// a steady stream across the crash and the restart: none of it may be lost
	stream := l.EC2.Start(t, "ping", "ping", "-i", "0.01", "-c", "300", "-W", "1", Pod1.String())
	first.Kill()
	second := startRouterProcess(t, l, pin, useTC)
	waitLog(t, second, adopted)
	if err := stream.Wait(); err != nil {
		b, _ := os.ReadFile(stream.Log)
		t.Fatalf("ping across the crash and restart: %v\n%s", err, b)
	}
	b, _ := os.ReadFile(stream.Log)
	if !strings.Contains(string(b), "300 received") {
		t.Fatalf("packets lost across the crash and restart:\n%s", b)
	}

	// an orderly stop removes everything: pins, attachments, the inside route
	second.Stop()
	waitLog(t, second, "router: closed")
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Fatalf("pins left after shutdown: %v", err)
	}
	if out, err := l.EC2.Output("ping", "-c", "1", "-W", "1", Pod1.String()); err == nil {
		t.Fatalf("still forwarding after shutdown:\n%s", out)
	}
	if out := l.Router.Run(t, "ip", "route", "show", Inside.Masked().String()); strings.TrimSpace(out) != "" {
		t.Fatalf("inside route left after shutdown: %s", out)
	}
}
