# gsi — every entry point people learn is a make target.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

# Slow things (kube-apiserver, tools built from the Go module proxy) are built once into
# this cache and reused by every later run, CI included.
GSI_CACHE ?= $(HOME)/.cache/gsi
# kube-apiserver used by envtest and the demo; built from the Go module proxy.
KUBE_VERSION ?= v1.37.1
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUBEBUILDER_ASSETS := $(GSI_CACHE)/kube-$(KUBE_VERSION)
TOOLS_BIN := $(GSI_CACHE)/bin
CONTROLLER_GEN := $(TOOLS_BIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
# -count=1: the lab tests drive real daemons and packets; a cached pass proves nothing
GO_TEST_FLAGS ?= -count=1 -timeout 45m
export GSI_CACHE KUBE_VERSION KUBEBUILDER_ASSETS CONTROLLER_GEN

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

.PHONY: setup
setup: $(CONTROLLER_GEN) ## install what the tests and the demo need (Debian packages, kube-apiserver); idempotent
	bash hack/setup.sh

.PHONY: test
test: setup ## run every test against real parts (API server, EC2 simulator, BGP peers)
	go test $(GO_TEST_FLAGS) ./...

.PHONY: bench
bench: setup ## run the benchmarks; they print medians and side-by-side ratios
	go test -run '^$$' -bench . -benchmem -timeout 60m ./...

.PHONY: build
build: ## build every binary into bin/
	go build -o bin/ ./cmd/...

$(CONTROLLER_GEN):
	mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(TOOLS_BIN)/controller-gen $@

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## regenerate CRDs (from api/) and RBAC roles (from +kubebuilder:rbac markers)
	$(CONTROLLER_GEN) object paths=./api/...
	CONTROLLER_GEN=$(CONTROLLER_GEN) bash hack/generate.sh manifests

-include hack/mk/*.mk

.PHONY: demo
demo: setup ## run gsi on its embedded default: local API server, EC2 simulator, routers and BGP peers
	go run ./test/demo $(DEMO_FLAGS)
