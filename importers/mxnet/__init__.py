"""importers/mxnet"""
