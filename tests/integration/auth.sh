#!/usr/bin/env bash
# auth.sh - TLS and tokens (net/tokens.h), end to end with real daemons and the real CLI: a peer
# without a known token is refused before any script runs, each role may do what it grants and no
# more, wss:// verifies against a CA this test makes, agents register over wss:// with their token,
# /metrics passes promtool and its counters move, a rotated token file takes effect, and a
# coordinator will not listen beyond loopback without TLS and tokens.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "openssl is missing: run deploy/install-deps.sh"
command -v promtool >/dev/null || fail "promtool (Debian's prometheus) is missing: run deploy/install-deps.sh"

# A CA, a server certificate it signs for 127.0.0.1, and a second CA that signed nothing here.
make_certs
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/other.key" -out "$TMP/other.pem" -days 2 -subj /CN=other-ca 2>/dev/null
AGENT_TOK=$(new_token agent) READ_TOK=$(new_token read) ADMIN_TOK=$(new_token admin)
printf '# roles and tokens\nagent %s\nread %s\n\nadmin %s\n' "$AGENT_TOK" "$READ_TOK" "$ADMIN_TOK" >"$TMP/tokens"
chmod 600 "$TMP/tokens"
echo "$READ_TOK" >"$TMP/read.token"

PORT=$(free_port)
URL=wss://127.0.0.1:$PORT
start coord "$WISPD" standalone --listen "127.0.0.1:$PORT" --node alpha --ring-mb 16 --source synthetic:cpus=2,hz=99,seed=3 \
	--tls-cert "$TMP/srv.pem" --tls-key "$TMP/srv.key" --token-file "$TMP/tokens"
wait_log coord "listening on wss://127.0.0.1:$PORT; a token is needed" || fail "coordinator did not start with TLS"

# expect_refused STATUS PATTERN CMD...: CMD exits with STATUS and says PATTERN on stderr.
expect_refused() {
	local want=$1 pat=$2 rc=0; shift 2
	"$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	[ "$rc" = "$want" ] || fail "$* exited $rc, want $want: $(cat "$TMP/err")"
	grep -qE "$pat" "$TMP/err" || fail "$*: '$(cat "$TMP/err")' does not say /$pat/"
}

W=("$WISP" -c "$URL" --ca "$TMP/ca.pem")
expect_refused 2 "needs a token \(HTTP 401\)" "${W[@]}" agents
WISP_TOKEN=wrong-token-of-some-length expect_refused 2 "does not know this token" "${W[@]}" agents
grep -q "refused a connection from 127.0.0.1: no token" "$TMP/coord.log" || fail "the refusal is not logged"
pass "no token and an unknown token: refused at the upgrade, exit 2, a clear message"

"${W[@]}" --token-file "$TMP/read.token" agents | contains '^alpha  *local' || fail "read token: agents"
for i in $(seq 50); do # (the synthetic source's first batch takes a moment)
	ROWS=$(WISP_TOKEN=$READ_TOK "${W[@]}" run top_functions -o json -- --limit 3 | json_eval "d.tables[0].rows.length")
	[ "$ROWS" = 3 ] && break
	sleep 0.2
done
[ "$ROWS" = 3 ] || fail "read token: run gave $ROWS rows"
WISP_TOKEN=$READ_TOK expect_refused 1 "a snapshot needs an admin token, and this connection's token is a read token" \
	"${W[@]}" snapshot --dir "$TMP"
"${W[@]}" --token-file "$TMP/tokens" snapshot --dir "$TMP" --start -1m >"$TMP/snap.out" || fail "admin token: snapshot"
grep -q 'alpha-.*\.wispsnap' "$TMP/snap.out" || fail "admin snapshot wrote no file: $(cat "$TMP/snap.out")"
WISP_TOKEN=$AGENT_TOK expect_refused 1 "a query needs a read or admin token, and this connection's token is an agent token" \
	"${W[@]}" agents
pass "read runs and lists, not snapshots; admin snapshots (from the token file: its admin token); agent may not query"

expect_refused 2 "does not verify|certificate" env WISP_TOKEN="$READ_TOK" "$WISP" -c "$URL" agents
expect_refused 2 "does not verify|certificate" env WISP_TOKEN="$READ_TOK" "$WISP" -c "$URL" --ca "$TMP/other.pem" agents
expect_refused 2 "use wss://" env WISP_TOKEN="$READ_TOK" "$WISP" -c "ws://127.0.0.1:$PORT" agents
WISP_CA=$TMP/ca.pem WISP_TOKEN=$READ_TOK "$WISP" -c "wss://localhost:$PORT" agents >/dev/null || fail "WISP_CA, localhost"
pass "wss:// verifies against the test's CA only (system CAs, another CA and plain ws:// refused); WISP_CA"

# Agents over wss://: the agent token joins; a read token may not register.
start beta "$WISPD" agent --coordinator "$URL" --node beta --ring-mb 8 --source synthetic:cpus=2,hz=99,seed=4 \
	--tls-ca "$TMP/ca.pem" --token-file "$TMP/tokens"
start gamma "$WISPD" agent --coordinator "$URL" --node gamma --ring-mb 8 --source synthetic:cpus=2,hz=99,seed=5 \
	--tls-ca "$TMP/ca.pem" --token-file "$TMP/read.token"
start delta "$WISPD" agent --coordinator "$URL" --node delta --ring-mb 8 --source synthetic:cpus=2,hz=99,seed=6 \
	--token-file "$TMP/tokens"
wait_log beta "registered with the coordinator" || fail "agent with its token over wss:// did not register"
wait_log gamma "registering as an agent needs an agent token, and this connection's token is a read token" ||
	fail "an agent with a read token was not refused"
wait_log delta "does not verify|certificate" || fail "an agent without the CA did not say why it cannot connect"
NODES=$(WISP_TOKEN=$READ_TOK "${W[@]}" agents -o json | json_eval 'd.tables[0].rows.map(r=>r[0]).sort().join(",")')
[ "$NODES" = "alpha,beta" ] || fail "agents listed: $NODES, want alpha,beta"
pass "an agent registers over wss:// with its agent token; a read token and a missing CA are refused with the reason"

# /metrics: a read token; Prometheus text that promtool accepts; counters that move.
CURL=(curl -sS --cacert "$TMP/ca.pem")
[ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/metrics")" = 401 ] || fail "/metrics without a token"
"${CURL[@]}" -H "Authorization: Bearer $READ_TOK" "https://127.0.0.1:$PORT/metrics" >"$TMP/m1.txt"
promtool check metrics <"$TMP/m1.txt" >"$TMP/promtool.out" 2>&1 || fail "promtool: $(cat "$TMP/promtool.out")"
for m in wisp_samples_total wisp_samples_lost_total wisp_ring_bytes wisp_ring_oldest_timestamp_seconds wisp_queries_total \
	wisp_query_duration_seconds_bucket wisp_agents_connected wisp_unwind_truncated_total wisp_websocket_received_bytes_total; do
	grep -q "^$m" "$TMP/m1.txt" || fail "/metrics has no $m"
done
grep -q '^wisp_agents_connected 2$' "$TMP/m1.txt" || fail "wisp_agents_connected: $(grep agents_connected "$TMP/m1.txt")"
grep -q '^wisp_ring_bytes{node="beta"}' "$TMP/m1.txt" || fail "no series of agent beta"
value() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
RUNS1=$(value 'wisp_queries_total{kind="run",outcome="ok"}' "$TMP/m1.txt")
for i in 1 2 3; do WISP_TOKEN=$READ_TOK "${W[@]}" run top_functions -- --limit 1 >/dev/null; done
sleep 2.5 # a heartbeat (2 s) brings beta's counters
"${CURL[@]}" "https://127.0.0.1:$PORT/metrics?access_token=$READ_TOK" >"$TMP/m2.txt"
RUNS2=$(value 'wisp_queries_total{kind="run",outcome="ok"}' "$TMP/m2.txt")
[ "$RUNS2" -ge $((RUNS1 + 3)) ] || fail "wisp_queries_total{run,ok} went $RUNS1 -> $RUNS2 after 3 queries"
for node in alpha beta; do
	S1=$(value "wisp_samples_total{node=\"$node\"}" "$TMP/m1.txt") S2=$(value "wisp_samples_total{node=\"$node\"}" "$TMP/m2.txt")
	awk -v a="$S1" -v b="$S2" 'BEGIN { exit !(b > a) }' || fail "wisp_samples_total{node=$node} did not grow: $S1 -> $S2"
done
R1=$(value wisp_websocket_received_bytes_total "$TMP/m1.txt") R2=$(value wisp_websocket_received_bytes_total "$TMP/m2.txt")
[ "$R2" -gt "$R1" ] || fail "wisp_websocket_received_bytes_total did not grow"
grep -q '^wisp_refused_total{reason="token"} [1-9]' "$TMP/m2.txt" || fail "refused peers not counted"
pass "/metrics: 401 without a token; promtool accepts it; queries ($RUNS1 -> $RUNS2), samples of alpha and beta and bytes move"

# The dashboard over https://: its files need no token (its websocket does).
[ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/")" = 200 ] || fail "dashboard over https"
NODE_PATH="$SRC_DIR/tests/node_modules" node "$SRC_DIR/tests/integration/dashboard_token.js" \
	"https://127.0.0.1:$PORT/" "$READ_TOK" >"$TMP/browser.out" 2>&1 || fail "the dashboard with a token: $(cat "$TMP/browser.out")"
pass "the dashboard is served over https://; in chromium it asks for a token, and connects with #access_token"


# A rotated token file: the new read token works within a few seconds, the old one no longer.
NEW_TOK=$(new_token read-rotated)
printf 'agent %s\nread %s\nadmin %s\n' "$AGENT_TOK" "$NEW_TOK" "$ADMIN_TOK" >"$TMP/tokens.new"
mv "$TMP/tokens.new" "$TMP/tokens"
wait_log coord "token file reloaded: 3 tokens" 10 || fail "the rotated token file was not reloaded"
WISP_TOKEN=$NEW_TOK "${W[@]}" agents >/dev/null || fail "the new token after rotation"
WISP_TOKEN=$READ_TOK expect_refused 2 "does not know this token" "${W[@]}" agents
pass "a rotated token file takes effect for new connections"

# Bad token files (exit 1: the daemon cannot start) and bad listening (exit 2: the command line),
# refused at start with the reason.
printf 'reader %s\n' "$READ_TOK" >"$TMP/bad.tokens"
expect_refused 1 "bad.tokens:1: unknown role 'reader'" "$WISPD" coordinator --listen "127.0.0.1:$(free_port)" --token-file "$TMP/bad.tokens"
printf 'read short\n' >"$TMP/short.tokens"
expect_refused 1 "a token must be 16 to 256 characters" "$WISPD" coordinator --listen "127.0.0.1:$(free_port)" --token-file "$TMP/short.tokens"
P2=$(free_port)
expect_refused 2 "refusing to listen on 0.0.0.0:$P2 without TLS and tokens" "$WISPD" coordinator --listen "0.0.0.0:$P2"
expect_refused 2 "refusing to listen on 0.0.0.0:$P2 without tokens" "$WISPD" coordinator --listen "0.0.0.0:$P2" \
	--tls-cert "$TMP/srv.pem" --tls-key "$TMP/srv.key"
start open "$WISPD" coordinator --listen "0.0.0.0:$P2" --insecure
wait_log open "listening on ws://0.0.0.0:$P2" 10 || fail "--insecure did not start"
expect_refused 2 "the token file .* has no read or admin token" "$WISP" -c "ws://127.0.0.1:$P2" --token-file <(echo "agent $AGENT_TOK") agents
pass "bad token files, and 0.0.0.0 without TLS and tokens, refused at start; --insecure listens"

# Command-line habits: --version and --help print to stdout and exit 0.
"$WISPD" --version | contains -E '^wispd [0-9]+\.[0-9]+\.[0-9]+ ' || fail "wispd --version"
"$WISP" --version | contains -E '^wisp [0-9]+\.[0-9]+\.[0-9]+ ' || fail "wisp --version"
"$WISPD" --help | contains -- '--token-file' || fail "wispd --help"
"$WISP" --help | contains -- '--token-file' || fail "wisp --help"
pass "--version and --help on stdout, exit 0"
"$WISP" run --help | contains -- '--max-rows' || fail "wisp run --help"
"$WISP" live --help >/dev/null || fail "wisp live --help"

# Bash completion (cli/completion/wisp.bash): commands, bundled scripts, option values.
complete_words() { # WORDS...: what completing the last word offers
	PATH="$BUILD_DIR/cli:$PATH" bash -c '. "$1/cli/completion/wisp.bash"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
		case $1 in wispd) _wispd ;; *) _wisp ;; esac; echo "${COMPREPLY[*]}"' _ "$SRC_DIR" "$@"
}
[ "$(complete_words wisp ag)" = agents ] || fail "completion: commands"
complete_words wisp -c "$URL" run top_f | contains -w top_functions || fail "completion: bundled scripts"
[ "$(complete_words wisp live -o j)" = jsonl ] || fail "completion: live -o"
[ "$(complete_words wispd agent --pyth)" = --python ] || fail "completion: wispd options"
[ "$(complete_words wispd agent --python o)" = "on off" ] || fail "completion: --python values"
pass "bash completion of commands, scripts, options and their values"
