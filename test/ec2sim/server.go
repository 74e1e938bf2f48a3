// Package ec2sim simulates the subset of the Amazon EC2 API gsi uses (VPC reads and
// routes, transit gateways, VPC and Connect attachments, Connect peers, TGW route search,
// security groups, tags). It speaks the EC2 Query protocol over HTTP (form POST with
// Action and Version, XML replies, AWS error bodies), accepts requests signed with any
// SigV4 credentials, applies AWS's documented rules, keeps its state crash-consistently
// on disk and can inject faults. The real aws-sdk-go-v2 client, the AWS CLI and boto3
// talk to it by pointing their endpoint at the server.
package ec2sim

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// APIVersion is the EC2 API version the simulator speaks.
const APIVersion = "2016-11-15"

const xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

// Options configure a simulator.
type Options struct {
	Config Config
	// StateDir keeps the state on disk; empty means memory only. When the directory
	// holds a state the simulator resumes from it and Config's seed is not applied again.
	StateDir string
	// Clock returns the current time (tests pass a fake clock to step through delays).
	Clock  func() time.Time
	Logger logr.Logger
	// Seed makes the throttling decisions reproducible; 0 picks a random seed.
	Seed uint64
}

// Sim is the simulator: an http.Handler holding the EC2 state.
type Sim struct {
	mu     sync.Mutex
	cfg    Config
	st     *state
	store  *store
	now    func() time.Time
	log    logr.Logger
	rng    *rand.Rand
	faults Faults
	stats  Stats
	admin  http.Handler
	// closed stops state changes once the server is closed, so a simulator restarted
	// on the same directory never races a request still running in the old one.
	closed bool
}

// Stats counts what the simulator answered.
type Stats struct {
	Requests  int            `json:"requests"`
	ByAction  map[string]int `json:"byAction"`
	Throttled int            `json:"throttled"`
	Errors    map[string]int `json:"errors"`
}

// New builds a simulator, resuming from Options.StateDir when it holds a state.
func New(opts Options) (*Sim, error) {
	cfg := opts.Config
	cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("ec2sim config: %w", err)
	}
	s := &Sim{cfg: cfg, store: &store{dir: opts.StateDir}, now: opts.Clock, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s.stats = Stats{ByAction: map[string]int{}, Errors: map[string]int{}}
	st, found, err := s.store.load()
	if err != nil {
		return nil, err
	}
	if !found {
		st = seed0(cfg)
		if err := s.store.save(st); err != nil {
			return nil, err
		}
	}
	s.st = st
	s.admin = s.adminHandler()
	return s, nil
}

// seed0 builds the initial state from the config.
func seed0(cfg Config) *state {
	st := newState()
	for _, v := range cfg.VPCs {
		st.VPCs[v.ID] = &vpc{ID: v.ID, CIDRs: append([]string(nil), v.CIDRs...)}
		setTags(st, v.ID, v.Tags)
		for _, sn := range v.Subnets {
			st.Subnets[sn.ID] = &subnet{ID: sn.ID, VPCID: v.ID, CIDR: sn.CIDR, AZ: sn.AvailabilityZone}
			setTags(st, sn.ID, sn.Tags)
		}
		for _, rt := range v.RouteTables {
			t := &routeTable{ID: rt.ID, VPCID: v.ID, Main: rt.Main, Subnets: append([]string(nil), rt.Subnets...)}
			for _, c := range v.CIDRs {
				t.Routes = append(t.Routes, &route{Destination: c, GatewayID: "local", Origin: "CreateRouteTable"})
			}
			for _, r := range rt.Routes {
				t.Routes = append(t.Routes, &route{Destination: r.Destination, GatewayID: r.GatewayID, Origin: "CreateRoute"})
			}
			st.RouteTables[rt.ID] = t
			setTags(st, rt.ID, rt.Tags)
		}
	}
	return st
}

func setTags(st *state, id string, tags map[string]string) {
	if len(tags) == 0 {
		return
	}
	m := st.Tags[id]
	if m == nil {
		m = map[string]string{}
		st.Tags[id] = m
	}
	for k, v := range tags {
		m[k] = v
	}
}

// apiError is an EC2 error reply.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// errf is a client error (HTTP 400), the status EC2 uses for every client-side code.
func errf(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

type handlerFunc func(s *Sim, p params) (any, *apiError)

type action struct {
	fn       handlerFunc
	mutating bool
}

// actions is filled by the files implementing each resource.
var actions = map[string]action{}

func register(name string, mutating bool, fn handlerFunc) {
	actions[name] = action{fn: fn, mutating: mutating}
}

// ServeHTTP answers EC2 Query requests on "/" and the admin API under /_ec2sim/.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_ec2sim/") {
		s.admin.ServeHTTP(w, r)
		return
	}
	reqID := newRequestID()
	if err := r.ParseForm(); err != nil {
		writeError(w, reqID, errf("MalformedQueryString", "cannot parse request: %v", err))
		return
	}
	p := params(r.Form)
	name := p.str("Action")
	body, aerr := s.serve(r.Context(), r, name, p)
	if aerr != nil {
		s.log.V(1).Info("ec2 error", "action", name, "code", aerr.Code, "message", aerr.Message, "requestId", reqID)
		writeError(w, reqID, aerr)
		return
	}
	s.log.V(2).Info("ec2 request", "action", name, "requestId", reqID)
	writeReply(w, reqID, name, body)
}

// serve applies authentication, faults and the action under the state lock.
func (s *Sim) serve(ctx context.Context, r *http.Request, name string, p params) (any, *apiError) {
	if aerr := checkAuth(r, p); aerr != nil {
		return nil, aerr
	}
	if p.str("Version") == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter Version")
	}
	act, ok := actions[name]
	if !ok {
		return nil, errf("InvalidAction", "The action %s is not valid for this web service.", name)
	}
	if d := s.latency(); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, &apiError{Status: http.StatusServiceUnavailable, Code: "RequestCanceled", Message: ctx.Err().Error()}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: "Unavailable", Message: "The service is unavailable."}
	}
	s.stats.Requests++
	s.stats.ByAction[name]++
	if aerr := s.injected(name); aerr != nil {
		s.stats.Errors[aerr.Code]++
		return nil, aerr
	}
	if p.bool("DryRun") {
		return nil, &apiError{Status: http.StatusPreconditionFailed, Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set."}
	}
	snapshot := s.st.Seq
	body, aerr := act.fn(s, p)
	if aerr != nil {
		s.stats.Errors[aerr.Code]++
		if act.mutating {
			s.discardChanges(name)
		}
		return nil, aerr
	}
	if act.mutating || s.st.Seq != snapshot {
		if err := s.store.save(s.st); err != nil {
			// The change is in memory but not on disk: report it as AWS reports its own
			// failures, so the client retries; the retry finds the resource by tags.
			s.log.Error(err, "persist state", "action", name)
			return nil, &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "An internal error has occurred"}
		}
	}
	return body, nil
}

// discardChanges puts back the last saved state after a failed mutating request, so
// a validation failure half-way through a request leaves nothing behind.
func (s *Sim) discardChanges(action string) {
	st, err := s.store.rollback()
	if err != nil {
		s.log.Error(err, "roll back failed request", "action", action)
		return
	}
	s.st = st
}

// checkAuth accepts any SigV4 credentials (header or presigned query) but requires the
// request to be signed, as EC2 does.
func checkAuth(r *http.Request, p params) *apiError {
	if strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || p.str("X-Amz-Algorithm") == "AWS4-HMAC-SHA256" {
		return nil
	}
	return &apiError{Status: http.StatusUnauthorized, Code: "AuthFailure", Message: "AWS was not able to validate the provided access credentials"}
}

func newRequestID() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(rand.UintN(256))
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

type errorResponse struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}

func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	b, err := xml.Marshal(errorResponse{Code: e.Code, Message: e.Message, RequestID: reqID})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(e.Status)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

// reply is embedded in every response body.
type reply struct {
	RequestID string `xml:"requestId"`
}

func writeReply(w http.ResponseWriter, reqID, name string, body any) {
	var buf strings.Builder
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	setRequestID(body, reqID)
	start := xml.StartElement{Name: xml.Name{Local: name + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: xmlns}}}
	if err := enc.EncodeElement(body, start); err != nil {
		writeError(w, reqID, &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(buf.String()))
}

type requestIDSetter interface{ setRequestID(string) }

func (r *reply) setRequestID(id string) { r.RequestID = id }

func setRequestID(body any, id string) {
	if s, ok := body.(requestIDSetter); ok {
		s.setRequestID(id)
	}
}

// params reads the EC2 Query encoding: scalars by name, lists as Name.1, Name.2, …,
// structures as Name.N.Member.
type params url.Values

func (p params) str(k string) string { return url.Values(p).Get(k) }

func (p params) has(k string) bool { _, ok := p[k]; return ok }

func (p params) bool(k string) bool { return strings.EqualFold(p.str(k), "true") }

// indexes returns the sorted N of every key "prefix.N" or "prefix.N.…".
func (p params) indexes(prefix string) []int {
	seen := map[int]bool{}
	for k := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		numStr, _, _ := strings.Cut(rest, ".")
		var n int
		if _, err := fmt.Sscanf(numStr, "%d", &n); err == nil && fmt.Sprint(n) == numStr {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// list returns the scalar list prefix.1, prefix.2, ….
func (p params) list(prefix string) []string {
	var out []string
	for _, n := range p.indexes(prefix) {
		if v, ok := p[fmt.Sprintf("%s.%d", prefix, n)]; ok && len(v) > 0 {
			out = append(out, v[0])
		}
	}
	return out
}

// structs returns the members of prefix.N.* as params keyed by member name.
func (p params) structs(prefix string) []params {
	var out []params
	for _, n := range p.indexes(prefix) {
		pre := fmt.Sprintf("%s.%d.", prefix, n)
		sub := params{}
		for k, v := range p {
			if rest, ok := strings.CutPrefix(k, pre); ok {
				sub[rest] = v
			}
		}
		out = append(out, sub)
	}
	return out
}

func (p params) int64(k string) (int64, bool, *apiError) {
	s := p.str(k)
	if s == "" {
		return 0, false, nil
	}
	var v int64
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || fmt.Sprint(v) != s {
		return 0, false, errf("InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected an integer.", s, k)
	}
	return v, true, nil
}

func (p params) required(keys ...string) *apiError {
	for _, k := range keys {
		if p.str(k) == "" {
			return errf("MissingParameter", "The request must contain the parameter %s", k)
		}
	}
	return nil
}

// Start runs the simulator on addr ("127.0.0.1:0" picks a free port) until Close.
func Start(addr string, opts Options) (*Server, error) {
	sim, err := New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ec2sim listen %s: %w", addr, err)
	}
	srv := &Server{Sim: sim, ln: ln, http: &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { srv.done <- srv.http.Serve(ln) }()
	return srv, nil
}

// Server is a running simulator.
type Server struct {
	*Sim
	ln   net.Listener
	http *http.Server
	done chan error
}

// URL is the endpoint to give a client ("http://127.0.0.1:port").
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server abruptly (like a kill): in-flight requests are cut. The state
// on disk is whatever the last completed request left, which is what a restart resumes.
func (s *Server) Close() error {
	s.Sim.mu.Lock()
	s.Sim.closed = true
	s.Sim.mu.Unlock()
	err := s.http.Close()
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("ec2sim serve: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("ec2sim close: %w", err)
	}
	return nil
}
