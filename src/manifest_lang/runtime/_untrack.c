/* Take stored command results out of CPython's cycle collector.

   Built by hatch_build.py as the top-level module `_manifest_untrack` (top level, so that an
   editable install, whose package is imported from src/, finds it too). Optional: without a C
   compiler the package installs without it and stored results stay tracked.

   An in-memory idempotency store keeps every result it is given, so that a replay is a dict
   lookup. Each result is a handful of GC-tracked objects (the CommandResult, its lists, its
   outcomes and events) and every full collection walks all of them: with 50,000 stored results
   the collector took over 40% of a command's time. The results are values the engine built and
   never links back to, so they cannot be part of a reference cycle, and the collector has nothing
   to find in them. This is the same reasoning CPython applies to tuples and dicts of atomic
   values, which it untracks itself.

   untrack_results(obj, types) untracks obj if its type is one of `types` (the result classes),
   then, through the object's own traverse function, every result object it holds directly or
   through a list or tuple it holds. It never untracks anything else: dicts (a payload, an
   instance) and user values stay tracked, and an untracked object that references a tracked one
   only keeps it alive, which it does anyway. Freeing an untracked object is ordinary. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Results nest CommandResult -> list -> ConstraintOutcome -> list: a few levels at most. */
#define MAX_DEPTH 16

typedef struct {
    PyObject *types;
    int depth;
} walk_state;

static int is_result_type(PyObject *op, PyObject *types)
{
    PyTypeObject *tp = Py_TYPE(op);
    Py_ssize_t n = PyTuple_GET_SIZE(types);
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((PyObject *)tp == PyTuple_GET_ITEM(types, i)) {
            return 1;
        }
    }
    return 0;
}

static int visit_in_container(PyObject *op, void *arg);

static int untrack_result(PyObject *op, walk_state *state);

/* A referent of a result object: another result, or a list/tuple holding results. */
static int visit_in_result(PyObject *op, void *arg)
{
    walk_state *state = (walk_state *)arg;
    if (op == NULL) {
        return 0;
    }
    if (is_result_type(op, state->types)) {
        return untrack_result(op, state);
    }
    if ((PyList_CheckExact(op) || PyTuple_CheckExact(op)) && PyObject_GC_IsTracked(op)
        && state->depth < MAX_DEPTH) {
        PyObject_GC_UnTrack(op);
        state->depth++;
        int err = Py_TYPE(op)->tp_traverse(op, visit_in_container, arg);
        state->depth--;
        return err;
    }
    return 0;
}

/* An item of a list/tuple held by a result: only results are followed from here. */
static int visit_in_container(PyObject *op, void *arg)
{
    walk_state *state = (walk_state *)arg;
    if (op != NULL && is_result_type(op, state->types)) {
        return untrack_result(op, state);
    }
    return 0;
}

static int untrack_result(PyObject *op, walk_state *state)
{
    if (!PyObject_GC_IsTracked(op) || state->depth >= MAX_DEPTH) {
        return 0;
    }
    PyObject_GC_UnTrack(op);
    traverseproc traverse = Py_TYPE(op)->tp_traverse;
    if (traverse == NULL) {
        return 0;
    }
    state->depth++;
    int err = traverse(op, visit_in_result, state);
    state->depth--;
    return err;
}

static PyObject *untrack_results(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "untrack_results(obj, types: tuple)");
        return NULL;
    }
    walk_state state = {args[1], 0};
    if (PyObject_IS_GC(args[0]) && is_result_type(args[0], state.types)) {
        if (untrack_result(args[0], &state) != 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"untrack_results", (PyCFunction)(void (*)(void))untrack_results, METH_FASTCALL,
     "untrack_results(obj, types): take obj and the results it holds out of the cycle collector."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_manifest_untrack", "Untrack stored command results (see the source).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__manifest_untrack(void)
{
    return PyModule_Create(&module_def);
}
