"""Pure Flax (linen) building blocks and backbones: no losses, optimisers or I/O."""
from jaxgen.nn.autoencoders import MLP, ClassGaussianPrior, ConvDecoder, ConvEncoder, GaussianMixturePrior, MLPDecoder, MLPEncoder
from jaxgen.nn.layers import ACTIVATIONS, activation_fn

__all__ = ["ACTIVATIONS", "MLP", "ClassGaussianPrior", "ConvDecoder", "ConvEncoder", "GaussianMixturePrior", "MLPDecoder", "MLPEncoder", "activation_fn"]
