#!/usr/bin/env bash
# The same PHP page, one run, loopback only, bounded: itkd (its per-user php-fpm over FastCGI, as the vhost
# user) against Apache + mpm-itk + mod_php (PHP inside the forked, setuid Apache child) and
# nginx + php-fpm pools of the vhost user (4 children each), once as Debian's snippets set it up (a
# FastCGI connection per request) and once tuned (kept-alive FastCGI connections through an
# upstream; 2 per nginx worker, so the 4 children are never all held). Apache and itkd read the same vhost file.
# usage: bench/php-bench.sh path/to/itkd [seconds] [connections]
# Needs: apache2 libapache2-mpm-itk libapache2-mod-php php-cgi php-fpm nginx-light wrk curl. Run as root.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
ITKD=$(readlink -f "${1:?give the itkd executable}"); D=${2:-10}; C=${3:-32}
W=/tmp/itkphpbench
APORT=18380; IPORT=18390; NPORT=18370; KPORT=18371
U=itkbench-php
PHPFPM=$(ls /usr/sbin/php-fpm* | head -1)
PHPMOD=$(ls /usr/lib/apache2/modules/libphp*.so | head -1)
NGINX=/usr/sbin/nginx

mkdir -p "$W/www"
id "$U" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$U"
printf '<?php echo "hello from ", posix_getuid();' > "$W/www/hello.php"
chown -R "$U:$U" "$W/www"; chmod 0750 "$W/www"; chmod 0640 "$W/www/hello.php"; chmod 0755 "$W"
cleanup() {
  [ -f "$W/apache.pid" ] && kill "$(cat "$W/apache.pid")" 2>/dev/null
  [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null
  [ -n "${IPID:-}" ] && kill "$IPID" 2>/dev/null
  sleep 1; userdel "$U" 2>/dev/null || true; rm -rf "$W"
}
[ -n "${KEEP:-}" ] || trap cleanup EXIT

vhost() { cat <<CONF
<VirtualHost 127.0.0.1:$1>
  ServerName php.test
  DocumentRoot $W/www
  AssignUserID $U $U
  <FilesMatch "\.php\$">
    SetHandler application/x-httpd-php
  </FilesMatch>
</VirtualHost>
CONF
}
vhost $APORT > "$W/v-apache.conf"; vhost $IPORT > "$W/v-itkd.conf"
apache_conf $APORT "LoadModule php_module $PHPMOD" > "$W/apache.conf"
printf 'Listen 127.0.0.1:%s\nUser www-data\nGroup www-data\nInclude %s/v-itkd.conf\n' $IPORT "$W" > "$W/itkd.conf"
cat > "$W/php-fpm.conf" <<CONF
[global]
pid = $W/php-fpm.pid
error_log = $W/php-fpm.log
daemonize = no
[php]
user = $U
group = $U
listen = $W/fpm.sock
listen.owner = www-data
listen.group = www-data
listen.mode = 0600
pm = static
pm.max_children = 4
; the tuned nginx keeps FastCGI connections open, and each one holds a child: its own pool
[php-ka]
user = $U
group = $U
listen = $W/fpm-ka.sock
listen.owner = www-data
listen.group = www-data
listen.mode = 0600
pm = static
pm.max_children = 4
CONF
cat > "$W/nginx.conf" <<CONF
user www-data;
worker_processes auto;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream php_fpm { server unix:$W/fpm-ka.sock; keepalive 2; }
  server {
    listen 127.0.0.1:$NPORT;
    server_name php.test;
    root $W/www;
    location ~ \.php\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass unix:$W/fpm.sock;
    }
  }
  server {
    listen 127.0.0.1:$KPORT;
    server_name php.test;
    root $W/www;
    location ~ \.php\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass php_fpm;
      fastcgi_keep_conn on;
    }
  }
}
CONF

wait_ok() { for _ in $(seq 1 100); do [ "$(curl -s -H 'Host: php.test' "http://127.0.0.1:$1/hello.php")" = "hello from $(id -u $U)" ] && return 0; sleep 0.1; done; echo "port $1 never served the page as $U" >&2; return 1; }
rps() { # port [extra wrk args]
  local port=$1; shift
  wrk -t2 -c"$C" -d"${D}s" -H 'Host: php.test' "$@" "http://127.0.0.1:$port/hello.php" 2>&1 \
    | awk '/Requests\/sec/ {r=$2} /Non-2xx|Socket errors/ {e=e" "$0} END {print r+0; if (e!="") print "  port '$port' errors:" e > "/dev/stderr"}'
}

APACHE_RUN_DIR=$W APACHE_LOCK_DIR=$W APACHE_LOG_DIR=$W /usr/sbin/apache2 -f "$W/apache.conf" -k start
"$ITKD" --config "$W/itkd.conf" --control-socket "$W/itkd.sock" > "$W/itkd.out" 2>&1 & IPID=$!
"$PHPFPM" --fpm-config "$W/php-fpm.conf" --nodaemonize > "$W/fpm.out" 2>&1 & FPID=$!
"$NGINX" -c "$W/nginx.conf" -g 'daemon on;'
wait_ok $APORT; wait_ok $IPORT; wait_ok $NPORT; wait_ok $KPORT

ratio() { awk -v x="$1" -v y="$2" 'BEGIN{printf "%.2f", (y>0)? x/y : 0}'; }
printf '%-18s %15s %11s %15s %8s %12s %11s %16s\n' "PHP hello, c$C" apache+mod_php nginx+fpm "nginx+fpm(ka)" itkd itkd/apache itkd/nginx "itkd/nginx(ka)"
# Each server is measured twice per scenario, in the order A B C D D C B A (half the time each),
# and the two figures averaged: a machine that drifts during the run favours nobody.
for s in keepalive close; do
  extra=(); [ $s = close ] && extra=(-H 'Connection: close')
  declare -A sum=()
  for port in $APORT $NPORT $KPORT $IPORT $IPORT $KPORT $NPORT $APORT; do
    r=$(D=$((D / 2)) rps $port "${extra[@]}")
    sum[$port]=$(awk -v a="${sum[$port]:-0}" -v b="$r" 'BEGIN{print a + b / 2}')
  done
  a=${sum[$APORT]}; n=${sum[$NPORT]}; k=${sum[$KPORT]}; i=${sum[$IPORT]}
  printf '%-18s %15.0f %11.0f %15.0f %8.0f %12s %11s %16s\n' "$s req/s" "$a" "$n" "$k" "$i" "$(ratio "$i" "$a")" "$(ratio "$i" "$n")" "$(ratio "$i" "$k")"
done
printf '%-18s %15s %11s %15s %8s\n' "RSS (MB)" "$(rss_mb "$(cat "$W/apache.pid")")" "$(( $(rss_mb "$(cat "$W/nginx.pid")") + $(rss_mb $FPID) ))" "(same)" "$(rss_mb $IPID)"
