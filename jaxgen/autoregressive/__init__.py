"""Autoregressive image models' maths: per-pixel likelihoods and the pixel-by-pixel sampler,
importable without any training code."""
from jaxgen.autoregressive.likelihoods import KINDS, PixelLikelihood, model_input
from jaxgen.autoregressive.sampling import sample_levels, sample_levels_cached, sample_levels_gated_cached

__all__ = ["KINDS", "PixelLikelihood", "model_input", "sample_levels", "sample_levels_cached", "sample_levels_gated_cached"]
