package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/router/status"
)

// Sink writes the router's sessions into its ConnectedPeer's status. It patches only
// status.sessions and status.sessionsUpdated (a merge patch), so the controller's status
// fields are never overwritten. The status.Reporter rate-limits the calls.
type Sink struct {
	Client          client.Client
	Namespace, Peer string
}

// Report implements status.Sink.
func (s *Sink) Report(ctx context.Context, sessions []status.Session) error {
	out := make([]corev1.BGPSession, 0, len(sessions))
	for _, ses := range sessions {
		b := corev1.BGPSession{
			PeerAddress: ses.Peer, PeerASN: int64(ses.ASN), LocalASN: int64(ses.LocalASN),
			Role: corev1.BGPRole(ses.Role), State: ses.State, Families: ses.Families,
			PrefixesReceived: int64(ses.Received), PrefixesAdvertised: int64(ses.Advertised),
		}
		if !ses.Since.IsZero() {
			b.Since = &metav1.Time{Time: ses.Since}
		}
		out = append(out, b)
	}
	now := metav1.NewTime(time.Now())
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"sessions": out, "sessionsUpdated": now}})
	if err != nil {
		return fmt.Errorf("encode sessions: %w", err)
	}
	cp := &corev1.ConnectedPeer{}
	cp.Namespace, cp.Name = s.Namespace, s.Peer
	if err := s.Client.Status().Patch(ctx, cp, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("report sessions to ConnectedPeer %s/%s: %w", s.Namespace, s.Peer, err)
	}
	return nil
}
