package fwdlab

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opengsi/gsi/test/netlab"
)

// Capture records the frames of one interface (tcpdump) for tshark, the lab's
// independent decoder: what the data plane and the stand-ins put on the wire is judged
// by it, not by our own parsing.
type Capture struct {
	ifc  string
	base int // frames the interface had passed when the capture started
	h    *netlab.Host
	p    *netlab.Process
	file string
}

// StartCapture starts capturing on ifc in h and returns once tshark is capturing.
func StartCapture(t testing.TB, h *netlab.Host, ifc string) *Capture {
	t.Helper()
	netlab.Require(t, "tshark", "tcpdump")
	file := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%s.pcap", h.Name, ifc))
	// tcpdump writes each frame as it comes (--immediate-mode -U): dumpcap's ring
	// buffer hands over the last frames only after a timeout, so a stop loses them.
	p := h.Start(t, "tcpdump-"+ifc, "tcpdump", "-Z", "root", "--immediate-mode", "-U", "-n", "-s", "0", "-B", "65536", "-i", ifc, "-w", file)
	c := &Capture{ifc: ifc, h: h, p: p, file: file}
	netlab.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			return err
		}
		if p.Exited() {
			return fmt.Errorf("tcpdump exited: %s", b)
		}
		if !strings.Contains(string(b), "listening on") {
			return fmt.Errorf("tcpdump not capturing yet")
		}
		return nil
	})
	c.base = c.ifaceFrames(t)
	return c
}

// Frame is one decoded frame: each field's values, outermost first (an encapsulated
// packet has two ip.src values: outer, inner).
type Frame map[string][]string

// Get returns the i-th value of field f, or "".
func (f Frame) Get(field string, i int) string {
	v := f[field]
	if i < 0 {
		i += len(v)
	}
	if i < 0 || i >= len(v) {
		return ""
	}
	return v[i]
}

// Fields decoded for every frame.
var captureFields = []string{
	"frame.protocols", "_ws.malformed", "_ws.expert.severity",
	"ip.src", "ip.dst", "ip.proto", "ip.ttl", "ip.flags.df", "ip.len", "ip.checksum.status",
	"gre.flags_and_version", "gre.proto",
	"udp.srcport", "udp.dstport", "udp.length",
	"mpls.label", "mpls.bottom", "mpls.exp", "mpls.ttl",
	"icmp.type", "icmp.code", "icmp.mtu", "icmp.seq",
	"tcp.srcport", "tcp.dstport", "tcp.len", "tcp.checksum.status",
}

// Stop ends the capture and decodes it: GRE as RFC 2784, UDP port 6635 as MPLS
// (RFC 7510), with IP and TCP checksums validated.
func (c *Capture) Stop(t testing.TB) []Frame {
	t.Helper()
	c.drain(t)
	// SIGINT is tcpdump's orderly stop; frames it has not written yet are lost, hence
	// drain first.
	if err := c.p.Cmd.Process.Signal(os.Interrupt); err != nil && !c.p.Exited() {
		t.Fatalf("stopping tcpdump: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = c.p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.p.Stop()
	}
	args := []string{"-n", "-r", c.file, "-d", "udp.port==6635,mpls",
		"-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"}
	for _, f := range captureFields {
		args = append(args, "-e", f)
	}
	out, err := c.h.Output("tshark", args...)
	if err != nil {
		t.Fatalf("decoding %s: %v", c.file, err)
	}
	var frames []Frame
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		cols := strings.Split(line, "\t")
		f := Frame{}
		for i, name := range captureFields {
			if i < len(cols) && cols[i] != "" {
				f[name] = strings.Split(cols[i], "|")
			}
		}
		frames = append(frames, f)
	}
	return frames
}

// drain waits until tcpdump has written as many frames as the interface has passed
// (received + sent) since the capture started; a capture that lost frames is stopped
// when it stops growing, and the test judges what it holds.
func (c *Capture) drain(t testing.TB) {
	t.Helper()
	want := c.ifaceFrames(t) - c.base
	// frames the kernel dropped from tcpdump's buffer never come: stop waiting once
	// the file has not grown for a second
	last, lastGrowth := -1, time.Now()
	for {
		n, err := pcapFrames(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if n >= want {
			return
		}
		if n != last {
			last, lastGrowth = n, time.Now()
		}
		if time.Since(lastGrowth) > time.Second {
			t.Logf("capture on %s: %d of %d frames written when stopped", c.ifc, n, want)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ifaceFrames is the number of frames the interface has received and sent.
func (c *Capture) ifaceFrames(t testing.TB) int {
	t.Helper()
	var n int
	for _, dir := range []string{"rx_packets", "tx_packets"} {
		out, err := c.h.Output("cat", "/sys/class/net/"+c.ifc+"/statistics/"+dir)
		if err != nil {
			t.Fatalf("interface counters: %v", err)
		}
		v, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("interface counters: %v", err)
		}
		n += v
	}
	return n
}

// pcapFrames counts the records of a classic pcap file (the frames are decoded by
// tshark; this only walks the record headers). A record still being written is not
// counted.
func pcapFrames(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("reading capture: %w", err)
	}
	if len(b) < 24 {
		return 0, nil
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if binary.BigEndian.Uint32(b) == 0xa1b2c3d4 || binary.BigEndian.Uint32(b) == 0xa1b23c4d {
		order = binary.BigEndian
	}
	n := 0
	for off := 24; off+16 <= len(b); n++ {
		incl := int(order.Uint32(b[off+8:]))
		if off+16+incl > len(b) {
			break
		}
		off += 16 + incl
	}
	return n, nil
}
