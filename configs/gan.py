"""GANs: `--config configs/gan.py:PRESET[,loss=LOSS][,arch=ARCH][,key=value...]`.

`loss=` picks a row of the loss table (jaxgen/tasks/gan.py) together with its paper's optimisers and
constants; `arch=` mlp | dcgan | began (BEGAN's own ELU autoencoder D and decoder G, for loss=began or
ebgan; the paper also draws z from U[-1, 1]: gan.z_prior=uniform). Both apply before the `key=value`
overrides, so those win.

  loss      optimisers (G / D: optim.generator.* / optim.discriminator.*, both defaulting to optim.*)
                                                             constants
  gan       Adam 2e-4, b1 0.5 / same (Radford et al.)        generator_loss non_saturating | minimax
  lsgan     Adam 2e-4, b1 0.5 / same (Mao et al.)
  wgan      RMSProp 5e-5 / same (Arjovsky et al.)            n_critic 5, clip 0.01
  wgan_gp   Adam 1e-4, b1 0, b2 0.9 / same (Gulrajani)       n_critic 5, penalty 10, layer-norm critic
  dragan    Adam 1e-4, b1 0.5 / same (Kodali et al.)         penalty 10, layer-norm D
  cgan      Adam 2e-4, b1 0.5 / same                         one-hot class to G and D
  infogan   Adam 1e-3 / 2e-4, b1 0.5 (Chen et al.)           10-way categorical + 2 continuous codes, weight 1
  acgan     Adam 2e-4, b1 0.5 / same (Odena et al.)          class cross-entropy weight 1
  ebgan     Adam 1e-3, b1 0.5 / same (Zhao et al.)           margin 1 on the per-pixel MSE, PT weight 0.1
  began     Adam 1e-4, b1 0.5 / same (Berthelot et al.)      gamma 0.5, lambda_k 1e-3, L1 energy (gan.began_eta 1)

Presets (command; runtime on a 2-core CPU; expected metric):
  smoke          tiny DCGAN on mnist5k, batch 16, 2 steps: the test suite's one-step check (seconds).
  demo_cond      the digits demo: conditional DCGAN (loss=cgan: G and D see the class) with an EMA of G's
                 weights (decay 0.999 with warm-up; samples and evaluation use it), batch 64, 3000 steps
                 (8.6 min on a quiet 2-core CPU, 5.8 steps/s). 5,000 samples, the mnist5k classifier
                 (README "Results"): FID-D 17.9, 95.0% recognised, every class (the rarest at 0.96 of its
                 share), 95.5% drawn as the asked-for class. From the workdir alone:
                 python launch.py --workdir runs/gan-demo-cond --mode eval --set eval.feature_network=classifier \
                     --set eval.classifier_workdir=runs/classifier-mnist5k
  demo           the same recipe unconditional (loss=gan): FID-D 152, 73.7% recognised, the rarest class at
                 0.46 of its share -- below the conditional demo at the same 3000 steps (README "Results").
                 At 17,000 steps (~32 min, demo,train.num_steps=17000): FID-D 91.9, 78.9% recognised, rarest 0.60.
  compare        the loss table's budget: DCGAN, non-saturating loss, batch 64, 2000 steps, G's raw weights.
                 `python launch.py --config configs/gan.py:compare,loss=LOSS --workdir runs/gan-LOSS`
                 (3.5 min with its evaluation); FID-D 167 with loss=gan, 27 with loss=cgan (README
                 "Results" has every loss).
  began          BEGAN's own networks and recipe (ELU autoencoder D, linear decoder G, z ~ U[-1, 1]^64,
                 lambda_k 1e-3, Adam 1e-4, batch 16), 6,000 steps, but gamma = 1: at the paper's 0.5 the
                 autoencoder reconstructs G's first flat images about as well as the digits (L(G(z)) 0.10,
                 L(x) 0.11), k_t stays at 0 and G stays grey (1,000 steps). At gamma 1 k_t rises, slowly (0.07 by
                 the end), and G learns to draw the digit the autoencoder reconstructs best -- only ones:
                 99.96% recognised, one class, FID-D 1484, precision 0.72, recall 0.02 (the 28x28 mnist5k
                 classifier, 5,000 samples). ~17 min alone (5.8 steps/s; 33 min here beside another run).
                 python launch.py --config configs/gan.py:began --workdir runs/began-demo
  began_mbstd    BEGAN that covers the ten digits: `began` with the paper's other target norm eta = 2
                 (gan.began_eta: under L1 the flat black image is a trap that G does not leave), lambda_k 1e-2
                 and a minibatch stddev map over the 16 images of D's batch in its encoder
                 (model.minibatch_stddev, Karras et al.'s feature, not BEGAN's: the equilibrium alone lets G
                 settle on ones, the digits with the least ink), 12,000 steps (~35 min alone, ~6 steps/s).
                 FID-D 220, IS-D 6.9, 71.5% recognised, every class (the rarest at 0.50 of its share), precision
                 0.53, recall 0.47 (the 28x28 mnist5k classifier, 5,000 samples; README "Results" has the runs
                 that led here).
                 python launch.py --config configs/gan.py:began_mbstd --workdir runs/began-mbstd
  mnist          DCGAN (width 64) on MNIST, batch 64, 50k steps (Lucic et al.'s setting: batch 64).
                 `python launch.py --config configs/gan.py:mnist --workdir runs/gan-mnist`: needs tfds
                 mnist; hours on a CPU, not run here. Published (Lucic et al. 2018): Inception FID
                 about 7-20 by loss.
  mnist_mlp      Goodfellow et al.'s MLP GAN on MNIST (maxout D with dropout), batch 100.
                 `python launch.py --config configs/gan.py:mnist_mlp --workdir runs/gan-mlp`: needs tfds
                 mnist; not run here. The paper reports a Parzen log-likelihood of 225 nats, which we
                 do not compute (FID-D with eval.feature_network=classifier instead).
  fashion_mnist  the mnist preset on Fashion-MNIST: needs tfds fashion_mnist; not run here.
  cifar10        DCGAN 32x32, batch 64, 100k steps; Inception FID/IS in eval. Needs tfds cifar10 and an
                 accelerator; not run here. Published anchor: WGAN-GP's IS 7.86 (loss=wgan_gp).
  celeb_a        DCGAN 64x64 on CelebA (Radford et al.: batch 128), 100k steps. Needs tfds celeb_a and
                 an accelerator; not run here (Radford et al. report samples, no metric).

Example: python launch.py --config configs/gan.py:demo_cond --workdir runs/gan-demo-cond
         python launch.py --config configs/gan.py:mnist,loss=wgan_gp --workdir runs/wgan-gp-mnist
"""
from __future__ import annotations

import ml_collections

from configs import common

LOSS_SETTINGS: dict[str, dict[str, object]] = {
    "gan": {},
    "lsgan": {},
    "wgan": {"optim.name": "rmsprop", "optim.lr": 5e-5, "gan.n_critic": 5},
    "wgan_gp": {
        "optim.lr": 1e-4, "optim.b1": 0.0, "optim.b2": 0.9, "gan.n_critic": 5, "gan.penalty_weight": 10.0,
        "model.d_norm": "layer",
    },
    "dragan": {"optim.lr": 1e-4, "gan.penalty_weight": 10.0, "model.d_norm": "layer"},
    "cgan": {},
    "infogan": {"optim.generator.lr": 1e-3, "gan.z_dim": 62, "gan.categorical_codes": 10, "gan.continuous_codes": 2},
    "acgan": {},
    "ebgan": {"optim.lr": 1e-3},
    "began": {"optim.lr": 1e-4},
}


def _gan_base() -> ml_collections.ConfigDict:
    c = common.base_config()
    c.task = "gan"
    c.gan = ml_collections.ConfigDict()
    c.gan.loss = "gan"
    c.gan.generator_loss = "non_saturating"  # non_saturating | minimax (the log-loss rows)
    c.gan.z_dim = 100
    c.gan.z_prior = "normal"  # normal: N(0, I) | uniform: U[-1, 1]^z_dim (BEGAN)
    c.gan.n_critic = 1  # D updates per G update; data.batch_size = n_critic * D's minibatch
    c.gan.reuse_fakes = False  # n_critic 1: G's update reuses the fakes of D's update (one G forward, PyTorch's DCGAN example)
    c.gan.clip = 0.01  # WGAN's weight clipping
    c.gan.penalty_weight = 10.0  # lambda of WGAN-GP / DRAGAN
    c.gan.r1_weight = 0.0  # gamma of the zero-centred gradient penalty on real data (0: off)
    c.gan.label_smoothing = 0.0  # one-sided: real target 1 - s
    c.gan.instance_noise = 0.0  # initial std of Gaussian noise on D's inputs, annealed to 0
    c.gan.info_weight = 1.0
    c.gan.categorical_codes = 0
    c.gan.continuous_codes = 0
    c.gan.aux_weight = 1.0  # ACGAN's class term
    c.gan.margin = 1.0  # EBGAN's m, on the per-pixel mean squared reconstruction error
    c.gan.pt_weight = 0.1
    c.gan.began_gamma = 0.5
    c.gan.began_lambda_k = 1e-3
    c.gan.began_eta = 1  # BEGAN's target norm: L(v) = mean |v - D(v)|^eta, eta 1 (the paper's runs) or 2

    c.model = ml_collections.ConfigDict()
    c.model.arch = "dcgan"  # mlp | dcgan | began (BEGAN's ELU autoencoders; loss began or ebgan)
    c.model.width = 64  # DCGAN channels at the highest resolution (D) / before the output (G)
    c.model.d_norm = "batch"  # batch | layer | none (D's normalisation)
    c.model.embedding_dim = 64  # autoencoder D's code (EBGAN/BEGAN)
    c.model.minibatch_stddev = 0  # arch=began: group size of a minibatch stddev map in D's encoder (0: none, the paper's)
    c.model.mlp_hidden = 1200
    c.model.maxout_units = 240
    c.model.maxout_pieces = 5
    c.model.dropout = 0.5  # MLP discriminator

    c.optim.lr = 2e-4  # optim.* are both players' settings; optim.generator.* / optim.discriminator.* override
    c.optim.b1 = 0.5
    c.optim.generator = common.part_optim(c.optim)
    c.optim.discriminator = common.part_optim(c.optim)
    c.optim.discriminator.ema_decay = 0.0  # optim.ema_decay (or optim.generator.ema_decay) averages G alone

    c.data.preprocess = "scale11"
    c.data.batch_size = 64
    c.data.eval_batch_size = 512
    c.train.num_steps = 2000
    c.train.log_every = 100
    c.train.checkpoint_every = 1000
    c.train.sample_every = 500
    c.train.num_grid_samples = 100
    c.eval.num_samples = 5000
    return c


def smoke() -> ml_collections.ConfigDict:
    c = _gan_base()
    c.model.width = 8
    c.model.mlp_hidden = 32
    c.model.maxout_units = 16
    c.model.embedding_dim = 8
    c.gan.z_dim = 8
    c.data.batch_size = 16
    c.data.eval_batch_size = 32
    c.train.num_steps = 2
    c.train.log_every = 1
    c.train.checkpoint_every = 2
    c.train.sample_every = 2
    c.train.num_grid_samples = 20
    c.sample.num = 8
    c.eval.num_examples = 32
    return c


def compare() -> ml_collections.ConfigDict:
    return _gan_base()


def demo() -> ml_collections.ConfigDict:
    c = _gan_base()
    c.optim.generator.ema_decay = 0.999
    c.optim.ema_warmup = True  # without it the random initial weights still weigh 0.999^3000 = 5% at the end
    c.train.num_steps = 3000
    c.train.checkpoint_every = 1500
    c.train.eval_at_end = True
    return c


def demo_cond() -> ml_collections.ConfigDict:
    return with_choices(demo(), "cgan", None)


def mnist() -> ml_collections.ConfigDict:
    c = _gan_base()
    c.data.name = "mnist"
    c.train.num_steps = 50_000
    c.train.checkpoint_every = 5000
    c.train.sample_every = 2500
    c.eval.num_samples = 10_000
    return c


def mnist_mlp() -> ml_collections.ConfigDict:
    c = mnist()
    c.model.arch = "mlp"
    c.data.batch_size = 100
    return c


def fashion_mnist() -> ml_collections.ConfigDict:
    c = mnist()
    c.data.name = "fashion_mnist"
    return c


def cifar10() -> ml_collections.ConfigDict:
    c = mnist()
    c.data.name = "cifar10"
    c.train.num_steps = 100_000
    c.eval.num_samples = 50_000
    c.eval.feature_network = "inception"
    return c


def celeb_a() -> ml_collections.ConfigDict:
    c = cifar10()
    c.data.name = "celeb_a"
    c.data.image_size = 64
    c.data.batch_size = 128
    return c


def began() -> ml_collections.ConfigDict:
    """BEGAN's recipe (Berthelot et al. 2017) on mnist5k: its own ELU networks, z ~ U[-1, 1]^64, a 64-d
    embedding, lambda_k 1e-3, Adam 1e-4 / b1 0.5, batch 16 -- with gamma 1 (the module docstring says why)."""
    c = with_choices(_gan_base(), "began", "began")
    c.gan.began_gamma = 1.0
    c.gan.z_prior = "uniform"
    c.gan.z_dim = 64
    c.model.embedding_dim = 64
    c.model.width = 32
    c.data.batch_size = 16
    c.train.num_steps = 6000
    c.train.checkpoint_every = 2000
    c.train.sample_every = 1000
    c.train.eval_at_end = True
    return c


def began_mbstd() -> ml_collections.ConfigDict:
    """`began` with the paper's other target norm (eta = 2), faster control (lambda_k 1e-2) and a minibatch
    stddev map over the batch of 16 in D's encoder; the module docstring and the README give the measured why."""
    c = began()
    c.gan.began_eta = 2
    c.gan.began_lambda_k = 1e-2
    c.model.minibatch_stddev = 16
    common.set_schedule(c, 12_000, c.train.log_every, 2000)
    return c


PRESETS: dict[str, common.Preset] = {
    "smoke": smoke,
    "began": began,
    "began_mbstd": began_mbstd,
    "compare": compare,
    "demo": demo,
    "demo_cond": demo_cond,
    "mnist": mnist,
    "mnist_mlp": mnist_mlp,
    "fashion_mnist": fashion_mnist,
    "cifar10": cifar10,
    "celeb_a": celeb_a,
}
CHOICES = ("loss", "arch")


def with_choices(config: ml_collections.ConfigDict, loss: str | None, arch: str | None) -> ml_collections.ConfigDict:
    """`config` with `loss`'s paper settings (LOSS_SETTINGS) and the architecture `arch` applied."""
    if loss is not None:
        if loss not in LOSS_SETTINGS:
            raise common.ConfigError(f"loss='{loss}' is not a GAN loss; choose one of {', '.join(LOSS_SETTINGS)}")
        config.gan.loss = loss
        for key, value in LOSS_SETTINGS[loss].items():
            common.apply_override(config, key, repr(value) if not isinstance(value, str) else value)
        if config.gan.n_critic > 1:
            config.data.batch_size *= config.gan.n_critic  # each critic update keeps the preset's minibatch
    if arch is not None:
        common.apply_override(config, "model.arch", arch)
    return config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    parts = common.split_top_level(arg or "demo")
    picks = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in parts if p.split("=", 1)[0] in CHOICES}
    rest = [p for p in parts if p.split("=", 1)[0] not in CHOICES]
    presets = {name: (lambda f=f: with_choices(f(), picks.get("loss"), picks.get("arch"))) for name, f in PRESETS.items()}
    return common.from_presets(",".join(rest) or "demo", presets, default="demo")
