"""Entry point of `make bench`: runs every bench/bench_*.py (or those named) and prints one table."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeviz.settings")


def main(argv: list[str]) -> int:
    import django

    django.setup()
    import bench
    from bench.harness import Figure, print_table

    wanted = set(argv)
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    figures: list[Figure] = []
    failed = False
    for name in names:
        if wanted and name.removeprefix("bench_") not in wanted and name not in wanted:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            figures.extend(importlib.import_module(f"bench.{name}").run())
        except Exception:
            failed = True
            traceback.print_exc()
    if not names:
        print("no benchmarks yet", file=sys.stderr)
    print_table(figures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
