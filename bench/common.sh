# Shared by the bench scripts; source it from the repository's root.

# SERVER_CPUS and WRK_CPUS (taskset lists): the first half of the cores for
# the server, the rest for the load generator, unless given; server_n and
# wrk_n count them.
split_cpus() {
  local cpus half
  cpus=$(nproc)
  half=$((cpus / 2))
  SERVER_CPUS=${SERVER_CPUS:-0-$((half - 1))}
  WRK_CPUS=${WRK_CPUS:-$half-$((cpus - 1))}
  server_n=$(count_cpus "$SERVER_CPUS")
  wrk_n=$(count_cpus "$WRK_CPUS")
}

count_cpus() {
  python3 -c "import sys; print(sum(len(range(int(a), int(b or a) + 1)) for a, _, b in (p.partition('-') for p in sys.argv[1].split(','))))" "$1"
}

# The offline demo's config at $1, with its cache in $2 and absolute paths
# to the recorded answers and templates.
offline_config() {
  sed "s#^dir = \"../cache/offline\"#dir = \"$2\"#; s#file://recorded/#file://$PWD/examples/recorded/#; s#^dir = \"../templates\"#dir = \"$PWD/templates\"#" \
    examples/offline.toml > "$1"
}

# Waits up to 10 s for the service at $1 to answer /healthz.
wait_ready() {
  for _ in $(seq 50); do curl -sf "$1/healthz" >/dev/null && return 0; sleep 0.2; done
  echo "no answer from $1"; return 1
}
