"""A strided transposed convolution whose kernel gradient is one matrix product.

`transposed_conv(x, w, stride, padding, output_padding)` is PyTorch's ConvTranspose2d(kernel k, stride s,
padding p, output_padding q): out[s m + u - p] += x[m] w[u] over input positions m and kernel taps u (per
spatial axis), output size s (H - 1) + k - 2p + q (q extra positions at the far end: CycleGAN's 3x3
stride-2 layers use q = 1 to double the size exactly). The forward pass and the input gradient are XLA convolutions. The kernel gradient,
dW[u, v] = sum_{b, m, n} x[b, m, n]^T dy_pad[b, s m + u, s n + v], is computed as the k^2 strided slices of
the padded output gradient against x in one matmul: XLA's CPU backend runs the convolution it would
otherwise emit for it (a kernel-gradient convolution that contracts over the batch) ~10x slower than
that product -- 317 ms against ~27 ms for DCGAN's 7x7x128 -> 14x14x64 layer at batch 128.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _forward(x: jax.Array, w: jax.Array, stride: int, padding: int, output_padding: int) -> jax.Array:
    k = w.shape[0]
    edges = (k - 1 - padding, k - 1 - padding + output_padding)
    return jax.lax.conv_general_dilated(
        x, w[::-1, ::-1], (1, 1), (edges, edges), lhs_dilation=(stride, stride),
        dimension_numbers=_DIMENSIONS,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def transposed_conv(x: jax.Array, w: jax.Array, stride: int, padding: int, output_padding: int = 0) -> jax.Array:
    """x (B, H, W, C_in), w (k, k, C_in, C_out) -> (B, s (H - 1) + k - 2p + q, s (W - 1) + k - 2p + q, C_out)."""
    return _forward(x, w, stride, padding, output_padding)


def _transposed_conv_fwd(x: jax.Array, w: jax.Array, stride: int, padding: int, output_padding: int) -> tuple[jax.Array, tuple]:
    return _forward(x, w, stride, padding, output_padding), (x, w)


def _transposed_conv_bwd(
    stride: int, padding: int, output_padding: int, residuals: tuple, dy: jax.Array
) -> tuple[jax.Array, jax.Array]:
    x, w = residuals
    _, input_vjp = jax.vjp(lambda inputs: _forward(inputs, w, stride, padding, output_padding), x)
    b, h, wd, c_in = x.shape
    k, c_out = w.shape[0], w.shape[-1]
    # back to the uncropped output s (H - 1) + k: p positions in front, p - q behind (negative: cut off)
    far = padding - output_padding
    dy_pad = jax.lax.pad(dy, jnp.zeros((), dy.dtype), ((0, 0, 0), (padding, far, 0), (padding, far, 0), (0, 0, 0)))
    span_h, span_w = stride * (h - 1) + 1, stride * (wd - 1) + 1
    columns = jnp.stack(
        [dy_pad[:, u:u + span_h:stride, v:v + span_w:stride] for u in range(k) for v in range(k)], axis=3
    )  # (B, H, W, k*k, C_out)
    dw = x.reshape(-1, c_in).T @ columns.reshape(-1, k * k * c_out)
    return input_vjp(dy)[0], dw.reshape(c_in, k, k, c_out).transpose(1, 2, 0, 3).astype(w.dtype)


transposed_conv.defvjp(_transposed_conv_fwd, _transposed_conv_bwd)


class TransposedConv(nn.Module):
    """ConvTranspose2d(features, kernel_size, stride, padding, output_padding) of PyTorch, kernel HWIO,
    optional bias."""

    features: int
    kernel_size: int = 4
    stride: int = 2
    padding: int = 1
    output_padding: int = 0
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        w = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        y = transposed_conv(x, w, self.stride, self.padding, self.output_padding)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y
