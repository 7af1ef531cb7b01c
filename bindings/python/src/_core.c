/*
 * _core.c: the CPython extension module `shmanager._core`, the Python face of libshmanager.
 *
 * It defines three types:
 *   SharedArray  the seed's class: allocate/allocate_like/copy/attach (+ _unsafe), as_array(),
 *                name/shape/dtype/owner, close(), managed(), pickling as a handle.
 *   Manager      a shma_manager: owner of the arrays made through it, with the crash reaper.
 *   _Mapping     the object that owns one shma_array (one mmap). Every NumPy view returned by
 *                as_array() has it as its `base`, so the mapping outlives close() for as long as
 *                a view is alive: close() unlinks at once (owner) but the munmap waits for the
 *                last view. No view can ever point into unmapped memory.
 *
 * Why an extension and not ctypes: per call, ctypes adds microseconds of argument marshalling
 * on top of the ~11 us of system calls an attach costs, and the binding's goal is to stay well
 * under Python's own SharedMemory + np.ndarray(buffer=...) (measured by make python-bench:
 * attach + view + close 10 us here, 13-15 us through ctypes, 17-22 us for SharedMemory).
 *
 * Garbage collection never unlinks, as with Python's SharedMemory: only close() (or managed())
 * and the manager do. An owner collected without close() leaves its mapping on a list of
 * orphans, because the core unlinks an owner when its last handle closes; the orphan is released
 * once its manager no longer owns the segment (a C Manager shut down, a SharedMemoryManager no
 * longer running), and never for an array made without a manager: that segment leaks, with a
 * ResourceWarning, as an unclosed file would.
 *
 * A SharedArray made with Python's multiprocessing SharedMemoryManager is created by the C core
 * (so it carries the metadata trailer) and then registered with the manager's server through
 * the server's own `track_segment` call (shmanager/_smm.py), exactly as
 * SharedMemoryManager.SharedMemory() registers the blocks it makes; the server unlinks it at
 * shutdown. close() by the owner first asks the server to unlink and forget it
 * (`release_segment`), then unlinks it itself in case the server could not. Nothing goes
 * through multiprocessing.shared_memory in this process, so the resource tracker never hears
 * of these segments (bpo-38119 cannot unlink them behind our back).
 *
 * Locking: everything runs under the GIL except the core calls that may take long (allocate
 * and copy: reserving and filling memory), which release it. A Manager's allocations and its
 * shutdown are serialised by a per-manager lock, so a shutdown can never free the C manager
 * under an allocation running without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL shmanager_core_ARRAY_API
#include <numpy/arrayobject.h>

#include "shmanager.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Shapes are handed to NumPy as npy_intp and to the core as int64_t. */
_Static_assert(sizeof(npy_intp) == sizeof(int64_t), "npy_intp must be 64-bit");

/* The most dimensions an array can have here: the core's limit or NumPy's (32 before NumPy 2),
 * whichever is lower. */
#if NPY_MAXDIMS < SHMA_MAX_NDIM
#define MAX_NDIM NPY_MAXDIMS
#else
#define MAX_NDIM SHMA_MAX_NDIM
#endif

/* NumPy 2 reads the item size through a macro; NumPy 1.x has the field. */
#ifndef PyDataType_ELSIZE
#define PyDataType_ELSIZE(descr) ((descr)->elsize)
#endif

#if PY_VERSION_HEX >= 0x030D0000
#define SHMA_PY_FINALIZING() Py_IsFinalizing()
#else
#define SHMA_PY_FINALIZING() _Py_IsFinalizing()
#endif

/* Where POSIX shared memory lives on Linux; used only to check that a cached attachment
 * still names the same segment (see the unpickle cache below). */
#define SHM_DIR "/dev/shm/"

static PyTypeObject MappingType;
static PyTypeObject SharedArrayType;
static PyTypeObject ManagerType;

/* ---------------------------------------------------------------------------------------------
 * Errors: a core code becomes the seed's exception type, carrying the core's detail message
 * ------------------------------------------------------------------------------------------- */

/* The errno the detail message ends with ("... (errno 28)"), or `fallback`. */
static int detail_errno(const char *detail, int fallback) {
    const char *p = strstr(detail, "(errno ");
    int value;
    if (p && sscanf(p, "(errno %d)", &value) == 1) return value;
    return fallback;
}

/* Raises the Python exception for core code `rc` and returns NULL. The instance carries the
 * code's name as `shma_error` ("SHMA_E_MISMATCH"). */
static PyObject *raise_shma(int rc) {
    const char *detail = shma_last_error();
    if (detail[0] == '\0') detail = shma_strerror(rc);
    PyObject *type = PyExc_ValueError;
    int os_errno = 0;
    switch (rc) {
    case SHMA_E_DTYPE: type = PyExc_TypeError; break;
    case SHMA_E_NOTFOUND: type = PyExc_FileNotFoundError; os_errno = ENOENT; break;
    case SHMA_E_EXISTS: type = PyExc_FileExistsError; os_errno = EEXIST; break;
    case SHMA_E_PERM: type = PyExc_PermissionError; os_errno = detail_errno(detail, EACCES); break;
    case SHMA_E_NOSPC: type = PyExc_OSError; os_errno = detail_errno(detail, ENOSPC); break;
    case SHMA_E_OS:
    case SHMA_E_UNAVAILABLE: type = PyExc_OSError; os_errno = detail_errno(detail, 0); break;
    case SHMA_E_NOMEM: type = PyExc_MemoryError; break;
    case SHMA_E_STATE: type = PyExc_RuntimeError; break;
    default: break; /* shape, strides, overflow, name, size, mismatch, metadata, handle, ... */
    }
    PyObject *exc = os_errno ? PyObject_CallFunction(type, "is", os_errno, detail)
                             : PyObject_CallFunction(type, "s", detail);
    if (exc == NULL) return NULL;
    PyObject *code = PyUnicode_FromString(shma_errname(rc));
    if (code == NULL || PyObject_SetAttrString(exc, "shma_error", code) < 0) {
        Py_XDECREF(code);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(code);
    PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Argument conversion: names, shapes, dtypes
 * ------------------------------------------------------------------------------------------- */

/* Binds fast-call arguments to the parameters `names` (positional then keyword); parameters not
 * given stay NULL. The first `required` are mandatory. Borrowed references. */
static int bind_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                     const char *const *names, int n, int required, PyObject **out) {
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fname, n, nargs);
        return -1;
    }
    for (int i = 0; i < n; i++) out[i] = i < nargs ? args[i] : NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int j = 0;
        while (j < n && PyUnicode_CompareWithASCIIString(key, names[j]) != 0) j++;
        if (j == n) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, key);
            return -1;
        }
        if (out[j]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname, names[j]);
            return -1;
        }
        out[j] = args[nargs + k];
    }
    for (int i = 0; i < required; i++) {
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, names[i]);
            return -1;
        }
    }
    return 0;
}

/* A segment name as UTF-8 (borrowed from `obj`, a str). */
static const char *name_from_obj(PyObject *obj) {
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "name must be a str, not %.100s", Py_TYPE(obj)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(obj, &len);
    if (s && (Py_ssize_t)strlen(s) != len) {
        PyErr_SetString(PyExc_ValueError, "name contains a NUL character");
        return NULL;
    }
    return s;
}

static int dim_from_obj(PyObject *item, Py_ssize_t i, int64_t *out) {
    if (!PyIndex_Check(item)) {
        PyErr_Format(PyExc_TypeError, "shape[%zd] must be an integer, not %.100s", i, Py_TYPE(item)->tp_name);
        return -1;
    }
    PyObject *v = PyNumber_Index(item);
    if (v == NULL) return -1;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        PyErr_Format(PyExc_ValueError, "shape[%zd] = %S does not fit in 64 bits", i, v);
        Py_DECREF(v);
        return -1;
    }
    Py_DECREF(v);
    if (x == -1 && PyErr_Occurred()) return -1;
    *out = (int64_t)x;
    return 0;
}

/* Reads a shape given as an int, a tuple, a list or any sequence of integers (NumPy integers
 * included) into shape[0..*ndim). Bounds and signs are the core's to check. */
static int shape_from_obj(PyObject *obj, int64_t shape[SHMA_MAX_NDIM], int *ndim) {
    if (PyUnicode_Check(obj) || PyBytes_Check(obj) || obj == Py_None) {
        PyErr_Format(PyExc_TypeError, "shape must be an int or a sequence of ints, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    /* Fast path for the common case, a tuple of plain ints (what the benchmarks and most callers
     * pass): no sequence conversion, no __index__ call. Same results and errors as below. */
    if (PyTuple_CheckExact(obj) && PyTuple_GET_SIZE(obj) <= MAX_NDIM) {
        Py_ssize_t n = PyTuple_GET_SIZE(obj);
        Py_ssize_t i = 0;
        for (; i < n; i++) {
            PyObject *item = PyTuple_GET_ITEM(obj, i);
            if (!PyLong_CheckExact(item)) break;
            int overflow = 0;
            long long x = PyLong_AsLongLongAndOverflow(item, &overflow);
            if (overflow || (x == -1 && PyErr_Occurred())) break; /* the general path reports it */
            shape[i] = (int64_t)x;
        }
        if (i == n) {
            *ndim = (int)n;
            return 0;
        }
        PyErr_Clear();
    }
    if (PyIndex_Check(obj) && !(PyArray_Check(obj) && PyArray_NDIM((PyArrayObject *)obj) > 0)) {
        *ndim = 1;
        return dim_from_obj(obj, 0, &shape[0]);
    }
    PyObject *seq = PySequence_Fast(obj, "shape must be an int or a sequence of ints");
    if (seq == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "shape must be an int or a sequence of ints, not %.100s",
                         Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > MAX_NDIM) {
        PyErr_Format(PyExc_ValueError, "ndim = %zd is out of range 0..%d%s", n, MAX_NDIM,
                     MAX_NDIM < SHMA_MAX_NDIM ? " (this NumPy's limit)" : "");
        Py_DECREF(seq);
        return -1;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (dim_from_obj(items[i], i, &shape[i]) < 0) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    *ndim = (int)n;
    return 0;
}

static PyObject *shape_tuple(int ndim, const int64_t *shape) {
    PyObject *t = PyTuple_New(ndim);
    if (t == NULL) return NULL;
    for (int i = 0; i < ndim; i++) {
        PyObject *v = PyLong_FromLongLong(shape[i]);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* dtype argument -> (NumPy descr, canonical core string). Conversions of str, type and dtype
 * arguments are cached: NumPy's converter and the `.str` lookup cost more than an attach's
 * Python overhead otherwise. Values are (descr, bytes) tuples. */
static PyObject *dtype_cache;
#define DTYPE_CACHE_MAX 512

/* Returns a new reference to the (descr, canonical-bytes) pair for `obj`. */
static PyObject *dtype_pair(PyObject *obj) {
    bool cacheable = PyUnicode_CheckExact(obj) || PyType_Check(obj) || PyArray_DescrCheck(obj);
    if (cacheable) {
        PyObject *hit = PyDict_GetItemWithError(dtype_cache, obj);
        if (hit) {
            Py_INCREF(hit);
            return hit;
        }
        if (PyErr_Occurred()) return NULL;
    }
    PyArray_Descr *descr = NULL;
    if (!PyArray_DescrConverter(obj, &descr)) return NULL; /* NumPy's TypeError */
    if (PyDataType_HASFIELDS(descr) || PyDataType_HASSUBARRAY(descr)) {
        PyErr_Format(PyExc_TypeError, "dtype %R is structured: only plain element types can be shared",
                     (PyObject *)descr);
        Py_DECREF(descr);
        return NULL;
    }
    PyObject *str = PyObject_GetAttrString((PyObject *)descr, "str");
    const char *s = str ? PyUnicode_AsUTF8(str) : NULL;
    if (s == NULL) {
        Py_XDECREF(str);
        Py_DECREF(descr);
        return NULL;
    }
    shma_dtype parsed;
    int rc = shma_dtype_parse(s, &parsed);
    Py_DECREF(str);
    if (rc != SHMA_OK) {
        Py_DECREF(descr);
        return raise_shma(rc);
    }
    PyObject *pair = Py_BuildValue("(Ny)", (PyObject *)descr, parsed.str);
    if (pair && cacheable) {
        if (PyDict_GET_SIZE(dtype_cache) >= DTYPE_CACHE_MAX) PyDict_Clear(dtype_cache);
        if (PyDict_SetItem(dtype_cache, obj, pair) < 0) Py_CLEAR(pair);
    }
    return pair;
}

static PyArray_Descr *pair_descr(PyObject *pair) { return (PyArray_Descr *)PyTuple_GET_ITEM(pair, 0); }
static const char *pair_str(PyObject *pair) { return PyBytes_AS_STRING(PyTuple_GET_ITEM(pair, 1)); }

/* ---------------------------------------------------------------------------------------------
 * _Mapping: owns one shma_array; the `base` of every view
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    shma_array *arr;
} MappingObject;

static void Mapping_dealloc(MappingObject *self) {
    /* The last view or SharedArray is gone: unmap. An owner whose close() already unlinked the
     * name gets ENOENT here, which shma_close() treats as done. */
    shma_close(&self->arr);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Mapping_repr(MappingObject *self) {
    if (self->arr == NULL) return PyUnicode_FromString("<shmanager mapping (unmapped)>");
    return PyUnicode_FromFormat("<shmanager mapping of '%s', %zu bytes>", shma_name(self->arr),
                                shma_nbytes(self->arr));
}

static PyTypeObject MappingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmanager._core._Mapping",
    .tp_doc = "The mapping of one shared segment; the base of every view of it.",
    .tp_basicsize = sizeof(MappingObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Mapping_dealloc,
    .tp_repr = (reprfunc)Mapping_repr,
};

/* Takes ownership of arr (closing it on failure). */
static MappingObject *mapping_new(shma_array *arr) {
    MappingObject *m = PyObject_New(MappingObject, &MappingType);
    if (m == NULL) {
        shma_close(&arr);
        return NULL;
    }
    m->arr = arr;
    return m;
}

/* ---------------------------------------------------------------------------------------------
 * Manager
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    shma_manager *mgr;        /* NULL once shut down */
    PyThread_type_lock lock;  /* serialises GIL-free allocations with shutdown */
} ManagerObject;

static PyObject *Manager_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"reaper", NULL};
    int reaper = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p:Manager", kwlist, &reaper)) return NULL;
    ManagerObject *self = (ManagerObject *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shma_manager_create(reaper ? 0 : SHMA_MANAGER_NO_REAPER, &self->mgr);
    Py_END_ALLOW_THREADS
    if (rc != SHMA_OK) {
        Py_DECREF(self);
        return raise_shma(rc);
    }
    return (PyObject *)self;
}

/* Shuts the C manager down (idempotent). Waits, without the GIL, for an allocation in flight,
 * then shuts down holding the GIL so no close() can run concurrently. */
static int manager_shutdown(ManagerObject *self) {
    if (self->mgr == NULL) return SHMA_OK;
    if (self->lock) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
    int rc = shma_manager_shutdown(&self->mgr);
    if (self->lock) PyThread_release_lock(self->lock);
    return rc;
}

static int purge_orphans(void);

static void Manager_dealloc(ManagerObject *self) {
    if (self->mgr) {
        manager_shutdown(self);
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (purge_orphans() < 0) PyErr_WriteUnraisable((PyObject *)self);
        PyErr_Restore(type, value, tb);
    }
    if (self->lock) PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Manager_shutdown(ManagerObject *self, PyObject *Py_UNUSED(ignored)) {
    int rc = manager_shutdown(self);
    if (purge_orphans() < 0) return NULL; /* this manager's orphans own nothing now */
    if (rc != SHMA_OK) return raise_shma(rc);
    Py_RETURN_NONE;
}

static PyObject *Manager_start(ManagerObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->mgr == NULL) {
        PyErr_SetString(PyExc_ValueError, "Manager is shut down: create a new one");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Manager_enter(ManagerObject *self, PyObject *Py_UNUSED(ignored)) {
    if (Manager_start(self, NULL) == NULL) return NULL;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *Manager_exit(ManagerObject *self, PyObject *Py_UNUSED(args)) {
    return Manager_shutdown(self, NULL);
}

static PyObject *Manager_reduce(ManagerObject *self, PyObject *Py_UNUSED(ignored)) {
    (void)self;
    PyErr_SetString(PyExc_TypeError, "a shmanager.Manager cannot be pickled: it belongs to the process that "
                                     "created it (pickle the SharedArray instead)");
    return NULL;
}

static PyObject *Manager_get_count(ManagerObject *self, void *Py_UNUSED(closure)) {
    return PyLong_FromSize_t(shma_manager_count(self->mgr));
}

static PyObject *Manager_get_reaper_pid(ManagerObject *self, void *Py_UNUSED(closure)) {
    int pid = self->mgr ? shma_manager_reaper_pid(self->mgr) : 0;
    if (pid == 0) Py_RETURN_NONE;
    return PyLong_FromLong(pid);
}

static PyObject *Manager_get_closed(ManagerObject *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->mgr == NULL);
}

static PyObject *Manager_repr(ManagerObject *self) {
    if (self->mgr == NULL) return PyUnicode_FromString("<shmanager.Manager (shut down)>");
    return PyUnicode_FromFormat("<shmanager.Manager owning %zu arrays, reaper pid %d>", shma_manager_count(self->mgr),
                                shma_manager_reaper_pid(self->mgr));
}

static PyMethodDef Manager_methods[] = {
    {"shutdown", (PyCFunction)Manager_shutdown, METH_NOARGS,
     "shutdown()\n--\n\nUnlink every segment this manager still owns and stop its reaper. Arrays "
     "and views stay usable in this process. Idempotent."},
    {"start", (PyCFunction)Manager_start, METH_NOARGS,
     "start()\n--\n\nNo-op (a Manager runs from creation), so code written for "
     "SharedMemoryManager's start()/shutdown() works unchanged."},
    {"__enter__", (PyCFunction)Manager_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Manager_exit, METH_VARARGS, NULL},
    {"__reduce__", (PyCFunction)Manager_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Manager_getset[] = {
    {"count", (getter)Manager_get_count, NULL, "Number of segments the manager currently owns.", NULL},
    {"reaper_pid", (getter)Manager_get_reaper_pid, NULL, "Process id of the crash reaper, or None.", NULL},
    {"closed", (getter)Manager_get_closed, NULL, "True once shut down.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ManagerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmanager.Manager",
    .tp_doc = "Manager(reaper=True)\n--\n\n"
              "Owner of the shared arrays allocated through it, backed by the C core's manager.\n\n"
              "shutdown() (or leaving a `with` block, or the Manager being garbage collected) unlinks "
              "every segment it still owns. Unless reaper=False, a small watchdog process also unlinks "
              "them if this process dies without shutting down, even by SIGKILL.",
    .tp_basicsize = sizeof(ManagerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Manager_new,
    .tp_dealloc = (destructor)Manager_dealloc,
    .tp_repr = (reprfunc)Manager_repr,
    .tp_methods = Manager_methods,
    .tp_getset = Manager_getset,
};

/* ---------------------------------------------------------------------------------------------
 * Python's SharedMemoryManager (the seed's examples): shmanager/_smm.py does the talking
 * ------------------------------------------------------------------------------------------- */

static PyObject *smm_module;

static PyObject *smm_call(const char *fn, PyObject *manager, PyObject *name) {
    if (smm_module == NULL) {
        smm_module = PyImport_ImportModule("shmanager._smm");
        if (smm_module == NULL) return NULL;
    }
    return name ? PyObject_CallMethod(smm_module, fn, "OO", manager, name)
                : PyObject_CallMethod(smm_module, fn, "O", manager);
}

/* What `manager` stands for: nothing (None), a C manager, or a SharedMemoryManager whose server
 * must be told about the segment. */
typedef struct {
    ManagerObject *cmgr; /* borrowed */
    PyObject *smm;       /* borrowed */
} manager_ref;

static int resolve_manager(PyObject *manager, manager_ref *ref) {
    ref->cmgr = NULL;
    ref->smm = NULL;
    if (manager == NULL || manager == Py_None) return 0;
    if (PyObject_TypeCheck(manager, &ManagerType)) {
        ref->cmgr = (ManagerObject *)manager;
        if (ref->cmgr->mgr == NULL) {
            PyErr_SetString(PyExc_ValueError, "the shmanager.Manager is shut down");
            return -1;
        }
        return 0;
    }
    PyObject *ok = smm_call("check", manager, NULL); /* TypeError / ValueError if unusable */
    if (ok == NULL) return -1;
    Py_DECREF(ok);
    ref->smm = manager;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * SharedArray
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    MappingObject *map;   /* NULL once closed */
    PyArray_Descr *descr;
    PyObject *shape;      /* tuple of int */
    PyObject *name;       /* str, without '/' */
    PyObject *tracker;    /* SharedMemoryManager to tell when the owner closes, or NULL */
    long creator_pid;     /* owner: the pid that created it; 0 for clients */
    char owner;           /* created (not attached) by this object */
    char standalone;      /* owner without any manager: warn if never closed */
    PyObject *weakreflist;
} SharedArrayObject;

/* Whether closing this object unlinks: the owner, in the creating process, while the segment
 * is still its own (a C Manager's shutdown takes that away). */
static bool sa_unlinks(const SharedArrayObject *self) {
    if (!self->owner || self->creator_pid != (long)getpid()) return false;
    return self->map == NULL || (self->map->arr != NULL && shma_is_owner(self->map->arr));
}

/* Owner mappings whose SharedArray was collected without close(): (tracker or None, mapping).
 * Never freed, so not even the interpreter's final cleanup unlinks them. */
static PyObject *orphans;

/* Releases the orphans nobody owns through any more; called when a manager may have stopped. */
static int purge_orphans(void) {
    /* The check below runs Python code, which may switch threads: one purge at a time, so the
     * first n entries stay put (collection in between may only append). */
    static bool purging = false;
    Py_ssize_t n = PyList_GET_SIZE(orphans);
    if (n == 0 || purging) return 0;
    PyObject *keep = PyList_New(0);
    if (keep == NULL) return -1;
    purging = true;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *entry = PyList_GET_ITEM(orphans, i);
        PyObject *tracker = PyTuple_GET_ITEM(entry, 0);
        MappingObject *m = (MappingObject *)PyTuple_GET_ITEM(entry, 1);
        int needed = shma_is_owner(m->arr); /* false once a C Manager shut down */
        if (needed && tracker != Py_None) {
            PyObject *r = smm_call("running", tracker, NULL);
            needed = r ? PyObject_IsTrue(r) : -1;
            Py_XDECREF(r);
        }
        if (needed < 0 || (needed && PyList_Append(keep, entry) < 0)) {
            purging = false;
            Py_DECREF(keep);
            return -1;
        }
    }
    /* Dropping the rest unmaps them; the core's unlink then finds the name gone (ENOENT). */
    int rc = PyList_SetSlice(orphans, 0, n, keep);
    purging = false;
    Py_DECREF(keep);
    return rc;
}

static void orphan(SharedArrayObject *self) {
    PyObject *entry = Py_BuildValue("(OO)", self->tracker ? self->tracker : Py_None, (PyObject *)self->map);
    if (entry == NULL || PyList_Append(orphans, entry) < 0) PyErr_WriteUnraisable((PyObject *)self);
    Py_XDECREF(entry);
}

/* Wraps a fresh core array. Takes ownership of arr (closed on failure: an owner's segment is
 * unlinked again). descr/shape may be NULL (derived from arr). */
static PyObject *sa_wrap_named(PyTypeObject *cls, shma_array *arr, PyArray_Descr *descr, PyObject *shape, bool owner,
                               PyObject *name);
static PyObject *sa_wrap(PyTypeObject *cls, shma_array *arr, PyArray_Descr *descr, PyObject *shape, bool owner) {
    return sa_wrap_named(cls, arr, descr, shape, owner, NULL);
}

/* sa_wrap(), reusing `name` (an exact str equal to shma_name(arr)) rather than making a new one;
 * NULL makes one. */
static PyObject *sa_wrap_named(PyTypeObject *cls, shma_array *arr, PyArray_Descr *descr, PyObject *shape, bool owner,
                               PyObject *name) {
    if (shma_ndim(arr) > MAX_NDIM) { /* only from metadata: a given shape was checked before */
        PyErr_Format(PyExc_ValueError, "segment '%s' holds a %d-dimensional array: this NumPy handles at most %d",
                     shma_name(arr), shma_ndim(arr), MAX_NDIM);
        shma_close(&arr);
        return NULL;
    }
    SharedArrayObject *self = (SharedArrayObject *)cls->tp_alloc(cls, 0);
    if (self == NULL) {
        shma_close(&arr);
        return NULL;
    }
    self->map = mapping_new(arr);
    if (self->map == NULL) goto fail;
    self->owner = owner;
    self->creator_pid = owner ? (long)getpid() : 0;
    if (name) {
        Py_INCREF(name);
        self->name = name;
    } else {
        self->name = PyUnicode_FromString(shma_name(arr));
        if (self->name == NULL) goto fail;
    }
    if (descr) {
        Py_INCREF(descr);
        self->descr = descr;
    } else {
        PyObject *key = PyUnicode_FromString(shma_dtype_str(arr));
        PyObject *pair = key ? dtype_pair(key) : NULL;
        Py_XDECREF(key);
        if (pair == NULL) goto fail;
        self->descr = pair_descr(pair);
        Py_INCREF(self->descr);
        Py_DECREF(pair);
    }
    if (shape) {
        Py_INCREF(shape);
        self->shape = shape;
    } else {
        self->shape = shape_tuple(shma_ndim(arr), shma_shape(arr));
        if (self->shape == NULL) goto fail;
    }
    return (PyObject *)self;
fail:
    /* Close (for an owner: unlink) now; a plain release would orphan an owner's mapping. */
    if (self->map) shma_close(&self->map->arr);
    self->owner = 0;
    Py_DECREF(self);
    return NULL;
}

/* The shape tuple for the SharedArray: the caller's own tuple when it is already a tuple of
 * plain ints (no allocation), else a fresh one. */
static PyObject *shape_for(PyObject *given, int ndim, const int64_t *shape) {
    if (given && PyTuple_CheckExact(given)) {
        Py_ssize_t n = PyTuple_GET_SIZE(given);
        bool plain = true;
        for (Py_ssize_t i = 0; i < n && plain; i++) plain = PyLong_CheckExact(PyTuple_GET_ITEM(given, i));
        if (plain) {
            Py_INCREF(given);
            return given;
        }
    }
    return shape_tuple(ndim, shape);
}

static PyObject *SA_close(SharedArrayObject *self, PyObject *Py_UNUSED(ignored));

/* After a core create succeeded: wrap, then register with the manager's server if any. */
static PyObject *sa_finish_create(PyTypeObject *cls, shma_array *arr, PyArray_Descr *descr, const manager_ref *ref) {
    SharedArrayObject *self = (SharedArrayObject *)sa_wrap(cls, arr, descr, NULL, true);
    if (self == NULL) return NULL;
    if (ref->smm) {
        PyObject *r = purge_orphans() < 0 ? NULL : smm_call("track", ref->smm, self->name);
        if (r == NULL) {
            /* Not registered: remove the segment rather than leave it unowned. */
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyObject *closed = SA_close(self, NULL);
            if (closed == NULL) PyErr_Clear();
            Py_XDECREF(closed);
            Py_DECREF(self);
            PyErr_Restore(type, value, tb);
            return NULL;
        }
        Py_DECREF(r);
        Py_INCREF(ref->smm);
        self->tracker = ref->smm;
    } else if (ref->cmgr == NULL) {
        self->standalone = 1;
    }
    return (PyObject *)self;
}

/* Runs a create call without the GIL, serialised with the C manager's shutdown. */
#define RUN_CREATE(ref, rc, call)                                                                  \
    do {                                                                                           \
        Py_BEGIN_ALLOW_THREADS                                                                     \
        if ((ref).cmgr) PyThread_acquire_lock((ref).cmgr->lock, WAIT_LOCK);                        \
        shma_manager *cmgr_ = (ref).cmgr ? (ref).cmgr->mgr : NULL;                                 \
        if ((ref).cmgr && cmgr_ == NULL) rc = SHMA_E_STATE;                                        \
        else rc = (call);                                                                          \
        if ((ref).cmgr) PyThread_release_lock((ref).cmgr->lock);                                   \
        Py_END_ALLOW_THREADS                                                                       \
    } while (0)

enum { SAFE = 0, UNSAFE = 1 };

static PyObject *sa_allocate_impl(PyTypeObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                                  int unsafe) {
    static const char *const names[] = {"manager", "shape", "dtype"};
    PyObject *a[3];
    if (bind_args(unsafe ? "allocate_unsafe" : "allocate", args, nargs, kwnames, names, 3, 2, a) < 0) return NULL;
    int64_t shape[SHMA_MAX_NDIM];
    int ndim;
    if (shape_from_obj(a[1], shape, &ndim) < 0) return NULL;
    PyObject *pair = dtype_pair(a[2] ? a[2] : (PyObject *)&PyFloat_Type);
    if (pair == NULL) return NULL;
    manager_ref ref;
    if (resolve_manager(a[0], &ref) < 0) {
        Py_DECREF(pair);
        return NULL;
    }
    const char *dt = pair_str(pair);
    shma_array *arr = NULL;
    int rc;
    if (unsafe) RUN_CREATE(ref, rc, shma_allocate_unsafe(cmgr_, ndim, shape, dt, &arr));
    else RUN_CREATE(ref, rc, shma_allocate(cmgr_, ndim, shape, dt, &arr));
    if (rc == SHMA_E_STATE && ref.cmgr && ref.cmgr->mgr == NULL) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_ValueError, "the shmanager.Manager is shut down");
        return NULL;
    }
    if (rc != SHMA_OK) {
        Py_DECREF(pair);
        return raise_shma(rc);
    }
    PyObject *res = sa_finish_create(cls, arr, pair_descr(pair), &ref);
    Py_DECREF(pair);
    return res;
}

static PyObject *SA_allocate(PyObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return sa_allocate_impl((PyTypeObject *)cls, args, nargs, kwnames, SAFE);
}
static PyObject *SA_allocate_unsafe(PyObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return sa_allocate_impl((PyTypeObject *)cls, args, nargs, kwnames, UNSAFE);
}

/* A core view of a NumPy array (borrowing its memory, shape and strides). */
static int view_of_ndarray(PyArrayObject *a, const char *dtype_str, shma_view *v) {
    int rc = shma_dtype_parse(dtype_str, &v->dtype);
    if (rc != SHMA_OK) {
        raise_shma(rc);
        return -1;
    }
    v->data = PyArray_DATA(a);
    v->ndim = PyArray_NDIM(a);
    v->shape = (const int64_t *)PyArray_DIMS(a);
    v->strides = (const int64_t *)PyArray_STRIDES(a);
    return 0;
}

/* allocate_like: the template's shape and dtype. Any object with .shape and .dtype works (a
 * NumPy array, another SharedArray, ...). */
static PyObject *sa_like_impl(PyTypeObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                              int unsafe) {
    static const char *const names[] = {"manager", "template"};
    PyObject *a[2];
    if (bind_args(unsafe ? "allocate_like_unsafe" : "allocate_like", args, nargs, kwnames, names, 2, 2, a) < 0)
        return NULL;
    PyObject *tshape = PyObject_GetAttrString(a[1], "shape");
    PyObject *tdtype = tshape ? PyObject_GetAttrString(a[1], "dtype") : NULL;
    if (tdtype == NULL) {
        Py_XDECREF(tshape);
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "template must be an array with .shape and .dtype, not %.100s",
                         Py_TYPE(a[1])->tp_name);
        }
        return NULL;
    }
    int64_t shape[SHMA_MAX_NDIM];
    int ndim = 0;
    PyObject *pair = NULL;
    if (shape_from_obj(tshape, shape, &ndim) == 0) pair = dtype_pair(tdtype);
    Py_DECREF(tshape);
    Py_DECREF(tdtype);
    if (pair == NULL) return NULL;
    manager_ref ref;
    if (resolve_manager(a[0], &ref) < 0) {
        Py_DECREF(pair);
        return NULL;
    }
    shma_view like = {NULL, ndim, shape, NULL, {{0}, 0, 0, 0}};
    int rc = shma_dtype_parse(pair_str(pair), &like.dtype);
    shma_array *arr = NULL;
    if (rc == SHMA_OK) {
        if (unsafe) RUN_CREATE(ref, rc, shma_allocate_like_unsafe(cmgr_, &like, &arr));
        else RUN_CREATE(ref, rc, shma_allocate_like(cmgr_, &like, &arr));
    }
    if (rc != SHMA_OK) {
        Py_DECREF(pair);
        return raise_shma(rc);
    }
    PyObject *res = sa_finish_create(cls, arr, pair_descr(pair), &ref);
    Py_DECREF(pair);
    return res;
}

static PyObject *SA_allocate_like(PyObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return sa_like_impl((PyTypeObject *)cls, args, nargs, kwnames, SAFE);
}
static PyObject *SA_allocate_like_unsafe(PyObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return sa_like_impl((PyTypeObject *)cls, args, nargs, kwnames, UNSAFE);
}

/* copy: any array-like; non-contiguous sources (slices with steps, transposes, negative or zero
 * strides, Fortran order) are copied in C order by the core. */
static PyObject *sa_copy_impl(PyTypeObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                              int unsafe) {
    static const char *const names[] = {"manager", "array"};
    PyObject *a[2];
    if (bind_args(unsafe ? "copy_unsafe" : "copy", args, nargs, kwnames, names, 2, 2, a) < 0) return NULL;
    PyArrayObject *src = (PyArrayObject *)PyArray_FROM_O(a[1]);
    if (src == NULL) return NULL;
    PyObject *pair = dtype_pair((PyObject *)PyArray_DESCR(src));
    manager_ref ref;
    if (pair == NULL || resolve_manager(a[0], &ref) < 0) {
        Py_XDECREF(pair);
        Py_DECREF(src);
        return NULL;
    }
    shma_view view;
    if (view_of_ndarray(src, pair_str(pair), &view) < 0) {
        Py_DECREF(pair);
        Py_DECREF(src);
        return NULL;
    }
    shma_array *arr = NULL;
    int rc;
    /* `src` is referenced until the copy is done, so its memory stays valid without the GIL. */
    if (unsafe) RUN_CREATE(ref, rc, shma_copy_unsafe(cmgr_, &view, &arr));
    else RUN_CREATE(ref, rc, shma_copy(cmgr_, &view, &arr));
    Py_DECREF(src);
    if (rc != SHMA_OK) {
        Py_DECREF(pair);
        return raise_shma(rc);
    }
    PyObject *res = sa_finish_create(cls, arr, pair_descr(pair), &ref);
    Py_DECREF(pair);
    return res;
}

static PyObject *SA_copy(PyObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return sa_copy_impl((PyTypeObject *)cls, args, nargs, kwnames, SAFE);
}
static PyObject *SA_copy_unsafe(PyObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return sa_copy_impl((PyTypeObject *)cls, args, nargs, kwnames, UNSAFE);
}

/* Compares what attach-by-name found with the shape or dtype the caller gave alone. */
static int check_partial(SharedArrayObject *self, PyObject *shape_arg, PyObject *pair) {
    if (shape_arg) {
        int64_t shape[SHMA_MAX_NDIM];
        int ndim;
        if (shape_from_obj(shape_arg, shape, &ndim) < 0) return -1;
        PyObject *want = shape_tuple(ndim, shape);
        if (want == NULL) return -1;
        int eq = PyObject_RichCompareBool(want, self->shape, Py_EQ);
        if (eq == 0)
            PyErr_Format(PyExc_ValueError, "segment '%U' holds shape %R, not shape %R", self->name, self->shape, want);
        Py_DECREF(want);
        if (eq != 1) return -1;
    }
    if (pair) {
        PyObject *have = PyObject_GetAttrString((PyObject *)self->descr, "str");
        if (have == NULL) return -1;
        int eq = PyUnicode_CompareWithASCIIString(have, pair_str(pair)) == 0;
        if (!eq)
            PyErr_Format(PyExc_ValueError, "segment '%U' holds dtype %U, not dtype %s", self->name, have,
                         pair_str(pair));
        Py_DECREF(have);
        if (!eq) return -1;
    }
    return 0;
}

static PyObject *sa_attach_impl(PyTypeObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                                int unsafe) {
    static const char *const names[] = {"name", "shape", "dtype"};
    PyObject *a[3];
    if (bind_args(unsafe ? "attach_unsafe" : "attach", args, nargs, kwnames, names, 3, unsafe ? 3 : 1, a) < 0)
        return NULL;
    if (unsafe && (a[1] == Py_None || a[2] == Py_None)) {
        PyErr_SetString(PyExc_TypeError, "attach_unsafe() needs both shape and dtype");
        return NULL;
    }
    if (a[1] == Py_None) a[1] = NULL;
    if (a[2] == Py_None) a[2] = NULL;
    const char *name = name_from_obj(a[0]);
    if (name == NULL) return NULL;
    int64_t shape[SHMA_MAX_NDIM];
    int ndim = 0;
    if (a[1] && shape_from_obj(a[1], shape, &ndim) < 0) return NULL;
    PyObject *pair = a[2] ? dtype_pair(a[2]) : NULL;
    if (a[2] && pair == NULL) return NULL;

    shma_array *arr = NULL;
    int rc;
    if (unsafe) rc = shma_attach_unsafe(name, ndim, shape, pair_str(pair), &arr);
    else if (a[1] && a[2]) rc = shma_attach(name, ndim, shape, pair_str(pair), &arr);
    else rc = shma_attach_name(name, &arr); /* shape and/or dtype from the segment's metadata */
    if (rc != SHMA_OK) {
        Py_XDECREF(pair);
        return raise_shma(rc);
    }
    PyObject *shape_obj = NULL;
    if (a[1] && a[2]) {
        shape_obj = shape_for(a[1], ndim, shape);
        if (shape_obj == NULL) {
            Py_DECREF(pair);
            shma_close(&arr);
            return NULL;
        }
    }
    /* The caller's str is the segment's name when it has no leading '/': no new string. */
    PyObject *name_obj = PyUnicode_CheckExact(a[0]) && name[0] != '/' ? a[0] : NULL;
    SharedArrayObject *self = (SharedArrayObject *)sa_wrap_named(cls, arr, a[1] && a[2] ? pair_descr(pair) : NULL,
                                                                 shape_obj, false, name_obj);
    Py_XDECREF(shape_obj);
    if (self && !(a[1] && a[2]) && (a[1] || a[2]) && check_partial(self, a[1], pair) < 0) Py_CLEAR(self);
    Py_XDECREF(pair);
    return (PyObject *)self;
}

static PyObject *SA_attach(PyObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return sa_attach_impl((PyTypeObject *)cls, args, nargs, kwnames, SAFE);
}
static PyObject *SA_attach_unsafe(PyObject *cls, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return sa_attach_impl((PyTypeObject *)cls, args, nargs, kwnames, UNSAFE);
}

static PyObject *sa_closed_error(SharedArrayObject *self) {
    PyErr_Format(PyExc_ValueError, "SharedArray '%U' is closed", self->name);
    return NULL;
}

static PyObject *SA_as_array(SharedArrayObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->map == NULL) return sa_closed_error(self);
    shma_array *arr = self->map->arr;
    Py_INCREF(self->descr); /* stolen by NewFromDescr */
    PyObject *view = PyArray_NewFromDescr(&PyArray_Type, self->descr, shma_ndim(arr), (npy_intp *)shma_shape(arr),
                                          NULL, shma_data(arr), NPY_ARRAY_CARRAY, NULL);
    if (view == NULL) return NULL;
    Py_INCREF(self->map); /* stolen by SetBaseObject, also on failure */
    if (PyArray_SetBaseObject((PyArrayObject *)view, (PyObject *)self->map) < 0) {
        Py_DECREF(view);
        return NULL;
    }
    return view;
}

/* __array__(dtype=None): lets np.asarray(shared) and NumPy functions take a SharedArray. */
static PyObject *SA_array(SharedArrayObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"dtype", "copy", NULL};
    PyObject *dtype = Py_None, *copy = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OO:__array__", kwlist, &dtype, &copy)) return NULL;
    PyObject *view = SA_as_array(self, NULL);
    if (view == NULL) return NULL;
    PyObject *res;
    if (dtype != Py_None) res = PyObject_CallMethod(view, "astype", "O", dtype);
    else if (copy == Py_True) res = PyObject_CallMethod(view, "copy", NULL);
    else return view;
    Py_DECREF(view);
    return res;
}

/* close(): see the module comment. Idempotent. */
static PyObject *SA_close(SharedArrayObject *self, PyObject *Py_UNUSED(ignored)) {
    MappingObject *m = self->map;
    if (m == NULL) Py_RETURN_NONE;
    bool unlinks = sa_unlinks(self);
    /* Take the mapping (and tracker) before running any Python code: a thread switch there
     * must find this object closed already, not close it a second time. */
    self->map = NULL;
    PyObject *tracker = self->tracker;
    self->tracker = NULL;

    /* A SharedMemoryManager's server unlinks and forgets the segment first; if that fails the
     * segment is still unlinked below and the error raised afterwards. */
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    if (tracker && unlinks) {
        PyObject *r = purge_orphans() < 0 ? NULL : smm_call("untrack", tracker, self->name);
        if (r == NULL) PyErr_Fetch(&type, &value, &tb);
        Py_XDECREF(r);
    }
    Py_XDECREF(tracker);

    int rc = SHMA_OK;
    if (Py_REFCNT(m) == 1) {
        rc = shma_close(&m->arr); /* no view left: unlink (owner) and unmap now */
    } else if (unlinks) {
        /* Views are alive: unlink the name now, unmap when the last view goes. */
        rc = shma_unlink(PyUnicode_AsUTF8(self->name));
        if (rc == SHMA_E_NOTFOUND) rc = SHMA_OK; /* its manager already removed it */
    }
    Py_DECREF(m);
    if (type) {
        PyErr_Restore(type, value, tb);
        return NULL;
    }
    if (rc != SHMA_OK) return raise_shma(rc);
    Py_RETURN_NONE;
}

static PyObject *SA_enter(SharedArrayObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->map == NULL) return sa_closed_error(self);
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *SA_exit(SharedArrayObject *self, PyObject *Py_UNUSED(args)) {
    PyObject *r = SA_close(self, NULL);
    if (r == NULL) return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

/* managed(): the seed's context manager. The SharedArray is its own context manager, so this
 * returns self: `with sa.managed() as s:` closes sa on leaving the block. */
static PyObject *SA_managed(SharedArrayObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->map == NULL) return sa_closed_error(self);
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *sa_handle(SharedArrayObject *self) {
    if (self->map == NULL) return sa_closed_error(self);
    char buf[SHMA_HANDLE_MAX];
    size_t len;
    int rc = shma_handle_encode(self->map->arr, buf, sizeof buf, &len);
    if (rc != SHMA_OK) return raise_shma(rc);
    return PyUnicode_FromStringAndSize(buf, (Py_ssize_t)len);
}

static PyObject *rebuild_fn; /* shmanager._core._rebuild, for __reduce__ */

/* Pickles as (_rebuild, (handle,)): a few dozen bytes, never the data. */
static PyObject *SA_reduce(SharedArrayObject *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *handle = sa_handle(self);
    if (handle == NULL) return NULL;
    if (Py_TYPE(self) == &SharedArrayType) return Py_BuildValue("O(N)", rebuild_fn, handle);
    return Py_BuildValue("O(NO)", rebuild_fn, handle, (PyObject *)Py_TYPE(self));
}

static PyObject *SA_repr(SharedArrayObject *self) {
    return PyUnicode_FromFormat("SharedArray(name=%R, shape=%R, dtype='%S', owner=%s%s)", self->name, self->shape,
                                (PyObject *)self->descr, sa_unlinks(self) ? "True" : "False",
                                self->map ? "" : ", closed");
}

static PyObject *SA_get_name(SharedArrayObject *self, void *c) { (void)c; Py_INCREF(self->name); return self->name; }
static PyObject *SA_get_shape(SharedArrayObject *self, void *c) { (void)c; Py_INCREF(self->shape); return self->shape; }
static PyObject *SA_get_dtype(SharedArrayObject *self, void *c) {
    (void)c;
    Py_INCREF(self->descr);
    return (PyObject *)self->descr;
}
static PyObject *SA_get_owner(SharedArrayObject *self, void *c) { (void)c; return PyBool_FromLong(sa_unlinks(self)); }
static PyObject *SA_get_closed(SharedArrayObject *self, void *c) { (void)c; return PyBool_FromLong(self->map == NULL); }
static PyObject *SA_get_ndim(SharedArrayObject *self, void *c) {
    (void)c;
    return PyLong_FromSsize_t(PyTuple_GET_SIZE(self->shape));
}
static PyObject *SA_get_nbytes(SharedArrayObject *self, void *c) {
    (void)c;
    PyObject *size = PyLong_FromLong(PyDataType_ELSIZE(self->descr));
    for (Py_ssize_t i = 0; size && i < PyTuple_GET_SIZE(self->shape); i++) {
        PyObject *next = PyNumber_Multiply(size, PyTuple_GET_ITEM(self->shape, i));
        Py_DECREF(size);
        size = next;
    }
    return size;
}
static PyObject *SA_get_handle(SharedArrayObject *self, void *c) { (void)c; return sa_handle(self); }

static int SA_traverse(SharedArrayObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->tracker);
    Py_VISIT(self->descr);
    Py_VISIT(self->shape);
    return 0;
}

static int SA_clear(SharedArrayObject *self) {
    Py_CLEAR(self->tracker);
    return 0;
}

static void SA_dealloc(SharedArrayObject *self) {
    PyObject_GC_UnTrack(self);
    if (self->weakreflist) PyObject_ClearWeakRefs((PyObject *)self);
    if (self->map && sa_unlinks(self)) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        /* A standalone owner never closed leaks its segment (nothing else will unlink it): say
         * so, as an unclosed file does. */
        if (self->standalone && !SHMA_PY_FINALIZING() &&
            PyErr_WarnFormat(PyExc_ResourceWarning, 1,
                             "SharedArray '%U' was never closed: its segment stays in /dev/shm until "
                             "unlinked (use close(), managed() or a manager)",
                             self->name) < 0)
            PyErr_WriteUnraisable((PyObject *)self);
        orphan(self); /* collection never unlinks: see the module comment */
        PyErr_Restore(type, value, tb);
    }
    Py_CLEAR(self->map);
    Py_CLEAR(self->descr);
    Py_CLEAR(self->shape);
    Py_CLEAR(self->name);
    Py_CLEAR(self->tracker);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define FASTCLASS (METH_FASTCALL | METH_KEYWORDS | METH_CLASS)

static PyMethodDef SA_methods[] = {
    {"allocate", (PyCFunction)(void (*)(void))SA_allocate, FASTCLASS,
     "allocate(manager, shape, dtype='float64')\n--\n\n"
     "A new zero-filled shared array, owned by this object (close() unlinks it). `manager` is a "
     "multiprocessing SharedMemoryManager, a shmanager.Manager, or None (then only close() "
     "removes the segment)."},
    {"allocate_unsafe", (PyCFunction)(void (*)(void))SA_allocate_unsafe, FASTCLASS,
     "allocate_unsafe(manager, shape, dtype='float64')\n--\n\nallocate() without validating the shape."},
    {"allocate_like", (PyCFunction)(void (*)(void))SA_allocate_like, FASTCLASS,
     "allocate_like(manager, template)\n--\n\nA new zero-filled shared array with template's shape and dtype."},
    {"allocate_like_unsafe", (PyCFunction)(void (*)(void))SA_allocate_like_unsafe, FASTCLASS,
     "allocate_like_unsafe(manager, template)\n--\n\nallocate_like() without validation."},
    {"copy", (PyCFunction)(void (*)(void))SA_copy, FASTCLASS,
     "copy(manager, array)\n--\n\nA new shared array holding a C-contiguous copy of `array` (any "
     "array-like: slices, transposes and Fortran-order arrays too)."},
    {"copy_unsafe", (PyCFunction)(void (*)(void))SA_copy_unsafe, FASTCLASS,
     "copy_unsafe(manager, array)\n--\n\ncopy() without validating the source's strides."},
    {"attach", (PyCFunction)(void (*)(void))SA_attach, FASTCLASS,
     "attach(name, shape=None, dtype=None)\n--\n\n"
     "Map an existing segment as a client (close() never unlinks). With shape and dtype omitted "
     "they are read from the segment's metadata; given, they are checked against it, or, for a "
     "segment made by other code (Python's SharedMemory), against its size. Raises "
     "FileNotFoundError if no segment has that name."},
    {"attach_unsafe", (PyCFunction)(void (*)(void))SA_attach_unsafe, FASTCLASS,
     "attach_unsafe(name, shape, dtype)\n--\n\nattach() without checking shape and dtype against "
     "the segment: a wrong shape can crash the process (SIGBUS/SIGSEGV)."},
    {"as_array", (PyCFunction)SA_as_array, METH_NOARGS,
     "as_array()\n--\n\nA NumPy view of the shared memory (no copy). The view keeps the mapping "
     "alive: it stays valid even after close()."},
    {"__array__", (PyCFunction)(void (*)(void))SA_array, METH_VARARGS | METH_KEYWORDS, NULL},
    {"close", (PyCFunction)SA_close, METH_NOARGS,
     "close()\n--\n\nRelease this handle; the owner also unlinks the segment (other processes can no "
     "longer attach, those attached keep their data). The memory is unmapped once no NumPy view of "
     "it is left. Idempotent."},
    {"managed", (PyCFunction)SA_managed, METH_NOARGS,
     "managed()\n--\n\nContext manager: `with sa.managed() as s:` closes sa when the block ends."},
    {"__enter__", (PyCFunction)SA_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)SA_exit, METH_VARARGS, NULL},
    {"__reduce__", (PyCFunction)SA_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef SA_getset[] = {
    {"name", (getter)SA_get_name, NULL, "Segment name (without the leading '/').", NULL},
    {"shape", (getter)SA_get_shape, NULL, "Shape, a tuple of int.", NULL},
    {"dtype", (getter)SA_get_dtype, NULL, "NumPy dtype.", NULL},
    {"owner", (getter)SA_get_owner, NULL,
     "True if close() unlinks the segment: this object created it, in this process.", NULL},
    {"closed", (getter)SA_get_closed, NULL, "True once close() was called.", NULL},
    {"ndim", (getter)SA_get_ndim, NULL, "Number of dimensions.", NULL},
    {"nbytes", (getter)SA_get_nbytes, NULL, "Bytes of element data.", NULL},
    {"handle", (getter)SA_get_handle, NULL, "The printable handle pickling sends: 'shma1;<f8;1000,1000;NAME'.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject SharedArrayType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmanager.SharedArray",
    .tp_doc = "A NumPy array in POSIX shared memory, shared between processes without copying.\n\n"
              "Make one with allocate(), allocate_like() or copy() (the owner) or attach() (a client); "
              "as_array() gives the NumPy view. Pickling sends only the handle: unpickling attaches "
              "once per process and reuses the mapping.",
    .tp_basicsize = sizeof(SharedArrayObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)SA_dealloc,
    .tp_traverse = (traverseproc)SA_traverse,
    .tp_clear = (inquiry)SA_clear,
    .tp_repr = (reprfunc)SA_repr,
    .tp_methods = SA_methods,
    .tp_getset = SA_getset,
    .tp_weaklistoffset = offsetof(SharedArrayObject, weakreflist),
};

/* ---------------------------------------------------------------------------------------------
 * Unpickling: attach once per process, reuse the mapping
 *
 * handle -> (template SharedArray, st_dev, st_ino). A hit returns a fresh client SharedArray
 * sharing the template's mapping, so a Pool worker attaches once for any number of tasks, and
 * a task's close() does not cost the next task an attach. A forked child inherits the cache and
 * its mappings (both valid after fork). Before a hit is used, /dev/shm/NAME is stat'ed: if the
 * name is gone or now names another segment (another inode), the entry is dropped and the
 * handle attached afresh. Every miss also drops all stale entries, so mappings of unlinked
 * segments do not pile up in long-lived workers. clear_cache() drops everything.
 * ------------------------------------------------------------------------------------------- */

static PyObject *attach_cache;

/* 1 same segment, 0 gone or replaced, -1 cannot tell (no /dev/shm: trust the entry). */
static int cache_entry_fresh(PyObject *entry) {
    SharedArrayObject *tmpl = (SharedArrayObject *)PyTuple_GET_ITEM(entry, 0);
    char path[sizeof SHM_DIR + SHMA_NAME_MAX + 1];
    snprintf(path, sizeof path, SHM_DIR "%s", PyUnicode_AsUTF8(tmpl->name));
    struct stat st;
    if (stat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    return (unsigned long long)st.st_dev == PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(entry, 1)) &&
           (unsigned long long)st.st_ino == PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(entry, 2));
}

static int cache_sweep(void) {
    PyObject *stale = PyList_New(0);
    if (stale == NULL) return -1;
    Py_ssize_t pos = 0;
    PyObject *key, *entry;
    while (PyDict_Next(attach_cache, &pos, &key, &entry))
        if (cache_entry_fresh(entry) == 0 && PyList_Append(stale, key) < 0) goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(stale); i++)
        if (PyDict_DelItem(attach_cache, PyList_GET_ITEM(stale, i)) < 0) goto fail;
    Py_DECREF(stale);
    return 0;
fail:
    Py_DECREF(stale);
    return -1;
}

static PyObject *sa_clone(PyTypeObject *cls, SharedArrayObject *tmpl) {
    SharedArrayObject *self = (SharedArrayObject *)cls->tp_alloc(cls, 0);
    if (self == NULL) return NULL;
    Py_INCREF(tmpl->map);
    self->map = tmpl->map;
    Py_INCREF(tmpl->descr);
    self->descr = tmpl->descr;
    Py_INCREF(tmpl->shape);
    self->shape = tmpl->shape;
    Py_INCREF(tmpl->name);
    self->name = tmpl->name;
    return (PyObject *)self;
}

static PyObject *mod_rebuild(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *handle;
    PyTypeObject *cls = &SharedArrayType;
    if (!PyArg_ParseTuple(args, "U|O!:_rebuild", &handle, &PyType_Type, &cls)) return NULL;
    if (!PyType_IsSubtype(cls, &SharedArrayType)) {
        PyErr_SetString(PyExc_TypeError, "_rebuild: not a SharedArray type");
        return NULL;
    }
    PyObject *entry = PyDict_GetItemWithError(attach_cache, handle);
    if (entry) {
        if (cache_entry_fresh(entry) != 0) return sa_clone(cls, (SharedArrayObject *)PyTuple_GET_ITEM(entry, 0));
        if (PyDict_DelItem(attach_cache, handle) < 0) return NULL;
    } else if (PyErr_Occurred()) {
        return NULL;
    }
    if (cache_sweep() < 0) return NULL;

    Py_ssize_t len;
    const char *h = PyUnicode_AsUTF8AndSize(handle, &len);
    if (h == NULL) return NULL;
    shma_handle decoded;
    int rc = shma_handle_decode(h, (size_t)len, &decoded);
    if (rc != SHMA_OK) return raise_shma(rc);
    /* stat before attaching: if the name is replaced in between, the recorded inode is the old
     * one and the next hit re-attaches, rather than trusting a mapping of the wrong segment. */
    char path[sizeof SHM_DIR + SHMA_NAME_MAX + 1];
    snprintf(path, sizeof path, SHM_DIR "%s", decoded.name);
    struct stat st;
    bool have_stat = stat(path, &st) == 0;
    shma_array *arr = NULL;
    rc = shma_attach_handle(h, (size_t)len, &arr);
    if (rc != SHMA_OK) return raise_shma(rc);
    PyObject *tmpl = sa_wrap(&SharedArrayType, arr, NULL, NULL, false);
    if (tmpl == NULL) return NULL;
    if (have_stat) {
        PyObject *e = Py_BuildValue("(OKK)", tmpl, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        if (e == NULL || PyDict_SetItem(attach_cache, handle, e) < 0) {
            Py_XDECREF(e);
            Py_DECREF(tmpl);
            return NULL;
        }
        Py_DECREF(e);
    }
    PyObject *res = sa_clone(cls, (SharedArrayObject *)tmpl);
    Py_DECREF(tmpl);
    return res;
}

static PyObject *mod_clear_cache(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored)) {
    PyDict_Clear(attach_cache);
    if (purge_orphans() < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *mod_cache_info(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored)) {
    PyObject *names = PyList_New(0);
    if (names == NULL) return NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *entry;
    while (PyDict_Next(attach_cache, &pos, &key, &entry)) {
        if (PyList_Append(names, ((SharedArrayObject *)PyTuple_GET_ITEM(entry, 0))->name) < 0) {
            Py_DECREF(names);
            return NULL;
        }
    }
    return names;
}

/* ---------------------------------------------------------------------------------------------
 * Module functions
 * ------------------------------------------------------------------------------------------- */

static PyObject *mod_unlink(PyObject *Py_UNUSED(module), PyObject *arg) {
    const char *name = name_from_obj(arg);
    if (name == NULL) return NULL;
    int rc = shma_unlink(name);
    if (rc != SHMA_OK) return raise_shma(rc);
    Py_RETURN_NONE;
}

static PyObject *mod_inspect(PyObject *Py_UNUSED(module), PyObject *arg) {
    const char *name = name_from_obj(arg);
    if (name == NULL) return NULL;
    shma_info info;
    int rc = shma_inspect(name, &info);
    if (rc != SHMA_OK) return raise_shma(rc);
    if (!info.has_meta)
        return Py_BuildValue("{s:s,s:K,s:O}", "name", info.name, "segment_bytes", (unsigned long long)info.segment_bytes,
                             "has_meta", Py_False);
    PyObject *shape = shape_tuple(info.ndim, info.shape);
    if (shape == NULL) return NULL;
    return Py_BuildValue("{s:s,s:K,s:O,s:s,s:N,s:K,s:L,s:O}", "name", info.name, "segment_bytes",
                         (unsigned long long)info.segment_bytes, "has_meta", Py_True, "dtype", info.dtype.str, "shape",
                         shape, "data_bytes", (unsigned long long)info.data_bytes, "creator_pid",
                         (long long)info.creator_pid, "creator_alive", info.creator_alive ? Py_True : Py_False);
}

static PyMethodDef module_methods[] = {
    {"_rebuild", mod_rebuild, METH_VARARGS, "Unpickles a SharedArray from its handle (attaches once per process)."},
    {"clear_cache", mod_clear_cache, METH_NOARGS,
     "clear_cache()\n--\n\nForget the attachments unpickling keeps for reuse (mappings are released "
     "once no SharedArray or view uses them), and release the mappings of collected owners whose "
     "manager has shut down."},
    {"cache_info", mod_cache_info, METH_NOARGS, "cache_info()\n--\n\nNames of the segments the unpickle cache holds."},
    {"unlink", mod_unlink, METH_O,
     "unlink(name)\n--\n\nRemove a segment by name. FileNotFoundError if there is none."},
    {"inspect", mod_inspect, METH_O,
     "inspect(name)\n--\n\nA segment's size and metadata as a dict, without mapping its data."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "shmanager._core",
    .m_doc = "C implementation of shmanager (libshmanager bound for CPython).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__core(void); /* the one exported symbol */

PyMODINIT_FUNC PyInit__core(void) {
    import_array();
    if (PyType_Ready(&MappingType) < 0 || PyType_Ready(&SharedArrayType) < 0 || PyType_Ready(&ManagerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL) return NULL;
    dtype_cache = PyDict_New();
    attach_cache = PyDict_New();
    orphans = PyList_New(0);
    rebuild_fn = PyObject_GetAttrString(m, "_rebuild");
    if (dtype_cache == NULL || attach_cache == NULL || orphans == NULL || rebuild_fn == NULL) goto fail;
    Py_INCREF(&SharedArrayType);
    Py_INCREF(&ManagerType);
    Py_INCREF(&MappingType);
    if (PyModule_AddObject(m, "SharedArray", (PyObject *)&SharedArrayType) < 0 ||
        PyModule_AddObject(m, "Manager", (PyObject *)&ManagerType) < 0 ||
        PyModule_AddObject(m, "_Mapping", (PyObject *)&MappingType) < 0 ||
        PyModule_AddStringConstant(m, "core_version", shma_version()) < 0 ||
        PyModule_AddIntConstant(m, "MAX_NDIM", MAX_NDIM) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
