"""(rnn: being written)"""
