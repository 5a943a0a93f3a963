"""Inpainting masks: their shapes and areas, the strokes' geometry, and how a dataset draws them."""
import numpy as np
import pytest

from jaxgen import data
from jaxgen.data import masks
from tests.data.test_combinators import data_config


def test_centre_mask_hides_the_centre_square_of_half_the_side():
    mask = masks.centre_mask(8, 12)[..., 0]
    assert mask.dtype == np.uint8 and mask.sum() == 96 - 4 * 6
    assert (mask[2:6, 3:9] == 0).all()


@pytest.mark.parametrize("kind", ["boxes", "strokes"])
def test_random_masks_are_binary_reproducible_and_hide_a_plausible_share(kind):
    shares, patterns = [], set()
    for seed in range(200):
        mask = masks.inpainting_mask(kind, np.random.default_rng(seed), 32, 32)
        assert mask.shape == (32, 32, 1) and set(np.unique(mask)) <= {0, 1}
        np.testing.assert_array_equal(mask, masks.inpainting_mask(kind, np.random.default_rng(seed), 32, 32))
        shares.append(1.0 - mask.mean())
        patterns.add(mask.tobytes())
    shares = np.asarray(shares)
    # one box of side 0.2: 4% hidden; three of side 0.5: at most 75%. Strokes: a 6%-wide brush somewhere
    assert shares.min() > 0.03 and shares.max() < 0.9 and 0.1 < shares.mean() < 0.5
    assert len(patterns) == 200


def test_a_single_box_is_one_solid_rectangle():
    seeds = [s for s in range(100) if np.random.default_rng(s).integers(1, 4) == 1]  # draws one box
    for seed in seeds[:10]:
        hidden = masks.box_mask(np.random.default_rng(seed), 32, 32)[..., 0] == 0
        rows, cols = np.nonzero(hidden)
        assert hidden[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
        assert 6 <= rows.max() - rows.min() + 1 <= 16 and 6 <= cols.max() - cols.min() + 1 <= 16  # 20-50% of 32


def test_a_stroke_is_as_wide_as_its_brush_with_round_caps():
    mask = masks.paint_strokes([([np.array([6.0, 16.0]), np.array([26.0, 16.0])], 4.0)], 32, 32)[..., 0]
    across = np.nonzero(mask[:, 16] == 0)[0]
    assert len(across) in (4, 5) and np.ptp(across) == len(across) - 1 and abs(across.mean() - 16) <= 1
    hidden_columns = np.nonzero((mask == 0).any(axis=0))[0]
    assert hidden_columns.min() in (4, 5) and hidden_columns.max() in (27, 28)  # the caps: half a brush beyond the ends
    assert (mask[:10] == 1).all() and (mask[22:] == 1).all()


def test_masked_pairings_draw_from_the_index_in_evaluation_and_the_stream_place_in_training():
    source = data.open_source(data_config(pair="masked_random"), "test")
    first, again = source.read(np.arange(4)), source.read(np.arange(4))
    np.testing.assert_array_equal(first["known"], again["known"])  # evaluation: the same masks every time
    np.testing.assert_array_equal(first["source"], first["image"] * first["known"])
    epoch0 = source.read(np.arange(4), ordinals=np.arange(4))
    epoch1 = source.read(np.arange(4), ordinals=np.arange(4) + len(source))
    assert not np.array_equal(epoch0["known"], epoch1["known"])  # training: new masks each epoch ...
    np.testing.assert_array_equal(epoch1["known"], source.read(np.arange(4), ordinals=np.arange(4) + len(source))["known"])
    assert len({m.tobytes() for m in first["known"]}) == 4  # ... and a different one per row
    with pytest.raises(ValueError, match="unknown inpainting mask 'holes'"):
        masks.inpainting_mask("holes", np.random.default_rng(0), 4, 4)
