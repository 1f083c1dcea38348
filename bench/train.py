"""Training and skill figures of a checkpoint: RMSE against persistence on held-out dates.

    .venv/bin/python bench/train.py --checkpoint stats/demo/checkpoint.npz --stats stats/demo

Prints the RMSE of the checkpoint and of persistence at 6, 24 and 72 h for 500 hPa
geopotential, 850 hPa temperature and 2 m temperature, averaged over init times spread through
2026 (the demo was trained on 2025), and the wall time of the evaluation. With `--log` it also
summarises a training log (`<checkpoint>.log.jsonl`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from forecast.training.skill import skill_against_persistence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="stats/demo/checkpoint.npz")
    parser.add_argument("--stats", default="stats/demo")
    parser.add_argument("--inits", type=int, default=12, help="init times through 2026")
    parser.add_argument("--log", type=Path, default=None, help="training log to summarise")
    args = parser.parse_args()

    if args.log is not None and args.log.exists():
        records = [json.loads(line) for line in args.log.read_text().splitlines()]
        for phase in sorted({r["phase"] for r in records}):
            rows = [r for r in records if r["phase"] == phase]
            head = sum(r["loss"] for r in rows[:20]) / min(20, len(rows))
            tail = sum(r["loss"] for r in rows[-20:]) / min(20, len(rows))
            val = [r["validation_loss"] for r in rows if "validation_loss" in r]
            print(
                f"phase {phase}: {len(rows)} steps, K={rows[0]['rollout_steps']}, loss "
                f"{head:.4f} -> {tail:.4f}, last validation {val[-1] if val else None}"
            )
    # Held-out: spread over 2026 at varied hours of the day.
    inits = pd.date_range("2026-01-07", "2026-12-20", periods=args.inits).floor("6h")
    started = time.perf_counter()
    table = skill_against_persistence(args.checkpoint, args.stats, inits)
    print(f"{len(inits)} init times {inits[0]} … {inits[-1]}")
    print("\n".join(table.lines()))
    print(f"beats persistence everywhere: {table.beats_persistence()}")
    print(f"evaluation wall time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
