"""Where student code runs while autograding, and the checks around it.

``kernel_sandbox`` starts each kernel in a bubblewrap sandbox with limits;
``safe_execute`` is nbgrader's Execute with that kernel, output limits, named
timeouts and the in-kernel integrity check; ``tamper_scan`` reads the student's
cells for attempts to fake a pass.
"""
