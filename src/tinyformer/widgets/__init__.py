"""The book's explorers: drawing and ipywidgets only; their maths lives in the modules they draw."""
