#!/usr/bin/env bash
# deploy/quickstart.sh - one command from a fresh Debian 12 clone to "what is this machine
# spending CPU on": installs dependencies, builds wispd and wisp, starts `wispd standalone` in
# the background (if it is not already running) and shows the top functions and processes.
#
#   sudo deploy/quickstart.sh [--listen HOST:PORT] [--seconds N]
# Afterwards: build/cli/wisp run top_functions | flamegraph -o folded | processes ; wisp agents
# Stop it with: kill $(cat build/wispd.pid)
set -euo pipefail
cd "$(dirname "$0")/.."
listen=127.0.0.1:7070
seconds=10
while [ $# -gt 0 ]; do
	case $1 in
	--listen) listen=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	*) echo "usage: deploy/quickstart.sh [--listen HOST:PORT] [--seconds N]" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "quickstart: run as root (wispd loads an eBPF program)" >&2
	exit 2
fi

bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target wispd wisp
wisp="build/cli/wisp -c ws://$listen"

if [ -f build/wispd.pid ] && kill -0 "$(cat build/wispd.pid)" 2>/dev/null; then
	echo "quickstart: wispd already running (pid $(cat build/wispd.pid))"
else
	nohup build/vizier/wispd standalone --listen "$listen" >build/wispd.log 2>&1 &
	echo $! >build/wispd.pid
	for _ in $(seq 50); do $wisp agents >/dev/null 2>&1 && break; sleep 0.2; done
	if ! $wisp agents >/dev/null 2>&1; then
		echo "quickstart: wispd did not start:" >&2
		cat build/wispd.log >&2
		exit 1
	fi
	echo "quickstart: wispd standalone running (pid $(cat build/wispd.pid)), sampling every CPU at 99 Hz"
	echo "quickstart: collecting ${seconds}s of samples..."
	sleep "$seconds"
fi

echo
echo "== What this machine spent CPU on (last ${seconds}s and more): top functions"
$wisp run top_functions -- --start -5m --limit 25
echo
echo "== By process"
$wisp run processes -- --start -5m --limit 15
cat <<EOT

Next:
  build/cli/wisp run top_functions -- --pid PID         # one process
  build/cli/wisp run flamegraph -o folded > cpu.folded  # flame graph input (flamegraph.pl, speedscope)
  build/cli/wisp agents                                 # what is connected
  kill \$(cat build/wispd.pid)                           # stop wispd
EOT
