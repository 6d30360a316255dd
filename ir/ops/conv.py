"""(conv: being written)"""
