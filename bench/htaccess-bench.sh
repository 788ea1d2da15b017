#!/usr/bin/env bash
# What .htaccess files cost, one run, loopback only, bounded:
#  1. a 1 KB static file with AllowOverride None and with AllowOverride All and WordPress's
#     permalink block in a .htaccess at the DocumentRoot, keep-alive and a new connection per
#     request, for itkd and for Apache + mpm-itk reading the same vhost file;
#  2. WordPress's front page through its pretty permalinks (/hello-world/, rewritten to
#     index.php), a new connection per request: Apache + mpm-itk + mod_php against itkd (php-fpm).
# usage: bench/htaccess-bench.sh path/to/itkd [seconds] [connections]
# Needs: apache2 libapache2-mpm-itk libapache2-mod-php php-fpm php-mysql mariadb-server wordpress wrk curl. Run as root.
# BENCH_USER and BENCH_PORT (two ports from it) say which account and ports it may use.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
ITKD=$(readlink -f "${1:?give the itkd executable}"); D=${2:-10}; C=${3:-32}
W=${BENCH_DIR:-/tmp/itkhtbench}
U=${BENCH_USER:-itkbench-ht}
APORT=${BENCH_PORT:-18540}; IPORT=$((APORT + 1))
PHPMOD=$(ls /usr/lib/apache2/modules/libphp*.so | head -1)
MODS=/usr/lib/apache2/modules

rm -rf "$W"; mkdir -p "$W/www" "$W/db"
id "$U" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$U"
# The daemonised Apache leads a process group of its own: once the parent is gone, whatever is
# left of that group (an mpm-itk child still running PHP ignored the parent's SIGTERM once and
# spun on a core through later measurements) is killed too.
stop_apache() {
  local pid; pid=$(cat "$W/apache.pid")
  kill "$pid"; for _ in $(seq 1 100); do [ -f "$W/apache.pid" ] || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  sleep 0.5
}
cleanup() {
  [ -f "$W/apache.pid" ] && stop_apache
  [ -n "${IPID:-}" ] && kill "$IPID" 2>/dev/null
  [ -f "$W/db/mysqld.pid" ] && kill "$(cat "$W/db/mysqld.pid")" 2>/dev/null
  sleep 2; userdel "$U" 2>/dev/null || true; rm -rf "$W"
}
[ -n "${KEEP:-}" ] || trap cleanup EXIT

head -c 1024 /dev/zero | tr '\0' 'x' > "$W/www/index.html"
cat > "$W/wordpress.htaccess" <<'HT'
# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
RewriteBase /
RewriteRule ^index\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /index.php [L]
</IfModule>
# END WordPress
HT
cp "$W/wordpress.htaccess" "$W/www/.htaccess"

# WordPress in the same tenant, on MariaDB (its own data directory and socket, no TCP)
chown mysql:mysql "$W/db"
mariadb-install-db --datadir="$W/db/data" --user=mysql --auth-root-authentication-method=socket --skip-test-db >/dev/null 2>&1
/usr/sbin/mariadbd --datadir="$W/db/data" --socket="$W/db/mysql.sock" --pid-file="$W/db/mysqld.pid" --skip-networking --user=mysql \
  --log-error="$W/db/error.log" --skip-log-bin >/dev/null 2>&1 &
for _ in $(seq 1 100); do [ -S "$W/db/mysql.sock" ] && break; sleep 0.1; done
mariadb --socket="$W/db/mysql.sock" -uroot -e "CREATE DATABASE wp; CREATE USER 'wp'@'localhost' IDENTIFIED BY 'wp-pw'; GRANT ALL ON wp.* TO 'wp'@'localhost';"
cp -rL /usr/share/wordpress "$W/wp"; rm -f "$W/wp/wp-config.php" "$W/wp/.htaccess"
mkdir -p "$W/wp/wp-content/themes/plain"
printf '/*\nTheme Name: Plain\n*/\n' > "$W/wp/wp-content/themes/plain/style.css"
printf '<?php while (have_posts()) { the_post(); echo "<h1>", get_the_title(), "</h1>", get_the_content(); }\n' > "$W/wp/wp-content/themes/plain/index.php"
sed -e "s/database_name_here/wp/; s/username_here/wp/; s/password_here/wp-pw/; s#'localhost'#'localhost:$W/db/mysql.sock'#" \
    -e "s#/\* Add any custom values between this line and the \"stop editing\" line. \*/#define('WP_DEFAULT_THEME', 'plain'); define('DISABLE_WP_CRON', true);#" \
    "$W/wp/wp-config-sample.php" > "$W/wp/wp-config.php"
cp "$W/wordpress.htaccess" "$W/wp/.htaccess"
chown -R "$U:$U" "$W/www" "$W/wp"; chmod 0755 "$W"

vhosts() { # port: n.test (AllowOverride None) and a.test (All) on the same tree, and WordPress
  cat <<CONF
<VirtualHost 127.0.0.1:$1>
  ServerName n.test
  DocumentRoot $W/www
  AssignUserID $U $U
  <Directory $W/www>
    AllowOverride None
  </Directory>
</VirtualHost>
<VirtualHost 127.0.0.1:$1>
  ServerName a.test
  DocumentRoot $W/www-all
  AssignUserID $U $U
  <Directory $W/www-all>
    AllowOverride All
  </Directory>
</VirtualHost>
<VirtualHost 127.0.0.1:$1>
  ServerName wp.test
  DocumentRoot $W/wp
  AssignUserID $U $U
  DirectoryIndex index.php index.html
  <Directory $W/wp>
    AllowOverride All
  </Directory>
  <FilesMatch "\.php\$">
    SetHandler application/x-httpd-php
  </FilesMatch>
</VirtualHost>
CONF
}
wait_port() { for _ in $(seq 1 200); do curl -s -o /dev/null -H "Host: $2" "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; echo "port $1 never answered" >&2; return 1; }
rps() { # seconds port host path [wrk args]
  local d=$1 port=$2 host=$3 path=$4; shift 4
  wrk -t2 -c"$C" -d"${d}s" -H "Host: $host" "$@" "http://127.0.0.1:$port$path" 2>&1 | awk '/Requests\/sec/ {print $2+0}'
}
start_apache() {
  vhosts $APORT > "$W/v-apache.conf"
  apache_conf $APORT "LoadModule rewrite_module $MODS/mod_rewrite.so" "LoadModule php_module $PHPMOD" > "$W/apache.conf"
  APACHE_RUN_DIR=$W APACHE_LOCK_DIR=$W APACHE_LOG_DIR=$W /usr/sbin/apache2 -f "$W/apache.conf" -k start
  wait_port $APORT a.test
}
start_itkd() {
  vhosts $IPORT > "$W/v-itkd.conf"
  printf 'Listen 127.0.0.1:%s\nUser www-data\nGroup www-data\nInclude %s/v-itkd.conf\n' $IPORT "$W" > "$W/itkd.conf"
  "$ITKD" --config "$W/itkd.conf" --control-socket "$W/itkd.sock" > "$W/itkd.out" 2>&1 & IPID=$!
  wait_port $IPORT a.test
}
stop_itkd() { kill "$IPID"; wait "$IPID" 2>/dev/null || true; IPID=; }

# Both servers run at once, each with a None and an All vhost on the same files. None and All of
# one server are measured back to back, D/2 seconds each, in PAIRS pairs (the order inside a pair
# alternates), each run on a settled machine (quiet_machine); each figure is the mean of its runs,
# and the ratio of a pair (All / None, measured a few seconds apart) is printed too: this shared
# machine drifts by 10-25 % between minutes, far more than within a pair. (The ABCD DCBA order
# used before put itkd's All run right after an Apache run and itkd's None run never; it read
# 0.84 on the same build for which adjacent pairs read 0.89-0.99.)
cp -a "$W/www" "$W/www-all"
start_apache; start_itkd
for port in $APORT $IPORT; do for h in n.test a.test; do curl -sf -o /dev/null -H "Host: $h" "http://127.0.0.1:$port/index.html"; done; done
declare -A R PR
half=$(( (D + 1) / 2 )); PAIRS=${PAIRS:-5}
for kind in ka new; do
  extra=(); [ $kind = new ] && extra=(-H 'Connection: close')
  for p in $(seq 1 "$PAIRS"); do
    for srv in itkd apache; do
      port=$([ $srv = itkd ] && echo $IPORT || echo $APORT)
      declare -A pv=()
      for ov in $([ $((p % 2)) = 1 ] && echo None All || echo All None); do
        host=$([ $ov = None ] && echo n.test || echo a.test)
        quiet_machine
        pv[$ov]=$(rps $half $port $host /index.html "${extra[@]}")
        R[$srv-$ov-$kind]=$(awk -v a="${R[$srv-$ov-$kind]:-0}" -v b="${pv[$ov]}" -v n="$PAIRS" 'BEGIN { printf "%.1f", a + b / n }')
      done
      PR[$srv-$kind]="${PR[$srv-$kind]:-}$(awk -v a="${pv[All]}" -v b="${pv[None]}" 'BEGIN { printf " %.2f", a / b }')"
    done
  done
done
stop_itkd; stop_apache

# WordPress: installed once (through itkd), its front page through the permalink rules under each server
start_itkd
curl -s -o /dev/null -H 'Host: wp.test' --data-urlencode 'weblog_title=Bench' --data-urlencode 'user_name=admin' --data-urlencode 'admin_password=Bench-pw-long!' \
  --data-urlencode 'admin_password2=Bench-pw-long!' --data-urlencode 'admin_email=admin@example.invalid' --data 'blog_public=0&Submit=Install' \
  "http://127.0.0.1:$IPORT/wp-admin/install.php?step=2"
mariadb --socket="$W/db/mysql.sock" -uroot wp -e "UPDATE wp_options SET option_value='/%postname%/' WHERE option_name='permalink_structure'; DELETE FROM wp_options WHERE option_name='rewrite_rules';"
# the installer wrote an empty block (no permalinks yet): the block WordPress writes for "Post name"
cp "$W/wordpress.htaccess" "$W/wp/.htaccess"; chown "$U:$U" "$W/wp/.htaccess"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: wp.test' "http://127.0.0.1:$IPORT/hello-world/")
[ "$code" = 200 ] || { echo "WordPress /hello-world/ answered $code under itkd" >&2; exit 1; }
R[itkd-wp-new]=$(rps $D $IPORT wp.test /hello-world/ -H 'Connection: close')
stop_itkd
start_apache
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: wp.test' "http://127.0.0.1:$APORT/hello-world/")
[ "$code" = 200 ] || { echo "WordPress /hello-world/ answered $code under Apache" >&2; exit 1; }
R[apache-wp-new]=$(rps $D $APORT wp.test /hello-world/ -H 'Connection: close')
stop_apache

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "== .htaccess cost (static: the mean of $PAIRS runs of ${half} s, None and All in adjacent pairs; WordPress: $D s; $C connections, wrk on loopback)"
printf '%-44s %14s %14s %8s\n' "" "Apache-itk" "itkd" "ratio"
for kind in ka new; do
  label=$([ $kind = ka ] && echo "keep-alive" || echo "new connection per request")
  for ov in None All; do
    printf '%-44s %14s %14s %8s\n' "static 1 KB, $label, AllowOverride $ov req/s" "${R[apache-$ov-$kind]}" "${R[itkd-$ov-$kind]}" "$(ratio "${R[itkd-$ov-$kind]}" "${R[apache-$ov-$kind]}")"
  done
done
printf '%-44s %14s %14s %8s\n' "WordPress /hello-world/, new connection req/s" "${R[apache-wp-new]}" "${R[itkd-wp-new]}" "$(ratio "${R[itkd-wp-new]}" "${R[apache-wp-new]}")"
echo "itkd All / None: keep-alive $(ratio "${R[itkd-All-ka]}" "${R[itkd-None-ka]}") (pairs:${PR[itkd-ka]}), new connection $(ratio "${R[itkd-All-new]}" "${R[itkd-None-new]}") (pairs:${PR[itkd-new]})"
echo "Apache All / None: keep-alive $(ratio "${R[apache-All-ka]}" "${R[apache-None-ka]}") (pairs:${PR[apache-ka]}), new connection $(ratio "${R[apache-All-new]}" "${R[apache-None-new]}") (pairs:${PR[apache-new]})"
