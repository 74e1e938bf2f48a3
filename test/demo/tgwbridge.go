package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// bridgeTGW makes the simulated AWS reflect what the TGW stand-in (FRR) really does:
// the Connect peer's BgpStatus follows FRR's sessions with the router, and the prefixes
// FRR learned from the router appear as propagated routes in the TGW's route table,
// where gsi-controller (through SearchTransitGatewayRoutes) and the AWS CLI see them,
// as they would on AWS.
func (d *demo) bridgeTGW(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	announced := map[netip.Prefix]bool{}
	for {
		if err := d.bridgePass(ctx, announced); err != nil && ctx.Err() == nil {
			fmt.Fprintf(d.lab.tb.log, "tgw bridge: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (d *demo) bridgePass(ctx context.Context, announced map[netip.Prefix]bool) error {
	var tgw gsiv1.TransitGateway
	if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: gsiv1.DefaultNamespace, Name: "tgw1"}, &tgw); err != nil {
		return fmt.Errorf("reading tgw1: %w", err)
	}
	var cp gsiv1.ConnectedPeer
	if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: gsiv1.DefaultNamespace, Name: "tgw1-0"}, &cp); err != nil {
		return fmt.Errorf("reading tgw1-0: %w", err)
	}
	if tgw.Status.TransitGatewayID == "" || tgw.Status.ConnectAttachmentID == "" || cp.Status.ConnectPeerID == "" {
		return nil // not created yet
	}
	learned := map[netip.Prefix]bool{}
	for _, f := range d.lab.tgw {
		n, err := f.Neighbor()
		if err != nil {
			return err
		}
		status := "down"
		if strings.EqualFold(n.State, "Established") {
			status = "up"
		}
		if err := d.ec2.SetConnectPeerBGPStatus(cp.Status.ConnectPeerID, f.Config.Address.String(), status); err != nil {
			return err
		}
		routes, err := f.Learned()
		if err != nil {
			return err
		}
		for p := range routes {
			learned[p] = true
		}
	}
	for p := range learned {
		if !announced[p] {
			if err := d.ec2.AddTransitGatewayRoute(tgw.Status.TransitGatewayID, p.String(), tgw.Status.ConnectAttachmentID); err != nil {
				return err
			}
			announced[p] = true
		}
	}
	for p := range announced {
		if !learned[p] {
			if err := d.ec2.RemoveTransitGatewayRoute(tgw.Status.TransitGatewayID, p.String(), tgw.Status.ConnectAttachmentID); err != nil {
				return err
			}
			delete(announced, p)
		}
	}
	return nil
}
