"""StarGAN: the networks' shapes and the paper's generator size, the domain classification loss by hand, the
objectives, one step against an independently written update, sampling into given and drawn domains, the
ink-attribute evaluation and the config errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs import stargan as stargan_configs
from jaxgen import run
from jaxgen.data.ink import binary_attributes
from jaxgen.data.preprocess import to_uint8
from jaxgen.errors import InputError
from jaxgen.gan import losses
from jaxgen.nn.gan import DomainDiscriminator
from jaxgen.nn.translation import StarGANGenerator
from jaxgen.tasks import stargan
from jaxgen.validation import ConfigError
from tests.helpers import init_state, make_config, task_and_first_batch


def smoke_task(**overrides):
    return task_and_first_batch(make_config(stargan_configs, "smoke", **overrides))


@pytest.fixture(scope="module")
def task_state_batch():
    task, batch = smoke_task()
    return task, init_state(task, 0), batch


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def test_the_generator_has_the_papers_size_and_the_critic_two_heads():
    """G for 128x128 RGB and five CelebA attributes, counted layer by layer from the paper's table 4: 8,430,528."""
    conv = lambda c_in, c_out, k: c_in * c_out * k * k  # noqa: E731  bias-free convolutions
    norm = lambda c: 2 * c  # noqa: E731  instance norm's scale and shift
    expected = (conv(3 + 5, 64, 7) + norm(64) + conv(64, 128, 4) + norm(128) + conv(128, 256, 4) + norm(256)
                + 6 * 2 * (conv(256, 256, 3) + norm(256))
                + conv(256, 128, 4) + norm(128) + conv(128, 64, 4) + norm(64) + conv(64, 3, 7))
    shapes = jax.eval_shape(StarGANGenerator(3, 64, 6).init, jax.random.PRNGKey(0), jnp.zeros((1, 128, 128, 3)), jnp.zeros((1, 5)))
    assert sum(x.size for x in jax.tree.leaves(shapes)) == expected == 8_430_528
    d = DomainDiscriminator(num_domains=3, features=4, num_layers=3)
    x = jnp.zeros((2, 32, 32, 1))
    out = d.apply(d.init(jax.random.PRNGKey(0), x), x)
    assert out["logit"].shape == (2, 4, 4) and out["domain_logits"].shape == (2, 3)


def test_the_domain_classification_loss_by_hand():
    task, _ = smoke_task()
    logits = np.asarray([[2.0, -1.0], [0.5, 0.3], [-3.0, 4.0]], np.float32)
    domains = np.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    by_hand = -np.mean(np.sum(domains * log_sigmoid(logits) + (1 - domains) * log_sigmoid(-logits), axis=1))
    np.testing.assert_allclose(task.classification_loss(jnp.asarray(logits), jnp.asarray(domains)), by_hand, rtol=1e-5)
    labelled, _ = smoke_task(**{"stargan.domains": "label"})
    class_logits = np.asarray([[2.0, -1.0, 0.0], [0.5, 0.3, 0.1]], np.float32)
    one_hot = np.eye(3, dtype=np.float32)[[0, 2]]
    by_hand = -np.mean([class_logits[0, 0] - np.log(np.exp(class_logits[0]).sum()), class_logits[1, 2] - np.log(np.exp(class_logits[1]).sum())])
    np.testing.assert_allclose(labelled.classification_loss(jnp.asarray(class_logits), jnp.asarray(one_hot)), by_hand, rtol=1e-5)


def test_the_objectives_by_hand(task_state_batch):
    task, state, batch = task_state_batch
    params = state.params
    x = batch["image"].astype(jnp.float32) / 127.5 - 1.0
    source = batch["attributes"]
    target = 1.0 - source
    d = lambda p, images: task.discriminator.apply({"params": p}, images)  # noqa: E731
    fake = task.translate(params["generator"], x, target)
    on_fake = d(params["discriminator"], fake)
    bce = lambda logits, c: -np.mean(np.sum(c * log_sigmoid(logits) + (1 - c) * log_sigmoid(-logits), axis=1))  # noqa: E731
    rec = np.mean(np.abs(np.asarray(x) - np.asarray(task.translate(params["generator"], fake, source))))
    expected_g = -np.mean(on_fake["logit"]) + bce(np.asarray(on_fake["domain_logits"]), np.asarray(target)) + 10.0 * rec
    g_loss, terms = task.generator_objective(params["generator"], params["discriminator"], x, source, target)
    np.testing.assert_allclose(g_loss, expected_g, rtol=1e-5)
    np.testing.assert_allclose(terms["reconstruction"], rec, rtol=1e-5)
    key = jax.random.PRNGKey(3)
    on_real = d(params["discriminator"], x)
    interpolates = losses.interpolates(key, x, fake)
    per_example = jax.vmap(jax.grad(lambda y: jnp.sum(d(params["discriminator"], y[None])["logit"])))(interpolates)
    penalty = np.mean((np.sqrt(np.sum(np.asarray(per_example, np.float64) ** 2, axis=(1, 2, 3))) - 1.0) ** 2)  # the patches' sum
    expected_d = (np.mean(on_fake["logit"]) - np.mean(on_real["logit"]) + 10.0 * float(penalty)
                  + bce(np.asarray(on_real["domain_logits"]), np.asarray(source)))
    d_loss, _ = task.discriminator_objective(params["discriminator"], x, fake, source, key)
    np.testing.assert_allclose(d_loss, expected_d, rtol=1e-5)


def test_one_step_is_n_critic_d_updates_on_their_slices_then_g_on_the_last():
    """With SGD, so that the parameters after the step are linear in the gradients: Adam's first update is
    lr * sign(g), which float rounding flips for the gradients near zero (the penalty's second derivatives)."""
    task, batch = smoke_task(**{"optim.name": "sgd", "optim.lr": 0.1})
    state = init_state(task, 0)
    new_state, metrics = jax.jit(task.train_step)(state, batch)

    @jax.jit
    def written_out(state, batch):
        x = (batch["image"].astype(jnp.float32) / 127.5 - 1.0).reshape((2, 8) + batch["image"].shape[1:])
        c = batch["attributes"].reshape(2, 8, 2)
        for i, key in enumerate(jax.random.split(state.step_rng(), 2)):
            k_target, k_penalty = jax.random.split(key)
            target = c[i][jax.random.permutation(k_target, 8)]
            fake = task.translate(state.params["generator"], x[i], target)
            grads = jax.grad(lambda p: task.discriminator_objective(p, x[i], fake, c[i], k_penalty)[0])(state.params["discriminator"])
            state = state.apply_gradients("discriminator", grads)
        grads = jax.grad(lambda p: task.generator_objective(p, state.params["discriminator"], x[1], c[1], target)[0])(state.params["generator"])
        return state.apply_gradients("generator", grads)

    expected = written_out(state, batch)
    for a, b in zip(jax.tree.leaves(new_state.parts), jax.tree.leaves(expected.parts)):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
    assert int(new_state.parts["discriminator"].updates) == 2 and int(new_state.parts["generator"].updates) == 1
    assert set(metrics) >= {"d_loss", "gradient_penalty", "d_classification", "g_loss", "g_classification", "reconstruction"}


def test_samples_follow_the_target_domain_given_or_drawn(task_state_batch):
    task, state, batch = task_state_batch
    params, image = state.eval_params, batch["image"][:4]
    thick = task.sample(params, jax.random.PRNGKey(0), 4, {"image": image, "attributes": jnp.tile(jnp.asarray([1.0, 0.0]), (4, 1))})
    thin = task.sample(params, jax.random.PRNGKey(0), 4, {"image": image, "attributes": jnp.tile(jnp.asarray([0.0, 0.0]), (4, 1))})
    assert float(jnp.max(jnp.abs(thick - thin))) > 1e-4  # the domain moves the output
    drawn = task.target_domains(jax.random.PRNGKey(7), 4, None)
    np.testing.assert_array_equal(drawn, jax.random.bernoulli(jax.random.PRNGKey(7), 0.5, (4, 2)).astype(jnp.float32))
    np.testing.assert_allclose(task.sample(params, jax.random.PRNGKey(7), 4, {"image": image}),
                               task.sample(params, jax.random.PRNGKey(0), 4, {"image": image, "attributes": drawn}), atol=1e-6)
    with pytest.raises(InputError, match=r"pass cond=\{'image': images\}"):
        task.sample(params, jax.random.PRNGKey(0), 4)


def test_the_evaluation_reads_the_translations_with_the_datas_own_measure(task_state_batch):
    task, state, batch = task_state_batch
    images = jax.random.uniform(jax.random.PRNGKey(0), (6, 16, 16, 1))
    np.testing.assert_array_equal(jax.jit(stargan.measured_attributes)(images), binary_attributes(to_uint8(np.asarray(images))))
    sums = jax.jit(task.eval_batch)(state.eval_params, {**batch, "mask": jnp.ones(16)}, jax.random.PRNGKey(0))
    assert set(sums) == {"count", "reconstruction_l1", "flipped_thick", "flipped_slanted", "others_kept_thick", "others_kept_slanted"}
    assert 0 <= float(sums["flipped_thick"]) <= 16 and float(sums["count"]) == 16


def test_sample_mode_translates_a_folder_into_the_given_attributes(tmp_path):
    config = make_config(stargan_configs, "smoke")
    run.train(config, tmp_path / "run", devices=jax.devices()[:1])
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    experiment, state = run.restored(config, tmp_path / "run", devices=jax.devices()[:1])
    digits = experiment.test_source.read(np.arange(3))["image"]
    for i, digit in enumerate(digits):
        Image.fromarray(digit[..., 0]).save(inputs / f"{i}.png")
    with config.unlocked():
        config.sample.input_dir = str(inputs)
        config.sample.attributes = (1, 1)
    from_folder = run.sample(config, tmp_path / "run")
    direct = experiment.task.sample(state.eval_params, jax.random.PRNGKey(0), 3, {"image": digits, "attributes": jnp.ones((3, 2))})
    np.testing.assert_allclose(from_folder, np.asarray(direct), atol=1e-6)
    with config.unlocked():
        config.sample.attributes = (1, 2)
    with pytest.raises(ConfigError, match=r"sample.attributes must be 2 values of 0 or 1"):
        run.sample(config, tmp_path / "run")


@pytest.mark.parametrize("override, message", [
    ({"data.batch_size": 15}, "multiple of stargan.n_critic=2"),
    ({"data.pair": ""}, "set data.pair='ink_attributes'"),
    ({"data.name": "photos32", "data.pair": "", "stargan.domains": "label"}, "stargan.domains='label' needs labels"),
    ({"stargan.domains": "hair"}, "stargan.domains"),
    ({"data.preprocess": "scale01"}, "data.preprocess='scale11'"),
    ({"model.d_layers": 5}, "multiple of 32"),
    ({"optim.discriminator.ema_decay": 0.9}, "optim.discriminator.ema_decay"),
])
def test_config_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        smoke_task(**override)
