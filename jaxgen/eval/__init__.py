"""Evaluation: sample-quality metrics and their protocol, feature networks, likelihoods, image similarity, probes."""
