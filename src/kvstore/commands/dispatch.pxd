# C types for dispatch.py when Cython compiles it (as kvstore._speedups.dispatch): the .py file
# is the one source of behaviour, in the same order of checks. Dispatcher stays a Python class
# (its methods compiled), so its attributes can be replaced as before; this file types the
# module's names that every request reads. See docs/builds.md.

cdef object perf_counter_ns
cdef frozenset RUN_IN_MULTI
