"""The deterministic renderer: canvas and pens, palette, class painters, backgrounds, and scene composition."""
