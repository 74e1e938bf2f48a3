package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/go-logr/logr/testr"
	"golang.org/x/sys/unix"

	"github.com/opengsi/gsi/router/fib"
)

// Frames for BPF_PROG_TEST_RUN: the program's verdicts and counters on packets it must
// refuse, pass or answer with an ICMP error, without any network namespace lab.

const (
	tcActOK   = 0
	tcActShot = 2
)

var (
	routerAddr = netip.MustParseAddr("10.0.0.2")
	tgwAddr    = netip.MustParseAddr("192.0.2.1")
	vrAddr     = netip.MustParseAddr("10.0.2.2")
	ec2Addr    = netip.MustParseAddr("10.1.0.10")
	podAddr    = netip.MustParseAddr("10.9.0.5")
	insideNet  = netip.MustParsePrefix("169.254.6.1/29")
)

func ipv4(src, dst netip.Addr, proto, ttl byte, df bool, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	if df {
		h[6] = 0x40
	}
	h[8], h[9] = ttl, proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], checksum(h))
	return append(h, payload...)
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func ether(payload []byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 1})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	return append(f, payload...)
}

func greHdr(flagsVer, proto uint16, payload []byte) []byte {
	h := binary.BigEndian.AppendUint16(nil, flagsVer)
	h = binary.BigEndian.AppendUint16(h, proto)
	return append(h, payload...)
}

func mplsUDP(label uint32, bottom bool, payload []byte) []byte {
	lse := label<<12 | 64
	if bottom {
		lse |= 1 << 8
	}
	b := binary.BigEndian.AppendUint16(nil, 50000)
	b = binary.BigEndian.AppendUint16(b, MPLSoUDPPort)
	b = binary.BigEndian.AppendUint16(b, uint16(8+4+len(payload)))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, lse)
	return append(b, payload...)
}

func icmpEcho() []byte {
	b := []byte{8, 0, 0, 0, 0, 1, 0, 1, 'p', 'i', 'n', 'g'}
	binary.BigEndian.PutUint16(b[2:], checksum(b))
	return b
}

// inNewNetns runs fn on a thread in a fresh network namespace (test runs resolve
// routes in the caller's namespace); the thread is discarded afterwards.
func inNewNetns(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		fn()
	}()
	<-done
}

func TestProgramVerdicts(t *testing.T) {
	requireRoot(t)
	d, err := New(Config{Address: routerAddr, Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.SetTunnels(Tunnel{Remote: tgwAddr, Local: routerAddr, Inside: insideNet}); err != nil {
		t.Fatal(err)
	}
	tab := fib.New()
	if _, err := tab.SetLabel(fib.LocalLabel{Label: 30}); err != nil {
		t.Fatal(err)
	}
	// a route whose next hop the test namespace cannot resolve
	mustRoute(t, tab, "10.9.0.0/16", mpls(vrAddr.String(), 100))
	sub := tab.Subscribe()
	defer sub.Close()
	runUntil(t, d, sub, d.Synced)

	echo := ipv4(ec2Addr, podAddr, 1, 64, true, icmpEcho())
	for _, tc := range []struct {
		name    string
		frame   []byte
		verdict uint32
		counter string // dropped reason or forwarded direction that must move
	}{
		{"GRE from an unknown peer is left to the kernel", ether(ipv4(netip.MustParseAddr("192.0.2.9"), routerAddr, 47, 64, false, greHdr(0, 0x0800, echo))), tcActOK, ""},
		{"GRE version 1", ether(ipv4(tgwAddr, routerAddr, 47, 64, false, greHdr(1, 0x0800, echo))), tcActShot, "gre_unsupported"},
		{"GRE routing bit", ether(ipv4(tgwAddr, routerAddr, 47, 64, false, greHdr(0x4000, 0x0800, echo))), tcActShot, "gre_unsupported"},
		{"GRE carrying IPv6", ether(ipv4(tgwAddr, routerAddr, 47, 64, false, greHdr(0, 0x86dd, echo))), tcActShot, "inner_not_ipv4"},
		{"GRE to the inside address is delivered", ether(ipv4(tgwAddr, routerAddr, 47, 64, false, greHdr(0, 0x0800, ipv4(netip.MustParseAddr("169.254.6.2"), insideNet.Addr(), 6, 64, true, make([]byte, 20))))), tcActOK, "gre_to_local"},
		{"MPLSoUDP with an unknown label", ether(ipv4(vrAddr, routerAddr, 17, 64, false, mplsUDP(31, true, echo))), tcActShot, "unknown_label"},
		{"MPLSoUDP with a label stack", ether(ipv4(vrAddr, routerAddr, 17, 64, false, mplsUDP(30, false, echo))), tcActShot, "label_stack"},
		{"MPLSoUDP to someone else is left alone", ether(ipv4(vrAddr, netip.MustParseAddr("10.0.0.3"), 17, 64, false, mplsUDP(30, true, echo))), tcActOK, ""},
		{"no route: ICMP unreachable, itself unroutable", ether(ipv4(vrAddr, routerAddr, 17, 64, false, mplsUDP(30, true, ipv4(podAddr, netip.MustParseAddr("10.77.0.1"), 1, 64, true, icmpEcho())))), tcActShot, "no_route"},
		{"next hop not resolvable", ether(ipv4(tgwAddr, routerAddr, 47, 64, false, greHdr(0, 0x0800, echo))), tcActShot, "fib_lookup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := d.Stats()
			if err != nil {
				t.Fatal(err)
			}
			var ret uint32
			var out []byte
			inNewNetns(t, func() {
				out = make([]byte, len(tc.frame)+256)
				ret, err = d.objs.GsiIngress.Run(&ebpf.RunOptions{Data: tc.frame, DataOut: out})
			})
			if err != nil {
				t.Fatalf("test run: %v", err)
			}
			if ret != tc.verdict {
				t.Fatalf("verdict %d, want %d", ret, tc.verdict)
			}
			after, err := d.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if tc.counter == "" {
				if before.Forwarded["gre_to_local"] != after.Forwarded["gre_to_local"] || sumDrops(after) != sumDrops(before) {
					t.Fatalf("counters moved for a packet that is not ours")
				}
				if !bytes.Equal(out[:len(tc.frame)], tc.frame) {
					t.Fatal("a packet that is not ours was modified")
				}
				return
			}
			moved := after.Dropped[tc.counter].Packets - before.Dropped[tc.counter].Packets +
				after.Forwarded[tc.counter].Packets - before.Forwarded[tc.counter].Packets
			if moved == 0 {
				t.Fatalf("counter %s did not move: %+v", tc.counter, after)
			}
		})
	}
}

func sumDrops(s Stats) (n uint64) {
	for _, c := range s.Dropped {
		n += c.Packets
	}
	return n
}

// TestTTLExpiryBecomesTimeExceeded checks the ICMP error the program builds in place:
// type 11 to the source, quoting the original header, with valid checksums.
func TestTTLExpiryBecomesTimeExceeded(t *testing.T) {
	requireRoot(t)
	d, err := New(Config{Address: routerAddr, Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.SetTunnels(Tunnel{Remote: tgwAddr, Local: routerAddr, Inside: insideNet}); err != nil {
		t.Fatal(err)
	}
	tab := fib.New()
	mustRoute(t, tab, "10.9.0.0/16", mpls(vrAddr.String(), 100))
	mustRoute(t, tab, "10.1.0.0/16", gre(tgwAddr.String()))
	sub := tab.Subscribe()
	defer sub.Close()
	runUntil(t, d, sub, d.Synced)

	inner := ipv4(ec2Addr, podAddr, 1, 1, true, icmpEcho())
	frame := ether(ipv4(tgwAddr, routerAddr, 47, 64, false, greHdr(0, 0x0800, inner)))
	out := make([]byte, len(frame)+256)
	var ret uint32
	inNewNetns(t, func() {
		ret, err = d.objs.GsiIngress.Run(&ebpf.RunOptions{Data: frame, DataOut: out})
	})
	if err != nil {
		t.Fatal(err)
	}
	// the error towards EC2 cannot leave this empty namespace: dropped at the underlay
	// lookup, after it was built
	if ret != tcActShot {
		t.Fatalf("verdict %d", ret)
	}
	ip := out[14:]
	if ip[9] != 1 || netip.AddrFrom4([4]byte(ip[16:20])) != ec2Addr || netip.AddrFrom4([4]byte(ip[12:16])) != routerAddr {
		t.Fatalf("not an ICMP error from the router to EC2: % x", ip[:20])
	}
	if binary.BigEndian.Uint16(ip[2:]) != 56 || checksum(ip[:20]) != 0 {
		t.Fatalf("IP header length %d or checksum wrong: % x", binary.BigEndian.Uint16(ip[2:]), ip[:20])
	}
	icmp := ip[20:56]
	if icmp[0] != 11 || icmp[1] != 0 || checksum(icmp) != 0 {
		t.Fatalf("ICMP type %d code %d checksum ok %v", icmp[0], icmp[1], checksum(icmp) == 0)
	}
	if !bytes.Equal(icmp[8:], inner[:28]) {
		t.Fatalf("quote % x, want % x", icmp[8:], inner[:28])
	}
	s, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.ICMPSent["time_exceeded"].Packets != 1 || s.Dropped["ttl_exceeded"].Packets != 1 {
		t.Fatalf("counters: %+v %+v", s.ICMPSent, s.Dropped)
	}
}
