#!/usr/bin/env python3
"""Fits the constants of src/estimate (SRAM and register-file models) to the 45 nm
Accelergy ERT/ART entries in ../shared/reference/timeloop/ert-summary.csv.

Pure Python (no numpy): Nelder-Mead on the sum of squared log errors. Run it from the repo
root; it prints the fitted constants and the per-entry errors. The constants are then
copied (rounded) into src/estimate/memory.rs, whose tests re-check the errors.

The SRAM write and area fits below are superseded by the organisation model
(src/estimate/sram.rs, refit by `cargo test --release --test it refit_sram_constants --
--ignored --nocapture`); only the SRAM read and leak constants here are still used.
"""
import csv, math, os, sys

ROOT = os.environ.get("REF", "../shared/reference/timeloop")
if not os.path.exists(ROOT):
    ROOT = "../../shared/reference/timeloop"


def load():
    rows = list(csv.DictReader(open(os.path.join(ROOT, "ert-summary.csv"))))
    groups = {}
    for r in rows:
        if r["class"] in ("XY_NoC", ""):
            continue
        key = (r["case"], r["component"])
        g = groups.setdefault(key, {"row": r, "acts": {}, "area": None})
        try:
            e = float(r["energy_pJ"])
            g["acts"][r["action"]] = max(e, g["acts"].get(r["action"], 0.0))
        except ValueError:
            pass
        try:
            g["area"] = float(r["area_um2"])
        except ValueError:
            pass
    return groups


def geometry(r):
    w = r["width"] or r["memory_width"]
    d = r["depth"] or r["memory_depth"]
    return (int(w), int(d)) if w and d else None


def nelder_mead(f, x0, iters=20000, step=0.3):
    n = len(x0)
    pts = [list(x0)] + [[x0[j] + (step if j == i else 0.0) for j in range(n)] for i in range(n)]
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = sorted(range(n + 1), key=lambda i: vals[i])
        pts = [pts[i] for i in order]
        vals = [vals[i] for i in order]
        c = [sum(p[j] for p in pts[:-1]) / n for j in range(n)]
        xr = [c[j] + (c[j] - pts[-1][j]) for j in range(n)]
        fr = f(xr)
        if fr < vals[0]:
            xe = [c[j] + 2 * (c[j] - pts[-1][j]) for j in range(n)]
            fe = f(xe)
            pts[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = xr, fr
        else:
            xc = [c[j] + 0.5 * (pts[-1][j] - c[j]) for j in range(n)]
            fc = f(xc)
            if fc < vals[-1]:
                pts[-1], vals[-1] = xc, fc
            else:
                for i in range(1, n + 1):
                    pts[i] = [pts[0][j] + 0.5 * (pts[i][j] - pts[0][j]) for j in range(n)]
                    vals[i] = f(pts[i])
    return pts[0], vals[0]


def fit(name, data, model, x0):
    """data: list of ((w, d), target); minimises the sum of squared log errors."""
    def loss(p):
        s = 0.0
        for (w, d), t in data:
            m = model(p, w, d)
            if m <= 0:
                return 1e9
            s += math.log(m / t) ** 2
        return s
    best, val = nelder_mead(loss, x0)
    best, val = nelder_mead(loss, best)
    print(f"\n{name}: params = {[float('%.6g' % v) for v in best]}")
    worst = 0.0
    for (w, d), t in data:
        m = model(best, w, d)
        err = m / t - 1
        worst = max(worst, abs(err))
        print(f"  w={w:4} d={d:6}  ref={t:12.6g}  fit={m:12.6g}  err={100*err:+6.1f}%")
    print(f"  max |err| = {100*worst:.1f}%")
    return best


def main():
    groups = load()
    sram, rf_family, rf_all = {}, {}, {}
    for (case, comp), g in groups.items():
        r = g["row"]
        if r["technology"] != "45nm" or case.startswith(("acc_", "legacy2020")):
            continue  # older Accelergy generation: reported by the test, not fitted
        geo = geometry(r)
        if geo is None or geo[1] < 2:
            continue
        est = r["estimators"]
        if "CactiSRAM" in est:
            sram[geo] = g
        elif "Library" in est and r["memory_width"] in ("32", "64"):
            rf_all[geo] = g
            if r["memory_width"] == "32" and geo[1] <= 256:
                rf_family[geo] = g
    # Register-file energies: every Library regfile; where one shape appears twice (sl_01
    # adds a metadata path), keep the lower variant.
    rf_energy = {}
    for (case, comp), g in groups.items():
        r = g["row"]
        geo = geometry(r)
        if (r["technology"] != "45nm" or case.startswith(("acc_", "legacy2020")) or geo is None
                or geo[1] < 2 or "Library" not in r["estimators"]
                or r["class"] not in ("smartbuffer_RF", "storage", "regfile")):
            continue
        if geo in rf_energy and rf_energy[geo]["acts"].get("read", 0) < g["acts"].get("read", 0):
            continue
        rf_energy[geo] = g

    def sram_read(p, w, d):
        r0, r1, lh, a, gw = p
        return w * (w / 64) ** gw * (math.exp(r0) + math.exp(r1) / (1 + (math.exp(lh) / d) ** a))
    p = fit("SRAM read pJ", [(k, g["acts"]["read"]) for k, g in sram.items()], sram_read,
            [-3.3, -0.54, 8.56, 1.18, 0.09])
    print("  floor, span, half depth, exp, width exp =",
          math.exp(p[0]), math.exp(p[1]), math.exp(p[2]), p[3], p[4])

    def sram_write(p, w, d):
        r0, r1, lh, gw = p
        return w * (w / 64) ** gw * (math.exp(r0) + math.exp(r1) / (1 + (math.exp(lh) / d) ** 3.0))
    p = fit("SRAM write pJ (depth exponent held at 3)",
            [(k, g["acts"]["write"]) for k, g in sram.items()], sram_write, [-2.4, -1.2, 7.7, 0.05])
    print("  floor, span, half depth, width exp =", math.exp(p[0]), math.exp(p[1]), math.exp(p[2]), p[3])

    p = fit("SRAM area um2", [(k, g["area"]) for k, g in sram.items()],
            lambda p, w, d: math.exp(p[0]) * w * d, [0.0])
    print("  um2/bit =", math.exp(p[0]))

    def leak(p, w, d):
        return math.exp(p[0]) * w * d + math.exp(p[1])
    p = fit("SRAM leak pJ/cycle", [(k, g["acts"]["leak"]) for k, g in sram.items()], leak, [-19, -7])
    print("  per bit, fixed =", math.exp(p[0]), math.exp(p[1]))

    def power(p, w, d):
        return w * math.exp(p[0]) * d ** p[1]
    for action in ("read", "write"):
        p = fit(f"RF {action} pJ", [(k, g["acts"][action]) for k, g in rf_energy.items()], power, [-6, 0.8])
        print("  k, depth exp =", math.exp(p[0]), p[1])

    def rf_area(p, w, d):
        a0, a1, lh, b = p
        return w * d * (math.exp(a0) + math.exp(a1) / (1 + (math.exp(lh) / d) ** b))
    p = fit("RF area um2", [(k, g["area"]) for k, g in rf_all.items()], rf_area, [-0.1, 1.4, 3.6, 2.7])
    print("  floor, span, half depth, exp =", math.exp(p[0]), math.exp(p[1]), math.exp(p[2]), p[3])

    p = fit("RF leak pJ/cycle", [(k, g["acts"]["leak"]) for k, g in rf_family.items()], power, [-13, 0.9])
    print("  k, depth exp =", math.exp(p[0]), p[1])


main()
