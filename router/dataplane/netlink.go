package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The inside route of a tunnel carries an LWT BPF program, which only rtnetlink can
// install; these few messages are built by hand rather than pulling in a netlink library.

// lwtunnel.h: nested attributes of RTA_ENCAP for LWTUNNEL_ENCAP_BPF
const (
	lwtBPFXmit          = 3
	lwtBPFXmitHeadroom  = 4
	lwtBPFProgFD        = 1
	lwtBPFProgName      = 2
	routeProtocolGSI    = 0x47 // "G": marks routes this data plane installed
	lwtProgName         = "gsi_lwt_gre"
	insideRouteHeadroom = GREOverhead + 14
)

// installInside adds the tunnel's inside address to the loopback and routes its /29
// through the tunnel's device with the GRE LWT program (replacing an earlier route).
func installInside(t Tunnel, progFD int) error {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return fmt.Errorf("dataplane: inside address: %w", err)
	}
	dev, err := net.InterfaceByName(t.Device)
	if err != nil {
		return fmt.Errorf("dataplane: inside route device: %w", err)
	}
	if err := addrMsg(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, t, lo.Index); err != nil {
		return fmt.Errorf("dataplane: adding inside address %s: %w", t.Inside.Addr(), err)
	}
	if err := routeMsg(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, t, dev.Index, progFD); err != nil {
		return fmt.Errorf("dataplane: adding inside route %s dev %s: %w", t.Inside.Masked(), t.Device, err)
	}
	return nil
}

// removeInside undoes installInside; what is already gone is not an error.
func removeInside(t Tunnel) error {
	if t.Device == "" {
		return nil
	}
	var errs []error
	if dev, err := net.InterfaceByName(t.Device); err == nil {
		errs = append(errs, ignoreNotExist(routeMsg(unix.RTM_DELROUTE, 0, t, dev.Index, -1)))
	}
	if lo, err := net.InterfaceByName("lo"); err == nil {
		errs = append(errs, ignoreNotExist(addrMsg(unix.RTM_DELADDR, 0, t, lo.Index)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dataplane: removing inside route of tunnel to %s: %w", t.Remote, err)
	}
	return nil
}

func ignoreNotExist(err error) error {
	if err == nil || errors.Is(err, os.ErrNotExist) || errors.Is(err, ebpf.ErrKeyNotExist) || errors.Is(err, unix.ESRCH) ||
		errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

func addrMsg(typ uint16, flags uint16, t Tunnel, ifindex int) error {
	ip := t.Inside.Addr().As4()
	body := make([]byte, unix.SizeofIfAddrmsg)
	body[0] = unix.AF_INET
	body[1] = 32
	body[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(body[4:], uint32(ifindex))
	body = appendAttr(body, unix.IFA_LOCAL, ip[:])
	body = appendAttr(body, unix.IFA_ADDRESS, ip[:])
	return rtnetlink(typ, flags, body)
}

func routeMsg(typ uint16, flags uint16, t Tunnel, ifindex, progFD int) error {
	dst := t.Inside.Masked()
	body := make([]byte, unix.SizeofRtMsg)
	body[0] = unix.AF_INET
	body[1] = byte(dst.Bits())
	body[4] = unix.RT_TABLE_MAIN
	body[5] = routeProtocolGSI
	body[6] = unix.RT_SCOPE_LINK
	body[7] = unix.RTN_UNICAST
	a := dst.Addr().As4()
	body = appendAttr(body, unix.RTA_DST, a[:])
	body = appendAttr(body, unix.RTA_OIF, u32(uint32(ifindex)))
	if typ == unix.RTM_NEWROUTE {
		src := t.Inside.Addr().As4()
		body = appendAttr(body, unix.RTA_PREFSRC, src[:])
		prog := appendAttr(nil, lwtBPFProgFD, u32(uint32(progFD)))
		prog = appendAttr(prog, lwtBPFProgName, append([]byte(lwtProgName), 0))
		encap := appendAttr(nil, lwtBPFXmit|unix.NLA_F_NESTED, prog)
		encap = appendAttr(encap, lwtBPFXmitHeadroom, u32(insideRouteHeadroom))
		var et [2]byte
		binary.NativeEndian.PutUint16(et[:], unix.LWTUNNEL_ENCAP_BPF)
		body = appendAttr(body, unix.RTA_ENCAP_TYPE, et[:])
		body = appendAttr(body, unix.RTA_ENCAP|unix.NLA_F_NESTED, encap)
	}
	return rtnetlink(typ, flags, body)
}

func u32(v uint32) []byte {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return b[:]
}

func appendAttr(b []byte, typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	hdr := make([]byte, unix.SizeofRtAttr)
	binary.NativeEndian.PutUint16(hdr[0:], uint16(l))
	binary.NativeEndian.PutUint16(hdr[2:], typ)
	b = append(b, hdr...)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// rtnetlink sends one request in the calling thread's network namespace and waits for
// the kernel's acknowledgement.
func rtnetlink(typ, flags uint16, body []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], 1)
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return fmt.Errorf("netlink receive: %w", err)
	}
	if n < unix.SizeofNlMsghdr+4 || binary.NativeEndian.Uint16(buf[4:]) != unix.NLMSG_ERROR {
		return fmt.Errorf("netlink: unexpected reply (%d bytes)", n)
	}
	if code := int32(binary.NativeEndian.Uint32(buf[unix.SizeofNlMsghdr:])); code != 0 {
		return syscall.Errno(-code)
	}
	return nil
}
