#!/usr/bin/env bash
# bad_frames.sh - malformed and oversized websocket frames get an error reply; the coordinator
# keeps serving, and an agent is never fed garbage.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node f --ring-mb 16
DPID=$LAST_PID
wait_agents "$PORT" 1

expect() { # expect NAME PAYLOAD REGEX
	local out
	out=$("$PROBE" send "$URL" "$2" 2>&1) || true
	echo "$out" | grep -Eq "$3" || fail "$1: got '$out'"
	alive "$DPID" || fail "$1: daemon died"
	pass "$1 -> $out"
}
expect garbage deadbeef00ff 'error: malformed message'
expect not_a_map 93010203 'error: malformed message'          # [1,2,3]
expect no_type 81a16101 'error: malformed message'            # {"a":1}
expect unknown_type 81a474797065a3666f6f "error: unknown request type 'foo'"
expect run_no_script 81a474797065a372756e "error: run: the request has no script"
# {"type":"run","script":42}
expect run_bad_script 82a474797065a372756ea67363726970742a "error: run: the request has no script"
expect oversized big:20000000 'error: message too large'
# Pretending to be an agent without a node name.
expect hello_no_node 82a474797065a568656c6c6fa4726f6c65a56167656e74 'error: hello: role must be'

"$WISP" -c "$URL" run top_functions -- --start -30s --limit 3 >/dev/null || fail "queries after bad frames"
pass "coordinator still answers"
