"""Experiments: machines and runs described in files, parameter sweeps, result tables and
plots (docs/experiments.md)."""
