# C types for dispatch.py when Cython compiles it (as kvstore._speedups.dispatch): the .py file
# is the one source of behaviour, in the same order of checks. See docs/builds.md.

cimport cython
from kvstore._speedups.session_fields cimport SessionFields

cdef frozenset RUN_IN_MULTI
cdef bint _COMPILED


@cython.locals(magnitude=cython.ulonglong, bits=Py_ssize_t)
cdef inline Py_ssize_t _histogram_bucket(long long elapsed)
cdef frozenset SUBSCRIBED_CONTEXT


# A command's counters: C integers, read and zeroed from Python by INFO and CONFIG RESETSTAT.
cdef class Tally:
    cdef public long long calls
    cdef public long long run_ns
    cdef public long long rejected
    cdef public long long failed
    cdef public list histogram


# What the dispatcher reads of a command on every request, as C fields (read-only outside).
cdef class Entry:
    cdef readonly object command
    cdef readonly str name
    cdef readonly Py_ssize_t arity
    cdef readonly bint noauth
    cdef readonly bint write
    cdef readonly object handler
    cdef readonly Py_ssize_t first_key
    cdef readonly Py_ssize_t last_key
    cdef readonly Py_ssize_t key_step
    cdef readonly bint single_key
    cdef readonly Tally tally


# The dispatcher's fields are C fields: each costs a pointer read where a Python instance's
# attribute costs a dictionary look-up. They stay readable (the statistics the same object as
# the server state's), and instances keep a __dict__, so attributes can still be set on one (a
# method replaced, as a test or a mode does).
cdef class Dispatcher:
    cdef dict __dict__
    cdef public dict table
    cdef public dict _by_name
    cdef public object stats
    cdef public object journal
    cdef public object slowlog
    cdef public bint timing
    cdef public bint tracking_latency
    cdef public object clock
    cdef public long long clock_ns
    cdef public long long slow_ns
    cdef public dict _running
    cdef public list _monitors
    cdef public object _guard
    cdef public object _cluster_view
    cdef public bint _in_exec
    cdef public bint _detour

    cpdef object execute(self, object session, object args)
    cpdef object execute_next(self, object session, object args)
    cpdef start_clock(self)
    cdef object _run_monitored(self, object session, object args)
    cdef object _run_detour(self, object session, object args)
    cdef Entry _look_up(self, object name)
    cdef object _rejected(self, Entry entry, object error)
    cdef _slow(self, Entry entry, object args, long long elapsed, object session)
    cdef object _failed(self, Entry entry, object error)

    # The session's per-request fields are C fields (SessionFields, cimported): read as such.
    @cython.locals(count=Py_ssize_t, index=Py_ssize_t, size=Py_ssize_t)
    cpdef Py_ssize_t answer(self, SessionFields session, object requests, Py_ssize_t start,
                            list out, Py_ssize_t flush_size) except -1

    @cython.locals(entry=Entry, tally=Tally, arity=Py_ssize_t, timed=bint,
                   started=cython.longlong, ended=cython.longlong, elapsed=cython.longlong)
    cdef object _run(self, SessionFields session, object args)
