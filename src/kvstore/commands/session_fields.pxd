# C fields for session_fields.py when Cython compiles it (as kvstore._speedups.session_fields):
# the compiled dispatcher cimports this class and reads a session's fields as C fields. Each
# stays readable and writable from Python. See docs/builds.md.

cdef class SessionFields:
    cdef public int protocol
    cdef public bint authenticated
    cdef public list queued
    cdef public str last_command
    cdef public bint close_after_reply
    cdef public bint reply_suppressed
    cdef public bint muted
