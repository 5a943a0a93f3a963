"""The state's layout on the (data, fsdp, tensor) mesh: the rules, the fsdp trajectory against the
replicated one, per-device bytes, and checkpoints moving between mesh shapes."""
import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxgen import parallel, run
from jaxgen.errors import ConfigError
from jaxgen.train.sharding import ShardingRules, bytes_per_device, leaf_path
from tests.helpers import ddpm_config, vae_config
from tests.train.test_loop import losses


def mesh(fsdp=1, tensor=1):
    return parallel.make_mesh(jax.devices(), fsdp, tensor)


def test_auto_splits_the_largest_divisible_dimension_over_fsdp_and_keeps_small_leaves_whole():
    rules, eight = ShardingRules(min_shard_size=100), mesh(fsdp=8)
    assert rules.spec("w", (3, 3, 16, 64), eight) == P(None, None, None, "fsdp")
    assert rules.spec("w", (784, 36), eight) == P("fsdp", None)  # 36 is not divisible by 8
    assert rules.spec("w", (3, 5, 7, 9), eight) == P()  # nothing divisible
    assert rules.spec("bias", (64,), eight) == P()  # under min_shard_size
    assert rules.spec("w", (3, 3, 16, 64), mesh(fsdp=1)) == P()  # no fsdp axis to split over


def test_named_rules_map_logical_axes_to_mesh_axes_first_match_wins():
    rules = ShardingRules(
        rules=((r"qkv/kernel$", "embed heads"), (r"kernel$", "_ fsdp"), (".*", "replicated")),
        logical_axes=(("embed", "fsdp"), ("heads", "tensor")),
    )
    grid = mesh(fsdp=2, tensor=2)
    assert rules.spec("parts/model/opt_state/0/mu/Attention_0/qkv/kernel", (16, 48), grid) == P("fsdp", "tensor")
    assert rules.spec("parts/model/params/Conv_0/kernel", (3, 3, 8, 16), grid) == P(None, None, None, "fsdp")
    assert rules.spec("parts/model/params/Conv_0/bias", (16,), grid) == P()


def test_bad_rules_and_meshes_are_one_error_naming_the_key():
    config = vae_config("smoke", **{"mesh.param_rules": ((r"kernel$", "_ model"),)})
    with pytest.raises(ConfigError, match="mesh.param_rules.*'model'.*neither a logical axis"):
        run.build_experiment(config, "/tmp/unused-sharding-workdir", read_only=True)
    with pytest.raises(ConfigError, match=r"mesh.param_rules.*\(32, 4\) over 'fsdp', whose 8 devices do not divide 4"):
        ShardingRules(rules=((r"kernel$", "_ fsdp"),)).spec("Dense_1/kernel", (32, 4), mesh(fsdp=8))
    with pytest.raises(ConfigError, match="'mesh.fsdp'=3 and 'mesh.tensor'=1: their product must divide the 8 devices"):
        mesh(fsdp=3)
    with pytest.raises(ConfigError, match="mesh.param_rules.*not a regular expression"):
        ShardingRules.from_config(vae_config("smoke", **{"mesh.param_rules": (("(", "auto"),)}))
    with pytest.raises(ConfigError, match="'mesh.devices'=9 asks for more than the 8 devices"):
        parallel.first_devices(None, 9)


def test_mesh_devices_builds_the_mesh_over_the_first_devices():
    assert parallel.first_devices(None, 0) is None and parallel.first_devices(jax.devices()[:2], 0) == jax.devices()[:2]
    experiment = run.build_experiment(vae_config("smoke", **{"mesh.devices": 2, "data.batch_size": 2, "data.eval_batch_size": 2}),
                                      "/tmp/unused-sharding-workdir", read_only=True)
    assert list(experiment.mesh.devices.flat) == jax.devices()[:2]


def test_leaf_paths_name_the_parameter_inside_any_tree():
    tree = {"parts": {"model": {"opt_state": ({"mu": {"Dense_0": {"kernel": np.zeros(2)}}},)}}}
    (path, _), = jax.tree_util.tree_flatten_with_path(tree)[0]
    assert leaf_path(path) == "parts/model/opt_state/0/mu/Dense_0/kernel"


def quick(**overrides):
    base = {"train.num_steps": 6, "train.log_every": 1, "train.checkpoint_every": 3, "train.sample_every": 1000,
            "mesh.min_shard_size": 0}
    return vae_config("smoke", **{**base, **overrides})


def trained_bytes(state):
    return bytes_per_device(state.parts)


def test_fsdp_and_tensor_layouts_follow_the_replicated_trajectory_with_a_fraction_of_the_bytes(tmp_path):
    replicated = run.train(quick(), tmp_path / "replicated")
    fsdp = run.train(quick(**{"mesh.fsdp": 8}), tmp_path / "fsdp")
    tensor = run.train(quick(**{"mesh.fsdp": 2, "mesh.tensor": 2, "mesh.param_rules": ((r"kernel$", "embed mlp"), (".*", "auto"))}),
                       tmp_path / "tensor")
    reference = losses(tmp_path / "replicated")
    for name in ("fsdp", "tensor"):
        trajectory = losses(tmp_path / name)
        np.testing.assert_allclose([trajectory[s] for s in reference], list(reference.values()), rtol=2e-5)
    for state in (fsdp, tensor):
        for a, b in zip(jax.tree.leaves(jax.device_get(replicated.params)), jax.tree.leaves(jax.device_get(state.params))):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

    kernel = fsdp.parts["model"].params["encoder"]["MLP_0"]["Dense_0"]["kernel"]  # (784, 32)
    assert kernel.sharding.spec[0] == "fsdp" and kernel.addressable_shards[0].data.shape == (98, 32)
    same_weight = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(fsdp.parts)[0]
                   if leaf_path(path).endswith("encoder/MLP_0/Dense_0/kernel")]
    assert len(same_weight) == 3  # the parameter and Adam's two moments
    assert all(leaf.sharding == kernel.sharding for leaf in same_weight)
    full = sum(leaf.nbytes for leaf in jax.tree.leaves(replicated.parts))
    assert trained_bytes(replicated) == full
    # Only the 4-wide encoder output bias (and its moments and the counters) has no dimension divisible by 8.
    assert trained_bytes(fsdp) <= full / 8 * 1.01
    assert trained_bytes(tensor) < full / 3.9  # kernels split over fsdp x tensor (4 ways), biases over fsdp (2)
    assert tensor.parts["model"].params["decoder"]["MLP_0"]["Dense_1"]["kernel"].sharding.spec == P("fsdp", "tensor")


def test_a_paper_unet_state_divides_by_the_fsdp_factor_under_the_default_rules(tmp_path):
    config = ddpm_config("mnist", **{"mesh.fsdp": 8, "data.name": "mnist5k", "data.image_size": 32})
    laid_out = run.build_experiment(config, tmp_path).abstract_state.parts  # shapes and shardings, nothing allocated
    full = sum(int(np.prod(leaf.shape)) * leaf.dtype.itemsize for leaf in jax.tree.leaves(laid_out))
    assert full > 90 * 2**20  # the DDPM paper's 32x32 UNet: parameters, Adam's moments and the EMA
    assert 7.5 < full / bytes_per_device(laid_out) <= 8  # leaves under mesh.min_shard_size (biases, norms) stay whole


def test_sharded_checkpoints_restore_on_other_mesh_shapes(tmp_path):
    eight = run.train(quick(**{"mesh.fsdp": 8, "train.num_steps": 3}), tmp_path / "eight")
    on_one = run.load_run(tmp_path / "eight", devices=jax.devices()[:1], overrides=["mesh.fsdp=1"]).state
    assert all(len(leaf.sharding.device_set) == 1 for leaf in jax.tree.leaves(on_one.params))
    for a, b in zip(jax.tree.leaves(jax.device_get(eight.params)), jax.tree.leaves(jax.device_get(on_one.params))):
        np.testing.assert_array_equal(a, b)

    one = run.train(quick(**{"train.num_steps": 3}), tmp_path / "one", devices=jax.devices()[:1])
    on_eight = run.load_run(tmp_path / "one", overrides=["mesh.fsdp=8"]).state
    assert bytes_per_device(on_eight.parts) < bytes_per_device(one.parts) / 7
    for a, b in zip(jax.tree.leaves(jax.device_get(one.params)), jax.tree.leaves(jax.device_get(on_eight.params))):
        np.testing.assert_array_equal(a, b)

    resumed = run.train(quick(**{"mesh.fsdp": 2}), tmp_path / "eight")  # training goes on over another layout
    assert int(resumed.step) == 6
    assert sorted(losses(tmp_path / "eight")) == list(range(1, 7))
