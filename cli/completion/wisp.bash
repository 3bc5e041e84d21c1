# wisp.bash - bash completion for `wisp` and `wispd` (installed as
# share/bash-completion/completions/wisp and .../wispd; or `source cli/completion/wisp.bash`).
# Completes commands, modes, options, option values with a fixed set (-o, --format, --python,
# --lang), files where an option takes one, and bundled script names (from `wisp scripts`).

_wisp() {
	local cur prev cmd i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-c | --coordinator | --token-file | --ca) ((i++)) ;;
		--) return 0 ;; # a script's own arguments
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $prev in
	--token-file | --ca | --dir) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
	-c | --coordinator) COMPREPLY=($(compgen -W "ws://127.0.0.1:7070 wss://" -- "$cur")); return 0 ;;
	-o)
		case $cmd in
		live) COMPREPLY=($(compgen -W "table jsonl folded" -- "$cur")) ;;
		agents) COMPREPLY=($(compgen -W "table json" -- "$cur")) ;;
		*) COMPREPLY=($(compgen -W "table json csv folded pprof" -- "$cur")) ;;
		esac
		return 0 ;;
	--format) COMPREPLY=($(compgen -W "wispsnap pprof" -- "$cur")); return 0 ;;
	--start | --end | --every | --window | --interval | --max-rows | --max-memory | --timeout | --ticks) return 0 ;;
	esac
	if [ -z "$cmd" ]; then
		COMPREPLY=($(compgen -W "run live agents snapshot export scripts -c --coordinator --token-file --ca --help --version" -- "$cur"))
		return 0
	fi
	local opts
	case $cmd in
	run) opts="-o --max-rows --max-memory --timeout --stats --" ;;
	live) opts="-o --every --window --ticks --max-rows --" ;;
	agents) opts="-o" ;;
	snapshot) opts="--start --end --dir" ;;
	export) opts="--start --end --interval --format" ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
	elif [ "$cmd" = run ] || [ "$cmd" = live ]; then
		COMPREPLY=($(compgen -W "$(wisp scripts 2>/dev/null | awk '{print $1}')" -- "$cur") $(compgen -f -X '!*.lua' -- "$cur"))
	fi
}

_wispd() {
	local cur prev
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	if [ "$COMP_CWORD" = 1 ]; then
		COMPREPLY=($(compgen -W "standalone coordinator agent --help --version" -- "$cur"))
		return 0
	fi
	case $prev in
	--tls-cert | --tls-key | --tls-ca | --token-file | --cache-dir) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
	--python) COMPREPLY=($(compgen -W "on off" -- "$cur")); return 0 ;;
	--source) COMPREPLY=($(compgen -W "bpf synthetic: replay: s3://" -- "$cur")); return 0 ;;
	--listen | --coordinator | --node | --hz | --ring-mb | --ringbuf-kb | --unwind-mb | --cache-mb | --export | --export-every | --idle-timeout | --receive-mb) return 0 ;;
	esac
	COMPREPLY=($(compgen -W "--listen --coordinator --node --hz --ring-mb --ringbuf-kb --include-idle --unwind-mb --python
		--source --cache-dir --cache-mb --export --export-every --idle-timeout --receive-mb --tls-cert --tls-key --tls-ca --token-file
		--insecure --verbose --help --version" -- "$cur"))
}

complete -F _wisp wisp
complete -F _wispd wispd
