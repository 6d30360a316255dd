"""Generated protobuf code for ir/hybrix.proto; only hybrix.ir.serde imports it."""
