"""Read the weights of a Keras HDF5 model file with h5py (no TensorFlow), checked layer by layer.

Two layouts exist among the published 5' UTR models:

- Keras 2.x (Framepool, the retrained evolution model):
  ``model_weights/<layer>/<layer>_<n>/kernel:0`` and ``bias:0``; a Conv1D kernel is
  ``[width, in, out]``, a Dense kernel ``[in, out]``.
- Keras 1.2 (the Optimus evolution model): ``model_weights/<layer>/<layer>_W:0`` and ``_b:0``;
  a Convolution1D kernel is stored as a 2-D convolution, ``[width, 1, in, out]``.

:func:`read_keras_weights` returns every layer's arrays under the names ``kernel`` and ``bias``
with Conv1D kernels squeezed to ``[width, in, out]``; :func:`check_shapes` compares them with
what a PyTorch port expects. Introduced in chapter 2.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from course_lib.models.checkpoint import CheckpointError


class KerasWeightsError(CheckpointError):
    """A Keras weights file is unreadable, incomplete or of another architecture."""


def _decode(names: np.ndarray) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _kind(weight_name: str) -> str:
    """``kernel`` or ``bias`` from a Keras 2 (``.../kernel:0``) or 1 (``..._W:0``) name."""
    leaf = weight_name.split("/")[-1].split(":")[0]
    if leaf.endswith("_W") or leaf == "kernel":
        return "kernel"
    if leaf.endswith("_b") or leaf == "bias":
        return "bias"
    return leaf


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise FileNotFoundError(
            f"no model file {path}; fetch the published models first "
            "(python -m data_scripts fetch framepool / optimus_models) or check the path"
        )
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise KerasWeightsError(
            f"{path} is not a readable HDF5 file ({err}); it is truncated or corrupted: "
            "delete it and fetch it again"
        ) from err


def read_keras_weights(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Every layer that holds weights: ``{layer: {"kernel": array, "bias": array}}``.

    Conv1D kernels come back as ``[width, in, out]`` in both layouts (the Keras 1.2 singleton
    axis is dropped); Dense kernels as ``[in, out]``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    KerasWeightsError
        The file is not HDF5, is truncated, or is not a Keras model file.
    """
    path = Path(path)
    with _open(path) as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" not in group.attrs:
            raise KerasWeightsError(
                f"{path} holds no Keras layer list (attribute layer_names); it is not a Keras "
                "model or weights file"
            )
        layers: dict[str, dict[str, np.ndarray]] = {}
        try:
            for layer in _decode(group.attrs["layer_names"]):
                names = _decode(group[layer].attrs.get("weight_names", []))
                arrays = {_kind(n): np.asarray(group[layer][n], dtype=np.float32) for n in names}
                if "kernel" in arrays and arrays["kernel"].ndim == 4:
                    arrays["kernel"] = arrays["kernel"][:, 0]  # Keras 1.2 Convolution1D
                if arrays:
                    layers[layer] = arrays
        except (KeyError, OSError) as err:
            raise KerasWeightsError(
                f"{path}: cannot read the weights ({err}); the file is truncated or corrupted: "
                "delete it and fetch it again"
            ) from err
    return layers


def check_shapes(
    layers: dict[str, dict[str, np.ndarray]],
    expected: dict[str, dict[str, tuple[int, ...]]],
    source: str | Path,
) -> None:
    """Raise unless every expected layer is present with the expected array shapes.

    Parameters
    ----------
    layers
        From :func:`read_keras_weights`.
    expected
        ``{layer: {"kernel": shape, "bias": shape}}`` that the PyTorch port needs.
    source
        The file, named in the error.

    Raises
    ------
    KerasWeightsError
        Naming the file, the layer, and the expected and found shapes (or the missing layer).
    """
    for layer, arrays in expected.items():
        if layer not in layers:
            raise KerasWeightsError(
                f"{source}: layer {layer!r} is missing (the file has {sorted(layers)}); this "
                "file is of another architecture: load it with the matching model class"
            )
        for kind, shape in arrays.items():
            found = layers[layer].get(kind)
            found_shape = None if found is None else tuple(found.shape)
            if found_shape != tuple(shape):
                raise KerasWeightsError(
                    f"{source}: layer {layer!r} {kind}: expected shape {tuple(shape)}, found "
                    f"{found_shape}; this file is of another architecture or configuration"
                )


def keras_layer_names(path: str | Path) -> list[str]:
    """Names of all layers of a Keras model file, weighted or not (e.g. ``add_residual_1``)."""
    path = Path(path)
    with _open(path) as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        return _decode(group.attrs.get("layer_names", []))


def write_keras_weights(
    path: str | Path,
    layers: dict[str, dict[str, np.ndarray]],
    layer_names: list[str] | None = None,
    keras_version: str = "2.2.4",
) -> None:
    """Write ``{layer: {"kernel", "bias"}}`` in a Keras HDF5 layout (for stand-ins and tests).

    ``keras_version`` starting with ``"1."`` writes the Keras 1.2 layout (``<layer>_W:0``,
    Conv1D kernels as ``[width, 1, in, out]``); otherwise the Keras 2 layout
    (``<layer>_1/kernel:0``). ``layer_names`` may list weightless layers too.
    """
    keras1 = keras_version.startswith("1.")
    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = keras_version
        group = handle.create_group("model_weights")
        names = layer_names if layer_names is not None else list(layers)
        group.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            sub = group.create_group(name)
            weight_names = []
            for kind, array in layers.get(name, {}).items():
                if keras1:
                    array = array[:, None] if kind == "kernel" and array.ndim == 3 else array
                    weight_name = f"{name}_{'W' if kind == 'kernel' else 'b'}:0"
                else:
                    weight_name = f"{name}_1/{kind}:0"
                sub.create_dataset(weight_name, data=np.asarray(array, dtype=np.float32))
                weight_names.append(weight_name.encode())
            sub.attrs["weight_names"] = np.array(weight_names)
