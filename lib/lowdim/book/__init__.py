"""The book's tooling: the notebook driver (`python -m lowdim.book.build`) and the reproduction table."""
