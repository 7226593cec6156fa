# C types for journal.py when Cython compiles it (as kvstore._speedups.journal): the .py file is
# the one source of behaviour. See docs/builds.md.

cimport cython

# The compiled keyspace: a record reads its counters and its entry in C.
from kvstore._speedups.keyspace_core cimport Keyspace as CompiledKeyspace

cdef tuple HEADERS
cdef bytes CRLF
cdef bytes SET_HEAD
cdef Py_ssize_t LARGE_BULK
cdef frozenset CROSS_DB_COMMANDS


# The journal's fields are C fields, read by every write's record at the cost of a pointer
# where a Python instance's attribute costs a dictionary look-up. They stay readable and
# writable, and instances keep a __dict__, so attributes can still be set on one.
cdef class LogJournal:
    cdef dict __dict__
    cdef public object dbs
    cdef public object db
    cdef public object log
    cdef public object loop
    cdef public object after_flush
    cdef public object listener
    cdef public object free_space
    cdef public object refusal
    cdef public bint pending
    cdef public object failure
    cdef public list _buffer
    cdef public bytes _stalled
    cdef public set _unlogged_warned

    # cpdef for its typed keyspace; the dispatcher calls it as a Python method, as before.
    @cython.locals(buffer=list, first=Py_ssize_t, last=Py_ssize_t, state=tuple, value=object)
    cpdef void record(self, object command, object args, CompiledKeyspace db)
