"""Where the pixels of an EEG band image lie on the head, and what their values mean: what a picture of
band images needs beyond the pixels.

The pixel grid, the electrode positions and the hull mask are those of the `InterpolationOperator` that
made the images (emorecog/preprocessing/eeg_images.py): azimuthal equidistant projection of the montage,
row 0 at the front. Pixels outside the electrodes' convex hull carry no interpolated value (the operator's
`outside_hull_fill` puts zeros or the nearest electrode's value there for the model); a picture masks them.

The head outline is the circle through the outermost electrodes (the 10-20 circumference through Fp1, T7,
Oz and T8 in `biosemi32`), or the projected equator (radius pi/2) if every electrode lies above it.
"""

import dataclasses

import numpy as np

from emorecog import features

# What one pixel value is, per baseline normalisation of `emorecog.preprocessing.band_energy`.
VALUE_UNITS = {
    "relative_db": "dB relative to the trial's baseline",
    "zscore": "baseline SDs (band power in dB)",
    "log_db": "dB (10 log10 band power, signal unit²)",
    "none": "band power (signal unit²)",
}


@dataclasses.dataclass(frozen=True, eq=False)
class BandImageLayout:
    """The head geometry and value unit of H x W EEG band images.

    Args:
        electrodes: the C electrode names.
        electrode_points: float [C, 2] projected positions (u to the right ear, v to the nose).
        inside_hull: bool [H, W], pixels inside the electrodes' convex hull (row 0 = front).
        extent: (left, right, bottom, top) of the pixel grid in projected coordinates, pixel edges
            included (as `imshow(extent=...)` takes it).
        normalisation: the baseline normalisation of the band energies ("relative_db", "zscore", ...).
        outside_hull_fill: what the model sees outside the hull ("zero" or "nearest").
        band_edges_hz: {band: (low, high)} of the band filters.

    Example:
        >>> layout = BandImageLayout.read("tfrecords/")
        >>> layout.value_unit
        "dB relative to the trial's baseline"
    """

    electrodes: tuple
    electrode_points: np.ndarray
    inside_hull: np.ndarray
    extent: tuple
    normalisation: str
    outside_hull_fill: str
    band_edges_hz: dict = dataclasses.field(default_factory=lambda: dict(features.BAND_EDGES_HZ))

    @property
    def head_radius(self):
        return max(np.pi / 2.0, float(np.hypot(*self.electrode_points.T).max()))

    @property
    def value_unit(self):
        return VALUE_UNITS.get(self.normalisation, self.normalisation)

    def masked(self, image):
        """float [H, W] image with NaN outside the hull (drawn transparent by `imshow`)."""
        return np.where(self.inside_hull, np.asarray(image, dtype=np.float64), np.nan)

    @classmethod
    def from_operator(cls, operator, normalisation, band_edges_hz=None):
        """The layout of the images an `InterpolationOperator` makes."""
        half_column = (operator.grid_u[0, -1] - operator.grid_u[0, 0]) / (operator.width - 1) / 2.0
        half_row = (operator.grid_v[0, 0] - operator.grid_v[-1, 0]) / (operator.height - 1) / 2.0
        extent = (
            float(operator.grid_u[0, 0] - half_column),
            float(operator.grid_u[0, -1] + half_column),
            float(operator.grid_v[-1, 0] - half_row),
            float(operator.grid_v[0, 0] + half_row),
        )
        return cls(
            operator.channel_names,
            operator.points,
            operator.inside_hull.copy(),
            extent,
            normalisation,
            operator.outside_hull,
            dict(band_edges_hz or features.BAND_EDGES_HZ),
        )

    @classmethod
    def read(cls, data_dir):
        """The layout of an ExampleGen output (or a cross-validation fold of one).

        Rebuilds the interpolation operator from the preprocessing settings the output was made with and
        checks that it gives the matrix of schema.json, so the drawn head matches the pixels.

        Raises:
            ValueError: no preprocessing settings, or settings that do not reproduce schema.json's matrix
                (the file and the reason named).
        """
        import os

        from emorecog.artifact_metadata import METADATA_FILE, read_metadata
        from emorecog.datasets import tfrecord_reader
        from emorecog.preprocessing.eeg_images import InterpolationOperator

        records_dir = tfrecord_reader.records_directory(data_dir)
        schema = tfrecord_reader.read_record_schema(data_dir)
        metadata_path = os.path.join(records_dir, METADATA_FILE)
        settings = ((read_metadata(records_dir) or {}).get("parameters") or {}).get("preprocess")
        if not isinstance(settings, dict):
            raise ValueError(
                f"{metadata_path} is missing or records no preprocessing settings "
                "(parameters.preprocess): is the folder an `emorecog ingest` output?"
            )
        try:
            operator = InterpolationOperator(
                schema.electrodes,
                schema.shape.image_size,
                outside_hull=settings.get("outside_hull_fill", "zero"),
                montage=settings.get("montage", "biosemi32"),
            )
        except (ValueError, OSError) as error:
            raise ValueError(f"{metadata_path}: cannot rebuild the EEG image layout: {error}") from error
        if not np.allclose(operator.matrix, schema.interpolation_matrix, atol=1e-5):
            raise ValueError(
                f"{os.path.join(records_dir, tfrecord_reader.SCHEMA_FILE)}: the EEG interpolation matrix is not "
                f"the one montage {settings.get('montage')!r} gives for its electrodes, so electrode positions "
                "cannot be drawn on the images"
            )
        # Settings written before the band edges were configurable hold no `<band>_hz`: the fixed edges then.
        band_edges = {
            band: tuple(settings.get(f"{band}_hz", features.BAND_EDGES_HZ[band])) for band in features.EEG_BANDS
        }
        return cls.from_operator(operator, settings.get("baseline_normalisation", "relative_db"), band_edges)
