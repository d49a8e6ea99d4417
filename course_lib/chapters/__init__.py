"""One module per notebook: its settings, anchors and recipes (see COURSE_DESIGN.md)."""
