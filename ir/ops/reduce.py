"""(reduce: being written)"""
