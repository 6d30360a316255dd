"""(random: being written)"""
