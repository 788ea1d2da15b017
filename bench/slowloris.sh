#!/usr/bin/env bash
# Slow and idle clients against one tenant, throughput of another: tenant b is measured with wrk
# (keep-alive, then a new connection per request) alone, then while tenant a's site holds
# 10 000 idle keep-alive connections (bench/tools/holdopen.c) and slowhttptest keeps 4 000
# slow-header connections (slowloris) open against it. Also the memory of the dispatcher and of
# tenant a's worker during the attack and after it. One run, loopback only.
# Single runs of wrk on a shared machine differ by 20-25 % from one to the next with nothing else
# changed, and drift over minutes; one measurement before and one during the attack cannot tell
# that from the attack's effect. So the attack is opened and closed ROUNDS times of each kind, and
# b is measured alone between every two attacks and at both ends (alone, equal, alone, capped,
# alone, ...; D seconds of keep-alive and D of new connections each time): each attack round is
# compared with the mean of the alone rounds on either side of it, and the median of those ratios
# is the figure, printed with the ratios it comes from.
#
# The attack's clients run on the same two cores as the server and wrk. Two things of theirs are
# not the server's doing and are kept apart:
#  - they reach the server on its second address (127.0.0.2), as an attacker comes from its own
#    addresses: 14 000 connections from 127.0.0.1 to 127.0.0.1:PORT would leave wrk's connect()
#    searching that one address pair's ephemeral ports (__inet_hash_connect), in wrk's kernel time;
#  - the attack is measured twice: once with its clients at an equal share of the cores, once with
#    them moved, after they have opened everything, into a cgroup capped at 10 % of one core
#    (slowhttptest polls its 4 000 sockets without pause and otherwise takes a third of the
#    machine). The capped clients still keep every connection open and send their header lines.
# The CPU itkd itself spends on the attack (the dispatcher holding the slow heads, tenant a's
# worker holding the idle connections) is printed beside the figures.
# usage: bench/slowloris.sh path/to/itkd [seconds] [idle] [slow] [rounds]
set -euo pipefail
ITKD=$(readlink -f "${1:?give the itkd executable}"); D=${2:-5}; IDLE=${3:-10000}; SLOW=${4:-4000}; ROUNDS=${5:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
export W=/tmp/itkbench-slow
. "$HERE/common.sh"
PORT=18092 ATTACK=127.0.0.2
CAP=
cleanup() {
  stop_attack
  [ -n "${IPID:-}" ] && kill "$IPID" 2>/dev/null || true
  sleep 1
  [ -n "$CAP" ] && rmdir "$CAP" 2>/dev/null || true
  for u in a b; do userdel "itkbs-$u" 2>/dev/null || true; done
  rm -rf "$W"
}
stop_attack() {
  [ -n "${HOLD:-}" ] && kill "$HOLD" 2>/dev/null || true
  [ -n "${SLOWPID:-}" ] && kill "$SLOWPID" 2>/dev/null || true
  [ -n "${SLOWPID:-}" ] && wait "$SLOWPID" 2>/dev/null || true
  [ -n "${HOLD:-}" ] && wait "$HOLD" 2>/dev/null || true
  HOLD= SLOWPID=
}
trap cleanup EXIT
# A cgroup capping the attack's clients at 10 % of one core (v2, else v1's cpu controller).
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
  CAP=/sys/fs/cgroup/itkbench-attack; mkdir -p "$CAP"; echo "10000 100000" > "$CAP/cpu.max"
elif [ -d /sys/fs/cgroup/cpu ]; then
  CAP=/sys/fs/cgroup/cpu/itkbench-attack; mkdir -p "$CAP"
  echo 100000 > "$CAP/cpu.cfs_period_us"; echo 10000 > "$CAP/cpu.cfs_quota_us"
else
  echo "no cgroup cpu controller: the capped attack is skipped" >&2
fi
mkdir -p "$W"; chmod 0755 "$W"
gcc -O2 -o "$W/holdopen" "$HERE/tools/holdopen.c"
for u in a b; do
  id "itkbs-$u" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "itkbs-$u"
  mkdir -p "$W/$u"; head -c 1024 /dev/zero | tr '\0' "$u" > "$W/$u/index.html"
  chown -R "itkbs-$u:itkbs-$u" "$W/$u"; chmod 0750 "$W/$u"
done
{
  # The attack's connections are meant to stay for the whole measurement: a long head timeout (the
  # slow headers sit in the dispatcher) and a long keep-alive (the idle ones sit in the worker).
  printf 'Listen 127.0.0.1:%s\nListen %s:%s\nUser www-data\nGroup www-data\nDirectoryIndex index.html\nRequestReadTimeout header=120\nKeepAliveTimeout 120\n' $PORT $ATTACK $PORT
  for u in a b; do printf '<VirtualHost *:%s>\n  ServerName %s.test\n  DocumentRoot %s/%s\n  AssignUserID itkbs-%s itkbs-%s\n</VirtualHost>\n' $PORT "$u" "$W" "$u" "$u" "$u"; done
} > "$W/itkd.conf"
ulimit -n "$(ulimit -Hn)"
# the worker idle timeout outlasts the run: tenant a's worker is the one whose memory is followed
"$ITKD" --config "$W/itkd.conf" --control-socket "$W/itkd.sock" --worker-idle-timeout 3600 > "$W/itkd.out" 2>&1 & IPID=$!
for _ in $(seq 1 100); do curl -s -o /dev/null -H 'Host: b.test' "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
curl -s -o /dev/null -H 'Host: a.test' "http://127.0.0.1:$PORT/"
pid_of() { ps -eo pid=,ppid=,args= | awk -v m="$IPID" -v t="$1" '$2 == m && index($0, t) {print $1; exit}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
ticks() { local s t=0; for p in "$@"; do [ -r "/proc/$p/stat" ] || continue; s=$(cat "/proc/$p/stat"); s=${s##*) }; set -- $s; t=$((t + ${12} + ${13})); done; echo $t; }
HZ=$(getconf CLK_TCK)
established() { ss -Htn state established "( dst $ATTACK:$PORT )" | wc -l; }
measure() { # b's keep-alive and new-connection req/s, then the CPU (% of one core) of the PIDs given
  local ka nc t0 t1
  t0=$(ticks "$@")
  ka=$(wrk -t1 -c32 -d"${D}s" -H 'Host: b.test' "http://127.0.0.1:$PORT/index.html" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  nc=$(wrk -t1 -c32 -d"${D}s" -H 'Host: b.test' -H 'Connection: close' "http://127.0.0.1:$PORT/index.html" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  t1=$(ticks "$@")
  echo "$ka $nc $(awk -v t=$((t1 - t0)) -v hz="$HZ" -v d="$D" 'BEGIN {printf "%.1f", 100 * t / hz / (2 * d)}')"
}
DISP=$(pid_of 'itkd: dispatch'); WA=$(pid_of 'itkd: worker itkbs-a')
wrk -t1 -c32 -d2s -H 'Host: b.test' "http://127.0.0.1:$PORT/index.html" > /dev/null   # warm-up
d0=$(rss_kb "$DISP"); a0=$(rss_kb "$WA")
attack() { # capped|shared: opens the attack, measures b under it, ends it
  "$W/holdopen" $ATTACK $PORT a.test "$IDLE" > "$W/hold.out" & HOLD=$!
  for _ in $(seq 1 600); do grep -q open "$W/hold.out" 2>/dev/null && break; sleep 0.1; done
  slowhttptest -H -c "$SLOW" -r 1000 -i 5 -x 16 -l $((D * 2 + 60)) -u "http://$ATTACK:$PORT/index.html" > "$W/slow.out" 2>&1 & SLOWPID=$!
  for _ in $(seq 1 300); do [ "$(established)" -ge $((IDLE + SLOW)) ] && break; sleep 0.1; done
  if [ "$1" = capped ]; then
    for p in $HOLD $SLOWPID; do echo "$p" > "$CAP/cgroup.procs"; done
  fi
  local before after
  before=$(established)
  local t0 t1; t0=$(ticks $HOLD $SLOWPID)
  read -r ka nc cpu < <(measure "$DISP" "$WA")
  t1=$(ticks $HOLD $SLOWPID)
  after=$(established)
  dr=$(rss_kb "$DISP"); ar=$(rss_kb "$WA")
  stop_attack
  for _ in $(seq 1 100); do [ "$(established)" -eq 0 ] && break; sleep 0.1; done
  echo "$ka $nc $cpu $(awk -v t=$((t1 - t0)) -v hz="$HZ" -v d="$D" 'BEGIN {printf "%.1f", 100 * t / hz / (2 * d)}') $before $after $dr $ar"
}
# KA / NC: b's req/s, alone (index 0, 2, 4, ...) and under attack (odd indexes); KIND: each attack's kind
KA=() NC=() KIND=() CPUALONE=() CPUATT=() CCPU=() OPEN=()
alone() { local ka nc cpu; read -r ka nc cpu < <(measure "$DISP" "$WA"); KA+=("$ka"); NC+=("$nc"); CPUALONE+=("$cpu"); }
alone
kinds=shared; [ -n "$CAP" ] && kinds="shared capped"
for _ in $(seq 1 "$ROUNDS"); do
  for k in $kinds; do
    read -r ka nc cpu ccpu b e dr ar < <(attack "$k")
    KA+=("$ka"); NC+=("$nc"); KIND+=("$k"); CPUATT+=("$k:$cpu"); CCPU+=("$k:$ccpu"); OPEN+=("$k:$b,$e")
    if [ "$k" = shared ]; then d1=$dr a1=$ar; else d2=$dr a2=$ar; fi
    alone
  done
done
[ -z "$CAP" ] && d2=- a2=-
sleep 8   # the worker trims 2-3 s after its last connection closed (10 000 of them close first), the dispatcher on its next tick
d3=$(rss_kb "$DISP"); a3=$(rss_kb "$WA")
# per attack round: its req/s over the mean of the alone rounds either side
ratios() { # kind ka|nc: the ratios of that kind's rounds, comma-separated
  local -n v=$2; local i r= out=
  for i in "${!KIND[@]}"; do
    [ "${KIND[$i]}" = "$1" ] || continue
    r=$(awk -v x="${v[$((2 * i + 1))]}" -v a="${v[$((2 * i))]}" -v b="${v[$((2 * i + 2))]}" 'BEGIN {printf "%.2f", 2 * x / (a + b)}')
    out+=${out:+,}$r
  done
  echo "$out"
}
field() { local k=$1; shift; local x; for x in "$@"; do [ "${x%%:*}" = "$k" ] && printf '%s ' "${x#*:}"; done; }
mean() { tr ' ' '\n' <<< "$1" | awk 'NF {s+=$1; n++} END {if (n) printf "%.1f", s / n; else print "-"}'; }
printf 'tenant b, req/s in order (alone, then each attack followed by alone; %s s each):\n' "$D"
printf '  keep-alive      %s\n' "${KA[*]}"
printf '  new connection  %s\n' "${NC[*]}"
printf '  attacks         %s\n' "${KIND[*]}"
rs() { [ -n "$CAP" ] || [ "$1" = shared ] && ratios "$1" "$2" || echo -; }
md() { median "$1" '%.2f'; }
KAS=$(rs shared KA) KAC=$(rs capped KA) NCS=$(rs shared NC) NCC=$(rs capped NC)
printf '%-40s %14s %14s\n' "tenant b under attack / alone (median)" "equal share" "clients capped"
printf '%-40s %14s %14s\n' "keep-alive req/s" "$(md "$KAS")" "$(md "$KAC")"
printf '%-40s %14s %14s\n' "new connection req/s" "$(md "$NCS")" "$(md "$NCC")"
printf '  each round: keep-alive %s (equal), %s (capped); new connection %s (equal), %s (capped)\n' "$KAS" "$KAC" "$NCS" "$NCC"
printf '  attack connections open at the start and end of each round: %s\n' "$(field shared "${OPEN[@]}")$(field capped "${OPEN[@]}")"
ccpu1=$(mean "$(field shared "${CCPU[@]}")") ccpu2=$(mean "$(field capped "${CCPU[@]}")")
cpu0=$(mean "${CPUALONE[*]}") cpu1=$(mean "$(field shared "${CPUATT[@]}")") cpu2=$(mean "$(field capped "${CPUATT[@]}")")
printf '%-40s %14s %14s %14s\n' "" alone "equal share" "clients capped"
printf '%-40s %14s %14s %14s\n' "attack clients' CPU (% of a core)" "" "$ccpu1" "$ccpu2"
printf '%-40s %14s %14s %14s\n' "dispatcher + a's worker CPU (%)" "$cpu0" "$cpu1" "$cpu2"
printf '%-40s %12s %14s %14s %14s\n' "RSS (MB)" before "attack, equal" "attack, capped" after
printf '%-40s %12s %14s %14s %14s\n' "dispatcher" "$((d0 / 1024))" "$((d1 / 1024))" "$([ "$d2" = - ] && echo - || echo $((d2 / 1024)))" "$((d3 / 1024))"
printf '%-40s %12s %14s %14s %14s\n' "worker of tenant a (idle conns)" "$((a0 / 1024))" "$((a1 / 1024))" "$([ "$a2" = - ] && echo - || echo $((a2 / 1024)))" "$((a3 / 1024))"
grep -h 'DispatcherTrimmed' "$W/itkd.out" | sed 's/^/itkd: /' || true
