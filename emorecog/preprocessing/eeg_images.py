"""EEG band images: electrode values -> [H, W] topographic images, one per band (EEGLearn, Bashivan et al.
2016; paper section III.B).

1. Electrode positions by channel name from MNE's `biosemi32` montage: a sphere of radius 95 mm centred on
   the origin, x to the right ear, y to the nose, z up (names matched case-insensitively).
2. Azimuthal equidistant projection (EEGLearn `azim_proj`): with elevation e = atan2(z, sqrt(x^2 + y^2))
   and azimuth a = atan2(y, x), the point goes to rho = pi/2 - e (the arc from the vertex, in radians)
   at angle a:  (u, v) = (rho cos a, rho sin a). Cz lands at (0, 0), the nose direction is +v.
3. Clough-Tocher interpolation (scipy's `griddata(method="cubic")`, EEGLearn's choice) onto an H x W
   grid spanning the projected points: columns run from min u (left) to max u (right), rows from max v
   (front, nose up) to min v (back), endpoints included as in EEGLearn's `np.mgrid[min:max:H*1j]`.

The electrodes never move, and Clough-Tocher interpolation is linear in the electrode values (its
gradient estimate solves a linear problem; scipy iterates it to a tolerance, here 1e-10). So the whole
interpolation is one fixed matrix M [H*W, C]: column c is the interpolation of the c-th unit vector.
`InterpolationOperator` builds M once and applies it to every frame and band as a single matrix product.

Outside the convex hull of the electrodes Clough-Tocher is undefined (griddata returns NaN). Fill rules:
    "zero" (default)  0, which EEGLearn also ends up with (`np.nan_to_num`), and which under the default
                      "relative_db" normalisation means "as at rest";
    "nearest"         the value of the nearest electrode in the projected plane (also a fixed linear map).
"""

import numpy as np

FILL_RULES = ("zero", "nearest")
SPHERE_RADIUS_TOLERANCE = 0.02
CLOUGH_TOCHER_TOLERANCE = 1e-10
CLOUGH_TOCHER_MAX_ITERATIONS = 10000


def electrode_positions(channel_names, montage="biosemi32"):
    """3-D positions of EEG electrodes on a head sphere centred on the origin.

    Args:
        channel_names: sequence of C channel names, e.g. DEAP's Geneva order ("Fp1", "AF3", ...); any case.
        montage: name of an MNE standard montage whose positions lie on a sphere centred on the origin
            (`biosemi16/32/64/128/...`; MRI-frame montages such as `standard_1020` are refused), or a
            montage file `mne.channels.read_custom_montage` reads, under the same condition.

    Returns:
        float64 [C, 3], metres, in the order of `channel_names`.

    Raises:
        ValueError: an unknown or duplicated channel name (named in the message), or a montage whose
            positions are not on a centred sphere.
    """
    import mne

    names = [str(name) for name in channel_names]
    import os

    if os.path.isfile(montage):
        standard = mne.channels.read_custom_montage(montage)
    else:
        standard = mne.channels.make_standard_montage(montage)
    positions_by_name = {name.lower(): position for name, position in standard.get_positions()["ch_pos"].items()}
    radii = np.linalg.norm(np.array(list(positions_by_name.values())), axis=1)
    if np.ptp(radii) > SPHERE_RADIUS_TOLERANCE * radii.mean():
        raise ValueError(
            f"montage {montage!r} is not a sphere centred on the origin (radii {radii.min():.4f}..{radii.max():.4f} m);"
            " the azimuthal projection needs spherical positions such as 'biosemi32'"
        )
    seen = {}
    positions = []
    for index, name in enumerate(names):
        key = name.strip().lower()
        if key not in positions_by_name:
            raise ValueError(
                f"unknown EEG channel name {name!r} (channel {index}): not in MNE's {montage!r} montage; "
                f"known names: {', '.join(standard.ch_names)}"
            )
        if key in seen:
            first = seen[key]
            raise ValueError(
                f"EEG channel name {name!r} (channel {index}) appears twice: channel {first} is {names[first]!r}"
            )
        seen[key] = index
        positions.append(positions_by_name[key])
    return np.asarray(positions, dtype=np.float64)


def azimuthal_equidistant_projection(positions):
    """Project 3-D electrode positions [C, 3] (sphere centred on the origin) to the plane [C, 2].

    (u, v) = (pi/2 - elevation) * (cos azimuth, sin azimuth): distances from the vertex are kept.
    """
    positions = np.asarray(positions, dtype=np.float64)
    x, y, z = positions[:, 0], positions[:, 1], positions[:, 2]
    elevation = np.arctan2(z, np.hypot(x, y))
    azimuth = np.arctan2(y, x)
    radius = np.pi / 2.0 - elevation
    return np.stack([radius * np.cos(azimuth), radius * np.sin(azimuth)], axis=1)


class InterpolationOperator:
    """The fixed linear map from C electrode values to H x W band-image pixels (Clough-Tocher).

    Built once from the channel names; applied to any number of frames and bands as one matrix product:

        images[f, :, :, b] = reshape(M @ values[f, :, b], [H, W]),   M: [H*W, C]

    computed for all frames at once as values [frames, C*bands] @ kron(M^T, I_bands) (see `band_matrix`).

    Args:
        channel_names: the C channel names of the input rows, in order (any case; see
            `electrode_positions`).
        image_size: H = W, or a (height, width) pair.
        outside_hull: fill rule outside the electrodes' convex hull: "zero" (default) or "nearest".
        montage: MNE standard montage with centred spherical positions.

    Attributes:
        points: float64 [C, 2] projected electrode positions.
        grid_u, grid_v: float64 [H, W] plane coordinates of the pixel centres (row 0 = front).
        inside_hull: bool [H, W], pixels where Clough-Tocher is defined.
        matrix: float32 [H*W, C], the operator M.

    Example:
        >>> operator = InterpolationOperator(deap_channel_names, image_size=32)
        >>> images = operator(band_values)   # [T, 32, 3] -> float32 [T, 32, 32, 3]
    """

    def __init__(self, channel_names, image_size=32, outside_hull="zero", montage="biosemi32"):
        from scipy.interpolate import CloughTocher2DInterpolator
        from scipy.spatial import cKDTree

        if outside_hull not in FILL_RULES:
            raise ValueError(f"unknown outside_hull fill rule {outside_hull!r}: expected one of {FILL_RULES}")
        height, width = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
        if int(height) != height or int(width) != width or height < 2 or width < 2:
            raise ValueError(f"image_size must give at least 2 x 2 pixels, got {image_size!r}")
        self.channel_names = tuple(str(name) for name in channel_names)
        self.image_size = image_size
        self.outside_hull = outside_hull
        self.montage = montage
        self.height, self.width = int(height), int(width)

        self.points = azimuthal_equidistant_projection(electrode_positions(self.channel_names, montage))
        columns = np.linspace(self.points[:, 0].min(), self.points[:, 0].max(), self.width)
        rows = np.linspace(self.points[:, 1].max(), self.points[:, 1].min(), self.height)
        self.grid_u, self.grid_v = np.meshgrid(columns, rows)
        pixels = np.stack([self.grid_u.ravel(), self.grid_v.ravel()], axis=1)

        num_channels = len(self.channel_names)
        interpolator = CloughTocher2DInterpolator(
            self.points,
            np.eye(num_channels),
            fill_value=np.nan,
            tol=CLOUGH_TOCHER_TOLERANCE,
            maxiter=CLOUGH_TOCHER_MAX_ITERATIONS,
        )
        matrix = interpolator(pixels)
        outside = np.isnan(matrix).any(axis=1)
        matrix[outside] = 0.0
        if outside_hull == "nearest":
            _, nearest = cKDTree(self.points).query(pixels[outside])
            matrix[np.flatnonzero(outside), nearest] = 1.0
        self.inside_hull = ~outside.reshape(self.height, self.width)
        self.matrix = matrix.astype(np.float32)
        self._band_matrices = {}

    def __call__(self, band_values):
        """Interpolate electrode values to images.

        Args:
            band_values: float [frames, C, bands] (or [C, bands] for one frame).

        Returns:
            float32 [frames, H, W, bands] (or [H, W, bands]), C-contiguous.
        """
        values = np.asarray(band_values, dtype=np.float32)
        single_frame = values.ndim == 2
        if single_frame:
            values = values[None]
        num_channels = len(self.channel_names)
        if values.ndim != 3 or values.shape[1] != num_channels:
            raise ValueError(
                f"expected band values [frames, {num_channels} channels, bands], got shape {np.shape(band_values)}"
            )
        frames, _, bands = values.shape
        flat = np.ascontiguousarray(values).reshape(frames, num_channels * bands)
        images = (flat @ self.band_matrix(bands)).reshape(frames, self.height, self.width, bands)
        return images[0] if single_frame else images

    def pixel_moments(self, band_values):
        """Per band: pixel count, mean and sum of squared deviations of `self(band_values)`, without the images.

        Args:
            band_values: float [frames, C, bands].

        Returns:
            {"count": int, "mean": [bands], "m2": [bands]} (float64, as lists), over every pixel of every frame.

        The images are a linear map of the values, so with s = column sums of M and G = M^T M:
        sum of pixels = s . sum_t v_t and sum of squares = sum_t v_t^T G v_t per band. That is a few
        32 x 32 products instead of building and scanning [frames, H, W, bands] (1.5 M values for a DEAP
        trial); the same numbers to float32 rounding of the images.
        """
        values = np.asarray(band_values, dtype=np.float64)
        if values.ndim != 3 or values.shape[1] != len(self.channel_names):
            raise ValueError(
                f"expected band values [frames, {len(self.channel_names)} channels, bands], got shape {values.shape}"
            )
        matrix = self.matrix.astype(np.float64)
        count = values.shape[0] * matrix.shape[0]
        total = matrix.sum(axis=0) @ values.sum(axis=0)  # [bands]
        per_band = values.transpose(2, 0, 1)  # [bands, frames, C]
        squares = np.sum((per_band @ (matrix.T @ matrix)) * per_band, axis=(1, 2))  # [bands]
        mean = total / count
        return {"count": int(count), "mean": mean.tolist(), "m2": np.maximum(squares - total * mean, 0.0).tolist()}

    def band_matrix(self, bands):
        """M expanded to act on interleaved bands: kron(M^T, I_bands), float32 [C*bands, H*W*bands].

        `values.reshape(frames, C * bands) @ band_matrix(bands)` is already laid out as
        [frames, H, W, bands]: one matrix product and no transpose of the (large) output. It does
        `bands` times the multiply-adds of M alone, which costs less than reordering the output in memory.
        """
        if bands not in self._band_matrices:
            identity = np.eye(bands, dtype=np.float32)
            self._band_matrices[bands] = np.ascontiguousarray(np.kron(self.matrix.T, identity))
        return self._band_matrices[bands]
