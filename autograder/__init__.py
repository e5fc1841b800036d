"""The course's autograder: the ``cvcourse`` command, a thin layer over nbgrader's Python API."""
