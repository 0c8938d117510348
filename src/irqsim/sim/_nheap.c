/* The engine's heap functions in C (issue 12; docs/performance.md "Session 3").
 *
 * heappush/heappop with heapq's exact algorithm (CPython Modules/_heapqmodule.c: the same
 * sift-down and sift-up, so the list holds the same items in the same places after every
 * call), for a heap of the engine's ``(time, seq, fn, arg)`` tuples: where heapq compares two
 * entries with a tuple rich comparison (an equality test per item, then the ordering of the
 * first item that differs, each through int rich comparisons), this reads ``time`` and
 * ``seq`` as C integers. Any other item (not a tuple, not an int that fits in 64 bits, or
 * equal ``time`` and ``seq``) is compared exactly as heapq does, with ``<``. The result of
 * every comparison is therefore that of heapq's, and so is every heap.
 *
 * Optional: irqsim.sim.engine falls back to heapq when this extension is not built
 * (``make native``, and ``make compiled`` builds it into build/compiled).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* The value of an exact int that fits in 62 bits, read from its digits without a call; 0 when
 * it does not fit so (the caller then asks PyLong_AsLongLongAndOverflow). */
static inline int small_value(PyObject *x, long long *v) {
#if PY_VERSION_HEX >= 0x030C0000
    if (PyUnstable_Long_IsCompact((PyLongObject *)x)) {
        *v = (long long)PyUnstable_Long_CompactValue((PyLongObject *)x);
        return 1;
    }
    return 0;
#else
    const digit *d = ((PyLongObject *)x)->ob_digit;
    Py_ssize_t size = Py_SIZE(x);           /* the engine's times and seqs: 0 to 2 digits */
#if PyLong_SHIFT <= 31
    if (size == 2) {
        *v = ((long long)d[1] << PyLong_SHIFT) | (long long)d[0];
        return 1;
    }
#endif
    if (size == 1) {
        *v = (long long)d[0];
        return 1;
    }
    if (size == 0) {
        *v = 0;
        return 1;
    }
    return 0;                               /* negative or wider: the general path */
#endif
}

/* 1 when a < b, 0 when not, -1 on error: the value of ``a < b`` for any two objects. */
static ALWAYS_INLINE int lt(PyObject *a, PyObject *b) {
    if (PyTuple_CheckExact(a) && PyTuple_CheckExact(b)
            && PyTuple_GET_SIZE(a) >= 2 && PyTuple_GET_SIZE(b) >= 2) {
        for (Py_ssize_t i = 0; i < 2; i++) {
            PyObject *x = PyTuple_GET_ITEM(a, i), *y = PyTuple_GET_ITEM(b, i);
            if (x == y)
                continue;               /* the tuple comparison's identity shortcut: equal */
            if (!PyLong_CheckExact(x) || !PyLong_CheckExact(y))
                break;
            long long vx, vy;
            if (!small_value(x, &vx) || !small_value(y, &vy)) {
                int ox, oy;
                vx = PyLong_AsLongLongAndOverflow(x, &ox);
                vy = PyLong_AsLongLongAndOverflow(y, &oy);
                if (ox || oy)
                    break;              /* outside 64 bits (never an error for exact ints) */
            }
            if (vx != vy)
                return vx < vy;
        }
    }
    Py_INCREF(a);
    Py_INCREF(b);
    int r = PyObject_RichCompareBool(a, b, Py_LT);
    Py_DECREF(a);
    Py_DECREF(b);
    return r;
}

static int siftdown(PyListObject *heap, Py_ssize_t startpos, Py_ssize_t pos) {
    Py_ssize_t size = PyList_GET_SIZE(heap);
    if (pos >= size) {
        PyErr_SetString(PyExc_IndexError, "index out of range");
        return -1;
    }
    PyObject **arr = heap->ob_item;
    PyObject *newitem = arr[pos];
    while (pos > startpos) {
        Py_ssize_t parentpos = (pos - 1) >> 1;
        PyObject *parent = arr[parentpos];
        int cmp = lt(newitem, parent);
        if (cmp < 0)
            return -1;
        if (size != PyList_GET_SIZE(heap)) {
            PyErr_SetString(PyExc_RuntimeError, "list changed size during iteration");
            return -1;
        }
        if (cmp == 0)
            break;
        arr = heap->ob_item;
        parent = arr[parentpos];
        newitem = arr[pos];
        arr[parentpos] = newitem;
        arr[pos] = parent;
        pos = parentpos;
    }
    return 0;
}

static int siftup(PyListObject *heap, Py_ssize_t pos) {
    Py_ssize_t endpos = PyList_GET_SIZE(heap), startpos = pos;
    if (pos >= endpos) {
        PyErr_SetString(PyExc_IndexError, "index out of range");
        return -1;
    }
    PyObject **arr = heap->ob_item;
    Py_ssize_t limit = endpos >> 1;          /* smallest pos that has no child */
    while (pos < limit) {
        Py_ssize_t childpos = 2 * pos + 1;   /* the smaller child */
        if (childpos + 1 < endpos) {
            int cmp = lt(arr[childpos], arr[childpos + 1]);
            if (cmp < 0)
                return -1;
            childpos += ((unsigned)cmp ^ 1);
            arr = heap->ob_item;
            if (endpos != PyList_GET_SIZE(heap)) {
                PyErr_SetString(PyExc_RuntimeError, "list changed size during iteration");
                return -1;
            }
        }
        PyObject *tmp1 = arr[childpos], *tmp2 = arr[pos];
        arr[childpos] = tmp2;
        arr[pos] = tmp1;
        pos = childpos;
    }
    return siftdown(heap, startpos, pos);
}

static PyObject *heappush(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "heappush expected 2 arguments");
        return NULL;
    }
    PyObject *heap = args[0];
    if (!PyList_Check(heap)) {
        PyErr_SetString(PyExc_TypeError, "heap argument must be a list");
        return NULL;
    }
    if (PyList_Append(heap, args[1]))
        return NULL;
    if (siftdown((PyListObject *)heap, 0, PyList_GET_SIZE(heap) - 1))
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *heappop(PyObject *module, PyObject *heap) {
    if (!PyList_Check(heap)) {
        PyErr_SetString(PyExc_TypeError, "heap argument must be a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(heap);
    if (n == 0) {
        PyErr_SetString(PyExc_IndexError, "index out of range");
        return NULL;
    }
    PyObject *lastelt = PyList_GET_ITEM(heap, n - 1);
    if (n - 1 >= (((PyListObject *)heap)->allocated >> 1)) {
        Py_SET_SIZE(heap, n - 1);       /* list.pop()'s shrink: the reference moves out */
    } else {
        Py_INCREF(lastelt);             /* give memory back as heapq does */
        if (PyList_SetSlice(heap, n - 1, n, NULL)) {
            Py_DECREF(lastelt);
            return NULL;
        }
    }
    n--;
    if (!n)
        return lastelt;
    PyObject *returnitem = PyList_GET_ITEM(heap, 0);
    PyList_SET_ITEM(heap, 0, lastelt);
    if (siftup((PyListObject *)heap, 0)) {
        Py_DECREF(returnitem);
        return NULL;
    }
    return returnitem;
}

static PyMethodDef methods[] = {
    {"heappush", (PyCFunction)(void (*)(void))heappush, METH_FASTCALL,
     "heappush(heap, item): heapq.heappush, (time, seq) compared as C integers"},
    {"heappop", (PyCFunction)heappop, METH_O,
     "heappop(heap): heapq.heappop, (time, seq) compared as C integers"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_nheap",
    "heapq's heappush/heappop comparing (time, seq, ...) tuples as C integers", -1, methods
};

PyMODINIT_FUNC PyInit__nheap(void) { return PyModule_Create(&module); }
