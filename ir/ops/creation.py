"""(creation: being written)"""
