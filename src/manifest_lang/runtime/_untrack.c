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

   untrack_results(obj, types, user_values) untracks obj if its type is one of `types` (the
   result classes), then, through the object's own traverse function, every result object it
   holds directly or through a list or tuple it holds. `user_values` names the attributes that hold
   a caller's value, as ((type, "attribute"), ...): those are never followed, whatever they hold.
   Nothing else is untracked: dicts (a payload, an instance) and user values stay tracked, and an
   untracked object that references a tracked one only keeps it alive, which it does anyway.
   Freeing an untracked object is ordinary. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Results nest CommandResult -> list -> ConstraintOutcome -> list: a few levels at most. */
#define MAX_DEPTH 16
/* User-value attributes of one result object that are skipped while it is traversed. */
#define MAX_SKIP 4

typedef struct {
    PyObject *types;
    PyObject *user_values;
    int depth;
    Py_ssize_t n_skip;
    PyObject *skip[MAX_SKIP];
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

static int is_skipped(PyObject *op, walk_state *state)
{
    for (Py_ssize_t i = 0; i < state->n_skip; i++) {
        if (state->skip[i] == op) {
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
    if (op == NULL || is_skipped(op, state)) {
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

/* The values of op's user-value attributes, as new references in state->skip. */
static int collect_user_values(PyObject *op, walk_state *state)
{
    state->n_skip = 0;
    Py_ssize_t n = PyTuple_GET_SIZE(state->user_values);
    for (Py_ssize_t i = 0; i < n && state->n_skip < MAX_SKIP; i++) {
        PyObject *pair = PyTuple_GET_ITEM(state->user_values, i);
        if ((PyObject *)Py_TYPE(op) != PyTuple_GET_ITEM(pair, 0)) {
            continue;
        }
        PyObject *value = PyObject_GetAttr(op, PyTuple_GET_ITEM(pair, 1));
        if (value == NULL) {
            return -1;
        }
        state->skip[state->n_skip++] = value;
    }
    return 0;
}

static int untrack_result(PyObject *op, walk_state *state)
{
    traverseproc traverse = Py_TYPE(op)->tp_traverse;
    if (!PyObject_GC_IsTracked(op) || state->depth >= MAX_DEPTH || traverse == NULL) {
        return 0;
    }
    PyObject *outer_skip[MAX_SKIP];
    Py_ssize_t outer_n_skip = state->n_skip;
    memcpy(outer_skip, state->skip, sizeof outer_skip);
    int err = collect_user_values(op, state);
    if (err == 0) {
        PyObject_GC_UnTrack(op);
        state->depth++;
        err = traverse(op, visit_in_result, state);
        state->depth--;
    }
    for (Py_ssize_t i = 0; i < state->n_skip; i++) {
        Py_DECREF(state->skip[i]);
    }
    memcpy(state->skip, outer_skip, sizeof outer_skip);
    state->n_skip = outer_n_skip;
    return err;
}

static int valid_user_values(PyObject *user_values)
{
    if (!PyTuple_Check(user_values)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(user_values); i++) {
        PyObject *pair = PyTuple_GET_ITEM(user_values, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyType_Check(PyTuple_GET_ITEM(pair, 0))
            || !PyUnicode_Check(PyTuple_GET_ITEM(pair, 1))) {
            return 0;
        }
    }
    return 1;
}

static PyObject *untrack_results(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyTuple_Check(args[1]) || !valid_user_values(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "untrack_results(obj, types: tuple[type, ...], user_values: tuple[tuple[type, str], ...])");
        return NULL;
    }
    walk_state state = {args[1], args[2], 0, 0, {NULL}};
    if (PyObject_IS_GC(args[0]) && is_result_type(args[0], state.types)) {
        if (untrack_result(args[0], &state) != 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"untrack_results", (PyCFunction)(void (*)(void))untrack_results, METH_FASTCALL,
     "untrack_results(obj, types, user_values): take obj and the results it holds out of the cycle "
     "collector; the (type, attribute) pairs of user_values are never followed."},
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
