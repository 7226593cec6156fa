# C types for hot.py when Cython compiles it (as kvstore._speedups.hot): the .py file is the one
# source of behaviour. See docs/builds.md.

cimport cython

# The compiled keyspace: its fields read and its cpdef methods called in C. (A Python subclass,
# as kvstore.eviction's, passes; its overrides are still found and called.)
from kvstore._speedups.keyspace_core cimport Keyspace as CompiledKeyspace

cdef object OK
cdef object PONG
cdef object INT64_MAX
cdef object INT64_MIN
cdef long NX
cdef long XX
cdef long GET
cdef long KEEP_TTL
cdef long PERSIST
cdef dict _UNIT_MS
cdef tuple _RELATIVE
cdef tuple _CONDITIONS


@cython.locals(flags=long, count=Py_ssize_t, i=Py_ssize_t)
cpdef tuple parse_options(object options, bint for_set)


cpdef object expire_deadline(object clock, object expiry, object amount, str command_name)


@cython.locals(db=CompiledKeyspace, flags=long, with_get=long)
cpdef object set_(object session, object args)


@cython.locals(db=CompiledKeyspace)
cpdef object get(object session, object args)


@cython.locals(db=CompiledKeyspace)
cpdef object mget(object session, object args)


@cython.locals(db=CompiledKeyspace, count=Py_ssize_t, i=Py_ssize_t)
cpdef object mset(object session, object args)


cdef object _increment(CompiledKeyspace db, object key, object by)


@cython.locals(db=CompiledKeyspace, removed=Py_ssize_t)
cpdef object delete(object session, object args)


@cython.locals(db=CompiledKeyspace, found=Py_ssize_t)
cpdef object exists(object session, object args)


@cython.locals(db=CompiledKeyspace)
cdef object _expire(object session, object args, str name, long unit_ms, bint relative)


@cython.locals(db=CompiledKeyspace)
cdef object _ttl(object session, object args, long unit_ms, bint absolute)


@cython.locals(count=Py_ssize_t)
cpdef object ping(object session, object args)
