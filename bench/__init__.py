"""Benchmarks of the operator against a real kube-apiserver and the emulator: `python -m bench --help`.

Every figure is measured beside its floor or baseline in the same run, so a number never stands alone, and
the results are written to `bench/RESULTS.md` with SVG charts next to it.
"""
