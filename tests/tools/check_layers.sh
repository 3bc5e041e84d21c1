#!/usr/bin/env bash
# check_layers.sh - the include graph keeps the direction the README's source map states:
#   query:  core <- ring <- engine <- lua, format      (nothing in query/ reaches vizier/ or cli/)
#   vizier: net <- agent <- coordinator <- wispd.c    (net, agent and cli never include coordinator;
#   cli:    net, format, export                        net and cli never include agent)
#   export: core and ring only (the S3 client, exports); agent, coordinator, wispd and cli use it
# and no header includes itself back through others. Prints every violation; exit 1 if any.
#   tests/tools/check_layers.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"

layer_of() { # the layer a file belongs to
	case $1 in
	query/core/*) echo core ;; query/ring/*) echo ring ;; query/engine/*) echo engine ;;
	query/lua/*) echo lua ;; query/format/*) echo format ;; vizier/net/*) echo net ;;
	vizier/agent/*) echo agent ;; vizier/coordinator/*) echo coordinator ;; vizier/export/*) echo export ;;
	vizier/*) echo wispd ;;
	cli/*) echo cli ;; bpf/*) echo bpf ;; *) echo other ;;
	esac
}
allowed() { # allowed FROM TO: may layer FROM include layer TO?
	local q="core ring engine lua format"
	case $1 in
	core) ok="core" ;; ring) ok="core ring" ;; engine) ok="core ring engine" ;;
	lua) ok="core ring engine lua" ;; format) ok="core ring engine format" ;;
	net) ok="$q net" ;; agent) ok="$q net agent bpf export" ;; coordinator) ok="$q net agent coordinator export" ;;
	wispd) ok="$q net agent coordinator export wispd" ;; cli) ok="$q net export cli" ;; bpf) ok="bpf" ;;
	export) ok="core ring export" ;; *) ok="" ;;
	esac
	[[ " $ok " == *" $2 "* ]]
}
resolve() { # resolve FILE INCLUDE: the tree path an include names, or nothing (system, generated)
	local d; d=$(dirname "$1")
	for p in "$d/$2" "query/$2" "vizier/$2"; do
		if [ -f "$p" ]; then
			realpath --relative-to=. "$p"
			return 0
		fi
	done
	return 0
}

bad=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
while read -r f; do
	from=$(layer_of "$f")
	while read -r inc; do
		to_file=$(resolve "$f" "$inc")
		[ -n "$to_file" ] || continue
		echo "$f $to_file" >>"$edges"
		to=$(layer_of "$to_file")
		if ! allowed "$from" "$to"; then
			echo "layer violation: $f ($from) includes $to_file ($to)"
			bad=1
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done < <(git ls-files -- 'query/*.[ch]' 'vizier/*.[ch]' 'cli/*.[ch]' 'bpf/*.[ch]' 2>/dev/null || find query vizier cli bpf -name '*.[ch]')

# Include cycles: a depth-first search over the header edges.
cycles=$(awk '
	{ out[$1] = out[$1] " " $2; nodes[$1] = 1; nodes[$2] = 1 }
	function visit(n,   i, k, m, parts) {
		state[n] = 1
		k = split(out[n], parts, " ")
		for (i = 1; i <= k; i++) {
			m = parts[i]
			if (state[m] == 1) print "include cycle through " n " -> " m
			else if (state[m] == 0) visit(m)
		}
		state[n] = 2
	}
	END { for (n in nodes) if (state[n] == 0) visit(n) }' "$edges")
if [ -n "$cycles" ]; then
	echo "$cycles"
	bad=1
fi
n=$(wc -l <"$edges")
[ "$bad" = 0 ] && echo "check_layers: $n includes, all in the direction of the layers, no cycles"
exit "$bad"
