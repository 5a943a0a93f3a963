"""Diffusion maths (Ho et al. 2020 and successors): schedules, the forward process and its posterior,
losses and the variational bound, and the samplers as pure `lax.scan` functions.

Importable without any training code: nothing here imports jaxgen.train or jaxgen.tasks.
"""
from jaxgen.diffusion.schedules import Schedule, cosine_schedule, from_betas, linear_schedule, scaled_linear_schedule

__all__ = ["Schedule", "cosine_schedule", "from_betas", "linear_schedule", "scaled_linear_schedule"]
