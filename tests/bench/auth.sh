#!/usr/bin/env bash
# tests/bench/auth.sh - what TLS, tokens and /metrics cost, as `name value unit` lines. Two
# standalone wispd on loopback with the same synthetic source (2 CPUs at 99 Hz, an hour
# back-filled): one plain, one with TLS (a CA made here) and a token file. Same run, same load:
#   query_ms_ws                 a small request end to end (`wisp agents`, the CLI's whole
#                               life: connect, upgrade, request, answer), plain ws:// (median of 21)
#   query_ms_wss_token          the same over wss:// with a token (TLS handshake included)
#   query_tls_overhead_ms       their difference
#   metrics_scrape_ms_N_agents  GET /metrics of a coordinator with N agents (20; median of 21)
#   metrics_bytes_N_agents      its size
# Builds nothing: BUILD_DIR=build tests/bench/auth.sh   (about a minute)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SRC_DIR=${SRC_DIR:-$(cd "$here/../.." && pwd)}
export BUILD_DIR=${BUILD_DIR:-$SRC_DIR/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$SRC_DIR/$BUILD_DIR ;; esac
. "$SRC_DIR/tests/integration/lib.sh"
N=${AGENTS:-20}
spec=cpus=2,hz=99,backfill=1h,speed=100000

make_certs
TOK=$(new_token read)
printf 'read %s\nagent agent-%s\n' "$TOK" "$TOK" >"$TMP/tokens"
chmod 600 "$TMP/tokens"

P1=$(free_port) P2=$(free_port)
start plain "$WISPD" standalone --listen "127.0.0.1:$P1" --node plain --ring-mb 32 --source "synthetic:$spec,seed=1"
start tls "$WISPD" standalone --listen "127.0.0.1:$P2" --node tls --ring-mb 32 --source "synthetic:$spec,seed=1" \
	--tls-cert "$TMP/srv.pem" --tls-key "$TMP/srv.key" --token-file "$TMP/tokens"
wait_agents "$P1" 1
sleep 2

# median_ms CMD...: the median wall time of 21 runs of CMD, in ms.
median_ms() {
	local i t0
	for i in $(seq 21); do
		t0=$(date +%s%N)
		"$@" >/dev/null
		echo $(( $(date +%s%N) - t0 ))
	done | sort -n | awk '{v[NR]=$1} END{printf "%.2f", v[11] / 1e6}'
}
ws=$(median_ms "$WISP" -c "ws://127.0.0.1:$P1" agents)
wss=$(WISP_TOKEN=$TOK median_ms "$WISP" -c "wss://127.0.0.1:$P2" --ca "$TMP/ca.pem" agents)
echo "query_ms_ws $ws ms"
echo "query_ms_wss_token $wss ms"
awk -v a="$ws" -v b="$wss" 'BEGIN{printf "query_tls_overhead_ms %.2f ms\n", b - a}'

for i in $(seq 2 "$N"); do
	start "a$i" "$WISPD" agent --coordinator "wss://127.0.0.1:$P2" --node "a$i" --ring-mb 8 \
		--source "synthetic:cpus=2,hz=99,seed=$i" --tls-ca "$TMP/ca.pem" --token-file "$TMP/tokens"
done
for i in $(seq 300); do
	n=$(curl -s --cacert "$TMP/ca.pem" -H "Authorization: Bearer $TOK" "https://127.0.0.1:$P2/metrics" |
		awk '$1 == "wisp_agents_connected" {print $2}')
	[ "${n:-0}" = "$N" ] && break
	sleep 0.2
done
[ "${n:-0}" = "$N" ] || fail "only ${n:-0} of $N agents registered"
sleep 2.5 # every agent's heartbeat in
m=$(median_ms curl -s --cacert "$TMP/ca.pem" -H "Authorization: Bearer $TOK" "https://127.0.0.1:$P2/metrics")
echo "metrics_scrape_ms_${N}_agents $m ms"
echo "metrics_bytes_${N}_agents $(curl -s --cacert "$TMP/ca.pem" -H "Authorization: Bearer $TOK" "https://127.0.0.1:$P2/metrics" | wc -c) bytes"
