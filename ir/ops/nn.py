"""(nn: being written)"""
