# Sourced by the benchmarks that load nginx: installs it from Debian if needed, starts it on a
# free loopback port with bench/nginx.conf in a fresh directory, and sets URL, TMP and
# NGINX_PID; an EXIT trap stops it by its PID and removes the directory.
#
# nginx runs in a session of its own, as a service would: the kernel's autogroup scheduler then
# gives it its own share of the CPU instead of one share split between it and the threads of the
# tool being measured (which favours no tool: each competes with nginx the same way).
tests/debian-package.sh /usr/sbin/nginx nginx nginx
TMP=$(mktemp -d)
NGINX_PID=""
nginx_down() {
  if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap nginx_down EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed "s#PORT#$PORT#; s#DIR#$TMP#g" bench/nginx.conf >"$TMP/nginx.conf"
setsid /usr/sbin/nginx -c "$TMP/nginx.conf" -p "$TMP" &
NGINX_PID=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/stub_status" >/dev/null && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT"
# Requests nginx has served so far (its stub_status counts its own readings too).
served() { curl -s "$URL/stub_status" | awk 'NR==3 {print $3}'; }
