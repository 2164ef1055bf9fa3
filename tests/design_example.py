"""The policies example of DESIGN §4, verbatim (comments included), shared by the tests."""

DESIGN_YAML = """
locations:
  DC1: {safety_stock: 2, overrides: {SKU-9: 0}}   # location safety stock, units per SKU
channels:
  amazon:
    locations: [DC1, DC2]          # the location group that feeds this channel
    buffer: 5                      # channel safety stock, units per SKU
    allocation_percent: 50         # share of the pool this channel may show
    max_qty: 200                   # cap, optional
    floor: 3                       # below this, show 0 (optional)
    include_incoming: false
    overrides: {SKU-9: {buffer: 0, max_qty: 10}}   # per-SKU exceptions
  b2b:
    locations: [DC1, DC2]
    ring_fence: 20                 # units per SKU kept for this channel, hidden from the others
"""
