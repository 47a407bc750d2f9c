# Sourced by the *_under_load.sh scripts: a throw-away cluster on loopback beside CPU hogs.
# Sets WORK (a fresh folder) and PIDS (every process started, killed on exit).
WORK=$(mktemp -d /tmp/tessera-load-XXXXXX)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# write_config MEMBER ARCHITECTURE WEIGHTS [SECTION LINES…]: $WORK/cluster.conf with ipc endpoints.
write_config() {
    local member=$1 architecture=$2 weights=$3; shift 3
    {
        printf '[coordinator]\nworkers = ipc://%s/w.sock\nclients = ipc://%s/c.sock\nmetrics = ipc://%s/m.sock\nstate = %s/state\n\n' \
            "$WORK" "$WORK" "$WORK" "$WORK"
        for line in "$@"; do printf '%s\n' "$line"; done
        printf '\n[member %s]\narchitecture = %s\nweights = %s\n' "$member" "$architecture" "$weights"
    } > "$WORK/cluster.conf"
}

# start_hogs N: N busy processes, and the line that says where this runs.
start_hogs() {
    for _ in $(seq 1 "$1"); do yes > /dev/null & PIDS+=($!); done
    echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $1 CPU hogs beside"
}
