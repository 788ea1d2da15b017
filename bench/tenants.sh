#!/usr/bin/env bash
# The cost of a tenant: N vhosts, each its own user, every site requested once (N live itkd
# workers), then wrk rotating the Host header over all of them with a new connection per request.
# itkd against Apache 2.4 + mpm-itk on the same vhosts and files, one run, loopback only.
# Memory: RSS summed over every process of the server (shared pages counted in each, as ps
# shows them) and PSS summed (shared pages divided among their users: what the machine spends).
# Two runs of the same server a minute apart differ by 15-30 % on a shared machine, so itkd and
# Apache take turns: ROUNDS rounds of each tenant count, each starting, warming and measuring
# itkd and then Apache afresh; every figure is the median of its rounds and the ratio the median
# of the rounds' own ratios (printed with them).
# usage: bench/tenants.sh path/to/itkd "10 100 500 1000" [seconds] [connections] [rounds]
set -euo pipefail
ITKD=$(readlink -f "${1:?give the itkd executable}"); COUNTS=${2:-"10 100 500 1000"}; D=${3:-10}; C=${4:-64}; ROUNDS=${5:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
export W=/tmp/itkbench-tenants
. "$HERE/common.sh"
APORT=18081; IPORT=18091
MAX=0; for n in $COUNTS; do [ "$n" -gt "$MAX" ] && MAX=$n; done
user() { printf 'itkbt-%04d' "$1"; }

cleanup() {
  [ -f "$W/apache.pid" ] && kill "$(cat "$W/apache.pid")" 2>/dev/null || true
  [ -n "${IPID:-}" ] && kill "$IPID" 2>/dev/null || true
  sleep 1
  for i in $(seq 1 "$MAX"); do userdel "$(user "$i")" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/www"; chmod 0755 "$W" "$W/www"
for i in $(seq 1 "$MAX"); do
  u=$(user "$i")
  # ordinary accounts (uid ≥ 1000), as hosting customers are: the system range holds fewer than 1 000
  id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin --user-group "$u"
  mkdir -p "$W/www/$u"; head -c 1024 /dev/zero | tr '\0' x > "$W/www/$u/index.html"
  chown -R "$u:$u" "$W/www/$u"; chmod 0750 "$W/www/$u"; chmod 0640 "$W/www/$u/index.html"
done

# pss_mb PID: PSS of a process and its descendants, in MB (smaps_rollup).
pss_mb() {
  local total=0 p
  for p in $(ps -eo pid=,ppid= | awk -v root="$1" '{pp[$1]=$2} END {for (p in pp) {q=p; while (q != "" && q != 0 && q != root) q=pp[q]; if (q == root) print p}}'); do
    total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
  done
  echo $((total / 1024))
}
vhosts() { # port count
  for i in $(seq 1 "$2"); do u=$(user "$i"); printf '<VirtualHost 127.0.0.1:%s>\n  ServerName %s.test\n  DocumentRoot %s/www/%s\n  AssignUserID %s %s\n</VirtualHost>\n' "$1" "$u" "$W" "$u" "$u" "$u"; done
}
warm() { # port count: every site once, checking each answers its own file
  for i in $(seq 1 "$2"); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $(user "$i").test" "http://127.0.0.1:$1/index.html")" = 200 ] || { echo "site $i on $1 did not answer 200" >&2; exit 1; }
  done
}
rotate() { # port count: wrk over all hosts, new connection per request; prints req/s
  cat > "$W/rotate.lua" <<LUA
local n, i = $2, 0
request = function()
  i = i % n + 1
  return wrk.format("GET", "/index.html", { ["Host"] = string.format("itkbt-%04d.test", i), ["Connection"] = "close" })
end
LUA
  wrk -t2 -c"$C" -d"${D}s" -s "$W/rotate.lua" "http://127.0.0.1:$1/" 2>&1 | awk '/Requests\/sec/ {r=$2} /Non-2xx|Socket errors/ {e=e" "$0} END {print r+0; if (e!="") print "  errors:" e > "/dev/stderr"}'
}
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; echo "port $1 never answered" >&2; return 1; }

printf '%-8s | %-12s %-12s %-12s %-12s %-10s | %-12s %-12s %-10s | %s\n' tenants "itkd RSS MB" "PSS MB" "RSS after" "PSS after" "req/s" "apache RSS" "RSS after" "req/s" ratio
for n in $COUNTS; do
  vhosts $IPORT "$n" > "$W/v-itkd.conf"; vhosts $APORT "$n" > "$W/v-apache.conf"
  printf 'Listen 127.0.0.1:%s\nUser www-data\nGroup www-data\nDirectoryIndex index.html\nInclude %s/v-itkd.conf\n' $IPORT "$W" > "$W/itkd.conf"
  apache_conf $APORT > "$W/apache.conf"
  IRSS= IPSS= IRSS2= IPSS2= IREQ= ARSS= ARSS2= AREQ= RATIOS=
  for _ in $(seq 1 "$ROUNDS"); do
    # Live tenants: warming a thousand sites one by one takes longer than the default 30 s after
    # which an idle worker is retired, so the first ones would be cold again when wrk starts.
    "$ITKD" --config "$W/itkd.conf" --control-socket "$W/itkd.sock" --worker-idle-timeout 3600 > "$W/itkd.out" 2>&1 & IPID=$!
    wait_up $IPORT; warm $IPORT "$n"; sleep 3   # idle workers trim after 2 s
    retired=$(grep -c 'retired' "$W/itkd.out" || true)
    [ "$retired" = 0 ] || echo "  $retired worker(s) retired during the warm-up: not all $n are live" >&2
    IRSS+=" $(rss_mb $IPID)"; IPSS+=" $(pss_mb $IPID)"
    ireq=$(rotate $IPORT "$n"); IREQ+=" $ireq"; sleep 3
    IRSS2+=" $(rss_mb $IPID)"; IPSS2+=" $(pss_mb $IPID)"
    kill $IPID; wait $IPID 2>/dev/null || true; IPID=
    APACHE_RUN_DIR=$W APACHE_LOCK_DIR=$W APACHE_LOG_DIR=$W /usr/sbin/apache2 -f "$W/apache.conf" -k start
    wait_up $APORT; warm $APORT "$n"
    ARSS+=" $(rss_mb "$(cat "$W/apache.pid")")"
    areq=$(rotate $APORT "$n"); AREQ+=" $areq"
    ARSS2+=" $(rss_mb "$(cat "$W/apache.pid")")"
    kill "$(cat "$W/apache.pid")"; for _ in $(seq 1 50); do [ -f "$W/apache.pid" ] || break; sleep 0.1; done; rm -f "$W/apache.pid"; sleep 1
    RATIOS+=" $(awk -v a="$areq" -v b="$ireq" 'BEGIN {if (a > 0) printf "%.2f", b/a}')"
  done
  printf '%-8s | %-12s %-12s %-12s %-12s %-10s | %-12s %-12s %-10s | %s  (rounds:%s)\n' "$n" "$(median "$IRSS")" "$(median "$IPSS")" "$(median "$IRSS2")" "$(median "$IPSS2")" "$(median "$IREQ")" \
    "$(median "$ARSS")" "$(median "$ARSS2")" "$(median "$AREQ")" "$(median "$RATIOS" '%.2f')" "$RATIOS"
done
