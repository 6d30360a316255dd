"""(linalg: being written)"""
