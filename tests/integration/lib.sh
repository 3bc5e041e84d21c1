# lib.sh - helpers for integration tests: start real daemons on free loopback ports, run the real
# CLI, check JSON with node, and always clean up. Source it; it sets `set -euo pipefail`.
set -euo pipefail
: "${BUILD_DIR:?BUILD_DIR must point at the build directory}"
: "${SRC_DIR:?SRC_DIR must point at the source tree}"
WISPD="$BUILD_DIR/vizier/wispd"
WISP="$BUILD_DIR/cli/wisp"
PROBE="$BUILD_DIR/tests/wsprobe"
ROGUE="$BUILD_DIR/tests/rogue_agent"
FLOOD="$BUILD_DIR/tests/wsflood"
BURN="$BUILD_DIR/tests/burn"
NOFP="$BUILD_DIR/tests/nofp"
CXX_WORKLOAD="$BUILD_DIR/tests/cxx"
RUST_WORKLOAD="$BUILD_DIR/tests/rust"
export WISP_SCRIPTS_PATH="$SRC_DIR/scripts/pxl-lua"
TMP=$(mktemp -d /tmp/wisp-it.XXXXXX)
PIDS=()

# On exit: stop every daemon (SIGTERM: a clean shutdown, so sanitizer builds report leaks), and
# fail the test if any daemon log holds a sanitizer report.
cleanup() {
	local rc=$? p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if grep -lE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|ThreadSanitizer" "$TMP"/*.log 2>/dev/null; then
		echo "FAIL: sanitizer report in a daemon log" >&2
		grep -hE -A30 "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$TMP"/*.log | head -60 >&2
		rc=1
	fi
	if [ "${KEEP_TMP:-}" = "" ]; then rm -rf "$TMP"; fi
	exit "$rc"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
	exit 1
}
pass() { echo "ok: $*"; }
# contains GREP_ARGS: grep that reads all of its input. In a pipe, grep -q exits at the first
# match, and under pipefail the writer's SIGPIPE then fails the whole pipeline.
contains() { grep "$@" >/dev/null; }

free_port() { "$PROBE" free-port; }

# start NAME CMD...: runs a daemon in the background, logging to $TMP/NAME.log; sets LAST_PID.
start() {
	local name=$1; shift
	"$@" >"$TMP/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# wait_agents PORT N: until the coordinator on PORT lists N agents (10 s).
wait_agents() {
	local i n
	for i in $(seq 100); do
		n=$("$WISP" -c "ws://127.0.0.1:$1" agents -o json 2>/dev/null | json_eval 'd.tables[0].rows.length' 2>/dev/null || echo 0)
		[ "$n" = "$2" ] && return 0
		sleep 0.1
	done
	fail "coordinator on port $1 did not list $2 agents (saw $n)"
}

# wait_log NAME PATTERN [SECONDS]: until $TMP/NAME.log has a line matching PATTERN (grep -E;
# 30 s unless told), for daemons whose start time is not ours to bound (BPF loads on a busy host).
wait_log() {
	local i
	for i in $(seq $((${3:-30} * 10))); do
		grep -qE "$2" "$TMP/$1.log" && return 0
		sleep 0.1
	done
	return 1
}

# wait_unwound PORT PID SECONDS: until the last second of PID's samples (20 or more) reach main
# in 99 % of them, the sign that the agent on PORT has loaded PID's unwind tables; fails after
# SECONDS. For tests of a steady state: how soon a new process unwinds is native_stacks' to test,
# and a loaded host (ASan, perf beside it) takes seconds to load a table. Prints how long it took.
wait_unwound() {
	local t0 end=$(( $(date +%s) + $3 ))
	t0=$(date +%s%N)
	until "$WISP" -c "ws://127.0.0.1:$1" run flamegraph -o folded -- --pid "$2" --by none --start -1s 2>/dev/null |
		awk '{c = $NF; n += c; if ($0 ~ /(^|;)main;/) h += c} END {exit !(n >= 20 && h * 100 >= 99 * n)}'; do
		[ "$(date +%s)" -lt "$end" ] || fail "pid $2: its samples did not reach main within $3 s"
		sleep 0.3
	done
	echo "pid $2 unwinds to main ($(( ($(date +%s%N) - t0) / 1000000 )) ms of waiting)"
}

# json_eval EXPR: reads one JSON document on stdin as `d`, prints EXPR.
json_eval() { node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{const d=JSON.parse(s);console.log($1)})"; }

alive() { kill -0 "$1" 2>/dev/null; }

# start_store [N]: a real S3-protocol server (npm s3rver) on $S3PORT (picked on first use) over
# $TMP/store, bucket `wisp`, logging to $TMP/s3rverN.log, with the AWS variables pointing at it;
# sets S3_PID. Started again (another N) on the same port and data, it is the same store.
start_store() {
	local s3rver="$SRC_DIR/tests/node_modules/s3rver/bin/s3rver.js" i
	[ -f "$s3rver" ] || fail "s3rver is missing: run deploy/install-deps.sh"
	: "${S3PORT:=$(free_port)}"
	mkdir -p "$TMP/store"
	start "s3rver${1:-}" node "$s3rver" -d "$TMP/store" -a 127.0.0.1 -p "$S3PORT" --silent --configure-bucket wisp
	S3_PID=$LAST_PID
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_ENDPOINT_URL=http://127.0.0.1:$S3PORT AWS_REGION=us-east-1
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$S3PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	fail "s3rver did not listen on $S3PORT"
}

# make_certs: in $TMP, a CA (ca.pem, ca.key) and a server certificate it signs for 127.0.0.1 and
# localhost (srv.pem, srv.key), for daemons started with --tls-cert/--tls-key.
make_certs() {
	(
		cd "$TMP"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=wisp-test-ca 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext
		openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext 2>/dev/null
	)
}

# new_token ROLE: a fresh random token, prefixed by its role.
new_token() { echo "$1-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
