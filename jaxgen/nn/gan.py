"""Generators and discriminators of the GAN family, shared by every loss.

- MLP (Goodfellow et al. 2014): G = two ReLU layers of 1200 units; D = two maxout layers (240 units of
  5 pieces) with dropout.
- DCGAN (Radford et al. 2016) for 28x28, 32x32 and 64x64: G projects z to a 7x7 (28) or 4x4 map and
  doubles it with stride-2 4x4 transposed convolutions (PyTorch's padding 1; nn/transposed_conv.py), BatchNorm + ReLU between, tanh out; D mirrors
  it with stride-2 4x4 convolutions, LeakyReLU 0.2, BatchNorm on all but the first, no pooling;
  bias-free convolutions and N(0, 0.02) weights. At 28x28 with width 64 this is pytorch/examples'
  DCGAN (G 759,680 and D 138,624 parameters).
- The autoencoder discriminator of EBGAN / BEGAN: the DCGAN encoder to an embedding, a DCGAN-style
  decoder back to the image with a linear output; its output is a per-example reconstruction energy.
- BEGAN's own networks (Berthelot et al. 2017, Figure 1; `model.arch=began`): G is the decoder -- a dense
  map of z to an n-channel 8x8 (7x7 at 28x28) map, at each scale two 3x3 convolutions with ELU, nearest-
  neighbour doubling between scales, a linear 3x3 convolution to the image -- and D is an autoencoder whose
  encoder mirrors it (3x3 convolutions with ELU, stride-2 sub-sampling that widens the filters linearly,
  n, 2n, 3n, ...) to an embedding h, and whose decoder has G's shape. No normalisation anywhere.
- pix2pix's PatchGAN (Isola et al. 2017): a fully convolutional D with one logit per overlapping patch,
  shared by pix2pix (on the (input, output) pair), CycleGAN and latent diffusion's first stage.
- StarGAN's D (Choi et al. 2018): 4x4 stride-2 convolutions with LeakyReLU 0.01 and no normalisation, then
  two heads: D_src, a 3x3 convolution to one critic score per patch, and D_cls, a convolution over the whole
  remaining map to one logit per domain label.

Discriminators return a dict: `logit` (B,) -- the adversarial output -- plus, when asked for,
`class_logits` (ACGAN's auxiliary classifier), `code_logits`, `code_mean`, `code_log_std` (infoGAN's Q
network on D's features) or `energy`, `embedding` (autoencoder D). Class conditioning (CGAN) is a
one-hot of the label concatenated to z in G, and to D's input as constant feature maps.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.layers import instance_norm, minibatch_stddev, upsample_nearest
from jaxgen.nn.transposed_conv import TransposedConv

GAN_ARCHITECTURES = ("mlp", "dcgan", "began")
NORMS = ("batch", "layer", "instance", "none")
WEIGHT_INIT = nn.initializers.normal(0.02)


class BatchStatNorm(nn.Module):
    """BatchNorm that always normalises with the statistics of the batch at hand (B, ..., C), in training
    and in sampling alike, as pytorch/examples' DCGAN draws its grids; no running averages to keep.
    Under a sharded jit the mean and variance are those of the global batch."""

    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x, axes)
        var = jnp.mean(jnp.square(x - mean), axes)
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
        bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


def normalise(kind: str, x: jax.Array) -> jax.Array:
    """D's normalisation: batch statistics, per-example layer norm (WGAN-GP's advice: a gradient penalty
    is per example, so the critic must not mix examples), instance norm without affine parameters
    (CycleGAN's PatchGAN) or none."""
    if kind == "batch":
        return BatchStatNorm()(x)
    if kind == "layer":
        return nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1)(x)
    if kind == "instance":
        return instance_norm(x)
    return x


def _one_hot(labels: jax.Array | None, num_classes: int) -> jax.Array | None:
    return jax.nn.one_hot(labels, num_classes) if num_classes else None


def _with_one_hot(features: jax.Array, labels: jax.Array | None, num_classes: int) -> jax.Array:
    """CGAN's conditioning of a flat input: the label's one-hot appended (nothing when unconditional)."""
    return features if not num_classes else jnp.concatenate([features, _one_hot(labels, num_classes)], -1)


def dcgan_base_size(image_size: int) -> int:
    """The side of G's first feature map: 7 for 28x28, 4 for 32x32 and 64x64."""
    if image_size == 28:
        return 7
    if image_size in (32, 64):
        return 4
    raise ValueError(f"DCGAN supports 28x28, 32x32 and 64x64 images, got {image_size}x{image_size} (set data.image_size)")


def num_upsamplings(image_size: int) -> int:
    return int(round(math.log2(image_size // dcgan_base_size(image_size))))


def began_scales(image_size: int) -> tuple[int, int]:
    """(base side, doublings) of BEGAN's decoder: halve the side while it is even and above 8 (32 -> 8,
    two doublings; 28 -> 7; 64 -> 8, three)."""
    side, doublings = image_size, 0
    while side > 8 and side % 2 == 0:
        side, doublings = side // 2, doublings + 1
    if not doublings:
        raise ValueError(f"BEGAN's networks need an even image side above 8, got {image_size}x{image_size} (set data.image_size)")
    return side, doublings


def reconstruction_energy(reconstruction: jax.Array, x: jax.Array, energy: str) -> jax.Array:
    """Per-example energy of an autoencoder D: the mean squared ('l2', EBGAN) or absolute ('l1', BEGAN)
    reconstruction error over the pixels, in float32."""
    error = (reconstruction - x).astype(jnp.float32)
    per_pixel = jnp.square(error) if energy == "l2" else jnp.abs(error)
    return jnp.mean(per_pixel.reshape(x.shape[0], -1), axis=-1)


class MLPGenerator(nn.Module):
    image_shape: tuple[int, int, int]
    hidden: int = 1200
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
        del train
        h = _with_one_hot(z, labels, self.num_classes)
        for _ in range(2):
            h = nn.relu(nn.Dense(self.hidden)(h))
        return jnp.tanh(nn.Dense(math.prod(self.image_shape))(h)).reshape((-1,) + self.image_shape)


class Maxout(nn.Module):
    """max over `pieces` linear maps (Goodfellow et al. 2013)."""

    units: int
    pieces: int = 5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.max(nn.Dense(self.units * self.pieces)(x).reshape(x.shape[:-1] + (self.units, self.pieces)), -1)


class DCGANGenerator(nn.Module):
    image_shape: tuple[int, int, int]
    width: int = 64
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
        del train
        size, _, channels = self.image_shape
        base, ups = dcgan_base_size(size), num_upsamplings(size)
        h = _with_one_hot(z, labels, self.num_classes)
        features = self.width * 2 ** (ups - 1)
        # the 1x1 -> base x base transposed convolution of a projected z is a dense layer
        h = nn.Dense(base * base * features, use_bias=False, kernel_init=WEIGHT_INIT, name="project")(h)
        h = nn.relu(BatchStatNorm()(h.reshape(-1, base, base, features)))
        for i in range(ups):
            last = i == ups - 1
            features = channels if last else features // 2
            h = TransposedConv(features, use_bias=False, kernel_init=WEIGHT_INIT)(h)
            h = jnp.tanh(h) if last else nn.relu(BatchStatNorm()(h))
        return h


class DiscriminatorHeads(nn.Module):
    """ACGAN's class logits and infoGAN's Q outputs from D's shared features."""

    aux_classes: int = 0
    categorical_codes: int = 0
    continuous_codes: int = 0

    @nn.compact
    def __call__(self, features: jax.Array) -> dict[str, jax.Array]:
        out = {}
        if self.aux_classes:
            out["class_logits"] = nn.Dense(self.aux_classes, name="classifier")(features)
        if self.categorical_codes or self.continuous_codes:
            q = nn.leaky_relu(nn.Dense(128, name="q_hidden")(features), 0.2)
            if self.categorical_codes:
                out["code_logits"] = nn.Dense(self.categorical_codes, name="q_categorical")(q)
            if self.continuous_codes:
                out["code_mean"] = nn.Dense(self.continuous_codes, name="q_mean")(q)
                out["code_log_std"] = nn.Dense(self.continuous_codes, name="q_log_std")(q)
        return out


class MLPDiscriminator(nn.Module):
    units: int = 240
    pieces: int = 5
    dropout: float = 0.5
    num_classes: int = 0
    aux_classes: int = 0
    categorical_codes: int = 0
    continuous_codes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> dict[str, jax.Array]:
        h = _with_one_hot(x.reshape(x.shape[0], -1), labels, self.num_classes)
        for _ in range(2):
            h = nn.Dropout(self.dropout, deterministic=not train)(Maxout(self.units, self.pieces)(h))
        return {"logit": nn.Dense(1)(h)[:, 0], **DiscriminatorHeads(self.aux_classes, self.categorical_codes, self.continuous_codes, name="heads")(h)}


class DCGANEncoder(nn.Module):
    """The DCGAN discriminator's convolutional trunk: stride-2 4x4 convolutions down to the base map."""

    width: int = 64
    norm: str = "batch"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = x
        for i in range(num_upsamplings(x.shape[1])):
            h = nn.Conv(self.width * 2**i, (4, 4), (2, 2), padding=((1, 1), (1, 1)), use_bias=False, kernel_init=WEIGHT_INIT)(h)
            if i:
                h = normalise(self.norm, h)
            h = nn.leaky_relu(h, 0.2)
        return h


class DCGANDiscriminator(nn.Module):
    width: int = 64
    norm: str = "batch"
    num_classes: int = 0
    aux_classes: int = 0
    categorical_codes: int = 0
    continuous_codes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> dict[str, jax.Array]:
        del train
        if self.num_classes:
            maps = jnp.broadcast_to(_one_hot(labels, self.num_classes)[:, None, None, :], x.shape[:3] + (self.num_classes,))
            x = jnp.concatenate([x, maps], -1)
        h = DCGANEncoder(self.width, self.norm, name="encoder")(x).reshape(x.shape[0], -1)
        # the final base x base VALID convolution to one output is a dense layer on the flattened map
        logit = nn.Dense(1, use_bias=False, kernel_init=WEIGHT_INIT, name="logit")(h)[:, 0]
        return {"logit": logit, **DiscriminatorHeads(self.aux_classes, self.categorical_codes, self.continuous_codes, name="heads")(h)}


class AutoencoderDiscriminator(nn.Module):
    """EBGAN/BEGAN's D: encode to an `embedding_dim` code, decode, and score each example by its
    reconstruction energy: mean squared error (`energy='l2'`, EBGAN) or mean absolute error ('l1', BEGAN)."""

    width: int = 64
    embedding_dim: int = 64
    energy: str = "l2"
    norm: str = "batch"

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> dict[str, jax.Array]:
        del labels, train
        size, _, channels = x.shape[1:]
        base, ups = dcgan_base_size(size), num_upsamplings(size)
        h = DCGANEncoder(self.width, self.norm, name="encoder")(x)
        embedding = nn.Dense(self.embedding_dim, name="embed")(h.reshape(x.shape[0], -1))
        features = self.width * 2 ** (ups - 1)
        h = nn.Dense(base * base * features, name="unembed")(embedding).reshape(-1, base, base, features)
        for i in range(ups):
            h = nn.relu(h)
            last = i == ups - 1
            h = TransposedConv(channels if last else h.shape[-1] // 2, kernel_init=WEIGHT_INIT)(h)
        reconstruction = h  # linear: a tanh here saturates under the L1 energy and D stops learning
        energy = reconstruction_energy(reconstruction, x, self.energy)
        return {"logit": energy, "energy": energy, "embedding": embedding, "reconstruction": reconstruction}


class BEGANDecoder(nn.Module):
    """BEGAN's decoder: G itself, and the second half of D. Linear output."""

    image_shape: tuple[int, int, int]
    width: int = 64

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        size, _, channels = self.image_shape
        base, doublings = began_scales(size)
        x = nn.Dense(base * base * self.width, name="project")(h).reshape(-1, base, base, self.width)
        for scale in range(doublings + 1):
            if scale:
                x = upsample_nearest(x)
            for _ in range(2):
                x = nn.elu(nn.Conv(self.width, (3, 3))(x))
        return nn.Conv(channels, (3, 3), name="to_image")(x)


class BEGANEncoder(nn.Module):
    """BEGAN's encoder: a 3x3 convolution to n channels, then at scale i two 3x3 convolutions of n (i + 1)
    channels and (below the last scale) a stride-2 3x3 convolution to n (i + 2), ELU after each; a dense
    map of the smallest map to the embedding h (linear). `stddev_group` > 0 appends Karras et al.'s minibatch
    standard deviation map (over groups of that many examples) to the smallest map before the dense layer."""

    width: int = 64
    embedding_dim: int = 64
    stddev_group: int = 0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _, doublings = began_scales(x.shape[1])
        h = nn.elu(nn.Conv(self.width, (3, 3), name="from_image")(x))
        for scale in range(doublings + 1):
            for _ in range(2):
                h = nn.elu(nn.Conv(self.width * (scale + 1), (3, 3))(h))
            if scale < doublings:
                h = nn.elu(nn.Conv(self.width * (scale + 2), (3, 3), (2, 2))(h))
        if self.stddev_group:
            h = minibatch_stddev(h, self.stddev_group)
        return nn.Dense(self.embedding_dim, name="embed")(h.reshape(x.shape[0], -1))


class BEGANGenerator(nn.Module):
    """G = BEGAN's decoder of z, linear like D's own decoder. A tanh here cannot reach the -1 of an MNIST
    background without saturating, while the autoencoder D reconstructs that background almost exactly, so
    G's images stay further from D's fixed points than the real digits and k_t never rises (the grey
    samples of the README's first attempts); the family clips samples into [0, 1]."""

    image_shape: tuple[int, int, int]
    width: int = 64

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
        del labels, train
        return BEGANDecoder(self.image_shape, self.width, name="decoder")(z)


class BEGANDiscriminator(nn.Module):
    """BEGAN's autoencoder D: encoder, embedding, decoder; its output is the per-example reconstruction
    energy (`energy` 'l1' as in the paper, or EBGAN's 'l2'). With `stddev_group` the encoder sees the spread of
    its batch (BEGANEncoder), so D can reconstruct a batch of near-copies worse than a batch of real digits."""

    width: int = 64
    embedding_dim: int = 64
    energy: str = "l1"
    stddev_group: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> dict[str, jax.Array]:
        del labels, train
        embedding = BEGANEncoder(self.width, self.embedding_dim, self.stddev_group, name="encoder")(x)
        reconstruction = BEGANDecoder(x.shape[1:], self.width, name="decoder")(embedding)
        energy = reconstruction_energy(reconstruction, x, self.energy)
        return {"logit": energy, "energy": energy, "embedding": embedding, "reconstruction": reconstruction}


class PatchDiscriminator(nn.Module):
    """pix2pix's N-layer PatchGAN (Isola et al. 2017): 4x4 convolutions, stride 2 for the first `num_layers`,
    then two of stride 1, LeakyReLU 0.2, normalisation (`norm`: batch statistics, instance or none) after all but
    the first and last; one logit per overlapping patch, (B, H', W'). Three layers see 70x70 patches."""

    features: int = 64
    num_layers: int = 3
    norm: str = "batch"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        pad = ((1, 1), (1, 1))
        h = nn.leaky_relu(nn.Conv(self.features, (4, 4), strides=(2, 2), padding=pad, dtype=self.dtype)(x.astype(self.dtype)), 0.2)
        for n in range(1, self.num_layers + 1):
            stride = 2 if n < self.num_layers else 1
            h = nn.Conv(self.features * min(2**n, 8), (4, 4), strides=(stride, stride), padding=pad, use_bias=self.norm == "none",
                        dtype=self.dtype)(h)
            h = nn.leaky_relu(normalise(self.norm, h), 0.2)
        return nn.Conv(1, (4, 4), padding=pad, dtype=self.dtype)(h)[..., 0].astype(jnp.float32)


def receptive_field(num_layers: int) -> int:
    """The PatchGAN's receptive field by the layer recursion r <- r + (k - 1) * jump, jump <- jump * stride,
    over its num_layers + 2 4x4 convolutions (strides 2, ..., 2, 1, 1)."""
    strides = [2] * num_layers + [1, 1]
    field, jump = 1, 1
    for stride in strides:
        field += 3 * jump
        jump *= stride
    return field


def patch_grid_size(size: int, num_layers: int) -> int:
    """The side of the PatchGAN's logit grid for a size x size input: halved num_layers times (4x4, stride 2,
    padding 1), then two 4x4 stride-1 convolutions with padding 1 take one pixel each."""
    return size // 2**num_layers - 2


class DomainDiscriminator(nn.Module):
    """StarGAN's D: x (B, H, W, C) -> {'logit': D_src (B, H / 2^L, W / 2^L), 'domain_logits': D_cls (B, n_d)}."""

    num_domains: int
    features: int = 64
    num_layers: int = 6

    @nn.compact
    def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
        h = x
        for n in range(self.num_layers):
            h = nn.leaky_relu(nn.Conv(self.features * 2**n, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))(h), 0.01)
        source = nn.Conv(1, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, name="source")(h)[..., 0]
        domains = nn.Conv(self.num_domains, h.shape[1:3], padding="VALID", use_bias=False, name="domains")(h)
        return {"logit": source, "domain_logits": domains.reshape(x.shape[0], self.num_domains)}
