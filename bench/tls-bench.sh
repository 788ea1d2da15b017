#!/usr/bin/env bash
# HTTPS and HTTP/2: itkd against nginx (no isolation: one account reads every key and file) and
# Apache + mpm-itk + mod_ssl (root loads every site's key into every child), one run, same 1 KB
# file, ECDSA P-256 certificates, TLS 1.3, loopback only, bounded:
#   1. full handshakes: h2load --h1, a new connection (and handshake) per request;
#   2. resumed handshakes: openssl s_time -reuse, several at once;
#   3. keep-alive HTTP/1.1 over TLS: wrk;
#   4. h2: h2load -c32 -m10 (Apache: none, mod_http2 refuses prefork and so mpm-itk).
# Each line: requests (or connections) per second and the server's CPU per request in µs (all of
# its processes: utime + stime from /proc, before and after).
# Single runs on a shared machine move by 20-30 % from one to the next, and the machine drifts over
# minutes, so the three servers take turns: ROUNDS rounds, each running every scenario on itkd,
# nginx and Apache back to back; a cell is the median of its rounds, and a ratio the median of the
# rounds' own ratios (each round's itkd against the same round's nginx or Apache), printed with
# them.
# usage: bench/tls-bench.sh path/to/itkd [seconds] [connections] [rounds]   (root; apt: nginx-light)
# Environment: W (scratch folder), PORT_BASE (4 ports from it), BENCH_USERS (user name prefix).
set -euo pipefail
ITKD=$(readlink -f "${1:?give the itkd executable}"); D=${2:-5}; C=${3:-32}; ROUNDS=${4:-3}
W=${W:-/tmp/itktlsbench}; PORT_BASE=${PORT_BASE:-18470}; U=${BENCH_USERS:-itkbench-tls-}
IP=$PORT_BASE; NP=$((PORT_BASE + 1)); AP=$((PORT_BASE + 2))
HERE=$(cd "$(dirname "$0")" && pwd)
command -v nginx >/dev/null || { echo "tls-bench: nginx is missing (apt-get install nginx-light)" >&2; exit 1; }
for t in h2load wrk openssl; do command -v $t >/dev/null || { echo "tls-bench: $t is missing" >&2; exit 1; }; done

cleanup() {
  [ -f "$W/apache.pid" ] && kill "$(cat "$W/apache.pid")" 2>/dev/null || true
  [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true
  [ -n "${IPID:-}" ] && kill "$IPID" 2>/dev/null || true
  sleep 1
  for s in a b; do userdel "$U$s" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
rm -rf "$W"; mkdir -p "$W/pki" "$W/pub"; chmod 0755 "$W"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/pki/ca.key" -out "$W/pki/ca.pem" -days 7 -subj '/CN=bench CA' 2>/dev/null
for s in a b; do
  id "$U$s" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$U$s"
  mkdir -p "$W/$s" "$W/tls/$s"
  head -c 1024 /dev/zero | tr '\0' "$s" > "$W/$s/index.html"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/tls/$s/key.pem" -out "$W/tls/$s/csr.pem" -subj "/CN=$s.test" 2>/dev/null
  printf 'subjectAltName=DNS:%s.test\n' "$s" > "$W/tls/$s/ext"
  openssl x509 -req -in "$W/tls/$s/csr.pem" -CA "$W/pki/ca.pem" -CAkey "$W/pki/ca.key" -CAcreateserial -days 7 -out "$W/tls/$s/cert.pem" -extfile "$W/tls/$s/ext" 2>/dev/null
  # nginx has no isolation: its copy of the files and keys is readable by its one account
  cp "$W/$s/index.html" "$W/pub/$s.html"
  chown -R "$U$s:$U$s" "$W/$s" "$W/tls/$s"; chmod 0750 "$W/$s"; chmod 0640 "$W/$s/index.html"; chmod 0700 "$W/tls/$s"; chmod 0600 "$W/tls/$s/key.pem"
done
chmod 0755 "$W/tls" "$W/pub"; chmod 0644 "$W/pub"/*
mkdir -p "$W/nginx-keys"; for s in a b; do cp "$W/tls/$s/cert.pem" "$W/nginx-keys/$s.crt"; cp "$W/tls/$s/key.pem" "$W/nginx-keys/$s.key"; done
chmod 0644 "$W/nginx-keys"/*

vhosts() { # port: the same two TLS vhosts for itkd and Apache
  for s in a b; do printf '<VirtualHost 127.0.0.1:%s>\n  ServerName %s.test\n  DocumentRoot %s/%s\n  AssignUserID %s%s %s%s\n  SSLEngine on\n  SSLCertificateFile %s/tls/%s/cert.pem\n  SSLCertificateKeyFile %s/tls/%s/key.pem\n  SSLProtocol -all +TLSv1.3\n</VirtualHost>\n' \
    "$1" "$s" "$W" "$s" "$U" "$s" "$U" "$s" "$W" "$s" "$W" "$s"; done
}
vhosts "$AP" > "$W/v-apache.conf"
{ printf 'Listen 127.0.0.1:%s https\nUser www-data\nGroup www-data\nDirectoryIndex index.html\n' "$IP"; vhosts "$IP"; } > "$W/itkd.conf"
. "$HERE/common.sh"
apache_conf "$AP" 'LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so' 'LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so' \
  "SSLSessionCache shmcb:$W/ssl_scache(512000)" | sed "s|^Listen 127.0.0.1:$AP$|Listen 127.0.0.1:$AP https|" > "$W/apache.conf"
cat > "$W/nginx.conf" <<CONF
worker_processes 2;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; sendfile on; keepalive_requests 1000000; ssl_protocols TLSv1.3; ssl_session_cache shared:SSL:10m;
  server { listen 127.0.0.1:$NP ssl http2; server_name a.test; root $W/pub; index a.html;
    ssl_certificate $W/nginx-keys/a.crt; ssl_certificate_key $W/nginx-keys/a.key; location = / { try_files /a.html =404; } location = /index.html { try_files /a.html =404; } }
  server { listen 127.0.0.1:$NP ssl http2; server_name b.test; root $W/pub;
    ssl_certificate $W/nginx-keys/b.crt; ssl_certificate_key $W/nginx-keys/b.key; location = /index.html { try_files /b.html =404; } } }
CONF

APACHE_RUN_DIR=$W APACHE_LOCK_DIR=$W APACHE_LOG_DIR=$W /usr/sbin/apache2 -f "$W/apache.conf" -k start
"$ITKD" --config "$W/itkd.conf" --control-socket "$W/itkd.sock" > "$W/itkd.out" 2>&1 & IPID=$!
nginx -c "$W/nginx.conf"
for p in $AP $IP $NP; do
  for _ in $(seq 1 100); do curl -sk -o /dev/null --resolve "a.test:$p:127.0.0.1" "https://a.test:$p/index.html" && break; sleep 0.1; done
done
pids() { # the server's processes: the one given and its descendants
  ps -eo pid=,ppid= | awk -v root="$1" '{pp[$1]=$2} END {for (p in pp) {q=p; while (q != "" && q != 0 && q != root) q=pp[q]; if (q == root) print p}}'
}
# utime + stime + cutime + cstime of each live process of the server: the children it reaped
# (mpm-itk forks one per connection) count in their parent. The name in /proc/PID/stat may hold
# spaces ("itkd: w alice"), so the fields are counted from the last ')'.
cpu_ticks() { local t=0 v; for p in $(pids "$1"); do v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') && t=$((t + ${v:-0})); done; echo $t; }
root_pid() { case $1 in itkd) echo $IPID;; nginx) cat "$W/nginx.pid";; apache) cat "$W/apache.pid";; esac; }
port() { case $1 in itkd) echo $IP;; nginx) echo $NP;; apache) echo $AP;; esac; }
HZ=$(getconf CLK_TCK)
declare -A RATE CPU RN RA
measure() { # name scenario command...: runs it, records its rate (last number it prints) and µs of server CPU per request
  local name=$1 scenario=$2; shift 2
  local root; root=$(root_pid "$name")
  local before; before=$(cpu_ticks "$root")
  local out; out=$("$@")
  local after; after=$(cpu_ticks "$root")
  local rate=${out%% *} count=${out##* }
  RATE[$name,$scenario]+=${RATE[$name,$scenario]:+,}$rate
  CPU[$name,$scenario]+=${CPU[$name,$scenario]:+,}$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$count" 'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "-" }')
}
# each prints "rate count"
# h2load reconnects after each "Connection: close" answer: -n requests are -n handshakes
# (with -D it would never stop reconnecting); FULL_N sets how many (default 150 per connection).
full() { h2load --h1 -n "${FULL_N:-$((C * 150))}" -c "$C" -H 'Connection: close' "https://127.0.0.1:$(port "$1")/index.html" 2>/dev/null |
  awk '/^finished in/ {r=$4} /^requests:/ {n=$8} END {printf "%.0f %d\n", r, n}'; }
resumed() { # C/4 s_time loops at once (no SNI: the address's first vhost), each reusing its session; connections per second summed
  local k=$(( C / 4 > 0 ? C / 4 : 1 ))
  rm -f "$W"/stime.*
  for i in $(seq 1 "$k"); do openssl s_time -connect "127.0.0.1:$(port "$1")" -www /index.html -reuse -time "$D" > "$W/stime.$i" 2>&1 & done; wait
  cat "$W"/stime.* | awk '/connections in .* real seconds/ {n+=$1; s=$4} END {printf "%.0f %d\n", (s > 0 ? n / s : 0), n}'; }
keepalive() { wrk -t2 -c"$C" -d"${D}s" -H 'Host: a.test' "https://127.0.0.1:$(port "$1")/index.html" 2>/dev/null |
  awk '/Requests\/sec/ {r=$2} /requests in/ {n=$1} END {printf "%.0f %d\n", r, n}'; }
h2() { h2load -D "$D" -c 32 -m 10 "https://127.0.0.1:$(port "$1")/index.html" 2>/dev/null |
  awk '/^finished in/ {r=$4} /^requests:/ {n=$8} END {printf "%.0f %d\n", r, n}'; }

echo "== TLS 1.3, ECDSA P-256, 1 KB file, $D s per run, $C connections (h2: 32 x 10 streams), $ROUNDS rounds"
for _ in $(seq 1 "$ROUNDS"); do
  for scenario in full resumed keepalive h2; do
    for name in itkd nginx apache; do
      [ "$scenario/$name" = h2/apache ] && continue
      measure "$name" "$scenario" "$scenario" "$name"
    done
  done
done
ratios() { # the rounds' own ratios of two comma-separated lists
  [ -n "$2" ] || { echo -; return; }
  paste -d' ' <(tr ',' '\n' <<< "$1") <(tr ',' '\n' <<< "$2") | awk '{printf "%s%.2f", (NR > 1 ? "," : ""), ($2 > 0 ? $1 / $2 : 0)} END {print ""}'; }
mx() { local m; m=$(median "$1" '%.2f'); [ "$m" = - ] && echo - || echo "${m}x"; }
printf '%-22s %18s %18s %18s %10s %10s\n' "" "itkd req/s (µs)" "nginx req/s (µs)" "apache-itk req/s (µs)" "/nginx" "/apache"
for scenario in full resumed keepalive h2; do
  label=$scenario; case $scenario in full) label="full handshake";; resumed) label="resumed handshake";; keepalive) label="keep-alive h1 TLS";; h2) label="h2 (-m10)";; esac
  a="${RATE[apache,$scenario]:-}"; [ "$scenario" = h2 ] && a=""
  rn=$(ratios "${RATE[itkd,$scenario]}" "${RATE[nginx,$scenario]}"); ra=$(ratios "${RATE[itkd,$scenario]}" "$a")
  printf '%-22s %18s %18s %18s %10s %10s\n' "$label" "$(median "${RATE[itkd,$scenario]}") ($(median "${CPU[itkd,$scenario]}"))" "$(median "${RATE[nginx,$scenario]}") ($(median "${CPU[nginx,$scenario]}"))" \
    "$([ -n "$a" ] && echo "$(median "$a") ($(median "${CPU[apache,$scenario]}"))" || echo '— (no h2)')" "$(mx "$rn")" "$([ -n "$a" ] && mx "$ra" || echo -)"
  RN[$scenario]=$rn RA[$scenario]=$ra
done
echo "each round's ratios (itkd / nginx; itkd / Apache):"
for scenario in full resumed keepalive h2; do printf '  %-10s %s; %s\n' "$scenario" "${RN[$scenario]}" "${RA[$scenario]:--}"; done
