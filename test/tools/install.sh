#!/usr/bin/env bash
# Installs the real servers the tests run against, pinned and cached by version.
# A second run does no work. Usage: test/tools/install.sh [debs|vault|kube|lint|all]...
#
# Everything lands under $VI_CACHE (default: <repo>/.cache, git-ignored):
#   $VI_CACHE/bin/vault-$VAULT_VERSION/vault
#   $VI_CACHE/bin/kube-$KUBE_VERSION/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy,kubectl}
# and $VI_CACHE/bin/<tool> links to the pinned version, which is what the tests run
# (test/testbin finds them).
set -euo pipefail

VAULT_VERSION=v1.21.1 # newest release that builds from the module proxy (docs/real-cluster.md)
KUBE_VERSION=v1.36.3
KUBE_CMDS="kube-apiserver kubelet kube-controller-manager kube-scheduler kube-proxy kubectl"
GOLANGCI_LINT_VERSION=v2.15.0
DEBS=(etcd-server containerd runc containernetworking-plugins iproute2 iptables conntrack postgresql busybox-static) # busybox-static: the test toolbox image (test/images); iptables, conntrack: kube-proxy

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${VI_CACHE:-$repo/.cache}

log() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Debian packages, with `apt-get update` only when something is missing.
install_debs() {
	local missing=()
	for p in "${DEBS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# apt may start services on some hosts; the tests run their own private instances.
	for svc in containerd etcd postgresql; do $sudo systemctl stop "$svc" >/dev/null 2>&1 || true; done
}

# A fresh wrapper module per tool: downgrading inside an existing go.mod fails (docs/real-cluster.md).
wrapper() { # dir module
	rm -rf "$1" && mkdir -p "$1"
	(cd "$1" && go mod init "$2" >/dev/null 2>&1)
}

install_vault() {
	local out=$cache/bin/vault-$VAULT_VERSION
	ln -sfn "vault-$VAULT_VERSION/vault" "$cache/bin/vault" 2>/dev/null || true
	[ -x "$out/vault" ] && return 0
	local src=$cache/src/vault-$VAULT_VERSION
	log "building Vault $VAULT_VERSION from the module proxy (cold: ~20 min, ~8 GB of Go caches)"
	wrapper "$src" vaultbuild
	cat >>"$src/go.mod" <<MOD

require github.com/hashicorp/vault $VAULT_VERSION

// Mirrors the two non-local replaces of Vault's own go.mod; its ./api and ./sdk replaces are
// not mirrored: the published versions it requires are the right ones.
replace github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3

replace github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
MOD
	(cd "$src" && GOFLAGS=-mod=mod go get "github.com/hashicorp/vault@$VAULT_VERSION" &&
		mkdir -p "$out.tmp" &&
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$out.tmp/vault" github.com/hashicorp/vault)
	mv "$out.tmp" "$out"
	log "vault ready: $out/vault"
}

install_kube() {
	local out=$cache/bin/kube-$KUBE_VERSION
	mkdir -p "$cache/bin"
	for cmd in $KUBE_CMDS; do
		ln -sfn "kube-$KUBE_VERSION/$cmd" "$cache/bin/$cmd"
	done
	local have=1
	for cmd in $KUBE_CMDS; do [ -x "$out/$cmd" ] || have=0; done
	[ $have = 1 ] && return 0
	local src=$cache/src/kube-$KUBE_VERSION
	local staging=${KUBE_VERSION/v1./v0.}
	log "building Kubernetes $KUBE_VERSION from the module proxy (cold: ~12 min)"
	wrapper "$src" kubebuild
	{
		printf '\nrequire k8s.io/kubernetes %s\n\n' "$KUBE_VERSION"
		# k8s.io/kubernetes points every staging repo at ./staging; pin each to its release.
		proxy=$(go env GOPROXY)
		curl -fsSL "${proxy%%,*}/k8s.io/kubernetes/@v/$KUBE_VERSION.mod" |
			awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\// { print "replace " $1 " => " $1 " " v }'
	} >>"$src/go.mod"
	grep -q 'k8s.io/streaming' "$src/go.mod" || { log "staging replace list is incomplete"; exit 1; }
	local minor=${KUBE_VERSION#v1.}
	minor=${minor%%.*}
	local ld="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
	ld+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
	ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
	(cd "$src" && GOFLAGS=-mod=mod go get "k8s.io/kubernetes@$KUBE_VERSION")
	mkdir -p "$out.tmp"
	for cmd in $KUBE_CMDS; do
		if [ -x "$out/$cmd" ]; then cp "$out/$cmd" "$out.tmp/$cmd" && continue; fi # a cache from before a command was added
		log "go build $cmd"
		(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$out.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd")
	done
	rm -rf "$out" && mv "$out.tmp" "$out"
	log "kubernetes ready: $out"
}

install_lint() {
	local out=$cache/bin/golangci-lint-$GOLANGCI_LINT_VERSION
	mkdir -p "$cache/bin"
	ln -sfn "golangci-lint-$GOLANGCI_LINT_VERSION/golangci-lint" "$cache/bin/golangci-lint"
	[ -x "$out/golangci-lint" ] && return 0
	log "building golangci-lint $GOLANGCI_LINT_VERSION (cold: ~3 min)"
	GOBIN=$out.tmp go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
	rm -rf "$out" && mv "$out.tmp" "$out"
}

[ $# -gt 0 ] || set -- all
for what in "$@"; do
	case $what in
	debs) install_debs ;;
	vault) install_vault ;;
	kube) install_kube ;;
	lint) install_lint ;;
	all)
		install_debs
		install_lint
		# Vault's download overlaps the Kubernetes compile; both fit in memory (~6 + ~3 GB).
		install_vault &
		vault_pid=$!
		install_kube
		wait "$vault_pid"
		;;
	*) echo "usage: $0 [debs|vault|kube|lint|all]..." >&2 && exit 2 ;;
	esac
done
