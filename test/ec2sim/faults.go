package ec2sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Faults are injected into the EC2 API answers.
type Faults struct {
	// ThrottleRate is the fraction (0..1) of requests answered with RequestLimitExceeded
	// (HTTP 503, as EC2 does), before any state change.
	ThrottleRate float64 `json:"throttleRate"`
	// Latency is added before every answer.
	Latency Duration `json:"latency"`
	// Errors answer the given action with the given error.
	Errors []ErrorFault `json:"errors,omitempty"`
}

// ErrorFault answers Action with Code. Times limits how many answers (0: until cleared).
type ErrorFault struct {
	Action  string `json:"action"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	// Status defaults to 400 (503 for RequestLimitExceeded, 500 for InternalError).
	Status int `json:"status,omitempty"`
	Times  int `json:"times,omitempty"`
}

// SetFaults replaces the injected faults.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.faults.Errors = append([]ErrorFault(nil), f.Errors...)
}

// CurrentFaults returns the injected faults.
func (s *Sim) CurrentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	f.Errors = append([]ErrorFault(nil), s.faults.Errors...)
	return f
}

// SetThrottleRate throttles the given fraction of requests.
func (s *Sim) SetThrottleRate(rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.ThrottleRate = rate
}

// SetLatency delays every answer.
func (s *Sim) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Latency = Duration{d}
}

// InjectError answers action with code for the next times requests (0: until cleared).
func (s *Sim) InjectError(f ErrorFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Errors = append(s.faults.Errors, f)
}

// ClearFaults removes every injected fault.
func (s *Sim) ClearFaults() { s.SetFaults(Faults{}) }

// Stats returns the request counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Requests: s.stats.Requests, Throttled: s.stats.Throttled, ByAction: map[string]int{}, Errors: map[string]int{}}
	for k, v := range s.stats.ByAction {
		out.ByAction[k] = v
	}
	for k, v := range s.stats.Errors {
		out.Errors[k] = v
	}
	return out
}

func (s *Sim) latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.Latency.Duration
}

// injected returns the fault to answer with, if any (called with the lock held).
func (s *Sim) injected(actionName string) *apiError {
	if s.faults.ThrottleRate > 0 && s.rng.Float64() < s.faults.ThrottleRate {
		s.stats.Throttled++
		return &apiError{Status: http.StatusServiceUnavailable, Code: "RequestLimitExceeded", Message: "Request limit exceeded."}
	}
	for i := range s.faults.Errors {
		f := &s.faults.Errors[i]
		if f.Action != actionName && f.Action != "*" {
			continue
		}
		e := &apiError{Status: f.Status, Code: f.Code, Message: f.Message}
		if e.Message == "" {
			e.Message = "Injected fault."
		}
		if e.Status == 0 {
			e.Status = defaultStatus(f.Code)
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults.Errors = append(s.faults.Errors[:i], s.faults.Errors[i+1:]...)
			}
		}
		return e
	}
	return nil
}

func defaultStatus(code string) int {
	switch code {
	case "RequestLimitExceeded", "Unavailable":
		return http.StatusServiceUnavailable
	case "InternalError", "InternalFailure":
		return http.StatusInternalServerError
	case "AuthFailure":
		return http.StatusUnauthorized
	case "UnauthorizedOperation":
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// SetConnectPeerBGPStatus sets the BgpStatus ("up" or "down") of a Connect peer's BGP
// sessions: the one whose TGW inside address is tgwAddress, or all when it is empty.
// The lab calls it from the real BGP state of the TGW stand-in.
func (s *Sim) SetConnectPeerBGPStatus(peerID, tgwAddress, status string) error {
	if status != "up" && status != "down" {
		return fmt.Errorf("bgp status %q: want up or down", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, ok := s.st.Peers[peerID]
	if !ok || cp.gone(s.now(), s.cfg.Delay.Duration, s.cfg.DeletedRetention.Duration) {
		return fmt.Errorf("connect peer %s: not found", peerID)
	}
	matched := false
	for addr := range cp.BGPStatus {
		if tgwAddress == "" || addr == tgwAddress {
			cp.BGPStatus[addr] = status
			matched = true
		}
	}
	if !matched {
		return fmt.Errorf("connect peer %s: no BGP session with TGW address %s", peerID, tgwAddress)
	}
	return s.store.save(s.st)
}

// AddTransitGatewayRoute adds a propagated route (as if learned over BGP from the
// Connect attachment's peers) to a TGW route table; tableOrTGW is a TGW route table id or
// a TGW id (its default route table). The route shows in SearchTransitGatewayRoutes.
func (s *Sim) AddTransitGatewayRoute(tableOrTGW, cidr, attachmentID string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("tgw route %q: %w", cidr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, err := s.tgwTable(tableOrTGW)
	if err != nil {
		return err
	}
	if _, ok := s.st.Attachments[attachmentID]; !ok {
		return fmt.Errorf("attachment %s: not found", attachmentID)
	}
	for _, r := range rt.Routes {
		if r.Destination == p.Masked().String() && r.AttachmentID == attachmentID {
			return nil
		}
	}
	rt.Routes = append(rt.Routes, &tgwRoute{Destination: p.Masked().String(), AttachmentID: attachmentID, Type: "propagated"})
	return s.store.save(s.st)
}

// RemoveTransitGatewayRoute withdraws a route added with AddTransitGatewayRoute.
func (s *Sim) RemoveTransitGatewayRoute(tableOrTGW, cidr, attachmentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, err := s.tgwTable(tableOrTGW)
	if err != nil {
		return err
	}
	kept := rt.Routes[:0]
	for _, r := range rt.Routes {
		if !(r.Destination == cidr && (attachmentID == "" || r.AttachmentID == attachmentID)) {
			kept = append(kept, r)
		}
	}
	rt.Routes = kept
	return s.store.save(s.st)
}

func (s *Sim) tgwTable(id string) (*tgwRouteTable, error) {
	if t, ok := s.st.TGWs[id]; ok {
		id = t.RouteTable
	}
	rt, ok := s.st.TGWRouteTables[id]
	if !ok {
		return nil, fmt.Errorf("transit gateway route table %s: not found", id)
	}
	return rt, nil
}

// SetFailed pins a transit gateway or attachment to state "failed" (or releases it),
// to test how callers handle failed resources.
func (s *Sim) SetFailed(id string, failed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.st.TGWs[id] != nil:
		s.st.TGWs[id].Failed = failed
	case s.st.Attachments[id] != nil:
		s.st.Attachments[id].Failed = failed
	case s.st.Peers[id] != nil:
		s.st.Peers[id].Failed = failed
	default:
		return fmt.Errorf("resource %s: not found", id)
	}
	return s.store.save(s.st)
}

// adminHandler serves the JSON admin API (for `cmd/ec2sim` users and non-Go tests):
//
//	GET/PUT /_ec2sim/faults        Faults
//	POST    /_ec2sim/bgp           {"connectPeerId","transitGatewayAddress","status"}
//	POST    /_ec2sim/tgw-routes    {"routeTable","destinationCidrBlock","attachmentId"}
//	DELETE  /_ec2sim/tgw-routes    same body
//	GET     /_ec2sim/stats         Stats
//	GET     /_ec2sim/state         the whole state document
func (s *Sim) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ec2sim/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.CurrentFaults()) })
	mux.HandleFunc("PUT /_ec2sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if !readJSON(w, r, &f) {
			return
		}
		s.SetFaults(f)
		writeJSON(w, s.CurrentFaults())
	})
	mux.HandleFunc("POST /_ec2sim/bgp", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ ConnectPeerID, TransitGatewayAddress, Status string }
		if !readJSON(w, r, &req) {
			return
		}
		adminResult(w, s.SetConnectPeerBGPStatus(req.ConnectPeerID, req.TransitGatewayAddress, req.Status))
	})
	tgwRoute := func(add bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var req struct{ RouteTable, DestinationCidrBlock, AttachmentID string }
			if !readJSON(w, r, &req) {
				return
			}
			if add {
				adminResult(w, s.AddTransitGatewayRoute(req.RouteTable, req.DestinationCidrBlock, req.AttachmentID))
				return
			}
			adminResult(w, s.RemoveTransitGatewayRoute(req.RouteTable, req.DestinationCidrBlock, req.AttachmentID))
		}
	}
	mux.HandleFunc("POST /_ec2sim/tgw-routes", tgwRoute(true))
	mux.HandleFunc("DELETE /_ec2sim/tgw-routes", tgwRoute(false))
	mux.HandleFunc("GET /_ec2sim/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Stats()) })
	mux.HandleFunc("GET /_ec2sim/state", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, s.st)
	})
	return mux
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		http.Error(w, fmt.Sprintf("bad request body: %v", err), http.StatusBadRequest)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func adminResult(w http.ResponseWriter, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]bool{"ok": true})
}

// ParseErrorFault reads "Action=Code[:times]" (the -fail flag of cmd/ec2sim).
func ParseErrorFault(s string) (ErrorFault, error) {
	act, rest, ok := strings.Cut(s, "=")
	if !ok || act == "" || rest == "" {
		return ErrorFault{}, fmt.Errorf("error fault %q: want Action=Code[:times]", s)
	}
	code, times, hasTimes := strings.Cut(rest, ":")
	f := ErrorFault{Action: act, Code: code}
	if hasTimes {
		n, err := strconv.Atoi(times)
		if err != nil || n < 0 {
			return ErrorFault{}, fmt.Errorf("error fault %q: times %q is not a count", s, times)
		}
		f.Times = n
	}
	return f, nil
}
