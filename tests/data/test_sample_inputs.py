"""What `--mode sample` reads from sample.*: prompts, layouts, input images and masks, and its errors."""
import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxgen.data.sample_inputs import given_conditions, parse_layout
from jaxgen.data.sources import DatasetSpec, Feature
from jaxgen.data.text import decode_text
from jaxgen.errors import ConfigError, RunNotFoundError


def sample_section(**keys):
    s = ml_collections.ConfigDict({"seed": 0, "labels": (), "prompts": (), "layouts": (), "input_dir": "", "mask_dir": "", "mask": ""})
    s.update(keys)
    return s


TEXT = DatasetSpec("text", (("image", Feature((8, 8, 1), "uint8")), ("caption", Feature((16,), "int32"))), 10)
LAYOUT = DatasetSpec("layout", (("image", Feature((8, 8, 1), "uint8")), ("boxes", Feature((3, 4), "float32")),
                                ("box_labels", Feature((3,), "int32"))), 10)
INPAINT = DatasetSpec("inpaint", (("image", Feature((8, 8, 1), "uint8")), ("source", Feature((8, 8, 1), "uint8")),
                                  ("known", Feature((8, 8, 1), "uint8"))), 0)


def test_prompts_become_caption_tokens_of_the_schema_length():
    given = given_conditions(sample_section(prompts=("a thick seven", "a small one")), TEXT, ("caption",), "ldm")
    assert given["caption"].shape == (2, 16) and decode_text(given["caption"]) == ["a thick seven", "a small one"]
    with pytest.raises(ConfigError, match="the ldm family samples from caption: set sample.prompts"):
        given_conditions(sample_section(), TEXT, ("caption",), "ldm")


def test_layouts_parse_into_padded_boxes_and_labels():
    boxes, labels = parse_layout("7@0.1,0.2,0.5,0.6; 2@0.6,0.5,0.9,0.9", 3, 10)
    np.testing.assert_allclose(boxes, [[0.1, 0.2, 0.5, 0.6], [0.6, 0.5, 0.9, 0.9], [0, 0, 0, 0]])
    assert labels.tolist() == [7, 2, -1]
    given = given_conditions(sample_section(layouts=("3@0,0,1,1", "1@0.2,0.2,0.4,0.4;4@0.5,0.5,1,1")), LAYOUT,
                             ("boxes", "box_labels"), "ldm")
    assert given["boxes"].shape == (2, 3, 4) and given["box_labels"].tolist() == [[3, -1, -1], [1, 4, -1]]
    for text, message in (("7@0.1,0.2,0.5", "is not LABEL@x0,y0,x1,y1"), ("seven@0,0,1,1", "is not LABEL@"),
                          ("7@0.5,0.2,0.1,0.6", "x0 < x1"), ("12@0,0,1,1", r"label in .* must lie in \[0, 10\)"),
                          ("1@0,0,1,1;2@0,0,1,1;3@0,0,1,1;4@0,0,1,1", "has 4 boxes; the model reads at most 3")):
        with pytest.raises(ConfigError, match=message):
            parse_layout(text, 3, 10)


def write(folder, name, array):
    folder.mkdir(exist_ok=True)
    Image.fromarray(array).save(folder / name)


def test_inpainting_inputs_come_with_masks_from_a_folder_or_drawn(tmp_path):
    images = np.random.default_rng(0).integers(1, 256, (2, 8, 8), dtype=np.uint8)
    hole = np.zeros((8, 8), np.uint8)
    hole[2:5, 3:7] = 255  # white: fill in
    for i, image in enumerate(images):
        write(tmp_path / "in", f"{i}.png", image)
    write(tmp_path / "masks", "0.png", hole)
    needed = ("source", "known")
    with pytest.raises(RunNotFoundError, match=r"has no mask for \['1.png'\]"):
        given_conditions(sample_section(input_dir=str(tmp_path / "in"), mask_dir=str(tmp_path / "masks")), INPAINT, needed, "ldm")
    write(tmp_path / "masks", "1.png", hole)
    given = given_conditions(sample_section(input_dir=str(tmp_path / "in"), mask_dir=str(tmp_path / "masks")), INPAINT, needed, "ldm")
    expected_known = (hole < 128).astype(np.uint8)[None, ..., None]
    np.testing.assert_array_equal(given["known"], np.broadcast_to(expected_known, (2, 8, 8, 1)))
    np.testing.assert_array_equal(given["source"], images[..., None] * expected_known)
    drawn = given_conditions(sample_section(input_dir=str(tmp_path / "in"), mask="boxes"), INPAINT, needed, "ldm")
    assert drawn["known"].shape == (2, 8, 8, 1) and 0 < drawn["known"].mean() < 1
    with pytest.raises(ConfigError, match="inpainting needs masks: set sample.mask_dir"):
        given_conditions(sample_section(input_dir=str(tmp_path / "in")), INPAINT, needed, "ldm")
    with pytest.raises(ConfigError, match="samples from source, known: set sample.input_dir and sample.mask_dir or sample.mask"):
        given_conditions(sample_section(), INPAINT, needed, "ldm")
    with pytest.raises(RunNotFoundError, match="sample.mask_dir=.*nowhere is not a folder"):
        given_conditions(sample_section(input_dir=str(tmp_path / "in"), mask_dir=str(tmp_path / "nowhere")), INPAINT, needed, "ldm")


def test_optional_images_and_masks_are_read_only_when_given_and_kept_whole(tmp_path):
    """SinGAN samples from an optional `image` and `known` (an edit): nothing given, nothing read; a folder of
    non-square images resized to the schema's (height, width); masks only when given, the images not zeroed."""
    one_image = DatasetSpec.of_images("image:photo.png", (6, 10, 3))
    optional = ("image", "known")
    assert given_conditions(sample_section(), one_image, (), "singan", optional) == {}
    photo = np.random.default_rng(1).integers(1, 256, (12, 20, 3), dtype=np.uint8)
    write(tmp_path / "in", "0.png", photo)
    plain = given_conditions(sample_section(input_dir=str(tmp_path / "in")), one_image, (), "singan", optional)
    assert set(plain) == {"image"} and plain["image"].shape == (1, 6, 10, 3)
    edit = np.zeros((12, 20), np.uint8)
    edit[:, :10] = 255  # white: the edited half
    write(tmp_path / "masks", "0.png", edit)
    edited = given_conditions(sample_section(input_dir=str(tmp_path / "in"), mask_dir=str(tmp_path / "masks")), one_image, (),
                              "singan", optional)
    np.testing.assert_array_equal(edited["image"], plain["image"])
    assert edited["known"].shape == (1, 6, 10, 1) and edited["known"][0, :, :5].max() == 0 and edited["known"][0, :, 5:].min() == 1


def test_conditions_must_agree_in_number():
    with pytest.raises(ConfigError, match="differ in number"):
        given_conditions(sample_section(labels=(1, 2, 3), prompts=("a one",)), TEXT, ("caption",), "ldm")


def test_target_attributes_repeat_for_every_input_image(tmp_path):
    spec = DatasetSpec("digits", (("image", Feature((8, 8, 1), "uint8")), ("attributes", Feature((2,), "float32"))), 10)
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    given = given_conditions(sample_section(input_dir=str(tmp_path), attributes=(1, 0)), spec, ("image",), "stargan")
    np.testing.assert_array_equal(given["attributes"], [[1, 0]] * 3)
    for values, message in (((1,), "must be 2 values of 0 or 1"), ((1, 0.5), "must be 2 values of 0 or 1")):
        with pytest.raises(ConfigError, match=message):
            given_conditions(sample_section(input_dir=str(tmp_path), attributes=values), spec, ("image",), "stargan")
    with pytest.raises(ConfigError, match="sample.attributes gives target attributes; data.name='text' has none"):
        given_conditions(sample_section(attributes=(1, 0)), TEXT, ("caption",), "ldm")
