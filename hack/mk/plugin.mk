# kubectl gsi: the plugin binary, its krew release archives and manifest, krew itself.

PLUGIN_COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PLUGIN_DATE    := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
# krew wants semver; an untagged build is a pre-release of the next version.
PLUGIN_VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --exact-match 2>/dev/null || echo v0.1.0-dev.g$(PLUGIN_COMMIT))
PLUGIN_LDFLAGS := -X main.version=$(PLUGIN_VERSION) -X main.commit=$(PLUGIN_COMMIT) -X main.date=$(PLUGIN_DATE)
KREW_VERSION   ?= v0.4.4
KREW           := $(GSI_CACHE)/bin/krew-$(KREW_VERSION)
KREW_ROOT      ?= $(HOME)/.krew
DIST           ?= dist
export KREW_VERSION

.PHONY: plugin
plugin: ## build bin/kubectl-gsi (version from git)
	go build -trimpath -ldflags "$(PLUGIN_LDFLAGS)" -o bin/kubectl-gsi ./cmd/kubectl-gsi

.PHONY: krew
krew: ## krew release: archives for linux/darwin amd64+arm64 and windows/amd64, sha256s, dist/krew/gsi.yaml
	go run ./krew/release -version $(PLUGIN_VERSION) -commit $(PLUGIN_COMMIT) -date $(PLUGIN_DATE) -out $(DIST)

$(KREW):
	bash krew/build-krew.sh

.PHONY: krew-bin
krew-bin: $(KREW) ## build krew $(KREW_VERSION) from the Go module proxy into $(GSI_CACHE)/bin (once)

.PHONY: krew-install
krew-install: $(KREW) ## install this tree's plugin with krew into $(KREW_ROOT) (host platform only)
	go run ./krew/release -version $(PLUGIN_VERSION) -commit $(PLUGIN_COMMIT) -date $(PLUGIN_DATE) -out $(DIST) -platforms host
	KREW_ROOT=$(KREW_ROOT) KREW_NO_UPGRADE_CHECK=1 $(KREW) install --manifest=$(DIST)/krew/gsi.yaml \
	  --archive=$(DIST)/kubectl-gsi_$(PLUGIN_VERSION)_$(shell go env GOOS)_$(shell go env GOARCH).tar.gz
	@echo "add $(KREW_ROOT)/bin to PATH, then: kubectl gsi version"

.PHONY: plugin-test
plugin-test: setup ## test kubectl gsi against a real API server, and its krew install
	go test $(GO_TEST_FLAGS) ./plugin/... ./krew/...

.PHONY: plugin-bench
plugin-bench: setup ## benchmark kubectl gsi status against kubectl get (1,000 VNs, 4 peers)
	go test -run '^$$' -bench 'StatusVsKubectlGet' -benchtime 5x -timeout 30m ./plugin/
