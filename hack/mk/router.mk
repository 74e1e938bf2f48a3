# Router (issue 7): BGP control plane, its lab and benchmark.

.PHONY: test-router
test-router: setup ## run the router's unit and lab tests (FRR as TGW, BIRD as control node)
	go test $(GO_TEST_FLAGS) ./router/... ./test/bgplab/ ./cmd/gsi-router/

.PHONY: bench-router
bench-router: setup ## 100k pod routes in 100 VNs from BIRD: gsi-router vs a second BIRD, time to table and peak RSS
	go test -run '^$$' -bench BenchmarkPodRouteFeed -benchtime 1x -timeout 20m -v ./test/bgplab/
