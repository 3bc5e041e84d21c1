#!/usr/bin/env bash
# kube.sh - Kubernetes names on real samples: the test makes the cgroups a kubelet would (its
# systemd driver with containerd, its cgroupfs driver with docker, CRI-O for a guaranteed pod)
# in the machine's cgroup v2 hierarchy, runs real CPU burners in them, and answers the agent's
# pod-list fetches with a real HTTPS server (Python's) speaking kubelet-shaped JSON behind a
# bearer token. Checks: the `pods` script names pods and namespaces, `containers` the containers;
# every sample of a process carries its pod (exact counts, no statistics); a pod the list lacks
# shows its uid until a fetch brings its name, and a new pod brings that fetch within seconds;
# a process outside pods has empty names; a wrong token is logged (HTTP 401) and costs only names.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "needs root (eBPF, cgroups)"
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
[ -n "$CG2" ] || fail "no cgroup2 hierarchy mounted"
PY=$(command -v python3.11 || command -v python3) || fail "python3 is missing: run deploy/install-deps.sh"
BASE="$CG2/wisp-kube-test-$$"
BURNERS=()

kube_cleanup() {
	local rc=$? p
	for p in "${BURNERS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${BURNERS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -d "$BASE" ] && find "$BASE" -depth -type d -exec rmdir {} \; 2>/dev/null
	(exit "$rc")
	cleanup
}
trap kube_cleanup EXIT

hex64() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
uuid() { cat /proc/sys/kernel/random/uuid; }
UA=$(uuid) UB=$(uuid) UC=$(uuid) UE=$(uuid)
CA_=$(hex64) CB=$(hex64) CB2=$(hex64) CC=$(hex64) CE=$(hex64)
CG_A="$BASE/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UA//-/_}.slice/cri-containerd-$CA_.scope"
CG_B="$BASE/kubepods/besteffort/pod$UB/$CB"
CG_B2="$BASE/kubepods/besteffort/pod$UB/$CB2"
CG_C="$BASE/kubepods.slice/kubepods-pod${UC//-/_}.slice/crio-$CC.scope"
CG_E="$BASE/kubepods/burstable/pod$UE/$CE"
mkdir -p "$CG_A" "$CG_B" "$CG_B2" "$CG_C" "$CG_E"

# burn CGROUP SECONDS: a burner that is in CGROUP before it runs; sets BPID.
burn() {
	local d=$1
	sh -c "echo \$\$ >'$d/cgroup.procs' && exec '$BURN' $2" >"$TMP/burn.$RANDOM.pid" &
	BPID=$!
	BURNERS+=("$BPID")
}

# podlist.json from the pods given as "UID NAMESPACE NAME CONTAINER=ID..." lines on stdin.
write_pods() {
	"$PY" -c '
import json, sys
items = []
for line in sys.stdin:
    uid, ns, name, *cs = line.split()
    st = [{"name": c.split("=")[0], "containerID": "%s://%s" % ("docker" if i else "containerd", c.split("=")[1]),
           "ready": True} for i, c in enumerate(cs)]
    items.append({"metadata": {"name": name, "namespace": ns, "uid": uid, "labels": {"app": name}},
                  "spec": {"nodeName": "ktest", "containers": [{"name": c.split("=")[0]} for c in cs]},
                  "status": {"phase": "Running", "containerStatuses": st}})
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}, f)
' "$TMP/podlist.json" && mv "$TMP/podlist.json.tmp" "$TMP/podlist.json"
}

# The kubelet: GET /pods with "Authorization: Bearer $(cat token)", else 401; counts requests.
make_certs
KTOKEN=$(new_token kubelet)
echo "$KTOKEN" >"$TMP/ktoken"
echo "wrong-token-0123456789" >"$TMP/badtoken"
printf '%s default web-5f7c app=%s\n%s shop cart-0 cart=%s envoy=%s\n' "$UA" "$CA_" "$UB" "$CB" "$CB2" | write_pods
KPORT=$(free_port)
start kubelet "$PY" -c '
import http.server, ssl, sys
tmp, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer " + token:
            self.send_response(401); self.end_headers(); self.wfile.write(b"Unauthorized"); print("401", flush=True); return
        if self.path != "/pods":
            self.send_response(404); self.end_headers(); return
        body = open(tmp + "/podlist.json", "rb").read()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        print("200", flush=True)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(tmp + "/srv.pem", tmp + "/srv.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("listening", flush=True)
srv.serve_forever()
' "$TMP" "$KPORT" "$KTOKEN"
wait_log kubelet listening 10 || fail "the test kubelet did not start"

PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node ktest --ring-mb 32 \
	--kube-pods "https://127.0.0.1:$KPORT/pods" --kube-token "$TMP/ktoken" --kube-ca "$TMP/ca.pem"
wait_agents "$PORT" 1
wait_log wispd "kubernetes: 2 pods from" 10 || fail "the agent did not fetch the pod list"

burn "$CG_A" 60; PA=$BPID
burn "$CG_B" 60; PB=$BPID
burn "$CG_B2" 60; PB2=$BPID
burn "$CG_C" 60; PC=$BPID
"$BURN" 60 >/dev/null &
PD=$!; BURNERS+=("$PD")
sleep 3

# rows OUT SCRIPT -- ARGS...: the script's first table as $TMP/OUT.rows, JSON lines of {column: value}.
rows() {
	local out=$1 name=$2; shift 2
	"$WISP" -c "$URL" run "$name" -o json "$@" >"$TMP/$out.json" || fail "$name $* failed"
	json_eval 'd.tables[0].rows.map(r => JSON.stringify(Object.fromEntries(r.map((v, i) => [d.tables[0].columns[i], v])))).join("\n")' \
		<"$TMP/$out.json" >"$TMP/$out.rows"
}
# field FILE FILTER EXPR: EXPR of the row of FILE matching FILTER (JS over r), or "none".
field() { node -e "
const rows = require('fs').readFileSync('$1', 'utf8').split('\n').filter(Boolean).map(JSON.parse);
const r = rows.find(r => $2); console.log(r === undefined ? 'none' : $3)"; }

rows pods pods -- --start -3s
cat "$TMP/pods.rows"
[ "$(field "$TMP/pods.rows" "r.pod === 'web-5f7c'" 'r.namespace + " " + r.containers + " " + r.top_container')" = "default 1 app" ] ||
	fail "pods: web-5f7c (systemd driver, containerd) not named: $(cat "$TMP/pods.rows")"
[ "$(field "$TMP/pods.rows" "r.pod === 'cart-0'" 'r.namespace + " " + r.containers + " " + r.processes')" = "shop 2 2" ] ||
	fail "pods: cart-0 (cgroupfs driver, two containers) not named: $(cat "$TMP/pods.rows")"
[ "$(field "$TMP/pods.rows" "r.pod === '$UC'" 'JSON.stringify(r.namespace)')" = '""' ] ||
	fail "pods: the pod the list lacks should show its uid $UC: $(cat "$TMP/pods.rows")"
pass "pods names pods and namespaces from the pod list, and shows the uid of a pod it lacks"

rows cont containers -- --start -3s
cat "$TMP/cont.rows"
for c in "web-5f7c app" "cart-0 cart" "cart-0 envoy" "$UC ${CC:0:12}"; do
	set -- $c
	[ "$(field "$TMP/cont.rows" "r.pod === '$1' && r.container === '$2'" 'r.processes')" = 1 ] ||
		fail "containers: no row for pod $1 container $2"
done
[ "$(field "$TMP/cont.rows" "r.pod === ''" 'JSON.stringify([r.namespace, r.container])')" = '["",""]' ] ||
	fail "containers: no row with empty names for the processes outside pods: $(cat "$TMP/cont.rows")"
pass "containers names each container (CRI-O's unnamed one by its short id); a process outside pods has none"

# Every sample of each burner carries its pod: the pid's total equals its pod-filtered total,
# over one fixed window (ns since the epoch: both queries see the same samples).
T1=$(( $(date +%s%N) - 1000000000 )) T0=$(( $(date +%s%N) - 600000000000 ))
for p in "$PA web-5f7c" "$PB cart-0" "$PB2 cart-0" "$PC $UC"; do
	set -- $p
	rows all processes -- --pid "$1" --start "$T0" --end "$T1"
	rows inpod processes -- --pid "$1" --pod "$2" --start "$T0" --end "$T1"
	ALL=$(field "$TMP/all.rows" true r.samples) IN=$(field "$TMP/inpod.rows" true r.samples)
	[ "$ALL" != none ] && [ "$ALL" -ge 100 ] || fail "pid $1: only $ALL samples"
	[ "$ALL" = "$IN" ] || fail "pid $1: $ALL samples, $IN of them labelled pod $2"
done
rows outside processes -- --pid "$PD" --pod "" --start "$T0" --end "$T1"
[ "$(field "$TMP/outside.rows" true r.samples)" -ge 100 ] || fail "the burner outside pods: samples not labelled ''"
pass "every sample of a process carries its pod (counts equal)"

# A new pod (E) and the lacking one (C) enter the list: E's first samples ask for a fetch, which
# names C as well.
printf '%s default web-5f7c app=%s\n%s shop cart-0 cart=%s envoy=%s\n%s batch report-x9 job=%s\n%s batch worker-2 main=%s\n' \
	"$UA" "$CA_" "$UB" "$CB" "$CB2" "$UC" "$CC" "$UE" "$CE" | write_pods
FETCHES=$(grep -c '^200' "$TMP/kubelet.log")
burn "$CG_E" 60
for i in $(seq 50); do
	sleep 0.2
	[ "$(grep -c '^200' "$TMP/kubelet.log")" -gt "$FETCHES" ] && break
done
sleep 1.5
rows pods2 pods -- --start -1s --namespace batch
cat "$TMP/pods2.rows"
[ "$(field "$TMP/pods2.rows" "r.pod === 'worker-2'" 'r.top_container')" = main ] || fail "the new pod was not named"
[ "$(field "$TMP/pods2.rows" "r.pod === 'report-x9'" 'r.top_container')" = job ] || fail "the lacking pod was not named after the fetch"
pass "a new pod is named within seconds, and the pod that was lacking with it"

# /metrics: the pod list's size and fetches, per node (promtool accepts it).
curl -sf "http://127.0.0.1:$PORT/metrics" >"$TMP/metrics.txt" || fail "/metrics failed"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.out" 2>&1 || fail "promtool: $(cat "$TMP/promtool.out")"
grep -q '^wisp_kube_pods{node="ktest"} 4$' "$TMP/metrics.txt" || fail "/metrics: wisp_kube_pods is not 4: $(grep kube "$TMP/metrics.txt")"
grep -Eq '^wisp_kube_fetches_total\{node="ktest"\} ([2-9]|[1-9][0-9]+)$' "$TMP/metrics.txt" || fail "/metrics: fewer than 2 fetches counted"
pass "/metrics counts the pod list (4 pods) and its fetches"

# A wrong token: the agent says why, and samples keep their ids. (Only pod A's burner goes on:
# a BPF agent starting on a host whose CPUs are all busy takes long to load.)
for p in "$PB" "$PB2" "$PC" "$PD" "$BPID"; do kill "$p"; done
PORT2=$(free_port)
start wispd2 "$WISPD" standalone --listen "127.0.0.1:$PORT2" --node ktest2 --ring-mb 16 \
	--kube-pods "https://127.0.0.1:$KPORT/pods" --kube-token "$TMP/badtoken" --kube-ca "$TMP/ca.pem"
wait_log wispd2 "cannot list pods: .*HTTP 401" 15 || fail "a refused token was not logged"
wait_agents "$PORT2" 1
sleep 2
"$WISP" -c "ws://127.0.0.1:$PORT2" run pods -o json -- --start -1s --pod "$UA" >"$TMP/bad.json" || fail "pods failed"
[ "$(json_eval 'd.tables[0].rows.length' <"$TMP/bad.json")" = 1 ] || fail "with a refused token, pod $UA should show by uid"
curl -sf "http://127.0.0.1:$PORT2/metrics" | contains '^wisp_kube_fetch_failures_total{node="ktest2"} [1-9]' ||
	fail "/metrics: the refused fetch is not counted"
pass "a refused token is logged (HTTP 401) and samples keep the pod uid"
