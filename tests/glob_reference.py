"""Redis's ``stringmatchlen`` transliterated line by line (case-sensitive): the reference the glob
matcher is checked against. Slow and recursive on purpose: it mirrors the C, nothing more.
This module has no tests of its own.
"""

from __future__ import annotations


def stringmatch_reference(pattern: bytes, string: bytes) -> bool:
    """A line-by-line transliteration of Redis's stringmatchlen (case-sensitive)."""
    p = pattern + b"\0"
    s = string + b"\0"
    skip = [False]

    def signed(b: int) -> int:
        return b - 256 if b >= 128 else b

    def impl(pi: int, plen: int, si: int, slen: int) -> bool:
        while plen and slen:
            c = p[pi]
            if c == ord("*"):
                while plen and p[pi + 1] == ord("*"):
                    pi += 1
                    plen -= 1
                if plen == 1:
                    return True
                while slen:
                    if impl(pi + 1, plen - 1, si, slen):
                        return True
                    if skip[0]:
                        return False
                    si += 1
                    slen -= 1
                skip[0] = True
                return False
            if c == ord("?"):
                si += 1
                slen -= 1
            elif c == ord("["):
                pi += 1
                plen -= 1
                negate = p[pi] == ord("^")
                if negate:
                    pi += 1
                    plen -= 1
                match = False
                while True:
                    if p[pi] == ord("\\") and plen >= 2:
                        pi += 1
                        plen -= 1
                        if p[pi] == s[si]:
                            match = True
                    elif p[pi] == ord("]"):
                        break
                    elif plen == 0:
                        pi -= 1
                        plen += 1
                        break
                    elif plen >= 3 and p[pi + 1] == ord("-"):
                        start, end = signed(p[pi]), signed(p[pi + 2])
                        if start > end:
                            start, end = end, start
                        pi += 2
                        plen -= 2
                        if start <= signed(s[si]) <= end:
                            match = True
                    elif p[pi] == s[si]:
                        match = True
                    pi += 1
                    plen -= 1
                if negate:
                    match = not match
                if not match:
                    return False
                si += 1
                slen -= 1
            else:
                if c == ord("\\") and plen >= 2:
                    pi += 1
                    plen -= 1
                if p[pi] != s[si]:
                    return False
                si += 1
                slen -= 1
            pi += 1
            plen -= 1
            if slen == 0:
                while p[pi] == ord("*"):
                    pi += 1
                    plen -= 1
                break
        return plen == 0 and slen == 0

    return impl(0, len(pattern), 0, len(string))
