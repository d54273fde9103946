"""User-facing sentences said in more than one place (the CLI, the export
page's template and its script, the engine's option checks), each written
once here. The ``%s`` ones are filled in order, in Python as in the page's
script."""

# The legacy app's sentence for an export without posts.
NO_POSTS = (
    "No posts found in your archive matching the selected criteria. "
    "Try adjusting your date range or archive some posts first."
)

# A date option's mistakes (engine.parse_date, ExportOptions), checked again
# by the export page's script before it sends the form.
NOT_A_DATE = "%s must be a date as YYYY-MM-DD, not %s"  # option name, the value's repr
NOT_A_REAL_DATE = "%s %s is not a real date"  # option name, the value
END_BEFORE_START = "end date %s is before start date %s"
