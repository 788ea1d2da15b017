#!/usr/bin/env bash
# Slow and idle clients against one tenant, throughput of another: tenant b is measured with wrk
# (keep-alive, then a new connection per request) alone, then while tenant a's site holds
# 10 000 idle keep-alive connections (bench/tools/holdopen.c) and slowhttptest keeps 4 000
# slow-header connections (slowloris) open against it. Also the memory of the dispatcher and of
# tenant a's worker during the attack and after it. One run, loopback only.
# usage: bench/slowloris.sh path/to/itkd [seconds] [idle] [slow]
set -euo pipefail
ITKD=$(readlink -f "${1:?give the itkd executable}"); D=${2:-10}; IDLE=${3:-10000}; SLOW=${4:-4000}
HERE=$(cd "$(dirname "$0")" && pwd)
export W=/tmp/itkbench-slow
. "$HERE/common.sh"
PORT=18092
cleanup() {
  [ -n "${HOLD:-}" ] && kill "$HOLD" 2>/dev/null || true
  [ -n "${SLOWPID:-}" ] && kill "$SLOWPID" 2>/dev/null || true
  [ -n "${IPID:-}" ] && kill "$IPID" 2>/dev/null || true
  sleep 1
  for u in a b; do userdel "itkbs-$u" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
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
  printf 'Listen 127.0.0.1:%s\nUser www-data\nGroup www-data\nDirectoryIndex index.html\nRequestReadTimeout header=120\nKeepAliveTimeout 120\n' $PORT
  for u in a b; do printf '<VirtualHost 127.0.0.1:%s>\n  ServerName %s.test\n  DocumentRoot %s/%s\n  AssignUserID itkbs-%s itkbs-%s\n</VirtualHost>\n' $PORT "$u" "$W" "$u" "$u" "$u"; done
} > "$W/itkd.conf"
ulimit -n "$(ulimit -Hn)"
"$ITKD" --config "$W/itkd.conf" --control-socket "$W/itkd.sock" > "$W/itkd.out" 2>&1 & IPID=$!
for _ in $(seq 1 100); do curl -s -o /dev/null -H 'Host: b.test' "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
curl -s -o /dev/null -H 'Host: a.test' "http://127.0.0.1:$PORT/"
pid_of() { ps -eo pid=,ppid=,args= | awk -v m="$IPID" -v t="$1" '$2 == m && index($0, t) {print $1; exit}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
measure() { # label: b's keep-alive and new-connection req/s
  local ka nc
  ka=$(wrk -t1 -c32 -d"${D}s" -H 'Host: b.test' "http://127.0.0.1:$PORT/index.html" | awk '/Requests\/sec/ {print $2}')
  nc=$(wrk -t1 -c32 -d"${D}s" -H 'Host: b.test' -H 'Connection: close' "http://127.0.0.1:$PORT/index.html" | awk '/Requests\/sec/ {print $2}')
  echo "$ka $nc"
}
read -r ka0 nc0 < <(measure)
DISP=$(pid_of 'itkd: dispatcher'); WA=$(pid_of 'itkd: worker itkbs-a')
d0=$(rss_kb "$DISP"); a0=$(rss_kb "$WA")
"$W/holdopen" 127.0.0.1 $PORT a.test "$IDLE" > "$W/hold.out" & HOLD=$!
for _ in $(seq 1 600); do grep -q open "$W/hold.out" 2>/dev/null && break; sleep 0.1; done
slowhttptest -H -c "$SLOW" -r 1000 -i 5 -x 16 -l $((D * 2 + 30)) -u "http://127.0.0.1:$PORT/index.html" > "$W/slow.out" 2>&1 & SLOWPID=$!
sleep 8   # slowhttptest ramps up at 1000 connections a second
slowcount=$(ss -Htn state established "( dport = :$PORT )" | wc -l)
read -r ka1 nc1 < <(measure)
d1=$(rss_kb "$DISP"); a1=$(rss_kb "$WA")
kill $SLOWPID $HOLD 2>/dev/null || true; wait $SLOWPID 2>/dev/null || true; SLOWPID=; HOLD=
sleep 5   # the worker trims once idle
d2=$(rss_kb "$DISP"); a2=$(rss_kb "$WA")
echo "idle keep-alive connections opened: $(cat "$W/hold.out"); client connections established when the measurement started: $slowcount"
printf '%-34s %12s %12s %8s\n' "tenant b" alone "under attack" ratio
printf '%-34s %12s %12s %8s\n' "keep-alive req/s" "$ka0" "$ka1" "$(awk -v a="$ka0" -v b="$ka1" 'BEGIN {printf "%.2f", b/a}')"
printf '%-34s %12s %12s %8s\n' "new connection req/s" "$nc0" "$nc1" "$(awk -v a="$nc0" -v b="$nc1" 'BEGIN {printf "%.2f", b/a}')"
printf '%-34s %12s %12s %12s\n' "RSS (MB)" before during after
printf '%-34s %12s %12s %12s\n' "dispatcher" "$((d0 / 1024))" "$((d1 / 1024))" "$((d2 / 1024))"
printf '%-34s %12s %12s %12s\n' "worker of tenant a (idle conns)" "$((a0 / 1024))" "$((a1 / 1024))" "$((a2 / 1024))"
