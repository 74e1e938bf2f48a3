# Admission webhook targets (included by the top Makefile).
WEBHOOK_FUZZTIME ?= 60s

.PHONY: fuzz-webhook
fuzz-webhook: ## fuzz the TransitGateway validators (WEBHOOK_FUZZTIME, default 60s); make test runs only the seeds
	go test -run '^$$' -fuzz FuzzValidateTransitGateway -fuzztime $(WEBHOOK_FUZZTIME) ./webhook/rules

.PHONY: bench-webhook
bench-webhook: setup ## admission latency p50/p99 through the API server and for the handler alone
	go test -run '^$$' -bench . -benchtime 3s ./webhook/admit
