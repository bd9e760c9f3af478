#!/usr/bin/env bash
# Server throughput, issue 20: the CLI's Kestrel app on Rx.Netstack (`rx-netstack tun`), the SAME app on Kestrel's kernel
# socket transport (`rx-netstack http`), and nginx answering a response of the same size — one after another, in one
# network namespace made for the run, driven by the same clients: wrk (keep-alive) and ab (a new connection per request).
# Needs root, ab, wrk, nginx, curl and a Release build: dotnet build Rx.Netstack.sln -c Release
#
#   sudo bench/http-compare.sh [--seconds 10] [--connections 50] [--requests 20000] [--rounds 1]
#
# Prints a row per server and round (requests/s, each client's errors) and the ratios to kernel Kestrel and nginx —
# of the medians when there are several rounds. Rounds alternate the servers, so a machine whose load drifts (shared,
# other jobs) shifts all three alike instead of whichever ran last.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10 connections=50 requests=20000 rounds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--connections C] [--requests N] [--rounds R]" >&2; exit 2 ;;
  esac
done

dll=${RX_NETSTACK_DLL:-Rx.Netstack.Cli/bin/Release/net10.0/rx-netstack.dll}
[ -f "$dll" ] || { echo "no $dll: build first (dotnet build Rx.Netstack.sln -c Release)" >&2; exit 1; }
for tool in ip ab wrk nginx curl; do command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }; done
[ "$(id -u)" -eq 0 ] || { echo "needs root (a network namespace and a TUN device)" >&2; exit 1; }

ns=rxhttp-$$ dev=rxh0 kernel=10.78.0.1 stack=10.78.0.2
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
in_ns() { ip netns exec "$ns" "$@"; }

ip netns add "$ns"
in_ns ip link set lo up
in_ns ip tuntap add dev "$dev" mode tun
in_ns ip addr add "$kernel/24" dev "$dev"
in_ns ip link set "$dev" up

# nginx: the same body and content type as HttpRoutes.HelloBody, one worker per core, no access log (the CLI runs --quiet).
cat > "$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server {
    listen $kernel:8081 backlog=4096;
    location = /hello { default_type "text/plain; charset=utf-8"; return 200 "Hello from rx-netstack\n"; }
  }
}
NGINX

start_server() { # name → sets server_pid and url
  # `ip netns exec` directly, not through in_ns: a backgrounded function is a subshell, and $! would be the subshell's
  # pid, not the server's (ip netns exec execs the server in place, so its pid is the server's).
  case "$1" in
    rx-netstack)
      ip netns exec "$ns" dotnet "$dll" tun --device "$dev" --address "$stack/24" --quiet >"$work/server.log" 2>&1 &
      url="http://$stack/hello" ;;
    kestrel-kernel)
      ip netns exec "$ns" dotnet "$dll" http --listen "$kernel:8080" --quiet >"$work/server.log" 2>&1 &
      url="http://$kernel:8080/hello" ;;
    nginx)
      ip netns exec "$ns" nginx -c "$work/nginx.conf" >"$work/server.log" 2>&1 &
      url="http://$kernel:8081/hello" ;;
  esac
  server_pid=$!
  for _ in $(seq 100); do # up to 20 s for the process to answer
    in_ns curl -sf --max-time 1 -o /dev/null "$url" && return 0
    sleep 0.2
  done
  echo "$1 did not answer $url" >&2; cat "$work/server.log" >&2; return 1
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

echo "$(date -Is)  load: $(uptime | sed 's/.*load average: //')  commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)  CLI $dll"
echo "wrk -t2 -c$connections -d${seconds}s (keep-alive) · ab -c $connections -n $requests (a connection per request) · after a warm-up of each"
printf '%-16s %10s %-22s %10s %-24s %s\n' server "keep-alive" "(wrk errors)" "new conn" "(ab failed)" "header+body bytes"
declare -A rps_ka rps_nc  # server → space-separated requests/s, one per round
for round in $(seq "$rounds"); do
for server in rx-netstack kestrel-kernel nginx; do
  start_server "$server"
  size=$(in_ns curl -s -D - -o /dev/null "$url" | wc -c)+$(in_ns curl -s "$url" | wc -c)
  # Warm-up: the JIT and Kestrel's pools (the same for every server, so nginx is not favoured).
  in_ns wrk -t2 -c"$connections" -d2s "$url" >/dev/null 2>&1 || true
  in_ns timeout 60 ab -c "$connections" -n 2000 -s 10 "$url" >/dev/null 2>&1 || true

  wrk_out=$(in_ns wrk -t2 -c"$connections" -d"${seconds}s" "$url" 2>&1 || true)
  ka=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$wrk_out")
  # wrk prints these lines only when there were errors: "Socket errors: connect 0, read 1, write 0, timeout 0", "Non-2xx …".
  ka_err=$(awk '/Socket errors:/ {gsub(",", ""); printf "c/r/w/t %s/%s/%s/%s ", $4, $6, $8, $10} /Non-2xx/ {printf "non-2xx %s", $NF}' <<<"$wrk_out")
  ab_out=$(in_ns timeout 180 ab -r -c "$connections" -n "$requests" -s 20 "$url" 2>&1 || true)
  nc=$(awk '/^Requests per second:/ {printf "%.0f", $4}' <<<"$ab_out")
  nc_err=$(awk '/^Failed requests:/ {f=$3} /^Non-2xx/ {n=$3} /^Total of/ {t=$3} END {
    if (t) printf "stalled after %s", t; else printf "failed %s%s", f, (n ? ", non-2xx " n : "") }' <<<"$ab_out")
  stop_server
  rps_ka[$server]+="${ka:-0} " rps_nc[$server]+="${nc:-0} "
  printf '%-16s %10s %-22s %10s %-24s %s\n' "$server" "${ka:-–}" "(${ka_err:-none})" "${nc:-–}" "($nc_err)" "$size"
done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{v[NR]=$1} END { if (NR % 2) print v[(NR+1)/2]; else printf "%.0f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "–" }'; }
declare -A med_ka med_nc
for server in rx-netstack kestrel-kernel nginx; do
  med_ka[$server]=$(median "${rps_ka[$server]}") med_nc[$server]=$(median "${rps_nc[$server]}")
done
echo
if [ "$rounds" -gt 1 ]; then
  echo "medians of $rounds rounds (keep-alive / new connection):"
  for server in rx-netstack kestrel-kernel nginx; do printf '  %-16s %10s / %s\n' "$server" "${med_ka[$server]}" "${med_nc[$server]}"; done
fi
echo "rx-netstack / kernel Kestrel: keep-alive $(ratio "${med_ka[rx-netstack]}" "${med_ka[kestrel-kernel]}")×, new connection $(ratio "${med_nc[rx-netstack]}" "${med_nc[kestrel-kernel]}")×"
echo "rx-netstack / nginx:          keep-alive $(ratio "${med_ka[rx-netstack]}" "${med_ka[nginx]}")×, new connection $(ratio "${med_nc[rx-netstack]}" "${med_nc[nginx]}")×"
echo "$(date -Is)  load: $(uptime | sed 's/.*load average: //')"
