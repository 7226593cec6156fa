# C types for dispatch.py when Cython compiles it (as kvstore._speedups.dispatch): the .py file
# is the one source of behaviour, in the same order of checks. See docs/builds.md.

cdef object perf_counter_ns
cdef frozenset RUN_IN_MULTI


# The dispatcher's fields are C fields: each costs a pointer read where a Python instance's
# attribute costs a dictionary look-up. They stay readable (and the dictionaries the same
# objects as the statistics'), and instances keep a __dict__, so attributes can still be set
# on one (a method replaced, as a test or a mode does).
cdef class Dispatcher:
    cdef dict __dict__
    cdef public dict table
    cdef public dict _by_name
    cdef public object stats
    cdef public object journal
    cdef public dict calls
    cdef public dict run_ns
    cdef public object slowlog
    cdef public bint timing
    cdef public object slow_ns
    cdef public dict histograms
    cdef public bint tracking_latency
    cdef public object _monitors
    cdef public object _running
