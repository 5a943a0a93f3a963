"""Evaluation: likelihood estimators and feature probes (metrics on samples arrive with issue 3)."""
