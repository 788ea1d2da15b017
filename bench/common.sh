# Shared by bench.sh and php-bench.sh (sourced; $W is the scratch folder).

# apache_conf PORT [LoadModule lines...]: Apache + mpm-itk set up as ../shared/bench/compare.sh
# sets it up (prefork + itk, 8-256 children, unlimited keep-alive), including $W/v-apache.conf.
apache_conf() {
  local port=$1; shift
  cat <<CONF
ServerRoot /etc/apache2
ServerName localhost
PidFile $W/apache.pid
Mutex file:$W default
ErrorLog $W/apache-error.log
Listen 127.0.0.1:$port
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule mpm_itk_module /usr/lib/apache2/modules/mpm_itk.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
$(printf '%s\n' "$@")
TypesConfig /etc/mime.types
User www-data
Group www-data
StartServers 8
MinSpareServers 8
MaxSpareServers 32
MaxRequestWorkers 256
ServerLimit 256
KeepAlive On
MaxKeepAliveRequests 0
DirectoryIndex index.html
<Directory />
  Require all granted
</Directory>
Include $W/v-apache.conf
CONF
}

# rss_mb PID: the resident memory of a process and all its descendants, in MB.
rss_mb() {
  ps -eo pid=,ppid=,rss= | awk -v root="$1" '{pp[$1]=$2; r[$1]=$3} END {for (p in r) {q=p; while (q != "" && q != 0 && q != root) q=pp[q]; if (q == root) s+=r[p]}; printf "%.0f", s/1024}'
}

# quiet_machine: waits (at most 15 s) until the whole machine is idle, less than 5 % of its CPU
# busy over half a second, so that a measurement does not pay for what the previous one left
# running (Apache + mpm-itk keeps reaping and forking children for a second or two after a load).
# Prints how long it waited to stderr when that was more than one sample.
quiet_machine() {
  local busy0 total0 busy1 total1 n=0
  read -r busy0 total0 < <(awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
  while [ $n -lt 30 ]; do
    sleep 0.5; n=$((n + 1))
    read -r busy1 total1 < <(awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    if [ $(( (busy1 - busy0) * 100 )) -lt $(( (total1 - total0) * 5 )) ]; then break; fi
    busy0=$busy1; total0=$total1
  done
  [ $n -gt 1 ] && echo "  (waited $((n * 5 / 10)).$((n * 5 % 10)) s for the machine to settle)" >&2
  return 0
}

# median LIST [FORMAT]: the median of numbers separated by commas or spaces ("-" entries skipped),
# printed with FORMAT (default whole numbers); "-" when there is none.
median() {
  tr ', ' '\n\n' <<< "$1" | grep -Ev '^(-|)$' | sort -n |
    awk -v f="${2:-%.0f}" '{v[NR]=$1} END {if (NR == 0) print "-"; else printf f "\n", (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
}
