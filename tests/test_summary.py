"""The layer table of chapter 4: every top-level layer in call order, shapes and counts that add up."""

import pytest

import pixelcnn_lib as pl
from pixelcnn_lib.teaching.summary import format_layer_table, layer_table, top_level_layers


def test_pixelcnn_pp_table_follows_the_forward_pass():
    model = pl.build_model("pixelcnn_pp", (8, 8, 3), filters=8, depth=1, num_mixtures=2, dropout=0.0, levels=2)
    rows = layer_table(model)
    assert sum(r.params for r in rows) == model.count_params()
    assert rows[0].path == "u_in" and rows[-1].path == "out"
    assert rows[-1].output_shape == (1, 8, 8, model.head.num_params)
    assert min(r.output_shape[1] for r in rows) == 4  # the down-sampled level
    paths = [p for p, _ in top_level_layers(model)]
    assert sorted(r.path for r in rows) == sorted(paths), "every top-level layer is called once"
    text = format_layer_table(rows)
    assert text.splitlines()[-1].split()[-1] == f"{model.count_params():,}"


def test_layers_get_their_own_call_back_even_after_an_error():
    model = pl.build_model("pixelsnail", (4, 4, 3), filters=8, depth=1, resnets_per_block=1, num_mixtures=2,
                           dropout=0.0)
    layer_table(model)
    assert all("call" not in vars(layer) for _, layer in top_level_layers(model))
    model.image_shape = (5, 5, 3, 1)  # the forward pass fails on this input
    with pytest.raises(Exception):
        layer_table(model)
    assert all("call" not in vars(layer) for _, layer in top_level_layers(model))
