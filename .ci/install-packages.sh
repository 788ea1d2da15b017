#!/usr/bin/env bash
# Debian packages the tests and the demo use: real Apache + mpm-itk (and mod_php) as the
# reference, rpm tooling, php-cgi and php-fpm, wrk and curl for load and probes; for TLS and
# HTTP/2 openssl, nghttp2-client (nghttp, h2load), nodejs (its http2 client), testssl.sh, strace
# (which process opens a key), lego (ACME as the site user) and pebble (a test ACME CA, offline on
# loopback); MariaDB and the DokuWiki, WordPress and MediaWiki packages (their .htaccess files, and
# real sites under both servers). Extra package names given as arguments are installed too (the
# benchmark adds nginx and slowhttptest). A no-op when all are installed.
set -euo pipefail
packages=(apache2 libapache2-mpm-itk rpm php-cgi php-fpm wrk curl patch gcc make cpio
          # TLS and HTTP/2 (Tls tests)
          openssl nghttp2-client nodejs testssl.sh strace lego pebble
          # .htaccess, PHP settings and real applications under both servers (Htaccess, Apps tests)
          libapache2-mod-php php-mysql mariadb-server dokuwiki wordpress mediawiki "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
