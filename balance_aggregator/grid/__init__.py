"""The utility's grid inside the VTN: hierarchy, balances, loss analytics, operator users.

The hierarchy (region → city → district → street → house → flat) and its meters live in the
VTN's own database next to the readings VENs report, so a balance is one SQL query over tables
the VTN already keeps, and a house node can name the DR group target its VENs carry.
"""
