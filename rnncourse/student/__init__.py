"""The student's commands: ``rnncourse check``, ``rnncourse pack`` and ``rnncourse doctor``.

``check`` and ``pack`` start without importing torch or pandas.
"""
