package plugin

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	corev1 "github.com/opengsi/gsi/api/core/v1"
)

type bgpOptions struct {
	*Options
	output string
	peer   string
}

func newBGPCommand(o *Options) *cobra.Command {
	bo := &bgpOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "bgp [TRANSIT-GATEWAY]",
		Short: "Show the routers' BGP sessions to the transit gateway and the CN2 control nodes",
		Long: `Show the BGP sessions each connected peer's router reported in its ConnectedPeer status:
two sessions to the transit gateway (inside the GRE tunnel) and one MP-BGP session per CN2
control node. It answers what "show bgp summary" on the router would, without exec.`,
		Example: `  kubectl gsi bgp
  kubectl gsi bgp tgw1 --peer tgw1-0 -o wide`,
		Args:              usageArgs(cobra.MaximumNArgs(1)),
		ValidArgsFunction: o.completeGateways,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(bo.output, outputWide, outputJSON, outputYAML); err != nil {
				return err
			}
			return bo.run(cmd.Context(), cmd.OutOrStdout(), firstArg(args))
		},
	}
	addOutputFlag(cmd, &bo.output)
	cmd.Flags().StringVar(&bo.peer, "peer", "", "only this ConnectedPeer")
	_ = cmd.RegisterFlagCompletionFunc("peer", o.completePeers)
	return cmd
}

func (bo *bgpOptions) run(ctx context.Context, w io.Writer, gateway string) error {
	s, err := bo.loadSnapshot(ctx, snapshotQuery{gateway: gateway, peers: true})
	if err != nil {
		return err
	}
	if gateway != "" && len(s.gateways) == 0 {
		return bo.gatewayNotFound(ctx, gateway)
	}
	peers := s.peers
	if bo.peer != "" {
		peers = nil
		for _, p := range s.peers {
			if p.Name == bo.peer {
				peers = append(peers, p)
			}
		}
		if len(peers) == 0 {
			return withCode(ExitNotFound, fmt.Errorf("ConnectedPeer %q not found in namespace %s", bo.peer, bo.GSINamespace))
		}
	}
	if bo.output == outputJSON || bo.output == outputYAML {
		objs := make([]k8sruntime.Object, 0, len(peers))
		for i := range peers {
			objs = append(objs, &peers[i])
		}
		return bo.printList(w, bo.output, objs)
	}
	if len(peers) == 0 {
		_, err := fmt.Fprintf(w, "No ConnectedPeers in namespace %s.\n", bo.GSINamespace)
		return err
	}
	return sessionsTable(w, painter{on: bo.colorEnabled(w)}, peers, time.Now(), bo.output == outputWide)
}

func sessionsTable(w io.Writer, p painter, peers []corev1.ConnectedPeer, now time.Time, wide bool) error {
	h := []string{"PEER", "NODE", "LOCAL-AS", "PEER-AS", "PEER-ADDRESS", "ROLE", "SESSION", "UPTIME",
		"FAMILY", "RECEIVED", "ADVERTISED"}
	if wide {
		h = append(h, "POD", "LOCAL-ADDRESS", "LAST-CHANGE", "REPORTED")
	}
	t := newTable(w, h...)
	for i := range peers {
		cp := &peers[i]
		if len(cp.Status.Sessions) == 0 {
			row := []string{cp.Name, orDash(cp.Status.NodeName), "-", "-", "-", "-", p.state("none reported"),
				"-", "-", "-", "-"}
			if wide {
				row = append(row, orDash(cp.Status.PodName), orDash(cp.Status.InsideAddress), "-", reportedAgo(now, cp))
			}
			t.add(row...)
			continue
		}
		for _, s := range cp.Status.Sessions {
			row := []string{cp.Name, orDash(cp.Status.NodeName), strconv.FormatInt(localASN(cp, s), 10),
				strconv.FormatInt(s.PeerASN, 10), s.PeerAddress, string(s.Role), p.state(strings.ToLower(s.State)),
				uptime(now, s), orDash(strings.Join(s.Families, ",")),
				strconv.FormatInt(s.PrefixesReceived, 10), strconv.FormatInt(s.PrefixesAdvertised, 10)}
			if wide {
				local := cp.Status.InsideAddress
				if s.Role == corev1.RoleControlNode {
					local = cp.Status.PeerAddress
				}
				change := "-"
				if s.Since != nil {
					change = age(now, s.Since.Time) + " ago"
				}
				row = append(row, orDash(cp.Status.PodName), orDash(local), change, reportedAgo(now, cp))
			}
			t.add(row...)
		}
	}
	return t.render()
}

func reportedAgo(now time.Time, cp *corev1.ConnectedPeer) string {
	if cp.Status.SessionsUpdated == nil {
		return "never"
	}
	return age(now, cp.Status.SessionsUpdated.Time) + " ago"
}
