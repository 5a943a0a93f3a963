"""PixelRNN's Row LSTM (van den Oord et al. 2016a, section 3.1).

A 7x7 mask-A convolution to 2h channels, then Row LSTM layers with residual connections, then the
per-channel output head of the masked models. A Row LSTM layer computes a whole row at once: its gates
are the input-to-state term K^is * x_r (a 1 x k convolution along the row, mask B) plus the
state-to-state term K^ss * h_{r-1} (a width-k convolution of the previous row's hidden state), so each
state sees a triangle of rows above. The recurrence over rows is a `lax.scan`; `use_scan=False` unrolls
it as a Python loop instead (the same maths; the benchmark's and the tests' reference).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn.masked_conv import MaskedConv, gate_groups
from jaxgen.nn.pixelcnn import PerChannelLogits


class RowLSTM(nn.Module):
    """x (B, H, W, F) -> hidden states (B, H, W, hidden), row r depending on rows <= r of x (mask B
    along the row) and, through h_{r-1}, on the rows above."""

    hidden: int
    colours: int
    kernel_size: int = 3
    use_scan: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        n, k = self.hidden, self.kernel_size
        input_to_state = MaskedConv(4 * n, (1, k), "B", self.colours, out_groups=gate_groups(n, self.colours, 4), dtype=self.dtype,
                                    name="input_to_state")(x)
        state_kernel = self.param("state_to_state", nn.initializers.lecun_normal(), (k, n, 4 * n))

        def row_step(carry: tuple[jax.Array, jax.Array], gates_in: jax.Array) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
            c_prev, h_prev = carry  # (B, W, n) each
            recurrent = jax.lax.conv_general_dilated(
                h_prev, state_kernel.astype(self.dtype), (1,), ((k // 2, k // 2),), dimension_numbers=("NWC", "WIO", "NWC")
            )
            i, f, o, g = jnp.split(gates_in + recurrent, 4, axis=-1)
            c = nn.sigmoid(f) * c_prev + nn.sigmoid(i) * jnp.tanh(g)
            h = nn.sigmoid(o) * jnp.tanh(c)
            return (c, h), h

        rows = jnp.swapaxes(input_to_state, 0, 1)  # (H, B, W, 4n)
        zeros = jnp.zeros(rows.shape[1:3] + (n,), self.dtype)
        if self.use_scan:
            _, hidden = jax.lax.scan(row_step, (zeros, zeros), rows)
        else:
            carry, outputs = (zeros, zeros), []
            for row in rows:
                carry, h = row_step(carry, row)
                outputs.append(h)
            hidden = jnp.stack(outputs)
        return jnp.swapaxes(hidden, 0, 1)


class RowLSTMPixelRNN(nn.Module):
    """The Row LSTM network: a residual stream of 2h = `features` channels; each layer's h LSTM states
    return to it through a 1x1 mask-B convolution."""

    features: int
    num_layers: int
    colours: int
    num_levels: int
    output_features: int = 1024
    output_layers: int = 2
    first_kernel: int = 7
    use_scan: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
        del labels, train
        k = self.first_kernel
        h = MaskedConv(self.features, (k, k), "A", self.colours, dtype=self.dtype)(x)
        for _ in range(self.num_layers):
            states = RowLSTM(self.features // 2, self.colours, use_scan=self.use_scan, dtype=self.dtype)(h)
            h = h + MaskedConv(self.features, (1, 1), "B", self.colours, dtype=self.dtype)(states)
        head = PerChannelLogits(self.output_features, self.output_layers - 1, self.colours, self.num_levels, self.dtype)
        return head(h)
