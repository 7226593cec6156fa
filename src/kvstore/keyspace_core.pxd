# C types for keyspace_core.py when Cython compiles it (as kvstore._speedups.keyspace_core): the
# .py file is the one source of behaviour. See docs/builds.md.

cimport cython

cdef Py_ssize_t ENTRY_OVERHEAD
cdef Py_ssize_t EXPIRY_OVERHEAD
cdef Py_ssize_t ACTIVE_EXPIRE_BATCH
cdef Py_ssize_t ACTIVE_EXPIRE_STALE_PERCENT
cdef Py_ssize_t ACTIVE_EXPIRE_TIMER_EVERY


# The keyspace's fields are C fields, its hot methods cpdef: the compiled handlers and journal
# call them in C, Python code through the same names. It has no __dict__, so a plain keyspace's
# cpdef methods are called directly; a Python subclass (kvstore.eviction) keeps overriding them,
# its overrides found through its own __dict__ (Cython checks for them on each call).
cdef class Keyspace:
    cdef object __weakref__
    cdef public object clock
    cdef public dict _data
    cdef public dict _expires
    cdef public list _deadlines
    cdef public Py_ssize_t used_memory
    cdef public Py_ssize_t hits
    cdef public Py_ssize_t misses
    cdef public Py_ssize_t expired_keys
    cdef public dict _watchers
    cdef public Py_ssize_t dirty
    cdef public Py_ssize_t evicted_keys
    cdef public object notify
    cdef public Py_ssize_t index
    cdef public Py_ssize_t logged
    cdef public bint expiry_paused

    cpdef object get(self, object key)
    cpdef bint contains(self, object key)
    cpdef bint holds(self, object key)
    cpdef object deadline(self, object key)
    cpdef tuple entry(self, object key)

    @cython.locals(data=dict, old=object)
    cpdef void set(self, object key, object value, object deadline=*)

    cpdef void set_keep_deadline(self, object key, object value)
    cpdef bint delete(self, object key)
    cpdef bint expire_at(self, object key, object deadline)
    cpdef bint persist(self, object key)
    cpdef object peek(self, object key)

    @cython.locals(removed=Py_ssize_t, examined=Py_ssize_t, heap=list, expires=dict)
    cpdef Py_ssize_t _expire_due(self, object now, Py_ssize_t max_keys)

    cpdef bint _expire_if_due(self, object key)
    cpdef void _set_deadline(self, object key, object deadline)

    @cython.locals(value=object)
    cpdef void _remove(self, object key)

    cpdef void _key_changed(self, object key)
