"""(elemwise: being written)"""
