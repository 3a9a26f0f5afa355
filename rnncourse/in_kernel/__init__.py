"""What runs inside the student's kernel while the lesson's tests run.

``checks`` (check_close, check_shape) and ``shortcuts`` (the shortcut guard) are
called by the test cells; ``nbgrader_mode`` tells a lesson that nbgrader runs
it; ``integrity`` is sent as source by the instructor's sandboxed execution and
run before each test cell.
"""
