"""The models are the reference implementations' models.

References (read with the project's search tools):
* openai/pixel-cnn ``pixel_cnn_pp/nn.py`` (``gated_resnet``, ``dense``, ``conv2d``, ``deconv2d``) and
  ``pixel_cnn_pp/model.py`` (``model_spec``), ``train.py`` (defaults: nr_resnet 5, nr_filters 160,
  nr_logistic_mix 10, resnet_nonlinearity concat_elu);
* neocxi/pixelsnail-public ``pixel_cnn_pp/model.py`` (``_base_noup_smallkey_spec``, the
  ``h12_noup_smallkey`` model of its README's CIFAR-10 command) and ``train.py`` (defaults: nr_resnet 4,
  nr_filters 256, resnet_nonlinearity elu, Adam mom1 0.95, mom2 0.9995, lr 1e-3, lr_decay 0.999998,
  polyak_decay 0.9995, dropout 0.5);
* rosinality/vq-vae-2-pytorch ``pixelsnail.py`` (``CausalAttention``: 8 heads over in_channel // 2
  channels, dropout on the attention weights).
"""

import json
from pathlib import Path

import numpy as np
import pytest

import pixelcnn_lib as pl
from pixelcnn_lib import nn as L

REPO = Path(__file__).resolve().parents[1]


# --- parameter counts derived from the references' layer shapes ------------------------------------
# Every reference layer is weight-normalised: a conv2d/deconv2d/dense/nin holds V (kh, kw, in, out),
# g (out) and b (out), so kh * kw * in * out + 2 * out parameters.

def conv(kh, kw, c_in, c_out):
    return kh * kw * c_in * c_out + 2 * c_out


def nin(c_in, c_out):
    return conv(1, 1, c_in, c_out)


def gated_resnet(f, kernel, aux=0, widening=1):
    """nn.gated_resnet: conv(f(x), F), optional nin(f(a), F), conv(f(c1), 2F); f doubles channels if concat_elu."""
    return conv(*kernel, widening * f, f) + conv(*kernel, widening * f, 2 * f) + (nin(widening * aux, f) if aux else 0)


def reference_pixelsnail_parameters(F=256, C=3, nr_resnet=4, attn_rep=12, nr_mix=10):
    """_base_noup_smallkey_spec with resnet_nonlinearity='elu' (train.py's default)."""
    total = conv(1, 3, C + 1, F) + conv(2, 1, C + 1, F)  # down_shifted_conv2d [1,3], down_right [2,1] of x_pad
    q_size = 16
    for _ in range(attn_rep):
        total += nr_resnet * gated_resnet(F, (2, 2))  # conv=down_right_shifted_conv2d
        raw = C + F + 2  # raw_content = concat([x, ul, background])
        total += gated_resnet(raw, (1, 1)) + nin(raw, F // 2 + q_size)  # keys (16) and values (F // 2)
        total += gated_resnet(F + 2, (1, 1)) + nin(F + 2, q_size)  # queries
        total += gated_resnet(F, (1, 1), aux=F // 2)  # gated_resnet(ul, mixed, conv=nin)
    return total + nin(F, 10 * nr_mix)  # nin(elu(ul), 10 * nr_logistic_mix)


def reference_pixelcnn_pp_parameters(F=160, C=3, nr_resnet=5, nr_mix=10):
    """model_spec with resnet_nonlinearity='concat_elu'."""
    total = conv(2, 3, C + 1, F) + conv(1, 3, C + 1, F) + conv(2, 1, C + 1, F)
    up_u, up_ul = gated_resnet(F, (2, 3), widening=2), gated_resnet(F, (2, 2), aux=F, widening=2)
    total += 3 * nr_resnet * (up_u + up_ul)
    total += 2 * (conv(2, 3, F, F) + conv(2, 2, F, F))  # stride-2 down-sampling, u and ul
    dn_u, dn_ul = gated_resnet(F, (2, 3), aux=F, widening=2), gated_resnet(F, (2, 2), aux=2 * F, widening=2)
    total += (nr_resnet + 2 * (nr_resnet + 1)) * (dn_u + dn_ul)
    total += 2 * (conv(2, 3, F, F) + conv(2, 2, F, F))  # deconvolutions (V is kh, kw, out, in)
    return total + nin(F, 10 * nr_mix)


def trainable_parameters(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_reference_counts_by_hand():
    # the derivations above, spelled out once for the default sizes
    assert reference_pixelsnail_parameters() == 46_021_908
    assert reference_pixelcnn_pp_parameters() == 53_659_080


@pytest.mark.parametrize("name,reference", [
    ("pixelsnail", reference_pixelsnail_parameters),
    ("pixelcnn_pp", reference_pixelcnn_pp_parameters),
])
@pytest.mark.slow
def test_paper_sized_defaults_have_the_references_parameter_count(name, reference):
    model = pl.build_model(name, (32, 32, 3))
    assert trainable_parameters(model) == reference()


@pytest.mark.slow
@pytest.mark.parametrize("filters,depth,resnets", [(64, 2, 2), (32, 3, 1)])
def test_small_pixelsnail_counts_follow_the_same_derivation(filters, depth, resnets):
    model = pl.build_model("pixelsnail", (32, 32, 3), filters=filters, depth=depth, resnets_per_block=resnets)
    assert trainable_parameters(model) == reference_pixelsnail_parameters(filters, 3, resnets, depth)


# --- the gated residual block --------------------------------------------------------------------

def test_gated_residual_block_adds_a_times_sigmoid_b():
    block = L.GatedResidualBlock(4, L.NetworkInNetwork)  # the default nonlinearity, concatenated ELU
    x = np.random.default_rng(0).normal(size=(1, 3, 3, 4)).astype(np.float32)
    out = block(x).numpy()
    c = block.conv2(L.concat_elu(block.conv1(L.concat_elu(x)))).numpy()
    a, b = c[..., :4], c[..., 4:]
    np.testing.assert_allclose(out, x + a / (1 + np.exp(-b)), rtol=1e-5, atol=1e-6)
    assert not np.allclose(out, x + np.tanh(a) / (1 + np.exp(-b)), atol=1e-3)  # Gated PixelCNN's gate is not this


@pytest.mark.slow
@pytest.mark.parametrize("name,nonlinearity,widening", [("pixelsnail", "elu", 1), ("pixelcnn_pp", "concat_elu", 2)])
def test_each_model_uses_its_references_residual_nonlinearity(name, nonlinearity, widening):
    assert pl.MODELS[name].defaults["nonlinearity"] == nonlinearity
    f = 8
    model = pl.build_model(name, (8, 8, 3), filters=f, depth=1)
    block = model.resnets[0][0] if name == "pixelsnail" else model.up_u[0][0]
    assert block.nonlinearity_name == nonlinearity
    assert block.conv1.v.shape[2] == widening * f  # elu: the convolutions see F channels; concat_elu: 2F
    other = "concat_elu" if nonlinearity == "elu" else "elu"
    changed = pl.build_model(name, (8, 8, 3), filters=f, depth=1, nonlinearity=other)
    assert trainable_parameters(changed) != trainable_parameters(model)


def test_unknown_nonlinearity_is_an_error():
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        pl.build_model("pixelsnail", (8, 8, 1), filters=8, depth=1, nonlinearity="gelu")


# --- PixelSNAIL's attention ----------------------------------------------------------------------

def test_original_attention_has_16_d_keys_and_half_width_values():
    model = pl.build_model("pixelsnail", (8, 8, 3), filters=32, depth=1, resnets_per_block=1)
    att = model.attentions[0]
    assert (att.num_heads, att.key_dim, att.value_dim) == (1, 16, 16)
    assert att.kv_nin.filters == 16 + 32 // 2 and att.q_nin.filters == 16
    assert model.merges[0].aux_nin.v.shape[2] == 32 // 2  # the merge block's auxiliary input is F // 2 wide
    assert att.attention_dropout_rate == 0.0  # the reference has no dropout on attention weights


def test_multihead_attention_is_rosinalitys():
    model = pl.build_model("pixelsnail", (8, 8, 3), filters=64, depth=1, resnets_per_block=1,
                           variant="multihead", dropout=0.1)
    att = model.attentions[0]
    assert (att.num_heads, att.key_dim, att.value_dim) == (8, 4, 4)  # 8 heads over filters // 2 channels
    assert att.q_nin.filters == 64 // 2 and att.kv_nin.filters == 2 * (64 // 2)
    assert att.attention_dropout_rate == 0.1  # dropout on the attention weights


@pytest.mark.parametrize("kwargs,match", [
    ({"variant": "original", "num_heads": 4}, "one attention head"),
    ({"variant": "multihead", "key_dim": 16}, "applies to variant='original' only"),
    ({"variant": "multihead", "num_heads": 5}, "divisible by num_heads"),
    ({"variant": "original", "key_dim": 0}, "key_dim must be a positive int"),
])
def test_a_setting_the_variant_ignores_is_an_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pl.build_model("pixelsnail", (8, 8, 3), filters=32, depth=1, resnets_per_block=1, **kwargs)


# --- the paper-sized configuration's optimiser -----------------------------------------------------

def test_pixelsnail_config_uses_the_references_training_settings():
    config = json.loads((REPO / "configs" / "pixelsnail_cifar10.json").read_text())
    assert (config["filters"], config["depth"]) == (256, 12)
    h = config["hparams"]
    assert (h["resnets_per_block"], h["num_mixtures"], h["dropout"], h["nonlinearity"]) == (4, 10, 0.5, "elu")
    assert config["learning_rate"] == 1e-3 and config["lr_decay"] == 0.999998
    assert (config["beta_1"], config["beta_2"]) == (0.95, 0.9995)
    assert config["ema_decay"] == 0.9995 and config["init_batch_size"] == 8 and config["batch_size"] == 8


@pytest.mark.parametrize("name,global_batch,reference_epsilon", [
    ("pixelcnn_pp_cifar10", 16 * 8, 1e-8),  # openai/pixel-cnn train.py: 16 per GPU, 8 GPUs; nn.adam_updates
    ("pixelsnail_cifar10", 8, 1e-6),  # neocxi/pixelsnail-public train.py: 8 per GPU (one GPU's share), eps=1e-6
])
def test_paper_configs_translate_the_references_batch_and_adam_epsilon(name, global_batch, reference_epsilon):
    """The references' Adam adds epsilon under the root, sqrt(v + eps), for a loss summed in nats over the batch;
    Keras's adds it to sqrt(v) of this library's loss, mean bits/dim, whose gradients are ln 2 * 3072 * batch times
    smaller. The same floor on the denominator is sqrt(eps) / (ln 2 * 3072 * batch)."""
    config = json.loads((REPO / "configs" / f"{name}.json").read_text())
    assert config["batch_size"] == global_batch
    floor = np.sqrt(reference_epsilon) / (np.log(2) * 32 * 32 * 3 * global_batch)
    assert config["epsilon"] == pytest.approx(floor, rel=0.03)
    from pixelcnn_lib.training import TrainConfig, make_optimizer

    training = TrainConfig(**{k: config[k] for k in ("batch_size", "epsilon", "beta_1", "beta_2") if k in config})
    optimizer = make_optimizer(training, 10)
    assert optimizer.epsilon == pytest.approx(floor, rel=0.03)  # what training uses


# --- the shipped model ---------------------------------------------------------------------------

@pytest.mark.slow
def test_shipped_pixelsnail_is_the_reference_architecture_and_its_figure_reproduces():
    from pixelcnn_lib.data import load_holdout_sample
    from pixelcnn_lib.pretrained import load_pretrained, load_training_log
    from pixelcnn_lib.training import evaluate_bits_per_dim

    model = load_pretrained("pixelsnail_cifar10")
    assert model.model_name == "pixelsnail"
    assert (model.hparams["variant"], model.hparams["nonlinearity"]) == ("original", "elu")
    assert trainable_parameters(model) == reference_pixelsnail_parameters(
        model.hparams["filters"], 3, model.hparams["resnets_per_block"], model.hparams["depth"],
        model.hparams["num_mixtures"])
    meta = model.metadata
    assert meta["holdout_images"] == 5000 and meta["weights"] in ("EMA", "raw")
    # the 200 shipped held-out images are a balanced part of the 5,000 the stored figure was measured on
    images, _, _ = load_holdout_sample()
    assert abs(evaluate_bits_per_dim(model, images) - meta["holdout_bits_per_dim"]) < 0.15
    log = load_training_log("pixelsnail_cifar10")
    measured = ~np.isnan(log["val_bits_per_dim"])
    assert measured.sum() >= 5, "the log holds a held-out curve, not one point"
    assert (~np.isnan(log["val_raw_bits_per_dim"][measured])).all(), "raw and averaged weights both validated"
    assert int(log["step"][-1]) >= meta["step"]


def _chapter5_gpu_cell():
    import ast

    cells = json.loads((REPO / "chapters" / "05_results.ipynb").read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return ast.parse(next(s for s in sources if "T4_SETTINGS = {" in s)), ast.parse(
        next(s for s in sources if "PAPER_GFLOP, T4_MODEL_GFLOP =" in s))


def test_chapter5_gpu_profile_is_configs_pixelsnail_t4():
    """The gpu profile's run in chapter 5 and configs/pixelsnail_t4.json are the same run, setting for setting."""
    import ast

    tree, _ = _chapter5_gpu_cell()
    settings = next(ast.literal_eval(node.value) for node in ast.walk(tree)
                    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "T4_SETTINGS")
    assert settings == json.loads((REPO / "configs" / "pixelsnail_t4.json").read_text())


@pytest.mark.slow
def test_chapter5_flop_counts_are_the_benchmarks():
    """The forward GFLOP per image that chapter 5's T4 arithmetic starts from are what benchmarks/models.py counts."""
    import ast
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from models import forward_flops

    _, tree = _chapter5_gpu_cell()
    paper, t4 = next(ast.literal_eval(node.value) for node in ast.walk(tree)
                     if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple))
    settings = json.loads((REPO / "configs" / "pixelsnail_t4.json").read_text())
    small = pl.build_model("pixelsnail", (32, 32, 3), filters=settings["filters"], depth=settings["depth"],
                           **settings["hparams"])
    assert forward_flops(small) / 1e9 == pytest.approx(t4, abs=0.006)
    assert small.count_params() == 2_301_580
    paper_model = pl.build_model("pixelsnail", (32, 32, 3))  # the defaults are the paper's CIFAR-10 model
    assert forward_flops(paper_model) / 1e9 == pytest.approx(paper, abs=0.006)
