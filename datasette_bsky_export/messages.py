"""User-facing sentences said in more than one place (the CLI, the export
page's template and its script), each defined once here, free of Datasette."""

NO_POSTS = (
    "No posts found in your archive matching the selected criteria. "
    "Try adjusting your date range or archive some posts first."
)
