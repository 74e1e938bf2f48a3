package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The tc fallback for kernels without TCX (before 6.6, e.g. EKS AL2023's 6.1): a
// clsact qdisc and a direct-action cls_bpf filter with our own priority and handle,
// installed and replaced atomically through rtnetlink like the inside route.

const (
	tcHClsact       = 0xFFFFFFF1
	tcHMinIngress   = 0xFFF2
	tcaBPFFD        = 6
	tcaBPFName      = 7
	tcaBPFFlags     = 8
	tcaBPFActDirect = 1
	// tcPriority and tcHandle identify our filter among others on the interface.
	tcPriority = 0x4753 // "GS"
	tcHandle   = 1
	tcProgName = "gsi_ingress"
)

type tcAttachment struct{ ifindex int }

func (a *tcAttachment) String() string { return "tc" }

func (a *tcAttachment) update(p *ebpf.Program) error {
	return tcFilter(unix.RTM_NEWTFILTER, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, a.ifindex, p.FD())
}

func (a *tcAttachment) remove() error {
	return ignoreNotExist(tcFilter(unix.RTM_DELTFILTER, 0, a.ifindex, -1))
}

// attachTC ensures the clsact qdisc and puts (or replaces) our filter on ingress.
func attachTC(ifindex int, p *ebpf.Program) (attachment, error) {
	qdisc := tcMsg(ifindex, 0xFFFF0000, tcHClsact, 0)
	qdisc = appendAttr(qdisc, unix.TCA_KIND, []byte("clsact\x00"))
	if err := rtnetlink(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_EXCL, qdisc); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("dataplane: clsact qdisc on ifindex %d: %w", ifindex, err)
	}
	a := &tcAttachment{ifindex: ifindex}
	if err := a.update(p); err != nil {
		return nil, fmt.Errorf("dataplane: tc filter on ifindex %d: %w", ifindex, err)
	}
	return a, nil
}

func tcFilter(typ, flags uint16, ifindex, progFD int) error {
	// info: priority in the upper 16 bits, protocol ETH_P_ALL (network order) below
	info := uint32(tcPriority)<<16 | uint32(htons(unix.ETH_P_ALL))
	body := tcMsg(ifindex, tcHandle, tcHClsact&0xFFFF0000|tcHMinIngress, info)
	body = appendAttr(body, unix.TCA_KIND, []byte("bpf\x00"))
	if typ == unix.RTM_NEWTFILTER {
		opts := appendAttr(nil, tcaBPFFD, u32(uint32(progFD)))
		opts = appendAttr(opts, tcaBPFName, append([]byte(tcProgName), 0))
		opts = appendAttr(opts, tcaBPFFlags, u32(tcaBPFActDirect))
		body = appendAttr(body, unix.TCA_OPTIONS|unix.NLA_F_NESTED, opts)
	}
	return rtnetlink(typ, flags, body)
}

func tcMsg(ifindex int, handle, parent, info uint32) []byte {
	b := make([]byte, 20)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(ifindex))
	binary.NativeEndian.PutUint32(b[8:], handle)
	binary.NativeEndian.PutUint32(b[12:], parent)
	binary.NativeEndian.PutUint32(b[16:], info)
	return b
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
