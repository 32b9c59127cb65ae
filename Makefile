# vault-injector: `make demo` runs the whole flow locally, `make test` proves it.
# Real servers (Vault, Kubernetes, etcd, containerd) are installed and cached by
# test/tools/install.sh under $(VI_CACHE); the first run builds them (see docs/testing.md).

VI_CACHE ?= $(CURDIR)/.cache
export VI_CACHE
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 15s
GOLANGCI := $(VI_CACHE)/bin/golangci-lint

.PHONY: all build tools test unit fuzz bench lint demo demo-down clean

all: build

build: ## static webhook and agent binaries in bin/
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/webhook ./webhook
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/agent ./agent

tools: ## install or build the pinned real servers the tests run (cached)
	test/tools/install.sh all

# Tests that need real servers (Vault, kube-apiserver, a kubelet) live in the packages below,
# or, in packages that mix them with unit tests, are named for them: ...OnRealAPIServer,
# ...OnKubelet. `make unit` runs everything else: no Vault, no Kubernetes binaries, no cache.
SERVER_PKGS  := ./agent/integration ./test/vaultserver/... ./test/kubetest ./test/images
CLUSTER_PKGS := ./test/cluster ./test/e2e
REAL_TESTS   := Test[A-Za-z0-9]*(OnRealAPIServer|OnKubelet)$$
UNIT_PKGS     = $$(go list ./... | grep -v -e /agent/integration$$ -e /test/vaultserver -e /test/kubetest$$ \
                  -e /test/images$$ -e /test/cluster -e /test/e2e$$ -e /test/stack$$ -e /test/demo$$)

unit: ## the fast loop: unit, golden and fuzz-seed tests; no servers, no tool cache
	go test -count=1 -timeout 10m -skip '$(REAL_TESTS)' $(UNIT_PKGS)

# Packages that run a whole cluster (and manifests, whose kubelet test does) go one at a time:
# they share the host's kubelet paths and its two cores.
test: unit tools lint ## everything: unit, golden, integration against real servers, e2e, fuzz
	go test -count=1 -timeout 30m $(SERVER_PKGS)
	go test -count=1 -timeout 15m -run '$(REAL_TESTS)' ./certs
	go test -count=1 -p 1 -timeout 15m -run '$(REAL_TESTS)' ./manifests
	go test -count=1 -p 1 -timeout 45m $(CLUSTER_PKGS)
	$(MAKE) fuzz

fuzz: ## each fuzz target for a bounded time
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./webhook/annotations
	go test -run '^$$' -fuzz '^FuzzAdmissionBody$$' -fuzztime $(FUZZTIME) ./webhook/server
	go test -run '^$$' -fuzz '^FuzzPatch$$' -fuzztime $(FUZZTIME) ./webhook/mutate
	go test -run '^$$' -fuzz '^FuzzString$$' -fuzztime $(FUZZTIME) ./internal/jsonwrite
	go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./webhook/mutate
	go test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./internal/jsonread
	go test -run '^$$' -fuzz '^FuzzDecodeState$$' -fuzztime $(FUZZTIME) ./certs
	go test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./agent/render
	go test -run '^$$' -fuzz '^FuzzVaultAnswer$$' -fuzztime $(FUZZTIME) ./agent/vault
	go test -run '^$$' -fuzz '^FuzzTranslate$$' -fuzztime $(FUZZTIME) ./webhook/vaultk8s
	go test -run '^$$' -fuzz '^FuzzMigrate$$' -fuzztime $(FUZZTIME) ./webhook/migrate

bench: tools ## Go benchmarks of the webhook and the agent
	go test -run '^$$' -bench . -benchmem -count 1 ./webhook/...
	go run ./test/agentbench

lint: ## gofmt, go vet, golangci-lint (config: .golangci.yml)
	test/tools/install.sh lint
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...
	$(GOLANGCI) run ./...

demo: tools ## the whole flow on a real local cluster and Vault; Ctrl-C or `make demo-down` stops it
	go run ./test/demo

demo-down: ## stop a running demo (from another terminal)
	@pid=$$(cat $(VI_CACHE)/demo.pid 2>/dev/null) || { echo "no demo running"; exit 0; }; \
	kill $$pid 2>/dev/null || true; \
	while kill -0 $$pid 2>/dev/null; do sleep 0.5; done; echo "demo stopped"

clean:
	rm -rf bin
