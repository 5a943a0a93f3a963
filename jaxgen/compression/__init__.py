"""Perceptual compression (latent diffusion's first stage) as pure functions: vector quantisation with its
losses, EMA codebook and dead-code restarts; the diagonal Gaussian posterior; the adaptive weight of the
adversarial term. No training code."""
