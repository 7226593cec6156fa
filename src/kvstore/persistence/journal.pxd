# C types for journal.py when Cython compiles it (as kvstore._speedups.journal): the .py file is
# the one source of behaviour. LogJournal stays a Python class (its methods compiled), so it can
# be subclassed and its attributes set as before; this file types the module's constants that
# every write's record reads. See docs/builds.md.

cdef tuple HEADERS
cdef bytes CRLF
cdef bytes SET_HEAD
cdef Py_ssize_t LARGE_BULK
cdef frozenset FLUSH_COMMANDS
