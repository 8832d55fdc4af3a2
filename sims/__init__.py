"""Experiments, sweeps, run directories, plots and the `deml` command line."""
