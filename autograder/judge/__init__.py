"""The trusted side of grading: never imported in a kernel; decides points from reports."""
