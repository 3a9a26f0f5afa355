"""The teaching modules: one concept each, imported by the lessons through ``rnncourse``.

Each exercise's reference answer lives here, written once; the solution
notebooks hold the same code (a test compares them). These modules run in the
student's kernel and import only torch, numpy, pandas, matplotlib and each other.
"""
