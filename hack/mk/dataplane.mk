# Data plane (issue 8): eBPF forwarding between GRE (TGW) and MPLS-over-UDP (vRouters),
# its forwarding lab and benchmark. bpf2go is github.com/cilium/ebpf/cmd/bpf2go at the
# version go.mod pins for github.com/cilium/ebpf (go:generate runs it with `go run`).

.PHONY: generate
generate: ## rebuild the committed BPF objects with bpf2go (needs clang, llvm, libbpf-dev: make setup)
	go generate ./router/dataplane/ ./test/fwdlab/

.PHONY: test-dataplane
test-dataplane: setup ## the data plane's tests and its forwarding lab (GRE/MPLSoUDP stand-ins, tshark)
	go test $(GO_TEST_FLAGS) ./router/dataplane/ ./test/fwdlab/

.PHONY: bench-dataplane
bench-dataplane: setup ## iperf3 TCP and UDP pps through the eBPF path vs kernel IP forwarding, same topology, with ratios
	go test -run '^$$' -bench BenchmarkForwarding -benchtime 1x -timeout 15m ./test/fwdlab/
