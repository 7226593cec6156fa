# C types for resp_requests.py when Cython compiles it (as kvstore._speedups.resp_requests):
# the .py file is the one source of behaviour, this file only says what is a C integer and
# which methods are called at C speed. See docs/builds.md.

cimport cython


cpdef object parse_length(object raw)


@cython.locals(sign=Py_ssize_t, digits=Py_ssize_t, value=Py_ssize_t, digit=Py_ssize_t)
cdef Py_ssize_t _length_at(const unsigned char[:] octets, Py_ssize_t start, Py_ssize_t end)


# The state is readonly to Python (it is read by the differential test, tests/test_builds.py).
cdef class RequestParser:
    cdef public object limits
    cdef public object error
    cdef readonly bytearray _buffer
    cdef readonly list _args
    cdef readonly Py_ssize_t _remaining
    cdef readonly Py_ssize_t _bulk_len
    cdef readonly Py_ssize_t _need
    cdef readonly Py_ssize_t _scanned
    cdef readonly Py_ssize_t _line_end
    cdef readonly object _counted_frame
    cdef readonly Py_ssize_t _counted_args
    cdef readonly Py_ssize_t _counted_bytes
    cdef readonly list _long_parts
    cdef readonly Py_ssize_t _long_missing
    cdef readonly Py_ssize_t _discarded

    cdef Py_ssize_t _long_collected(self)

    @cython.locals(frames=list, consumed=Py_ssize_t)
    cpdef list feed(self, object data)

    @cython.locals(args=list, pending=Py_ssize_t)
    cdef _check_query_buffer(self)

    @cython.locals(missing=Py_ssize_t, value_bytes=Py_ssize_t)
    cdef object _collect_long(self, object data)

    @cython.locals(end=Py_ssize_t, size=Py_ssize_t)
    cdef Py_ssize_t _header(
        self, object buf, const unsigned char[:] octets, Py_ssize_t pos, str kind
    ) except? -1

    @cython.locals(end=Py_ssize_t, size=Py_ssize_t, line_end=Py_ssize_t, inline=list)
    cdef Py_ssize_t _inline(self, object buf, Py_ssize_t pos, list frames) except -2

    @cython.locals(
        size=Py_ssize_t,
        pos=Py_ssize_t,
        frame_start=Py_ssize_t,
        end=Py_ssize_t,
        count=Py_ssize_t,
        length=Py_ssize_t,
        marker=int,
        args=list,
        octets="const unsigned char[:]",
        chars="const char *",
        sliced_as_bytes=bint,
        max_args=Py_ssize_t,
        max_bulk_len=Py_ssize_t,
    )
    cdef Py_ssize_t _parse(self, object buf, list frames) except -1
