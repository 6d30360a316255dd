"""(shape: being written)"""
