#!/usr/bin/env bash
# Compares bin/pullheal with crane, regctl and skopeo copying between two
# Debian docker-registry instances on loopback, in one run:
#
#   shared     4 images sharing 3 base layers, one CLI invocation per image
#   sync       the same set: `pullheal sync` once; the anchors as above, and
#              `skopeo sync` with the set listed in a YAML file
#   index      one 200 MiB two-platform index, every platform
#
# Each measurement is the median wall time of RUNS runs (default 3), each
# into a freshly emptied destination registry, the tools taking turns
# within each run; pullheal gets a fresh blob cache per run (the per-image
# invocations of one run share it, as a user's would). Prints a table and, per scenario, pullheal's time over the best
# anchor's. Not part of `make test`.
#
# Needs: docker-registry (apt), skopeo (apt), crane and regctl (go install
# github.com/google/go-containerregistry/cmd/crane@latest,
# github.com/regclient/regclient/cmd/regctl@latest), python3, go.
set -euo pipefail

RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PULLHEAL=${PULLHEAL:-$ROOT/bin/pullheal}
export PATH="$PATH:$(go env GOPATH)/bin"

for tool in docker-registry skopeo crane regctl python3; do
	command -v "$tool" >/dev/null || { echo "compare.sh: $tool is not installed" >&2; exit 2; }
done
if [ ! -x "$PULLHEAL" ]; then
	(cd "$ROOT" && go build -o bin/pullheal ./cmd/pullheal)
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# Nothing of the machine's AWS or docker configuration takes part (go keeps
# its own module cache).
export GOPATH=$(go env GOPATH) GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE)
for v in $(env | grep -o '^AWS_[A-Z_]*' || true); do unset "$v"; done
unset DOCKER_CONFIG
export HOME=$WORK/home
mkdir -p "$HOME"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry NAME: (re)starts a registry with empty storage; sets
# ${NAME}_ADDR and ${NAME}_PID.
start_registry() {
	local name=$1 port dir
	port=$(free_port)
	dir=$WORK/$name
	rm -rf "$dir"
	mkdir -p "$dir/data"
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
EOF
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	for _ in $(seq 100); do
		if curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
			printf -v "${name}_ADDR" '%s' "127.0.0.1:$port"
			printf -v "${name}_PID" '%s' "$pid"
			return
		fi
		sleep 0.1
	done
	echo "compare.sh: registry $name did not start:" >&2
	cat "$dir/log" >&2
	exit 1
}

stop_registry() {
	local pid_var=${1}_PID
	kill "${!pid_var}" 2>/dev/null || true
	wait "${!pid_var}" 2>/dev/null || true
}

start_registry SRC
(cd "$ROOT" && go run ./bench/seed -registry "$SRC_ADDR" -set shared && go run ./bench/seed -registry "$SRC_ADDR" -set index)

now() { date +%s.%N; }

# copy TOOL SRC DST RUN: one CLI invocation copying SRC to DST.
copy() {
	local tool=$1 src=$2 dst=$3 run=$4
	case $tool in
	pullheal) "$PULLHEAL" mirror --output json --blob-cache "$WORK/cache-$run.json" "$src" "$dst" >/dev/null ;;
	crane) crane copy --insecure "$src" "$dst" 2>/dev/null ;;
	regctl) regctl image copy "$src" "$dst" >/dev/null ;;
	skopeo) skopeo copy --all --quiet --src-tls-verify=false --dest-tls-verify=false "docker://$src" "docker://$dst" ;;
	esac
}

# measure SCENARIO TOOL RUN: one run into a fresh destination; sets
# SECONDS_TAKEN. (Not in a subshell: the registries it restarts must stay
# known to cleanup.)
measure() {
	local scenario=$1 tool=$2 run=$3 t0 t1
	stop_registry DST 2>/dev/null || true
	start_registry DST
	regctl registry set --tls disabled "$SRC_ADDR" >/dev/null 2>&1
	regctl registry set --tls disabled "$DST_ADDR" >/dev/null 2>&1
	rm -f "$WORK/cache-$run.json"
	t0=$(now)
	case $scenario in
	shared)
		for i in 0 1 2 3; do copy "$tool" "$SRC_ADDR/img$i:1" "$DST_ADDR/mirror/img$i:1" "$run"; done
		;;
	sync)
		case $tool in
		pullheal)
			"$PULLHEAL" sync --policy "$WORK/policy.yaml" --registry "$DST_ADDR" --output json \
				--blob-cache "$WORK/cache-$run.json" >"$WORK/sync.json"
			;;
		skopeo)
			skopeo sync --all --src yaml --dest docker --dest-tls-verify=false \
				"$WORK/skopeo-sync.yaml" "$DST_ADDR/mirror" >/dev/null 2>&1
			;;
		*)
			for i in 0 1 2 3; do copy "$tool" "$SRC_ADDR/img$i:1" "$DST_ADDR/mirror/img$i:1" "$run"; done
			;;
		esac
		;;
	index)
		copy "$tool" "$SRC_ADDR/big:1" "$DST_ADDR/mirror/big:1" "$run"
		;;
	esac
	t1=$(now)
	SECONDS_TAKEN=$(python3 -c "print(f'{$t1-$t0:.3f}')")
}

median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }

start_registry DST
cat >"$WORK/policy.yaml" <<EOF
version: 1
images:
  - match: [$SRC_ADDR/img0, $SRC_ADDR/img1, $SRC_ADDR/img2, $SRC_ADDR/img3]
    tags: {exact: ["1"]}
    action: mirror
EOF
cat >"$WORK/skopeo-sync.yaml" <<EOF
$SRC_ADDR:
  tls-verify: false
  images:
    img0: ["1"]
    img1: ["1"]
    img2: ["1"]
    img3: ["1"]
EOF

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); runs: $RUNS"
echo "versions: pullheal $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo '?'); crane $(crane version 2>&1); regctl $(regctl version --format '{{.VCSTag}}' 2>/dev/null || echo '?'); $(skopeo --version)"
printf '%-8s %9s %9s %9s %9s %9s\n' scenario pullheal crane regctl skopeo ratio
tools=(pullheal crane regctl skopeo)
for scenario in shared sync index; do
	# The tools take turns within each run, so that a machine that speeds
	# up or slows down during the scenario weighs on all of them alike.
	declare -A runs=() t=()
	for run in $(seq "$RUNS"); do
		for tool in "${tools[@]}"; do
			measure "$scenario" "$tool" "$run"
			runs[$tool]+=" $SECONDS_TAKEN"
		done
	done
	for tool in "${tools[@]}"; do
		echo "  $scenario $tool runs:${runs[$tool]}" >&2
		# shellcheck disable=SC2086
		t[$tool]=$(median ${runs[$tool]})
	done
	best=$(printf '%s\n' "${t[crane]}" "${t[regctl]}" "${t[skopeo]}" | sort -n | head -1)
	ratio=$(python3 -c "print(f'{${t[pullheal]}/$best:.2f}')")
	printf '%-8s %9s %9s %9s %9s %9s\n' "$scenario" "${t[pullheal]}" "${t[crane]}" "${t[regctl]}" "${t[skopeo]}" "$ratio"
	unset runs t
done
echo "seconds, median of $RUNS; ratio = pullheal / best anchor (targets: shared <= 0.75, sync <= 0.6, index <= 1.0)"
