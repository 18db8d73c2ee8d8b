"""The audit log's pure parts: records, their leaf encoding, the Merkle tree, checkpoints."""
