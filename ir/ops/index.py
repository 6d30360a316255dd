"""(index: being written)"""
