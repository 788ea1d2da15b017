#!/usr/bin/env bash
# Slow and idle clients against one tenant, throughput of another: tenant b is measured with wrk
# (keep-alive, then a new connection per request) alone, then while tenant a's site holds
# 10 000 idle keep-alive connections (bench/tools/holdopen.c) and slowhttptest keeps 4 000
# slow-header connections (slowloris) open against it. Also the memory of the dispatcher and of
# tenant a's worker during the attack and after it. b alone is measured before and after the
# attacks, and the ratios are against the mean of the two. One run, loopback only.
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
# usage: bench/slowloris.sh path/to/itkd [seconds] [idle] [slow]
set -euo pipefail
ITKD=$(readlink -f "${1:?give the itkd executable}"); D=${2:-10}; IDLE=${3:-10000}; SLOW=${4:-4000}
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
"$ITKD" --config "$W/itkd.conf" --control-socket "$W/itkd.sock" > "$W/itkd.out" 2>&1 & IPID=$!
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
  ka=$(wrk -t1 -c32 -d"${D}s" -H 'Host: b.test' "http://127.0.0.1:$PORT/index.html" | awk '/Requests\/sec/ {print $2}')
  nc=$(wrk -t1 -c32 -d"${D}s" -H 'Host: b.test' -H 'Connection: close' "http://127.0.0.1:$PORT/index.html" | awk '/Requests\/sec/ {print $2}')
  t1=$(ticks "$@")
  echo "$ka $nc $(awk -v t=$((t1 - t0)) -v hz="$HZ" -v d="$D" 'BEGIN {printf "%.1f", 100 * t / hz / (2 * d)}')"
}
DISP=$(pid_of 'itkd: dispatch'); WA=$(pid_of 'itkd: worker itkbs-a')
wrk -t1 -c32 -d2s -H 'Host: b.test' "http://127.0.0.1:$PORT/index.html" > /dev/null   # warm-up
read -r ka0 nc0 cpu0 < <(measure "$DISP" "$WA")
ka0a=$ka0 nc0a=$nc0
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
  echo "$ka $nc $cpu $(awk -v t=$((t1 - t0)) -v hz="$HZ" -v d="$D" 'BEGIN {printf "%.1f", 100 * t / hz / (2 * d)}') $before $after $dr $ar"
}
read -r ka1 nc1 cpu1 ccpu1 b1 e1 d1 a1 < <(attack shared)
sleep 3
if [ -n "$CAP" ]; then read -r ka2 nc2 cpu2 ccpu2 b2 e2 d2 a2 < <(attack capped); else ka2=- nc2=- cpu2=- ccpu2=- b2=- e2=- d2=- a2=-; fi
for _ in $(seq 1 50); do [ "$(established)" -eq 0 ] && break; sleep 0.1; done
sleep 8   # the worker trims 2-3 s after its last connection closed (10 000 of them close first), the dispatcher on its next tick
d3=$(rss_kb "$DISP"); a3=$(rss_kb "$WA")
# Alone again: the ratios are against the mean of the runs before and after the attacks, so that
# the drift of a shared machine over the two minutes weighs on both sides alike.
read -r ka9 nc9 cpu9 < <(measure "$DISP" "$WA")
ka0=$(awk -v a="$ka0" -v b="$ka9" 'BEGIN {printf "%.0f", (a + b) / 2}'); nc0=$(awk -v a="$nc0" -v b="$nc9" 'BEGIN {printf "%.0f", (a + b) / 2}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == "-") print "-"; else printf "%.2f", b/a}'; }
printf 'tenant b alone, before and after the attacks: keep-alive %s and %s req/s, new connection %s and %s\n' "$ka0a" "$ka9" "$nc0a" "$nc9"
printf '%-40s %12s %14s %8s %14s %8s\n' "tenant b" "alone (mean)" "attack, equal" ratio "attack, capped" ratio
printf '%-40s %12s %14s %8s %14s %8s\n' "keep-alive req/s" "$ka0" "$ka1" "$(ratio "$ka0" "$ka1")" "$ka2" "$(ratio "$ka0" "$ka2")"
printf '%-40s %12s %14s %8s %14s %8s\n' "new connection req/s" "$nc0" "$nc1" "$(ratio "$nc0" "$nc1")" "$nc2" "$(ratio "$nc0" "$nc2")"
printf '%-40s %12s %14s %8s %14s %8s\n' "attack connections open (start, end)" "" "$b1, $e1" "" "$b2, $e2" ""
printf '%-40s %12s %14s %8s %14s %8s\n' "attack clients' CPU (% of a core)" "" "$ccpu1" "" "$ccpu2" ""
printf '%-40s %12s %14s %8s %14s %8s\n' "dispatcher + a's worker CPU (%)" "$cpu0" "$cpu1" "" "$cpu2" ""
printf '%-40s %12s %14s %14s %14s\n' "RSS (MB)" before "attack, equal" "attack, capped" after
printf '%-40s %12s %14s %14s %14s\n' "dispatcher" "$((d0 / 1024))" "$((d1 / 1024))" "$([ "$d2" = - ] && echo - || echo $((d2 / 1024)))" "$((d3 / 1024))"
printf '%-40s %12s %14s %14s %14s\n' "worker of tenant a (idle conns)" "$((a0 / 1024))" "$((a1 / 1024))" "$([ "$a2" = - ] && echo - || echo $((a2 / 1024)))" "$((a3 / 1024))"
grep -h 'DispatcherTrimmed' "$W/itkd.out" | sed 's/^/itkd: /' || true
