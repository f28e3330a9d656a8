# Helpers the benchmark scripts share; `source "$(dirname "$0")/lib.sh"`.

# A free TCP port on 127.0.0.1 (bound and released; the server takes it next).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (up to 5 s) until something accepts on 127.0.0.1:PORT.
wait_port() {
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
