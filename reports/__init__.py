"""Reports: what users read and share (tables, HTML, plots), and the warnings they must see."""
