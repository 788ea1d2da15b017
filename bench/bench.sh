#!/usr/bin/env bash
# itkd against Apache 2.4 + mpm-itk, one run, same files, loopback only, bounded:
#  1. ../shared/bench/compare.sh: keep-alive and new-connection req/s, RSS after load;
#  2. RSS with two busy users (wrk on both vhosts at once, against each server in turn);
#  3. the first request to a user whose pool is cold (itkd started fresh each time), p50.
# usage: bench/bench.sh path/to/itkd [seconds] [connections]
set -euo pipefail
ITKD=$(readlink -f "${1:?give the itkd executable}"); D=${2:-10}; C=${3:-32}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
SHARED=$(cd "$HERE/../../shared/bench" 2>/dev/null && pwd || true)
[ -n "$SHARED" ] || { echo "bench: ../shared/bench not found beside the repository" >&2; exit 1; }
export W=/tmp/itkbench

echo "== 1. compare.sh ($D s, $C connections)"
ITKD="$ITKD" bash "$SHARED/compare.sh" "$D" "$C"

. "$SHARED/fixture.sh"
fixture_up
APORT=18080; IPORT=18090
cleanup() { [ -f "$W/apache.pid" ] && kill "$(cat "$W/apache.pid")" 2>/dev/null; [ -n "${IPID:-}" ] && kill "$IPID" 2>/dev/null; sleep 1; fixture_down; }
trap cleanup EXIT
vhosts() { for u in a b; do printf '<VirtualHost 127.0.0.1:%s>\n  ServerName %s.test\n  DocumentRoot %s/%s\n  AssignUserID itkbench-%s itkbench-%s\n</VirtualHost>\n' "$1" "$u" "$W" "$u" "$u" "$u"; done; }
vhosts $APORT > "$W/v-apache.conf"; vhosts $IPORT > "$W/v-itkd.conf"
apache_conf $APORT > "$W/apache.conf"
printf 'Listen 127.0.0.1:%s\nUser www-data\nGroup www-data\nDirectoryIndex index.html\nInclude %s/v-itkd.conf\n' $IPORT "$W" > "$W/itkd.conf"
wait_port() { for _ in $(seq 1 100); do curl -s -o /dev/null -H "Host: $2" "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; return 1; }
two_users() { # port: wrk on a and b at once; prints the sum of req/s
  (wrk -t1 -c$((C/2)) -d"${D}s" -H 'Host: a.test' "http://127.0.0.1:$1/index.html" > "$W/wa.txt" 2>&1 &
   wrk -t1 -c$((C/2)) -d"${D}s" -H 'Host: b.test' "http://127.0.0.1:$1/index.html" > "$W/wb.txt" 2>&1 & wait)
  awk '/Requests\/sec/ {s+=$2} END {printf "%.0f", s}' "$W/wa.txt" "$W/wb.txt"
}

echo; echo "== 2. two busy users ($D s, $C connections split over a.test and b.test)"
APACHE_RUN_DIR=$W APACHE_LOCK_DIR=$W APACHE_LOG_DIR=$W /usr/sbin/apache2 -f "$W/apache.conf" -k start
wait_port $APORT a.test; wait_port $APORT b.test
ar=$(two_users $APORT); am=$(rss_mb "$(cat "$W/apache.pid")")
kill "$(cat "$W/apache.pid")"; sleep 1.5; rm -f "$W/apache.pid"
"$ITKD" --config "$W/itkd.conf" --control-socket "$W/itkd.sock" > "$W/itkd.out" 2>&1 & IPID=$!
wait_port $IPORT a.test; wait_port $IPORT b.test
ir=$(two_users $IPORT); im=$(rss_mb $IPID)
kill $IPID; wait $IPID 2>/dev/null || true; IPID=
printf '%-26s %12s %12s\n' "" apache-itk itkd
printf '%-26s %12s %12s\n' "req/s (a + b)" "$ar" "$ir"
printf '%-26s %12s %12s\n' "RSS after load (MB)" "$am" "$im"

echo; echo "== 3. first request to a cold pool (itkd started fresh, 5 times x 2 users)"
samples=()
for i in 1 2 3 4 5; do
  "$ITKD" --config "$W/itkd.conf" --control-socket "$W/itkd.sock" > "$W/itkd.out" 2>&1 & IPID=$!
  for _ in $(seq 1 100); do [ -S "$W/itkd.sock" ] && grep -q 'E2002' "$W/itkd.out" && break; sleep 0.05; done
  for u in a b; do samples+=("$(curl -s -o /dev/null -w '%{time_total}' -H "Host: $u.test" "http://127.0.0.1:$IPORT/index.html")"); done
  kill $IPID; wait $IPID 2>/dev/null || true; IPID=
done
printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1*1000} END {printf "cold first request: p50 %.0f ms, min %.0f ms, max %.0f ms (%d samples)\n", a[int((NR+1)/2)], a[1], a[NR], NR}'
