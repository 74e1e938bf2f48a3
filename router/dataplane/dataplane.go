// Package dataplane is the router's forwarding: eBPF programs at TC ingress of the
// underlay interfaces that move packets between GRE from the transit gateway (RFC 2784)
// and MPLS-over-UDP to the CN2 vRouters (RFC 7510), programmed from router/fib.
//
// No kernel tunnel module is needed (EKS nodes and the lab kernel have no GRE, FOU or
// MPLS routing): decapsulation, encapsulation, ECMP, TTL and ICMP errors are all done by
// the programs, and the kernel's FIB only resolves the underlay next hop.
package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// Encapsulation overheads, in bytes, added to an inner IPv4 packet.
const (
	// GREOverhead is outer IPv4 + the 4-byte GRE header: the GRE tunnel's MTU is the
	// underlay MTU minus this (AWS: "GRE MTU = outer MTU - 24").
	GREOverhead = 24
	// MPLSoUDPOverhead is outer IPv4 + UDP + one label.
	MPLSoUDPOverhead = 32
	// MPLSoUDPPort is the vRouter's MPLS-over-UDP port (RFC 7510).
	MPLSoUDPPort = 6635
	// MaxECMP is the widest ECMP set the programs hash over; wider sets are cut.
	MaxECMP = 16
)

// local address kinds, as in bpf/dataplane.c
const (
	localOuter  = 1
	localInside = 2
)

// Config is what the data plane needs besides the forwarding table.
type Config struct {
	// Address is the router's underlay address: the source of MPLS-over-UDP packets,
	// the next hop it announces to the control nodes, and the default GRE source.
	Address netip.Addr
	// PinPath is a directory on a bpffs (e.g. /sys/fs/bpf/gsi). When set, maps and
	// attachments are pinned there, so a router that restarts after a crash adopts
	// them and replaces the programs atomically: forwarding continues meanwhile.
	// Empty: nothing outlives the process.
	PinPath string
	// Attach chooses how programs are attached: AttachAuto (TCX where the kernel has
	// it, 6.6+, else a tc clsact filter), AttachTCX or AttachTC.
	Attach AttachMode
	Log    logr.Logger
}

// AttachMode is how the ingress program is attached to an interface.
type AttachMode uint8

const (
	// AttachAuto uses TCX when the kernel supports it, tc (cls_bpf) otherwise.
	AttachAuto AttachMode = iota
	// AttachTCX uses a TCX link (kernel 6.6+), pinned under PinPath.
	AttachTCX
	// AttachTC uses a direct-action cls_bpf filter on a clsact qdisc (older kernels,
	// EKS AL2023 6.1); the filter outlives the process like a pinned link.
	AttachTC
)

// Tunnel is one GRE tunnel to the transit gateway (one Connect peer).
type Tunnel struct {
	// Remote is the TGW's GRE address (from the TGW CIDR block).
	Remote netip.Addr
	// Local is this router's GRE address (the Connect peer's PeerAddress); default
	// Config.Address.
	Local netip.Addr
	// Inside is the router's BGP address with the peer's inside /29, e.g.
	// 169.254.6.1/29. Packets from the TGW to it are decapsulated and delivered to the
	// stack; when Device is set, the address is added to the loopback and a route for
	// the /29 through Device puts locally generated packets (BGP) into the tunnel.
	Inside netip.Prefix
	// Device is the underlay interface the inside route is bound to; empty: no route.
	Device string
}

// Dataplane owns the eBPF objects of one router. Its methods are safe for concurrent use.
type Dataplane struct {
	cfg  Config
	log  logr.Logger
	objs gsiObjects

	mu       sync.Mutex
	links    map[string]attachment // by interface name
	tunnels  map[netip.Addr]Tunnel
	routes   map[netip.Prefix]gsiRoute
	labels   map[uint32]struct{}
	synced   bool
	syncErrs uint64
	closed   bool
}

// New loads the programs and maps into the kernel (adopting pinned maps left by an
// earlier run when Config.PinPath is set) and writes the configuration map.
func New(cfg Config) (*Dataplane, error) {
	if !cfg.Address.Is4() {
		return nil, fmt.Errorf("dataplane: router address %v must be IPv4", cfg.Address)
	}
	d := &Dataplane{
		cfg:     cfg,
		log:     cfg.Log,
		links:   make(map[string]attachment),
		tunnels: make(map[netip.Addr]Tunnel),
		routes:  make(map[netip.Prefix]gsiRoute),
		labels:  make(map[uint32]struct{}),
	}
	if err := d.load(); err != nil {
		return nil, err
	}
	if err := d.objs.ConfigMap.Put(uint32(0), gsiConfig{Address: be32(cfg.Address)}); err != nil {
		d.objs.Close()
		return nil, fmt.Errorf("dataplane: writing config map: %w", err)
	}
	if err := d.objs.Locals.Put(be32(cfg.Address), uint32(localOuter)); err != nil {
		d.objs.Close()
		return nil, fmt.Errorf("dataplane: adding local address %s: %w", cfg.Address, err)
	}
	return d, nil
}

func (d *Dataplane) load() error {
	spec, err := loadGsi()
	if err != nil {
		return fmt.Errorf("dataplane: reading embedded BPF objects: %w", err)
	}
	opts := &ebpf.CollectionOptions{}
	if d.cfg.PinPath != "" {
		if err := checkBPFFS(d.cfg.PinPath); err != nil {
			return err
		}
		if err := os.MkdirAll(d.cfg.PinPath, 0o700); err != nil {
			return fmt.Errorf("dataplane: pin directory: %w", err)
		}
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinByName
		}
		opts.Maps.PinPath = d.cfg.PinPath
	}
	err = spec.LoadAndAssign(&d.objs, opts)
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		// A different build's maps are pinned: drop them (and the forwarding state they
		// hold, which the fib replay rebuilds) rather than refuse to start.
		d.log.Info("pinned maps are incompatible with this build, recreating them", "path", d.cfg.PinPath, "reason", err.Error())
		for name := range spec.Maps {
			if rerr := os.Remove(filepath.Join(d.cfg.PinPath, name)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				return fmt.Errorf("dataplane: removing stale pinned map %s: %w", name, rerr)
			}
		}
		err = spec.LoadAndAssign(&d.objs, opts)
	}
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return fmt.Errorf("dataplane: loading BPF programs: %+v", verr)
		}
		return fmt.Errorf("dataplane: loading BPF programs: %w", err)
	}
	return nil
}

// Attach puts the forwarding program on the ingress of each underlay interface (the
// ones GRE from the TGW and MPLS-over-UDP from the vRouters arrive on). It is
// idempotent: an interface already attached, by this process or a pinned attachment
// from an earlier one, gets its program replaced atomically.
func (d *Dataplane) Attach(ifaces ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("dataplane: attach after close")
	}
	for _, name := range ifaces {
		if err := d.attachOne(name); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dataplane) attachOne(name string) error {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("dataplane: attach %s: %w", name, err)
	}
	if err := checkForwarding(name); err != nil {
		return err
	}
	if a, ok := d.links[name]; ok {
		if err := a.update(d.objs.GsiIngress); err != nil {
			return fmt.Errorf("dataplane: replacing program on %s: %w", name, err)
		}
		return nil
	}
	mode := d.cfg.Attach
	if mode == AttachAuto {
		mode = AttachTC
		if haveTCX() {
			mode = AttachTCX
		}
	}
	var a attachment
	if mode == AttachTC {
		a, err = attachTC(ifc.Index, d.objs.GsiIngress)
	} else {
		a, err = d.attachTCX(name, ifc.Index)
	}
	if err != nil {
		return err
	}
	d.links[name] = a
	d.log.Info("attached", "interface", name, "ifindex", ifc.Index, "how", a.String())
	return nil
}

// attachment is the program's hook on one interface.
type attachment interface {
	// update swaps the program atomically.
	update(*ebpf.Program) error
	// remove detaches the program (and removes its pin).
	remove() error
	String() string
}

type tcxAttachment struct {
	l      link.Link
	pinned bool
}

func (a *tcxAttachment) update(p *ebpf.Program) error { return a.l.Update(p) }
func (a *tcxAttachment) String() string               { return "tcx" }
func (a *tcxAttachment) remove() error {
	var errs []error
	if a.pinned {
		errs = append(errs, a.l.Unpin())
	}
	errs = append(errs, a.l.Close())
	return errors.Join(errs...)
}

var tcxSupport struct {
	once sync.Once
	ok   bool
}

// haveTCX probes once whether the kernel has TCX links (6.6+).
func haveTCX() bool {
	tcxSupport.once.Do(func() {
		tcxSupport.ok = probeTCX() == nil
	})
	return tcxSupport.ok
}

// probeTCX attaches nothing: querying loopback's TCX programs fails without TCX.
func probeTCX() error {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return err
	}
	_, err = link.QueryPrograms(link.QueryOptions{Target: lo.Index, Attach: ebpf.AttachTCXIngress})
	return err
}

func (d *Dataplane) attachTCX(name string, ifindex int) (attachment, error) {
	pin := d.linkPin(name)
	if pin != "" {
		if l, ok := d.adoptLink(pin, ifindex); ok {
			d.log.Info("adopted pinned attachment, program replaced", "interface", name)
			return &tcxAttachment{l: l, pinned: true}, nil
		}
	}
	l, err := link.AttachTCX(link.TCXOptions{
		Interface: ifindex,
		Program:   d.objs.GsiIngress,
		Attach:    ebpf.AttachTCXIngress,
	})
	if err != nil {
		return nil, fmt.Errorf("dataplane: attaching to %s ingress: %w", name, err)
	}
	if pin != "" {
		if err := l.Pin(pin); err != nil {
			l.Close()
			return nil, fmt.Errorf("dataplane: pinning attachment on %s: %w", name, err)
		}
	}
	return &tcxAttachment{l: l, pinned: pin != ""}, nil
}

// adoptLink takes over a pinned TCX link left by an earlier run if it still belongs to
// the interface, and swaps our program in; a stale pin is removed.
func (d *Dataplane) adoptLink(pin string, ifindex int) (link.Link, bool) {
	l, err := link.LoadPinnedLink(pin, nil)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.log.Info("ignoring unusable pinned attachment", "path", pin, "reason", err.Error())
			_ = os.Remove(pin)
		}
		return nil, false
	}
	info, err := l.Info()
	if err == nil && info.TCX() != nil && int(info.TCX().Ifindex) == ifindex {
		if err = l.Update(d.objs.GsiIngress); err == nil {
			return l, true
		}
	}
	d.log.Info("removing stale pinned attachment", "path", pin)
	_ = l.Unpin()
	_ = l.Close()
	return nil, false
}

func (d *Dataplane) linkPin(ifname string) string {
	if d.cfg.PinPath == "" {
		return ""
	}
	return filepath.Join(d.cfg.PinPath, "tcx_ingress_"+ifname)
}

// checkBPFFS fails early, with the fix, when the pin directory is not on a bpffs.
func checkBPFFS(pin string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(pin), &st); err != nil {
		return fmt.Errorf("dataplane: pin path %s: %w", pin, err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("dataplane: %s is not on a bpffs (mount -t bpf bpf %s, or a hostPath of the node's /sys/fs/bpf)", filepath.Dir(pin), filepath.Dir(pin))
	}
	return nil
}

// checkForwarding fails early when IPv4 forwarding is off on ifname: bpf_fib_lookup
// refuses to resolve next hops then, and every packet would be dropped.
func checkForwarding(ifname string) error {
	b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv4/conf", ifname, "forwarding"))
	if err != nil {
		return fmt.Errorf("dataplane: reading forwarding setting of %s: %w", ifname, err)
	}
	if strings.TrimSpace(string(b)) != "1" {
		return fmt.Errorf("dataplane: IPv4 forwarding is off on %s (net.ipv4.conf.%s.forwarding=0); the data plane needs it to resolve next hops", ifname, ifname)
	}
	return nil
}

// Close removes everything the data plane put in the kernel: attachments, the inside
// routes and addresses, programs, maps and their pins.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for name, a := range d.links {
		if err := a.remove(); err != nil {
			errs = append(errs, fmt.Errorf("detaching from %s: %w", name, err))
		}
	}
	for _, t := range d.tunnels {
		if err := removeInside(t); err != nil {
			errs = append(errs, err)
		}
	}
	if d.cfg.PinPath != "" {
		for _, m := range d.maps() {
			if err := m.Unpin(); err != nil {
				errs = append(errs, fmt.Errorf("unpinning map: %w", err))
			}
		}
		// the directory is ours; it is only removed when nothing else is left in it
		_ = os.Remove(d.cfg.PinPath)
	}
	if err := d.objs.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing BPF objects: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dataplane: close: %w", err)
	}
	return nil
}

func (d *Dataplane) maps() []*ebpf.Map {
	o := &d.objs.gsiMaps
	return []*ebpf.Map{o.ConfigMap, o.Counters, o.InsideNets, o.Labels, o.Locals, o.Routes, o.Tunnels}
}

// be32 is an IPv4 address as the programs hold it: network byte order in memory.
func be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

func addrFromBE32(v uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
