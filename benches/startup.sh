#!/usr/bin/env bash
# Startup time of one corecached server: launches BIN with -t SHARDS on a free loopback
# port and times it until a `version` request is answered (polling every 10 ms, giving up
# after 60 s), then stops it with SIGTERM.
# Usage: bash benches/startup.sh BIN SHARDS
bin=$1; t=$2
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
s0=$(date +%s.%N); "$bin" -p $P -l 127.0.0.1 -t $t & pid=$!
python3 - $P <<'PY'
import socket,sys,time
p=int(sys.argv[1]); t0=time.time()
while time.time()-t0<60:
    try:
        s=socket.create_connection(("127.0.0.1",p),timeout=60); s.sendall(b"version\r\n"); d=s.recv(100)
        if d.startswith(b"VERSION"): break
    except OSError: time.sleep(0.01)
PY
s1=$(date +%s.%N); echo "t=$t ready after $(echo "$s1-$s0"|bc) s"; kill -TERM $pid; wait $pid
