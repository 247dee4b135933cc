"""ketaplan: decision support and record keeping for IV ketamine infusion clinics.

Decision support for licensed clinicians: every number comes with how it was reached, and a
prescriber confirms it.
"""

__version__ = "0.1.0"
