package controllertest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
	"github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/controller/connectedpeer"
)

// TestSourceManifestLifecycle applies the CN2 guide's TransitGateway, checks every AWS
// resource and the router pods, scales up and down, moves a router to another node and
// deletes everything.
func TestSourceManifestLifecycle(t *testing.T) {
	h := newHarness(t, harnessOptions{nodes: 3})
	h.startManager(nil)
	h.must(h.c.Create(h.ctx, h.sourceTGW("tgw1", 1)))
	tgw := h.waitAvailable("tgw1", 60*time.Second)

	ac := h.awsClient()
	own := h.owner("tgw1")
	t.Run("GSIPlugin status", func(t *testing.T) {
		var p pluginsv1alpha1.GSIPlugin
		h.must(h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "contrail-gsi-plugin"}, &p))
		if !slices.Equal(p.Status.VPCCIDRs, []string{"10.0.0.0/16", "10.1.0.0/16"}) || !slices.Equal(p.Status.RouteTableIDs, []string{rtbMain, rtbPriv}) ||
			!conditionTrue(p.Status.Conditions, gsiv1.ConditionReady) {
			t.Fatalf("GSIPlugin status %+v", p.Status)
		}
	})
	t.Run("aws resources", func(t *testing.T) {
		gw, err := ac.FindTransitGateway(h.ctx, own)
		h.must(err)
		if gw == nil || gw.ID != tgw.Status.TransitGatewayID || gw.State != aws.StateAvailable || gw.AmazonSideASN != 64513 ||
			!slices.Equal(gw.CIDRBlocks, []string{"192.0.2.0/24"}) {
			t.Fatalf("transit gateway %+v, status id %s", gw, tgw.Status.TransitGatewayID)
		}
		att, err := ac.FindVPCAttachment(h.ctx, own)
		h.must(err)
		if att == nil || att.ID != tgw.Status.VPCAttachmentID || att.VPCID != vpcID || !slices.Equal(slices.Sorted(slices.Values(att.SubnetIDs)), subnets) {
			t.Fatalf("VPC attachment %+v", att)
		}
		con, err := ac.FindConnectAttachment(h.ctx, own)
		h.must(err)
		if con == nil || con.ID != tgw.Status.ConnectAttachmentID || con.Protocol != "gre" || con.TransportAttachmentID != att.ID {
			t.Fatalf("Connect attachment %+v", con)
		}
		groups, err := ac.ListSecurityGroups(h.ctx, own)
		h.must(err)
		if len(groups) != 1 || groups[0].Name != "gsi-sg-tgw1" || !slices.Equal(tgw.Status.SecurityGroupIDs, []string{groups[0].ID}) {
			t.Fatalf("security groups %+v, status %v", groups, tgw.Status.SecurityGroupIDs)
		}
		owned, err := ac.FindOwned(h.ctx, h.cluster, &own)
		h.must(err)
		roles := map[string]int{}
		for _, r := range owned {
			roles[r.Tags[aws.TagRole]]++
			if r.Tags[aws.TagTransitGateway] != h.ns+"/tgw1" || r.Tags[aws.TagCluster] != h.cluster || r.Tags[aws.TagName] == "" {
				t.Errorf("resource %s tags %v", r.ID, r.Tags)
			}
		}
		want := map[string]int{"transit-gateway": 1, "vpc-attachment": 1, "connect-attachment": 1, "security-group": 1, "connect-peer": 1}
		if fmt.Sprint(roles) != fmt.Sprint(want) {
			t.Fatalf("owned resources by role %v, want %v", roles, want)
		}
	})
	peer0 := h.checkPeer(t, "tgw1", 0, "169.254.10.0/29")

	t.Run("sessions reported by the router", func(t *testing.T) {
		var cp gsiv1.ConnectedPeer
		h.must(h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "tgw1-0"}, &cp))
		before := cp.DeepCopy()
		now := metav1.Now()
		for _, addr := range cp.Status.TransitGatewayInsideAddresses {
			cp.Status.Sessions = append(cp.Status.Sessions, gsiv1.BGPSession{PeerAddress: addr, PeerASN: 64513, Role: gsiv1.RoleTGW, State: "established", Since: &now})
		}
		cp.Status.SessionsUpdated = &now
		h.must(h.c.Status().Patch(h.ctx, &cp, client.MergeFrom(before)))
		eventually(t, 10*time.Second, "BGPEstablished", func() error {
			h.must(h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "tgw1-0"}, &cp))
			if !conditionTrue(cp.Status.Conditions, gsiv1.ConditionBGPEstablished) || len(cp.Status.Sessions) != 2 {
				return fmt.Errorf("%d sessions, %s", len(cp.Status.Sessions), conditionSummary(cp.Status.Conditions))
			}
			return nil
		})
	})

	t.Run("scale up", func(t *testing.T) {
		h.scale("tgw1", 2)
		h.waitAvailable("tgw1", 30*time.Second)
		p1 := h.checkPeer(t, "tgw1", 1, "169.254.10.8/29")
		if p1.node == peer0.node {
			t.Fatalf("two routers on node %s", p1.node)
		}
		if again := h.checkPeer(t, "tgw1", 0, "169.254.10.0/29"); again.connectPeerID != peer0.connectPeerID {
			t.Fatalf("scaling up replaced peer 0: %s → %s", peer0.connectPeerID, again.connectPeerID)
		}
	})
	t.Run("scale down", func(t *testing.T) {
		h.scale("tgw1", 1)
		eventually(t, 30*time.Second, "peer 1 gone", func() error {
			var cp gsiv1.ConnectedPeer
			if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "tgw1-1"}, &cp); !apierrors.IsNotFound(err) {
				return fmt.Errorf("ConnectedPeer tgw1-1 still there (%v)", err)
			}
			p, err := ac.FindConnectPeer(h.ctx, own, 1)
			if err != nil || p != nil {
				return fmt.Errorf("Connect peer 1 still in AWS: %+v %v", p, err)
			}
			var pod corev1.Pod
			if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "tgw1-peer-1"}, &pod); !apierrors.IsNotFound(err) {
				return fmt.Errorf("pod tgw1-peer-1 still there (%v)", err)
			}
			return nil
		})
		h.waitAvailable("tgw1", 30*time.Second)
		if again := h.checkPeer(t, "tgw1", 0, "169.254.10.0/29"); again.connectPeerID != peer0.connectPeerID {
			t.Fatalf("scaling down replaced peer 0: %s → %s", peer0.connectPeerID, again.connectPeerID)
		}
	})
	t.Run("router moves", func(t *testing.T) {
		// The node loses its crpd label and the pod is evicted: the new pod lands on
		// another node and the Connect peer follows it there.
		h.setCRPD(peer0.node, false)
		h.must(h.c.Delete(h.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "tgw1-peer-0"}}))
		eventually(t, 30*time.Second, "Connect peer follows the router", func() error {
			var cp gsiv1.ConnectedPeer
			if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "tgw1-0"}, &cp); err != nil {
				return err
			}
			p, err := ac.FindConnectPeer(h.ctx, own, 0)
			if err != nil || p == nil {
				return fmt.Errorf("no Connect peer 0: %v", err)
			}
			if cp.Status.NodeName == peer0.node || p.PeerAddress != cp.Status.PeerAddress || p.State != aws.StateAvailable ||
				!conditionTrue(cp.Status.Conditions, gsiv1.ConditionReady) {
				return fmt.Errorf("peer on %s (%s), AWS peer %s at %s %s; %s", cp.Status.NodeName, cp.Status.PeerAddress, p.ID, p.PeerAddress, p.State,
					conditionSummary(cp.Status.Conditions))
			}
			return nil
		})
	})
	t.Run("delete", func(t *testing.T) {
		h.deleteTGW("tgw1", 60*time.Second)
		h.assertNothingOwned()
		var cps gsiv1.ConnectedPeerList
		h.must(h.c.List(h.ctx, &cps, client.InNamespace(h.ns)))
		if len(cps.Items) != 0 {
			t.Fatalf("ConnectedPeers left: %d", len(cps.Items))
		}
		if n := len(h.bgpRouters(t)); n != 0 {
			t.Fatalf("%d gsi BGPRouters left", n)
		}
	})
}

type peerView struct {
	node, addr, connectPeerID string
}

// checkPeer checks a ready ConnectedPeer: its pod on a crpd node, its Connect peer in
// AWS (address, inside CIDR, ASN) and its CN2 BGPRouter.
func (h *harness) checkPeer(t *testing.T, tgw string, index int, inside string) peerView {
	t.Helper()
	var cp gsiv1.ConnectedPeer
	name := fmt.Sprintf("%s-%d", tgw, index)
	eventually(t, 30*time.Second, "ConnectedPeer "+name+" ready", func() error {
		if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &cp); err != nil {
			return err
		}
		if !conditionTrue(cp.Status.Conditions, gsiv1.ConditionReady) || cp.Status.State != gsiv1.StateAvailable {
			return fmt.Errorf("state %s: %s", cp.Status.State, conditionSummary(cp.Status.Conditions))
		}
		return nil
	})
	if cp.Spec.InsideCIDR != inside || cp.Spec.PeerASN != 64513 || cp.Spec.TransitASN != 64513 || cp.Spec.ControlNodeASN != 64512 {
		t.Fatalf("ConnectedPeer %s spec %+v", name, cp.Spec)
	}
	var pod corev1.Pod
	h.must(h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: fmt.Sprintf("%s-peer-%d", tgw, index)}, &pod))
	var node corev1.Node
	h.must(h.c.Get(h.ctx, client.ObjectKey{Name: pod.Spec.NodeName}, &node))
	if _, ok := node.Labels[gsiv1.CRPDNodeLabel]; !ok && cp.Status.NodeName == node.Name {
		t.Logf("node %s lost its crpd label after scheduling (allowed: IgnoredDuringExecution)", node.Name)
	}
	if pod.Labels["app"] != gsiv1.RouterPodAppLabel || !pod.Spec.HostNetwork || pod.Spec.Containers[0].Image != "ghcr.io/opengsi/gsi-router:v0.1.0" ||
		!slices.Contains(pod.Spec.Containers[0].Args, "--connected-peer="+name) || pod.Spec.Volumes[0].Secret.SecretName != "crpd-license" {
		t.Fatalf("router pod %s: labels %v hostNetwork %v containers %+v", pod.Name, pod.Labels, pod.Spec.HostNetwork, pod.Spec.Containers)
	}
	if cp.Status.NodeName != node.Name || cp.Status.PodName != pod.Name || cp.Status.PeerAddress != pod.Status.HostIP {
		t.Fatalf("ConnectedPeer status %+v vs pod on %s (%s)", cp.Status, node.Name, pod.Status.HostIP)
	}
	p, err := h.awsClient().FindConnectPeer(h.ctx, h.owner(tgw), index)
	h.must(err)
	if p == nil || p.ID != cp.Status.ConnectPeerID || p.PeerAddress != pod.Status.HostIP || !slices.Equal(p.InsideCIDRs, []string{inside}) ||
		len(p.BGP) != 2 || p.BGP[0].PeerASN != 64513 || p.ConnectAttachmentID != h.getTGW(tgw).Status.ConnectAttachmentID {
		t.Fatalf("Connect peer %+v for ConnectedPeer status %+v", p, cp.Status)
	}
	if len(cp.Status.TransitGatewayInsideAddresses) != 2 || cp.Status.TransitGatewayAddress == "" || cp.Status.InsideAddress == "" {
		t.Fatalf("ConnectedPeer addresses %+v", cp.Status)
	}
	found := false
	for _, b := range h.bgpRouters(t) {
		if b.GetName() == connectedpeer.BGPRouterName(&cp) {
			addr := fmt.Sprint(b.Object["spec"].(map[string]any)["bgpRouterParameters"].(map[string]any)["address"])
			found = addr == pod.Status.HostIP
		}
	}
	if !found {
		t.Fatalf("no BGPRouter %s at %s", connectedpeer.BGPRouterName(&cp), pod.Status.HostIP)
	}
	return peerView{node: node.Name, addr: pod.Status.HostIP, connectPeerID: p.ID}
}

func (h *harness) scale(name string, n int32) {
	h.t.Helper()
	tgw := h.getTGW(name)
	before := tgw.DeepCopy()
	tgw.Spec.ConnectedPeerScale = n
	h.must(h.c.Patch(h.ctx, tgw, client.MergeFrom(before)))
}
