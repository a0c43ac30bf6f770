"""RESQML 2.0.1 models built with pyetp's own object library, shared by the interop tests."""

import uuid

import numpy as np
import resqml_objects.v201 as ro
from resqml_objects.v201.common_models import RegularSurfaceModels


def surface(title: str, shape=(30, 40), seed: int = 0):
    """An EPC reference, a depth CRS and a regular grid with its z values.

    Returns ((epc, crs, grid), {path_in_hdf_file: array}).
    """
    rng = np.random.default_rng(seed)
    surf = rng.normal(2000.0, 50.0, size=shape)
    return RegularSurfaceModels.get_depth_model(
        originator="etp-interop",
        title=title,
        origin=np.array([1000.0, 2000.0]),
        spacing=np.array([25.0, 12.5]),
        angle_in_rad=0.3,
        surf=surf,
        vertical_epsg_code=5715,
        projected_epsg_code=23031,
    )


def epc(title: str = "Hdf proxy") -> ro.obj_EpcExternalPartReference:
    return ro.obj_EpcExternalPartReference(
        citation=ro.Citation(title=title, originator="etp-interop"),
        uuid=str(uuid.uuid4()),
    )


def arrays_of_every_dtype(rows: int = 50, cols: int = 20, seed: int = 1):
    """One array per dtype pyetp can transfer, keyed by a path in resource.

    No string array: pyetp 0.0.58 cannot upload one (its dtype mapping raises KeyError for
    `<U` dtypes); the Rust DataArray tests cover strings.
    """
    rng = np.random.default_rng(seed)
    base = f"/RESQML/{uuid.uuid4()}"
    return {
        f"{base}/bool": rng.integers(0, 2, size=(rows, cols)).astype(np.bool_),
        f"{base}/int8": rng.integers(-128, 127, size=(rows, cols)).astype(np.int8),
        f"{base}/int32": rng.integers(-(2**31), 2**31 - 1, size=(rows, cols)).astype(np.int32),
        f"{base}/int64": rng.integers(-(2**62), 2**62, size=(rows, cols)).astype(np.int64),
        f"{base}/float32": rng.normal(size=(rows, cols)).astype(np.float32),
        f"{base}/float64": rng.normal(size=(rows, cols)),
        f"{base}/float64-3d": rng.normal(size=(4, rows, cols)),
        f"{base}/float64-1d": rng.normal(size=rows * cols),
    }
