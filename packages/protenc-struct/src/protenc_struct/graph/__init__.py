"""Residue graphs in plain torch: sequential, radius and KNN edges, edge features, line graphs, frames."""
