"""Autoencoders and VAEs (Kingma & Welling 2014): `--config configs/vae.py:PRESET[,key=value...]`.

Presets (times measured on a 2-core CPU, 2026-11-28; numbers from --mode eval on the test split):
  smoke      tiny MLP VAE, 3 steps on mnist5k: the test suite's one-step check (seconds).
  demo       MLP VAE 784-512-2 on the built-in mnist5k digits, dynamic binarisation, Adam 1e-3,
             batch 128, 6000 steps, ten per compiled call (~45 s with the eval, 2026-12-06). Leaves
             samples, reconstructions and the 2-D latent manifold in the workdir. Measured on the 500
             held-out digits: ELBO -157.0 nats, IWAE(k=1000) -151.7 nats, linear-probe accuracy 0.55
             (a 2-D code); with the mnist5k classifier (README "Sample quality"), 10k samples: FID-D
             426, recall_d 0.0004 (blurry decoder means), all 10 classes covered.
  conv_demo  convolutional VAE (z = 16) on mnist5k, 2000 steps at batch 64 (~2.5 min): ELBO -103.4,
             IWAE(k=100) -96.4 nats, linear probe 0.88; FID-D 146, IS_d 7.24, recall_d 0.71.
  demo_cond  issue 14's digits demo: conv_demo made class-conditional (Sohn et al. 2015: y joins encoder
             and decoder) with a learned full-covariance Gaussian prior per class, p(z|y) = N(m_y, S_y),
             8000 steps (5.1 min of training, 5.3 min with the IWAE eval, 2026-12-07). Judged by the
             mnist5k classifier on 5,000 samples: FID-D 7.4, 97.4% recognised (confidence > 0.9), the
             rarest class at 0.97 of its share, 98.2% of the asked-for class; test NLL 88.7 nats given
             the labels (IWAE k=100). With N(0, I) instead (the same network, 2000 steps) FID-D was 168:
             the classes' codes do not fill N(0, I), and samples from its holes are malformed strokes.
             Reproduce from the workdir: python launch.py --workdir runs/vae-demo-cond --mode eval
             --set eval.feature_network=classifier --set eval.classifier_workdir=runs/classifier-mnist5k
  demo_mixture  the unconditional counterpart: conv_demo with a learned mixture prior, p(z) = sum_k pi_k
             N(m_k, S_k), K = 10 full-covariance components, 12000 steps (~7.5 min alone at demo_cond's
             26 steps/s; 12.4 min measured while sharing the CPU with another training). 5,000 samples:
             FID-D 15.9, 92.0% recognised, the rarest class at 0.89 of its share; test NLL 91.0 nats.
             With N(0, I), the same network at 8000 steps: FID-D 104, 73.7% recognised; with the
             mixture at 8000 steps: FID-D 25.7, 89.4% (90.6% at sample.temperature=0.9).
             Reproduce: as demo_cond, with --workdir runs/vae-demo-mixture.
 on the built-in 32x32 colour crops
             `photos32`, dequantised (~4 min, eval ~1.5 min): 7.14 bits/dim on the held-out photo
             (IWAE k=100) -- it overfits its six training photos; a demo of the Gaussian path.
  ae_demo    deterministic autoencoder (L2 reconstruction), z = 2, on mnist5k (~25 s): summed
             squared error 36.6 per test image, linear probe 0.58.
  mnist      the paper's setting on real MNIST through tfds: MLP 784-500-z with tanh units,
             z = 20 (try model.z_dim in {2, 5, 10, 20}), minibatch 100, one sample per datapoint,
             Adagrad lr 0.02, weights from N(0, 0.01^2), weight decay from the N(0, I) prior,
             dynamic binarisation. 1M steps = 1e8 training samples, the length of the paper's
             curves. Not yet run by us (needs the prepared tfds dataset); the published anchor is
             -log p(x) = 86.76 nats (Burda et al. 2016, a larger two-layer VAE, k = 1 training).
  ae_smoke, conv_smoke, cond_smoke, photos_smoke: tiny variants for the test suite.

Example: python launch.py --config configs/vae.py:demo --workdir runs/vae-demo
"""
from __future__ import annotations

import ml_collections

from configs import common


def _vae_base() -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "vae"
    c.model = ml_collections.ConfigDict()
    c.model.kind = "vae"  # vae | ae
    c.model.arch = "mlp"  # mlp | conv
    c.model.hidden = (512,)  # MLP hidden widths, encoder order (the decoder mirrors them)
    c.model.conv_features = (32, 64)  # conv channels, encoder order; each halves the resolution
    c.model.z_dim = 2
    c.model.activation = "relu"  # relu | tanh | softplus | leaky_relu
    c.model.decoder = "bernoulli"  # bernoulli | gaussian (per-pixel mean and log-variance)
    c.model.init_std = 0.0  # 0 keeps Flax's default initialiser; > 0 draws weights from N(0, init_std^2)
    c.model.class_conditional = False  # the conditional VAE (Sohn et al. 2015): q(z|x, y), p(x|z, y)
    # standard_normal | class_gaussian (learned N(m_y, S_y) per class; conditional) | gaussian_mixture (learned)
    c.model.prior = "standard_normal"
    c.model.prior_components = 10  # gaussian_mixture: K full-covariance components

    c.data.preprocess = "binarize_dynamic"
    c.data.batch_size = 128  # splits over 1, 2, 4, 8 or 16 devices
    c.train.num_steps = 6000
    c.train.log_every = 200
    c.train.checkpoint_every = 2000
    c.train.sample_every = 2000
    c.train.eval_at_end = True

    # Samples z = m + tau * eps from the prior (m = 0 and unit scale for N(0, I)); tau < 1 trades variety for
    # typical samples, as in Kingma & Dhariwal 2018's reduced-temperature sampling.
    c.sample.temperature = 1.0
    c.eval.iwae_k = (1, 10, 100, 1000)
    c.eval.iwae_chunk = 100  # importance samples evaluated at once
    c.eval.linear_probe = True
    c.eval.traversal_steps = 9
    return c


def smoke() -> ml_collections.ConfigDict:
    c = _vae_base()
    c.model.hidden = (32,)
    c.data.batch_size = 16
    c.data.eval_batch_size = 64
    c.train.num_steps = 3
    c.train.log_every = 1
    c.train.checkpoint_every = 2
    c.train.sample_every = 3
    c.train.num_grid_samples = 16
    c.train.eval_at_end = False
    c.sample.num = 16
    c.eval.num_examples = 64
    c.eval.iwae_k = (1, 4)
    c.eval.iwae_chunk = 4
    return c


def demo() -> ml_collections.ConfigDict:
    c = _vae_base()
    # A 3 ms step: ten per compiled call keep the host's bookkeeping off the two cores (loop efficiency
    # 0.97 against 0.88 one by one, `python benchmarks/vae_train.py`).
    c.train.steps_per_call = 10
    return c


def conv_demo() -> ml_collections.ConfigDict:
    c = _vae_base()
    c.model.arch = "conv"
    c.model.hidden = (256,)
    c.model.conv_features = (16, 32)
    c.model.z_dim = 16
    c.data.batch_size = 64
    c.train.num_steps = 2000
    c.train.checkpoint_every = 1000
    c.train.sample_every = 1000
    c.eval.iwae_k = (1, 10, 100)
    c.eval.iwae_chunk = 10  # memory ~ chunk x eval batch x decoder activations
    return c


def demo_cond() -> ml_collections.ConfigDict:
    c = conv_demo()
    c.model.class_conditional = True
    c.model.prior = "class_gaussian"
    c.train.num_steps = 8000
    c.train.checkpoint_every = 2000
    c.train.sample_every = 2000
    c.eval.num_samples = 5000
    return c


def demo_mixture() -> ml_collections.ConfigDict:
    c = conv_demo()
    c.model.prior = "gaussian_mixture"
    c.train.num_steps = 12000
    c.train.checkpoint_every = 4000
    c.train.sample_every = 4000
    c.eval.num_samples = 5000
    return c


def conv_smoke() -> ml_collections.ConfigDict:
    c = smoke()
    c.model.arch = "conv"
    c.model.conv_features = (8, 16)
    c.model.z_dim = 4
    return c


def cond_smoke() -> ml_collections.ConfigDict:
    c = conv_smoke()
    c.model.class_conditional = True
    c.model.prior = "class_gaussian"
    c.train.num_grid_samples = 20
    return c


def photos() -> ml_collections.ConfigDict:
    c = conv_demo()
    c.data.name = "photos32"
    c.data.preprocess = "dequantize01"
    c.model.decoder = "gaussian"
    c.model.conv_features = (16, 32, 64)
    c.model.z_dim = 32
    c.eval.linear_probe = False  # photos32 has no labels
    return c


def photos_smoke() -> ml_collections.ConfigDict:
    c = conv_smoke()
    c.data.name = "photos32"
    c.data.preprocess = "dequantize01"
    c.model.decoder = "gaussian"
    c.eval.linear_probe = False
    return c


def ae_demo() -> ml_collections.ConfigDict:
    c = _vae_base()
    c.model.kind = "ae"
    c.data.preprocess = "scale01"
    c.train.num_steps = 3000
    return c


def ae_smoke() -> ml_collections.ConfigDict:
    c = smoke()
    c.model.kind = "ae"
    c.data.preprocess = "scale01"
    return c


def mnist() -> ml_collections.ConfigDict:
    c = _vae_base()
    c.data.name = "mnist"
    c.data.batch_size = 100  # the paper's M; on 8 devices override with data.batch_size=96 or 104
    c.model.hidden = (500,)
    c.model.z_dim = 20
    c.model.activation = "tanh"
    c.model.init_std = 0.01
    c.optim.name = "adagrad"
    c.optim.lr = 0.02
    # The paper's weight decay is the N(0, I) prior on the weights: its gradient per
    # minibatch is w * M / N = w * 100 / 60000.
    c.optim.weight_decay = 100 / 60000
    c.train.num_steps = 1_000_000
    c.train.log_every = 1000
    c.train.checkpoint_every = 20000
    c.train.sample_every = 20000
    c.eval.iwae_k = (1, 10, 100, 1000, 5000)
    return c


PRESETS: dict[str, common.Preset] = {
    "smoke": smoke,
    "demo": demo,
    "conv_demo": conv_demo,
    "demo_cond": demo_cond,
    "demo_mixture": demo_mixture,
    "conv_smoke": conv_smoke,
    "cond_smoke": cond_smoke,
    "photos": photos,
    "photos_smoke": photos_smoke,
    "ae_demo": ae_demo,
    "ae_smoke": ae_smoke,
    "mnist": mnist,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    return common.from_presets(arg, PRESETS, default="demo")
