# Sourced by the load scripts: an nginx with one worker that answers every
# request with a fixed status and body and phigate's security headers, the
# yardstick docs/PERFORMANCE.md's targets measure phigate's CPU per request against.
# start_nginx TMPDIR PORT STATUS BODY [PIN]: starts it in the background and
# sets nginx_worker to its worker's pid.

ensure_nginx() {
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || {
    echo "installing nginx for the comparison"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  }
}

start_nginx() {
  local dir=$1 port=$2 status=$3 body=$4 pin=${5:-}
  ensure_nginx
  cat >"$dir/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx.err;
events { worker_connections 4096; }
http {
  access_log /dev/null;
  server_tokens off;
  server {
    listen 127.0.0.1:$port reuseport;
    location / {
      default_type "application/json; charset=utf-8";
      add_header X-Content-Type-Options nosniff always;
      add_header X-Frame-Options DENY always;
      add_header X-XSS-Protection "1; mode=block" always;
      add_header Referrer-Policy strict-origin-when-cross-origin always;
      add_header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'" always;
      add_header Permissions-Policy "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()" always;
      add_header Cache-Control no-store always;
      add_header X-Request-ID \$request_id always;
      return $status '$body';
    }
  }
}
NGINX
  $pin "$(command -v nginx || echo /usr/sbin/nginx)" -c "$dir/nginx.conf" -p "$dir" &
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  for _ in $(seq 100); do [ -s "$dir/nginx.pid" ] && break; sleep 0.05; done
  nginx_worker=$(pgrep -P "$(cat "$dir/nginx.pid")" | head -1)
}
