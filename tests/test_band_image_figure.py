"""Pictures of EEG band images: head outline, electrode names, out-of-hull pixels masked, colourbar unit."""

import numpy as np
import pytest

from emorecog import features
from emorecog.datasets.deap import EEG_CHANNELS
from emorecog.evaluation import plots
from emorecog.evaluation.band_image_layout import BandImageLayout
from emorecog.preprocessing.eeg_images import InterpolationOperator

IMAGE_SIZE = 16


@pytest.fixture(scope="module")
def layout():
    return BandImageLayout.from_operator(InterpolationOperator(EEG_CHANNELS, IMAGE_SIZE), "relative_db")


@pytest.fixture(scope="module")
def drawn(layout):
    """A figure of one band image whose every pixel, outside the hull too, holds a value (as in the records)."""
    image = np.random.default_rng(0).normal(size=(1, IMAGE_SIZE, IMAGE_SIZE, len(features.EEG_BANDS)))
    return image, plots.plot_band_images(image, layout, ["one frame"], "test")


def test_out_of_hull_pixels_reach_imshow_as_masked(layout, drawn):
    image, figure = drawn
    assert 0 < layout.inside_hull.sum() < layout.inside_hull.size
    band_axes = [axis for axis in figure.axes if axis.images]
    assert len(band_axes) == len(features.EEG_BANDS)
    for band_index, axis in enumerate(band_axes):
        shown = np.ma.masked_invalid(axis.images[0].get_array())
        np.testing.assert_array_equal(np.ma.getmaskarray(shown), ~layout.inside_hull)
        np.testing.assert_allclose(shown[layout.inside_hull], image[0, ..., band_index][layout.inside_hull])


def test_rendered_pixels_outside_the_head_are_the_background(layout, drawn):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    _, figure = drawn
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())
    axis = next(axis for axis in figure.axes if axis.images)
    left, _, _, top = layout.extent
    # the front-left corner pixel of the grid: outside the hull, filled with a value for the model
    assert not layout.inside_hull[0, 0]
    column, row_from_bottom = axis.transData.transform((left + 0.02, top - 0.02))
    rendered = pixels[pixels.shape[0] - int(round(row_from_bottom)), int(round(column))]
    assert tuple(rendered) == (255, 255, 255, 255)


def test_electrode_names_band_names_and_the_unit_are_drawn(layout, drawn):
    _, figure = drawn
    band_axes = [axis for axis in figure.axes if axis.images]
    for band, axis in zip(features.EEG_BANDS, band_axes):
        assert set(EEG_CHANNELS) <= {text.get_text() for text in axis.texts}
        assert axis.get_title().startswith(f"{band} (")
    colourbar_labels = [axis.get_ylabel() for axis in figure.axes if not axis.images]
    assert colourbar_labels == ["dB relative to the trial's baseline"] * len(features.EEG_BANDS)


def test_head_outline_circles_the_outermost_electrodes(layout, drawn):
    _, figure = drawn
    axis = next(axis for axis in figure.axes if axis.images)
    radius = layout.head_radius
    assert radius == pytest.approx(np.hypot(*layout.electrode_points.T).max())
    head = axis.lines[0].get_xydata()
    np.testing.assert_allclose(np.hypot(head[:, 0], head[:, 1]), radius)
    nose = axis.lines[1].get_xydata()
    assert nose[:, 1].max() > radius  # the nose points to the front, the top of the picture


def test_figure_png_decodes(drawn):
    import io

    from PIL import Image

    _, figure = drawn
    with Image.open(io.BytesIO(plots.figure_png(figure))) as picture:
        assert picture.format == "PNG" and picture.size[0] > picture.size[1] > 50
