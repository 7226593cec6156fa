# C types for resp_replies.py when Cython compiles it (as kvstore._speedups.resp_replies): the
# .py file is the one source of behaviour, this file only says which names are C-typed and
# which functions call each other at C speed. See docs/builds.md.

cimport cython

# (_NIL, _NIL_ARRAY and _BOOL stay Python objects: indexed by a protocol that is neither 2 nor
# 3, a typed dict would raise a KeyError whose message differs from the pure build's for None.)
cdef dict _STATUS_CACHE


cpdef bytes format_float(object value)


cdef tuple BULK_HEADERS
cdef bytes CRLF
cdef Py_ssize_t LARGE_BULK


@cython.locals(out=list)
cpdef bytes encode_reply(object reply, object proto=*)


@cython.locals(size=Py_ssize_t, total=Py_ssize_t, head=bytes, piece=bytes, text=bytes)
cpdef Py_ssize_t encode_into(list out, object reply, object proto=*) except -1


@cython.locals(total=Py_ssize_t)
cdef Py_ssize_t _encode_items(list out, bytes head, object items, object proto) except -1
