"""Every SharedArray method and property, with each kind of manager."""
import numpy as np
import pytest

import shmanager
from shmanager import SharedArray

from conftest import exists


# --- creating -------------------------------------------------------------------------------


def test_allocate_zero_filled_owner(any_manager, cleanup):
    sa = cleanup(SharedArray.allocate(any_manager, shape=(100, 200), dtype="float64"))
    assert sa.shape == (100, 200)
    assert sa.dtype == np.dtype("float64")
    assert sa.owner is True
    assert sa.closed is False
    assert sa.name.startswith("shma_") and "/" not in sa.name
    assert sa.ndim == 2 and sa.nbytes == 100 * 200 * 8
    arr = sa.as_array()
    assert isinstance(arr, np.ndarray) and type(arr) is np.ndarray
    assert arr.shape == (100, 200) and arr.dtype == np.float64
    assert arr.flags.c_contiguous and arr.flags.writeable
    assert not arr.any()
    assert exists(sa.name)


def test_allocate_positional_and_default_dtype(cleanup):
    sa = cleanup(SharedArray.allocate(None, (3,)))
    assert sa.dtype == np.float64


def test_allocate_like(any_manager, cleanup):
    template = np.zeros((50, 50), dtype="int32")
    sa = cleanup(SharedArray.allocate_like(any_manager, template))
    assert sa.shape == (50, 50) and sa.dtype == np.int32 and sa.owner
    assert not sa.as_array().any()


def test_allocate_like_takes_any_shape_dtype_object(cleanup):
    first = cleanup(SharedArray.allocate(None, (4, 5), ">i2"))
    second = cleanup(SharedArray.allocate_like(None, first))
    assert second.shape == (4, 5) and second.dtype == np.dtype(">i2")


def test_copy(any_manager, cleanup):
    data = np.random.default_rng(1).random((300, 200))
    sa = cleanup(SharedArray.copy(any_manager, data))
    assert sa.owner and sa.shape == data.shape and sa.dtype == data.dtype
    np.testing.assert_array_equal(sa.as_array(), data)
    assert not np.shares_memory(sa.as_array(), data)


def test_copy_of_list_and_scalar(cleanup):
    sa = cleanup(SharedArray.copy(None, [[1, 2, 3], [4, 5, 6]]))
    assert sa.dtype == np.int64 and sa.as_array().tolist() == [[1, 2, 3], [4, 5, 6]]
    zero_d = cleanup(SharedArray.copy(None, 3.5))
    assert zero_d.shape == () and zero_d.as_array()[()] == 3.5


@pytest.mark.parametrize("method", ["allocate", "allocate_unsafe"])
def test_allocate_variants_agree(method, cleanup):
    sa = cleanup(getattr(SharedArray, method)(None, shape=(100,), dtype="float64"))
    assert sa.shape == (100,) and sa.dtype == np.float64 and sa.owner
    assert sa.as_array().sum() == 0


def test_unsafe_variants(any_manager, cleanup):
    data = np.arange(24, dtype=np.int16).reshape(4, 6)
    a = cleanup(SharedArray.allocate_unsafe(any_manager, shape=(100,), dtype="float64"))
    b = cleanup(SharedArray.allocate_like_unsafe(any_manager, data))
    c = cleanup(SharedArray.copy_unsafe(any_manager, data[:, ::2].T))
    assert (a.shape, b.shape, c.shape) == ((100,), (4, 6), (3, 4))
    assert b.dtype == np.int16
    np.testing.assert_array_equal(c.as_array(), data[:, ::2].T)
    d = cleanup(SharedArray.attach_unsafe(c.name, (3, 4), np.int16))
    np.testing.assert_array_equal(d.as_array(), data[:, ::2].T)
    assert not d.owner


# --- attaching ------------------------------------------------------------------------------


def test_attach_sees_same_memory(any_manager, cleanup):
    owner = cleanup(SharedArray.allocate(any_manager, shape=(1000, 1000), dtype="float64"))
    arr = owner.as_array()
    arr[:] = np.random.default_rng(2).random((1000, 1000))
    client = cleanup(SharedArray.attach(name=owner.name, shape=(1000, 1000), dtype="float64"))
    assert client.owner is False
    client_arr = client.as_array()
    np.testing.assert_array_equal(client_arr, arr)
    client_arr[0, 0] = 42.0
    assert arr[0, 0] == 42.0
    client.close()
    assert exists(owner.name), "a client's close must not unlink"
    owner.close()
    assert not exists(owner.name)


def test_attach_by_name_alone_reads_metadata(cleanup):
    owner = cleanup(SharedArray.allocate(None, (7, 3, 2), "<u2"))
    owner.as_array()[:] = 9
    client = cleanup(SharedArray.attach(owner.name))
    assert client.shape == (7, 3, 2) and client.dtype == np.dtype("<u2")
    assert (client.as_array() == 9).all()


def test_attach_name_with_leading_slash(cleanup):
    owner = cleanup(SharedArray.allocate(None, 3, "i4"))
    client = cleanup(SharedArray.attach("/" + owner.name, 3, "i4"))
    assert client.name == owner.name


def test_attach_with_only_shape_or_dtype_checks_it(cleanup):
    owner = cleanup(SharedArray.allocate(None, (4, 4), "f4"))
    assert cleanup(SharedArray.attach(owner.name, shape=(4, 4))).dtype == np.float32
    assert cleanup(SharedArray.attach(owner.name, dtype="f4")).shape == (4, 4)
    with pytest.raises(ValueError, match=r"holds shape \(4, 4\), not shape \(16,\)"):
        SharedArray.attach(owner.name, shape=16)
    with pytest.raises(ValueError, match="holds dtype <f4, not dtype <f8"):
        SharedArray.attach(owner.name, dtype="f8")


def test_attach_keywords_and_none(cleanup):
    owner = cleanup(SharedArray.allocate(None, (2, 2), "f8"))
    client = cleanup(SharedArray.attach(name=owner.name, shape=None, dtype=None))
    assert client.shape == (2, 2)


# --- shape and dtype spellings ----------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, expect",
    [
        (5, (5,)),
        (np.int32(5), (5,)),
        ((2, 3), (2, 3)),
        ([2, 3], (2, 3)),
        ((np.int64(2), np.uint8(3)), (2, 3)),
        (np.array([2, 3]), (2, 3)),
        ((), ()),
        ([], ()),
    ],
)
def test_shape_spellings(shape, expect, cleanup):
    sa = cleanup(SharedArray.allocate(None, shape, "f8"))
    assert sa.shape == expect
    assert all(type(d) is int for d in sa.shape)
    assert sa.as_array().shape == expect


@pytest.mark.parametrize(
    "dtype, expect",
    [
        ("float64", np.float64),
        ("f8", np.float64),
        ("<f8", np.float64),
        (np.float32, np.float32),
        (np.dtype("int16"), np.int16),
        (float, np.float64),
        (int, np.int_),
        (bool, np.bool_),
        (complex, np.complex128),
        ("uint8", np.uint8),
        ("d", np.float64),
    ],
)
def test_dtype_spellings(dtype, expect, cleanup):
    sa = cleanup(SharedArray.allocate(None, 4, dtype))
    assert sa.dtype == np.dtype(expect)
    assert sa.as_array().dtype == np.dtype(expect)


# --- as_array, metadata, close ----------------------------------------------------------------


def test_as_array_is_zero_copy_and_views_agree(cleanup):
    sa = cleanup(SharedArray.allocate(None, (10, 10), "f8"))
    a, b = sa.as_array(), sa.as_array()
    assert a is not b
    assert np.shares_memory(a, b)
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    a[3, 4] = 1.5
    assert b[3, 4] == 1.5


def test_np_asarray_of_shared_array(cleanup):
    sa = cleanup(SharedArray.copy(None, np.arange(6)))
    assert np.asarray(sa).tolist() == list(range(6))
    assert np.asarray(sa, dtype=np.float32).dtype == np.float32
    assert np.sum(sa) == 15


def test_close_is_idempotent_and_unlinks_owner(any_manager, cleanup):
    sa = SharedArray.allocate(any_manager, (10,), "f8")
    name = sa.name
    sa.close()
    sa.close()
    assert sa.closed and not exists(name)
    with pytest.raises(ValueError, match="is closed"):
        sa.as_array()
    assert sa.name == name and sa.shape == (10,)  # metadata stays readable


def test_managed_context_manager(any_manager):
    with SharedArray.allocate(any_manager, shape=(100, 100), dtype="float64").managed() as shared:
        arr = shared.as_array()
        arr[:] = 42.0
        name = shared.name
        assert exists(name)
    assert shared.closed and not exists(name)
    assert arr.sum() == 42.0 * 100 * 100  # the view outlives the block


def test_shared_array_is_its_own_context_manager():
    with SharedArray.allocate(None, 3, "i1") as sa:
        name = sa.name
    assert not exists(name)


def test_managed_closes_on_exception():
    with pytest.raises(RuntimeError):
        with SharedArray.allocate(None, 3, "f8").managed() as sa:
            name = sa.name
            raise RuntimeError("boom")
    assert not exists(name)


def test_managed_on_closed_raises():
    sa = SharedArray.allocate(None, 3, "f8")
    sa.close()
    with pytest.raises(ValueError):
        sa.managed()


def test_repr(cleanup):
    sa = cleanup(SharedArray.allocate(None, (2, 3), "f4"))
    assert repr(sa) == f"SharedArray(name='{sa.name}', shape=(2, 3), dtype='float32', owner=True)"
    sa.close()
    assert repr(sa).endswith(", closed)")


def test_handle(cleanup):
    sa = cleanup(SharedArray.allocate(None, (1000, 1000), "f8"))
    assert sa.handle == f"shma1;<f8;1000,1000;{sa.name}"


def test_subclass(cleanup):
    class Tagged(SharedArray):
        pass

    sa = cleanup(Tagged.allocate(None, 3, "f8"))
    assert type(sa) is Tagged
    client = cleanup(Tagged.attach(sa.name))
    assert type(client) is Tagged


def test_direct_construction_is_refused():
    with pytest.raises(TypeError):
        SharedArray()


def test_module_helpers(cleanup):
    sa = cleanup(SharedArray.allocate(None, (3, 5), ">i8"))
    info = shmanager.inspect(sa.name)
    assert info["has_meta"] and info["shape"] == (3, 5) and info["dtype"] == ">i8"
    assert info["data_bytes"] == 120 and info["creator_alive"]
    name = sa.name
    shmanager.unlink(name)
    assert not exists(name)
    with pytest.raises(FileNotFoundError):
        shmanager.unlink(name)
    sa.close()  # the owner's unlink finds nothing: not an error
    assert shmanager.__version__.count(".") == 2
