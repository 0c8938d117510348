/* A prototype native event engine (issue 12, "How" 2: a small native core, measured).
 *
 * The same scheduling contract as irqsim.sim.engine.Engine for the calls it implements:
 * integer nanoseconds, entries ordered by (time, seq), seq given in scheduling order,
 * lazy cancellation by handle, scheduling in the past is an error. The heap holds C
 * structs (no tuples, no Python int comparisons); callbacks are Python callables called
 * with one argument. It exists to measure what a native engine would give
 * (bench/bench_native.py) and is checked against Engine by tests/unit/test_native_engine.py;
 * it is not used by the simulator. Build: python bench/native/build.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    long long t;
    long long seq;
    PyObject *fn;
    PyObject *arg;
} Entry;

typedef struct {
    PyObject_HEAD
    Entry *heap;
    Py_ssize_t n, cap;
    long long now, seq, events_run;
    int stopped;
    PyObject *cancelled;            /* set of handles, or NULL while none was cancelled */
} CEngine;

static inline int before(const Entry *a, const Entry *b) {
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int push(CEngine *e, long long t, PyObject *fn, PyObject *arg, long long *seq_out) {
    if (e->n == e->cap) {
        Py_ssize_t cap = e->cap ? e->cap * 2 : 64;
        Entry *h = PyMem_Realloc(e->heap, cap * sizeof(Entry));
        if (!h) { PyErr_NoMemory(); return -1; }
        e->heap = h; e->cap = cap;
    }
    Entry x = {t, ++e->seq, fn, arg};
    Py_INCREF(fn); Py_INCREF(arg);
    Py_ssize_t i = e->n++;
    while (i > 0) {                              /* sift up */
        Py_ssize_t p = (i - 1) >> 1;
        if (!before(&x, &e->heap[p])) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = x;
    *seq_out = x.seq;
    return 0;
}

static Entry pop(CEngine *e) {
    Entry top = e->heap[0];
    Entry x = e->heap[--e->n];
    Py_ssize_t i = 0, n = e->n;
    for (;;) {                                   /* sift down */
        Py_ssize_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&e->heap[c + 1], &e->heap[c])) c++;
        if (!before(&e->heap[c], &x)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = x;
    return top;
}

static int is_cancelled(CEngine *e, long long seq) {
    if (!e->cancelled || PySet_GET_SIZE(e->cancelled) == 0) return 0;
    PyObject *k = PyLong_FromLongLong(seq);
    if (!k) return -1;
    int r = PySet_Contains(e->cancelled, k);
    if (r == 1) PySet_Discard(e->cancelled, k);
    Py_DECREF(k);
    return r;
}

static PyObject *schedule(CEngine *e, long long t, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *arg = nargs > 2 ? args[2] : Py_None;
    long long seq;
    if (push(e, t, args[1], arg, &seq) < 0) return NULL;
    return PyLong_FromLongLong(seq);
}

static PyObject *CEngine_at(CEngine *e, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 3) { PyErr_SetString(PyExc_TypeError, "at(time, fn, arg=None)"); return NULL; }
    long long t = PyLong_AsLongLong(args[0]);
    if (t == -1 && PyErr_Occurred()) return NULL;
    if (t < e->now) {
        return PyErr_Format(PyExc_ValueError, "cannot schedule in the past: %lld < now %lld", t, e->now);
    }
    return schedule(e, t, args, nargs);
}

static PyObject *CEngine_after(CEngine *e, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 3) { PyErr_SetString(PyExc_TypeError, "after(delay, fn, arg=None)"); return NULL; }
    long long d = PyLong_AsLongLong(args[0]);
    if (d == -1 && PyErr_Occurred()) return NULL;
    if (d < 0) return PyErr_Format(PyExc_ValueError, "cannot schedule with a negative delay: %lld ns", d);
    return schedule(e, e->now + d, args, nargs);
}

static PyObject *CEngine_cancel(CEngine *e, PyObject *h) {
    if (h == Py_None) Py_RETURN_NONE;
    if (!e->cancelled && !(e->cancelled = PySet_New(NULL))) return NULL;
    if (PySet_Add(e->cancelled, h) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *CEngine_peek(CEngine *e, PyObject *unused) {
    while (e->n) {
        int c = is_cancelled(e, e->heap[0].seq);
        if (c < 0) return NULL;
        if (!c) return PyLong_FromLongLong(e->heap[0].t);
        Entry x = pop(e);
        Py_DECREF(x.fn); Py_DECREF(x.arg);
    }
    Py_RETURN_NONE;
}

/* run(until=None): entries in time order until the heap is empty or past ``until``. */
static PyObject *CEngine_run(CEngine *e, PyObject *const *args, Py_ssize_t nargs) {
    long long until = -1, n = 0;
    if (nargs > 0 && args[0] != Py_None) {
        until = PyLong_AsLongLong(args[0]);
        if (until == -1 && PyErr_Occurred()) return NULL;
    }
    e->stopped = 0;
    while (e->n) {
        if (until >= 0 && e->heap[0].t > until) break;
        Entry x = pop(e);
        int c = is_cancelled(e, x.seq);
        if (c) {
            Py_DECREF(x.fn); Py_DECREF(x.arg);
            if (c < 0) { e->events_run += n; return NULL; }
            continue;
        }
        e->now = x.t;
        PyObject *r = PyObject_CallOneArg(x.fn, x.arg);
        Py_DECREF(x.fn); Py_DECREF(x.arg);
        if (!r) { e->events_run += n; return NULL; }
        Py_DECREF(r);
        n++;
        if (e->stopped) break;
    }
    if (until >= 0 && e->now < until && !e->stopped) e->now = until;
    e->events_run += n;
    return PyLong_FromLongLong(n);
}

static PyObject *CEngine_stop(CEngine *e, PyObject *unused) { e->stopped = 1; Py_RETURN_NONE; }

static PyObject *CEngine_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    CEngine *e = (CEngine *)type->tp_alloc(type, 0);
    return (PyObject *)e;
}

static void CEngine_dealloc(CEngine *e) {
    for (Py_ssize_t i = 0; i < e->n; i++) { Py_DECREF(e->heap[i].fn); Py_DECREF(e->heap[i].arg); }
    PyMem_Free(e->heap);
    Py_XDECREF(e->cancelled);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

static PyObject *get_pending(CEngine *e, void *c) {
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < e->n; i++) {
        int r = 0;
        if (e->cancelled && PySet_GET_SIZE(e->cancelled)) {
            PyObject *s = PyLong_FromLongLong(e->heap[i].seq);
            r = PySet_Contains(e->cancelled, s);
            Py_DECREF(s);
        }
        k += !r;
    }
    return PyLong_FromSsize_t(k);
}

static PyMethodDef methods[] = {
    {"at", (PyCFunction)(void (*)(void))CEngine_at, METH_FASTCALL, "at(time, fn, arg=None) -> handle"},
    {"after", (PyCFunction)(void (*)(void))CEngine_after, METH_FASTCALL, "after(delay, fn, arg=None) -> handle"},
    {"cancel", (PyCFunction)CEngine_cancel, METH_O, "cancel(handle)"},
    {"peek", (PyCFunction)CEngine_peek, METH_NOARGS, "time of the next live entry, or None"},
    {"run", (PyCFunction)(void (*)(void))CEngine_run, METH_FASTCALL, "run(until=None) -> events run"},
    {"stop", (PyCFunction)CEngine_stop, METH_NOARGS, "make run return after the current entry"},
    {NULL}
};

static PyMemberDef members[] = {
    {"now", T_LONGLONG, offsetof(CEngine, now), 0, "current time (ns)"},
    {"events_run", T_LONGLONG, offsetof(CEngine, events_run), READONLY, "entries run"},
    {NULL}
};

static PyGetSetDef getset[] = {
    {"pending", (getter)get_pending, NULL, "live entries still in the heap", NULL},
    {NULL}
};

static PyTypeObject CEngineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cengine.CEngine",
    .tp_basicsize = sizeof(CEngine),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Prototype native event engine (integer ns, (time, seq) order, lazy cancel).",
    .tp_new = CEngine_new,
    .tp_dealloc = (destructor)CEngine_dealloc,
    .tp_methods = methods,
    .tp_members = members,
    .tp_getset = getset,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cengine", NULL, -1, NULL};

PyMODINIT_FUNC PyInit_cengine(void) {
    if (PyType_Ready(&CEngineType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&CEngineType);
    if (PyModule_AddObject(m, "CEngine", (PyObject *)&CEngineType) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
