"""Static files of the worker's web pages (the floor wallboard), served as they are."""
