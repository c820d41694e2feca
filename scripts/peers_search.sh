#!/usr/bin/env bash
# Time-to-solution against Timeloop's mapper on the problems of ../shared/reference/peers/
# (Eyeriss-like design with row-stationary constraints, Timeloop's own input files).
# Usage: [BUDGET=N] scripts/peers_search.sh [ALGO...]   (default: exhaustive; budget 10^6)
# Prints one line per (problem, algo): evaluations, seconds, pJ/MAC, time to reach
# Timeloop's best pJ/MAC (from timeloop_mapper_runs.csv, fixed20k_1t runs).
set -euo pipefail
cd "$(dirname "$0")/.."
P=../shared/reference/peers/timeloop_inputs
CSV=../shared/reference/peers/timeloop_mapper_runs.csv
[ -d "$P" ] || { echo "no $P: peer reference inputs absent" >&2; exit 0; }
cargo build --release --quiet
L=target/release/loomap
ALGOS=("${@:-exhaustive}")
TMP=$(mktemp -d)
for prob in resnet18_conv2_1 VGG02_layer5 resnet50_conv4_x_3x3; do
  $L import timeloop $P/eyeriss_ex06/arch/eyeriss_like.yaml $P/eyeriss_ex06/arch/components/*.yaml \
     $P/eyeriss_ex06/constraints/*.yaml $P/eyeriss_ex06/ert/*.yaml $P/prob/$prob.yaml --out $TMP/$prob >/dev/null 2>&1
  tl=$(awk -F, -v p="${prob}_fixed20k_1t" '$1==p {print $17" "$23}' $CSV)
  for algo in "${ALGOS[@]}"; do
    $L search --arch $TMP/$prob/arch.toml --workload $TMP/$prob/workload.toml \
       --constraints $TMP/$prob/constraints.toml --algo "$algo" --objective energy \
       --budget ${BUDGET:-1000000} --seed 1 --format json > $TMP/$prob.$algo.json || true
    python3 - "$TMP/$prob.$algo.json" "$prob" "$algo" $tl <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); prob, algo = sys.argv[2], sys.argv[3]
tl_ppm, tl_time = float(sys.argv[4]), float(sys.argv[5])
b = r["best"]; macs = b["macs"]
reach = next((t for t in r["trace"] if t["score"][0] / macs <= tl_ppm * (1 + 1e-9)), None)
print(f"{prob:22} {algo:13} evals {r['evaluations']:7} in {r['wall_s']:.3f} s  "
      f"best {b['pj_per_mac']:.4f} pJ/MAC ({'optimal' if r['optimal'] else r['stop_reason']})  "
      f"Timeloop {tl_ppm:.4f} pJ/MAC after {tl_time:.1f} s; loomap reaches it "
      + (f"after {reach['evaluations']} evals, {reach['wall_s']:.3f} s" if reach else "never"))
PY
  done
done
rm -rf "$TMP"
