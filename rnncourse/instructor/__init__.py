"""The instructor's machinery: nothing here runs in a student's kernel.

``nbgrader_course`` (settings, gradebook, nbgrader steps), ``exchange``
(release, collect, solutions), ``import_zips`` and ``intake`` (submissions in),
``autograde`` (a class in parallel), ``feedback``, ``grade_table``,
``nbgrader_plugins`` (the classes ``autograder/nbgrader_config.py`` names) and
``sandbox`` (where and how student code is executed, and the checks around it).
"""
