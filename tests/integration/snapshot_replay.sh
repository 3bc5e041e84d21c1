#!/usr/bin/env bash
# snapshot_replay.sh - an agent on the synthetic source back-fills 30 minutes; `wisp snapshot`
# saves its ring; an agent replaying that file answers top_functions over a fixed window exactly
# as the live agent does; ring_stats reports both rings; a corrupt file is refused clearly.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start coord "$WISPD" coordinator --listen "127.0.0.1:$PORT" --node coord
start live "$WISPD" agent --coordinator "$URL" --node live --ring-mb 64 \
	--source synthetic:cpus=4,hz=99,stacks=800,procs=30,threads=120,seed=3,backfill=30m,speed=100000
wait_agents "$PORT" 1
for _ in $(seq 100); do # until the back-fill reached the present
	h=$("$WISP" -c "$URL" run ring_stats -o json | json_eval 'd.tables[0].rows[0][2]')
	node -e "process.exit($h > 0.45 ? 0 : 1)" && break
	sleep 0.2
done
"$WISP" -c "$URL" run ring_stats >"$TMP/stats.txt"
grep -q '^live ' "$TMP/stats.txt" || fail "ring_stats: $(cat "$TMP/stats.txt")"
pass "synthetic agent back-filled: $(tail -1 "$TMP/stats.txt" | awk '{print $3 " h, " $4 " samples"}')"

mkdir -p "$TMP/snaps"
"$WISP" -c "$URL" snapshot --start -40m --dir "$TMP/snaps" >"$TMP/snap.out" || fail "snapshot"
FILE=$(cut -f1 "$TMP/snap.out" | head -1)
[ -s "$FILE" ] || fail "no snapshot file: $(cat "$TMP/snap.out")"
pass "snapshot written: $(cat "$TMP/snap.out")"

T0=$(date -u -d '-25 min' +%Y-%m-%dT%H:%M:%SZ)
T1=$(date -u -d '-5 min' +%Y-%m-%dT%H:%M:%SZ)
start replay "$WISPD" agent --coordinator "$URL" --node replayed --ring-mb 64 --source "replay:$FILE"
wait_agents "$PORT" 2
for n in live replayed; do
	"$WISP" -c "$URL" run top_functions -o json -- --start "$T0" --end "$T1" --node $n --limit 200 >"$TMP/top-$n.json"
done
[ "$(json_eval 'd.tables[0].rows.length' <"$TMP/top-live.json")" -gt 10 ] || fail "live answered nothing"
cmp -s "$TMP/top-live.json" "$TMP/top-replayed.json" || fail "replay differs from live: $(diff <(tr ']' '\n' <"$TMP/top-live.json") <(tr ']' '\n' <"$TMP/top-replayed.json") | head -5)"
pass "replayed snapshot answers top_functions exactly like the live ring ($T0 .. $T1)"

"$WISP" -c "$URL" run ring_stats -o json | json_eval '[...new Set(d.tables[0].rows.map(r=>r[0]))].join(",")' | contains '^live,replayed$' ||
	fail "ring_stats should list live and replayed"
pass "ring_stats lists both rings"

head -c 4000 "$FILE" >"$TMP/cut.wispsnap"
rc=0; "$WISPD" agent --coordinator "$URL" --node broken --source "replay:$TMP/cut.wispsnap" 2>"$TMP/broken.err" || rc=$?
[ "$rc" != 0 ] && grep -q "cut.wispsnap: snapshot is corrupted" "$TMP/broken.err" || fail "truncated file: rc $rc, $(cat "$TMP/broken.err")"
pass "truncated snapshot refused: $(cat "$TMP/broken.err")"
