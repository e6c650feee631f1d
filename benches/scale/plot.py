"""Plots benches/scale.csv (written by `cargo bench --bench scale`) into a PNG:
wall time and controller memory of a no-op converge apply against the number of hosts."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
fig, (wall, mem) = plt.subplots(1, 2, figsize=(11, 4.2))
for mode, style in (("default", "o-"), ("--control-persist 0", "s--")):
    pts = [r for r in rows if r["mode"] == mode]
    hosts = [int(r["hosts"]) for r in pts]
    label = "masters resumed (default)" if mode == "default" else "new connections (--control-persist 0)"
    wall.plot(hosts, [float(r["wall_s"]) for r in pts], style, label=label)
    mem.plot(hosts, [float(r["rss_mb"]) for r in pts], style, label=f"RSS, {label}")
    mem.plot(hosts, [float(r["pss_mb"]) for r in pts], style, alpha=0.5, label=f"PSS, {label}")
wall.axhline(5, color="grey", linestyle=":", label="target: 5 s at 100 hosts")
mem.axhline(100, color="grey", linestyle=":", label="target: 100 MB")
wall.set(xlabel="hosts", ylabel="no-op apply, wall time (s)", title="converge no-op apply")
mem.set(xlabel="hosts", ylabel="controller memory (MB)", title="controller process tree, peak")
for ax in (wall, mem):
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
