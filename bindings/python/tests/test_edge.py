"""Edge cases: zero-size, 0-d, non-contiguous sources, byte orders, every dtype kind."""
import numpy as np
import pytest

import shmanager
from shmanager import SharedArray


@pytest.mark.parametrize("shape", [(0,), (0, 5), (5, 0), (3, 0, 2), (0,) * 10])
def test_zero_size(shape, cleanup):
    sa = cleanup(SharedArray.allocate(None, shape, "f8"))
    arr = sa.as_array()
    assert arr.shape == shape and arr.size == 0 and sa.nbytes == 0
    client = cleanup(SharedArray.attach(sa.name))
    assert client.shape == shape
    copy = cleanup(SharedArray.copy(None, np.empty(shape, dtype="i2")))
    assert copy.as_array().shape == shape and copy.dtype == np.int16


def test_zero_d(cleanup):
    sa = cleanup(SharedArray.allocate(None, (), "c16"))
    arr = sa.as_array()
    assert arr.shape == () and arr.ndim == 0
    arr[()] = 1 + 2j
    client = cleanup(SharedArray.attach(sa.name))
    assert client.shape == () and client.as_array()[()] == 1 + 2j
    assert sa.handle.startswith("shma1;<c16;;")


def test_max_ndim(cleanup):
    shape = (1,) * shmanager.MAX_NDIM
    sa = cleanup(SharedArray.allocate(None, shape, "u1"))
    assert sa.as_array().shape == shape
    assert cleanup(SharedArray.attach(sa.name)).shape == shape
    with pytest.raises(ValueError, match=f"ndim = {shmanager.MAX_NDIM + 1} is out of range"):
        SharedArray.allocate(None, shape + (1,), "u1")


def _sources():
    rng = np.random.default_rng(3)
    base = rng.random((40, 30))
    cube = rng.integers(0, 1000, (6, 7, 8)).astype(np.int32)
    return {
        "contiguous": base,
        "transposed": base.T,
        "fortran": np.asfortranarray(base),
        "row_slice_step": base[::3],
        "col_slice_step": base[:, ::4],
        "negative_strides": base[::-1, ::-2],
        "broadcast_zero_stride": np.broadcast_to(np.arange(30.0), (40, 30)),
        "cube_transposed": cube.transpose(2, 0, 1),
        "cube_sliced": cube[1:5, ::-3, 2::2],
        "column": base[:, 7],
        "scalar_view": base[5, 6, ...],
        "empty_slice": base[10:10],
        "big_endian_transposed": base.astype(">f8").T,
        "bool_mask_result": base[base > 0.5],
    }


@pytest.mark.parametrize("kind", sorted(_sources()))
@pytest.mark.parametrize("method", ["copy", "copy_unsafe"])
def test_copy_non_contiguous(kind, method, cleanup):
    src = _sources()[kind]
    sa = cleanup(getattr(SharedArray, method)(None, src))
    out = sa.as_array()
    assert out.shape == src.shape and out.dtype == src.dtype
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, src)


@pytest.mark.parametrize(
    "dtype",
    [">f8", ">i4", ">u2", ">c8", "<f4", "|b1", "|i1", "<f2", "S7", "<U5", ">U3", "V6", "<M8[ns]", ">m8[s]", "<M8[D]"],
)
def test_dtype_kinds_round_trip(dtype, cleanup):
    dt = np.dtype(dtype)
    rng = np.random.default_rng(4)
    raw = rng.integers(0, 256, size=12 * dt.itemsize, dtype=np.uint8)
    if dt.kind == "U":  # must be valid code points
        data = np.array(["ab", "xyz", "", "q"] * 3, dtype=dt).reshape(3, 4)
    elif dt.kind == "b":
        data = (raw[:12] & 1).astype(dt).reshape(3, 4)
    else:
        data = raw.view(dt).reshape(3, 4)
    sa = cleanup(SharedArray.copy(None, data))
    assert sa.dtype == dt
    assert sa.as_array().tobytes() == data.tobytes()
    client = cleanup(SharedArray.attach(sa.name))
    assert client.dtype == dt and client.shape == (3, 4)
    assert client.as_array().tobytes() == data.tobytes()
    explicit = cleanup(SharedArray.attach(sa.name, (3, 4), dtype))
    assert explicit.dtype == dt


def test_big_endian_values(cleanup):
    values = (np.arange(10) * 1.5).astype(">f8")
    sa = cleanup(SharedArray.copy(None, values))
    arr = sa.as_array()
    assert arr.dtype.byteorder == ">"
    assert arr.tolist() == values.tolist()
    # The bytes in shared memory really are big-endian.
    assert arr.view(np.uint8)[:8].tobytes() == np.array([0.0], dtype=">f8").tobytes()
    assert arr.view(np.uint8)[8:16].tobytes() == np.array([1.5], dtype=">f8").tobytes()


def test_byte_order_is_part_of_the_identity(cleanup):
    sa = cleanup(SharedArray.allocate(None, 4, ">f8"))
    with pytest.raises(ValueError, match="dtype >f8, not shape .* dtype <f8"):
        SharedArray.attach(sa.name, 4, "<f8")


def test_large_dims_that_multiply_to_zero(cleanup):
    sa = cleanup(SharedArray.allocate(None, (0, 2**40), "f8"))
    assert sa.nbytes == 0 and sa.as_array().shape == (0, 2**40)


def test_copy_of_readonly_source(cleanup):
    src = np.arange(5.0)
    src.flags.writeable = False
    sa = cleanup(SharedArray.copy(None, src))
    assert sa.as_array().flags.writeable


def test_copy_of_ndarray_subclass_gives_plain_view(cleanup):
    m = np.ma.masked_array(np.arange(6.0), mask=[0, 1, 0, 0, 0, 0])
    sa = cleanup(SharedArray.copy(None, m))
    assert type(sa.as_array()) is np.ndarray
    assert sa.as_array().tolist() == list(np.arange(6.0))


def test_many_arrays_at_once(cleanup):
    arrays = [cleanup(SharedArray.allocate(None, (i + 1,), "i8")) for i in range(200)]
    for i, sa in enumerate(arrays):
        sa.as_array()[:] = i
    assert sum(int(sa.as_array().sum()) for sa in arrays) == sum(i * (i + 1) for i in range(200))
    assert len({sa.name for sa in arrays}) == 200
