#!/usr/bin/env bash
# scripts/bench.sh — rearview benchmarks (issue 4); see BENCHMARKS.md.
#
#   scripts/bench.sh            full run (5-11 minutes on 2 cores)
#   scripts/bench.sh --smoke    every figure with small sizes, ~2.5 min (CI)
#
# Options:
#   --build-dir DIR   meson build directory (default: build, the one test.sh uses)
#   --only LIST       comma-separated parts: ingest,history,scrape,cg,rss,encode,rpz,lookup,drops,reload,report,fleet,fleetlab,floor
#   --keep            keep the work directory (logs, generated streams)
# Environment: RV_AGENT=PATH measures that agent binary instead of DIR's;
# FLOOR_NAMED_OPTIONS="..." adds statements to named's options in part floor;
# BENCH_AGENT_CONF_EXTRA="..." lines for the BIND lab agent's config;
# BENCH_MIN_UPDATE_INTERVAL=S the xray view's min-update-interval (default 1);
# LAB_HOT_ZONE=NAME the lab renders and the agent writes that hot zone
# (rpz-hot-zone), BENCH_HOT_MIN_UPDATE_INTERVAL=S its min-update-interval;
# BENCH_LOOKUP_WARM=1 part lookup starts on a full table;
# part drops: DROP_FLOOD=1 (names new to the agent throughout), DROP_SPLIT=1
# (the RPZ on its own named, DROP_XRAY_NICE=N or DROP_XRAY_IDLE=1),
# DROP_AGENT_DRY=1 (agent in dry-run), DROP_AGENT_WRAP="cmd" (agent under it),
# DROP_RATE=Q (cap the measured passes at Q q/s, not at the warm-up's ceiling).
#
# Needs root (the BIND lab adds loopback addresses). Installs what it needs
# (dnsperf, valgrind, fstrm-bin, bind9, ...). Everything listens on 127.x only;
# every process is started by this script and stopped by PID.
#
# Output: a table, then one "name value" line per figure. A figure that cannot
# be measured is printed as "name n/a (reason)", never as a made-up number.
set -euo pipefail

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=0
KEEP=0
BUILD=$SRCDIR/build
ONLY=ingest,history,scrape,cg,rss,encode,rpz,lookup,drops,reload,report,fleet,fleetlab,floor
while (($#)); do
	case $1 in
	--smoke) SMOKE=1 ;;
	--keep) KEEP=1 ;;
	--build-dir) BUILD=$(realpath -m "$2"); shift ;;
	--only) ONLY=$2; shift ;;
	-h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
want() { [[ ,$ONLY, == *,$1,* ]]; }

# ------------------------------------------------------------------ sizes
if ((SMOKE)); then
	INGEST_N=100000 INGEST_REPS=1
	CG_N=5000
	RSS_SMALL=10000 RSS_LARGE=50000
	BURST_N=5000 RPZ_REPS=1 RPZ_REPS_QUIET=1
	LOOKUP_NAMES=20000 LOOKUP_QPS=2000 LOOKUP_SAMPLES=20 SAMPLE_RATE=10
	DROP_SECONDS=2 SETTLE=1 DROP_PAIRS=1
	RELOAD_N=20000
	REPORT_N=20000 REPORT_CMP_N=2000
	ENCODE_S=0.3
	HIST_N=100000 HIST_SIGHTINGS=300000 HIST_ROWS=50000 HIST_QUERIES=30
	FLEET_N=100000 FLEET_REPS=1
	FLEETLAB_N=3
	FLOOR_N=3
else
	INGEST_N=2000000 INGEST_REPS=3
	CG_N=100000
	RSS_SMALL=100000 RSS_LARGE=1000000
	BURST_N=100000 RPZ_REPS=3 RPZ_REPS_QUIET=2
	LOOKUP_NAMES=200000 LOOKUP_QPS=20000 LOOKUP_SAMPLES=200 SAMPLE_RATE=10
	DROP_SECONDS=20 SETTLE=3 DROP_PAIRS=3
	RELOAD_N=1000000
	REPORT_N=1000000 REPORT_CMP_N=20000
	ENCODE_S=2
	HIST_N=2000000 HIST_SIGHTINGS=10000000 HIST_ROWS=5000000 HIST_QUERIES=300
	FLEET_N=1000000 FLEET_REPS=5
	FLEETLAB_N=100
	FLOOR_N=40
fi
SEED=42
# named's `update` category logs every RR an UPDATE adds or deletes (info).
QUIET_UPDATE_LOG='category update { null; };'

# ------------------------------------------------------------------ setup
# shellcheck source=scripts/deps.sh
. "$SRCDIR/scripts/deps.sh"
rv_install_deps "${RV_BUILD_DEPS[@]}" "${RV_RUN_DEPS[@]}" valgrind dnsperf procps time sqlite3 openssl
# Only the targets measured here (a half-edited unrelated file elsewhere in
# the tree should not stop a benchmark).
[[ -f $BUILD/build.ninja ]] || meson setup "$BUILD" >&2
targets=(tests/bench/rv-loadgen tests/bench/rv-ptrwait tests/bench/rv-encode agent/rearview-report
	agent/rearview-relay)
[[ -n ${RV_AGENT:-} ]] || targets+=(agent/rearview-agent)
meson compile -C "$BUILD" "${targets[@]}" >&2
LOADGEN=$BUILD/tests/bench/rv-loadgen
PTRWAIT=$BUILD/tests/bench/rv-ptrwait
ENCODE=$BUILD/tests/bench/rv-encode
AGENT=${RV_AGENT:-$BUILD/agent/rearview-agent}
REPORT=$BUILD/agent/rearview-report
RELAY=$BUILD/agent/rearview-relay
for b in "$LOADGEN" "$PTRWAIT" "$ENCODE" "$AGENT" "$REPORT" "$RELAY"; do
	[[ -x $b ]] || { echo "bench.sh: $b not built" >&2; exit 1; }
done

W=$(mktemp -d /tmp/rvbench.XXXXXX)
PIDS=()        # every process we start, stopped by PID on exit
LAB=
FIG_NAMES=()
declare -A FIG=() FIG_NOTE=()

log() { printf 'bench: %s\n' "$*" >&2; }
now() { date +%s.%N; }
# fig NAME VALUE [NOTE]: record a figure (VALUE "n/a" needs a NOTE).
fig() {
	[[ -v "FIG[$1]" ]] || FIG_NAMES+=("$1")
	FIG[$1]=$2
	FIG_NOTE[$1]=${3:-}
}
# calc EXPR [DECIMALS]: the parentheses matter: a bare ">" in EXPR would be an
# awk output redirection to a file, not a comparison.
calc() { awk "BEGIN { printf \"%.${2:-1}f\", ($1) }"; }
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

stop_pid() { # PID [timeout_s]: TERM, then KILL; reap
	local pid=$1 t=${2:-10} i
	alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < t * 20; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local st=$? p
	for p in "${PIDS[@]}"; do stop_pid "$p" 5; done
	if [[ -n ${LAB:-} ]]; then lab_stop 0 || true; fi
	if ((KEEP)) || ((st != 0)); then log "work files kept in $W"; else rm -rf "$W"; fi
	exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until a unix socket path exists (a listener created it).
wait_sock() { # PATH PID timeout_s
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		[[ -S $1 ]] && return 0
		alive "$2" || return 1
		sleep 0.05
	done
	return 1
}

# Agent in dry-run on socket $W/NAME.sock; sets APID. Extra config lines in $2.
start_dry_agent() { # NAME [extra config lines] [wrapper command...]
	local name=$1 extra=${2:-}
	shift 2 || shift $#
	rm -f "$W/$name.sock"
	{
		echo "dnstap-socket $W/$name.sock"
		echo "socket-mode 0600"
		echo 'socket-group ""'
		echo "dry-run yes"
		echo "log-level notice"
		echo "stats-interval 0"
		echo "max-addresses 4000000"
		# No state snapshots: they would measure the disk, not ingest.
		echo 'snapshot-file ""'
		# Off unless the part asks for them (history): ingest alone.
		echo 'history-database ""'
		echo 'http-listen ""'
		[[ -n $extra ]] && printf '%s\n' "$extra"
	} >"$W/$name.conf"
	"$@" "$AGENT" -c "$W/$name.conf" >"$W/$name.log" 2>&1 &
	APID=$!
	PIDS+=("$APID")
	wait_sock "$W/$name.sock" "$APID" 60 || { cat "$W/$name.log" >&2; return 1; }
}

# Latest "frames=N" (or another key) of the agent's stats line, after SIGUSR1.
agent_stat() { # PID LOG KEY
	local before after i
	before=$(grep -c 'stats: SIGUSR1' "$2" || true)
	kill -USR1 "$1"
	for ((i = 0; i < 100; i++)); do
		after=$(grep -c 'stats: SIGUSR1' "$2" || true)
		((after > before)) && break
		sleep 0.02
	done
	grep 'stats: SIGUSR1' "$2" | tail -n 1 | grep -o " $3=[0-9]*" | head -n 1 | cut -d= -f2
}

# Wall-clock seconds of a command (its output discarded).
timed() {
	local t0
	t0=$(now)
	"$@" >/dev/null 2>&1
	calc "$(now) - $t0" 4
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# The median of a space-separated list of numbers.
# The median of the arguments.
median_of() { printf '%s\n' "$@" | median; }
median_words() { local -a v; read -ra v <<<"$1"; median_of "${v[@]}"; }

# ------------------------------------------------------------------ machine
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
MEM_GB=$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
AGENT_VER=$(git -C "$SRCDIR" describe --always --dirty 2>/dev/null || echo unknown)
log "machine: $(nproc) x $CPU, $MEM_GB GiB; agent $AGENT ($AGENT_VER); smoke=$SMOKE"

# ------------------------------------------------------------------ ingest
# Same stream, same writer, two readers. Writers: rv-loadgen --unix (the
# stream pre-generated in memory, written in 1 MiB chunks: it is never the
# bottleneck) and fstrm_replay (libfstrm's own writer, slower than both readers
# on this machine, so its figures mostly measure itself). Time = first data
# byte .. FINISH from the reader, which a reader sends only after consuming
# every frame before STOP; the agent's frame counter is checked too.
# CPU time a process has used, ns, all its threads (/proc/PID/task/*/schedstat:
# the scheduler's own count, finer than clock ticks).
cpu_ns() {
	local s=0 f v
	for f in /proc/"$1"/task/*/schedstat; do
		read -r v _ <"$f" 2>/dev/null && s=$((s + v))
	done
	echo "$s"
}

ingest() {
	local f=$W/ingest.fstrm i out el frames c0
	"$LOADGEN" --seed $SEED --count $INGEST_N --names 100000 --file "$f" \
		--expect-out "$W/ingest.expect" >"$W/ingest.gen" 2>&1
	local -a a_lg=() c_lg=() a_rp=() c_rp=() a_cpu=() c_cpu=()
	for ((i = 0; i < INGEST_REPS; i++)); do
		# agent, rv-loadgen
		start_dry_agent ingest ""
		c0=$(cpu_ns "$APID")
		out=$("$LOADGEN" --seed $SEED --count $INGEST_N --names 100000 --unix "$W/ingest.sock" 2>/dev/null)
		a_lg+=("$(sed -n 's/.* fps=\([0-9]*\).*/\1/p' <<<"$out")")
		frames=$(agent_stat "$APID" "$W/ingest.log" frames)
		a_cpu+=("$(calc "($(cpu_ns "$APID") - $c0) / $INGEST_N" 0)")
		[[ $frames == "$INGEST_N" ]] || log "warning: agent counted $frames frames, sent $INGEST_N"
		stop_pid "$APID"
		# agent, fstrm_replay
		start_dry_agent ingest ""
		el=$(timed fstrm_replay -t protobuf:dnstap.Dnstap -u "$W/ingest.sock" -r "$f")
		a_rp+=("$(calc "$INGEST_N / $el" 0)")
		frames=$(agent_stat "$APID" "$W/ingest.log" frames)
		[[ $frames == "$INGEST_N" ]] || log "warning: agent counted $frames frames via fstrm_replay, sent $INGEST_N"
		stop_pid "$APID"
		# fstrm_capture, both writers
		rm -f "$W/cap.sock"
		fstrm_capture -t protobuf:dnstap.Dnstap -u "$W/cap.sock" -w /dev/null >"$W/cap.log" 2>&1 &
		local cpid=$!
		PIDS+=("$cpid")
		wait_sock "$W/cap.sock" "$cpid" 10
		c0=$(cpu_ns "$cpid")
		out=$("$LOADGEN" --seed $SEED --count $INGEST_N --names 100000 --unix "$W/cap.sock" 2>/dev/null)
		c_lg+=("$(sed -n 's/.* fps=\([0-9]*\).*/\1/p' <<<"$out")")
		c_cpu+=("$(calc "($(cpu_ns "$cpid") - $c0) / $INGEST_N" 0)")
		el=$(timed fstrm_replay -t protobuf:dnstap.Dnstap -u "$W/cap.sock" -r "$f")
		c_rp+=("$(calc "$INGEST_N / $el" 0)")
		stop_pid "$cpid"
		# Two streams of N, plus the START and STOP it counts for its own file.
		grep -q "wrote $((2 * INGEST_N + 2)) frames" "$W/cap.log" ||
			log "warning: fstrm_capture: $(grep -o 'wrote [0-9]* frames' "$W/cap.log"), want $((2 * INGEST_N + 2))"
		log "ingest rep $((i + 1)): agent ${a_lg[-1]}/${a_rp[-1]} fps, fstrm_capture ${c_lg[-1]}/${c_rp[-1]} fps (rv-loadgen/fstrm_replay); CPU ${a_cpu[-1]} / ${c_cpu[-1]} ns per frame"
	done
	local ag cp agr cpr acpu ccpu
	ag=$(median_of "${a_lg[@]}")
	cp=$(median_of "${c_lg[@]}")
	agr=$(median_of "${a_rp[@]}")
	cpr=$(median_of "${c_rp[@]}")
	acpu=$(median_of "${a_cpu[@]}")
	ccpu=$(median_of "${c_cpu[@]}")
	fig ingest_fps "$ag" "frames/s, dry-run agent fed by rv-loadgen, median of $INGEST_REPS x $INGEST_N frames"
	fig fstrm_capture_fps "$cp" "frames/s, fstrm_capture -w /dev/null, same stream and writer"
	fig ingest_ratio "$(calc "$ag / $cp" 3)" "ingest_fps / fstrm_capture_fps"
	# Frames per CPU second, agent / fstrm_capture: ingest_ratio without the
	# scheduling between writer and reader on a small machine.
	fig ingest_cpu_ns_per_frame "$acpu" "the agent's CPU time (all threads) per frame, rv-loadgen leg, median"
	fig fstrm_capture_cpu_ns_per_frame "$ccpu" "fstrm_capture's, same stream and writer"
	fig ingest_cpu_ratio "$(calc "$ccpu / $acpu" 3)" "fstrm_capture_cpu_ns_per_frame / ingest_cpu_ns_per_frame"
	fig ingest_fps_replay "$agr" "frames/s, agent fed by fstrm_replay"
	fig fstrm_capture_fps_replay "$cpr" "frames/s, fstrm_capture fed by fstrm_replay"
	fig ingest_ratio_replay "$(calc "$agr / $cpr" 3)" "with fstrm_replay as the writer"
	fig frame_bytes_avg "$(sed -n 's/.*avg \([0-9.]*\)).*/\1/p' "$W/ingest.gen")" "bytes per dnstap frame in the stream"
}

# ------------------------------------------------------------------ fleet
# README "Fleets". (1) rv-loadgen at full speed, the same generated stream
# (seed, count), into a dry-run agent's unix:, tcp: and tls: listeners (mutual
# TLS, as a relay connects): frames/s from the first data byte to FINISH, and
# the agent's CPU per frame. A fresh agent (the same configuration, all three
# listeners) for every run, so each transport meets an empty table as in
# `ingest`, and the order rotates between FLEET_REPS repetitions; medians.
# The ratios are the median of each repetition's own ratio: its three runs
# are adjacent in time, so the drift of a shared machine cancels out.
# (2) The same file, the same writer (fstrm_replay: libfstrm's writer, which
# speaks unix and TCP but not TLS), into one agent's unix socket and then its
# tcp: listener. (3) rv-loadgen at full speed into rearview-relay, which
# forwards to a dry-run agent's tcp: listener: frames the agent received per
# second (until the relay's queue is empty), the share the relay dropped
# (queue full: the writer is faster than one TCP stream), and the relay's CPU
# per frame received.
fleet_pki() { # a CA, the agent's certificate (IP 127.0.0.1) and a writer's, in $W/pki
	local pki=$W/pki name
	mkdir -p "$pki"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=bench-ca" -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
	for name in central writer; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
			-keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:%s\n' "$name" >"$pki/$name.ext"
		openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
			-CAcreateserial -days 2 -extfile "$pki/$name.ext" -out "$pki/$name.pem" 2>/dev/null
	done
}
# fleet_lg TRANSPORT: one rv-loadgen run into a fresh agent; appends the
# frames/s to FL_FPS[TRANSPORT] and the agent's CPU µs per frame to
# FL_CPU[TRANSPORT] (space-separated lists); FL_LAST = the frames/s, "" if the
# run failed.
fleet_lg() {
	local tr=$1 out fps frames c0 c1 pki=$W/pki
	FL_LAST=
	local -a target
	start_dry_agent fleet "dnstap-listen \"unix:$W/fleet.sock tcp:127.0.0.1:$FL_PORT tls:127.0.0.1:$((FL_PORT + 1))\"
dnstap-tls-cert $pki/central.pem
dnstap-tls-key $pki/central.key
dnstap-tls-client-ca $pki/ca.pem"
	case $tr in
	unix) target=(--unix "$W/fleet.sock") ;;
	tcp) target=(--tcp "127.0.0.1:$FL_PORT") ;;
	tls) target=(--tls "127.0.0.1:$((FL_PORT + 1))" --tls-ca "$pki/ca.pem" --tls-name central
		--tls-cert "$pki/writer.pem" --tls-key "$pki/writer.key") ;;
	esac
	c0=$(cpu_s "$APID")
	out=$("$LOADGEN" --seed $SEED --count $FLEET_N --names 100000 "${target[@]}" 2>>"$W/fleet-lg.err") ||
		log "warning: rv-loadgen --$tr failed: $(tail -n 3 "$W/fleet-lg.err")"
	fps=$(sed -n 's/.* fps=\([0-9]*\).*/\1/p' <<<"$out")
	frames=$(agent_stat "$APID" "$W/fleet.log" frames)
	c1=$(cpu_s "$APID")
	[[ $frames == "$FLEET_N" ]] || log "warning: agent counted $frames frames via $tr, sent $FLEET_N"
	stop_pid "$APID"
	[[ -n $fps ]] || return 0
	FL_LAST=$fps
	FL_FPS[$tr]+=" $fps"
	FL_CPU[$tr]+=" $(calc "1000000 * ($c1 - $c0) / $FLEET_N" 3)"
}
fleet_median() { # "LIST"
	tr ' ' '\n' <<<"$1" | grep . | median
}
fleet_relay_stat() { # KEY: from the relay's SIGUSR1 line
	agent_stat "$RPID" "$W/relay.log" "$1"
}
fleet() {
	local f=$W/fleet.fstrm port el_u el_t frames t0 c0 c1 el sent rej lost queued in i k tr
	local -a order=(unix tcp tls)
	declare -gA FL_FPS=([unix]="" [tcp]="" [tls]="") FL_CPU=([unix]="" [tcp]="" [tls]="")
	port=$((20000 + RANDOM % 20000))
	FL_PORT=$port
	fleet_pki
	local r_tcp="" r_tls=""
	local -A this=()
	for ((i = 0; i < FLEET_REPS; i++)); do
		for ((k = 0; k < 3; k++)); do
			tr=${order[(i + k) % 3]}
			fleet_lg "$tr"
			this[$tr]=$FL_LAST
		done
		if [[ -n ${this[unix]} && -n ${this[tcp]} ]]; then r_tcp+=" $(calc "${this[tcp]} / ${this[unix]}" 4)"; fi
		if [[ -n ${this[unix]} && -n ${this[tls]} ]]; then r_tls+=" $(calc "${this[tls]} / ${this[unix]}" 4)"; fi
		log "fleet rep $((i + 1)): rv-loadgen frames/s so far: unix${FL_FPS[unix]}; tcp${FL_FPS[tcp]}; tls${FL_FPS[tls]}"
	done
	local -A med=() cpu=()
	for tr in unix tcp tls; do
		if [[ -z ${FL_FPS[$tr]// /} ]]; then
			fig "fleet_lg_${tr}_fps" n/a "rv-loadgen --$tr failed (see the warnings)"
			fig "fleet_lg_${tr}_cpu_us_per_frame" n/a "rv-loadgen --$tr failed"
			continue
		fi
		med[$tr]=$(fleet_median "${FL_FPS[$tr]}")
		cpu[$tr]=$(fleet_median "${FL_CPU[$tr]}")
	done
	local -A how=(
		[unix]="frames/s, rv-loadgen --unix -> dry-run agent's unix: listener, median of $FLEET_REPS x $FLEET_N frames, a fresh agent each"
		[tcp]="frames/s, the same stream, rv-loadgen --tcp -> its tcp: listener (127.0.0.1)"
		[tls]="frames/s, the same stream, rv-loadgen --tls -> its tls: listener (mutual TLS)")
	for tr in unix tcp tls; do
		if [[ -v "med[$tr]" ]]; then fig "fleet_lg_${tr}_fps" "${med[$tr]}" "${how[$tr]}"; fi
	done
	if [[ -n ${r_tcp// /} ]]; then
		fig fleet_tcp_unix_ratio "$(calc "$(fleet_median "$r_tcp")" 3)" "tcp / unix frames/s, median of the repetitions' own ratios"
	else
		fig fleet_tcp_unix_ratio n/a "a transport was not measured"
	fi
	if [[ -n ${r_tls// /} ]]; then
		fig fleet_tls_unix_ratio "$(calc "$(fleet_median "$r_tls")" 3)" "tls / unix frames/s, median of the repetitions' own ratios"
	else
		fig fleet_tls_unix_ratio n/a "a transport was not measured"
	fi
	for tr in unix tcp tls; do
		if [[ -v "cpu[$tr]" ]]; then
			fig "fleet_lg_${tr}_cpu_us_per_frame" "${cpu[$tr]}" "agent CPU (user+sys) per frame over $tr, same runs (10 ms clock ticks)"
		fi
	done

	"$LOADGEN" --seed $SEED --count $FLEET_N --names 100000 --file "$f" >"$W/fleet.gen" 2>&1
	start_dry_agent fleet "dnstap-listen \"unix:$W/fleet.sock tcp:127.0.0.1:$port\""
	el_u=$(timed fstrm_replay -t protobuf:dnstap.Dnstap -u "$W/fleet.sock" -r "$f")
	el_t=$(timed fstrm_replay -t protobuf:dnstap.Dnstap -a 127.0.0.1 -p "$port" -r "$f")
	frames=$(agent_stat "$APID" "$W/fleet.log" frames)
	[[ $frames == "$((2 * FLEET_N))" ]] || log "warning: agent counted $frames frames, sent $((2 * FLEET_N))"
	fig fleet_unix_fps "$(calc "$FLEET_N / $el_u" 0)" "frames/s, fstrm_replay -> agent's unix socket, $FLEET_N frames"
	fig fleet_tcp_fps "$(calc "$FLEET_N / $el_t" 0)" "frames/s, fstrm_replay -> agent's tcp: listener (127.0.0.1), same stream"
	stop_pid "$APID"

	start_dry_agent fleet "dnstap-listen \"unix:$W/fleet.sock tcp:127.0.0.1:$port\""
	rm -f "$W/relay.sock"
	"$RELAY" --socket "$W/relay.sock" --socket-mode 0600 --socket-group "" --writer-user "" \
		--central "127.0.0.1:$port" --queue 16384 --stats-interval 0 >"$W/relay.log" 2>&1 &
	RPID=$!
	PIDS+=("$RPID")
	wait_sock "$W/relay.sock" "$RPID" 10
	for ((i = 0; i < 100; i++)); do
		grep -q "connected to the central agent" "$W/relay.log" && break
		sleep 0.05
	done
	c0=$(cpu_s "$RPID")
	t0=$(now)
	"$LOADGEN" --seed $SEED --count $FLEET_N --names 100000 --unix "$W/relay.sock" >/dev/null 2>&1
	for ((i = 0; i < 600; i++)); do
		queued=$(fleet_relay_stat relay_queued)
		[[ $queued == 0 ]] && break
		sleep 0.1
	done
	el=$(calc "$(now) - $t0" 4)
	c1=$(cpu_s "$RPID")
	in=$(fleet_relay_stat relay_in)
	sent=$(fleet_relay_stat relay_sent)
	rej=$(fleet_relay_stat relay_rejected)
	lost=$(fleet_relay_stat relay_lost)
	frames=$(agent_stat "$APID" "$W/fleet.log" frames)
	log "relay: $in in, $sent sent, $rej rejected, $lost lost in $el s"
	[[ $frames == "$sent" ]] || log "warning: relay sent $sent frames, agent counted $frames"
	fig fleet_relay_fps "$(calc "$frames / $el" 0)" "frames/s the agent received through rearview-relay (TCP), rv-loadgen at full speed into the relay"
	fig fleet_relay_drop_pct "$(calc "100 * ($rej + $lost) / $in" 2)" "% of $in frames the relay dropped (queue of 16384 full)"
	fig fleet_relay_cpu_us_per_frame "$(calc "1000000 * ($c1 - $c0) / $in" 2)" "relay CPU (user+sys) per frame received, both threads"
	stop_pid "$RPID"
	stop_pid "$APID"
}

# ------------------------------------------------------------------ floor
# named's own dnstap delivery time, the floor under lookup -> PTR: a lab named
# whose dnstap goes to tests/bench/fstrm-arrivals.py (it reads and timestamps
# frames, nothing else); FLOOR_N lookups of fresh names, one at a time at
# random moments (0-0.9 s apart): the lookup sent -> its frame arrived.
# FLOOR_NAMED_OPTIONS adds statements to named's options, to see what moves
# it (e.g. 'fstrm-set-output-notify-threshold 1;').
floor_part() {
	local out=$W/floor.ms ptr=$W/idle-ptr.ms py=$SRCDIR/tests/bench/fstrm-arrivals.py sorted n
	: >"$out"
	: >"$ptr"
	(
		# shellcheck source=scripts/lab.sh
		. "$SRCDIR/scripts/lab.sh"
		RV_AGENT=$AGENT
		lab_init
		trap 'lab_stop 0' EXIT
		python3 "$py" "$LAB_SOCK" "$LAB/arrivals" >"$LAB/arrivals.log" 2>&1 &
		lab_register_pid arrivals $!
		lab_wait_until 5 test -S "$LAB_SOCK"
		LAB_RESOLVER_OPTIONS_EXTRA=${FLOOR_NAMED_OPTIONS:-}
		lab_start_upstream
		lab_start_bind
		lab_wait_until 10 lab__dnstap_connected
		sleep 2
		local i n0 t0 t1
		arrived() { (($(wc -l <"$LAB/arrivals") > n0)); }
		for ((i = 1; i <= FLOOR_N; i++)); do
			n0=$(wc -l <"$LAB/arrivals")
			t0=$(lab_now_ms)
			lab_lookup "g$i.example.test" A >/dev/null
			lab_wait_until 5 arrived || continue
			t1=$(sed -n "$((n0 + 1))p" "$LAB/arrivals")
			echo $((t1 - t0)) >>"$out"
			sleep "0.$((RANDOM % 10))"
		done
		# The same lookups through the agent (shipped defaults but for
		# the lab's paths: flush-interval 1s) to the PTR in the xray view.
		lab__stop_pid arrivals "$(<"$LAB/pids/arrivals")" 5
		rm -f "$LAB/pids/arrivals" "$LAB_SOCK"
		lab_write_agent_conf flush-interval - stats-interval 0
		lab_start_agent
		sleep 2
		for ((i = FLOOR_N + 1; i <= 2 * FLOOR_N; i++)); do
			t0=$(lab_now_ms)
			lab_lookup "g$i.example.test" A >/dev/null
			lab_wait_ptr "198.51.100.$i" "g$i.example.test" 10 || continue
			echo $(($(lab_now_ms) - t0)) >>"$ptr"
			sleep "0.$((RANDOM % 10))"
		done
	) >&2
	mapfile -t sorted < <(sort -n "$out")
	n=${#sorted[@]}
	if ((n < FLOOR_N)); then
		fig dnstap_floor_p50_ms n/a "only $n of $FLOOR_N lookups' frames arrived within 5 s"
		fig dnstap_floor_max_ms n/a "see above"
		return 0
	fi
	local fp50=${sorted[$(((n - 1) / 2))]}
	fig dnstap_floor_min_ms "${sorted[0]}" "lookup at the lab's named -> its dnstap frame at a minimal reader; $n lookups one at a time${FLOOR_NAMED_OPTIONS:+; named: $FLOOR_NAMED_OPTIONS}"
	fig dnstap_floor_p50_ms "$fp50" "same, p50"
	fig dnstap_floor_max_ms "${sorted[$((n - 1))]}" "same, max"
	mapfile -t sorted < <(sort -n "$ptr")
	n=${#sorted[@]}
	if ((n < FLOOR_N)); then
		fig idle_lookup_ptr_p50_ms n/a "only $n of $FLOOR_N idle lookups became PTRs within 10 s"
		fig idle_lookup_over_floor_ms n/a "see above"
		return 0
	fi
	fig idle_lookup_ptr_p50_ms "${sorted[$(((n - 1) / 2))]}" "lookup -> PTR in the xray view through the agent (shipped flush-interval 1s), $n lookups one at a time (the same named)"
	fig idle_lookup_ptr_max_ms "${sorted[$((n - 1))]}" "same, max"
	local over=$((sorted[(n - 1) / 2] - fp50))
	fig idle_lookup_over_floor_ms "$over" "p50 of idle lookup -> PTR minus p50 of named's floor: what the agent and named's UPDATE and rebuild add (target <= 200: $( ((over <= 200)) && echo met || echo 'NOT met'))"
}

# ------------------------------------------------------------------ fleetlab
# The whole fleet (README "Fleets"): tests/integration/fleet.sh, which runs
# two BIND resolvers with relays (TLS, TCP), the central agent, a primary
# and two secondaries, and times FLEETLAB_N lookups one after the other from
# the resolver to the PTR on each secondary, with the parts read from the
# servers' logs ("# fleet-..." lines). Idle staleness: one lookup at a time.
fleetlab() {
	local out=$W/fleetlab.out line k n p50 p99 max what
	if ! RV_AGENT=$AGENT RV_RELAY=$RELAY RV_SRCDIR=$SRCDIR STALE_N=$FLEETLAB_N \
		bash "$SRCDIR/tests/integration/fleet.sh" >"$out" 2>&1; then
		log "warning: tests/integration/fleet.sh failed (see $out)"
	fi
	for k in sec1 sec2; do
		line=$(grep -E "^# fleet-staleness $k " "$out" || true)
		if [[ $line =~ n=([0-9]+)\ p50=([0-9]+)\ p99=([0-9]+)\ max=([0-9]+) ]]; then
			n=${BASH_REMATCH[1]} p50=${BASH_REMATCH[2]} p99=${BASH_REMATCH[3]}
			fig "fleet_stale_${k}_p50_ms" "$p50" "lookup at a resolver -> PTR served by $k, $n lookups one at a time (relay, central agent, primary, NOTIFY, IXFR)"
			fig "fleet_stale_${k}_p99_ms" "$p99" "same, p99"
		else
			fig "fleet_stale_${k}_p50_ms" n/a "no staleness line in $out"
			fig "fleet_stale_${k}_p99_ms" n/a "no staleness line in $out"
		fi
	done
	for k in agent update notify ixfr1 rebuild1 answer1; do
		line=$(grep -E "^# fleet-part $k " "$out" || true)
		if [[ $line =~ n=([0-9]+)\ p50=([0-9]+)\ p99=([0-9]+)\ max=([0-9]+)\ +(.*)$ ]]; then
			p50=${BASH_REMATCH[2]} p99=${BASH_REMATCH[3]} what=${BASH_REMATCH[5]}
			fig "fleet_part_${k}_ms" "$p50 / $p99" "p50 / p99: $what"
		else
			fig "fleet_part_${k}_ms" n/a "no part line in $out"
		fi
	done
}

# ------------------------------------------------------------------ history
# The passive-DNS history's cost and speed (README "Passive DNS").
#  - ingest with the history on vs off: same stream, same writer, same run;
#  - the writer: rows/s of transaction time, bytes per stored row on disk
#    after HIST_SIGHTINGS record sightings of the Zipf stream;
#  - query latency p50/p99 through the HTTP API on a store of HIST_ROWS rows;
#  - RSS the history adds at steady state.
hist_wait_idle() { # PID LOG: until nothing is pending and the writer has caught up
	local i p b
	for ((i = 0; i < 1200; i++)); do
		p=$(agent_stat "$1" "$2" hist_pending)
		b=$(agent_stat "$1" "$2" hist_writing)
		[[ $p == 0 && $b == 0 ]] && return 0
		sleep 0.5
	done
	return 1
}
hist_part() {
	local i out on off r_on r_off
	local -a a_on=() a_off=()
	for ((i = 0; i < INGEST_REPS; i++)); do
		start_dry_agent hoff ""
		out=$("$LOADGEN" --seed $SEED --count $HIST_N --names 100000 --unix "$W/hoff.sock" 2>/dev/null)
		a_off+=("$(sed -n 's/.* fps=\([0-9]*\).*/\1/p' <<<"$out")")
		r_off=$(rss_kb "$APID")
		stop_pid "$APID"
		rm -f "$W"/hon.db*
		start_dry_agent hon "history-database $W/hon.db"
		out=$("$LOADGEN" --seed $SEED --count $HIST_N --names 100000 --unix "$W/hon.sock" 2>/dev/null)
		a_on+=("$(sed -n 's/.* fps=\([0-9]*\).*/\1/p' <<<"$out")")
		hist_wait_idle "$APID" "$W/hon.log" || log "warning: history writer did not catch up"
		r_on=$(rss_kb "$APID")
		stop_pid "$APID"
		log "history rep $((i + 1)): ingest ${a_on[-1]} fps with the history, ${a_off[-1]} without"
	done
	on=$(median_of "${a_on[@]}")
	off=$(median_of "${a_off[@]}")
	fig history_ingest_fps_on "$on" "frames/s with the history on (rv-loadgen, $HIST_N frames, median of $INGEST_REPS)"
	fig history_ingest_fps_off "$off" "frames/s with it off, same stream, same run"
	fig history_ingest_ratio "$(calc "$on / $off" 3)" "on / off (target >= 0.8)"
	fig history_rss_added_mb "$(calc "($r_on - $r_off) / 1024" 1)" "VmRSS after the stream, history on minus off (steady state, writer idle)"

	# Load-independent: callgrind instructions inside rv_ingest_batch_cb (the
	# ingest path, sinks included; the writer thread is not in it) per frame,
	# history off and on, same stream of CG_N * 10 frames.
	local mode ir_off ir_on n=$((CG_N * 10))
	for mode in off on; do
		local extra=""
		[[ $mode == on ]] && extra="history-database $W/hcg.db
history-flush-interval 1h
history-max-pending $((n * 4))"
		rm -f "$W"/hcg.db*
		start_dry_agent hcg "$extra" valgrind --tool=callgrind --toggle-collect=rv_ingest_batch_cb \
			--callgrind-out-file="$W/hcg.$mode.out"
		"$LOADGEN" --seed $SEED --count $n --names 100000 --unix "$W/hcg.sock" --timeout 1200 >/dev/null 2>&1
		stop_pid "$APID" 120
	done
	ir_off=$(sed -n 's/^summary: //p' "$W/hcg.off.out")
	ir_on=$(sed -n 's/^summary: //p' "$W/hcg.on.out")
	fig history_ingest_instructions_off "$(calc "$ir_off / $n" 0)" "callgrind Ir in rv_ingest_batch_cb per frame, history off ($n frames)"
	fig history_ingest_instructions_on "$(calc "$ir_on / $n" 0)" "the same with the history on (its sink's cost on the loop)"
	fig history_ingest_instructions_ratio "$(calc "$ir_off / $ir_on" 3)" "off / on: the share of the loop's ingest speed kept (load-independent)"

	# Sustained writes: HIST_SIGHTINGS record sightings (~2.7 records per
	# learnable frame) of the Zipf stream, flushed every 5 s as shipped.
	local frames=$((HIST_SIGHTINGS * 10 / 27)) rows ms sightings bytes
	rm -f "$W"/hw.db*
	start_dry_agent hw "history-database $W/hw.db"
	"$LOADGEN" --seed $((SEED + 1)) --count $frames --names $((frames / 4)) --unix "$W/hw.sock" >/dev/null 2>&1
	hist_wait_idle "$APID" "$W/hw.log" || log "warning: history writer did not catch up"
	sightings=$(agent_stat "$APID" "$W/hw.log" hist_sightings)
	rows=$(agent_stat "$APID" "$W/hw.log" hist_written)
	ms=$(agent_stat "$APID" "$W/hw.log" hist_write_ms)
	stop_pid "$APID"
	local stored
	stored=$(sqlite3 "$W/hw.db" 'SELECT count(*) FROM rr')
	bytes=$(stat -c %s "$W/hw.db")
	fig history_sightings "$sightings" "record sightings of the Zipf stream ($frames frames)"
	fig history_rows_per_s "$(calc "$rows / ($ms / 1000)" 0)" "rows upserted per second of transaction time ($rows upserts)"
	fig history_bytes_per_row "$(calc "$bytes / $stored" 0)" "database file bytes / stored rows ($stored rows, after the shutdown checkpoint)"

	# Query latency on a store of HIST_ROWS rows: every name once (~2.5
	# records each), then the HTTP API, one query at a time.
	local names=$((HIST_ROWS / 2)) port=18053
	rm -f "$W"/hq.db*
	# Room for every record in memory while the writer catches up: this
	# part measures queries on a full store, not drops.
	start_dry_agent hq "history-database $W/hq.db
history-max-pending $((HIST_ROWS * 2))
http-listen 127.0.0.1:$port
max-addresses $((names * 3))"
	"$LOADGEN" --seed $((SEED + 2)) --sequential --count $names --names $names --addresses $names \
		--nxdomain 0 --nodata 0 --other 0 --unix "$W/hq.sock" --expect-out "$W/hq.expect" >/dev/null 2>&1
	hist_wait_idle "$APID" "$W/hq.log" || log "warning: history writer did not catch up"
	stored=$(sqlite3 "$W/hq.db" 'SELECT count(*) FROM rr')
	local kind url t
	for kind in rrset ip prefix; do
		: >"$W/hq.$kind"
		shuf -n "$HIST_QUERIES" --random-source=<(yes) "$W/hq.expect" | while IFS=$'\t' read -r addr name; do
			case $kind in
			rrset) url="/dnsdb/v2/lookup/rrset/name/$name" ;;
			ip) url="/dnsdb/v2/lookup/rdata/ip/$addr" ;;
			prefix)
				if [[ $addr == *.* ]]; then url="/dnsdb/v2/lookup/rdata/ip/${addr%.*}.0,24"
				else url="/dnsdb/v2/lookup/rdata/ip/$addr,120"; fi ;;
			esac
			t=$(curl -s -o "$W/hq.body" -w '%{time_total}' "http://127.0.0.1:$port$url") || t=
			grep -q '"obj"' "$W/hq.body" || log "warning: $url found nothing"
			[[ -n $t ]] && echo "$t" >>"$W/hq.$kind"
		done
		local p50 p99
		p50=$(sort -g "$W/hq.$kind" | awk '{ v[NR] = $1 } END { print v[int(NR * 0.50 + 0.5)] * 1000 }')
		p99=$(sort -g "$W/hq.$kind" | awk '{ i = int(NR * 0.99 + 0.5); if (i < 1) i = 1; v[NR] = $1 } END { print v[i] * 1000 }')
		fig "history_query_${kind}_p50_ms" "$p50" "ms, $HIST_QUERIES queries via curl on $stored rows"
		fig "history_query_${kind}_p99_ms" "$p99" "ms (target p99 <= 50)"
	done
	stop_pid "$APID"
}

# ------------------------------------------------------------------ scrape
# What a Prometheus scrape costs ingest: the same stream with and without a
# client fetching /metrics every 50 ms (20 scrapes/s, 300x Prometheus's usual
# 15 s interval), interleaved, same run.
scrape_part() {
	local i out port=18054 spid
	local -a with=() without=()
	for ((i = 0; i < INGEST_REPS; i++)); do
		start_dry_agent sc "http-listen 127.0.0.1:$port"
		out=$("$LOADGEN" --seed $SEED --count $HIST_N --names 100000 --unix "$W/sc.sock" 2>/dev/null)
		without+=("$(sed -n 's/.* fps=\([0-9]*\).*/\1/p' <<<"$out")")
		stop_pid "$APID"
		start_dry_agent sc "http-listen 127.0.0.1:$port"
		# One client process, one kept-alive connection (as Prometheus scrapes):
		# spawning curl 20 times a second would measure curl, not the agent.
		python3 -c '
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
while True:
    c.request("GET", "/metrics"); c.getresponse().read(); time.sleep(0.05)' "$port" 2>/dev/null &
		spid=$!
		PIDS+=("$spid")
		out=$("$LOADGEN" --seed $SEED --count $HIST_N --names 100000 --unix "$W/sc.sock" 2>/dev/null)
		with+=("$(sed -n 's/.* fps=\([0-9]*\).*/\1/p' <<<"$out")")
		stop_pid "$spid" 2
		local scrapes
		scrapes=$(agent_stat "$APID" "$W/sc.log" http_requests)
		stop_pid "$APID"
		log "scrape rep $((i + 1)): ingest ${with[-1]} fps while scraped ($scrapes scrapes), ${without[-1]} without"
	done
	local a b
	a=$(median_of "${with[@]}")
	b=$(median_of "${without[@]}")
	fig scrape_ingest_fps_scraped "$a" "frames/s while /metrics is fetched every 50 ms"
	fig scrape_ingest_fps_quiet "$b" "frames/s without scrapes, same stream, same run"
	fig scrape_ingest_ratio "$(calc "$a / $b" 3)" "scraped / quiet"
	# Load-independent: callgrind instructions of the agent for 200 scrapes
	# minus for none, per scrape; against instructions_per_frame it says what
	# share of the loop a scrape takes at a given frame rate.
	local n ir0 ir1
	for n in 0 200; do
		start_dry_agent scg "http-listen 127.0.0.1:$port" valgrind --tool=callgrind \
			--callgrind-out-file="$W/scg.$n.out"
		sleep 2
		python3 -c '
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for i in range(int(sys.argv[2])):
    c.request("GET", "/metrics"); c.getresponse().read()' "$port" "$n"
		stop_pid "$APID" 60
	done
	ir0=$(sed -n 's/^summary: //p' "$W/scg.0.out")
	ir1=$(sed -n 's/^summary: //p' "$W/scg.200.out")
	fig scrape_instructions "$(calc "($ir1 - $ir0) / 200" 0)" "callgrind Ir per /metrics scrape (200 scrapes - none)"
}

# ------------------------------------------------------------------ callgrind
# Instructions the agent executes per frame: callgrind total for N frames minus
# the total for 1 frame (start-up, socket, shutdown), over N - 1. Independent of
# machine noise; valgrind runs the agent ~50x slower.
cg_run() { # N -> prints total Ir
	local n=$1
	start_dry_agent cg "" valgrind --tool=callgrind --callgrind-out-file="$W/cg.$n.out"
	"$LOADGEN" --seed $SEED --count "$n" --names 100000 --unix "$W/cg.sock" --timeout 1200 >/dev/null 2>&1
	stop_pid "$APID" 60
	sed -n 's/^summary: //p' "$W/cg.$n.out"
}
callgrind_fig() {
	local base full
	base=$(cg_run 1)
	full=$(cg_run $CG_N)
	fig instructions_per_frame "$(calc "($full - $base) / ($CG_N - 1)" 0)" \
		"callgrind Ir, ($CG_N frames - 1 frame) / $((CG_N - 1)), default stream mix"
	callgrind_annotate --inclusive=yes "$W/cg.$CG_N.out" 2>/dev/null | sed -n '/file:function/,$p' |
		head -n 30 >"$W/cg.top" || true
}

# ------------------------------------------------------------------ encode
# The UPDATE encoder alone (rv-encode, no I/O): changes packed into signed
# 64 KiB UPDATEs per second of one core, ENCODE_S seconds per case.
encode() {
	local out c line name
	out=$("$ENCODE" "$ENCODE_S" 2>&1) || out=
	for c in "ipv4 replace" "ipv4 add-only" "ipv6 replace" "ipv6 add-only"; do
		name=${c// /_}
		name=encode_${name//-/_}_changes_per_s
		line=$(sed -n "s/^encode $c: //p" <<<"$out")
		if [[ $line =~ ^([0-9]+)\ UPDATEs/s,\ ([0-9]+)\ changes\ and\ ([0-9]+)\ bytes\ per\ UPDATE,\ ([0-9]+)\ changes/s$ ]]; then
			fig "$name" "${BASH_REMATCH[4]}" \
				"rv_rpz_msg_build: ${BASH_REMATCH[2]} changes, ${BASH_REMATCH[3]} B per UPDATE, ${BASH_REMATCH[1]} UPDATEs/s"
		else
			fig "$name" n/a "rv-encode printed no '$c' line: ${out:0:200}"
		fi
	done
}

# ------------------------------------------------------------------ RSS
# Agent in dry-run fed N distinct addresses, one name each (--sequential):
# (VmRSS after - VmRSS before any frame) / N. Name bytes = average length + 1
# of the learned names, reported separately.
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
rss_one() { # N LABEL
	local n=$1 label=$2 base after nb
	start_dry_agent rss "max-addresses $((n + 1000))"
	base=$(rss_kb "$APID")
	"$LOADGEN" --seed $SEED --sequential --count "$n" --names "$n" --addresses "$n" \
		--unix "$W/rss.sock" --expect-out "$W/rss.expect" >/dev/null 2>&1
	after=$(rss_kb "$APID")
	[[ $(agent_stat "$APID" "$W/rss.log" learned) == "$n" ]] || log "warning: rss run learned != $n"
	stop_pid "$APID"
	nb=$(awk -F'\t' '{ s += length($2) + 1 } END { printf "%.1f", s / NR }' "$W/rss.expect")
	fig "rss_bytes_per_address_$label" "$(calc "($after - $base) * 1024 / $n" 0)" \
		"(VmRSS after $n addresses - VmRSS at 0) / $n; includes names"
	fig "name_bytes_per_address_$label" "$nb" "average name length + NUL of those $n names"
}

# ------------------------------------------------------------------ BIND lab
lab_setup() {
	# shellcheck source=scripts/lab.sh
	. "$SRCDIR/scripts/lab.sh"
	RV_AGENT=$AGENT
	export RV_AGENT
	lab_init
	# lab.sh's optional config hooks (see its header): the generated bench.test
	# zone on the upstream, for dnsperf; and the resolver's logging for the
	# first burst ($1). named's dnstap counters come from the lab resolver's
	# statistics channel (LAB_STATS_PORT, the shipped statistics.conf), the
	# only place named 9.18 reports them (`rndc stats` does not dump them).
	LAB_UPSTREAM_EXTRA_CONF="zone \"bench.test\" { type primary; file \"$W/bench.test.db\"; };"
	LAB_RESOLVER_LOGGING_EXTRA=${1:-}
	# BENCH_MIN_UPDATE_INTERVAL=S: the xray view's response-policy
	# min-update-interval (shipped default 1 s) for every part.
	LAB_RENDER_ARGS=()
	[[ -z ${BENCH_MIN_UPDATE_INTERVAL:-} ]] || LAB_RENDER_ARGS=(MIN_UPDATE_INTERVAL="$BENCH_MIN_UPDATE_INTERVAL")
	[[ -z ${BENCH_HOT_MIN_UPDATE_INTERVAL:-} ]] ||
		LAB_RENDER_ARGS+=(HOT_MIN_UPDATE_INTERVAL="$BENCH_HOT_MIN_UPDATE_INTERVAL")
	lab_start_upstream
	# lab_start_upstream waits for the lab's own zones; the 200k-name
	# bench.test zone loads for seconds more, and the first burst must not
	# share the CPU with that.
	local i
	for ((i = 0; i < 600; i++)); do
		dig @"$LAB_UPSTREAM" -p "$LAB_PORT" +time=1 +tries=1 +short bench.test SOA 2>/dev/null | grep -q . && break
		sleep 0.1
	done
	lab_start_bind
	# Default batch settings (flush-interval, batch-size): only lab paths set.
	# log-level debug for the rpz part: the writer's one line per UPDATE sent
	# and per UPDATE acknowledged time the bursts to the millisecond (see
	# burst_log); nothing else in the agent logs at debug on these paths.
	local level=notice
	want rpz && level=debug
	lab_write_agent_conf flush-interval - log-level $level stats-interval 0 max-addresses 4000000
	# BENCH_AGENT_CONF_EXTRA: more lines for the lab agent's config.
	[[ -z ${BENCH_AGENT_CONF_EXTRA:-} ]] || printf '%s\n' "$BENCH_AGENT_CONF_EXTRA" >>"$LAB_AGENT_CONF"
	lab_start_agent
	ALAB_PID=$(<"$LAB/pids/agent")
}

# From the agent's debug lines after line SKIP of its log ("UPDATE id ...:
# N addresses, B bytes" when sent, "UPDATE to ...: N addresses committed"
# when acknowledged): "LAST_COMMIT_EPOCH TURNAROUND_MS UPDATES", where
# turnaround = the time the agent took between an acknowledgment and its
# next UPDATE, summed (what it adds to BIND's own time while a backlog waits).
burst_log() { # SKIP
	tail -n +"$(($1 + 1))" "$LAB_AGENT_LOG" | python3 -c '
import datetime, sys
def ts(line):
    return datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()
last_ok, turn, n = None, 0.0, 0
for line in sys.stdin:
    if " debug rpz: UPDATE id " in line:
        n += 1
        if last_ok is not None:
            turn += ts(line) - last_ok
    elif " debug rpz: UPDATE to " in line and line.rstrip().endswith(" addresses committed"):
        last_ok = ts(line)
if last_ok is not None:
    print(f"{last_ok:.3f} {turn * 1000:.0f} {n}")'
}

# Wall clock (epoch s) when the agent's committed-records counter reaches TARGET.
wait_records() { # TARGET TIMEOUT_S
	local deadline r
	deadline=$(calc "$(now) + $2" 3)
	while :; do
		r=$(agent_stat "$ALAB_PID" "$LAB_AGENT_LOG" records)
		if ((${r:-0} >= $1)); then now; return 0; fi
		if [[ $(calc "$(now) > $deadline" 0) == 1 ]]; then
			log "records=$r after $2 s, want $1"
			return 1
		fi
		sleep 0.1
	done
}

# 100k new addresses in one burst into the running agent (default batching):
# rate = N / (commit of the last record - first frame); converge = last PTR
# of a sample (incl. the last address queued) answered by the xray view -
# first frame. Sets B_RATE, B_CONV (empty: not measured), B_PTRS (AXFR count),
# B_PER_UPDATE (addresses per acknowledged UPDATE), B_TURN (burst_log) and
# B_CPU (agent and named CPU seconds meanwhile); keeps the AXFR in
# $W/burst$1.axfr. Same seed each time: the same addresses, owners and names.
burst() { # TAG
	local tag=$1 out t0 tc ts exp sample a want got pending base ok0 ok1 npid ac0 nc0 ac1 nc1 skip bl
	"$LOADGEN" --seed 7 --time-base now --sequential --count $BURST_N --names $BURST_N --addresses $BURST_N \
		--expect-out "$W/burst.expect" >/dev/null 2>&1
	exp=$W/burst.expect
	# 10 spread over the stream plus the last one (queued last).
	sample=$(awk -v n="$BURST_N" 'NR % int(n / 10) == 0 || NR == n' "$exp")
	base=$(agent_stat "$ALAB_PID" "$LAB_AGENT_LOG" records)
	ok0=$(agent_stat "$ALAB_PID" "$LAB_AGENT_LOG" ok)
	npid=$(<"$LAB/pids/resolver")
	ac0=$(cpu_s "$ALAB_PID")
	nc0=$(cpu_s "$npid")
	skip=$(wc -l <"$LAB_AGENT_LOG")
	out=$("$LOADGEN" --seed 7 --time-base now --sequential --count $BURST_N --names $BURST_N --addresses $BURST_N \
		--unix "$LAB_SOCK" 2>/dev/null)
	t0=$(sed -n 's/.*start_epoch=\([0-9.]*\).*/\1/p' <<<"$out")
	tc=$(wait_records $((base + BURST_N)) 120) || tc=
	ac1=$(cpu_s "$ALAB_PID")
	nc1=$(cpu_s "$npid")
	ok1=$(agent_stat "$ALAB_PID" "$LAB_AGENT_LOG" ok)
	pending=$sample
	while [[ -n $pending ]]; do
		local left=
		while IFS=$'\t' read -r a want; do
			got=$(lab_xray_ptr "$a")
			[[ $got == "$want." ]] || left+="$a"$'\t'"$want"$'\n'
		done <<<"$pending"
		pending=${left%$'\n'}
		ts=$(now)
		[[ -z $pending ]] && break
		if [[ $(calc "$ts - $t0 > 180" 0) == 1 ]]; then ts=; break; fi
		sleep 0.1
	done
	B_RATE='' B_CONV='' B_TURN=''
	# The last acknowledgment's own time (the poll above only notices it,
	# up to a few tenths of a second later on a busy machine).
	bl=$(burst_log "$skip")
	if [[ -n $tc && -n $bl ]]; then
		tc=${bl%% *}
		B_TURN=$(cut -d' ' -f2 <<<"$bl")
	fi
	[[ -n $tc ]] && B_RATE=$(calc "$BURST_N / ($tc - $t0)" 0)
	[[ -n $ts ]] && B_CONV=$(calc "$ts - $t0" 2)
	B_PER_UPDATE=
	((${ok1:-0} > ${ok0:-0})) && B_PER_UPDATE=$(calc "$BURST_N / ($ok1 - $ok0)" 1)
	B_CPU="agent $(calc "$ac1 - $ac0" 2) CPU s, named $(calc "$nc1 - $nc0" 2) CPU s"
	lab_axfr +noall +answer >"$W/burst$tag.axfr" 2>/dev/null || true
	B_PTRS=$(awk '$4 == "PTR"' "$W/burst$tag.axfr" | wc -l)
	log "burst$tag: ${B_RATE:-?} addresses/s, converged in ${B_CONV:-?} s, $((ok1 - ok0)) UPDATEs (${B_PER_UPDATE:-?} addresses each), turnaround ${B_TURN:-?} ms in all, $B_CPU; zone holds $B_PTRS PTR records"
}

# The agent's figures: the median of the bursts' RATES and CONVS (lists),
# the smallest AXFR count (PTRS).
burst_figs() { # SUFFIX "RATES" "CONVS" PTRS
	local sfx=$1 rates=$2 convs=$3 ptrs=$4 n med="" how="named logging as shipped in the lab"
	[[ -n $sfx ]] && how="named: $QUIET_UPDATE_LOG"
	n=$(wc -w <<<"$rates")
	((n > 1)) && med=", median of $n bursts"
	if ((n > 0)); then
		fig "rpz_addresses_per_s$sfx" "$(median_words "$rates")" \
			"$BURST_N new addresses / (last acknowledged - first frame), default batching, into an empty RPZ; $how$med"
	else
		fig "rpz_addresses_per_s$sfx" n/a "agent did not commit $BURST_N records in 120 s (see agent log)"
	fi
	if (($(wc -w <<<"$convs") > 0)); then
		fig "burst_100k_converge_s$sfx" "$(median_words "$convs")" \
			"first frame of $BURST_N new addresses -> last sampled PTR answered by the xray view$med"
	else
		fig "burst_100k_converge_s$sfx" n/a "sample PTRs not all served within 180 s"
	fi
	fig "rpz_zone_ptrs_after_burst$sfx" "$ptrs" "AXFR count of PTR records (should be >= $BURST_N)"
}

# The reference for rpz_addresses_per_s, BIND's own ceiling for the same
# writes: `update add` lines for exactly the records the agent wrote in the
# burst whose AXFR is $1 (same owners, PTR targets, TXT strings, TTL), in the
# agent's stream order; add-only, as the agent's writes of new addresses into
# a zone known to be empty are.
nsu_records() { # AXFR OUT
	python3 - "$1" "$2" "$W/burst.expect" "$LAB_RPZ" <<'PY'
import ipaddress, sys
axfr, out, expect, zone = sys.argv[1:5]
rrs = {}
for line in open(axfr):
    f = line.split(None, 4)
    if len(f) == 5 and f[2] == 'IN' and f[3] in ('PTR', 'TXT'):
        rrs.setdefault(f[0].lower(), {})[f[3]] = (f[1], f[4].rstrip('\n'))
with open(out, 'w') as o:
    for line in open(expect):
        owner = f'{ipaddress.ip_address(line.split(chr(9), 1)[0]).reverse_pointer}.{zone}.'
        r = rrs.get(owner.lower(), {})
        if 'PTR' not in r or 'TXT' not in r:
            sys.exit(f'{owner}: no PTR and TXT in {axfr}')
        for t in ('PTR', 'TXT'):
            o.write(f'update add {owner} {r[t][0]} IN {t} {r[t][1]}\n')
PY
}

# nsupdate input: those records, PER addresses per `send` (UPDATE), to SERVER.
nsu_batch() { # PER SERVER OUT
	awk -v k="$1" -v server="$2" -v port="$LAB_PORT" -v zone="$LAB_RPZ" '
		NR == 1 { print "server " server " " port; print "zone " zone }
		{ print }
		NR % (2 * k) == 0 { print "send" }
		END { if (NR % (2 * k)) print "send" }' "$W/nsupdate.rr" >"$3"
}

# True if nsupdate can put PER addresses in every UPDATE of the input. Its
# encoder (libdns) packs these records less tightly than the agent's, and a
# message over 64 KB is a fatal "ran out of space" before it is sent. Probed
# against the lab's upstream named, which is not authoritative for the RPZ
# and does not know the key: each UPDATE nsupdate can build is sent and
# refused, and the zone under test is not touched.
nsu_fits() { # PER
	nsu_batch "$1" "$LAB_UPSTREAM" "$W/nsupdate.probe"
	nsupdate -v -t 10 -k "$LAB/rearview.key" "$W/nsupdate.probe" >"$W/nsupdate.probe.out" 2>&1 || true
	! grep -q 'ran out of space' "$W/nsupdate.probe.out"
}

# The most addresses per UPDATE nsupdate can send, at most PER (the agent's).
nsu_fit() { # PER -> prints the count
	local hi=$1 lo=1 mid
	if nsu_fits "$hi"; then echo "$hi"; return 0; fi
	while ((hi - lo > 1)); do # lo fits, hi does not
		mid=$(((lo + hi) / 2))
		if nsu_fits "$mid"; then lo=$mid; else hi=$mid; fi
	done
	echo "$lo"
}

# One nsupdate process over TCP (-v) with the agent's TSIG key, reading
# $W/nsupdate.in, into the RPZ as it is (call lab_fresh_rpz first: empty).
# nsupdate sends one UPDATE per `send` and waits for its answer before it
# reads on, as the agent keeps one UPDATE in flight; unlike the agent it
# opens a new TCP connection for each (BIND 9.18's nsupdate has no option to
# keep one), a loopback handshake per ~60 KB UPDATE. Sets N_RATE (empty on
# failure; N_WHY says why) and N_CPU. Time = nsupdate's start -> its exit
# (the last answer read); the input is generated beforehand, as the agent's
# stream is.
nsu_run() { # TAG
	local tag=$1 t0 t1 rc=0 npid nc0 nc1 ptrs ucpu
	npid=$(<"$LAB/pids/resolver")
	nc0=$(cpu_s "$npid")
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$W/nsupdate$tag.time" \
		nsupdate -v -t 120 -k "$LAB/rearview.key" "$W/nsupdate.in" >"$W/nsupdate$tag.out" 2>&1 || rc=$?
	t1=$(now)
	nc1=$(cpu_s "$npid")
	ucpu=$(awk 'END { printf "%.2f", $1 + $2 }' "$W/nsupdate$tag.time")
	N_CPU="nsupdate $ucpu CPU s, named $(calc "$nc1 - $nc0" 2) CPU s"
	ptrs=$(lab_axfr +noall +answer 2>/dev/null | awk '$4 == "PTR"' | wc -l)
	N_RATE='' N_WHY=''
	if ((rc != 0)); then
		N_WHY="nsupdate exited $rc: $(head -c 200 "$W/nsupdate$tag.out")"
	elif ((ptrs != BURST_N)); then
		N_WHY="zone holds $ptrs PTR records after nsupdate, sent $BURST_N"
	else
		N_RATE=$(calc "$BURST_N / ($t1 - $t0)" 0)
	fi
	log "nsupdate$tag: ${N_RATE:-n/a (${N_WHY})} addresses/s in $(calc "$t1 - $t0" 2) s, $N_CPU; zone holds $ptrs PTR records"
}

# rpz_nsupdate_addresses_per_s[SUFFIX] (median of its runs) and
# rpz_agent_vs_nsupdate[SUFFIX] = agent / nsupdate (target >= 0.9).
nsu_figs() { # SUFFIX "AGENT_RATES" "NSUPDATE_RATES" WHY_IF_NONE
	local sfx=$1 a n k med="" ratio met how="named logging as shipped in the lab"
	[[ -n $sfx ]] && how="named: $QUIET_UPDATE_LOG"
	k=$(wc -w <<<"$3")
	if ((k == 0)); then
		fig "rpz_nsupdate_addresses_per_s$sfx" n/a "$4"
		fig "rpz_agent_vs_nsupdate$sfx" n/a "no nsupdate reference: $4"
		return 0
	fi
	((k > 1)) && med=", median of $k runs"
	n=$(median_words "$3")
	fig "rpz_nsupdate_addresses_per_s$sfx" "$n" \
		"same $BURST_N addresses and records by one nsupdate -v (TCP), same key, $NSU_PER addresses per UPDATE (agent: $AGENT_PER; nsupdate gets fewer only if it cannot fit them in 64 KB), into an empty RPZ; $how$med"
	if (($(wc -w <<<"$2") == 0)); then
		fig "rpz_agent_vs_nsupdate$sfx" n/a "no agent figure"
		return 0
	fi
	a=$(median_words "$2")
	ratio=$(calc "$a / $n" 3)
	met="not met"
	[[ $(calc "$ratio >= 0.9" 0) == 1 ]] && met=met
	fig "rpz_agent_vs_nsupdate$sfx" "$ratio" \
		"rpz_addresses_per_s$sfx / rpz_nsupdate_addresses_per_s$sfx (target >= 0.9: $met)"
}

# The nsupdate input from burst TAG: its records (AXFR), as many per UPDATE
# as the agent put in its UPDATEs, or the most nsupdate fits if fewer. Sets
# AGENT_PER, NSU_PER, and NSU_WHY if it could not be made.
nsu_prepare() { # TAG
	AGENT_PER=${B_PER_UPDATE:-} NSU_PER='' NSU_WHY=''
	if [[ -z $AGENT_PER ]]; then
		NSU_WHY="the agent's burst was not acknowledged: no batch size to copy"
	elif nsu_records "$W/burst$1.axfr" "$W/nsupdate.rr"; then
		NSU_PER=$(nsu_fit "$(calc "$AGENT_PER" 0)")
		nsu_batch "$NSU_PER" "$LAB_XRAY" "$W/nsupdate.in"
		log "nsupdate: $NSU_PER addresses per UPDATE ($(grep -c '^send' "$W/nsupdate.in") UPDATEs); the agent sent $AGENT_PER"
	else
		NSU_WHY="could not write the nsupdate input from the agent's zone"
	fi
	[[ -z $NSU_WHY ]] || rm -f "$W/nsupdate.in"
}

# One agent burst (into an empty RPZ: the lab's first run has one; later
# ones restart named on an empty zone first) and its results, added to the
# R_* lists of rpz_mode. The first burst of the part makes the nsupdate input.
rpz_agent() { # SFX LOGGING FRESH(0|1) REP
	(($3)) && lab_fresh_rpz "$2"
	burst "$1_$4"
	[[ -n $B_RATE ]] && R_RATES+=" $B_RATE"
	[[ -n $B_CONV ]] && R_CONVS+=" $B_CONV"
	[[ -n $B_TURN ]] && R_TURNS+=" $B_TURN"
	((B_PTRS < R_PTRS)) && R_PTRS=$B_PTRS
	if [[ -z $NSU_WHY && ! -s $W/nsupdate.in ]]; then nsu_prepare "$1_$4"; fi
	return 0
}

# One nsupdate run into an empty RPZ; after a failed one, none.
rpz_nsupdate() { # SFX LOGGING REP
	[[ -s $W/nsupdate.in && -z $R_NWHY ]] || return 0
	lab_fresh_rpz "$2"
	nsu_run "$1_$3"
	if [[ -n $N_RATE ]]; then R_NRATES+=" $N_RATE"; else R_NWHY=$N_WHY; fi
}

# REPS pairs of runs, agent and nsupdate alternating, each into an empty RPZ
# with named's logging LOGGING; FIRST = agent or nsupdate. Figures with
# suffix SFX: medians of the runs.
rpz_mode() { # SFX LOGGING REPS FIRST
	local i
	R_RATES='' R_CONVS='' R_TURNS='' R_NRATES='' R_NWHY='' R_PTRS=$BURST_N
	for ((i = 1; i <= $3; i++)); do
		if [[ $4 == agent ]]; then
			rpz_agent "$1" "$2" $((i > 1)) "$i"
			rpz_nsupdate "$1" "$2" "$i"
		else
			rpz_nsupdate "$1" "$2" "$i"
			rpz_agent "$1" "$2" 1 "$i"
		fi
	done
	burst_figs "$1" "$R_RATES" "$R_CONVS" "$R_PTRS"
	if [[ -n $R_TURNS ]]; then
		fig "rpz_agent_turnaround_ms$1" "$(median_words "$R_TURNS")" \
			"ms the agent took between an acknowledgment and its next UPDATE, summed over a burst's ~$(calc "$BURST_N / ${AGENT_PER:-1}" 0) UPDATEs"
	else
		fig "rpz_agent_turnaround_ms$1" n/a "no acknowledged burst (see the agent log)"
	fi
	[[ -s $W/nsupdate.in ]] || R_NWHY=${NSU_WHY:-no nsupdate input}
	# One failed reference run makes the figure n/a: a median would hide it.
	[[ -z $R_NWHY ]] || R_NRATES=''
	nsu_figs "$1" "$R_RATES" "$R_NRATES" "$R_NWHY"
}

# RPZ writes: the agent's bursts beside BIND's own ceiling for the same
# writes (nsupdate), every run into an empty RPZ (named restarted on the
# initial zone with the journal deleted, the agent without a snapshot), so
# that both start from a zone of the same size, and interleaved, so that the
# machine's load moves both alike:
#  1. named's `update` category to null: agent, nsupdate, RPZ_REPS_QUIET
#     times (the lab's first run is the agent's: its records and batch size
#     make the nsupdate input);
#  2. named's logging as shipped: nsupdate, agent, RPZ_REPS times, the agent
#     last (the lookup and drops parts use the RPZ it filled).
rpz_part() {
	NSU_WHY='' AGENT_PER='' NSU_PER=''
	rm -f "$W/nsupdate.in"
	lab_setup "$QUIET_UPDATE_LOG"
	rpz_mode _quiet "$QUIET_UPDATE_LOG" "$RPZ_REPS_QUIET" agent
	rpz_mode "" "" "$RPZ_REPS" nsupdate
}

# Restarts the resolver on an empty RPZ (zone file and journal removed, so
# render-bind-conf.sh installs the initial one again) with resolver logging $1
# (lab.sh's LAB_RESOLVER_LOGGING_EXTRA), and the agent without a snapshot.
lab_fresh_rpz() { # [LOGGING_EXTRA]
	lab_stop_agent TERM
	lab_stop_bind
	rm -f "$LAB/resolver/zones/$LAB_RPZ.db" "$LAB/resolver/zones/$LAB_RPZ.db.jnl" "$LAB/state.snap"
	LAB_RESOLVER_LOGGING_EXTRA=${1:-}
	lab_start_bind
	lab_start_agent
	ALAB_PID=$(<"$LAB/pids/agent")
}

# Lookups through the client view at LOOKUP_QPS (dnsperf, Zipf mix), and
# LOOKUP_SAMPLES never-seen names looked up at SAMPLE_RATE/s by rv-ptrwait,
# which times lookup -> PTR answered by the xray view.
lookup_latency() {
	local dur=$((LOOKUP_SAMPLES / SAMPLE_RATE + SETTLE + 10)) dpid out
	dnsperf -s "$LAB_CLIENT" -p "$LAB_PORT" -d "$W/queries.txt" -Q $LOOKUP_QPS -l $dur -q 2000 \
		-c 8 -t 5 >"$W/dnsperf.lookup" 2>&1 &
	dpid=$!
	PIDS+=("$dpid")
	sleep $SETTLE # let dnsperf reach its rate before the first sample
	out=$("$PTRWAIT" --client "$LAB_CLIENT" --xray "$LAB_XRAY" --port "$LAB_PORT" \
		--samples "$W/samples.tsv" --rate $SAMPLE_RATE --timeout 30 | tee "$W/ptrwait.out" | tail -n 1) || true
	wait "$dpid" || true
	local qps
	qps=$(sed -n 's/.*Queries per second:[[:space:]]*\([0-9.]*\).*/\1/p' "$W/dnsperf.lookup")
	log "lookup: $out; dnsperf achieved ${qps:-?} q/s"
	local seen n
	seen=$(sed -n 's/.* seen=\([0-9]*\).*/\1/p' <<<"$out")
	n=$(sed -n 's/.* samples=\([0-9]*\).*/\1/p' <<<"$out")
	if [[ -n $seen && $seen -gt 0 ]]; then
		fig lookup_to_ptr_p50_ms "$(sed -n 's/.* p50_ms=\([0-9.]*\).*/\1/p' <<<"$out")" \
			"$n samples at $SAMPLE_RATE/s under ${qps:-?} q/s of dnsperf (target $LOOKUP_QPS); min-update-interval ${BENCH_MIN_UPDATE_INTERVAL:-1}"
		fig lookup_to_ptr_p99_ms "$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")" \
			"$seen of $n seen within 30 s (timeouts count as infinite)"
	else
		fig lookup_to_ptr_p50_ms n/a "no sample PTR seen (see $W/ptrwait.out)"
		fig lookup_to_ptr_p99_ms n/a "no sample PTR seen"
	fi
	fig lookup_qps_achieved "${qps:-0}" "dnsperf queries/s through the client view"
}

# named's dnstap counters (cumulative since start) from its statistics
# channel: DNSTAPsuccess = frames handed to the Frame Streams writer,
# DNSTAPdropped = frames it discarded (queue full).
dnstap_counters() { # -> "success dropped"
	local j
	j=$(curl -s --max-time 5 "http://${DROP_SERVER:-$LAB_CLIENT}:$LAB_STATS_PORT/json/v1/server") || j=
	printf '%s %s\n' "$(grep -o '"DNSTAPsuccess":[0-9]*' <<<"$j" | cut -d: -f2 || true)" \
		"$(grep -o '"DNSTAPdropped":[0-9]*' <<<"$j" | cut -d: -f2 || true)" |
		awk '{ print ($1 == "" ? 0 : $1), ($2 == "" ? 0 : $2) }'
}

# One dnsperf run (max rate, or -Q RATE) of DROP_SECONDS, or with RATE
# "once" flat out through the query file once; prints
# "completed qps named_success named_dropped lost_queries".
drop_run() { # LABEL [RATE|once]
	local c0 c1 out rate=() span=(-l "$DROP_SECONDS")
	if [[ ${2:-} == once ]]; then
		span=(-n 1)
	elif [[ -n ${2:-} ]]; then
		rate=(-Q "$2")
	fi
	c0=$(dnstap_counters)
	dnsperf -s "${DROP_SERVER:-$LAB_CLIENT}" -p "$LAB_PORT" -d "$W/queries.txt" "${span[@]}" -c 8 -T 2 -q 2000 \
		${rate[@]+"${rate[@]}"} >"$W/dnsperf.$1" 2>&1 || true
	sleep 3 # named flushes its dnstap buffers about every second
	c1=$(dnstap_counters)
	out=$(sed -n 's/.*Queries completed:[[:space:]]*\([0-9]*\).*/\1/p' "$W/dnsperf.$1")
	printf '%s %s %s %s %s\n' "${out:-0}" \
		"$(sed -n 's/.*Queries per second:[[:space:]]*\([0-9.]*\).*/\1/p' "$W/dnsperf.$1")" \
		"$(($(cut -d' ' -f1 <<<"$c1") - $(cut -d' ' -f1 <<<"$c0")))" \
		"$(($(cut -d' ' -f2 <<<"$c1") - $(cut -d' ' -f2 <<<"$c0")))" \
		"$(sed -n 's/.*Queries lost:[[:space:]]*\([0-9]*\).*/\1/p' "$W/dnsperf.$1")"
}

# ctxsw PID -> voluntary + involuntary context switches of all its threads.
ctxsw() {
	local t sum=0 v
	for t in /proc/"$1"/task/*/status; do
		v=$(awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ { s += $2 } END { print s + 0 }' "$t" 2>/dev/null || echo 0)
		sum=$((sum + v))
	done
	echo "$sum"
}

# A pass of drop_run with READER_PID reading, measuring the reader's and
# named's CPU and the reader's context switches over it. Appends one line
# "reader lost qps named_dropped_frames reader_cpu_s named_cpu_s ctxsw" to
# $W/drops.tsv.
drop_pass() { # LABEL READER_PID RATE FRAMES_BEFORE_CMD FRAMES_AFTER_CMD...
	local label=$1 rpid=$2 rate=$3 npid r q qps ok dr lost c0 c1 n0 n1 x0 x1 f0 f1 got opid o0=0 o1=0
	npid=$(<"$LAB/pids/${DROP_NAMED:-resolver}")
	# Split: the RPZ's named too (it has no clients; its CPU is the writes').
	opid=
	[[ -z ${DROP_SPLIT:-} ]] || opid=$(<"$LAB/pids/resolver")
	f0=$($4)
	c0=$(cpu_s "$rpid") n0=$(cpu_s "$npid") x0=$(ctxsw "$rpid")
	[[ -z $opid ]] || o0=$(cpu_s "$opid")
	r=$(drop_run "$label" "$rate")
	c1=$(cpu_s "$rpid") n1=$(cpu_s "$npid") x1=$(ctxsw "$rpid")
	[[ -z $opid ]] || o1=$(cpu_s "$opid")
	f1=$($4)
	got=$((f1 - f0))
	read -r q qps ok dr lost <<<"$r"
	log "drops/$label: dnsperf $q answers ($qps q/s), lost ${lost:-0}; named dnstap success=$ok dropped=$dr; reader got $got; reader CPU $(calc "$c1 - $c0" 2) s, named CPU $(calc "$n1 - $n0" 2) s, reader context switches $((x1 - x0))${opid:+, the RPZ named CPU $(calc "$o1 - $o0" 2) s}"
	printf '%s %s %s %s %s %s %s %s\n' "${label%%[0-9]*}" "${lost:-0}" "$qps" "$((ok + dr - got))" \
		"$(calc "$c1 - $c0" 2)" "$(calc "$n1 - $n0" 2)" "$((x1 - x0))" "$(calc "$o1 - $o0" 2)" >>"$W/drops.tsv"
}

agent_frames() { agent_stat "$ALAB_PID" "$LAB_AGENT_LOG" frames; }
capture_frames() { # fstrm_capture only says at exit; counted from its log then
	echo 0
}

# Readers swap on the same named: the agent (as the lab runs it, optionally
# under DROP_AGENT_WRAP, e.g. "nice -n 10" or "chrt -b 0") and fstrm_capture.
drops_start_capture() {
	lab_stop_agent TERM
	rm -f "$LAB_SOCK"
	fstrm_capture -t protobuf:dnstap.Dnstap -u "$LAB_SOCK" -w "$W/drops.fstrm" >"$W/cap-drops.log" 2>&1 &
	CAP_PID=$!
	PIDS+=("$CAP_PID")
	wait_sock "$LAB_SOCK" "$CAP_PID" 10
	lab_rndc dnstap -reopen >/dev/null
	lab__wait_dnstap 5000
}
drops_start_agent() {
	stop_pid "$CAP_PID"
	rm -f "$LAB_SOCK"
	# shellcheck disable=SC2206 # the wrapper is words on purpose
	[[ -z ${DROP_AGENT_WRAP:-} ]] || LAB_AGENT_ARGV=($DROP_AGENT_WRAP "$LAB_AGENT" -c "$LAB_AGENT_CONF")
	local n0
	n0=$(grep -c 'reconcile: zone' "$LAB_AGENT_LOG" || true)
	lab_start_agent
	LAB_AGENT_ARGV=()
	ALAB_PID=$(<"$LAB/pids/agent")
	# Its start-up reconcile (an AXFR of the whole RPZ from named) is done
	# before the pass, not during it.
	local i
	for ((i = 0; i < 600; i++)); do
		(($(grep -c 'reconcile: zone' "$LAB_AGENT_LOG" || true) > n0)) && break
		sleep 0.1
	done
	sleep "$SETTLE"
}

# Waits (up to 10 min) until the agent has nothing queued for BIND.
drops_wait_drained() {
	local i q
	for ((i = 0; i < 600; i++)); do
		q=$(agent_stat "$ALAB_PID" "$LAB_AGENT_LOG" queued)
		[[ ${q:-1} == 0 ]] && return 0
		sleep 1
	done
	log "warning: drops: the agent still had ${q:-?} addresses queued after 10 min"
}

drops_agent_pass() { # K RATE
	local r0 r1
	r0=$(agent_stat "$ALAB_PID" "$LAB_AGENT_LOG" records)
	drop_pass "agent$1" "$ALAB_PID" "$2" agent_frames
	r1=$(agent_stat "$ALAB_PID" "$LAB_AGENT_LOG" records)
	echo "$((${r1:-0} - ${r0:-0}))" >>"$W/drops.records"
}
drops_capture_pass() { # K RATE
	local got ok_dr
	drops_start_capture
	drop_pass "capture$1" "$CAP_PID" "$2" capture_frames
	stop_pid "$CAP_PID"
	# fstrm_capture's count (its log, at exit) includes the START and STOP
	# frames of its file; fix the last line's dropped column with it.
	got=$(sed -n 's/.*wrote \([0-9]*\) frames.*/\1/p' "$W/cap-drops.log")
	ok_dr=$(tail -n 1 "$W/drops.tsv" | cut -d' ' -f4)
	if [[ -n $got ]]; then
		sed -i "\$s/^\(capture [^ ]* [^ ]*\) [^ ]*/\1 $((ok_dr - got + 2))/" "$W/drops.tsv"
	fi
	drops_start_agent
}

# dnstap loss and lost queries at the same capped rate with the agent and with
# fstrm_capture as the reader, DROP_PAIRS interleaved pairs in alternating
# order. First one unmeasured flat-out pass with the agent, once through the
# whole query file: it finds the rate this machine sustains, fills named's
# cache with every name of the file and teaches the agent every address,
# which it writes into the RPZ before the measured passes start (the steady
# state of a resolver whose clients keep asking for names it has seen: the
# agent's writes are then the metadata refreshes of txt-refresh-*).
# DROP_FLOOD=1 instead: the warm-up is DROP_SECONDS long and the measured
# passes keep bringing names the agent has not seen (those of the capture
# passes among them), so it writes new addresses throughout. Per pass:
# dnsperf's lost queries, named's dnstap frames not received (success +
# dropped - the reader's count), the reader's and named's CPU, the reader's
# context switches, the records the agent wrote. Figures: medians per
# reader, and the target of issue 14 (lost with the agent <= 1.2 x lost with
# fstrm_capture).
# DROP_SPLIT=1: the RPZ on its own named. The clients' resolver ("front",
# the lab's shipped options.conf, view-client.conf and statistics.conf, no
# xray view) sends its dnstap to the agent; the agent writes the RPZ to the
# lab's other named (the xray view, the RPZ primary), which runs at nice
# DROP_XRAY_NICE (default 10, every thread), as a unit's Nice= would. The
# resolver then does no UPDATE or policy work at all; what is left of the
# agent's cost to it is the reading, and the two nameds share the CPU as
# the scheduler decides.
drops_xray_sched() {
	if [[ -n ${DROP_XRAY_IDLE:-} ]]; then echo "SCHED_IDLE"; else echo "nice ${DROP_XRAY_NICE:-10}"; fi
}
drops_split_setup() {
	local xpid t
	LAB_RESOLVER_STATS_PORT=$LAB_STATS_PORT lab_start_resolver front 6
	DROP_SERVER=$LAB_NET.6
	DROP_NAMED=front
	lab_stop_agent TERM
	LAB_SOCK=$LAB/front/dnstap.sock
	sed -i "s|^dnstap-socket .*|dnstap-socket $LAB_SOCK|" "$LAB_AGENT_CONF"
	xpid=$(<"$LAB/pids/resolver")
	# DROP_XRAY_IDLE=1: SCHED_IDLE instead (a unit's CPUSchedulingPolicy=idle):
	# it runs only on a CPU nothing else wants.
	for t in /proc/"$xpid"/task/*; do
		if [[ -n ${DROP_XRAY_IDLE:-} ]]; then
			chrt -i -p 0 "${t##*/}" >/dev/null
		else
			renice -n "${DROP_XRAY_NICE:-10}" -p "${t##*/}" >/dev/null
		fi
	done
	log "drops: split: clients' resolver $DROP_SERVER (pid $(<"$LAB/pids/front")), RPZ on the xray named (pid $xpid) at $(drops_xray_sched)"
	lab_start_agent
	ALAB_PID=$(<"$LAB/pids/agent")
	sleep "$SETTLE"
}

drops() {
	local r ceiling k line
	: >"$W/drops.tsv"
	: >"$W/drops.records"
	[[ -z ${DROP_SPLIT:-} ]] || drops_split_setup
	if [[ -n ${DROP_FLOOD:-} ]]; then
		r=$(drop_run ceiling)
	else
		r=$(drop_run ceiling once)
	fi
	read -r _ ceiling _ <<<"$r"
	ceiling=${ceiling%.*}
	log "drops: flat-out pass reached ${ceiling:-?} q/s; every measured pass is capped at that rate"
	if [[ -n ${DROP_RATE:-} ]]; then
		# The warm-up's ceiling depends on what the agent writes meanwhile;
		# comparing two configurations wants one rate for both.
		ceiling=$DROP_RATE
		log "drops: DROP_RATE: the measured passes are capped at $ceiling q/s instead"
	fi
	if [[ -z ${DROP_FLOOD:-} ]]; then
		drops_wait_drained
		log "drops: the agent has written what the warm-up taught it"
	fi
	fig drop_test_qps_ceiling "${ceiling:-0}" \
		"flat-out dnsperf q/s, agent reading and writing the RPZ$([[ -z ${DROP_SPLIT:-} ]] || echo " (split: to its own named at $(drops_xray_sched))"); every measured pass is capped (-Q) at this$([[ -z ${DROP_RATE:-} ]] || echo " (DROP_RATE: set, not measured)")"
	# DROP_AGENT_DRY=1: the measured passes with the agent in dry-run (it
	# reads and learns, sends nothing to BIND): the reader's cost alone.
	if [[ -n ${DROP_AGENT_WRAP:-} || -n ${DROP_AGENT_DRY:-} ]]; then
		lab_stop_agent TERM
		[[ -z ${DROP_AGENT_DRY:-} ]] || echo "dry-run yes" >>"$LAB_AGENT_CONF"
		CAP_PID=
		drops_start_agent
	fi
	sleep 2
	# Alternating order (agent first in odd pairs, fstrm_capture first in
	# even ones): whatever drifts from one pass to the next (the query file's
	# position, named's cache and journal) falls on both readers alike.
	for ((k = 1; k <= DROP_PAIRS; k++)); do
		if ((k % 2)); then
			drops_agent_pass "$k" "${ceiling:-}"
			drops_capture_pass "$k" "${ceiling:-}"
		else
			drops_capture_pass "$k" "${ceiling:-}"
			drops_agent_pass "$k" "${ceiling:-}"
		fi
	done
	sed 's/^/# drops pass: /' "$W/drops.tsv" >&2
	med() { # READER COLUMN
		awk -v r="$1" -v c="$2" '$1 == r { print $c }' "$W/drops.tsv" | median
	}
	local la lc
	la=$(med agent 2)
	lc=$(med capture 2)
	fig dnsperf_lost_with_agent "$la" "median over $DROP_PAIRS passes of queries dnsperf got no answer to (5 s), agent reading and $([[ -n ${DROP_AGENT_DRY:-} ]] && echo "in dry-run (writing nothing)" || echo "writing the RPZ")${DROP_AGENT_WRAP:+ under '$DROP_AGENT_WRAP'}; passes: $(awk '$1 == "agent" { printf "%s ", $2 }' "$W/drops.tsv")"
	fig dnsperf_lost_with_fstrm_capture "$lc" "the same with fstrm_capture reading, interleaved; passes: $(awk '$1 == "capture" { printf "%s ", $2 }' "$W/drops.tsv")"
	fig dnsperf_lost_agent_vs_capture "$(calc "($la + 1) / ($lc + 1)" 2)" "(median lost with the agent + 1) / (with fstrm_capture + 1); issue 14 target: lost with the agent <= 1.2 x with fstrm_capture: $(awk -v a="$la" -v c="$lc" 'BEGIN { print (a <= 1.2 * c ? "met" : "NOT met") }')"
	fig drops_agent_records_per_s "$(calc "$(median <"$W/drops.records") / $DROP_SECONDS" 0)" "records the agent wrote into the RPZ during its passes, per second (median; $([[ -n ${DROP_FLOOD:-} ]] && echo "flood: names the agent has not seen" || echo "steady state: the names of the query file were learned and written before"))"
	fig bind_dnstap_dropped_with_agent "$(med agent 4)" "median of named success+dropped - agent frames per pass ($DROP_SECONDS s)"
	fig bind_dnstap_dropped_with_fstrm_capture "$(med capture 4)" "the same for fstrm_capture"
	fig drop_test_qps_agent "$(med agent 3)" "median dnsperf q/s with the agent reading"
	fig drop_test_qps_capture "$(med capture 3)" "median dnsperf q/s with fstrm_capture reading"
	fig drops_reader_cpu_pct_agent "$(calc "100 * $(med agent 5) / $DROP_SECONDS" 1)" "the agent's CPU over a pass, % of one core (median)"
	fig drops_reader_cpu_pct_capture "$(calc "100 * $(med capture 5) / $DROP_SECONDS" 1)" "fstrm_capture's CPU over a pass, % of one core (median)"
	fig drops_named_cpu_pct_agent "$(calc "100 * $(med agent 6) / $DROP_SECONDS" 1)" "named's CPU during the agent's passes, % of one core (median)"
	fig drops_named_cpu_pct_capture "$(calc "100 * $(med capture 6) / $DROP_SECONDS" 1)" "named's CPU during fstrm_capture's passes (median)"
	fig drops_reader_ctxsw_per_s_agent "$(calc "$(med agent 7) / $DROP_SECONDS" 0)" "the agent's context switches per second (all threads, median)"
	fig drops_reader_ctxsw_per_s_capture "$(calc "$(med capture 7) / $DROP_SECONDS" 0)" "fstrm_capture's (median)"
	if [[ -n ${DROP_SPLIT:-} ]]; then
		fig drops_rpz_named_cpu_pct_agent "$(calc "100 * $(med agent 8) / $DROP_SECONDS" 1)" "split: the RPZ's own named during the agent's passes, % of one core (median)"
	fi
}

# ------------------------------------------------------------------ reload
# Restart with RELOAD_N addresses (reload_1m_s). The state is made the fast
# way, not by minutes of UPDATEs: a dry-run agent learns RELOAD_N addresses
# (rv-loadgen --sequential: one name each) and writes its snapshot at SIGTERM;
# the RPZ zone file is written from that snapshot in the agent's own record
# format (see snap_to_zone). named then loads that zone, and a real agent is
# started on it with that snapshot. Times are from the agent's launch to its
# log lines (their ISO timestamps).

# Writes the zone the agent would have written for the table in snapshot SNAP
# (agent/snapshot.h format; big-endian): per address "<reverse name>.<zone>
# PTR <best name>." and TXT "first=F last=L count=C depth=D" (rv_rpz_format_txt).
# Every address has one candidate here (--sequential), so best = the only one;
# if a file had more, the most counted one is written and the reconcile would
# show the difference as "rewritten".
snap_to_zone() { # SNAP ZONEFILE TTL
	python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
snap, out, ttl = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = open(snap, 'rb').read()
if b[:6] != b'RVSNAP':
    sys.exit(f'{snap}: not a snapshot')
version, created, n = struct.unpack_from('>HqQ', b, 6)
if version != 1:
    sys.exit(f'{snap}: snapshot version {version}, this script reads 1')
off, lines, multi = 24, [], 0
lines.append(f'$TTL {ttl}\n@ IN SOA localhost. hostmaster.localhost. 1 3600 600 864000 10\n'
             '@ IN NS localhost.\n')
cand = struct.Struct('>qqQQBI')
for _ in range(n):
    fam, a, nc = b[off], b[off + 1:off + 17], b[off + 17]
    off += 18
    best = None
    for _ in range(nc):
        (ln,) = struct.unpack_from('>H', b, off)
        name = b[off + 2:off + 2 + ln].decode('ascii')
        off += 2 + ln
        first, last, count, _freq, depth, _ttl = cand.unpack_from(b, off)
        off += cand.size
        if best is None or count > best[3]:
            best = (name, first, last, count, depth)
    multi += nc > 1
    if fam == 4:
        owner = f'{a[3]}.{a[2]}.{a[1]}.{a[0]}.in-addr.arpa'
    else:
        owner = '.'.join(f'{x & 15:x}.{x >> 4:x}' for x in reversed(a)) + '.ip6.arpa'
    name, first, last, count, depth = best
    lines.append(f'{owner} PTR {name}.\n'
                 f'{owner} TXT "first={first} last={last} count={count} depth={depth}"\n')
if off + 8 != len(b):
    sys.exit(f'{snap}: {len(b) - off - 8} unexpected bytes after {n} entries')
with open(out, 'w') as f:
    f.writelines(lines)
print(f'{n} addresses, {multi} with more than one candidate')
PY
}

# The last agent log line (after line SKIP) matching REGEX, waiting up to
# TIMEOUT_S: sets LOGLINE and LOGTIME (epoch seconds, from the line's ISO 8601
# UTC timestamp); returns 1 if none came.
agent_log_time() { # SKIP REGEX TIMEOUT_S
	local deadline
	deadline=$(calc "$(now) + $3" 3)
	while :; do
		LOGLINE=$(tail -n +"$(($1 + 1))" "$LAB_AGENT_LOG" | grep -E -- "$2" | tail -n 1 || true)
		if [[ -n $LOGLINE ]]; then
			LOGTIME=$(date -d "${LOGLINE%% *}" +%s.%N)
			return 0
		fi
		if ! alive "$ALAB_PID" || [[ $(calc "$(now) > $deadline" 0) == 1 ]]; then return 1; fi
		sleep 0.05
	done
}

# Polls the xray view until every "address TAB name" line of file $1 is
# answered with its name (one dig process per round, all the PTR queries in
# it; names are unique per address); prints the epoch time it happened (or
# nothing after $2 s).
ptrs_served_at() { # SAMPLE_FILE TIMEOUT_S
	local deadline args=() want=() a w got n
	deadline=$(calc "$(now) + $2" 3)
	while IFS=$'\t' read -r a w; do
		args+=(-x "$a")
		want+=("$w.")
	done <"$1"
	while :; do
		got=$(dig @"$LAB_XRAY" -p "$LAB_PORT" +time=1 +tries=1 +short "${args[@]}" 2>/dev/null || true)
		n=0
		for w in "${want[@]}"; do
			grep -qxF -- "$w" <<<"$got" && n=$((n + 1))
		done
		((n == ${#want[@]})) && break
		[[ $(calc "$(now) > $deadline" 0) == 1 ]] && return 0
		sleep 0.05
	done
	now
}

# CPU seconds (user + system) process PID has used so far.
cpu_s() { # PID
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}

# One agent start on the prepared zone; figures reload_1m${SFX}_*.
reload_run() { # SUFFIX DESCRIPTION
	local sfx=$1 what=$2 skip t0 tptr spid re n matched rewritten adopted resent records cpu ncpu0 ncpu
	local npid
	npid=$(<"$LAB/pids/resolver")
	skip=$(wc -l <"$LAB_AGENT_LOG")
	ncpu0=$(cpu_s "$npid")
	t0=$(now)
	# (c) sampled PTRs through the xray view, polled from the agent's launch on.
	ptrs_served_at "$W/reload.sample" 60 >"$W/reload$sfx.ptrs" &
	spid=$!
	PIDS+=("$spid")
	lab_start_agent
	ALAB_PID=$(<"$LAB/pids/agent")
	if agent_log_time "$skip" 'snapshot: (loaded|no snapshot)' 120; then
		log "reload$sfx: $LOGLINE"
		if [[ $LOGLINE == *loaded* ]]; then
			fig "reload_1m${sfx}_snapshot_loaded_s" "$(calc "$LOGTIME - $t0" 2)" \
				"agent launch -> 'snapshot: loaded N addresses' ($what)"
		fi
	fi
	wait "$spid" || true
	tptr=$(<"$W/reload$sfx.ptrs")
	if [[ -n $tptr ]]; then
		fig "reload_1m${sfx}_ptrs_served_s" "$(calc "$tptr - $t0" 2)" \
			"agent launch -> all 11 sampled PTRs answered by the xray view (named serves the zone throughout)"
	else
		fig "reload_1m${sfx}_ptrs_served_s" n/a "sampled PTRs not all answered within 60 s"
	fi
	# The expiry timer's first run is 60 s after the start, and rv-loadgen's
	# dnstap times are from 2024: the reconcile must be done before then.
	if agent_log_time "$skip" 'reconcile: zone .* addresses, ' 55; then
		log "reload$sfx: $LOGLINE"
		re=${LOGLINE#*: zone }
		n=$(sed -n 's/.*: \([0-9]*\) addresses,.*/\1/p' <<<"$re")
		matched=$(sed -n 's/.* \([0-9]*\) matched,.*/\1/p' <<<"$re")
		rewritten=$(sed -n 's/.* \([0-9]*\) rewritten,.*/\1/p' <<<"$re")
		adopted=$(sed -n 's/.* \([0-9]*\) adopted,.*/\1/p' <<<"$re")
		resent=$(sed -n 's/.* \([0-9]*\) re-sent,.*/\1/p' <<<"$re")
		cpu=$(cpu_s "$ALAB_PID") # idle from here on
		ncpu=$(cpu_s "$npid")
		sleep 1
		records=$(agent_stat "$ALAB_PID" "$LAB_AGENT_LOG" records)
		fig "reload_1m${sfx}_s" "$(calc "$LOGTIME - $t0" 2)" \
			"agent launch -> startup AXFR reconcile done ($what; $RELOAD_N addresses)"
		fig "reload_1m${sfx}_agent_cpu_s" "$cpu" \
			"CPU seconds (user+sys) the agent used from launch to that point: less noisy than wall clock"
		fig "reload_1m${sfx}_named_cpu_s" "$(calc "$ncpu - $ncpu0" 2)" \
			"CPU seconds named used meanwhile (the AXFR; no queries; includes the sample digs)"
		fig "reload_1m${sfx}_matched" "$matched" \
			"reconcile: of $n addresses in the zone, equal to the table ($rewritten rewritten)"
		fig "reload_1m${sfx}_adopted" "$adopted" "reconcile: zone entries the table lacked, adopted"
		fig "reload_1m${sfx}_resent" "$resent" \
			"reconcile: table entries the zone lacked; records the agent UPDATEd after it: ${records:-?}"
		[[ ${records:-x} == 0 ]] || log "warning: reload$sfx: the agent wrote ${records:-?} records after the reconcile"
	else
		fig "reload_1m${sfx}_s" n/a "no 'reconcile: zone ...' line within 55 s (see $W/lab-agent.log)"
	fi
}

reload() {
	local t0 learned
	# 1. The state: a dry-run agent learns RELOAD_N addresses and saves them.
	start_dry_agent reload "max-addresses $((RELOAD_N + 1000))
snapshot-file $W/reload.snap"
	"$LOADGEN" --seed 11 --time-base now --sequential --count $RELOAD_N --names $RELOAD_N --addresses $RELOAD_N \
		--unix "$W/reload.sock" --expect-out "$W/reload.expect" >/dev/null 2>&1
	learned=$(agent_stat "$APID" "$W/reload.log" learned)
	[[ $learned == "$RELOAD_N" ]] || log "warning: reload: dry-run agent learned $learned, want $RELOAD_N"
	stop_pid "$APID" 120 # SIGTERM: the snapshot is written on the way out
	grep -q 'snapshot: saved' "$W/reload.log" || { log "reload: no snapshot written"; cat "$W/reload.log" >&2; return 1; }
	log "reload: $(snap_to_zone "$W/reload.snap" "$W/reload.zone" 600) -> $(wc -l <"$W/reload.zone") zone lines"
	awk -v n="$RELOAD_N" 'NR % int(n / 10) == 0 || NR == n' "$W/reload.expect" >"$W/reload.sample"

	# 2. named on that zone (no journal), the agent stopped meanwhile.
	lab_stop_agent TERM
	lab_stop_bind
	rm -f "$LAB/resolver/zones/$LAB_RPZ.db.jnl" "$LAB/state.snap"
	cp "$W/reload.zone" "$LAB/resolver/zones/$LAB_RPZ.db"
	LAB_RESOLVER_LOGGING_EXTRA=
	t0=$(now)
	# lab_start_bind gives named 30 s; loading a 1M-address RPZ took 16-31 s
	# here, so start it from lab.sh's parts with a longer wait.
	lab__write_resolver
	lab__start_named resolver
	lab__wait_for resolver "$(<"$LAB/pids/resolver")" 300 lab__bind_ready
	fig reload_1m_named_load_s "$(calc "$(now) - $t0" 2)" \
		"named start -> answering from the $RELOAD_N-address RPZ (context, not part of reload_1m_s)"
	[[ -n $(ptrs_served_at "$W/reload.sample" 10) ]] || log "warning: reload: named does not serve the sampled PTRs"

	# 3. The agent with the snapshot, then (SIGTERM, snapshot deleted) without.
	cp "$W/reload.snap" "$LAB/state.snap"
	reload_run "" "with the snapshot"
	lab_stop_agent TERM
	rm -f "$LAB/state.snap"
	reload_run _nosnap "without a snapshot: adopts the zone"
	lab_stop_agent TERM
}

# ------------------------------------------------------------------ report
# rearview-report on a REPORT_N-address RPZ (the issue's numbers: transfer +
# report <= 10 s wall, <= 300 MB peak RSS). The zone comes from
# tests/bench/gen-report-zone.py (the agent's TXT format; 5x fewer names than
# addresses, as CDN and hoster names repeat); named loads it as the lab's RPZ,
# as the reload part does, and the report reads it by TSIG-signed AXFR from
# the xray view, as an analyst would. Wall and peak RSS by /usr/bin/time of
# the whole process (table output to /dev/null). The same file read directly
# (--zone-file) is measured too. Then --compare-ptr: REPORT_CMP_N addresses
# looked up through the lab's resolver (client view); their reverse zones are
# named's built-in empty zones (10/8, 2001:db8::/32), so the rate is the
# tool's and named's, not the internet's.
report_timed() { # OUT_PREFIX ARGS... -> sets RT_S and RT_MB (empty on failure)
	local pfx=$1 rc=0
	shift
	RT_S= RT_MB=
	/usr/bin/time -f '%e %M' -o "$pfx.time" "$REPORT" "$@" >/dev/null 2>"$pfx.err" || rc=$?
	if ((rc != 0)); then
		log "report: exit $rc: $(head -c 300 "$pfx.err")"
		return 1
	fi
	read -r RT_S RT_MB < <(tail -n 1 "$pfx.time")
	RT_MB=$(calc "$RT_MB / 1024" 0)
}

report_part() {
	local gen=$SRCDIR/tests/bench/gen-report-zone.py zf=$W/report.zone cz=$W/report-cmp.zone t0 rate
	python3 "$gen" --zone "$LAB_RPZ" "$REPORT_N" >"$zf"
	python3 "$gen" --zone "$LAB_RPZ" "$REPORT_CMP_N" >"$cz"
	# (a) from a file, no DNS: the parse and the report alone.
	if report_timed "$W/report-file" --zone-file "$zf" --zone "$LAB_RPZ"; then
		fig report_1m_zonefile_s "$RT_S" "rearview-report --zone-file, $REPORT_N addresses, table (context)"
		fig report_1m_zonefile_rss_mb "$RT_MB" "peak RSS of that run, MB"
	else
		fig report_1m_zonefile_s n/a "rearview-report --zone-file failed (see $W/report-file.err)"
		fig report_1m_zonefile_rss_mb n/a "rearview-report --zone-file failed"
	fi
	# (b) named serves it; the report transfers it.
	lab_stop_agent TERM
	lab_stop_bind
	rm -f "$LAB/resolver/zones/$LAB_RPZ.db.jnl" "$LAB/state.snap"
	cp "$zf" "$LAB/resolver/zones/$LAB_RPZ.db"
	LAB_RESOLVER_LOGGING_EXTRA=
	t0=$(now)
	lab__write_resolver
	lab__start_named resolver
	if ! lab__wait_for resolver "$(<"$LAB/pids/resolver")" 300 lab__bind_ready; then
		fig report_1m_s n/a "named did not load the $REPORT_N-address RPZ within 300 s"
		fig report_1m_rss_mb n/a "named did not load the RPZ"
	else
		log "report: named loaded the $REPORT_N-address RPZ in $(calc "$(now) - $t0" 1) s"
		if report_timed "$W/report-axfr" --server "$LAB_XRAY#$LAB_PORT" --zone "$LAB_RPZ" \
			--key-file "$LAB/rearview.key" --key-name "$LAB_KEY_NAME" --transfer-timeout 60000; then
			fig report_1m_s "$RT_S" "TSIG AXFR of $REPORT_N addresses from named + report (table), wall; target <= 10"
			fig report_1m_rss_mb "$RT_MB" "peak RSS of that run, MB; target <= 300"
			# The reference, same zone, same server, same run: the transfer
			# alone, as dig does it (TSIG, output discarded).
			local td
			td=$(now)
			if dig @"$LAB_XRAY" -p "$LAB_PORT" -k "$LAB/rearview.key" +time=60 +tries=1 \
				AXFR "$LAB_RPZ" >/dev/null 2>&1; then
				td=$(calc "$(now) - $td" 2)
				fig report_1m_dig_axfr_s "$td" "dig AXFR of the same zone from the same named, output discarded (reference)"
				fig report_1m_vs_dig "$(calc "$RT_S / $td" 2)" "report_1m_s / report_1m_dig_axfr_s"
			else
				fig report_1m_dig_axfr_s n/a "dig AXFR failed"
				fig report_1m_vs_dig n/a "dig AXFR failed"
			fi
		else
			fig report_1m_s n/a "rearview-report --server failed (see $W/report-axfr.err)"
			fig report_1m_rss_mb n/a "rearview-report --server failed"
		fi
	fi
	# (c) --compare-ptr against the lab's resolver.
	RV_REPORT_PROGRESS=1 "$REPORT" --zone-file "$cz" --zone "$LAB_RPZ" \
		--compare-ptr "$LAB_CLIENT#$LAB_PORT" >/dev/null 2>"$W/report-cmp.err" || true
	rate=$(sed -n 's/^compare-ptr: \([0-9]*\) lookups in .*, \([0-9]*\) lookups\/s$/\2/p' "$W/report-cmp.err" | tail -n 1)
	if [[ -n $rate ]]; then
		fig report_compare_ptr_qps "$rate" \
			"--compare-ptr, $REPORT_CMP_N PTR lookups through the lab resolver (concurrency 64), lookups/s"
	else
		fig report_compare_ptr_qps n/a "no rate line from --compare-ptr (see $W/report-cmp.err)"
	fi
}

lab_part() {
	# The generated upstream zone: LOOKUP_NAMES names (+ samples), chains of
	# depth 0-4, 1-4 addresses each; addresses disjoint from the burst's.
	"$LOADGEN" --seed $SEED --domain bench.test --names $LOOKUP_NAMES --samples $LOOKUP_SAMPLES \
		--addr-offset 8388608 --count $((LOOKUP_QPS * 60)) \
		--zone-out "$W/bench.test.db" --queries-out "$W/queries.txt" --samples-out "$W/samples.tsv" \
		>/dev/null 2>&1
	# rpz: the same 100k burst into an empty RPZ, first with named's `update`
	# log category discarded (named logs every added RR at info, which costs
	# about half of its UPDATE CPU), then as shipped, each beside nsupdate
	# writing the same records (rpz_part); lookup and drops then run on the
	# RPZ the agent's last burst filled.
	if want rpz; then
		rpz_part
	else
		lab_setup
	fi
	if want lookup; then
		# BENCH_LOOKUP_WARM=1: first one flat-out pass through the whole
		# query file and the agent's queue drained, so the samples meet the
		# steady state (a full policy zone, known names re-asked, a trickle
		# of new ones) instead of a zone growing from empty.
		if [[ -n ${BENCH_LOOKUP_WARM:-} ]]; then
			drop_run lookupwarm once >/dev/null
			drops_wait_drained
			log "lookup: warmed up: $(agent_stat "$ALAB_PID" "$LAB_AGENT_LOG" size) addresses in the table"
		fi
		lookup_latency
	fi
	if want drops; then drops; fi
	if want reload; then reload; fi
	if want report; then log "report..."; report_part; fi
	cp "$LAB_AGENT_LOG" "$W/lab-agent.log" 2>/dev/null || true
	cp "$LAB/resolver/named.log" "$W/lab-named.log" 2>/dev/null || true
	lab_stop 0
	LAB=
}

# ------------------------------------------------------------------ run
T_START=$(now)
if want ingest; then log "ingest..."; ingest; fi
if want history; then log "history..."; hist_part; fi
if want scrape; then log "scrape..."; scrape_part; fi
if want cg; then log "callgrind..."; callgrind_fig; fi
if want rss; then
	log "rss..."
	rss_one $RSS_SMALL 100k
	rss_one $RSS_LARGE 1m
fi
if want encode; then log "encode..."; encode; fi
if want fleet; then log "fleet..."; fleet; fi
if want floor; then log "floor (named's own dnstap delivery, $FLOOR_N lookups)..."; floor_part; fi
if want fleetlab; then log "fleetlab (the whole fleet, $FLEETLAB_N lookups)..."; fleetlab; fi
if want rpz || want lookup || want drops || want reload || want report; then log "BIND lab..."; lab_part; fi

# ------------------------------------------------------------------ report
printf '\n%-40s %14s  %s\n' figure value notes
printf '%-40s %14s  %s\n' ---------------------------------------- -------------- -----
for k in "${FIG_NAMES[@]}"; do
	printf '%-40s %14s  %s\n' "$k" "${FIG[$k]}" "${FIG_NOTE[$k]}"
done
printf '\n# machine: %s x %s, %s GiB; agent %s; smoke=%s; %.0f s\n' "$(nproc)" "$CPU" "$MEM_GB" \
	"$AGENT_VER" "$SMOKE" "$(calc "$(now) - $T_START" 0)"
if ((SMOKE)); then
	echo "# smoke sizes: ingest $INGEST_N frames, callgrind $CG_N, rss $RSS_SMALL/$RSS_LARGE (named _100k/_1m), burst $BURST_N, lookups $LOOKUP_QPS q/s, reload $RELOAD_N (named _1m), report $REPORT_N/$REPORT_CMP_N (named _1m)"
fi
for k in "${FIG_NAMES[@]}"; do
	if [[ ${FIG[$k]} == n/a ]]; then
		printf '%s n/a (%s)\n' "$k" "${FIG_NOTE[$k]}"
	else
		printf '%s %s\n' "$k" "${FIG[$k]}"
	fi
done
# A smoke run exists to prove the tooling works end to end: a figure it could
# not measure means something is broken, so fail (figures themselves are not
# judged here: BENCHMARKS.md compares them with the targets).
if ((SMOKE)); then
	unmeasured=0
	for k in "${FIG_NAMES[@]}"; do
		[[ ${FIG[$k]} == n/a ]] && unmeasured=$((unmeasured + 1))
	done
	if ((unmeasured > 0)); then
		echo "bench.sh --smoke: $unmeasured figure(s) could not be measured" >&2
		exit 1
	fi
fi
