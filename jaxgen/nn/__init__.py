"""Pure Flax (linen) building blocks and backbones: no losses, optimisers or I/O."""
from jaxgen.nn.autoencoders import MLP, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from jaxgen.nn.layers import ACTIVATIONS, activation_fn

__all__ = ["ACTIVATIONS", "MLP", "ConvDecoder", "ConvEncoder", "MLPDecoder", "MLPEncoder", "activation_fn"]
